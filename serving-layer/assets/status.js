// The status panel: the speed layer's watermark and lag, the last batch run
// and the boundary, trades per second with a sparkline, and the row counts,
// read from /api/v1/status every two seconds. Field names are the API's.
"use strict";

const Status = (() => {
  const $ = (id) => document.getElementById(id);
  const HISTORY = 90;
  const rates = [];
  let offsets = null;

  const ago = (ms) => (ms < 1000 ? `${Math.max(0, Math.round(ms))} ms` : ms < 120000 ? `${(ms / 1000).toFixed(1)} s` : `${Math.round(ms / 60000)} min`);

  // Trades per second: how fast the speed layer's input offsets advance
  // (one offset per trade) between two reads.
  function rate(status) {
    const partitions = (status.speed || {}).partitions || [];
    const now = Chart.time(status.now);
    const total = partitions.reduce((sum, p) => sum + Number(p.next_offset || 0), 0);
    const previous = offsets;
    offsets = { now, total };
    if (!previous || now <= previous.now || total < previous.total) return;
    const perSecond = ((total - previous.total) * 1000) / (now - previous.now);
    $("rate").textContent = perSecond.toFixed(perSecond < 10 ? 1 : 0);
    document.body.dataset.rate = perSecond.toFixed(1);
    rates.push(perSecond);
    if (rates.length > HISTORY) rates.shift();
    spark();
  }

  function spark() {
    const canvas = $("spark");
    const ratio = window.devicePixelRatio || 1;
    const w = canvas.clientWidth;
    const h = canvas.clientHeight;
    canvas.width = w * ratio;
    canvas.height = h * ratio;
    const ctx = canvas.getContext("2d");
    ctx.setTransform(ratio, 0, 0, ratio, 0, 0);
    const max = Math.max(1, ...rates) * 1.15;
    const x = (i) => (i / (HISTORY - 1)) * w;
    ctx.beginPath();
    rates.forEach((v, i) => ctx[i ? "lineTo" : "moveTo"](x(i), h - (v / max) * h));
    ctx.strokeStyle = "#f0b90b";
    ctx.lineWidth = 1.5;
    ctx.stroke();
    ctx.lineTo(x(rates.length - 1), h);
    ctx.lineTo(0, h);
    ctx.fillStyle = "rgba(240, 185, 11, 0.08)";
    ctx.fill();
  }

  function show(status) {
    const speed = status.speed || {};
    const batch = status.batch || {};
    const watermark = Chart.time(speed.watermark);
    $("watermark").textContent = watermark === null ? "—" : `${Chart.clock(watermark)} UTC`;
    const lag = Number(speed.lag_seconds);
    $("lag").textContent = speed.lag_seconds === undefined || isNaN(lag) ? "—" : ago(lag * 1000);
    const partitions = speed.partitions || [];
    const idle = partitions.filter((p) => Number(p.idle_seconds) > 10).length;
    const waiting = partitions.reduce((sum, p) => sum + (Number(p.lag_messages) || 0), 0);
    const behind = waiting ? ` · ${waiting.toLocaleString("en-US")} waiting` : "";
    $("partitions").textContent = partitions.length ? `${partitions.length}${idle ? ` (${idle} idle)` : ""}${behind}` : "—";
    const run = batch.last_run || null;
    $("batch-run").textContent = run ? `#${run.version} · ${run.days} day(s)` : "none yet";
    $("batch-at").textContent = run ? Chart.stamp(Chart.time(run.published_at)) : "—";
    $("batch-at").title = run ? run.published_at : "";
    $("boundary").textContent = Chart.stamp(Chart.time(batch.boundary));
    const rows = $("rows");
    rows.replaceChildren();
    for (const [name, count] of Object.entries(status.rows || {})) {
      const dt = document.createElement("dt");
      dt.textContent = name.replace(/_/g, " ");
      const dd = document.createElement("dd");
      dd.textContent = Number(count).toLocaleString("en-US");
      rows.append(dt, dd);
    }
    rate(status);
  }

  // Reads the status with `api` now and every two seconds; tells
  // `onBoundary` the boundary (epoch ms, or null) each time.
  function start(api, onBoundary) {
    const refresh = async () => {
      try {
        const status = await api("/api/v1/status");
        show(status);
        onBoundary(Chart.time((status.batch || {}).boundary));
      } catch (error) {
        $("watermark").textContent = "unreachable";
      }
    };
    refresh();
    setInterval(refresh, 2000);
  }

  return { start };
})();
