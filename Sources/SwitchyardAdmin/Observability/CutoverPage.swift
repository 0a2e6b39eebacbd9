/// `GET /`: the cutover page. One self-contained file — inline CSS and JavaScript, no CDN,
/// no build step — that polls `/status.json` (the next poll only after the last answer,
/// paused while the tab is hidden) and draws, per route, the share bar, a side-by-side
/// table and three 15-minute charts with a marker at every generation change.
enum CutoverPage {
    /// The page runs only its own inline script and talks only to this listener.
    static let securityHeaders = "Content-Security-Policy: default-src 'none'; script-src 'unsafe-inline'; "
        + "style-src 'unsafe-inline'; connect-src 'self'; img-src data:\r\nX-Frame-Options: DENY\r\nReferrer-Policy: no-referrer\r\n"

    static let html = #"""
<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<link rel="icon" href="data:,">
<title>Switchyard cutover</title>
<style>
:root { --a: #0072B2; --b: #E69F00; --c: #009E73; --d: #CC79A7; --bad: #c0392b; font-family: system-ui, sans-serif; }
body { margin: 0; padding: 0.8rem; background: #fafafa; color: #222; }
header { display: flex; flex-wrap: wrap; gap: 0.4rem 1.2rem; align-items: baseline; }
h1 { font-size: 1.3rem; margin: 0; }
#generation { font-weight: 600; }
#updated.stale, #state.down, #fleet.detached { color: var(--bad); font-weight: 600; }
.route { background: #fff; border: 1px solid #ddd; border-radius: 6px; margin: 0.8rem 0; padding: 0.6rem 0.8rem; }
.route h2 { font-size: 1.1rem; margin: 0 0 0.4rem; }
.bar { display: flex; height: 1.4rem; border-radius: 4px; overflow: hidden; background: #eee; margin: 0.3rem 0; }
.bar div { color: #fff; font-size: 0.8rem; line-height: 1.4rem; padding-left: 0.3rem; white-space: nowrap; overflow: hidden; }
table { border-collapse: collapse; width: 100%; max-width: 44rem; font-variant-numeric: tabular-nums; }
th, td { text-align: right; padding: 0.15rem 0.5rem; border-bottom: 1px solid #eee; }
th:first-child, td:first-child { text-align: left; }
.n { color: #777; font-size: 0.8em; }
.charts { display: grid; grid-template-columns: repeat(auto-fit, minmax(16rem, 1fr)); gap: 0.6rem; margin-top: 0.5rem; }
.chart h3 { font-size: 0.85rem; margin: 0; font-weight: 600; }
svg { width: 100%; height: 9rem; background: #fcfcfc; border: 1px solid #eee; }
.legend span { display: inline-block; margin-right: 0.8rem; font-size: 0.85rem; }
.swatch { display: inline-block; width: 0.8rem; height: 0.8rem; margin-right: 0.25rem; vertical-align: -0.1rem; }
#timeline { font-size: 0.85rem; }
#empty { color: #777; }
.inventory h3 { font-size: 0.85rem; margin: 0.5rem 0 0.1rem; }
.inventory ul { margin: 0; padding-left: 1.2rem; font-size: 0.85rem; }
.inventory .warn { color: var(--bad); }
.compare h3 { font-size: 0.85rem; margin: 0.5rem 0 0.1rem; }
.compare ul { margin: 0; padding-left: 1.2rem; font-size: 0.85rem; }
.compare .warn { color: var(--bad); }
.held { color: var(--bad); font-weight: 600; margin: 0.2rem 0; }
</style>
</head>
<body>
<header>
  <h1>Switchyard cutover</h1>
  <span id="generation">generation …</span>
  <span id="who"></span>
  <span id="updated">not updated yet</span>
  <span id="state"></span>
</header>
<div id="reload"></div>
<div id="fleet"></div>
<div id="routes"><p id="empty">no data yet</p></div>
<h2 style="font-size:1rem">Changes</h2>
<ol id="timeline" reversed></ol>
<script>
"use strict";
const COLOURS = ["#0072B2", "#E69F00", "#009E73", "#CC79A7", "#56B4E9", "#D55E00"];
const MIN_SAMPLE = 20;
let lastAnswer = 0, timer = null, inFlight = false;

function el(tag, attrs, text) {
  const node = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) node.setAttribute(k, v);
  if (text !== undefined) node.textContent = text;
  return node;
}
function num(v, digits) { return (v === null || v === undefined) ? "—" : Number(v).toFixed(digits); }
function ratio(v, n) { return (v === null || v === undefined || n < MIN_SAMPLE) ? "—" : (v * 100).toFixed(2) + " %"; }
function ms(v, n) { return (v === null || v === undefined || n < MIN_SAMPLE) ? "—" : Number(v).toFixed(2) + " ms"; }
function when(t) { return t ? new Date(t * 1000).toLocaleTimeString() : "?"; }

function render(doc) {
  const g = doc.generation || {};
  document.getElementById("generation").textContent = "generation " + g.number;
  document.getElementById("who").textContent = g.user ? ("by " + g.user + " at " + when(g.time) + ": " + g.command + (g.reason ? " [" + g.reason + "]" : "")) : "";
  const reload = doc.last_reload;
  document.getElementById("reload").textContent = reload ? ("last reload " + when(reload.time) + ": " + (reload.ok ? "ok" : "failed") + " — " + reload.message) : "";
  // Fleet mode: whether this instance is with the others (status.json's "fleet").
  const fleet = doc.fleet, fleetLine = document.getElementById("fleet");
  fleetLine.textContent = fleet ? ("fleet " + fleet.name + ", instance " + fleet.instance + ": " +
    (fleet.detached_since ? "DETACHED since " + fleet.detached_since + " (" + fleet.detached_reason + ")" : fleet.status) +
    ", serving generation " + fleet.generation + (fleet.rejected ? "; REJECTED: " + fleet.rejected : "")) : "";
  fleetLine.className = fleet && fleet.status !== "synced" ? "detached" : "";
  const routes = document.getElementById("routes");
  routes.replaceChildren();
  const anyTraffic = (doc.routes || []).some(r => r.sides.some(s => s.requests > 0 || s.history.some(p => p[4] > 0)));
  if (!anyTraffic) routes.appendChild(el("p", { id: "empty" }, "no data yet"));
  for (const route of doc.routes || []) routes.appendChild(renderRoute(route, doc));
  const timeline = document.getElementById("timeline");
  timeline.replaceChildren();
  for (const change of (doc.timeline || []).slice().reverse()) {
    timeline.appendChild(el("li", { value: String(change.generation) },
      "generation " + change.generation + " " + when(change.time) + " " + change.user + ": " + change.command +
      (change.reason ? " [" + change.reason + "]" : "") + (change.changes.length ? " — " + change.changes.join("; ") : "")));
  }
}

function renderRoute(route, doc) {
  const box = el("section", { class: "route", "data-route": route.name });
  box.appendChild(el("h2", {}, route.name + " — " + route.routing));
  // The write hold first: while it lasts, every write on the route waits (or gets 503).
  if (route.held) {
    const parked = doc.hold ? doc.hold.parked : 0;
    box.appendChild(el("div", { class: "held", "data-held": route.name },
      "WRITES HELD since " + when(route.held.since) + " (max-wait " + route.held.max_wait_seconds + " s" +
      (route.held.reason ? ", " + route.held.reason : "") + "): writes park until switchyard release " + route.name +
      "; parked now on all held routes " + parked));
  }
  const bar = el("div", { class: "bar", role: "img", "aria-label": "share of new users" });
  route.sides.forEach((side, i) => {
    if (side.share <= 0) return;
    const part = el("div", { style: "width:" + (side.share * 100) + "%;background:" + COLOURS[i % COLOURS.length] },
                    side.backend + " " + (side.share * 100).toFixed(2) + " %");
    bar.appendChild(part);
  });
  box.appendChild(bar);
  if (route.cohorts.length) box.appendChild(el("div", { class: "n" }, "cohorts: " + route.cohorts.join(", ")));
  for (const g of (doc.guards || []).filter(g => g.route === route.name)) {
    box.appendChild(el("div", { class: "guard", "data-guard": g.name, "data-state": g.state },
      "guard " + g.name + " (" + g.kind + ", " + g.mode + "): " + (g.state === "tripped" ? "TRIPPED at " + g.tripped_at + " — ack with: switchyard guard " + route.name + " ack" : g.state) + " — " + g.figures));
  }
  box.appendChild(renderTable(route.sides));
  const legend = el("div", { class: "legend" });
  route.sides.forEach((side, i) => {
    const item = el("span");
    item.appendChild(el("span", { class: "swatch", style: "background:" + COLOURS[i % COLOURS.length] }));
    item.appendChild(document.createTextNode(side.backend + " (" + side.role + ")"));
    legend.appendChild(item);
  });
  box.appendChild(legend);
  const charts = el("div", { class: "charts" });
  charts.appendChild(chart("requests/s", route.sides, 1, doc));
  charts.appendChild(chart("errors %", route.sides, 2, doc));
  charts.appendChild(chart("p99 ms", route.sides, 3, doc));
  box.appendChild(charts);
  if (route.inventory) box.appendChild(renderInventory(route.inventory));
  if (route.compare) box.appendChild(renderCompare(route.compare));
  return box;
}

// Who calls this route, and what a move would break (from the proxy's inventory).
function renderInventory(inv) {
  const box = el("div", { class: "inventory" });
  box.appendChild(el("h3", {}, "Inventory"));
  const list = el("ul");
  const hosts = (rows) => rows.map(h => h.host + " (" + h.requests + ")").join(", ");
  list.appendChild(el("li", { "data-row": "networks" }, "caller networks: " + inv.networks + "; browsers " + inv.browser_requests + " / other clients " + inv.other_requests + " requests"));
  if (inv.raw_ip_hosts.length) list.appendChild(el("li", { class: "warn", "data-row": "raw-ip" }, "raw IP in Host: " + hosts(inv.raw_ip_hosts)));
  if (inv.unlisted_hosts.length) list.appendChild(el("li", { class: "warn", "data-row": "unlisted" }, "names no route lists: " + hosts(inv.unlisted_hosts)));
  const old = Object.entries(inv.old_protocols || {});
  if (old.length) list.appendChild(el("li", { "data-row": "old-protocols" }, "old protocols: " + old.map(([k, v]) => k + " " + v).join(", ")));
  for (const [side, endpoints] of Object.entries(inv.never_served || {})) {
    list.appendChild(el("li", { "data-row": "never-" + side }, "never served by " + side + ": " + endpoints.join(", ")));
  }
  box.appendChild(list);
  return box;
}

function renderTable(sides) {
  const table = el("table");
  const head = el("tr");
  head.appendChild(el("th", {}, ""));
  for (const side of sides) head.appendChild(el("th", { "data-side": side.backend }, side.backend));
  if (sides.length >= 2) head.appendChild(el("th", {}, "difference"));
  table.appendChild(head);
  const rows = [
    ["req/s", s => num(s.rps, 1), (a, b) => num(b.rps - a.rps, 1)],
    ["error %", s => ratio(s.error_ratio, s.requests), (a, b) => diff(a.error_ratio, b.error_ratio, a, b, 100, " pp")],
    ["proxy error %", s => ratio(s.proxy_error_ratio, s.requests), (a, b) => diff(a.proxy_error_ratio, b.proxy_error_ratio, a, b, 100, " pp")],
    ["p50", s => ms(s.p50_ms, s.requests), (a, b) => diff(a.p50_ms, b.p50_ms, a, b, 1, " ms")],
    ["p99", s => ms(s.p99_ms, s.requests), (a, b) => diff(a.p99_ms, b.p99_ms, a, b, 1, " ms")],
    ["in flight", s => String(s.in_flight), (a, b) => String(b.in_flight - a.in_flight)],
    ["servers up", s => (s.servers === undefined ? "—" : s.servers_up + "/" + s.servers), () => ""],
  ];
  for (const [name, cell, delta] of rows) {
    const tr = el("tr", { "data-row": name });
    tr.appendChild(el("td", {}, name));
    for (const side of sides) {
      const td = el("td", { "data-side": side.backend }, cell(side));
      if (name === "error %" || name === "proxy error %" || name === "p50" || name === "p99") td.appendChild(el("span", { class: "n" }, " n=" + side.requests));
      tr.appendChild(td);
    }
    if (sides.length >= 2) tr.appendChild(el("td", { class: "difference" }, delta(sides[0], sides[1])));
    table.appendChild(tr);
  }
  return table;
}

function diff(a, b, sa, sb, scale, unit) {
  if (a === null || b === null || a === undefined || b === undefined || sa.requests < MIN_SAMPLE || sb.requests < MIN_SAMPLE) return "—";
  const d = (b - a) * scale;
  return (d >= 0 ? "+" : "") + d.toFixed(2) + unit;
}

function chart(title, sides, column, doc) {
  const W = 300, H = 120, now = doc.now, start = now - 900;
  const box = el("div", { class: "chart" });
  box.appendChild(el("h3", {}, title + " (15 min)"));
  const ns = "http://www.w3.org/2000/svg";
  const svg = document.createElementNS(ns, "svg");
  svg.setAttribute("viewBox", "0 0 " + W + " " + H);
  svg.setAttribute("preserveAspectRatio", "none");
  let max = 0;
  for (const side of sides) for (const p of side.history) if (p[column] !== null && p[column] > max) max = p[column];
  if (max <= 0) max = 1;
  const x = t => (t - start) / 900 * W, y = v => H - 14 - v / max * (H - 24);
  const label = document.createElementNS(ns, "text");
  label.setAttribute("x", "2"); label.setAttribute("y", "10"); label.setAttribute("font-size", "9");
  label.textContent = "max " + max.toFixed(2);
  svg.appendChild(label);
  // Changes a few seconds apart would pile their labels into one unreadable smear: a label
  // only where there is room since the last one (every marker keeps its tooltip).
  let lastLabel = -Infinity;
  for (const change of doc.timeline || []) {
    if (!change.time || change.time < start) continue;
    const line = document.createElementNS(ns, "line");
    line.setAttribute("class", "marker");
    line.setAttribute("x1", x(change.time)); line.setAttribute("x2", x(change.time));
    line.setAttribute("y1", "12"); line.setAttribute("y2", String(H));
    line.setAttribute("stroke", "#555"); line.setAttribute("stroke-dasharray", "3,2");
    const tip = document.createElementNS(ns, "title");
    tip.textContent = "generation " + change.generation + ": " + change.user + " — " + (change.reason || change.command);
    line.appendChild(tip);
    svg.appendChild(line);
    const labelX = Math.min(x(change.time) + 2, W - 60);
    if (labelX - lastLabel < 70) continue;
    lastLabel = labelX;
    const text = document.createElementNS(ns, "text");
    text.setAttribute("class", "marker-label");
    text.setAttribute("x", String(labelX)); text.setAttribute("y", String(H - 2));
    text.setAttribute("font-size", "8");
    text.textContent = "g" + change.generation + " " + change.user + ": " + (change.reason || change.command);
    svg.appendChild(text);
  }
  sides.forEach((side, i) => {
    const points = side.history.filter(p => p[column] !== null && p[0] >= start).map(p => x(p[0]).toFixed(1) + "," + y(p[column]).toFixed(1));
    if (points.length === 0) return;
    const line = document.createElementNS(ns, "polyline");
    line.setAttribute("points", points.join(" "));
    line.setAttribute("fill", "none");
    line.setAttribute("stroke", COLOURS[i % COLOURS.length]);
    line.setAttribute("stroke-width", "2");
    line.setAttribute("data-side", side.backend);
    svg.appendChild(line);
  });
  box.appendChild(svg);
  return box;
}

function showAge() {
  const node = document.getElementById("updated");
  if (!lastAnswer) return;
  const age = Math.round((Date.now() - lastAnswer) / 1000);
  node.textContent = "updated " + age + " s ago";
  node.className = age > 10 ? "stale" : "";
}

async function poll() {
  timer = null;
  if (document.hidden || inFlight) return;
  inFlight = true;
  const state = document.getElementById("state");
  try {
    const answer = await fetch("status.json", { cache: "no-store" });
    if (!answer.ok) throw new Error("HTTP " + answer.status);
    render(await answer.json());
    lastAnswer = Date.now();
    state.textContent = "";
    state.className = "";
  } catch (error) {
    state.textContent = "proxy not answering — retrying";
    state.className = "down";
  } finally {
    inFlight = false;
    showAge();
    schedule();
  }
}

function schedule() {
  if (timer === null && !document.hidden) timer = setTimeout(poll, 2000);
}

document.addEventListener("visibilitychange", () => {
  if (document.hidden) { if (timer !== null) { clearTimeout(timer); timer = null; } }
  else if (!inFlight) poll();
});
setInterval(showAge, 1000);
poll();
"""# + ComparePanel.script + #"""
</script>
</body>
</html>
"""#
}
