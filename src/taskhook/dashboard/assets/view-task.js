// One task: every field, its attempts as a timeline, the request and the result (as text, large
// ones cut and offered as a download), its output files, its notification deliveries, and the
// actions the lifecycle allows (cancel; retry a failed or timed-out task; resend a failed delivery).
// Live: a pushed change moves its progress and message, and a new status reloads the task; a change
// older than the state shown (the feed can lag the read) is left out.

import * as api from "./api.js";
import * as live from "./live.js";
import {add, clear, errorNote, formatMs, h, jsonText, progressBar, safeLink, statusBadge, timeElement} from "./dom.js";
import {attemptsOf, taskName} from "./view-tasks.js";

const CANCELLABLE = ["pending", "delayed", "waiting", "polling"];
const RETRYABLE = ["failed", "timeout"];
const RETRY = "POST /v1/tasks/{task_id}/retry";
const RESEND = "POST /v1/tasks/{task_id}/notifications/{notification_id}/resend";
const SHOWN_CHARS = 20000; // a larger body or result is cut here and offered whole as a download
// Shown in their own sections below, not in the field list.
const SECTIONS = new Set(["body", "result", "headers", "args", "output", "outputs", "notifications", "attempts", "error",
  "message"]);
const TIMES = new Set(["createdAt", "startedAt", "completedAt", "updatedAt", "delayUntil"]);

function text(value) {
  return value === null || value === undefined ? "" : jsonText(value);
}

/** A value as a <pre> of text; beyond SHOWN_CHARS cut, with the whole of it as a download. */
function block(value, label, filename) {
  const full = text(value);
  const shown = full.length > SHOWN_CHARS ? `${full.slice(0, SHOWN_CHARS)}\n…` : full;
  const pre = h("pre", {class: "value", tabindex: "0", "aria-label": label}, shown);
  if (full.length <= SHOWN_CHARS) return pre;
  const link = h("a", {download: filename, class: "download"}, `Download all of it (${full.length} characters)`);
  link.href = URL.createObjectURL(new Blob([full], {type: "text/plain"}));
  return h("div", {}, pre, h("p", {}, link));
}

function fieldList(task) {
  const items = [];
  for (const [name, value] of Object.entries(task)) {
    if (SECTIONS.has(name)) continue;
    let shown;
    if (name === "status") shown = statusBadge(value);
    else if (TIMES.has(name)) shown = timeElement(value);
    else if (name === "progress") shown = progressBar(value, "Progress");
    else if (name === "retryOf") shown = h("a", {href: `#/task/${encodeURIComponent(value)}`}, String(value));
    else if (value !== null && typeof value === "object") shown = h("pre", {class: "value small"}, jsonText(value));
    else shown = String(value);
    items.push(h("div", {class: "field-row", "data-field": name}, h("dt", {}, name), h("dd", {}, shown)));
  }
  return h("dl", {class: "fields"}, items);
}

function attemptsTimeline(task) {
  const section = h("section", {"aria-labelledby": "attempts-title"}, h("h3", {id: "attempts-title"}, "Attempts"));
  if (!Array.isArray(task.attempts)) {
    section.append(h("p", {class: "note"}, `${attemptsOf(task)} attempt(s), ${task.retryCount || 0} retried. `,
      "This server does not record each attempt's history."));
    return section;
  }
  if (typeof task.attemptsTotal === "number" && task.attemptsTotal > task.attempts.length) {
    section.append(h("p", {class: "note"}, `The last ${task.attempts.length} of ${task.attemptsTotal} attempts.`));
  }
  if (!task.attempts.length) section.append(h("p", {}, "No attempt has ended yet."));
  section.append(h("ol", {class: "timeline"}, task.attempts.map((a) => h("li", {class: "attempt", "data-outcome": String(a.outcome)},
    h("p", {class: "attempt-head"}, h("strong", {}, `Attempt ${a.attempt ?? ""}`), " ", statusBadge(a.outcome)),
    h("dl", {class: "attempt-fields"},
      h("dt", {}, "Started"), h("dd", {}, timeElement(a.startedAt)),
      h("dt", {}, "Finished"), h("dd", {}, timeElement(a.finishedAt)),
      h("dt", {}, "Duration"), h("dd", {}, formatMs(Number(a.durationMs))),
      a.statusCode !== undefined ? [h("dt", {}, "Status code"), h("dd", {}, String(a.statusCode))] : null,
      a.error ? [h("dt", {}, "Error"), h("dd", {}, String(a.error))] : null,
      a.nextRetryAt ? [h("dt", {}, "Next retry"), h("dd", {}, timeElement(a.nextRetryAt))] : null)))));
  return section;
}

function outputsSection(task) {
  const files = [];
  if (task.output) files.push(task.output);
  for (const entry of task.outputs || []) files.push(entry);
  if (!files.length) return null;
  return h("section", {"aria-labelledby": "output-title"}, h("h3", {id: "output-title"}, "Output"),
    h("ul", {class: "files"}, files.map((f) => h("li", {},
      f.downloadUrl ? safeLink(f.downloadUrl, `Download ${f.filename || "output"}`) : String(f.filename || f.source || ""),
      f.size !== undefined ? ` (${f.size} bytes${f.contentType ? `, ${f.contentType}` : ""})` : "",
      f.error ? h("span", {class: "error"}, ` ${f.error}`) : ""))));
}

export async function showTask(view, id) {
  const root = h("section", {class: "task-view", "aria-labelledby": "task-title"});
  view.append(h("p", {}, h("a", {href: "#/tasks"}, "← All tasks")), root);
  const routes = await api.routes();
  let task;
  const feedback = h("p", {class: "feedback", role: "status", "aria-live": "polite"});

  async function act(label, work) {
    feedback.textContent = `${label}…`;
    try {
      const message = await work();
      feedback.textContent = message;
    } catch (error) {
      feedback.textContent = `${label} failed: ${error.message}`;
    }
  }

  function actions() {
    if (api.readOnly()) return null;
    const buttons = [];
    if (CANCELLABLE.includes(task.status)) {
      buttons.push(h("button", {type: "button", id: "cancel", onclick: () => act("Cancelling", async () => {
        const answer = await api.post(`/v1/tasks/${encodeURIComponent(task.id)}/cancel`);
        task = answer.task;
        render();
        return "Cancelled.";
      })}, "Cancel task"));
    }
    if (RETRYABLE.includes(task.status)) {
      if (routes.has(RETRY)) {
        buttons.push(h("button", {type: "button", id: "retry", onclick: () => act("Retrying", async () => {
          const answer = await api.post(`/v1/tasks/${encodeURIComponent(task.id)}/retry`);
          location.hash = `#/task/${encodeURIComponent(answer.task.id)}`;
          return `Retried as ${answer.task.id}.`;
        })}, "Retry as a new task"));
      } else {
        buttons.push(h("span", {class: "note unavailable"}, "Retry is not available on this server."));
      }
    }
    return buttons.length ? h("div", {class: "actions"}, buttons) : null;
  }

  function notifications() {
    const entries = task.notifications || [];
    if (!entries.length) return null;
    const canResend = routes.has(RESEND) && !api.readOnly();
    return h("section", {"aria-labelledby": "notifications-title"}, h("h3", {id: "notifications-title"}, "Notifications"),
      h("div", {class: "table-wrap"}, h("table", {class: "notifications"},
        h("thead", {}, h("tr", {}, ["Kind", "URL", "For status", "State", "Attempts", "Last error", ""].map((l) => h("th", {scope: "col"}, l)))),
        h("tbody", {}, entries.map((n) => h("tr", {},
          h("td", {}, String(n.kind ?? "")), h("td", {class: "name"}, String(n.url ?? "")),
          h("td", {}, String(n.taskStatus ?? "")), h("td", {}, String(n.status ?? "")),
          h("td", {class: "num"}, String(n.attempts ?? "")), h("td", {}, String(n.lastError ?? "")),
          h("td", {}, canResend && n.id && n.status === "failed"
            ? h("button", {type: "button", onclick: () => act("Resending", async () => {
              await api.post(`/v1/tasks/${encodeURIComponent(task.id)}/notifications/${encodeURIComponent(n.id)}/resend`);
              return "Resent: the delivery starts again.";
            })}, "Resend") : "")))))));
  }

  function messageNote() {
    return task.message !== undefined ? h("p", {class: "message"}, h("strong", {}, "Message: "), String(task.message)) : null;
  }

  function render() {
    clear(root);
    add(root,
      h("h2", {id: "task-title"}, "Task ", h("code", {}, task.id), " ", statusBadge(task.status)),
      h("p", {class: "name"}, taskName(task)),
      task.kind === "function" ? h("div", {class: "task-progress"}, progressBar(task.progress, "Progress")) : null,
      messageNote(),
      task.error !== undefined ? h("p", {class: "error"}, h("strong", {}, "Error: "), String(task.error)) : null,
      actions(), feedback,
      task.result !== undefined ? h("section", {"aria-labelledby": "result-title"}, h("h3", {id: "result-title"}, "Result"),
        block(task.result, "Result", `${task.id}-result.json`)) : null,
      outputsSection(task),
      task.body !== undefined ? h("section", {}, h("h3", {}, "Request body"), block(task.body, "Request body", `${task.id}-body.txt`)) : null,
      task.headers && Object.keys(task.headers).length
        ? h("section", {}, h("h3", {}, "Request headers"), block(task.headers, "Request headers", `${task.id}-headers.json`)) : null,
      task.args !== undefined ? h("section", {}, h("h3", {}, "Arguments"), block(task.args, "Arguments", `${task.id}-args.json`)) : null,
      attemptsTimeline(task),
      notifications(),
      h("section", {"aria-labelledby": "fields-title"}, h("h3", {id: "fields-title"}, "Every field"), fieldList(task)));
  }

  async function load() {
    const answer = await api.get(`/v1/tasks/${encodeURIComponent(id)}`);
    if (task && live.earlier(live.writtenAt(answer.task), live.writtenAt(task))) return; // a change came first
    task = answer.task;
    render();
  }

  try {
    await load();
  } catch (error) {
    root.append(h("h2", {id: "task-title"}, "Task ", h("code", {}, id)), errorNote(error));
    return null;
  }

  return live.onTask((message) => {
    if (!task || message.task_id !== task.id || live.earlier(message.timestamp, live.writtenAt(task))) return;
    if (message.status !== task.status) {
      load().catch(() => {});
      return;
    }
    task.progress = message.progress ?? task.progress;
    if (message.message !== undefined) task.message = message.message;
    if (message.timestamp) task.updatedAt = message.timestamp;
    const note = messageNote();
    const shown = root.querySelector("p.message");
    if (shown && note) shown.replaceWith(note);
    else if (note) (root.querySelector(".task-progress") || root.querySelector("p.name")).after(note);
    const bar = root.querySelector(".task-progress");
    if (bar) bar.replaceChildren(progressBar(task.progress, "Progress"));
  });
}
