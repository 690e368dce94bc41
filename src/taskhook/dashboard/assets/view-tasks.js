// The task list: filters, search by id, cursor paging (a page at a time, never the whole history),
// and live rows: a pushed change updates its row in place, and a new task of the first page
// appears at the top without a reload.

import * as api from "./api.js";
import * as live from "./live.js";
import {ALL_STATUSES, clear, duration, errorNote, h, progressBar, statusBadge, timeElement} from "./dom.js";

const PAGE_SIZE = 25;
const LIST = "GET /v1/tasks";
// Filters the contract adds beside `status`; each is offered only when the server takes it.
const EXTRA_FILTERS = [
  {name: "kind", label: "Kind", choices: ["", "http", "provider", "function"]},
  {name: "namespace", label: "Namespace"},
  {name: "name", label: "Name"},
  {name: "clientId", label: "Client"},
];

// Kept while the tab is open, so that coming back from a task finds the same list.
// `back` holds, for each earlier page, its cursor and its first row's number (a filtered page may be
// short: the server examines a bounded number of tasks per request).
const state = {filters: {status: ""}, back: [], cursor: "", first: 0};

export function taskName(task) {
  if (task.kind === "function") return [task.namespace, task.name].filter(Boolean).join(".");
  if (task.provider) return `${task.provider}: ${task.targetUrl || ""}`;
  return `${task.method || "POST"} ${task.targetUrl || ""}`;
}

export function attemptsOf(task) {
  if (typeof task.attemptsTotal === "number") return task.attemptsTotal;
  const retries = Number(task.retryCount) || 0;
  return task.startedAt ? retries + 1 : retries;
}

function taskLink(id) {
  // The id's first characters (the whole id is the link's title and accessible name, and on its page).
  const short = id.length > 13 ? `${id.slice(0, 8)}…` : id;
  return h("a", {href: `#/task/${encodeURIComponent(id)}`, class: "task-id", title: id, "aria-label": `Task ${id}`}, short);
}

function row(task) {
  const tr = h("tr", {"data-task-id": task.id},
    h("th", {scope: "row"}, taskLink(task.id)),
    h("td", {"data-col": "status"}, statusBadge(task.status)),
    h("td", {"data-col": "kind"}, task.kind || "http"),
    h("td", {"data-col": "name", class: "name"}, taskName(task)),
    h("td", {"data-col": "priority", class: "num"}, task.priority ?? ""),
    h("td", {"data-col": "progress"}, task.kind === "function" ? progressBar(task.progress, `Progress of ${task.id}`) : ""),
    h("td", {"data-col": "attempts", class: "num"}, attemptsOf(task)),
    h("td", {"data-col": "created"}, timeElement(task.createdAt)),
    h("td", {"data-col": "started"}, timeElement(task.startedAt)),
    h("td", {"data-col": "finished"}, timeElement(task.completedAt)),
    h("td", {"data-col": "duration", class: "num"}, duration(task.startedAt, task.completedAt)));
  return tr;
}

function matches(task, filters) {
  for (const [name, value] of Object.entries(filters)) {
    if (!value) continue;
    if (name === "kind" && value === "provider") {
      if (!task.provider && !task.pollConfig) return false;
    } else if (String(task[name] ?? (name === "kind" ? "http" : "")) !== value) {
      return false;
    }
  }
  return true;
}

export async function showTasks(view) {
  const supported = await api.parametersOf(LIST);
  const heading = h("h2", {id: "tasks-title"}, "Tasks");
  const summary = h("p", {class: "summary", role: "status", "aria-live": "polite"});
  const body = h("tbody");
  const table = h("table", {class: "tasks", "aria-labelledby": "tasks-title"},
    h("thead", {}, h("tr", {},
      [["task", "Task"], ["status", "Status"], ["kind", "Kind"], ["name", "Name or target"], ["priority", "Priority"],
        ["progress", "Progress"], ["attempts", "Attempts"], ["created", "Created"], ["started", "Started"],
        ["finished", "Finished"], ["duration", "Duration"]].map(([col, label]) => h("th", {scope: "col", "data-col": col}, label)))),
    body);
  const newer = h("button", {type: "button", id: "newer"}, "← Newer");
  const older = h("button", {type: "button", id: "older"}, "Older →");
  const reload = h("button", {type: "button", id: "reload", class: "secondary"}, "Refresh");
  const problems = h("div");
  const rows = new Map();
  const looked = new Set();

  // Filters.
  const status = h("select", {id: "filter-status", name: "status"},
    h("option", {value: ""}, "any"), ALL_STATUSES.map((s) => h("option", {value: s}, s)));
  status.value = state.filters.status || "";
  const extras = EXTRA_FILTERS.filter((f) => supported.has(f.name)).map((f) => {
    const id = `filter-${f.name}`;
    const input = f.choices
      ? h("select", {id, name: f.name}, f.choices.map((c) => h("option", {value: c}, c || "any")))
      : h("input", {id, name: f.name, type: "text", spellcheck: "false"});
    input.value = state.filters[f.name] || "";
    return h("div", {class: "field"}, h("label", {for: id}, f.label), input);
  });
  const filterForm = h("form", {class: "filters", "aria-label": "Filter tasks"},
    h("div", {class: "field"}, h("label", {for: "filter-status"}, "Status"), status),
    extras,
    h("button", {type: "submit"}, "Apply"));
  filterForm.addEventListener("submit", (event) => {
    event.preventDefault();
    const data = new FormData(filterForm);
    state.filters = Object.fromEntries([...data.entries()].map(([k, v]) => [k, String(v).trim()]));
    state.back = [];
    state.cursor = "";
    state.first = 0;
    load();
  });
  status.addEventListener("change", () => filterForm.requestSubmit());

  const search = h("input", {id: "search-id", name: "id", type: "search", placeholder: "task id", spellcheck: "false",
    required: true});
  const searchForm = h("form", {class: "search", role: "search", "aria-label": "Search tasks"},
    h("label", {for: "search-id"}, "Find a task by id"), search, h("button", {type: "submit"}, "Open"));
  searchForm.addEventListener("submit", (event) => {
    event.preventDefault();
    const id = search.value.trim();
    if (id) location.hash = `#/task/${encodeURIComponent(id)}`;
  });

  view.append(h("section", {class: "tasks-view", "aria-labelledby": "tasks-title"},
    h("div", {class: "view-head"}, heading, searchForm),
    filterForm, summary, problems,
    h("div", {class: "table-wrap", tabindex: "0", role: "region", "aria-label": "Tasks table"}, table),
    h("nav", {class: "pager", "aria-label": "Pages"}, reload, newer, older)));
  reload.addEventListener("click", () => load());

  let total = null;
  function summarize() {
    const of = total === null ? "" : ` of ${total}`;
    const more = older.dataset.cursor ? " here; older ones may match (Older →)" : ".";
    summary.textContent = rows.size ? `Tasks ${state.first + 1}–${state.first + rows.size}${of}` : `No tasks${more}`;
  }

  async function load() {
    clear(problems);
    summary.textContent = "Loading…";
    let answer;
    try {
      answer = await api.get("/v1/tasks", {...state.filters, limit: PAGE_SIZE, cursor: state.cursor});
    } catch (error) {
      summary.textContent = "";
      problems.append(errorNote(error));
      return;
    }
    clear(body);
    rows.clear();
    for (const task of answer.tasks) {
      const tr = row(task);
      rows.set(task.id, {task, tr});
      body.append(tr);
    }
    if (!answer.tasks.length) body.append(h("tr", {}, h("td", {colspan: "11", class: "empty"}, "No tasks.")));
    const page = answer.pagination || {};
    total = typeof page.total === "number" ? page.total : null;
    older.disabled = !page.nextCursor;
    older.dataset.cursor = page.nextCursor || "";
    newer.disabled = state.back.length === 0;
    summarize();
  }

  older.addEventListener("click", () => {
    if (!older.dataset.cursor) return;
    state.back.push({cursor: state.cursor, first: state.first});
    state.cursor = older.dataset.cursor;
    state.first += rows.size;
    load();
  });
  newer.addEventListener("click", () => {
    const previous = state.back.pop() || {cursor: "", first: 0};
    state.cursor = previous.cursor;
    state.first = previous.first;
    load();
  });

  async function refresh(id) {
    try {
      const {task} = await api.get(`/v1/tasks/${encodeURIComponent(id)}`);
      const known = rows.get(id);
      if (known) {
        if (live.earlier(live.writtenAt(task), live.writtenAt(known.task))) return; // a change came first
        const tr = row(task);
        known.tr.replaceWith(tr);
        rows.set(id, {task, tr});
      } else if (state.back.length === 0 && matches(task, state.filters)) {
        const tr = row(task);
        rows.set(id, {task, tr});
        const empty = body.querySelector("td.empty");
        if (empty) empty.parentElement.remove();
        body.prepend(tr);
        if (total !== null) total += 1;
        if (rows.size > PAGE_SIZE) {
          const last = body.lastElementChild;
          rows.delete(last.dataset.taskId);
          last.remove();
          older.disabled = false;
        }
        summarize();
      }
    } catch {
      // gone or not ours: the list stays as it is
    }
  }

  const stop = live.onTask((message) => {
    const known = rows.get(message.task_id);
    if (!known) {
      // A task not on this page: read once, and shown if it belongs at the top of the first page.
      if (state.back.length === 0 && !looked.has(message.task_id)) {
        looked.add(message.task_id);
        refresh(message.task_id);
      }
      return;
    }
    if (live.earlier(message.timestamp, live.writtenAt(known.task))) return; // older than the row shown
    const statusChanged = message.status !== known.task.status;
    Object.assign(known.task, {status: message.status, progress: message.progress ?? known.task.progress});
    if (message.message !== undefined) known.task.message = message.message;
    if (message.timestamp) known.task.updatedAt = message.timestamp;
    const tr = row(known.task);
    known.tr.replaceWith(tr);
    known.tr = tr;
    if (statusChanged) refresh(message.task_id); // its timestamps and attempts
  });

  await load();
  return stop;
}
