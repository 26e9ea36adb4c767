// The candlestick chart: candles and volume on a canvas, one slot per bar
// (gaps in time are not drawn), the batch/speed boundary as a line with the
// batch side shaded, price and time axes, a crosshair and the last price;
// an indicator overlay (lines over the candles) and the bot's buy and sell
// markers (a triangle below or above the deciding bar).
// It only draws what it is given; dashboard.js owns the data.
"use strict";

const Chart = (() => {
  const AXIS_W = 74;
  const AXIS_H = 26;
  const TOP = 26;
  const VOLUME_SHARE = 0.18;
  const FONT = "11px Inter, system-ui, -apple-system, 'Segoe UI', Roboto, 'Liberation Sans', Arial, sans-serif";
  const COLORS = {
    grid: "#1a222d",
    line: "#232c38",
    axis: "#7d8896",
    text: "#c9d1d9",
    up: "#2ebd85",
    down: "#f6465d",
    upBatch: "#3f9a7b",
    downBatch: "#c2545f",
    batch: "#8b9cff",
    speed: "#f0b90b",
    shade: "rgba(139, 156, 255, 0.055)",
    cross: "#5b6878",
    buy: "#2ebd85",
    sell: "#f6465d",
  };
  const OVERLAY_COLORS = ["#4aa3ff", "#b48cff", "#4aa3ff"];

  // 1, 2 or 5 times a power of ten, about `span / count`.
  function niceStep(span, count) {
    const raw = span / Math.max(1, count);
    const power = Math.pow(10, Math.floor(Math.log10(raw)));
    const unit = raw / power;
    return power * (unit < 1.5 ? 1 : unit < 3.5 ? 2 : unit < 7.5 ? 5 : 10);
  }

  const pad = (n) => String(n).padStart(2, "0");
  const MONTHS = ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"];
  const day = (d) => `${MONTHS[d.getUTCMonth()]} ${d.getUTCDate()}`;
  const hm = (d) => `${pad(d.getUTCHours())}:${pad(d.getUTCMinutes())}`;
  // Epoch ms of an API time (RFC 3339 text), null for none.
  const time = (value) => (value === null || value === undefined ? null : Date.parse(value));
  // HH:MM:SS (UTC) of epoch ms.
  const clock = (t) => {
    const d = new Date(t);
    return `${hm(d)}:${pad(d.getUTCSeconds())}`;
  };
  // "Dec 1 08:16 UTC" of epoch ms.
  const stamp = (t) => (t === null || isNaN(t) ? "—" : `${day(new Date(t))} ${hm(new Date(t))} UTC`);

  // A time label for an axis of bars `intervalMs` apart; the date when it changed since `previous`.
  function timeLabel(t, previous, intervalMs) {
    const d = new Date(t);
    const newDay = previous === null || new Date(previous).toISOString().slice(0, 10) !== d.toISOString().slice(0, 10);
    if (intervalMs >= 86400000) return day(d);
    if (newDay) return `${day(d)} ${hm(d)}`;
    if (intervalMs < 60000) return `${hm(d)}:${pad(d.getUTCSeconds())}`;
    return hm(d);
  }

  function priceText(p, step) {
    const decimals = step >= 1 ? 2 : Math.min(6, Math.max(2, Math.ceil(-Math.log10(step)) + 1));
    return p.toFixed(decimals);
  }

  function volumeText(v) {
    if (v >= 1e9) return (v / 1e9).toFixed(2) + "B";
    if (v >= 1e6) return (v / 1e6).toFixed(2) + "M";
    if (v >= 1e3) return (v / 1e3).toFixed(1) + "K";
    return String(Math.round(v));
  }

  // The layout of `model` on a canvas of `width` × `height` CSS pixels:
  // which bars are visible and where each lands.
  function layout(model, width, height) {
    const plotW = Math.max(10, width - AXIS_W);
    const plotH = Math.max(10, height - AXIS_H);
    const slot = model.slot;
    const end = Math.max(0, model.bars.length - model.offset);
    const first = Math.max(0, end - Math.floor((plotW - slot) / slot));
    const x = (i) => plotW - slot * 1.5 - (end - 1 - i) * slot;
    const volumeTop = TOP + (plotH - TOP) * (1 - VOLUME_SHARE);
    return { plotW, plotH, slot, first, end, x, volumeTop, index: (px) => end - 1 - Math.round((plotW - slot * 1.5 - px) / slot) };
  }

  function draw(canvas, model) {
    const ratio = window.devicePixelRatio || 1;
    const width = canvas.clientWidth;
    const height = canvas.clientHeight;
    if (canvas.width !== Math.round(width * ratio) || canvas.height !== Math.round(height * ratio)) {
      canvas.width = Math.round(width * ratio);
      canvas.height = Math.round(height * ratio);
    }
    const ctx = canvas.getContext("2d");
    ctx.setTransform(ratio, 0, 0, ratio, 0, 0);
    ctx.clearRect(0, 0, width, height);
    ctx.font = FONT;
    const L = layout(model, width, height);
    const visible = model.bars.slice(L.first, L.end);
    if (visible.length === 0) return { layout: L, drawn: 0, markers: 0 };

    let low = Infinity;
    let high = -Infinity;
    let maxVolume = 0;
    for (const b of visible) {
      low = Math.min(low, b.low);
      high = Math.max(high, b.high);
      maxVolume = Math.max(maxVolume, b.volume);
    }
    const lines = (model.overlay || []).filter((line) => line.values);
    for (const line of lines) {
      for (const b of visible) {
        const v = line.values.get(b.t);
        if (Number.isFinite(v)) {
          low = Math.min(low, v);
          high = Math.max(high, v);
        }
      }
    }
    if (high === low) {
      high += 0.5;
      low -= 0.5;
    }
    const priceBottom = L.volumeTop - 10;
    const span = high - low;
    high += span * 0.06;
    low -= span * 0.06;
    const y = (p) => TOP + ((high - p) / (high - low)) * (priceBottom - TOP);
    const crisp = (v) => Math.round(v) + 0.5;

    // The batch side of the boundary, shaded, with the view names on top.
    const split = model.boundary === null ? 0 : firstAtOrAfter(model.bars, model.boundary);
    let boundaryX = null;
    let batchRight = 0;
    if (split > L.first && split < L.end) {
      boundaryX = L.x(split) - L.slot / 2;
      batchRight = boundaryX;
    } else if (split >= L.end) {
      batchRight = L.plotW;
      if (L.end === model.bars.length) boundaryX = L.x(L.end - 1) + L.slot / 2;
    }
    if (batchRight > 0) {
      ctx.fillStyle = COLORS.shade;
      ctx.fillRect(0, 0, batchRight, L.plotH);
    }

    // Grid and price axis.
    const step = niceStep(high - low, Math.max(2, Math.floor((priceBottom - TOP) / 56)));
    ctx.strokeStyle = COLORS.grid;
    ctx.lineWidth = 1;
    ctx.fillStyle = COLORS.axis;
    ctx.textBaseline = "middle";
    ctx.textAlign = "left";
    for (let p = Math.ceil(low / step) * step; p <= high; p += step) {
      const py = crisp(y(p));
      ctx.beginPath();
      ctx.moveTo(0, py);
      ctx.lineTo(L.plotW, py);
      ctx.stroke();
      ctx.fillText(priceText(p, step), L.plotW + 8, py);
    }

    // Time axis: a label every few slots, on indices that stay put while the
    // chart scrolls, and one at the first bar after the boundary (where time jumps).
    const every = Math.max(1, Math.ceil(96 / L.slot));
    const marks = [];
    if (split > L.first && split < L.end) marks.push(split);
    for (let i = L.first; i < L.end; i++) {
      if (i % every === 0 && marks.every((m) => Math.abs(L.x(m) - L.x(i)) > 110)) marks.push(i);
    }
    marks.sort((a, b) => a - b);
    ctx.textAlign = "center";
    ctx.textBaseline = "alphabetic";
    ctx.fillStyle = COLORS.axis;
    let previous = L.first > 0 ? model.bars[L.first - 1].t : null;
    for (const i of marks) {
      const px = crisp(L.x(i));
      ctx.strokeStyle = COLORS.grid;
      ctx.beginPath();
      ctx.moveTo(px, TOP);
      ctx.lineTo(px, L.plotH);
      ctx.stroke();
      const text = timeLabel(model.bars[i].t, previous, model.intervalMs);
      const half = ctx.measureText(text).width / 2 + 4;
      if (px > half) ctx.fillText(text, Math.min(px, L.plotW - half), L.plotH + 17);
      previous = model.bars[i].t;
    }
    ctx.fillStyle = COLORS.axis;
    ctx.textAlign = "left";
    ctx.fillText("UTC", L.plotW + 8, L.plotH + 17);
    ctx.strokeStyle = COLORS.line;
    ctx.beginPath();
    ctx.moveTo(crisp(L.plotW), 0);
    ctx.lineTo(crisp(L.plotW), L.plotH);
    ctx.moveTo(0, crisp(L.plotH));
    ctx.lineTo(width, crisp(L.plotH));
    ctx.stroke();

    // Volume, then candles.
    const body = Math.max(1, Math.round(L.slot * 0.7) - (Math.round(L.slot * 0.7) % 2 === 0 ? 1 : 0));
    const volumeH = L.plotH - L.volumeTop - 2;
    for (let i = L.first; i < L.end; i++) {
      const b = model.bars[i];
      const up = b.close >= b.open;
      const cx = Math.round(L.x(i));
      const h = maxVolume > 0 ? Math.max(1, (b.volume / maxVolume) * volumeH) : 0;
      ctx.globalAlpha = b.view === "batch" ? 0.3 : 0.42;
      ctx.fillStyle = up ? COLORS.up : COLORS.down;
      ctx.fillRect(cx - Math.floor(body / 2), L.plotH - h, body, h);
    }
    ctx.globalAlpha = 1;
    ctx.fillStyle = COLORS.axis;
    ctx.textAlign = "left";
    ctx.textBaseline = "middle";
    if (maxVolume > 0) ctx.fillText(volumeText(maxVolume), L.plotW + 8, L.plotH - volumeH);
    for (let i = L.first; i < L.end; i++) {
      const b = model.bars[i];
      const up = b.close >= b.open;
      const color = b.view === "batch" ? (up ? COLORS.upBatch : COLORS.downBatch) : up ? COLORS.up : COLORS.down;
      const cx = Math.round(L.x(i));
      ctx.strokeStyle = color;
      ctx.fillStyle = color;
      ctx.beginPath();
      ctx.moveTo(cx + 0.5, Math.round(y(b.high)));
      ctx.lineTo(cx + 0.5, Math.round(y(b.low)) + 1);
      ctx.stroke();
      const top = Math.round(y(Math.max(b.open, b.close)));
      const bottom = Math.round(y(Math.min(b.open, b.close)));
      ctx.fillRect(cx - Math.floor(body / 2), top, body, Math.max(1, bottom - top));
    }

    // The indicator overlay: one line per series, broken where it has no value.
    lines.forEach((line, n) => {
      ctx.strokeStyle = line.color || OVERLAY_COLORS[n % OVERLAY_COLORS.length];
      ctx.lineWidth = 1.5;
      ctx.setLineDash(line.dashed ? [5, 4] : []);
      ctx.beginPath();
      let drawing = false;
      for (let i = L.first; i < L.end; i++) {
        const v = line.values.get(model.bars[i].t);
        if (!Number.isFinite(v)) {
          drawing = false;
          continue;
        }
        if (drawing) ctx.lineTo(L.x(i), y(v));
        else ctx.moveTo(L.x(i), y(v));
        drawing = true;
      }
      ctx.stroke();
    });
    ctx.setLineDash([]);
    ctx.lineWidth = 1;

    // Signal markers: a buy below its bar's low, a sell above its high.
    let markers = 0;
    for (const signal of model.signals || []) {
      const i = firstAtOrAfter(model.bars, signal.t);
      if (i < L.first || i >= L.end || model.bars[i].t !== signal.t) continue;
      const b = model.bars[i];
      const cx = L.x(i);
      const size = Math.max(4, Math.min(7, L.slot * 0.45));
      const buy = signal.side === "buy";
      const tip = buy ? y(b.low) + 4 : y(b.high) - 4;
      const base = buy ? tip + size * 1.6 : tip - size * 1.6;
      ctx.fillStyle = buy ? COLORS.buy : COLORS.sell;
      ctx.beginPath();
      ctx.moveTo(cx, tip);
      ctx.lineTo(cx - size, base);
      ctx.lineTo(cx + size, base);
      ctx.closePath();
      ctx.fill();
      markers += 1;
    }

    // The boundary and the view labels.
    ctx.font = "600 10px Inter, system-ui, sans-serif";
    ctx.textBaseline = "middle";
    if (boundaryX !== null) {
      ctx.strokeStyle = COLORS.batch;
      ctx.setLineDash([4, 4]);
      ctx.beginPath();
      ctx.moveTo(crisp(boundaryX), 0);
      ctx.lineTo(crisp(boundaryX), L.plotH);
      ctx.stroke();
      ctx.setLineDash([]);
    }
    if (batchRight > 0) label(ctx, "BATCH VIEW", Math.max(8, batchRight - 8), 13, COLORS.batch, "right");
    if (batchRight < L.plotW) label(ctx, "SPEED VIEW", batchRight + 8, 13, COLORS.speed, "left");

    // The last price.
    const last = model.bars[model.bars.length - 1];
    const lastY = crisp(y(last.close));
    const lastColor = last.close >= last.open ? COLORS.up : COLORS.down;
    if (lastY > TOP && lastY < priceBottom) {
      ctx.strokeStyle = lastColor;
      ctx.setLineDash([1, 3]);
      ctx.beginPath();
      ctx.moveTo(0, lastY);
      ctx.lineTo(L.plotW, lastY);
      ctx.stroke();
      ctx.setLineDash([]);
      tag(ctx, priceText(last.close, step), L.plotW, lastY, lastColor, "#0d1117");
    }

    // The crosshair.
    if (model.hover) {
      const { px, py } = model.hover;
      ctx.strokeStyle = COLORS.cross;
      ctx.setLineDash([3, 3]);
      ctx.beginPath();
      ctx.moveTo(crisp(px), 0);
      ctx.lineTo(crisp(px), L.plotH);
      if (py < L.plotH) {
        ctx.moveTo(0, crisp(py));
        ctx.lineTo(L.plotW, crisp(py));
      }
      ctx.stroke();
      ctx.setLineDash([]);
      if (py > TOP && py < priceBottom) {
        const price = high - ((py - TOP) / (priceBottom - TOP)) * (high - low);
        tag(ctx, priceText(price, step), L.plotW, crisp(py), "#33404f", COLORS.text);
      }
    }
    return { layout: L, drawn: visible.length, markers };
  }

  function label(ctx, text, x, y, color, align) {
    ctx.fillStyle = color;
    ctx.textAlign = align;
    ctx.fillText(text, x, y);
  }

  function tag(ctx, text, x, y, background, color) {
    ctx.font = FONT;
    ctx.fillStyle = background;
    ctx.fillRect(x + 1, y - 9, AXIS_W - 2, 18);
    ctx.fillStyle = color;
    ctx.textAlign = "left";
    ctx.textBaseline = "middle";
    ctx.fillText(text, x + 8, y);
  }

  // The first index whose bar starts at or after `t` (bars sorted by start).
  function firstAtOrAfter(bars, t) {
    let lo = 0;
    let hi = bars.length;
    while (lo < hi) {
      const mid = (lo + hi) >> 1;
      if (bars[mid].t < t) lo = mid + 1;
      else hi = mid;
    }
    return lo;
  }

  return { draw, firstAtOrAfter, time, clock, stamp };
})();
