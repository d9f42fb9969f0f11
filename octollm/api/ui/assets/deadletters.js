// Dead letters: the steps that used up their attempts; inspect one, replay it (admin).
import { api } from "./api.js";
import { el, fill, json, when } from "./dom.js";

export function deadLettersView(root, _arg, showError) {
  const rows = el("tbody#dead-letter-rows");
  const detail = el("aside.step-panel#dead-letter-detail", {}, el("p.hint", {}, "Pick a dead letter."));
  const onlyOpen = el("input#only-open", { type: "checkbox", checked: true });
  root.append(el("h1", {}, "Dead letters"),
    el("label", {}, onlyOpen, " not yet replayed"),
    el("div.split", {}, el("table.grid", {}, el("thead", {}, el("tr", {}, ["id", "task", "step", "arm", "reason", "attempts", "created", "replays", ""].map((h) => el("th", {}, h)))), rows), detail));

  async function load() {
    try {
      const page = await api("/api/v1/dead-letters", { query: { replayed: onlyOpen.checked ? "false" : null, limit: 200 } });
      fill(rows, ...page.items.map(row));
      showError(null);
    } catch (exc) { showError(exc); }
  }

  function row(d) {
    return el("tr", { dataset: { letter: d.id, task: d.task_id, step: d.step_id } },
      el("td", {}, el("a", { href: "#", onclick: (e) => { e.preventDefault(); inspect(d); } }, d.id)),
      el("td", {}, el("a", { href: `#/task/${encodeURIComponent(d.task_id)}` }, d.task_id)),
      el("td", {}, d.step_id), el("td", {}, d.arm), el("td", {}, d.reason), el("td.num", {}, d.attempts),
      el("td", {}, when(d.created_at)), el("td.num", {}, d.replay_count),
      el("td", {}, el("button.replay", { type: "button", dataset: { letter: d.id }, onclick: () => replay(d) }, "Replay")));
  }

  function inspect(d) {
    fill(detail, el("h2", {}, `Dead letter ${d.id}`),
      el("p", {}, `${d.task_id} / ${d.step_id} (${d.arm}) · ${d.reason} · ${d.attempts} attempt(s)`),
      el("p", {}, `replayed ${d.replay_count}× ${d.replayed_at ? `(last ${when(d.replayed_at)} by ${d.replayed_by})` : ""}`),
      el("h3", {}, "Error"), el("pre#dead-letter-error", {}, json(d.error)));
  }

  async function replay(d) {
    try {
      const after = await api(`/api/v1/dead-letters/${d.id}/replay`, { method: "POST" });
      inspect(after);
      detail.prepend(el("p.ok#replayed", {}, `Replayed: step ${after.step_id} of ${after.task_id} runs again.`));
      await load();
    } catch (exc) { showError(exc); }
  }

  onlyOpen.addEventListener("change", load);
  load();
  return { stop: () => {} };
}
