// Building the page with DOM APIs only. Task fields are attacker-controlled: text goes in as text
// nodes, attributes through setAttribute, never parsed as HTML (tests/unit/test_dashboard.py checks), and
// a link only ever points at an http(s) URL.

const SVG = "http://www.w3.org/2000/svg";

function append(node, children) {
  for (const child of children.flat(Infinity)) {
    if (child === null || child === undefined || child === false) continue;
    node.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
  return node;
}

function setAttributes(node, attrs) {
  for (const [name, value] of Object.entries(attrs || {})) {
    if (value === null || value === undefined || value === false) continue;
    if (name.startsWith("on")) {
      node.addEventListener(name.slice(2).toLowerCase(), value);
    } else if (name === "dataset") {
      Object.assign(node.dataset, value);
    } else {
      node.setAttribute(name, value === true ? "" : String(value));
    }
  }
  return node;
}

/** h("a", {href: "#/x"}, "text", child, …): an element with attributes and text/element children. */
export function h(tag, attrs, ...children) {
  return append(setAttributes(document.createElement(tag), attrs), children);
}

/** An SVG element (the overview's chart). */
export function svg(tag, attrs, ...children) {
  return append(setAttributes(document.createElementNS(SVG, tag), attrs), children);
}

/** node.append(...) that skips null, undefined and false (native append writes "null"). */
export function add(node, ...children) {
  return append(node, children);
}

export function clear(node) {
  node.replaceChildren();
  return node;
}

/** A link to an outside URL (a download link), or the URL as plain text if it is not http(s). */
export function safeLink(url, text) {
  try {
    const parsed = new URL(url, document.baseURI);
    if (parsed.protocol === "https:" || parsed.protocol === "http:") {
      return h("a", {href: parsed.href, rel: "noopener noreferrer", target: "_blank"}, text || url);
    }
  } catch {
    // not a URL: shown as text below
  }
  return h("span", {}, String(url));
}

export function when(iso) {
  if (!iso) return "";
  const date = new Date(iso);
  if (Number.isNaN(date.getTime())) return String(iso);
  const clock = {hour: "2-digit", minute: "2-digit", second: "2-digit", hour12: false};
  return date.toDateString() === new Date().toDateString()
    ? date.toLocaleTimeString(undefined, clock)
    : date.toLocaleString(undefined, {month: "short", day: "numeric", ...clock});
}

export function timeElement(iso) {
  return iso ? h("time", {datetime: iso, title: iso}, when(iso)) : "";
}

export function duration(fromIso, toIso) {
  if (!fromIso || !toIso) return "";
  return formatMs(new Date(toIso) - new Date(fromIso));
}

export function formatMs(ms) {
  if (!Number.isFinite(ms) || ms < 0) return "";
  if (ms < 1000) return `${Math.round(ms)} ms`;
  const s = ms / 1000;
  if (s < 60) return `${s.toFixed(s < 10 ? 1 : 0)} s`;
  const m = Math.floor(s / 60);
  if (m < 60) return `${m} min ${Math.round(s % 60)} s`;
  return `${Math.floor(m / 60)} h ${m % 60} min`;
}

/** A JSON value as readable text (a <pre>), whatever it holds. */
export function jsonText(value) {
  return typeof value === "string" ? value : JSON.stringify(value, null, 2);
}

/** A status badge: its class is from a fixed list, never from the value itself. */
const STATUSES = ["pending", "delayed", "processing", "waiting", "polling", "completed", "failed", "timeout", "cancelled"];
export const ALL_STATUSES = STATUSES;

const OUTCOMES = ["retry", "crashed"]; // an attempt's outcomes beside the statuses

export function statusBadge(status) {
  const known = STATUSES.includes(status) || OUTCOMES.includes(status) ? status : "unknown";
  return h("span", {class: `badge status-${known}`, "data-status": known}, String(status));
}

export function progressBar(progress, label) {
  const value = Math.max(0, Math.min(100, Number(progress) || 0));
  return h("span", {class: "progress"},
    h("progress", {max: "100", value: String(value), "aria-label": label || "Progress"}),
    h("span", {class: "progress-text"}, `${value} %`));
}

/** A note that a part of the dashboard needs a route this server does not have. */
export function unavailable(what, route) {
  return h("p", {class: "note unavailable", role: "note"},
    `${what} is not available on this server`, route ? [" (it needs ", h("code", {}, route), ")."] : ".");
}

export function errorNote(error) {
  return h("p", {class: "error", role: "alert"}, error && error.message ? error.message : String(error));
}
