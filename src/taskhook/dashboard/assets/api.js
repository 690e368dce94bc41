// The API as the page calls it: the same routes a script uses, with the signed-in credential in the
// Authorization header. The credential lives in this tab's sessionStorage, never in a URL.
//
// Which routes this server has is read once from its OpenAPI document (/openapi.json), so a part of
// the dashboard whose route is missing says so instead of calling it and failing.

const STORAGE_KEY = "taskhook.credential";
// This module is <root>/admins/tasks/assets/api.js: the API's root is three levels up (a stage
// prefix such as /Prod stays in it).
export const API_ROOT = new URL("../../../", import.meta.url);

export class ApiError extends Error {
  constructor(status, message) {
    super(message);
    this.status = status;
  }
}

export function credential() {
  return sessionStorage.getItem(STORAGE_KEY) || "";
}

export function setCredential(value) {
  sessionStorage.setItem(STORAGE_KEY, value);
}

export function forgetCredential() {
  sessionStorage.removeItem(STORAGE_KEY);
}

/** A client token (seed 003) signs in read-only: its client's tasks, no actions. */
export function readOnly() {
  return credential().startsWith("ct_");
}

export function url(path, params) {
  const target = new URL(path.replace(/^\//, ""), API_ROOT);
  for (const [name, value] of Object.entries(params || {})) {
    if (value !== undefined && value !== null && value !== "") target.searchParams.set(name, String(value));
  }
  return target;
}

/** GET/POST/DELETE `path` (relative to the API root); the JSON answer, or an ApiError with the
 * API's own {"error": …} message. */
export async function call(method, path, {params, body, headers} = {}) {
  const init = {method, headers: {Accept: "application/json", ...headers}, cache: "no-store", credentials: "omit"};
  const secret = credential();
  if (secret) init.headers.Authorization = `Bearer ${secret}`;
  if (body !== undefined) {
    init.headers["Content-Type"] = "application/json";
    init.body = JSON.stringify(body);
  }
  let response;
  try {
    response = await fetch(url(path, params), init);
  } catch {
    throw new ApiError(0, "The API cannot be reached");
  }
  let data = null;
  try {
    data = await response.json();
  } catch {
    data = null;
  }
  if (!response.ok) {
    const message = data && typeof data.error === "string" ? data.error : `HTTP ${response.status}`;
    throw new ApiError(response.status, message);
  }
  return data;
}

export const get = (path, params) => call("GET", path, {params});
export const post = (path, body, headers) => call("POST", path, {body: body === undefined ? {} : body, headers});
export const del = (path) => call("DELETE", path);

let routesPromise = null;

/** {"GET /v1/tasks": {parameters…}, …}: the routes this server serves, from its OpenAPI document. */
export function routes() {
  if (!routesPromise) {
    routesPromise = fetch(url("openapi.json"), {cache: "no-store", credentials: "omit"})
      .then((r) => (r.ok ? r.json() : {paths: {}}))
      .catch(() => ({paths: {}}))
      .then((spec) => {
        const found = new Map();
        for (const [path, item] of Object.entries(spec.paths || {})) {
          for (const [method, operation] of Object.entries(item || {})) {
            found.set(`${method.toUpperCase()} ${path}`, operation || {});
          }
        }
        return found;
      });
  }
  return routesPromise;
}

export async function has(route) {
  return (await routes()).has(route);
}

/** The query parameters a route takes (e.g. the list's filters). */
export async function parametersOf(route) {
  const operation = (await routes()).get(route);
  return new Set(((operation && operation.parameters) || []).map((p) => p.name));
}
