// Fleet: pools, workers, arm heartbeats, queue depth per arm × urgency, attempts per minute, breaker.
import { api } from "./api.js";
import { el, fill } from "./dom.js";

const REFRESH_MS = 3000;

export function fleetView(root, _arg, showError) {
  const box = el("div#fleet");
  root.append(el("h1", {}, "Fleet"), box);

  async function load() {
    let f;
    try { f = await api("/api/v1/fleet"); showError(null); } catch (exc) { showError(exc); return; }
    const urgencies = [...new Set(f.queues.map((q) => q.urgency))];
    const owners = [...new Set(f.queues.map((q) => q.arm))];
    const depth = new Map(f.queues.map((q) => [`${q.arm}|${q.urgency}`, q.depth]));
    const table = (id, head, rows) => el(`table.grid#${id}`, {}, el("thead", {}, el("tr", {}, head.map((h) => el("th", {}, h)))), el("tbody", {}, rows));
    fill(box,
      el("p", {}, "LLM breaker: ", el("span", { class: `badge b-${f.breaker.state}`, id: "breaker" }, f.breaker.state)),
      Object.keys(f.errors).length ? el("p.error-box", {}, Object.entries(f.errors).map(([k, v]) => `${k}: ${v}`).join(" · ")) : null,
      el("h2", {}, "Arms"),
      table("fleet-arms", ["arm", "health", "workers", "heartbeat", "ok / failed (window)", "last 10 min"],
        f.arms.map((a) => el("tr", { dataset: { arm: a.arm } },
          el("td", {}, a.arm), el("td", {}, el("span", { class: `badge h-${a.health}` }, a.health)), el("td.num", {}, a.workers),
          el("td", {}, a.heartbeat_age_s === null ? "—" : `${a.heartbeat_age_s.toFixed(0)} s ago`),
          el("td.num", {}, `${a.succeeded} / ${a.failed}${a.succeeded + a.failed ? ` (${((100 * a.failed) / (a.succeeded + a.failed)).toFixed(0)}% failed)` : ""}`),
          el("td", {}, spark(f.throughput[a.arm] || []))))),
      el("h2", {}, "Queue depth"),
      table("fleet-queues", ["arm", ...urgencies], owners.map((arm) => el("tr", {}, el("td", {}, arm),
        urgencies.map((u) => { const d = depth.get(`${arm}|${u}`); return el("td.num", { class: d ? "busy" : "" }, d === null || d === undefined ? "?" : d); })))),
      el("h2", {}, "Pools"),
      table("fleet-pools", ["pool", "arms", "kind", "concurrency"], f.pools.map((p) => el("tr", {}, el("td", {}, p.name), el("td", {}, p.arms.join(", ")), el("td", {}, p.pool), el("td.num", {}, p.concurrency)))),
      el("h2", {}, "Workers answering"),
      table("fleet-workers", ["worker", "queues"], f.workers.map((w) => el("tr", {}, el("td", {}, w.worker), el("td.queues", {}, w.queues.join(" "))))));
  }

  load();
  const timer = setInterval(load, REFRESH_MS);
  return { stop: () => clearInterval(timer) };
}

// Attempts per minute as bars: height = succeeded + failed, the failed part in red.
function spark(series) {
  const max = Math.max(1, ...series.map((m) => m.succeeded + m.failed));
  const bars = series.map((m) => {
    const total = ((m.succeeded + m.failed) / max) * 100, bad = (m.failed / max) * 100;
    const ok = el("span.ok"), failed = el("span.bad");
    ok.style.height = `${total - bad}%`; // CSSOM, which the CSP allows (no style attributes)
    failed.style.height = `${bad}%`;
    return el("span.bar", { title: `${new Date(m.minute * 1000).toLocaleTimeString()}: ${m.succeeded} ok, ${m.failed} failed` }, ok, failed);
  });
  const sum = series.reduce((a, m) => a + m.succeeded + m.failed, 0);
  return el("span.spark", {}, bars, ` ${sum}`);
}
