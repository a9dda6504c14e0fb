// Overview: live traffic figures, breakers and recent routing decisions, polled every 2 s
// while the tab is visible (no page reloads).

import { api, el, fmt, poll, announce, showError } from "./console.js";
import { renderDecision } from "./provenance.js";

const FORMATS = {
  rps: (v) => fmt.num(v, 2), requests: (v) => fmt.num(v), p50_ms: fmt.ms, p95_ms: fmt.ms,
  error_rate: fmt.pct, fallback_rate: fmt.pct, cost_usd_per_min: fmt.usd,
};

function renderTotals(totals) {
  for (const [name, format] of Object.entries(FORMATS)) {
    document.querySelector(`[data-stat="${name}"]`).textContent = format(totals[name]);
  }
}

function renderGroups(tableId, groups, what) {
  const rows = Object.entries(groups).sort((a, b) => b[1].requests - a[1].requests);
  const body = document.querySelector(`#${tableId} tbody`);
  body.replaceChildren(...(rows.length ? rows.map(([name, f]) => el("tr", { "data-name": name },
    el("th", { scope: "row", class: "mono", text: name }),
    el("td", { class: "num", text: fmt.num(f.rps, 2) }), el("td", { class: "num", text: fmt.ms(f.p50_ms) }),
    el("td", { class: "num", text: fmt.ms(f.p95_ms) }), el("td", { class: "num", text: fmt.pct(f.error_rate) }),
    el("td", { class: "num", text: fmt.pct(f.fallback_rate) }),
    el("td", { class: "num", text: fmt.usd(f.cost_usd_per_min) })))
    : [el("tr", {}, el("td", { colspan: 7, class: "muted", text: `No ${what} served a request in this window.` }))]));
}

const STATE_TEXT = { open: "open", closed: "closed", half_open: "half-open" };

function renderBreakers(breakers) {
  const body = document.querySelector("#breakers tbody");
  body.replaceChildren(...breakers.map((b) => el("tr", { "data-deployment": b.deployment },
    el("th", { scope: "row", class: "mono", text: b.deployment }),
    el("td", {}, el("span", { class: `badge ${b.state}`, "data-state": b.state, text: STATE_TEXT[b.state] || b.state })),
    el("td", { class: "num", text: b.consecutive_failures }), el("td", { class: "num", text: b.trips }),
    el("td", { text: b.opened_until ? fmt.time(b.opened_until) : "–" }))));
}

// Decision rows are kept by id, so one a reader has opened stays open while new ones arrive.
const shown = new Map();

function decisionItem(d) {
  // A fallback moves to another deployment; a retry of the same one is not.
  const tried = new Set((d.attempts || []).map((a) => a.deployment));
  const fallback = tried.size > 1 ? " · fell back" : "";
  const summary = el("summary", {},
    el("span", { class: "mono", text: fmt.time(d.created) }),
    el("span", {}, "asked ", el("strong", { class: "mono", text: d.requested })),
    el("span", {}, "served by ", el("strong", { class: "mono", text: d.served_by || "nobody" })),
    el("span", { text: `status ${d.status}${fallback}` }),
    el("span", { class: "muted", text: `${d.strategy}` }));
  const details = el("details", { "data-decision": d.id }, summary, el("p", { class: "muted", text: "Loading…" }));
  details.addEventListener("toggle", async () => {
    if (!details.open || details.dataset.loaded) return;
    try {
      const full = await api(`/admin/decisions/${encodeURIComponent(d.id)}`);
      details.lastChild.replaceWith(renderDecision(full));
      details.dataset.loaded = "1";
    } catch (err) { showError(err); }
  });
  return el("li", {}, details);
}

function renderDecisions(records) {
  const list = document.getElementById("decisions");
  const ids = new Set(records.map((d) => d.id));
  for (const [id, item] of shown) {
    if (!ids.has(id) && !item.querySelector("details").open) { item.remove(); shown.delete(id); }
  }
  let before = list.firstChild;
  for (const d of records) {  // newest first
    let item = shown.get(d.id);
    if (!item) { item = decisionItem(d); shown.set(d.id, item); list.insertBefore(item, before); }
    before = item.nextSibling;
  }
  const placeholder = list.querySelector(":scope > li.empty");
  if (records.length && placeholder) placeholder.remove();
  else if (!list.children.length) list.append(el("li", { class: "muted empty", text: "No decisions yet." }));
}

let perfMissing = false;

async function refresh() {
  const [perf, breakers, decisions] = await Promise.all([
    perfMissing ? null : api("/admin/perf?window_s=60").catch((err) => {
      if (err.status === 404) { perfMissing = true; return null; }
      throw err;
    }),
    api("/admin/breakers"),
    api("/admin/decisions?limit=20"),
  ]);
  if (perf) {
    renderTotals(perf.totals);
    renderGroups("per-model", perf.models, "model");
    renderGroups("per-route", perf.routes, "route");
  }
  renderBreakers(breakers.data);
  renderDecisions(decisions.data);
  const partial = perf && perf.complete === false ? " The shared store did not answer: these are this replica's figures only." : "";
  document.getElementById("updated").textContent =
    `Updated ${new Date().toLocaleTimeString("en-GB")}; updates every 2 seconds while this tab is visible.${partial}`;
  if (perfMissing) announce("Traffic figures are not available from this gateway (GET /admin/perf).", "error");
}

poll(refresh, 2000);
