// The API client: every call of the page goes through `call`, which adds the
// API key (kept in sessionStorage: this tab only) and turns the service's error
// envelope into an ApiProblem.

const KEY_ITEM = "nuner.apiKey";
const unauthorizedListeners = [];

export class ApiProblem extends Error {
  constructor(status, error) {
    super(error?.message || `HTTP ${status}`);
    this.status = status;
    this.code = error?.code || `http_${status}`;
    this.details = error?.details ?? null;
  }
}

export function setKey(key) {
  if (key) sessionStorage.setItem(KEY_ITEM, key);
  else sessionStorage.removeItem(KEY_ITEM);
}

export function hasKey() {
  return sessionStorage.getItem(KEY_ITEM) !== null;
}

export function onUnauthorized(listener) {
  unauthorizedListeners.push(listener);
}

export async function call(method, path, body) {
  const headers = { Accept: "application/json" };
  const key = sessionStorage.getItem(KEY_ITEM);
  if (key) headers.Authorization = `Bearer ${key}`;
  const init = { method, headers };
  if (body !== undefined) {
    headers["Content-Type"] = "application/json";
    init.body = JSON.stringify(body);
  }
  let response;
  try {
    response = await fetch(path, init);
  } catch (error) {
    throw new ApiProblem(0, { code: "unreachable", message: `the service is unreachable (${error.message})` });
  }
  const data = response.status === 204 ? null : await response.json().catch(() => null);
  if (!response.ok) {
    const problem = new ApiProblem(response.status, data?.error);
    if (response.status === 401) unauthorizedListeners.forEach((listener) => listener(problem));
    throw problem;
  }
  return data;
}

export const api = {
  taggers: () => call("GET", "/v1/taggers"),
  tagger: (name) => call("GET", `/v1/taggers/${encodeURIComponent(name)}`),
  encoders: () => call("GET", "/v1/encoders"),
  backbones: () => call("GET", "/v1/finetune/backbones"),
  extract: (body) => call("POST", "/v1/extract", body),
  createJob: (body) => call("POST", "/v1/finetune", body),
  job: (id) => call("GET", `/v1/finetune/${encodeURIComponent(id)}`),
  events: (id, after) =>
    call("GET", `/v1/finetune/${encodeURIComponent(id)}/events` + (after == null ? "" : `?after=${after}`)),
};
