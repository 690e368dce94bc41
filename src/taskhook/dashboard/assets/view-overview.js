// The overview (GET /v1/stats): counts by status, tasks finished per minute over the last hour
// (completed / failed, an SVG chart drawn with DOM APIs), and the lanes' and the DLQ's depths.

import * as api from "./api.js";
import {ALL_STATUSES, errorNote, h, statusBadge, svg} from "./dom.js";

const STATS = "GET /v1/stats";
const WIDTH = 720;
const HEIGHT = 200;
const PAD = {left: 36, right: 8, top: 10, bottom: 24};

export function chart(minutes) {
  const peak = Math.max(1, ...minutes.map((m) => (Number(m.completed) || 0) + (Number(m.failed) || 0)));
  const innerW = WIDTH - PAD.left - PAD.right;
  const innerH = HEIGHT - PAD.top - PAD.bottom;
  const step = innerW / Math.max(1, minutes.length);
  const y = (value) => PAD.top + innerH - (value / peak) * innerH;
  const bars = minutes.map((m, i) => {
    const completed = Number(m.completed) || 0;
    const failed = Number(m.failed) || 0;
    const x = PAD.left + i * step;
    const label = `${m.minute}: ${completed} completed, ${failed} failed`;
    return svg("g", {class: "minute"},
      svg("title", {}, label),
      svg("rect", {class: "bar-completed", x: x + 1, width: Math.max(1, step - 2), y: y(completed),
        height: PAD.top + innerH - y(completed)}),
      svg("rect", {class: "bar-failed", x: x + 1, width: Math.max(1, step - 2), y: y(completed + failed),
        height: y(completed) - y(completed + failed)}));
  });
  const first = minutes[0] ? new Date(minutes[0].minute) : null;
  const last = minutes.length ? new Date(minutes[minutes.length - 1].minute) : null;
  const clock = (d) => (d && !Number.isNaN(d.getTime()) ? d.toLocaleTimeString(undefined, {hour: "2-digit", minute: "2-digit", hour12: false}) : "");
  const total = minutes.reduce((sum, m) => sum + (Number(m.completed) || 0) + (Number(m.failed) || 0), 0);
  return svg("svg", {class: "chart", viewBox: `0 0 ${WIDTH} ${HEIGHT}`, role: "img",
    "aria-label": `Tasks finished per minute over the last hour: ${total} in all, at most ${peak} in a minute`},
  svg("line", {class: "axis", x1: PAD.left, x2: WIDTH - PAD.right, y1: PAD.top + innerH, y2: PAD.top + innerH}),
  svg("text", {class: "tick", x: PAD.left - 4, y: PAD.top + 10, "text-anchor": "end"}, String(peak)),
  svg("text", {class: "tick", x: PAD.left - 4, y: PAD.top + innerH, "text-anchor": "end"}, "0"),
  svg("text", {class: "tick", x: PAD.left, y: HEIGHT - 6}, clock(first)),
  svg("text", {class: "tick", x: WIDTH - PAD.right, y: HEIGHT - 6, "text-anchor": "end"}, clock(last)),
  bars);
}

export async function showOverview(view) {
  const section = h("section", {class: "overview", "aria-labelledby": "overview-title"}, h("h2", {id: "overview-title"}, "Overview"));
  view.append(section);
  if (!(await api.has(STATS))) {
    section.append(h("p", {class: "note unavailable", role: "note"},
      "The overview is not available on this server (it needs ", h("code", {}, STATS), ")."));
    return null;
  }
  const body = h("div");
  const refresh = h("button", {type: "button", class: "secondary"}, "Refresh");
  section.append(refresh, body);
  refresh.addEventListener("click", () => draw(body));
  await draw(body);
  return null;
}

async function draw(body) {
  let stats;
  try {
    stats = await api.get("/v1/stats");
  } catch (error) {
    body.replaceChildren(errorNote(error));
    return;
  }
  const counts = stats.counts || {};
  body.replaceChildren(
    h("p", {class: "summary", role: "status"}, `As of ${new Date().toLocaleTimeString(undefined, {hour12: false})}`),
    h("h3", {}, "Tasks by status"),
    h("ul", {class: "counts"}, ALL_STATUSES.map((s) => h("li", {"data-status": s},
      statusBadge(s), h("span", {class: "count"}, String(counts[s] ?? 0))))),
    h("h3", {}, "Finished per minute, last hour"),
    h("p", {class: "legend"}, h("span", {class: "key key-completed"}), " completed ", h("span", {class: "key key-failed"}), " failed or timed out"),
    chart(stats.finishedPerMinute || []),
    h("h3", {}, "Queues"),
    h("div", {class: "table-wrap queues-wrap"}, h("table", {class: "queues"},
      h("thead", {}, h("tr", {}, ["Queue", "Visible", "In flight", "Delayed"].map((l) => h("th", {scope: "col"}, l)))),
      h("tbody", {}, Object.entries(stats.queues || {}).map(([name, q]) => h("tr", {"data-queue": name},
        h("th", {scope: "row"}, name === "deadLetter" ? "dead letters (DLQ)" : name),
        h("td", {class: "num"}, String(q.visible ?? "")), h("td", {class: "num"}, String(q.inFlight ?? "")),
        h("td", {class: "num"}, String(q.delayed ?? ""))))))));
}
