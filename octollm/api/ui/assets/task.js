// One task: header (status, answer, verdict per criterion, budget use, actions), the plan as a
// live DAG (the SSE stream triggers re-reads of the steps), and the picked step's panel.
import { api, follow } from "./api.js";
import { me } from "./session.js";
import { drawDag, recolour } from "./dag.js";
import { el, fill, json, seconds, when } from "./dom.js";

const TERMINAL = ["completed", "failed", "cancelled"];

export function taskView(root, taskId, showError, params = new URLSearchParams()) {
  const abort = new AbortController();
  const tenant = params.get("tenant") || null; // another tenant's task (operators only; the API decides)
  const query = tenant ? { tenant } : {};
  const head = el("section.task-head#task-head");
  const graph = el("section.graph#graph");
  const panel = el("aside.step-panel#step-panel", {}, el("p.hint", {}, "Pick a step in the graph."));
  const live = el("span.live#live", {}, "connecting…");
  root.append(el("h1", {}, "Task ", el("code", {}, taskId), tenant ? ` of tenant ${tenant} ` : " ", live), head, el("div.split", {}, graph, panel));

  let task = null, steps = [], picked = null, shape = "", pending = null;

  async function refresh() {
    try {
      [task, { steps }] = await Promise.all([
        api(`/api/v1/tasks/${encodeURIComponent(taskId)}`, { query }),
        api(`/api/v1/tasks/${encodeURIComponent(taskId)}/steps`, { query }),
        me.load(), // the scopes decide which buttons show
      ]);
    } catch (exc) { showError(exc); return; }
    const nextShape = steps.map((s) => `${s.step_id}<${s.depends_on.join(",")}>${s.generation}`).join("|");
    if (nextShape !== shape) {
      shape = nextShape;
      fill(graph, drawDag(steps, pick), legend());
    } else {
      recolour(graph, steps);
    }
    header();
    if (picked) pick(picked);
  }

  function soon() { // events come in bursts: one re-read per burst
    if (pending) return;
    pending = setTimeout(() => { pending = null; refresh(); }, 150);
  }

  function pick(stepId) {
    picked = stepId;
    for (const n of graph.querySelectorAll("g.node")) n.classList.toggle("picked", n.dataset.step === stepId);
    const s = steps.find((x) => x.step_id === stepId);
    if (!s) return;
    const row = (k, v) => el("tr", {}, el("th", {}, k), el("td", {}, v));
    fill(panel,
      el("h2", {}, s.step_id),
      el("table.kv", {},
        row("arm · action", `${s.arm} · ${s.action}`),
        row("status", el("span", { class: `badge s-${s.status}` }, s.status)),
        row("critical", s.critical ? "yes" : "no (optional)"),
        row("generation", s.generation),
        row("attempts", `${s.attempts} of ${s.max_attempts}`),
        row("queued", when(s.queued_at)), row("started", when(s.started_at)), row("finished", when(s.finished_at)),
        row("wait · run", `${seconds(s.queued_at, s.started_at)} · ${seconds(s.started_at, s.finished_at)}`),
        row("tokens · cost", `${s.tokens_used} · $${s.cost_usd.toFixed(6)}`),
        row("worker", s.worker || "—"),
        row("request id", task?.request_id || "—")),
      s.error ? el("div.error-box#step-error", {}, el("h3", {}, "Error"), el("pre", {}, json(s.error))) : null,
      el("h3", {}, "Input"), el("pre", {}, json(s.input)),
      el("h3", {}, "Output"), el("pre#step-output", {}, json(s.output)));
  }

  function header() {
    const t = task;
    const raw = t.result?.verdict;
    const verdict = typeof raw === "string" ? { status: raw } : raw;
    const budget = t.budget || {};
    const criteria = verdict?.criteria || [];
    const actions = el("div.actions");
    const scopes = me.scopes();
    // cancel and resume act on the key's own tenant only: no buttons on another tenant's task
    const own = !tenant || tenant === me.tenant();
    const can = (scope) => own && (scopes.includes("admin") || scopes.includes(scope));
    if (!TERMINAL.includes(t.status) && can("task:cancel")) actions.append(button("Cancel", "cancel", `/api/v1/tasks/${t.task_id}/cancel`));
    if (["failed", "cancelled"].includes(t.status) && can("task:submit")) actions.append(button("Resume", "resume", `/api/v1/tasks/${t.task_id}/resume`));
    fill(head,
      el("p", {}, el("span", { class: `badge s-${t.status}`, id: "task-status" }, t.status), ` ${t.priority} · `,
        `${t.progress.completed_steps}/${t.progress.total_steps} steps · round(s) ${t.rounds} · created ${when(t.created_at)}`),
      el("p.goal", {}, t.goal),
      el("p", {}, "budget: ",
        use("tokens", t.tokens_used, budget.max_tokens), " · ",
        use("cost $", t.cost_usd.toFixed(4), budget.max_cost_usd), " · ",
        use("seconds", t.started_at ? Math.round(((t.finished_at ? new Date(t.finished_at) : new Date()) - new Date(t.started_at)) / 1000) : 0, budget.max_time_seconds)),
      t.answer !== null && t.answer !== undefined ? el("div.answer#answer", {}, el("h3", {}, "Answer"), el("pre", {}, typeof t.answer === "string" ? t.answer : json(t.answer))) : null,
      verdict ? el("div.verdict#verdict", {}, el("h3", {}, `Verdict: ${verdict.status}`),
        el("ul", {}, criteria.map((c) => el("li", { class: `v-${c.status}` }, `${c.status} — ${c.criterion}${c.why ? `: ${c.why}` : ""}`))),
        (verdict.reasons || []).length ? el("p.hint", {}, verdict.reasons.join("; ")) : null) : null,
      t.error ? el("div.error-box#task-error", {}, el("pre", {}, json(t.error))) : null,
      actions);
  }

  function button(label, id, path) {
    return el(`button#${id}`, { type: "button", onclick: async () => {
      try { await api(path, { method: "POST" }); showError(null); await refresh(); follow_(); } catch (exc) { showError(exc); }
    } }, label);
  }

  let following = false;
  function follow_() {
    if (following) return;
    following = true;
    live.textContent = "live";
    live.className = "live on";
    follow(taskId, (frame) => { if (frame.event === "end") { live.textContent = "finished"; live.className = "live"; } soon(); }, abort.signal, { tenant })
      .catch(showError)
      .finally(() => { following = false; if (live.textContent === "live") { live.textContent = "stream closed"; live.className = "live"; } refresh(); });
  }

  refresh().then(follow_);
  return { stop: () => { abort.abort(); clearTimeout(pending); } };
}

function use(what, used, limit) {
  return el("span.use", {}, `${what} ${used}${limit !== undefined ? ` / ${limit}` : ""}`);
}

function legend() {
  return el("p.legend", {},
    ["pending", "queued", "running", "succeeded", "failed", "skipped", "cancelled"].map((s) => el(`span.badge.s-${s}`, {}, s)),
    el("span.badge.repair", {}, "dashed: repair round (generation > 1)"));
}
