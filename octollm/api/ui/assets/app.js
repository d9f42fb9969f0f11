// The dashboard's shell: ask for a key once, then route #/tasks, #/task/<id>[?tenant=<t>], #/fleet, #/dead-letters.
import { key } from "./api.js";
import { me } from "./session.js";
import { tasksView } from "./tasks.js";
import { taskView } from "./task.js";
import { fleetView } from "./fleet.js";
import { deadLettersView } from "./deadletters.js";

const $ = (id) => document.getElementById(id);
let current = null; // {stop()} of the view on screen
let routing = 0; // the latest navigation; an older one still awaiting gives way

export function showError(exc) {
  const box = $("error");
  if (!exc) { box.hidden = true; return; }
  box.textContent = exc.message || String(exc);
  box.hidden = false;
  if (exc.status === 401) signOut();
}

function signOut() {
  key.clear();
  route();
}

function route() {
  const turn = ++routing;
  if (current) current.stop();
  current = null;
  const signedIn = Boolean(key.get());
  $("login").hidden = signedIn;
  $("sign-out").hidden = !signedIn;
  const view = $("view");
  view.replaceChildren();
  if (!signedIn) { $("who").textContent = ""; $("api-key").focus(); return; }
  me.load().then((who) => {
    if (turn === routing) $("who").textContent = `tenant ${who.tenant} · ${who.scopes.join(", ")}${who.operator ? " · operator" : ""}`;
  }, showError); // in parallel with the view's first reads
  const [, page = "tasks", rest = ""] = location.hash.match(/^#\/([^/]*)\/?(.*)$/) || [];
  const [arg, search = ""] = rest.split("?"); // #/task/<id>?tenant=<t>: an operator reads another tenant's
  for (const a of document.querySelectorAll("nav a")) a.classList.toggle("here", a.id === `nav-${page}`);
  const views = { tasks: tasksView, task: taskView, fleet: fleetView, "dead-letters": deadLettersView };
  current = (views[page] || tasksView)(view, decodeURIComponent(arg || ""), showError, new URLSearchParams(search));
}

$("login").addEventListener("submit", (e) => {
  e.preventDefault();
  key.set($("api-key").value);
  $("api-key").value = "";
  showError(null);
  route();
});
$("sign-out").addEventListener("click", signOut);
window.addEventListener("hashchange", () => { showError(null); route(); });
route();
