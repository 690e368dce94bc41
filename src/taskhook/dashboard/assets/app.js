// The dashboard's start-up: sign-in, the views (one per hash route: #/tasks, #/task/<id>,
// #/overview, #/catalogue, #/admin) and the live feed's indicator.

import * as api from "./api.js";
import * as live from "./live.js";
import {clear, errorNote} from "./dom.js";
import {showTasks} from "./view-tasks.js";
import {showTask} from "./view-task.js";
import {showOverview} from "./view-overview.js";
import {showCatalogue} from "./view-catalogue.js";
import {showAdmin} from "./view-admin.js";

const $ = (id) => document.getElementById(id);
const LIVE_TEXT = {
  off: "",
  connecting: "Live: connecting…",
  live: "Live",
  offline: "Live: reconnecting…",
  unavailable: "Live updates are not available on this server (reload to refresh)",
};

let leaveView = null;

function route() {
  const hash = decodeURIComponent(location.hash.replace(/^#\/?/, ""));
  const [name, ...rest] = hash.split("/");
  return {name: name || "tasks", arg: rest.join("/")};
}

async function render() {
  if (!api.credential()) return showSignIn();
  if (leaveView) leaveView();
  leaveView = null;
  const view = $("view");
  clear(view);
  const {name, arg} = route();
  for (const link of document.querySelectorAll("#nav a")) {
    if (link.dataset.view === name || (name === "task" && link.dataset.view === "tasks")) {
      link.setAttribute("aria-current", "page");
    } else {
      link.removeAttribute("aria-current");
    }
  }
  const views = {tasks: showTasks, task: showTask, overview: showOverview, catalogue: showCatalogue, admin: showAdmin};
  const show = views[name] || showTasks;
  try {
    leaveView = (await show(view, arg)) || null;
  } catch (error) {
    view.append(errorNote(error));
  }
}

function showSignIn(message) {
  live.stop();
  $("nav").hidden = true;
  $("who").hidden = true;
  $("view").hidden = true;
  clear($("view"));
  $("sign-in").hidden = false;
  $("sign-in-error").textContent = message || "";
  $("credential").focus();
}

async function signIn(event) {
  event.preventDefault();
  const value = $("credential").value.trim();
  if (!value) return;
  api.setCredential(value);
  try {
    await api.get("/v1/tasks", {limit: 1});
  } catch (error) {
    api.forgetCredential();
    showSignIn(error.status === 401 || error.status === 403 ? `Not signed in: ${error.message}` : error.message);
    return;
  }
  $("credential").value = "";
  enter();
}

function enter() {
  $("sign-in").hidden = true;
  $("nav").hidden = false;
  $("who").hidden = false;
  $("view").hidden = false;
  $("who-text").textContent = api.readOnly() ? "Client token (read-only)" : "API key";
  for (const link of document.querySelectorAll("#nav a")) {
    link.parentElement.hidden = api.readOnly() && link.dataset.view !== "tasks";
  }
  live.start();
  render();
}

function signOut() {
  api.forgetCredential();
  if (leaveView) leaveView();
  leaveView = null;
  showSignIn();
}

$("sign-in-form").addEventListener("submit", signIn);
$("sign-out").addEventListener("click", signOut);
window.addEventListener("hashchange", async () => {
  if (!api.credential()) return;
  await render();
  $("main").focus({preventScroll: true}); // a screen reader starts at the new view
});
live.onState((state, detail) => {
  const text = LIVE_TEXT[state] ?? "";
  $("live-state").textContent = text;
  $("live-state").dataset.state = state;
  $("live-state").title = detail || "";
});

if (api.credential()) {
  enter();
} else {
  showSignIn();
}
