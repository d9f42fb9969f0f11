// Tasks: filters (status, priority, arm, time, id or goal words; tenant for operator keys),
// live counters, newest first.
import { api } from "./api.js";
import { me } from "./session.js";
import { el, fill, when } from "./dom.js";

const STATUSES = ["queued", "planning", "processing", "completed", "failed", "cancelled"];
const PRIORITIES = ["critical", "high", "medium", "low"];
const REFRESH_MS = 3000;

export function tasksView(root, _arg, showError) {
  const saved = JSON.parse(sessionStorage.getItem("octollm.filters") || "{}");
  const field = (name, node) => { node.name = name; if (saved[name]) node.value = saved[name]; return node; };
  const select = (name, values) =>
    field(name, el("select", {}, el("option", { value: "" }, `any ${name}`), values.map((v) => el("option", { value: v }, v))));
  const form = el("form.filters#task-filters", {},
    select("status", STATUSES), select("priority", PRIORITIES),
    field("arm", el("input", { placeholder: "arm", size: 10 })),
    field("since", el("select", {}, el("option", { value: "" }, "any time"),
      [["15", "last 15 min"], ["60", "last hour"], ["1440", "last day"]].map(([v, t]) => el("option", { value: v }, t)))),
    field("q", el("input#task-search", { placeholder: "task id or goal words", size: 28, type: "search" })),
    // shown to operator keys only (GET /api/v1/keys/me says so); "*" is every tenant
    field("tenant", el("input#task-tenant", { placeholder: "tenant (* every)", size: 14, hidden: true })),
    el("button", { type: "submit" }, "Filter"));
  const counters = el("div.counters#task-counters");
  const body = el("tbody#task-rows");
  const head = el("thead");
  const table = el("table.tasks", {}, head, body);
  let operator = null; // known once /keys/me answers: adds the tenant filter and column
  const heading = () => fill(head, el("tr", {},
    ["task", operator ? "tenant" : null, "status", "priority", "goal", "tokens", "cost $", "created"].map((h) => h && el("th", {}, h))));
  heading();
  const more = el("button#more", { type: "button", hidden: true }, "More");
  root.append(el("h1", {}, "Tasks"), form, counters, table, more);

  let cursor = null;
  let paged = false; // after "More", stop the live re-read (it would drop the later pages)
  let timer = null;

  function query() {
    const f = Object.fromEntries(new FormData(form));
    sessionStorage.setItem("octollm.filters", JSON.stringify(f));
    const q = { priority: f.priority, arm: f.arm.trim(), q: f.q.trim() };
    // only an operator's page shows the tenant box (and filters are forgotten with the key)
    q.tenant = (f.tenant || "").trim();
    if (f.since) q.created_after = new Date(Date.now() - Number(f.since) * 60000).toISOString();
    return { filters: q, status: f.status };
  }

  function row(t) {
    const other = t.tenant !== me.tenant() ? `?tenant=${encodeURIComponent(t.tenant)}` : "";
    return el("tr", { dataset: { task: t.task_id, status: t.status, tenant: t.tenant } },
      el("td", {}, el("a", { href: `#/task/${encodeURIComponent(t.task_id)}${other}` }, t.task_id)),
      operator ? el("td.tenant", {}, t.tenant) : null,
      el("td", {}, el("span", { class: `badge s-${t.status}` }, t.status)),
      el("td", {}, t.priority),
      el("td.goal", { title: t.goal }, t.goal),
      el("td.num", {}, t.tokens_used),
      el("td.num", {}, t.cost_usd.toFixed(4)),
      el("td", {}, when(t.created_at)));
  }

  async function load(append = false) {
    paged = append;
    const { filters, status } = query();
    try {
      const [page, counts] = await Promise.all([
        api("/api/v1/tasks", { query: { ...filters, status, limit: 500, cursor: append ? cursor : null } }),
        api("/api/v1/tasks/counts", { query: filters }),
        me.load(),
      ]);
      if (operator === null) {
        operator = me.operator();
        form.elements.tenant.hidden = !operator;
        heading();
      }
      const rows = page.items.map(row);
      if (append) body.append(...rows); else fill(body, ...rows);
      cursor = page.next_cursor;
      more.hidden = !cursor;
      fill(counters, 
        el("span.counter", { dataset: { status: "total" } }, `total ${counts.total}`),
        STATUSES.map((s) => el(`span.counter.s-${s}`, { dataset: { status: s } }, `${s} ${counts.by_status[s] || 0}`)));
      counters.dataset.q = filters.q; // what the list on screen answers (tests wait on it)
      counters.dataset.tenant = filters.tenant || "";
      showError(null);
    } catch (exc) { showError(exc); }
  }

  form.addEventListener("submit", (e) => { e.preventDefault(); load(); });
  more.addEventListener("click", () => load(true));
  load();
  timer = setInterval(() => { if (!paged) load(); }, REFRESH_MS);
  return { stop: () => clearInterval(timer) };
}
