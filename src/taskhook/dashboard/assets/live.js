// Live updates over the WebSocket API: no polling loop. Each change of a task's status, progress or
// message arrives as one JSON object ({task_id, status, progress, message, timestamp, …}) and is
// handed to every listener the open views registered.
//
// The credential never goes into the WebSocket's URL: the page asks the API for a short-lived,
// single-use ticket, which also tells it where the WebSocket API is (locally another port, on AWS
// another domain). `socketUrl` is the one place that decides how to connect.

import * as api from "./api.js";

export const TICKETS = "POST /v1/live/tickets";

const listeners = new Set();
const stateListeners = new Set();
let socket = null;
let running = false;
let retryDelay = 1000;
let retryTimer = null;
let state = "off";

/** The URL to open: the ticket route's WebSocket URL with a fresh ticket (each connect uses one). */
export async function socketUrl() {
  const answer = await api.post("/v1/live/tickets");
  const target = new URL(answer.websocketUrl);
  target.searchParams.set("ticket", answer.ticket);
  return target.href;
}

function setState(next, detail) {
  state = next;
  for (const listener of stateListeners) listener(next, detail);
}

export function liveState() {
  return state;
}

export function onState(listener) {
  stateListeners.add(listener);
  listener(state);
  return () => stateListeners.delete(listener);
}

/** When a task's state shown was written: its `updatedAt` (a pushed change's `timestamp`). */
export function writtenAt(task) {
  return task.updatedAt || task.createdAt;
}

/** Whether the time `at` is before `than` (ISO 8601 both; false when either is missing). The feed
 * follows the table's stream, which can hand over a change after the page read a later state: a
 * view keeps the later one. */
export function earlier(at, than) {
  const a = Date.parse(at);
  const b = Date.parse(than);
  return Number.isFinite(a) && Number.isFinite(b) && a < b;
}

/** Call `listener(message)` for every task change pushed; returns the function that stops it. */
export function onTask(listener) {
  listeners.add(listener);
  return () => listeners.delete(listener);
}

function scheduleReconnect() {
  if (!running) return;
  clearTimeout(retryTimer);
  retryTimer = setTimeout(connect, retryDelay);
  retryDelay = Math.min(retryDelay * 2, 30000);
}

async function connect() {
  if (!running) return;
  setState("connecting");
  let target;
  try {
    target = await socketUrl();
  } catch (error) {
    setState("offline", error.message);
    if (error.status !== 401 && error.status !== 403) scheduleReconnect();
    return;
  }
  if (!running) return;
  const opened = new WebSocket(target);
  socket = opened;
  opened.addEventListener("open", () => {
    retryDelay = 1000;
    setState("live");
  });
  opened.addEventListener("message", (event) => {
    let message;
    try {
      message = JSON.parse(event.data);
    } catch {
      return;
    }
    if (!message || typeof message.task_id !== "string") return;
    for (const listener of listeners) listener(message);
  });
  opened.addEventListener("close", () => {
    if (socket !== opened) return;
    socket = null;
    setState("offline");
    scheduleReconnect();
  });
}

/** Start the feed once signed in; says "not available" when the server has no ticket route. */
export async function start() {
  if (running) return;
  if (!(await api.has(TICKETS))) {
    setState("unavailable");
    return;
  }
  running = true;
  retryDelay = 1000;
  connect();
}

export function stop() {
  running = false;
  clearTimeout(retryTimer);
  if (socket) {
    const closing = socket;
    socket = null;
    closing.close();
  }
  setState("off");
}
