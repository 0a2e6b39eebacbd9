/// The cutover page's mirror-comparison panel (spliced into `CutoverPage.html`'s script):
/// per route, the verdict, pairs and rates, and per endpoint the differences above noise
/// (field paths with their rates) and those classed as noise. Reads the route's `compare`
/// object of `/status.json`; written with `textContent` only.
enum ComparePanel {
    static let script = #"""

// Mirror comparison: is the new side answering like the old one? (from the proxy's comparer)
function renderCompare(c) {
  const box = el("div", { class: "compare", "data-ready": String(c.ready) });
  box.appendChild(el("h3", {}, "Mirror comparison"));
  const list = el("ul");
  const pct = (r) => Number((r * 100).toPrecision(2)) + " %";
  list.appendChild(el("li", { class: c.ready ? "ok" : "warn", "data-row": "verdict" }, c.verdict));
  list.appendChild(el("li", { "data-row": "pairs" }, c.pairs + " pairs (" + c.noise_samples + " primary-vs-primary); above noise " + pct(c.mismatch_rate) + ", noise only " + pct(c.noise_rate)));
  for (const e of c.endpoints || []) {
    const above = e.differences.filter(d => !d.noise && d.count > 0).slice(0, 5);
    const noise = e.differences.filter(d => d.noise).slice(0, 5);
    const lat = e.latency || {};
    const p = (side) => (side && side.p99_ms !== null) ? side.p99_ms + " ms" : "—";
    let text = e.endpoint + ": " + e.pairs + " pairs";
    if (above.length) text += "; mismatches: " + above.map(d => d.display + " " + pct(d.rate)).join(", ");
    if (noise.length) text += "; noise: " + noise.map(d => d.display).join(", ");
    text += "; p99 primary " + p(lat.primary) + " / mirror " + p(lat.mirror);
    list.appendChild(el("li", { class: above.length ? "warn" : "", "data-endpoint": e.endpoint }, text));
  }
  box.appendChild(list);
  return box;
}
"""#
}
