// The signal bot on the dashboard: buy and sell markers from /api/v1/signals
// (kept live by the stream's `signal` events), the indicator overlay the user
// picks (from /api/v1/indicators, computed on the server by the bot's own
// indicator code), and the paper-account panel (position and PnL per strategy).
// It fetches and shapes data; chart.js draws it and dashboard.js owns the state.
"use strict";

const Signals = (() => {
  // What the overlay picker offers: the indicator and the fields drawn as lines.
  const OVERLAYS = {
    none: null,
    sma: { name: "sma", period: 20, lines: [["value", "#4aa3ff", false]] },
    ema: { name: "ema", period: 20, lines: [["value", "#b48cff", false]] },
    bollinger: {
      name: "bollinger",
      period: 20,
      lines: [
        ["upper", "#4aa3ff", true],
        ["middle", "#4aa3ff", false],
        ["lower", "#4aa3ff", true],
      ],
    },
    vwap: { name: "vwap", lines: [["vwap", "#e3b341", false]] },
  };
  // The most points one request asks for (the server's default point limit is higher).
  const MAX_POINTS = 5000;

  // A signal of the API as the chart keeps it.
  const parse = (s) => ({ t: Chart.time(s.start), side: s.side, strategy: s.strategy, reason: s.reason, symbol: s.symbol, interval: s.interval });

  // `[from, to)` covering `bars`, at most MAX_POINTS intervals long (the newest).
  function range(bars, step) {
    const to = bars[bars.length - 1].t + step;
    return { from: Math.max(bars[0].t, to - MAX_POINTS * step), to };
  }

  // The signals and positions of `symbol` over the bars' range.
  async function load(api, symbol, bars, step) {
    if (!bars.length) return { signals: [], positions: [] };
    const data = await api("/api/v1/signals", { symbol, ...range(bars, step) });
    return { signals: (data.signals || []).map(parse), positions: data.positions || [] };
  }

  // The overlay lines of `choice` over the bars' range: [{color, dashed, values: Map(t → value)}].
  async function overlay(api, choice, symbol, interval, bars, step) {
    const spec = OVERLAYS[choice];
    if (!spec || !bars.length) return [];
    const params = { symbol, interval, name: spec.name, ...range(bars, step) };
    if (spec.period) params.period = spec.period;
    const data = await api("/api/v1/indicators", params);
    return spec.lines.map(([field, color, dashed]) => {
      const values = new Map();
      for (const point of data.points || []) {
        if (point[field] !== null && point[field] !== undefined) values.set(Chart.time(point.start), Number(point[field]));
      }
      return { field, color, dashed, values };
    });
  }

  const money = (v) => Number(v).toLocaleString("en-US", { minimumFractionDigits: 2, maximumFractionDigits: 2 });

  // Fills the paper-account panel `dl` with one block per strategy.
  function account(dl, positions) {
    dl.innerHTML = "";
    const row = (k, v, cls) => {
      const dt = document.createElement("dt");
      dt.textContent = k;
      const dd = document.createElement("dd");
      dd.textContent = v;
      if (cls) dd.className = cls;
      dl.append(dt, dd);
    };
    if (!positions.length) {
      row("No paper trades", "");
      return;
    }
    for (const p of positions) {
      const pnl = Number(p.realized_pnl) + Number(p.unrealized_pnl);
      row("Strategy", p.strategy);
      row("Position", Number(p.quantity) === 0 ? "flat" : `${Number(p.quantity)} @ ${money(p.entry_price)}`);
      row("Unrealised", money(p.unrealized_pnl), Number(p.unrealized_pnl) >= 0 ? "up" : "down");
      row("PnL", money(pnl), pnl >= 0 ? "up" : "down");
    }
  }

  return { OVERLAYS, parse, load, overlay, account };
})();
