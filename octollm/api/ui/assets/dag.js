// A plan as an SVG DAG: columns are depths (a step sits one column right of its deepest
// dependency), edges follow depends_on, colours follow the step's state, and a step of a later
// generation (a repair round) is outlined dashed and labelled g<N>.
import { svg } from "./dom.js";

const W = 168, H = 44, GAP_X = 56, GAP_Y = 18, PAD = 12;

export function layout(steps) {
  const byId = new Map(steps.map((s) => [s.step_id, s]));
  const depth = new Map();
  const visiting = new Set();
  const depthOf = (id) => {
    if (depth.has(id)) return depth.get(id);
    if (visiting.has(id)) return 0; // a cycle cannot be stored; stay safe anyway
    visiting.add(id);
    const deps = (byId.get(id)?.depends_on || []).filter((d) => byId.has(d));
    const d = deps.length ? 1 + Math.max(...deps.map(depthOf)) : 0;
    visiting.delete(id);
    depth.set(id, d);
    return d;
  };
  const columns = [];
  for (const s of steps) (columns[depthOf(s.step_id)] ||= []).push(s);
  const at = new Map();
  columns.forEach((col, x) => col.forEach((s, y) => at.set(s.step_id, { x: PAD + x * (W + GAP_X), y: PAD + y * (H + GAP_Y) })));
  const rows = Math.max(1, ...columns.map((c) => (c ? c.length : 0)));
  return { at, width: PAD * 2 + columns.length * (W + GAP_X) - GAP_X, height: PAD * 2 + rows * (H + GAP_Y) - GAP_Y };
}

export function drawDag(steps, onPick) {
  const { at, width, height } = layout(steps);
  const edges = [];
  for (const s of steps) {
    const to = at.get(s.step_id);
    for (const dep of s.depends_on || []) {
      const from = at.get(dep);
      if (!from) continue;
      const x1 = from.x + W, y1 = from.y + H / 2, x2 = to.x, y2 = to.y + H / 2, mid = (x1 + x2) / 2;
      edges.push(svg("path", {
        class: "edge", "data-from": dep, "data-to": s.step_id,
        d: `M${x1},${y1} C${mid},${y1} ${mid},${y2} ${x2},${y2}`, "marker-end": "url(#arrow)",
      }));
    }
  }
  const nodes = steps.map((s) => {
    const { x, y } = at.get(s.step_id);
    const gen = s.generation || 1;
    const g = svg("g", {
      class: `node s-${s.status}${gen > 1 ? " repair" : ""}${s.critical ? "" : " optional"}`,
      "data-step": s.step_id, "data-status": s.status, "data-generation": gen,
      transform: `translate(${x},${y})`, tabindex: "0",
    },
    svg("title", {}, `${s.step_id} · ${s.arm} · ${s.status}${gen > 1 ? ` · generation ${gen}` : ""}`),
    svg("rect", { width: W, height: H, rx: 6 }),
    svg("text", { x: 8, y: 17, class: "id" }, clip(s.step_id, 20)),
    svg("text", { x: 8, y: 34, class: "meta" }, `${s.arm} · ${s.status}`),
    gen > 1 ? svg("text", { x: W - 8, y: 17, class: "gen", "text-anchor": "end" }, `g${gen}`) : null);
    g.addEventListener("click", () => onPick(s.step_id));
    g.addEventListener("keydown", (e) => { if (e.key === "Enter") onPick(s.step_id); });
    return g;
  });
  const defs = svg("defs", {}, svg("marker", { id: "arrow", viewBox: "0 0 10 10", refX: 10, refY: 5, markerWidth: 7, markerHeight: 7, orient: "auto" },
    svg("path", { d: "M0,0 L10,5 L0,10 z", class: "arrowhead" })));
  return svg("svg", { class: "dag", id: "dag", width, height, viewBox: `0 0 ${width} ${height}` }, defs, svg("g", { class: "edges" }, edges), svg("g", { class: "nodes" }, nodes));
}

// Recolour in place (keeps the picture and the focus steady while events arrive).
export function recolour(root, steps) {
  for (const s of steps) {
    const node = root.querySelector(`g.node[data-step="${CSS.escape(s.step_id)}"]`);
    if (!node || node.dataset.status === s.status) continue;
    node.classList.remove(`s-${node.dataset.status}`);
    node.classList.add(`s-${s.status}`);
    node.dataset.status = s.status;
    node.querySelector("text.meta").textContent = `${s.arm} · ${s.status}`;
    const gen = s.generation || 1;
    node.querySelector("title").textContent = `${s.step_id} · ${s.arm} · ${s.status}${gen > 1 ? ` · generation ${gen}` : ""}`;
  }
}

const clip = (text, n) => (text.length > n ? `${text.slice(0, n - 1)}…` : text);
