// The tickflow dashboard: bars of one symbol and interval from /api/v1/bars,
// kept live from /api/v1/stream, and the layers' status from /api/v1/status.
// With an API token in the page's own URL (?token=…) every request carries it.
// The bot's signals, the indicator overlay and the paper account come from
// signals.js. Progress is exposed for tests on document.body.dataset: candles
// (drawn), updates (live bars applied), views (the views among the loaded
// bars), signals (loaded), markers (drawn), overlay (points of the overlay).
"use strict";

(() => {
  const query = new URLSearchParams(location.search);
  const token = query.get("token");
  const body = document.body;
  const $ = (id) => document.getElementById(id);
  const canvas = $("chart");
  const tooltip = $("tooltip");
  const WANT = 400;
  const KEEP = 4000;

  const state = {
    symbol: query.get("symbol"),
    interval: query.get("interval"),
    intervals: [],
    bars: [],
    boundary: null,
    offset: 0,
    slot: null,
    hover: null,
    updates: 0,
    generation: 0,
    stream: null,
    signals: [],
    overlay: query.get("overlay") || "none",
    lines: [],
  };

  const intervalMs = (label) => {
    const n = parseInt(label, 10);
    const unit = { s: 1e3, m: 6e4, h: 36e5, d: 864e5 }[label.slice(-1)];
    return n * (unit || 6e4);
  };
  const { time, clock } = Chart;

  async function api(path, params) {
    const url = new URL(path, location.origin);
    for (const [k, v] of Object.entries(params || {})) url.searchParams.set(k, v);
    const response = await fetch(url, { headers: token ? { Authorization: `Bearer ${token}` } : {} });
    const data = await response.json().catch(() => ({}));
    if (!response.ok) throw new Error(data.error || data.message || `${path}: HTTP ${response.status}`);
    return data;
  }

  function streamUrl(params) {
    const url = new URL("/api/v1/stream", location.origin);
    for (const [k, v] of Object.entries(params)) url.searchParams.set(k, v);
    if (token) url.searchParams.set("token", token);
    return url;
  }

  // A bar of the API as the chart keeps it.
  function parseBar(b) {
    return {
      symbol: b.symbol,
      interval: b.interval,
      t: time(b.start),
      open: Number(b.open),
      high: Number(b.high),
      low: Number(b.low),
      close: Number(b.close),
      volume: Number(b.volume),
      vwap: Number(b.vwap),
      trades: Number(b.trades),
      view: b.view || "speed",
    };
  }

  function message(text) {
    $("message").hidden = !text;
    $("message").textContent = text || "";
  }

  // The latest WANT bars: windows of WANT intervals walking back from now;
  // once behind the live data, the next window ends at the batch boundary,
  // skipping the quiet time between the batch view and the live one.
  async function loadBars() {
    const generation = ++state.generation;
    const step = intervalMs(state.interval);
    let to = Math.floor(Date.now() / step + 2) * step;
    let bars = [];
    let boundary = null;
    for (let window = 0; window < 4 && bars.length < WANT; window++) {
      const from = to - (WANT - bars.length) * step;
      const data = await api("/api/v1/bars", { symbol: state.symbol, interval: state.interval, from, to });
      if (generation !== state.generation) return;
      boundary = time(data.boundary);
      bars = (data.bars || []).map(parseBar).concat(bars);
      to = boundary !== null && from > boundary ? boundary : from;
    }
    state.bars = bars;
    state.boundary = boundary;
    state.offset = 0;
    body.dataset.views = [...new Set(bars.map((b) => b.view))].sort().join(",");
    message(bars.length ? "" : `No ${state.interval} bars of ${state.symbol} yet.`);
    render();
    loadSignals().catch(showError);
    loadOverlay().catch(showError);
  }

  // The bot's signals and paper positions over the loaded bars.
  async function loadSignals() {
    const generation = state.generation;
    const { signals, positions } = await Signals.load(api, state.symbol, state.bars, intervalMs(state.interval));
    if (generation !== state.generation) return;
    state.signals = signals.filter((s) => s.interval === state.interval);
    body.dataset.signals = state.signals.length;
    Signals.account($("account"), positions);
    render();
  }

  // The overlay picked, over the loaded bars.
  async function loadOverlay() {
    const generation = state.generation;
    const lines = await Signals.overlay(api, state.overlay, state.symbol, state.interval, state.bars, intervalMs(state.interval));
    if (generation !== state.generation) return;
    state.lines = lines;
    body.dataset.overlay = lines.reduce((n, line) => n + line.values.size, 0);
    render();
  }

  // A `signal` event of the stream: a new signal; the paper account moved too.
  function onSignal(event) {
    try {
      const signal = Signals.parse(JSON.parse(event.data));
      if (signal.symbol !== state.symbol || signal.interval !== state.interval) return;
      state.signals.push(signal);
      body.dataset.signals = state.signals.length;
      render();
      loadSignals().catch(showError);
    } catch (error) {
      console.warn("unreadable signal event", event.data, error);
    }
  }

  // A live bar: replaces the bar with its start, or is appended when newer.
  function apply(bar) {
    if (bar.symbol !== state.symbol || bar.interval !== state.interval || isNaN(bar.t)) return;
    if (state.boundary !== null && bar.t < state.boundary) return;
    const bars = state.bars;
    const i = Chart.firstAtOrAfter(bars, bar.t);
    if (i < bars.length && bars[i].t === bar.t) bars[i] = bar;
    else if (i === bars.length) bars.push(bar);
    else if (i > 0) bars.splice(i, 0, bar);
    else return;
    if (bars.length > KEEP) bars.splice(0, bars.length - KEEP);
    state.updates += 1;
    body.dataset.updates = state.updates;
    if (!body.dataset.views.includes(bar.view)) body.dataset.views = [...new Set(bars.map((b) => b.view))].sort().join(",");
    message("");
    render();
  }

  // A `bar` event of the stream: one bar as /bars gives it, plus `final`.
  function onBar(event) {
    try {
      apply(parseBar(JSON.parse(event.data)));
    } catch (error) {
      console.warn("unreadable bar event", event.data, error);
    }
  }

  function connect() {
    if (state.stream) state.stream.close();
    const live = $("live");
    const source = new EventSource(streamUrl({ symbols: state.symbol, interval: state.interval }));
    let dropped = false;
    source.onopen = () => {
      live.className = "live on";
      live.textContent = "live";
      // Updates missed while disconnected are in the store: reload.
      if (dropped) loadBars().catch(showError);
      dropped = false;
    };
    source.onerror = () => {
      dropped = true;
      live.className = "live off";
      live.textContent = "reconnecting";
    };
    source.addEventListener("bar", onBar);
    source.addEventListener("signal", onSignal);
    state.stream = source;
  }

  function quote() {
    const bars = state.bars;
    if (!bars.length) return;
    const last = bars[bars.length - 1];
    // Against the last close of an earlier UTC day, else the first open.
    const today = Chart.firstAtOrAfter(bars, Math.floor(last.t / 864e5) * 864e5);
    const reference = today > 0 ? bars[today - 1].close : bars[0].open;
    const change = last.close - reference;
    $("price").textContent = `${state.symbol} ${last.close.toFixed(2)}`;
    const el = $("change");
    el.textContent = `${change >= 0 ? "+" : ""}${change.toFixed(2)} (${((change / reference) * 100).toFixed(2)}%)`;
    el.className = change >= 0 ? "up" : "down";
  }

  // Pixels per bar: as zoomed, else wide enough to fill the chart, up to 18.
  function slot() {
    if (state.slot) return state.slot;
    const width = canvas.clientWidth - 74;
    return Math.max(7, Math.min(18, width / (state.bars.length + 3)));
  }

  let pending = false;
  function render() {
    if (pending) return;
    pending = true;
    requestAnimationFrame(() => {
      pending = false;
      const model = {
        bars: state.bars,
        boundary: state.boundary,
        offset: state.offset,
        slot: slot(),
        hover: state.hover,
        intervalMs: intervalMs(state.interval),
        signals: state.signals,
        overlay: state.lines,
      };
      const { layout, drawn, markers } = Chart.draw(canvas, model);
      body.dataset.candles = drawn;
      body.dataset.markers = markers;
      quote();
      showTooltip(layout);
    });
  }

  function showTooltip(layout) {
    const hover = state.hover;
    const i = hover ? layout.index(hover.px) : -1;
    const bar = i >= layout.first && i < layout.end ? state.bars[i] : null;
    if (!bar) {
      tooltip.hidden = true;
      return;
    }
    const cells = [
      ["Open", bar.open.toFixed(2)],
      ["High", bar.high.toFixed(2)],
      ["Low", bar.low.toFixed(2)],
      ["Close", bar.close.toFixed(2)],
      ["Volume", bar.volume.toLocaleString("en-US")],
      ["VWAP", bar.vwap.toFixed(4)],
      ["Trades", bar.trades.toLocaleString("en-US")],
    ];
    tooltip.innerHTML = "";
    const when = document.createElement("div");
    when.className = "when";
    when.textContent = `${new Date(bar.t).toISOString().slice(0, 10)} ${clock(bar.t)} UTC · ${state.interval} · `;
    const view = document.createElement("span");
    view.className = `view-${bar.view}`;
    view.textContent = `${bar.view} view`;
    when.append(view);
    const table = document.createElement("table");
    for (const [k, v] of cells) {
      const row = table.insertRow();
      row.insertCell().textContent = k;
      row.insertCell().textContent = v;
    }
    tooltip.append(when, table);
    tooltip.hidden = false;
    const box = canvas.getBoundingClientRect();
    const left = hover.px + 16 + tooltip.offsetWidth > box.width - 80 ? hover.px - 16 - tooltip.offsetWidth : hover.px + 16;
    tooltip.style.left = `${Math.max(4, left)}px`;
    tooltip.style.top = `${Math.min(Math.max(4, hover.py - 20), box.height - tooltip.offsetHeight - 30)}px`;
  }

  function showError(error) {
    message(String(error.message || error));
  }

  function setUrl() {
    const url = new URL(location.href);
    url.searchParams.set("symbol", state.symbol);
    url.searchParams.set("interval", state.interval);
    url.searchParams.set("overlay", state.overlay);
    history.replaceState(null, "", url);
  }

  function choose() {
    setUrl();
    for (const b of $("intervals").children) b.setAttribute("aria-pressed", String(b.textContent === state.interval));
    state.bars = [];
    state.signals = [];
    state.lines = [];
    render();
    loadBars().catch(showError);
    connect();
  }

  canvas.addEventListener("mousemove", (e) => {
    const box = canvas.getBoundingClientRect();
    state.hover = { px: e.clientX - box.left, py: e.clientY - box.top };
    if (state.drag) {
      const moved = Math.round((e.clientX - state.drag.x) / slot());
      state.offset = Math.max(0, Math.min(state.bars.length - 5, state.drag.offset + moved));
    }
    render();
  });
  canvas.addEventListener("mouseleave", () => {
    state.hover = null;
    state.drag = null;
    render();
  });
  canvas.addEventListener("mousedown", (e) => (state.drag = { x: e.clientX, offset: state.offset }));
  window.addEventListener("mouseup", () => (state.drag = null));
  canvas.addEventListener(
    "wheel",
    (e) => {
      e.preventDefault();
      state.slot = Math.max(3, Math.min(40, slot() * (e.deltaY > 0 ? 0.9 : 1.1)));
      render();
    },
    { passive: false },
  );
  window.addEventListener("resize", render);
  // A page left open in the back-forward cache must not hold a connection.
  window.addEventListener("pagehide", () => state.stream && state.stream.close());
  window.addEventListener("pageshow", (e) => {
    if (e.persisted && state.symbol) {
      loadBars().catch(showError);
      connect();
    }
  });

  // The symbols with bars, and the intervals served.
  async function catalog() {
    try {
      const data = await api("/api/v1/symbols");
      return { symbols: data.symbols || [], intervals: data.intervals || [] };
    } catch (error) {
      showError(error);
      return { symbols: [], intervals: [] };
    }
  }

  async function start() {
    body.dataset.candles = 0;
    body.dataset.updates = 0;
    body.dataset.views = "";
    body.dataset.signals = 0;
    body.dataset.markers = 0;
    body.dataset.overlay = 0;
    const picker = $("overlay");
    if (!(state.overlay in Signals.OVERLAYS)) state.overlay = "none";
    picker.value = state.overlay;
    picker.addEventListener("change", () => {
      state.overlay = picker.value;
      setUrl();
      loadOverlay().catch(showError);
    });
    let found = await catalog();
    while (!found.symbols.length) {
      if ($("message").hidden) message("No symbols yet: waiting for the first trades.");
      await new Promise((resolve) => setTimeout(resolve, 2000));
      found = await catalog();
    }
    const list = found.symbols;
    state.intervals = found.intervals;
    if (!state.intervals.includes(state.interval)) state.interval = state.intervals.includes("1m") ? "1m" : state.intervals[0];
    for (const label of state.intervals) {
      const button = document.createElement("button");
      button.textContent = label;
      button.addEventListener("click", () => {
        state.interval = label;
        choose();
      });
      $("intervals").append(button);
    }
    const select = $("symbol");
    for (const s of list) select.append(new Option(s, s));
    if (!list.includes(state.symbol)) state.symbol = list[0];
    select.value = state.symbol;
    select.addEventListener("change", () => {
      state.symbol = select.value;
      choose();
    });
    choose();
    Status.start(api, (boundary) => {
      if (boundary !== null && boundary !== state.boundary && state.bars.length) loadBars().catch(showError);
    });
  }

  start();
})();
