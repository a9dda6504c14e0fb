// Routes: the list, and an editor for one route (strategy, chain, variants, capability weights)
// that validates as you type through POST /admin/explain, which also previews where a sample
// request would go with the route as edited. Saving is PUT /admin/routes/{name}.

import { api, el, announce, problems } from "./console.js";
import { CAPABILITIES } from "./charts.js";
import { renderDecision } from "./provenance.js";

const $ = (id) => document.getElementById(id);
let modelIds = [];
let chain = [];          // the ordered models of a chain or capability route
let editingExisting = false;
let valid = false;

// --- the list ------------------------------------------------------------------------------

async function loadRoutes() {
  const [routes, models] = await Promise.all([api("/admin/routes"), api("/admin/models")]);
  modelIds = models.data.filter((m) => m.status !== "retired").map((m) => m.id);
  $("add-model").replaceChildren(...modelIds.map((id) => el("option", { value: id, text: id })));
  $("routes").tBodies[0].replaceChildren(...routes.data.map((r) => el("tr", { "data-route": r.name },
    el("th", { scope: "row", class: "mono", text: r.name }),
    el("td", { text: r.strategy }),
    el("td", { class: "mono", text: r.variants ? r.variants.map((v) => `${v.name} (${v.weight}): ${v.models.join(", ")}`).join("; ")
                                               : (r.models || ["every model"]).join(" → ") }),
    el("td", { text: r.origin }),
    el("td", {}, el("button", { type: "button", class: "small", "aria-label": `Edit route ${r.name}`,
                               onclick: () => openEditor(r), text: "Edit" })))));
}

// --- the editor ----------------------------------------------------------------------------

function renderChain() {
  const list = $("chain");
  list.replaceChildren(...chain.map((id, i) => el("li", { "data-model": id },
    el("span", { class: "mono", text: id }), " ",
    el("button", { type: "button", class: "small", "aria-label": `Move ${id} up`, disabled: i === 0,
                   onclick: () => move(i, -1), text: "Up" }), " ",
    el("button", { type: "button", class: "small", "aria-label": `Move ${id} down`, disabled: i === chain.length - 1,
                   onclick: () => move(i, 1), text: "Down" }), " ",
    el("button", { type: "button", class: "small danger", "aria-label": `Remove ${id}`,
                   onclick: () => { chain.splice(i, 1); changed(`${id} removed.`); }, text: "Remove" }))));
  if (!chain.length) list.append(el("li", { class: "muted", text: $("strategy").value === "capability" ? "Every model." : "No model yet." }));
}

function move(i, by) {
  [chain[i], chain[i + by]] = [chain[i + by], chain[i]];
  changed(`${chain[i + by]} is now number ${i + by + 1}.`);
  // Keep the focus on the moved model's button of the same direction, if it still exists.
  const button = $("chain").children[i + by].querySelector(`button[aria-label^="Move"][aria-label$="${by < 0 ? "up" : "down"}"]`);
  (button && !button.disabled ? button : $("chain").children[i + by].querySelector("button:not(:disabled)")).focus();
}

function variantRow(v = { name: "", weight: 1, models: [] }) {
  const n = $("variants").children.length + 1;
  const row = el("div", { class: "fields variant" },
    el("div", { class: "field" }, el("label", { for: `v${n}-name`, text: `Variant ${n} name` }),
      el("input", { type: "text", id: `v${n}-name`, class: "v-name", value: v.name, autocomplete: "off" })),
    el("div", { class: "field" }, el("label", { for: `v${n}-weight`, text: `Variant ${n} weight` }),
      el("input", { type: "number", id: `v${n}-weight`, class: "v-weight", min: "0", step: "any", value: v.weight })),
    el("div", { class: "field" }, el("label", { for: `v${n}-models`, text: `Variant ${n} models (comma-separated)` }),
      el("input", { type: "text", id: `v${n}-models`, class: "v-models", value: v.models.join(", "), autocomplete: "off" })));
  $("variants").append(row);
}

function showStrategy() {
  const strategy = $("strategy").value;
  $("models-set").hidden = strategy === "weighted";
  $("variants-set").hidden = strategy !== "weighted";
  $("weights-set").hidden = strategy !== "capability";
  $("models-legend").textContent = strategy === "capability" ? "Candidates (none listed: every model)" : "Chain, first choice first";
  renderChain();
}

function openEditor(route) {
  editingExisting = Boolean(route);
  const r = route || { name: "", strategy: "chain", models: [] };
  $("editor-heading").textContent = route ? `Edit route ${r.name}` : "New route";
  $("route-name").value = r.name;
  $("route-name").readOnly = editingExisting;
  $("strategy").value = r.strategy;
  $("fallbacks").value = r.fallbacks ?? "";
  chain = [...(r.models || [])];
  $("variants").replaceChildren();
  (r.variants || []).forEach(variantRow);
  if (r.strategy === "weighted" && !r.variants) variantRow();
  $("sticky").value = r.sticky || "user";
  for (const c of CAPABILITIES) $(`w-${c}`).value = r.weights ? r.weights[c] ?? "" : "";
  $("price-weight").value = r.price_weight ?? "";
  $("latency-weight").value = r.latency_weight ?? "";
  $("error-weight").value = r.error_weight ?? "";
  $("editor").hidden = false;
  showStrategy();
  $("editor-heading").focus();
  explain();
}

/** The route as edited, in the shape PUT /admin/routes/{name} takes. */
function spec() {
  const strategy = $("strategy").value;
  const out = { name: $("route-name").value.trim(), strategy };
  const number = (id) => ($(id).value === "" ? undefined : Number($(id).value));
  if (strategy === "chain" || (strategy === "capability" && chain.length)) out.models = [...chain];
  if (strategy === "chain" && !chain.length) out.models = [];
  if (strategy === "weighted") {
    out.variants = [...$("variants").children].map((row) => ({
      name: row.querySelector(".v-name").value.trim(),
      weight: Number(row.querySelector(".v-weight").value),
      models: row.querySelector(".v-models").value.split(",").map((m) => m.trim()).filter(Boolean),
    }));
    out.sticky = $("sticky").value;
  }
  if (strategy === "capability") {
    const weights = Object.fromEntries(CAPABILITIES.filter((c) => $(`w-${c}`).value !== "").map((c) => [c, Number($(`w-${c}`).value)]));
    if (Object.keys(weights).length) out.weights = weights;
    for (const [field, id] of [["price_weight", "price-weight"], ["latency_weight", "latency-weight"], ["error_weight", "error-weight"]]) {
      if (number(id) !== undefined) out[field] = number(id);
    }
  }
  if (number("fallbacks") !== undefined) out.fallbacks = number("fallbacks");
  return out;
}

function sampleHeaders() {
  const hint = $("sample-hint").value.trim();
  return hint ? { "x-grove-capabilities": hint } : {};
}

function showProblems(list) {
  valid = !list.length;
  $("save").disabled = !valid;
  $("problems").replaceChildren(...(list.length ? [el("p", { text: "This route would not be accepted:" }),
    el("ul", {}, list.map((p) => el("li", { text: p })))] : []));
}

let pending = null;   // the explain call in flight, aborted when the operator types on
let timer = null;

function changed(message) {
  renderChain();
  if (message) announce(message);
  clearTimeout(timer);
  timer = setTimeout(explain, 250);
}

async function explain() {
  const route = spec();
  if (pending) pending.abort();
  pending = new AbortController();
  const body = { request: { model: route.name || "route", messages: [{ role: "user", content: $("sample").value || "Hello" }] },
                 headers: sampleHeaders(), route };
  try {
    const answer = await api("/admin/explain", { method: "POST", body, signal: pending.signal });
    showProblems([]);
    const decision = answer.decision;
    if (!decision) {  // the route is valid, but the router would refuse this sample request
      $("preview-primary").textContent = "none";
      $("preview").replaceChildren(el("p", { class: "result bad", text: `Refused: ${answer.refusal.message}` }));
      return;
    }
    $("preview-primary").textContent = decision.chain[0] || "none (no deployment can serve it)";
    $("preview").replaceChildren(renderDecision(decision));
  } catch (err) {
    if (err.name === "AbortError") return;
    if (err.status === 404 && !err.errors.length) {
      showProblems([]);  // a gateway without the explain endpoint: save still validates
      $("preview").replaceChildren(el("p", { class: "muted", text: `No preview: ${err.message}` }));
      return;
    }
    showProblems(problems(err));
    $("preview-primary").textContent = "–";
    $("preview").replaceChildren();
  }
}

$("route-form").addEventListener("input", () => changed());
$("strategy").addEventListener("change", () => {
  if ($("strategy").value === "weighted" && !$("variants").children.length) variantRow();
  showStrategy();
  changed();
});
$("add-model-button").addEventListener("click", () => {
  const id = $("add-model").value;
  if (!id) return;
  chain.push(id);
  changed(`${id} added as number ${chain.length}.`);
});
$("add-variant").addEventListener("click", () => { variantRow(); changed(); });
$("new-route").addEventListener("click", () => openEditor(null));
$("close-editor").addEventListener("click", () => { $("editor").hidden = true; $("new-route").focus(); });

$("route-form").addEventListener("submit", async (event) => {
  event.preventDefault();
  const route = spec();
  if (!route.name) { showProblems(["name: a route needs a name"]); $("route-name").focus(); return; }
  try {
    const saved = await api(`/admin/routes/${encodeURIComponent(route.name)}`, { method: "PUT", body: route });
    announce(`Saved route ${saved.name} (registry version ${saved.registry_version}).`, "ok");
    editingExisting = true;
    $("route-name").readOnly = true;
    await loadRoutes();
  } catch (err) {
    showProblems(problems(err));
    announce(`Not saved: ${err.message}`, "error");
  }
});

loadRoutes().catch((err) => announce(err.message, "error"));
