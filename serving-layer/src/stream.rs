//! `/stream`: Server-Sent Events of speed bars as the speed layer writes them.
//!
//! One poller per server reads the speed view's change sequence
//! ([`ReadStore::speed_changes`], the same on SQLite and PostgreSQL) every
//! `poll_interval`, for each interval somebody listens to, and broadcasts
//! each page of changes, rendered once, to every subscriber of that
//! interval; each subscriber only filters by its symbols. A subscriber that
//! resumes (`Last-Event-ID` or `?since=`, the change number of the last
//! event it saw) or falls behind the broadcast first catches up from the
//! store on its own, then follows the broadcast again, skipping what it sent.
//!
//! The same poller reads the signal bot's new signals
//! ([`SignalStore::signal_changes`](tickflow_shared::store::SignalStore)) while
//! anybody listens, and each subscriber sends those of its interval and
//! symbols as `signal` events. They carry their own number in `seq` but no
//! event id (ids are bar change numbers, which a client resumes from); a
//! client that reconnects reads the signals it missed from `/api/v1/signals`.

use crate::State;
use crate::error::ApiError;
use crate::params::{Params, change};
use prometheus_client::metrics::gauge::Gauge;
use std::collections::VecDeque;
use std::convert::Infallible;
use std::sync::Arc;
use tickflow_shared::render::{write_json_fields, write_json_signal};
use tickflow_shared::store::{ReadStore, SignalChange, SpeedChange, View, ViewBar};
use tickflow_shared::{Interval, Symbol};
use tokio::sync::{Mutex, OwnedSemaphorePermit, Semaphore, broadcast, mpsc, watch};
use warp::Reply;
use warp::reply::Response;
use warp::sse::Event;

/// Changes read per store query.
const PAGE: usize = 1000;

/// One change, rendered.
struct Rendered {
    seq: i64,
    symbol: Symbol,
    data: String,
}

/// What one poll broadcast: changes in sequence order, and the position after them.
struct Page {
    changes: Vec<Rendered>,
    next: i64,
}

/// The live feed of one interval.
struct Feed {
    interval: Interval,
    pages: broadcast::Sender<Arc<Page>>,
    /// Where the poller reads from next; `None` while nobody listens.
    position: Mutex<Option<i64>>,
}

/// New signals, rendered, with their interval and symbol.
struct SignalPage {
    signals: Vec<(Interval, Rendered)>,
}

/// The feeds of every interval served, the signal feed, and the poller's state.
pub(crate) struct Hub {
    feeds: Vec<Feed>,
    signals: broadcast::Sender<Arc<SignalPage>>,
    /// Where the poller reads signals from next; `None` while nobody listens.
    signal_position: Mutex<Option<i64>>,
    /// A permit per stream that may be open (`max_streams`).
    streams: Arc<Semaphore>,
}

impl Hub {
    /// A feed per interval, each buffering `buffer` pages, for at most `max_streams` clients.
    pub fn new(intervals: &[Interval], buffer: usize, max_streams: usize) -> Self {
        let feeds = intervals
            .iter()
            .map(|&interval| Feed { interval, pages: broadcast::channel(buffer.max(1)).0, position: Mutex::new(None) })
            .collect();
        let streams = Arc::new(Semaphore::new(max_streams));
        Self { feeds, signals: broadcast::channel(buffer.max(1)).0, signal_position: Mutex::new(None), streams }
    }
}

/// Reads the store's generation (for the `/bars` cache) and every
/// listened-to interval's new changes each `poll_interval`, and broadcasts
/// the changes, until the server shuts down.
pub(crate) async fn poll(state: Arc<State>) {
    let mut shutdown = state.shutdown.clone();
    let mut tick = tokio::time::interval(state.config.poll_interval);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            _ = tick.tick() => {}
            _ = shutdown.changed() => return,
        }
        state.cache.refresh(&*state.store).await;
        for feed in &state.hub.feeds {
            let mut position = feed.position.lock().await;
            let Some(mut since) = *position else { continue };
            if feed.pages.receiver_count() == 0 {
                *position = None;
                continue;
            }
            loop {
                let changes = match state.store.speed_changes(feed.interval, None, since, PAGE).await {
                    Ok(changes) => changes,
                    Err(error) => {
                        tracing::warn!(interval = %feed.interval, %error, "The stream poller cannot read changes.");
                        break;
                    }
                };
                state.metrics.stream_polls.inc();
                let done = changes.changes.len() < PAGE;
                since = changes.next;
                *position = Some(since);
                if !changes.changes.is_empty() {
                    let page = Page { changes: changes.changes.iter().map(render).collect(), next: since };
                    // Nobody listening any more is not an error: the next round forgets the position.
                    let _ = feed.pages.send(Arc::new(page));
                }
                if done {
                    break;
                }
            }
        }
        poll_signals(&state).await;
    }
}

/// Reads the signals stored since the last poll and broadcasts them, while
/// anybody listens.
async fn poll_signals(state: &State) {
    let hub = &state.hub;
    let mut position = hub.signal_position.lock().await;
    let Some(mut since) = *position else { return };
    if hub.signals.receiver_count() == 0 {
        *position = None;
        return;
    }
    loop {
        let changes = match state.signals.signal_changes(None, since, PAGE).await {
            Ok(changes) => changes,
            Err(error) => {
                tracing::warn!(%error, "The stream poller cannot read new signals.");
                return;
            }
        };
        let done = changes.signals.len() < PAGE;
        since = changes.next;
        *position = Some(since);
        if !changes.signals.is_empty() {
            let signals = changes.signals.iter().map(render_signal).collect();
            // Nobody listening any more is not an error: the next round forgets the position.
            let _ = hub.signals.send(Arc::new(SignalPage { signals }));
        }
        if done {
            return;
        }
    }
}

fn render_signal(change: &SignalChange) -> (Interval, Rendered) {
    let signal = &change.signal;
    let mut data = String::with_capacity(256);
    write_json_signal(&mut data, signal);
    data.pop();
    data.push_str(&format!(r#","seq":{}}}"#, change.seq));
    (signal.interval, Rendered { seq: change.seq, symbol: signal.symbol.clone(), data })
}

fn render(change: &SpeedChange) -> Rendered {
    let mut data = String::with_capacity(256);
    data.push('{');
    write_json_fields(&mut data, &ViewBar { bar: change.bar.bar.clone(), view: View::Speed });
    data.push_str(if change.bar.is_final { r#","final":true"# } else { r#","final":false"# });
    data.push_str(&format!(r#","seq":{}}}"#, change.seq));
    Rendered { seq: change.seq, symbol: change.bar.bar.symbol.clone(), data }
}

/// `GET /api/v1/stream`: subscribes and answers with the event stream.
pub(crate) async fn subscribe(
    state: &Arc<State>,
    params: &Params,
    last_event_id: Option<&str>,
) -> Result<Response, ApiError> {
    let config = &state.config;
    let symbols = params.symbols("symbols", config.symbol_limit)?;
    let interval = params.interval("interval", &config.intervals, None)?;
    let since = match (params.change("since")?, last_event_id) {
        (Some(since), _) => Some(since),
        (None, Some(id)) => Some(change("Last-Event-ID", id)?),
        (None, None) => None,
    };
    let Some(feed) = state.hub.feeds.iter().find(|f| f.interval == interval) else {
        return Err(ApiError::bad("interval", format!("no feed for {interval}"), Vec::new()));
    };
    let Ok(permit) = Arc::clone(&state.hub.streams).try_acquire_owned() else {
        let message = format!(
            "this server already has its most live streams open ({}); retry in a few seconds with backoff, \
             poll /api/v1/latest instead, or ask the operator to raise --max-streams",
            config.max_streams
        );
        return Err(ApiError::unavailable(message));
    };
    let (pages, position) = {
        let mut position = feed.position.lock().await;
        let head = match *position {
            Some(head) => head,
            None => state.store.speed_status().await.map_err(|e| ApiError::store(&e))?.change_seq,
        };
        *position = Some(head);
        (feed.pages.subscribe(), head)
    };
    let signals = {
        let mut position = state.hub.signal_position.lock().await;
        if position.is_none() {
            let head = state.signals.signal_changes(None, 0, 0).await.map_err(|e| ApiError::store(&e))?.head;
            *position = Some(head);
        }
        state.hub.signals.subscribe()
    };
    let ready = serde_json::json!({
        "interval": interval.to_string(),
        "symbols": symbols.as_ref().map(|s| s.iter().map(Symbol::as_str).collect::<Vec<_>>()),
        "position": position,
    });
    let clients = state.metrics.stream_clients.clone();
    clients.inc();
    let subscriber = Subscriber {
        store: Arc::clone(&state.store),
        interval,
        symbols,
        pages,
        signals,
        sent: since.map_or(position, |s| s.min(position)),
        target: position,
        pending: VecDeque::from([Event::default().event("ready").data(ready.to_string())]),
        shutdown: state.shutdown.clone(),
        events: state.metrics.stream_events.clone(),
        _client: Client(clients),
        _permit: permit,
    };
    // The subscriber runs as a task of its own and hands events over a short
    // channel: warp needs a `Sync` body, and store futures are not.
    let (events, mut receive) = mpsc::channel(16);
    tokio::spawn(subscriber.forward(events));
    let events = futures_util::stream::poll_fn(move |cx| receive.poll_recv(cx).map(|e| e.map(Ok::<_, Infallible>)));
    let keep_alive = warp::sse::keep_alive().interval(config.keep_alive);
    Ok(warp::sse::reply(keep_alive.stream(events)).into_response())
}

/// Counts an open stream for as long as it lives.
struct Client(Gauge);

impl Drop for Client {
    fn drop(&mut self) {
        self.0.dec();
    }
}

/// One `/stream` connection.
struct Subscriber {
    store: Arc<dyn ReadStore>,
    interval: Interval,
    symbols: Option<Vec<Symbol>>,
    pages: broadcast::Receiver<Arc<Page>>,
    signals: broadcast::Receiver<Arc<SignalPage>>,
    /// Every change up to this number has been sent (or did not match).
    sent: i64,
    /// Catch up from the store until `sent` reaches this.
    target: i64,
    pending: VecDeque<Event>,
    shutdown: watch::Receiver<bool>,
    events: prometheus_client::metrics::counter::Counter,
    _client: Client,
    /// Its place among `max_streams`, given back when it ends.
    _permit: OwnedSemaphorePermit,
}

impl Subscriber {
    fn wants(&self, symbol: &Symbol) -> bool {
        self.symbols.as_ref().is_none_or(|symbols| symbols.binary_search(symbol).is_ok())
    }

    fn push(&mut self, seq: i64, data: String) {
        self.events.inc();
        self.pending.push_back(Event::default().id(seq.to_string()).event("bar").data(data));
    }

    /// Sends events to `events` until the stream ends or the client leaves.
    async fn forward(mut self, events: mpsc::Sender<Event>) {
        loop {
            let event = tokio::select! {
                _ = events.closed() => return,
                event = self.next() => event,
            };
            let Some(event) = event else { return };
            if events.send(event).await.is_err() {
                return;
            }
        }
    }

    /// The next event; `None` ends the stream (shutdown, or a store failure
    /// the client recovers from by reconnecting with its last event id).
    async fn next(&mut self) -> Option<Event> {
        loop {
            if *self.shutdown.borrow() {
                return None;
            }
            if let Some(event) = self.pending.pop_front() {
                return Some(event);
            }
            if self.sent < self.target {
                let symbols = self.symbols.as_deref();
                let read = self.store.speed_changes(self.interval, symbols, self.sent, PAGE).await;
                let changes = match read {
                    Ok(changes) => changes,
                    Err(error) => {
                        tracing::warn!(%error, "A stream client cannot catch up; it will reconnect.");
                        return None;
                    }
                };
                for change in &changes.changes {
                    let rendered = render(change);
                    self.push(rendered.seq, rendered.data);
                }
                if changes.changes.len() < PAGE {
                    self.target = self.target.min(changes.next);
                }
                self.sent = changes.next;
                continue;
            }
            tokio::select! {
                _ = self.shutdown.changed() => return None,
                page = self.pages.recv() => match page {
                    Ok(page) => {
                        for change in &page.changes {
                            if change.seq > self.sent && self.wants(&change.symbol) {
                                self.push(change.seq, change.data.clone());
                            }
                        }
                        self.sent = self.sent.max(page.next);
                    }
                    Err(broadcast::error::RecvError::Lagged(_)) => self.target = i64::MAX,
                    Err(broadcast::error::RecvError::Closed) => return None,
                },
                page = self.signals.recv() => match page {
                    Ok(page) => {
                        for (interval, signal) in &page.signals {
                            if *interval == self.interval && self.wants(&signal.symbol) {
                                self.events.inc();
                                self.pending.push_back(Event::default().event("signal").data(signal.data.clone()));
                            }
                        }
                    }
                    Err(broadcast::error::RecvError::Lagged(missed)) => {
                        tracing::warn!(missed, "A stream client fell behind the signals; it reads them from /signals.");
                    }
                    Err(broadcast::error::RecvError::Closed) => return None,
                },
            }
        }
    }
}
