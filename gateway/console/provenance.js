// A routing decision's provenance as readable HTML: what was asked, the chain, every candidate
// with its score, what was excluded and why, and (for a served request) each attempt.
// Used by the overview (a recorded decision) and the route editor (an explain preview).

import { el, fmt } from "./console.js";

const facts = (pairs) =>
  el("dl", { class: "facts" }, pairs.filter(([, v]) => v !== null && v !== undefined && v !== "")
    .flatMap(([k, v]) => [el("dt", { text: k }), el("dd", {}, v)]));

function table(caption, head, rows) {
  if (!rows.length) return el("p", { class: "muted", text: `${caption}: none.` });
  return el("table", {},
    el("caption", { text: caption }),
    el("thead", {}, el("tr", {}, head.map((h) => el("th", { scope: "col", text: h })))),
    el("tbody", {}, rows.map((cells) => el("tr", {}, cells.map((c) => el("td", {}, c))))));
}

const score = (v) => (v === null || v === undefined ? "–" : Number(v).toFixed(3));

// Scores exist only where the capability strategy ranked the candidates.
function candidates(list) {
  if (!list.some((c) => c.score !== undefined)) {
    return table("Candidates", ["Deployment", "Status"], list.map((c) => [c.key, c.status]));
  }
  return table("Candidates", ["Deployment", "Status", "Score", "Capability", "Price", "Latency", "Errors", "Est. cost"],
    list.map((c) => [c.key, c.status, score(c.score), score(c.parts && c.parts.capability),
      score(c.parts && c.parts.price), score(c.parts && c.parts.latency), score(c.parts && c.parts.errors),
      c.cost_usd === undefined ? "–" : fmt.usd(c.cost_usd)]));
}

export function renderDecision(d) {
  const parts = [
    facts([
      ["Requested", d.requested], ["Route", d.route], ["Strategy", d.strategy], ["Rule", d.rule],
      ["Variant", d.variant], ["Component", d.component], ["Config version", d.config_version],
      ["Served by", d.served_by], ["Status", d.status],
      ["Needs", d.needs ? Object.entries(d.needs).map(([k, v]) => `${k} ${v}`).join(", ") : null],
      ["Needs from", d.needs_source],
      ["Weights", d.weights ? Object.entries(d.weights).map(([k, v]) => `${k} ${v}`).join(", ") : null],
    ]),
    el("h3", { text: "Chain (tried in this order)" }),
    el("ol", { class: "chain-list" }, (d.chain || []).map((key) => el("li", { text: key }))),
    candidates(d.candidates || []),
    table("Exclusions", ["Deployment", "Check", "Reason"],
      (d.exclusions || []).map((e) => [e.key, e.check, e.reason])),
  ];
  if (d.attempts) {
    parts.push(table("Attempts", ["Deployment", "Outcome", "Latency", "Breaker", "Error"],
      d.attempts.map((a) => [a.deployment, a.outcome, fmt.ms(a.latency_ms), a.breaker, a.error || ""])));
  }
  return el("div", { class: "provenance" }, parts);
}
