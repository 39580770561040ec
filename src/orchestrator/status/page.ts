/**
 * The status page's HTML, one self-contained document: inline CSS and JavaScript, a hand-drawn
 * canvas chart, nothing fetched but status.json (no CDN: it works offline). Kept as strings in a
 * module, so tsc ships it in dist/ with no copy step.
 *
 * The script and the style are plain strings in String.raw templates: they must not contain a
 * backquote or a dollar sign followed by a brace. The Content-Security-Policy allows exactly these
 * two inline blocks (by their SHA-256) and fetches from the same origin.
 *
 * Elements the browser test reads carry ids, and numbers a `data-value` with the raw value.
 */
import { createHash } from "node:crypto";

const STYLE = String.raw`
:root {
  --bg: #f6f7f9; --card: #ffffff; --fg: #1d2430; --muted: #6a7383; --border: #dfe3e8; --grid: #eceff3;
  --accent: #2f6fdf; --ok: #1e9e5a; --warn: #c98a06; --err: #d93a3a;
  --p50: #2f6fdf; --p90: #c98a06; --p99: #d93a3a;
  color-scheme: light dark;
}
@media (prefers-color-scheme: dark) {
  :root {
    --bg: #14171c; --card: #1c2027; --fg: #e4e7ec; --muted: #98a1ae; --border: #2c323b; --grid: #262b33;
    --accent: #5b93f5; --ok: #3cc47c; --warn: #e3a82b; --err: #f06464;
    --p50: #5b93f5; --p90: #e3a82b; --p99: #f06464;
  }
}
* { box-sizing: border-box; }
body { margin: 0; padding: 20px 24px 28px; background: var(--bg); color: var(--fg);
  font: 14px/1.4 system-ui, -apple-system, "Segoe UI", Roboto, "Helvetica Neue", Arial, sans-serif; }
header { display: flex; flex-wrap: wrap; align-items: baseline; gap: 6px 14px; margin-bottom: 16px; }
h1 { font-size: 20px; margin: 0; }
h2 { font-size: 15px; margin: 0 0 8px; }
.muted, small { color: var(--muted); font-weight: normal; }
#app { font-family: ui-monospace, SFMono-Regular, Menlo, Consolas, monospace; }
#conn { margin-left: auto; font-size: 13px; }
#conn::before { content: ""; display: inline-block; width: 8px; height: 8px; border-radius: 50%;
  margin-right: 6px; background: var(--muted); }
#conn[data-state="live"]::before { background: var(--ok); }
#conn[data-state="draining"]::before { background: var(--warn); }
#conn[data-state="error"]::before { background: var(--err); }
.tiles { display: grid; grid-template-columns: repeat(auto-fit, minmax(150px, 1fr)); gap: 12px; margin-bottom: 16px; }
.tile, figure, .panel { background: var(--card); border: 1px solid var(--border); border-radius: 8px; }
.tile { padding: 10px 14px; }
.label { font-size: 12px; color: var(--muted); text-transform: uppercase; letter-spacing: .03em; }
.label small { text-transform: none; letter-spacing: 0; }
.value { font-size: 26px; font-weight: 600; font-variant-numeric: tabular-nums; margin-top: 2px; }
.sub { font-size: 12px; color: var(--muted); font-variant-numeric: tabular-nums; }
.charts { display: grid; grid-template-columns: repeat(auto-fit, minmax(380px, 1fr)); gap: 12px; margin-bottom: 16px; }
figure { margin: 0; padding: 10px 12px 6px; }
figcaption { display: flex; flex-wrap: wrap; gap: 4px 12px; align-items: baseline; font-weight: 600; margin-bottom: 4px; }
.legend { font-size: 12px; font-weight: normal; color: var(--muted); display: flex; gap: 10px; }
.swatch { display: inline-block; width: 10px; height: 10px; border-radius: 2px; margin-right: 4px; vertical-align: -1px; }
.sw-ok { background: var(--accent); } .sw-err { background: var(--err); }
.sw-p50 { background: var(--p50); } .sw-p90 { background: var(--p90); } .sw-p99 { background: var(--p99); }
canvas { display: block; width: 100%; height: 190px; }
.panel { padding: 12px 14px; }
table { width: 100%; border-collapse: collapse; font-variant-numeric: tabular-nums; }
th, td { text-align: left; padding: 6px 10px; border-bottom: 1px solid var(--border); white-space: nowrap; }
th { font-size: 12px; color: var(--muted); font-weight: 600; }
tbody tr:last-child td { border-bottom: none; }
.num { text-align: right; }
td.current { white-space: normal; font-family: ui-monospace, SFMono-Regular, Menlo, Consolas, monospace; font-size: 12px; }
.state { display: inline-block; padding: 1px 8px; border-radius: 10px; font-size: 12px; font-weight: 600;
  border: 1px solid currentColor; }
.state-idle { color: var(--ok); } .state-busy { color: var(--accent); }
.state-starting, .state-retiring { color: var(--warn); } .state-stopping, .state-exited { color: var(--err); }
footer { margin-top: 14px; font-size: 12px; color: var(--muted); }
`;

const SCRIPT = String.raw`
"use strict";
(function () {
  var POLL_MS = 1000;
  var updates = 0;
  var last = null;

  function $(id) { return document.getElementById(id); }
  function cssColor(name) { return getComputedStyle(document.documentElement).getPropertyValue(name).trim(); }

  // ---- formatting
  function fmtInt(n) { return Math.round(n).toLocaleString("en-US"); }
  function fmtRate(r) { return r < 100 ? r.toFixed(1) : fmtInt(r); }
  function fmtMs(ms) {
    if (ms === null || ms === undefined) return "\u2013";
    if (ms < 1) return ms.toFixed(2) + " ms";
    if (ms < 10) return ms.toFixed(1) + " ms";
    if (ms < 1000) return Math.round(ms) + " ms";
    return (ms / 1000).toFixed(ms < 10000 ? 2 : 1) + " s";
  }
  function fmtBytes(b) {
    if (!b) return "\u2013";
    var mib = b / 1048576;
    return (mib < 10 ? mib.toFixed(1) : fmtInt(mib)) + " MiB";
  }
  function fmtDuration(s) {
    s = Math.floor(s);
    if (s < 60) return s + " s";
    if (s < 3600) return Math.floor(s / 60) + " min " + (s % 60) + " s";
    if (s < 86400) return Math.floor(s / 3600) + " h " + Math.floor((s % 3600) / 60) + " min";
    return Math.floor(s / 86400) + " d " + Math.floor((s % 86400) / 3600) + " h";
  }
  function setValue(id, value, text) {
    var el = $(id);
    el.dataset.value = value === null || value === undefined ? "" : String(value);
    el.textContent = text;
  }
  function cell(row, field, text, value, className) {
    var td = document.createElement("td");
    td.dataset.field = field;
    if (value !== undefined) td.dataset.value = String(value);
    if (className) td.className = className;
    td.textContent = text;
    row.appendChild(td);
    return td;
  }

  // ---- rendering
  function render(s) {
    var n = s.neutrino;
    $("app").textContent = n.app;
    $("meta").textContent = "Neutrino " + n.version + " \u00b7 " + n.runtime + " workers";
    var conn = $("conn");
    conn.dataset.state = n.draining ? "draining" : "live";
    conn.textContent = n.draining ? "draining" : "live";

    setValue("rps", s.last_10s.rps, fmtRate(s.last_10s.rps));
    setValue("p50", s.last_60s.p50_ms, fmtMs(s.last_60s.p50_ms));
    setValue("p90", s.last_60s.p90_ms, fmtMs(s.last_60s.p90_ms));
    setValue("p99", s.last_60s.p99_ms, fmtMs(s.last_60s.p99_ms));
    setValue("requests-total", s.totals.requests, fmtInt(s.totals.requests));
    setValue("errors-total", s.totals.errors, fmtInt(s.totals.errors));
    setValue("queue-depth", s.queue.depth, fmtInt(s.queue.depth));
    setValue("queue-capacity", s.queue.capacity, fmtInt(s.queue.capacity));
    setValue("inflight", s.inflight, fmtInt(s.inflight));
    var streams = s.streams.response + s.streams.request + s.streams.websocket;
    setValue("streams-open", streams, fmtInt(streams));
    $("streams-open").title = s.streams.response + " responses, " + s.streams.request + " uploads, " + s.streams.websocket + " WebSockets";
    var busy = 0, serving = 0;
    s.workers.forEach(function (w) {
      if (w.state === "busy") busy++;
      if (w.state === "busy" || w.state === "idle") serving++;
    });
    setValue("workers-count", s.workers.length, fmtInt(s.workers.length));
    setValue("workers-busy", busy, fmtInt(busy));
    setValue("workers-serving", serving, fmtInt(serving));
    renderWorkers(s.workers);
    setValue("orch-pid", n.pid, String(n.pid));
    setValue("orch-rss", n.rss_bytes, fmtBytes(n.rss_bytes));
    setValue("uptime", n.uptime_s, fmtDuration(n.uptime_s));
    setValue("updated", s.time, new Date(s.time).toLocaleTimeString());
    drawCharts();
  }

  function renderWorkers(workers) {
    var body = $("workers");
    var rows = document.createDocumentFragment();
    workers.forEach(function (w) {
      var tr = document.createElement("tr");
      // Worker ids are per front (--fronts N): "front 1 · w0".
      var label = w.front === undefined ? w.id : "front " + w.front + " \u00b7 " + w.id;
      tr.dataset.workerId = label;
      cell(tr, "id", label);
      var state = cell(tr, "state", "", w.state);
      var badge = document.createElement("span");
      badge.className = "state state-" + w.state;
      badge.textContent = w.state;
      state.appendChild(badge);
      cell(tr, "pid", w.pid ? String(w.pid) : "\u2013", w.pid);
      cell(tr, "rss", fmtBytes(w.rss_bytes), w.rss_bytes, "num");
      cell(tr, "served", fmtInt(w.served), w.served, "num");
      cell(tr, "inflight", w.inflight + " / " + w.concurrency, w.inflight, "num");
      cell(tr, "loop-lag", w.loop_lag_ms === null || w.loop_lag_ms === undefined ? "\u2013" : fmtMs(w.loop_lag_ms), w.loop_lag_ms, "num");
      var shown = w.current.slice(0, 3).map(function (c) { return c.method + " " + c.route + (c.streaming ? " \u21c4" : "") + " (" + fmtMs(c.running_ms) + ")"; });
      if (w.current.length > 3) shown.push("+" + (w.current.length - 3) + " more");
      cell(tr, "current", shown.join(", ") || "\u2013", w.current.map(function (c) { return c.route; }).join(" "), "current");
      rows.appendChild(tr);
    });
    body.replaceChildren(rows);
  }

  // ---- charts
  var PAD = { left: 58, right: 12, top: 10, bottom: 22 };

  function setup(canvas) {
    var dpr = window.devicePixelRatio || 1;
    var w = canvas.clientWidth, h = canvas.clientHeight;
    if (canvas.width !== Math.round(w * dpr) || canvas.height !== Math.round(h * dpr)) {
      canvas.width = Math.round(w * dpr);
      canvas.height = Math.round(h * dpr);
    }
    var ctx = canvas.getContext("2d");
    ctx.setTransform(dpr, 0, 0, dpr, 0, 0);
    ctx.clearRect(0, 0, w, h);
    ctx.font = "11px system-ui, sans-serif";
    return { ctx: ctx, w: w, h: h, pw: w - PAD.left - PAD.right, ph: h - PAD.top - PAD.bottom };
  }

  function niceStep(max, count) {
    var raw = max / count;
    var pow = Math.pow(10, Math.floor(Math.log10(raw)));
    var f = raw / pow;
    return (f <= 1 ? 1 : f <= 2 ? 2 : f <= 5 ? 5 : 10) * pow;
  }

  function gridLine(c, y, label) {
    c.ctx.strokeStyle = cssColor("--grid");
    c.ctx.lineWidth = 1;
    c.ctx.beginPath();
    c.ctx.moveTo(PAD.left, Math.round(y) + 0.5);
    c.ctx.lineTo(PAD.left + c.pw, Math.round(y) + 0.5);
    c.ctx.stroke();
    c.ctx.fillStyle = cssColor("--muted");
    c.ctx.textAlign = "right";
    c.ctx.textBaseline = "middle";
    c.ctx.fillText(label, PAD.left - 6, y);
  }

  function fmtAgo(s) { return s < 60 ? s + " s" : s / 60 + " min"; }

  function timeAxis(c, points) {
    var n = points.length, lastT = points[n - 1].t;
    var step = n <= 90 ? 15 : n <= 180 ? 30 : 60;
    c.ctx.fillStyle = cssColor("--muted");
    c.ctx.textBaseline = "top";
    for (var i = 0; i < n; i++) {
      var ago = lastT - points[i].t;
      if (ago % step !== 0) continue;
      var x = PAD.left + (i + 0.5) * c.pw / n;
      c.ctx.textAlign = ago === 0 ? "right" : i === 0 ? "left" : "center";
      c.ctx.fillText(ago === 0 ? "now" : "\u2212" + fmtAgo(ago), ago === 0 ? PAD.left + c.pw : x, PAD.top + c.ph + 6);
    }
  }

  function emptyNote(c, text) {
    c.ctx.fillStyle = cssColor("--muted");
    c.ctx.textAlign = "center";
    c.ctx.textBaseline = "middle";
    c.ctx.fillText(text, PAD.left + c.pw / 2, PAD.top + c.ph / 2);
  }

  function drawRps(canvas, points) {
    var c = setup(canvas);
    var max = 0;
    points.forEach(function (p) { if (p.requests > max) max = p.requests; });
    var step = niceStep(Math.max(max, 4), 4);
    var top = Math.max(step, Math.ceil(max / step) * step);
    for (var v = 0; v <= top + 1e-9; v += step) gridLine(c, PAD.top + c.ph - v / top * c.ph, fmtInt(v));
    var n = points.length, bw = c.pw / n, gap = bw > 3 ? 1 : 0;
    var okColor = cssColor("--accent"), errColor = cssColor("--err");
    points.forEach(function (p, i) {
      if (!p.requests) return;
      var x = PAD.left + i * bw;
      var hOk = (p.requests - p.errors) / top * c.ph, hErr = p.errors / top * c.ph;
      c.ctx.fillStyle = okColor;
      c.ctx.fillRect(x, PAD.top + c.ph - hOk, bw - gap, hOk);
      if (hErr > 0) {
        c.ctx.fillStyle = errColor;
        c.ctx.fillRect(x, PAD.top + c.ph - hOk - hErr, bw - gap, hErr);
      }
    });
    if (max === 0) emptyNote(c, "no requests");
    timeAxis(c, points);
  }

  function drawLatency(canvas, points) {
    var c = setup(canvas);
    var lo = Infinity, hi = 0;
    points.forEach(function (p) {
      if (p.p50_ms !== null && p.p50_ms < lo) lo = p.p50_ms;
      if (p.p99_ms !== null && p.p99_ms > hi) hi = p.p99_ms;
    });
    if (hi === 0) {
      gridLine(c, PAD.top + c.ph, "");
      emptyNote(c, "no requests");
      timeAxis(c, points);
      return;
    }
    // A log scale from a power of ten below the fastest p50 to one above the slowest p99.
    var lo10 = Math.floor(Math.log10(Math.max(lo, 0.01)));
    var hi10 = Math.ceil(Math.log10(hi));
    if (hi10 <= lo10) hi10 = lo10 + 1;
    function y(ms) { return PAD.top + c.ph - (Math.log10(Math.max(ms, 0.01)) - lo10) / (hi10 - lo10) * c.ph; }
    var mantissas = hi10 - lo10 <= 3 ? [1, 2, 5] : [1];
    for (var e = lo10; e <= hi10; e++) {
      mantissas.forEach(function (m) {
        var v = m * Math.pow(10, e);
        if (v <= Math.pow(10, hi10) * 1.0001) gridLine(c, y(v), fmtMs(v));
      });
    }
    var n = points.length, bw = c.pw / n;
    [["p50_ms", "--p50"], ["p90_ms", "--p90"], ["p99_ms", "--p99"]].forEach(function (line) {
      var key = line[0];
      c.ctx.strokeStyle = c.ctx.fillStyle = cssColor(line[1]);
      c.ctx.lineWidth = 1.6;
      c.ctx.lineJoin = "round";
      c.ctx.beginPath();
      var drawing = false;
      points.forEach(function (p, i) {
        var v = p[key], x = PAD.left + (i + 0.5) * bw;
        if (v === null) { drawing = false; return; }
        var prev = i > 0 ? points[i - 1][key] : null, next = i < n - 1 ? points[i + 1][key] : null;
        if (prev === null && next === null) {
          c.ctx.fillRect(x - 1.5, y(v) - 1.5, 3, 3); // a lone second: a dot
          return;
        }
        if (drawing) c.ctx.lineTo(x, y(v)); else c.ctx.moveTo(x, y(v));
        drawing = true;
      });
      c.ctx.stroke();
    });
    timeAxis(c, points);
  }

  function drawCharts() {
    if (!last || last.series.points.length === 0) return;
    // The last five minutes; a younger server shows its whole life, and at least a minute.
    var points = last.series.points;
    var span = Math.min(points.length, Math.max(60, Math.ceil(last.neutrino.uptime_s)));
    points = points.slice(points.length - span);
    var caption = "last " + (span < 120 ? span + " s" : Math.round(span / 60) + " minutes");
    $("span-rps").textContent = caption;
    $("span-latency").textContent = caption + ", log scale";
    drawRps($("chart-rps"), points);
    drawLatency($("chart-latency"), points);
  }

  // ---- polling
  function poll() {
    fetch("status.json", { cache: "no-store" })
      .then(function (r) {
        if (!r.ok) throw new Error("HTTP " + r.status);
        return r.json();
      })
      .then(function (s) {
        last = s;
        render(s);
        updates++;
        document.body.dataset.updates = String(updates);
      })
      .catch(function (err) {
        var conn = $("conn");
        conn.dataset.state = "error";
        conn.textContent = "disconnected (" + err.message + "), retrying";
      })
      .then(function () { setTimeout(poll, POLL_MS); });
  }
  window.addEventListener("resize", drawCharts);
  poll();
})();
`;

const BODY = `
<header>
  <h1>Neutrino status</h1>
  <span id="app"></span>
  <span id="meta" class="muted"></span>
  <span id="conn" data-state="connecting">connecting\u2026</span>
</header>
<section class="tiles">
  <div class="tile"><div class="label">Requests/s <small>last 10 s</small></div><div class="value" id="rps" data-value="">\u2013</div></div>
  <div class="tile"><div class="label">Latency p50 <small>last 60 s</small></div><div class="value" id="p50" data-value="">\u2013</div></div>
  <div class="tile"><div class="label">Latency p90 <small>last 60 s</small></div><div class="value" id="p90" data-value="">\u2013</div></div>
  <div class="tile"><div class="label">Latency p99 <small>last 60 s</small></div><div class="value" id="p99" data-value="">\u2013</div></div>
  <div class="tile"><div class="label">Requests served</div><div class="value" id="requests-total" data-value="">\u2013</div>
    <div class="sub"><span id="errors-total" data-value="">\u2013</span> errors (5xx)</div></div>
  <div class="tile"><div class="label">Queue depth</div><div class="value" id="queue-depth" data-value="">\u2013</div>
    <div class="sub">of <span id="queue-capacity" data-value="">\u2013</span> \u00b7 <span id="inflight" data-value="">\u2013</span> in flight \u00b7 <span id="streams-open" data-value="">\u2013</span> streams</div></div>
  <div class="tile"><div class="label">Workers</div><div class="value" id="workers-count" data-value="">\u2013</div>
    <div class="sub"><span id="workers-serving" data-value="">\u2013</span> serving \u00b7 <span id="workers-busy" data-value="">\u2013</span> busy</div></div>
</section>
<section class="charts">
  <figure>
    <figcaption>Requests per second <small id="span-rps">last 5 minutes</small>
      <span class="legend"><span><span class="swatch sw-ok"></span>answered</span><span><span class="swatch sw-err"></span>5xx</span></span>
    </figcaption>
    <canvas id="chart-rps" role="img" aria-label="requests per second, one bar per second"></canvas>
  </figure>
  <figure>
    <figcaption>Latency <small id="span-latency">last 5 minutes, log scale</small>
      <span class="legend"><span><span class="swatch sw-p50"></span>p50</span><span><span class="swatch sw-p90"></span>p90</span><span><span class="swatch sw-p99"></span>p99</span></span>
    </figcaption>
    <canvas id="chart-latency" role="img" aria-label="latency percentiles p50, p90 and p99, per second"></canvas>
  </figure>
</section>
<section class="panel">
  <h2>Workers</h2>
  <table>
    <thead><tr><th>worker</th><th>state</th><th>pid</th><th class="num">RSS</th><th class="num">served</th><th class="num">in flight</th><th class="num" title="the longest event-loop delay a Node worker reported lately">loop lag</th><th>running now</th></tr></thead>
    <tbody id="workers"></tbody>
  </table>
</section>
<footer>
  orchestrator pid <span id="orch-pid" data-value="">\u2013</span>, RSS <span id="orch-rss" data-value="">\u2013</span>
  \u00b7 up <span id="uptime" data-value="">\u2013</span> \u00b7 updated <span id="updated" data-value="">\u2013</span>
</footer>
`;

export const PAGE_HTML = `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>Neutrino status</title>
<link rel="icon" href="data:,">
<style>${STYLE}</style>
</head>
<body>${BODY}<script>${SCRIPT}</script>
</body>
</html>
`;

function sha256(text: string): string {
  return `'sha256-${createHash("sha256").update(text, "utf8").digest("base64")}'`;
}

export const PAGE_CSP = [
  "default-src 'none'",
  `script-src ${sha256(SCRIPT)}`,
  `style-src ${sha256(STYLE)}`,
  "connect-src 'self'",
  "img-src data:",
  "base-uri 'none'",
  "form-action 'none'",
  "frame-ancestors 'none'",
].join("; ");
