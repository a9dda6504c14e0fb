// Add-model wizard: 1. provider and endpoint, 2. capabilities, limits and prices, 3. a test
// request to the new model (POST /admin/models/test, nothing registered), then activation
// (POST /admin/models). Activation is offered only after a test of exactly this entry succeeded.

import { api, el, fmt, announce, problems } from "./console.js";
import { CAPABILITIES } from "./charts.js";

const form = document.getElementById("wizard");
const $ = (id) => document.getElementById(id);
let testedSpec = null;  // JSON of the entry whose test succeeded

/** The provider ids of the effective config (GET /admin/config is YAML; its providers list is
 * simple enough to read line by line). The models' providers are the fallback. */
async function providers() {
  try {
    const response = await fetch("/admin/config", { credentials: "same-origin", headers: { "x-grove-console": "1" } });
    if (response.ok) {
      const found = [];
      let inside = false;
      for (const line of (await response.text()).split("\n")) {
        if (/^[A-Za-z_]/.test(line)) inside = line.startsWith("providers:");  // a top-level key
        const item = inside && line.match(/^-\s+id:\s*['"]?([^'"\s]+)/);
        if (item) found.push({ id: item[1] });
        const kind = inside && found.length && line.match(/^\s+kind:\s*['"]?([^'"\s]+)/);
        if (kind) found[found.length - 1].kind = kind[1];
      }
      if (found.length) return found;
    }
  } catch { /* fall through */ }
  const models = await api("/admin/models");
  return [...new Set(models.data.flatMap((m) => m.versions.map((v) => v.provider)))].map((id) => ({ id }));
}

function spec() {
  const num = (id) => Number($(id).value);
  const out = {
    id: $("model-id").value.trim(),
    provider: $("provider").value,
    version: $("version").value.trim(),
    context_window: num("context-window"),
    max_output_tokens: num("max-output"),
    capabilities: Object.fromEntries(CAPABILITIES.map((c) => [c, num(`cap-${c}`)])),
    supports: { tools: $("sup-tools").checked, vision: $("sup-vision").checked, json: $("sup-json").checked,
                streaming: $("sup-streaming").checked },
    prices: { input_per_mtok: num("price-in"), output_per_mtok: num("price-out") },
  };
  const upstream = $("upstream").value.trim();
  if (upstream) out.upstream_model = upstream;
  if ($("price-cached").value !== "") out.prices.cached_input_per_mtok = num("price-cached");
  return out;
}

/** Native constraint checks of one step; the first problem is reported and focused. */
function stepValid(n) {
  let ok = true;
  for (const input of $(`step-${n}`).querySelectorAll("input, select")) {
    const valid = input.checkValidity();
    input.setAttribute("aria-invalid", valid ? "false" : "true");
    if (!valid && ok) { input.reportValidity(); input.focus(); ok = false; }
  }
  if (n === 2 && ok && Number($("max-output").value) > Number($("context-window").value)) {
    $("max-output").setAttribute("aria-invalid", "true");
    announce("Max output tokens must not exceed the context window.", "error");
    $("max-output").focus();
    ok = false;
  }
  return ok;
}

function show(n, focus = true) {
  for (const step of [1, 2, 3]) {
    $(`step-${step}`).hidden = step !== n;
    if (step === n) $(`step-${step}-tab`).setAttribute("aria-current", "step");
    else $(`step-${step}-tab`).removeAttribute("aria-current");
  }
  if (focus) $(`step-${n}-heading`).focus();
}

/** A model id that is registered already would be refused at activation: say so at step 1. */
async function idIsFree() {
  const id = $("model-id").value.trim();
  try {
    await api(`/admin/models/${encodeURIComponent(id)}`);
  } catch (err) {
    if (err.status === 404) return true;
    throw err;
  }
  $("model-id").setAttribute("aria-invalid", "true");
  $("model-id").focus();
  announce(`${id} is a model already: add a version on its page instead.`, "error");
  return false;
}

form.addEventListener("click", async (event) => {
  const target = event.target.closest("[data-next]");
  if (!target) return;
  const next = Number(target.dataset.next);
  const current = Number(target.closest("section").id.slice(-1));
  if (next > current && !stepValid(current)) return;
  if (current === 1 && next === 2 && !(await idIsFree().catch(() => true))) return;
  announce("");
  show(next);
});

// Any change after a test means the test no longer stands for the entry.
form.addEventListener("input", (event) => {
  if (event.target.id === "test-message") return;
  if (testedSpec !== null && JSON.stringify(spec()) !== testedSpec) {
    testedSpec = null;
    setActivation(false);
  }
});

function setActivation(on) {
  $("activate").disabled = !on;
  $("activate-hint").hidden = on;
}

function renderResult(result) {
  const box = $("test-result");
  if (result.ok) {
    box.replaceChildren(el("div", { class: "result ok", "data-test": "ok" },
      el("p", {}, el("strong", { text: "The model answered: " }), el("q", { id: "test-content", text: result.content || "" })),
      el("p", { class: "muted", text: `${fmt.ms(result.latency_ms)} · ${result.usage ? result.usage.total_tokens : "?"} tokens · ` +
        `cost ${fmt.usd(result.cost_usd)}` })));
  } else {
    const e = result.error || {};
    box.replaceChildren(el("div", { class: "result bad", "data-test": "failed" },
      el("p", {}, el("strong", { text: "The test failed: " }), e.message || "no answer"),
      el("p", { class: "muted", text: [e.status && `upstream status ${e.status}`, e.type, e.code].filter(Boolean).join(" · ") })));
  }
}

$("send-test").addEventListener("click", async () => {
  if (!stepValid(1) || !stepValid(2)) return;
  const entry = spec();
  const button = $("send-test");
  button.disabled = true;
  announce("Sending the test request…");
  try {
    const result = await api("/admin/models/test", { method: "POST", body: {
      model: entry, messages: [{ role: "user", content: $("test-message").value || "Hello" }], max_tokens: 64 } });
    renderResult(result);
    testedSpec = result.ok ? JSON.stringify(entry) : null;
    setActivation(result.ok);
    announce(result.ok ? "The test request succeeded: the model can be activated." : "The test request failed.",
      result.ok ? "ok" : "error");
  } catch (err) {
    if (err.status !== 400) {
      announce(`The test could not be sent: ${err.message}`, "error");
      return;
    }
    $("test-result").replaceChildren(el("div", { class: "result bad error-box", "data-test": "invalid" },
      el("p", { text: "The entry is not valid:" }), el("ul", {}, problems(err).map((p) => el("li", { text: p })))));
    announce("The entry is not valid: go back and correct it.", "error");
  } finally {
    button.disabled = false;
  }
});

$("activate").addEventListener("click", async () => {
  const entry = spec();
  if (JSON.stringify(entry) !== testedSpec) return;
  try {
    const model = await api("/admin/models", { method: "POST", body: entry });
    const link = `/console/model.html?id=${encodeURIComponent(model.id)}`;
    $("test-result").append(el("p", { class: "result ok" }, `${model.id} is active and served now: `,
      el("a", { href: link, text: "open its page" }), "."));
    announce(`Activated ${model.id} (registry version ${model.registry_version}).`, "ok");
    setActivation(false);
    $("activate-hint").hidden = true;
  } catch (err) {
    announce(`Activation failed: ${problems(err).join("; ")}`, "error");
  }
});

providers().then((list) => {
  $("provider").replaceChildren(...list.map((p) =>
    el("option", { value: p.id, text: p.kind ? `${p.id} (${p.kind})` : p.id })));
}).catch((err) => announce(`Could not read the providers: ${err.message}`, "error"));
show(1, false);
