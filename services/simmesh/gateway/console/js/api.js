// The REST API: fetch with the session's key, JSON in and out, google.rpc.Status errors.

const KEY = "simmesh.key";

export class ApiError extends Error {
  constructor(status, body) {
    super(body.message || `HTTP ${status}`);
    this.status = status;
    this.code = body.code;
    this.details = body.details || [];
  }

  get reason() {
    const info = this.details.find((d) => (d["@type"] || "").endsWith("google.rpc.ErrorInfo"));
    return info ? info.reason : "";
  }

  get needsKey() {
    return this.status === 401 || this.status === 403;
  }
}

export function key() {
  return sessionStorage.getItem(KEY) || "";
}

export function setKey(value) {
  if (value) sessionStorage.setItem(KEY, value);
  else sessionStorage.removeItem(KEY);
}

function query(params) {
  const pairs = [];
  for (const [name, value] of Object.entries(params || {})) {
    if (value === undefined || value === null || value === "") continue;
    const text = typeof value === "object" ? JSON.stringify(value) : String(value);
    pairs.push(`${encodeURIComponent(name)}=${encodeURIComponent(text)}`);
  }
  return pairs.length ? `?${pairs.join("&")}` : "";
}

async function call(method, path, { params, body } = {}) {
  const headers = { Accept: "application/json" };
  if (key()) headers.Authorization = `Bearer ${key()}`;
  if (body !== undefined) headers["Content-Type"] = "application/json";
  const response = await fetch(`/v1/${path}${query(params)}`, {
    method,
    headers,
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  const text = await response.text();
  let parsed = {};
  try {
    parsed = text ? JSON.parse(text) : {};
  } catch {
    parsed = { message: text };
  }
  if (!response.ok) throw new ApiError(response.status, parsed);
  return parsed;
}

export const get = (path, params) => call("GET", path, { params });
export const post = (path, body) => call("POST", path, { body: body || {} });

// Thumbnails of a collection's records in ONE call: id -> src (a data: URL, or the record's `_url`).
export async function thumbnails(collection, ids) {
  const found = new Map();
  if (!ids.length) return found;
  const answer = await post(`${collection}/records:batchGet`, { ids, view: "RECORD_VIEW_THUMBNAIL" });
  for (const record of answer.records || []) {
    if (record.thumbnail) found.set(record.id, `data:image/jpeg;base64,${record.thumbnail}`);
    else if (record.url) found.set(record.id, record.url);
  }
  return found;
}

// Whether a collection's model embeds text (a dual encoder's text tower).
export async function embedsText(model) {
  if (!model || !model.startsWith("models/")) return false;
  try {
    let version = model;
    if (!model.includes("/versions/")) {
      const found = await get(model);
      if (!Number(found.defaultVersion)) return false;
      version = `${model}/versions/${found.defaultVersion}`;
    }
    const manifest = (await get(version)).manifest || {};
    return manifest.kind === "MODEL_KIND_DUAL_ENCODER";
  } catch {
    return false;
  }
}

// A file's bytes as base64 (what Image.base64 takes).
export function base64Of(file) {
  return new Promise((resolve, reject) => {
    const reader = new FileReader();
    reader.onload = () => resolve(String(reader.result).split(",", 2)[1] || "");
    reader.onerror = () => reject(reader.error);
    reader.readAsDataURL(file);
  });
}
