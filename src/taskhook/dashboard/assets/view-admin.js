// Team administration, through the same admin routes a script uses (an admin-scoped key; a
// task-only key sees the API's 403 message in each section): API keys, client tokens, the webhook
// signing secret, the token vault's names and the team's limits. A new key's or token's secret is
// shown once, right after it is made.

import * as api from "./api.js";
import {add, clear, errorNote, h, timeElement} from "./dom.js";

function section(id, title) {
  const body = h("div", {class: "section-body"});
  const root = h("section", {class: "card admin-section", id, "aria-labelledby": `${id}-title`}, h("h3", {id: `${id}-title`}, title), body);
  return {root, body};
}

function missing(body, route) {
  body.append(h("p", {class: "note unavailable", role: "note"}, "Not available on this server (it needs ", h("code", {}, route), ")."));
}

function shownOnce(label, secret) {
  return h("div", {class: "shown-once", role: "status"},
    h("p", {}, h("strong", {}, label), " It is shown this once: copy it now."),
    h("output", {class: "secret"}, secret));
}

/** A list route with a create form and a revoke button per row. */
async function credentials(parent, {id, title, base, listKey, itemKey, secretKey, columns, createFields}) {
  const {root, body} = section(id, title);
  parent.append(root);
  if (!(await api.has(`GET ${base}`))) return missing(body, `GET ${base}`);
  const table = h("tbody");
  const fresh = h("div");
  const feedback = h("p", {class: "feedback", role: "status"});

  async function load() {
    clear(table);
    let answer;
    try {
      answer = await api.get(base);
    } catch (error) {
      clear(body).append(errorNote(error));
      return false;
    }
    for (const item of answer[listKey] || []) {
      const revoke = item.revokedAt ? "" : h("button", {type: "button", "data-revoke": item.id, onclick: async () => {
        feedback.textContent = "Revoking…";
        try {
          await api.del(`${base}/${encodeURIComponent(item.id)}`);
          feedback.textContent = `Revoked ${item.id}.`;
        } catch (error) {
          feedback.textContent = `Not revoked: ${error.message}`;
        }
        load();
      }}, "Revoke");
      table.append(h("tr", {"data-id": item.id},
        h("th", {scope: "row"}, h("code", {}, String(item.id))),
        columns.map((c) => h("td", {}, c.endsWith("At") ? timeElement(item[c]) : String(item[c] ?? ""))),
        h("td", {}, item.revokedAt ? "revoked" : revoke)));
    }
    return true;
  }

  const inputs = createFields.map((f) => {
    const input = f.choices
      ? h("select", {id: `${id}-${f.name}`, name: f.name}, f.choices.map((c) => h("option", {value: c}, c)))
      : h("input", {id: `${id}-${f.name}`, name: f.name, type: "text", required: true, spellcheck: "false"});
    return h("div", {class: "field"}, h("label", {for: `${id}-${f.name}`}, f.label), input);
  });
  const form = h("form", {class: "create-form", "aria-label": `Create: ${title}`}, inputs, h("button", {type: "submit"}, "Create"));
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    const data = Object.fromEntries(new FormData(form).entries());
    feedback.textContent = "Creating…";
    try {
      const answer = await api.post(base, data);
      clear(fresh).append(shownOnce(`${answer[itemKey].id}:`, answer[secretKey]));
      feedback.textContent = "";
      form.reset();
    } catch (error) {
      feedback.textContent = `Not created: ${error.message}`;
    }
    load();
  });
  if (await load()) {
    add(body, h("div", {class: "table-wrap"}, h("table", {},
      h("thead", {}, h("tr", {}, ["Id", ...columns, ""].map((c) => h("th", {scope: "col"}, c)))), table)),
    (await api.has(`POST ${base}`)) ? form : null, fresh, feedback);
  }
  return null;
}

async function signingSecret(parent) {
  const {root, body} = section("webhook-secret", "Webhook signing secret");
  parent.append(root);
  if (!(await api.has("GET /v1/webhooks/secret"))) return missing(body, "GET /v1/webhooks/secret");
  const list = h("ul", {class: "secrets"});
  const feedback = h("p", {class: "feedback", role: "status"});
  let revealed = false;
  let secrets = [];
  const reveal = h("button", {type: "button", "aria-pressed": "false"}, "Show");
  function draw() {
    clear(list);
    for (const s of secrets) {
      list.append(h("li", {}, h("output", {class: "secret"}, revealed ? s.secret : `${String(s.secret).slice(0, 10)}…`),
        " created ", timeElement(s.createdAt), s.expiresAt ? [" · stops signing ", timeElement(s.expiresAt)] : ""));
    }
    reveal.textContent = revealed ? "Hide" : "Show";
    reveal.setAttribute("aria-pressed", String(revealed));
  }
  reveal.addEventListener("click", () => {
    revealed = !revealed;
    draw();
  });
  const rotate = h("button", {type: "button", onclick: async () => {
    feedback.textContent = "Rotating…";
    try {
      secrets = (await api.post("/v1/webhooks/secret/rotate")).secrets || [];
      feedback.textContent = "Rotated: the previous secret keeps signing until it expires.";
      draw();
    } catch (error) {
      feedback.textContent = `Not rotated: ${error.message}`;
    }
  }}, "Rotate");
  try {
    secrets = (await api.get("/v1/webhooks/secret")).secrets || [];
  } catch (error) {
    body.append(errorNote(error));
    return null;
  }
  draw();
  body.append(list, h("div", {class: "actions"}, reveal, rotate), feedback);
  return null;
}

async function readOnlyList(parent, id, title, route, render) {
  const {root, body} = section(id, title);
  parent.append(root);
  if (!(await api.has(route))) return missing(body, route);
  try {
    body.append(render(await api.get(route.split(" ")[1])));
  } catch (error) {
    body.append(errorNote(error));
  }
  return null;
}

function definitionList(object) {
  return h("dl", {class: "fields"}, Object.entries(object || {}).map(([k, v]) => h("div", {class: "field-row"},
    h("dt", {}, k), h("dd", {}, v !== null && typeof v === "object" ? h("pre", {class: "value small"}, JSON.stringify(v, null, 2)) : String(v ?? "none")))));
}

export async function showAdmin(view) {
  const root = h("section", {class: "admin", "aria-labelledby": "admin-title"}, h("h2", {id: "admin-title"}, "Admin"),
    h("p", {}, "These routes need an API key with the admin scope; a task-only key cannot manage the team."));
  view.append(root);
  // The sections load at once (each places its own section before its first request, so their order
  // on the page stays this one): one after the other, five slow reads made the last wait for all.
  await Promise.all([
    credentials(root, {id: "api-keys", title: "API keys", base: "/v1/keys", listKey: "keys", itemKey: "key",
      secretKey: "apiKey", columns: ["name", "scope", "createdAt", "revokedAt"],
      createFields: [{name: "name", label: "Name"}, {name: "scope", label: "Scope", choices: ["tasks", "admin"]}]}),
    credentials(root, {id: "client-tokens", title: "Client tokens", base: "/v1/client-tokens", listKey: "clientTokens",
      itemKey: "clientToken", secretKey: "token", columns: ["client", "createdAt", "revokedAt"],
      createFields: [{name: "client", label: "Client"}]}),
    signingSecret(root),
    readOnlyList(root, "vault", "Token vault", "GET /v1/tokens", (answer) => {
      const tokens = answer.tokens || [];
      if (!tokens.length) return h("p", {}, "No token in the vault.");
      return h("ul", {class: "vault"}, tokens.map((t) => h("li", {}, h("code", {}, String(t.name)), " ",
        h("span", {class: "muted"}, `${t.id} · ${t.preview || ""}`),
        " · ", h("span", {class: "hosts"}, Array.isArray(t.hosts) ? `only to ${t.hosts.join(", ")}` : "to any host"),
        " · updated ", timeElement(t.updatedAt))));
    }),
    readOnlyList(root, "limits", "Limits", "GET /v1/limits", (answer) => definitionList(answer.limits || answer)),
  ]);
  return null;
}
