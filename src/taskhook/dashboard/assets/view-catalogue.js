// The task catalogue (GET /v1/functions, seed 003's "Task names can be found in the task
// dashboard"): every registered function task, its display name and description, and a form made
// from its arguments' JSON Schema that starts it (seed 003's start route) and opens it.

import * as api from "./api.js";
import {errorNote, h} from "./dom.js";

const FUNCTIONS = "GET /v1/functions";

function resolve(schema, root) {
  if (schema && typeof schema.$ref === "string" && schema.$ref.startsWith("#/$defs/")) {
    return (root.$defs || {})[schema.$ref.slice(8)] || {};
  }
  return schema || {};
}

/** The form's fields: one per property of the schema (nested objects as JSON text). */
function fields(schema, prefix) {
  const root = resolve(schema, schema);
  const required = new Set(root.required || []);
  return Object.entries(root.properties || {}).map(([name, raw]) => {
    const prop = resolve(raw, schema);
    const id = `${prefix}-${name}`;
    const type = prop.type || (prop.anyOf ? "json" : "json");
    let input;
    if (type === "boolean") input = h("input", {id, name, type: "checkbox", "data-type": type});
    else if (type === "integer" || type === "number") {
      input = h("input", {id, name, type: "number", step: type === "integer" ? "1" : "any", "data-type": type,
        required: required.has(name)});
    } else if (type === "string") input = h("input", {id, name, type: "text", "data-type": type, required: required.has(name)});
    else input = h("textarea", {id, name, "data-type": "json", rows: "3", placeholder: "JSON"});
    if (prop.default !== undefined && type !== "boolean") input.value = typeof prop.default === "string" ? prop.default : JSON.stringify(prop.default);
    if (type === "boolean" && prop.default === true) input.checked = true;
    return h("div", {class: "field"}, h("label", {for: id}, prop.title || name, required.has(name) ? " (required)" : ""), input,
      prop.description ? h("small", {}, String(prop.description)) : null);
  });
}

function readForm(form) {
  const args = {};
  for (const input of form.querySelectorAll("[data-type]")) {
    const type = input.dataset.type;
    if (type === "boolean") args[input.name] = input.checked;
    else if (input.value === "") continue;
    else if (type === "integer" || type === "number") args[input.name] = Number(input.value);
    else if (type === "json") args[input.name] = JSON.parse(input.value);
    else args[input.name] = input.value;
  }
  return args;
}

export async function showCatalogue(view) {
  const section = h("section", {class: "catalogue", "aria-labelledby": "catalogue-title"},
    h("h2", {id: "catalogue-title"}, "Task catalogue"));
  view.append(section);
  if (!(await api.has(FUNCTIONS))) {
    section.append(h("p", {class: "note unavailable", role: "note"},
      "The catalogue is not available on this server (it needs ", h("code", {}, FUNCTIONS), ")."));
    return null;
  }
  let answer;
  try {
    answer = await api.get("/v1/functions");
  } catch (error) {
    section.append(errorNote(error));
    return null;
  }
  const list = answer.functions || [];
  if (!list.length) section.append(h("p", {}, "No function task is registered."));
  list.forEach((fn, index) => {
    const prefix = `fn${index}`;
    const feedback = h("p", {class: "feedback", role: "status"});
    const form = h("form", {class: "start-form", "aria-label": `Start ${fn.displayName || fn.name}`},
      fields(fn.argsSchema || {}, prefix), h("button", {type: "submit"}, "Start"), feedback);
    form.addEventListener("submit", async (event) => {
      event.preventDefault();
      let args;
      try {
        args = readForm(form);
      } catch {
        feedback.textContent = "An argument is not valid JSON.";
        return;
      }
      feedback.textContent = "Starting…";
      try {
        const started = await api.post(`/api/${encodeURIComponent(fn.namespace)}/task/start/${encodeURIComponent(fn.name)}`, args);
        location.hash = `#/task/${encodeURIComponent(started.task_id)}`;
      } catch (error) {
        feedback.textContent = `Not started: ${error.message}`;
      }
    });
    section.append(h("article", {class: "card function", "data-function": `${fn.namespace}.${fn.name}`},
      h("h3", {}, String(fn.displayName || fn.name)),
      h("p", {class: "name"}, h("code", {}, `${fn.namespace}.${fn.name}`)),
      fn.description ? h("p", {}, String(fn.description)) : null,
      form));
  });
  return null;
}
