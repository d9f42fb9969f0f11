// The JSON API, called with the key this tab was given (sessionStorage, never in a URL).
const KEY = "octollm.apiKey";

export const key = {
  get: () => sessionStorage.getItem(KEY),
  set: (value) => sessionStorage.setItem(KEY, value.trim()),
  clear: () => sessionStorage.clear(), // the key and what was filtered with it
};

export class ApiError extends Error {
  constructor(status, body) {
    const err = (body && body.error) || {};
    super(err.message || `HTTP ${status}`);
    this.status = status;
    this.code = err.code;
  }
}

function headers(extra = {}) {
  return { "X-API-Key": key.get() || "", Accept: "application/json", ...extra };
}

export async function api(path, { method = "GET", body, query } = {}) {
  const url = new URL(path, location.origin);
  for (const [name, value] of Object.entries(query || {})) {
    for (const v of [].concat(value)) if (v !== undefined && v !== null && v !== "") url.searchParams.append(name, v);
  }
  const init = { method, headers: headers(body ? { "Content-Type": "application/json" } : {}) };
  if (body) init.body = JSON.stringify(body);
  const resp = await fetch(url, init);
  const data = resp.status === 204 ? null : await resp.json().catch(() => null);
  if (!resp.ok) throw new ApiError(resp.status, data);
  return data;
}

// Follow a task's SSE stream with fetch (headers carry the key; EventSource cannot set them),
// reconnecting from the last id seen until the server sends its `end` frame or `signal` aborts.
export async function follow(taskId, onEvent, signal, { lastId = null, tenant = null } = {}) {
  const url = new URL(`/api/v1/tasks/${encodeURIComponent(taskId)}/events`, location.origin);
  if (tenant) url.searchParams.set("tenant", tenant);
  while (!signal.aborted) {
    try {
      const extra = { Accept: "text/event-stream" };
      if (lastId) extra["Last-Event-ID"] = lastId;
      const resp = await fetch(url, { headers: headers(extra), signal });
      if (!resp.ok) throw new ApiError(resp.status, await resp.json().catch(() => null));
      const reader = resp.body.pipeThrough(new TextDecoderStream()).getReader();
      let buffer = "";
      for (;;) {
        const { value, done } = await reader.read();
        if (done) break;
        buffer += value;
        let cut;
        while ((cut = buffer.indexOf("\n\n")) >= 0) {
          const frame = parse(buffer.slice(0, cut));
          buffer = buffer.slice(cut + 2);
          if (frame.id) lastId = frame.id;
          if (frame.event === "end") { onEvent(frame); return; }
          if (frame.data) onEvent(frame);
        }
      }
    } catch (exc) {
      if (signal.aborted) return;
      if (exc instanceof ApiError && exc.status < 500) throw exc;
    }
    await new Promise((r) => setTimeout(r, 1000));
  }
}

function parse(text) {
  const frame = { data: "" };
  for (const line of text.split("\n")) {
    if (line.startsWith(":")) continue;
    const at = line.indexOf(":");
    const name = at < 0 ? line : line.slice(0, at);
    const value = at < 0 ? "" : line.slice(at + 1).replace(/^ /, "");
    if (name === "data") frame.data += value;
    else if (name === "id" || name === "event") frame[name] = value;
  }
  try { frame.body = frame.data ? JSON.parse(frame.data) : null; } catch { frame.body = null; }
  return frame;
}
