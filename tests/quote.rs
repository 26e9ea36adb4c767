//! The quote-API source against a Finnhub-like server written here (threads
//! on a free loopback port): new quotes become exact trades once, failures
//! are retried or reported, bad answers are rejects, the token never shows;
//! and `tickflow produce --quote-api` end to end through a real broker.

use crate::support::kafka::{Broker, Storage};
use crate::support::tickflow_output;
use rdkafka::Message;
use rdkafka::config::ClientConfig;
use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::topic_partition_list::{Offset, TopicPartitionList};
use std::collections::BTreeMap;
use std::io::{BufRead, BufReader, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tickflow_ingest::quote::{Backoff, Failure, QuoteConfig, QuoteEvent, QuoteSource, Token};
use tickflow_shared::{Price, Size, Symbol, Tick, wire};

/// 2013-10-07T08:00:00Z in Unix seconds.
const T0: i64 = 1_381_132_800;

/// How the test server answers one request.
enum Answer {
    /// 200 with this body.
    Json(String),
    /// This status and body, with `Retry-After: secs` when given.
    Status(u16, String, Option<u64>),
    /// The answer after a pause (longer than the client waits).
    Slow(Duration, Box<Answer>),
}

/// A quote body: `c` as written, `t` = T0 + `dt`.
fn quote(c: &str, dt: i64) -> Answer {
    Answer::Json(format!(r#"{{"c":{c},"d":0.1,"dp":0.06,"h":{c},"l":{c},"o":{c},"pc":{c},"t":{}}}"#, T0 + dt))
}

type Script = dyn Fn(&str, usize) -> Answer + Send + Sync;

/// `(symbol, token)` of every request, in arrival order.
type Log = Mutex<Vec<(String, Option<String>)>>;

/// A Finnhub-like server: `GET /quote?symbol=S&token=T` is answered by
/// `script(S, n)`, n counting the requests for S from 0.
struct QuoteServer {
    url: String,
    requests: Arc<Log>,
}

impl QuoteServer {
    fn start(script: impl Fn(&str, usize) -> Answer + Send + Sync + 'static) -> QuoteServer {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
        let url = format!("http://{}/api/v1", listener.local_addr().expect("address"));
        let requests = Arc::new(Mutex::new(Vec::new()));
        let (log, script): (_, Arc<Script>) = (requests.clone(), Arc::new(script));
        std::thread::spawn(move || {
            for stream in listener.incoming().flatten() {
                let (log, script) = (log.clone(), script.clone());
                std::thread::spawn(move || serve(stream, &log, &*script));
            }
        });
        QuoteServer { url, requests }
    }

    fn count(&self, symbol: &str) -> usize {
        self.requests.lock().expect("log").iter().filter(|(s, _)| s == symbol).count()
    }

    fn tokens(&self) -> Vec<Option<String>> {
        self.requests.lock().expect("log").iter().map(|(_, t)| t.clone()).collect()
    }
}

fn serve(mut stream: TcpStream, log: &Log, script: &Script) {
    let mut reader = BufReader::new(stream.try_clone().expect("clone"));
    let mut line = String::new();
    // A connection closed before its request line (the client exiting with a
    // pooled connection open) is no request.
    if reader.read_line(&mut line).map_or(true, |n| n == 0) {
        return;
    }
    loop {
        let mut header = String::new();
        if reader.read_line(&mut header).map_or(true, |n| n == 0) || header == "\r\n" {
            break;
        }
    }
    let target = line.split(' ').nth(1).unwrap_or_default();
    let (path, query) = target.split_once('?').unwrap_or((target, ""));
    let param = |name: &str| query.split('&').find_map(|p| p.strip_prefix(name)?.strip_prefix('=')).map(str::to_owned);
    let symbol = param("symbol").unwrap_or_default();
    let n = {
        let mut log = log.lock().expect("log");
        log.push((symbol.clone(), param("token")));
        log.iter().filter(|(s, _)| *s == symbol).count() - 1
    };
    let mut answer =
        if path == "/api/v1/quote" { script(&symbol, n) } else { Answer::Status(404, String::new(), None) };
    while let Answer::Slow(pause, then) = answer {
        std::thread::sleep(pause);
        answer = *then;
    }
    let (code, body, retry_after) = match answer {
        Answer::Json(body) => (200, body, None),
        Answer::Status(code, body, retry_after) => (code, body, retry_after),
        Answer::Slow(..) => unreachable!(),
    };
    let retry_after = retry_after.map(|s| format!("Retry-After: {s}\r\n")).unwrap_or_default();
    let _ = write!(
        stream,
        "HTTP/1.1 {code} X\r\nContent-Type: application/json\r\nContent-Length: {}\r\n{retry_after}Connection: close\r\n\r\n{body}",
        body.len()
    );
}

/// Quick polling, short backoff; `token` is sent when given.
fn config(server: &QuoteServer, symbols: &[&str], token: Option<&str>) -> QuoteConfig {
    let symbols = symbols.iter().map(|s| Symbol::new(s).expect("symbol")).collect();
    let mut config = QuoteConfig::new(&server.url, symbols);
    config.token = token.and_then(Token::new);
    config.poll_interval = Duration::from_millis(10);
    config.timeout = Duration::from_secs(2);
    config.backoff = Backoff { initial: Duration::from_millis(10), max: Duration::from_millis(100) };
    config.refused_retry = Duration::from_millis(50);
    config
}

/// Events until `done(events so far)` (a hang guard of 2 minutes, not a timing assertion).
async fn events_until(source: &mut QuoteSource, mut done: impl FnMut(&[QuoteEvent]) -> bool) -> Vec<QuoteEvent> {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(120);
    let mut events = Vec::new();
    while !done(&events) {
        assert!(tokio::time::Instant::now() < deadline, "gave up waiting; events so far: {events:#?}");
        if let Ok(event) = tokio::time::timeout(Duration::from_millis(20), source.next()).await {
            events.push(event.expect("the source runs"));
        }
    }
    events
}

fn trades(events: &[QuoteEvent]) -> Vec<&Tick> {
    events.iter().filter_map(|e| if let QuoteEvent::Trade(t) = e { Some(t) } else { None }).collect()
}

fn failures<'a>(events: &'a [QuoteEvent], symbol: &str) -> Vec<&'a Failure> {
    let of = |e: &'a QuoteEvent| match e {
        QuoteEvent::Failed(f) if f.symbol.as_str() == symbol => Some(&f.failure),
        _ => None,
    };
    events.iter().filter_map(of).collect()
}

fn tick(symbol: &str, dt: i64, price: i64, size: i64) -> Tick {
    Tick {
        symbol: Symbol::new(symbol).expect("symbol"),
        ts: (T0 + dt) * 1_000_000_000,
        price: Price(price),
        size: Size(size),
        seq: 0,
    }
}

#[tokio::test]
async fn new_quotes_become_exact_trades_once_each() {
    let server = QuoteServer::start(|symbol, n| match (symbol, n) {
        ("AAPL", 0 | 1) => quote("167.41", 0),
        ("AAPL", 2) => quote("167.42", 0),
        ("AAPL", 3) => quote("167.41", 0),
        ("AAPL", _) => quote("167.40000001", 1),
        _ => Answer::Json(format!(r#"{{"c":"310.1","t":{T0},"v":12.5}}"#)),
    });
    let token = "tok-exact-3f9a";
    let mut source = config(&server, &["AAPL", "MSFT"], Some(token)).build().expect("source");
    let events = events_until(&mut source, |_| server.count("AAPL") >= 8 && server.count("MSFT") >= 4).await;
    let mut got: Vec<Tick> = trades(&events).into_iter().cloned().collect();
    got.sort_by(|a, b| (&a.symbol, a.ts, a.price).cmp(&(&b.symbol, b.ts, b.price)));
    let one = 100_000_000;
    assert_eq!(
        got,
        [
            tick("AAPL", 0, 16_741_000_000, one),
            tick("AAPL", 0, 16_742_000_000, one),
            tick("AAPL", 1, 16_740_000_001, one),
            tick("MSFT", 0, 31_010_000_000, 1_250_000_000),
        ],
        "each quote once, money exact, size 1 without v"
    );
    assert!(source.stats().repeated.load(std::sync::atomic::Ordering::Relaxed) >= 6);
    assert!(server.tokens().iter().all(|t| t.as_deref() == Some(token)), "the token is sent as a query parameter");
    assert!(!format!("{events:?}").contains(token));
}

#[tokio::test]
async fn server_errors_slow_answers_and_rate_limits_are_retried() {
    let server = QuoteServer::start(|_, n| match n {
        0 => Answer::Status(500, "oops".into(), None),
        1 => Answer::Slow(Duration::from_secs(6), Box::new(quote("1", 0))),
        2 => Answer::Status(429, r#"{"error":"API limit reached."}"#.into(), Some(1)),
        3 => Answer::Status(503, String::new(), None),
        _ => quote("99.5", 0),
    });
    let mut config = config(&server, &["IBM"], Some("tok-retry-77c1"));
    config.timeout = Duration::from_secs(1);
    let mut source = config.build().expect("source");
    let events = events_until(&mut source, |events| !trades(events).is_empty()).await;
    let failed = failures(&events, "IBM");
    let codes: Vec<String> = failed
        .iter()
        .map(|f| match f {
            Failure::Status { code, .. } => code.to_string(),
            other => format!("{other}"),
        })
        .collect();
    assert_eq!(codes, ["500", "no answer within the request timeout of 1s", "429", "503"], "{events:#?}");
    assert!(failed.iter().all(|f| f.is_transient()));
    let rate_limited = events.iter().find_map(|e| match e {
        QuoteEvent::Failed(f) if matches!(f.failure, Failure::Status { code: 429, .. }) => Some(f),
        _ => None,
    });
    assert_eq!(rate_limited.expect("a 429").retry_in, Duration::from_secs(1), "Retry-After is honoured");
    assert_eq!(trades(&events), [&tick("IBM", 0, 9_950_000_000, 100_000_000)]);
}

#[tokio::test]
async fn a_refused_token_or_an_unknown_symbol_is_reported_and_asked_again_later() {
    let token = "tok-refused-b2e4";
    let server = QuoteServer::start(move |symbol, n| match (symbol, n) {
        ("AAPL", 0) => Answer::Status(401, format!(r#"{{"error":"Invalid API key {token}"}}"#), None),
        ("NOPE", _) => Answer::Status(404, "Not Found".into(), None),
        _ => quote("10", 0),
    });
    let mut source = config(&server, &["AAPL", "MSFT", "NOPE"], Some(token)).build().expect("source");
    let events =
        events_until(&mut source, |events| trades(events).len() == 2 && failures(events, "NOPE").len() >= 2).await;
    let refused = events.iter().find_map(|e| match e {
        QuoteEvent::Failed(f) if f.symbol.as_str() == "AAPL" => Some(f),
        _ => None,
    });
    let refused = refused.expect("the 401 is reported");
    assert_eq!(refused.retry_in, Duration::from_millis(50), "asked again after refused_retry");
    let text = refused.to_string();
    assert!(text.contains("HTTP 401") && text.contains("TICKFLOW_QUOTE_API_TOKEN") && text.contains("***"), "{text}");
    let unknown = failures(&events, "NOPE")[0].to_string();
    assert!(unknown.contains("HTTP 404") && unknown.contains("base URL"), "{unknown}");
    assert!(!failures(&events, "NOPE")[0].is_transient());
    assert!(!format!("{events:?}{events:#?}{text}").contains(token), "the token never shows");
}

#[tokio::test]
async fn malformed_answers_and_zero_prices_are_rejects_reported_once_each() {
    let server = QuoteServer::start(|symbol, _| match symbol {
        "HTML" => Answer::Json("<html>rate limit</html>".into()),
        "ZERO" => Answer::Json(r#"{"c":0,"d":null,"dp":null,"h":0,"l":0,"o":0,"pc":0,"t":0}"#.into()),
        "NOC" => Answer::Json(format!(r#"{{"t":{T0}}}"#)),
        "FLOAT" => Answer::Json(format!(r#"{{"c":1.123456789,"t":{T0}}}"#)),
        _ => quote("42", 0),
    });
    let symbols = ["HTML", "ZERO", "NOC", "FLOAT", "GOOD"];
    let mut source = config(&server, &symbols, None).build().expect("source");
    let events = events_until(&mut source, |_| symbols.iter().all(|s| server.count(s) >= 4)).await;
    let mut rejects: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for event in &events {
        if let QuoteEvent::Reject(r) = event {
            rejects.entry(r.symbol.to_string()).or_default().push(r.reason.clone());
        }
    }
    let expect = [
        ("FLOAT", "more than 8 decimal places"),
        ("HTML", "not a JSON quote"),
        ("NOC", "no price c"),
        ("ZERO", "price c is 0"),
    ];
    assert_eq!(rejects.keys().collect::<Vec<_>>(), expect.map(|(s, _)| s).iter().collect::<Vec<_>>());
    for (symbol, reason) in expect {
        assert!(rejects[symbol].len() == 1 && rejects[symbol][0].contains(reason), "{symbol}: {:?}", rejects[symbol]);
    }
    assert_eq!(trades(&events), [&tick("GOOD", 0, 4_200_000_000, 100_000_000)], "other symbols go on");
    assert!(server.tokens().iter().all(Option::is_none), "no token, no token parameter");
}

/// What `tickflow produce` checks before it connects to anything.
#[test]
fn produce_says_what_the_quote_api_source_needs() {
    let quote_api = ["produce", "--brokers", "127.0.0.1:9", "--quote-api", "http://127.0.0.1:9"];
    for (extra, message) in [
        (&["--symbols", "5"][..], "not a count"),
        (&[][..], "needs the symbols"),
        (&["--symbols", "AAPL,A B"][..], "must be 1 to 32 characters"),
        (&["--symbols", "AAPL", "--simulate"][..], "cannot be used with"),
    ] {
        let output = tickflow_output(&[&quote_api[..], extra].concat());
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert!(!output.status.success() && stderr.contains(message), "{extra:?}: {stderr}");
    }
}

/// Issue 3, item 3: `tickflow produce --quote-api` puts each new quote on the
/// topic once, through failures and rejects, and never shows the token, even
/// with trace logging.
#[test]
fn produce_from_the_quote_api_puts_each_new_quote_on_the_topic() {
    let token = "tok-e2e-5d0c8a";
    let server = QuoteServer::start(move |symbol, n| match (symbol, n) {
        ("MSFT", 0) => Answer::Status(502, format!("bad gateway for token={token}"), None),
        ("ZZZZ", _) => Answer::Json(r#"{"c":0,"d":null,"dp":null,"h":0,"l":0,"o":0,"pc":0,"t":0}"#.into()),
        (symbol, n) => {
            // Five distinct quotes per symbol (MSFT's start after its 502), then repeats.
            let k = if symbol == "MSFT" { n - 1 } else { n }.min(4);
            quote(&format!("{}.25", 100 + k), k as i64)
        }
    });
    let broker = Broker::with(Storage::Memory);
    let output = std::process::Command::new(env!("CARGO_BIN_EXE_tickflow"))
        .args(["produce", "--brokers", &broker.bootstrap(), "--topic", "ticks", "--partitions", "2"])
        .args(["--quote-api", &server.url, "--symbols", "AAPL,MSFT,ZZZZ", "--poll-interval", "20ms", "--ticks", "10"])
        .env("TICKFLOW_QUOTE_API_TOKEN", token)
        .env("TICKFLOW_LOG", "trace")
        .output()
        .expect("tickflow runs");
    let (stdout, stderr) = (String::from_utf8_lossy(&output.stdout), String::from_utf8_lossy(&output.stderr));
    assert!(output.status.success(), "{stdout}\n{stderr}");
    assert!(stdout.contains("Produced 10 trades"), "{stdout}");
    assert!(
        stderr.contains("HTTP 502") && stderr.contains("price c is 0"),
        "failures and rejects are logged: {stderr}"
    );
    assert!(!stdout.contains(token) && !stderr.contains(token), "the token never shows");
    let tokens = server.tokens();
    assert!(tokens.iter().all(|t| t.as_deref() == Some(token)), "every request carries the token: {tokens:?}");

    let consumer: BaseConsumer = ClientConfig::new()
        .set("bootstrap.servers", broker.bootstrap())
        .set("group.id", "check")
        .create()
        .expect("consumer");
    let mut assignment = TopicPartitionList::new();
    for partition in 0..2 {
        assignment.add_partition_offset("ticks", partition, Offset::Offset(0)).expect("assignment");
    }
    consumer.assign(&assignment).expect("assign");
    let deadline = std::time::Instant::now() + Duration::from_secs(300);
    let mut received: BTreeMap<String, Vec<(i64, i64, i64, u64)>> = BTreeMap::new();
    while received.values().map(Vec::len).sum::<usize>() < 10 {
        assert!(std::time::Instant::now() < deadline, "only {received:?} came back");
        let Some(message) = consumer.poll(Duration::from_millis(200)) else { continue };
        let t = wire::decode(message.expect("consume").payload().expect("payload")).expect("a trade").tick;
        received.entry(t.symbol.to_string()).or_default().push((t.ts, t.price.0, t.size.0, t.seq));
    }
    let expected = |n: usize| {
        (0..n as i64).map(|i| ((T0 + i) * 1_000_000_000, (100 + i) * 100_000_000 + 25_000_000, 100_000_000, i as u64))
    };
    assert_eq!(received.keys().collect::<Vec<_>>(), ["AAPL", "MSFT"], "no trade from a c = 0 answer");
    assert_eq!(received["AAPL"], expected(5).collect::<Vec<_>>(), "every new quote once, in order, seq per symbol");
    assert_eq!(received["MSFT"], expected(5).collect::<Vec<_>>());
    // Issue 18: the c = 0 answer is on the dead-letter topic with the URL asked (token masked) and the answer.
    assert!(stdout.contains("1 rejected to ticks.rejects"), "{stdout}");
    let (key, reject) = crate::produce::dead_letters(&broker, "ticks.rejects", 1).remove(0);
    assert!(reject.source.contains("symbol=ZZZZ") && reject.reason.contains("price c is 0"), "{reject:?}");
    assert_eq!((reject.position, &key), (1, &reject.source), "ZZZZ's first request, keyed by its URL");
    assert!(reject.raw.starts_with(r#"{"c":0"#) && !reject.source.contains(token), "{reject:?}");
}
