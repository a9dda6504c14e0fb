// What every console page shares: calling the admin API, showing messages, building DOM,
// polling while the tab is visible, confirm dialogs, and number formats.
//
// Every request carries the sign-in cookie (credentials: "same-origin") and the header
// x-grove-console: 1, which the server requires on changes (a cross-site form cannot set it).

export class ApiError extends Error {
  constructor(status, body) {
    const error = (body && body.error) || {};
    super(error.message || `The gateway answered ${status}.`);
    this.status = status;
    this.code = error.code || null;
    this.param = error.param || null;
    this.errors = Array.isArray(body && body.errors) ? body.errors : [];
  }
}

/** Call the admin API: `api("/admin/models")`, `api("/admin/routes/x", {method: "PUT", body})`. */
export async function api(path, { method = "GET", body, signal } = {}) {
  const headers = { "x-grove-console": "1", accept: "application/json" };
  const init = { method, headers, credentials: "same-origin", signal };
  if (body !== undefined) {
    headers["content-type"] = "application/json";
    init.body = JSON.stringify(body);
  }
  const response = await fetch(path, init);
  if (response.status === 401) {
    window.location.assign("/console/login");  // signed out (or the session expired)
    throw new ApiError(401, { error: { message: "Signed out: sign in again." } });
  }
  const text = await response.text();
  let data = null;
  try { data = text ? JSON.parse(text) : null; } catch { data = text; }
  if (!response.ok) throw new ApiError(response.status, data);
  return data;
}

/** Put a message in the page's live region (#status), read out by screen readers. */
export function announce(text, kind = "") {
  const region = document.getElementById("status");
  if (!region) return;
  region.className = `status ${kind}`;
  region.textContent = text;
}

export function showError(err) {
  announce(err instanceof Error ? err.message : String(err), "error");
}

/** The problems of a 400 as a list: each `path: message`, or the one message. */
export function problems(err) {
  if (err.errors && err.errors.length) return err.errors.map((e) => (e.path ? `${e.path}: ${e.message}` : e.message));
  return [err.message];
}

/** el("td", {class: "num"}, "12") — attributes, then children (strings become text nodes). */
export function el(tag, attrs = {}, ...children) {
  const node = document.createElement(tag);
  for (const [name, value] of Object.entries(attrs)) {
    if (value === null || value === undefined || value === false) continue;
    if (name === "text") node.textContent = value;
    else if (name.startsWith("on")) node.addEventListener(name.slice(2), value);
    else node.setAttribute(name, value === true ? "" : value);
  }
  for (const child of children.flat()) {
    if (child === null || child === undefined) continue;
    node.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
  return node;
}

/** Run `task` now and every `intervalMs`, paused while the tab is hidden. */
export function poll(task, intervalMs = 2000) {
  let timer = null;
  let running = false;
  const tick = async () => {
    if (running) return;
    running = true;
    try { await task(); } catch (err) { showError(err); } finally { running = false; }
  };
  const start = () => { if (timer === null) { tick(); timer = setInterval(tick, intervalMs); } };
  const stop = () => { if (timer !== null) { clearInterval(timer); timer = null; } };
  document.addEventListener("visibilitychange", () => (document.hidden ? stop() : start()));
  if (!document.hidden) start();
  return { refresh: tick };
}

/** Open a native <dialog> (focus moves into it); resolves to its returnValue once it closes,
 * and gives the focus back to the control that opened it. */
export function ask(dialog) {
  const opener = document.activeElement;
  dialog.returnValue = "";
  dialog.showModal();
  return new Promise((resolve) => {
    dialog.addEventListener("close", () => {
      if (opener && opener.focus) opener.focus();
      resolve(dialog.returnValue);
    }, { once: true });
  });
}

export function query(name) {
  return new URLSearchParams(window.location.search).get(name);
}

// --- formats --------------------------------------------------------------------------------
const nf = (digits) => new Intl.NumberFormat("en", { maximumFractionDigits: digits });
export const fmt = {
  num: (v, d = 0) => (v === null || v === undefined ? "–" : nf(d).format(v)),
  ms: (v) => (v === null || v === undefined ? "–" : `${nf(v < 10 ? 1 : 0).format(v)} ms`),
  pct: (v) => (v === null || v === undefined ? "–" : `${nf(1).format(v * 100)} %`),
  usd: (v) => (v === null || v === undefined ? "–" : v === 0 ? "$0" : `$${v < 0.01 ? v.toPrecision(2) : nf(2).format(v)}`),
  time: (unix) => new Date(unix * 1000).toLocaleTimeString("en-GB"),
  tokens: (v) => (v >= 1000 ? `${nf(0).format(v / 1000)}k` : String(v)),
};

// Mark the current page in the navigation.
for (const link of document.querySelectorAll(".site-header nav a")) {
  const here = window.location.pathname.replace(/\/$/, "/index.html");
  const target = new URL(link.href).pathname.replace(/\/$/, "/index.html");
  if (here === target || (here.endsWith("/model.html") && target.endsWith("/models.html"))) {
    link.setAttribute("aria-current", "page");
  }
}
