// One model (?id=): its default version, latency/error/cost charts over the last hour, its
// versions, and the lifecycle actions (deprecate, retire, new version), each confirmed in a
// native <dialog> before it is sent.

import { api, ask, el, fmt, announce, showError, problems, query } from "./console.js";
import { capabilityChart, lineChart } from "./charts.js";

const id = query("id") || "";
const path = `/admin/models/${encodeURIComponent(id)}`;

function renderModel(model) {
  const v = model.versions.find((x) => x.version === model.default_version) || model.versions[0];
  document.title = `${model.id} · Grove Gateway console`;
  document.getElementById("title").textContent = model.id;
  for (const name of document.querySelectorAll(".model-name")) name.textContent = model.id;
  const facts = el("dl", { class: "facts" },
    el("dt", { text: "Status" }), el("dd", {}, el("span", { class: `badge ${model.status}`, text: model.status })),
    el("dt", { text: "Version" }), el("dd", { class: "mono", text: model.default_version }),
    el("dt", { text: "Provider" }), el("dd", { text: v.provider }),
    el("dt", { text: "Upstream model" }), el("dd", { class: "mono", text: v.upstream_model }),
    el("dt", { text: "Context window" }), el("dd", { text: `${fmt.num(v.context_window)} tokens` }),
    el("dt", { text: "Max output" }), el("dd", { text: `${fmt.num(v.max_output_tokens)} tokens` }),
    el("dt", { text: "Prices per Mtok" }), el("dd", { text: `$${v.prices.input_per_mtok} input · $${v.prices.output_per_mtok} output` }),
    el("dt", { text: "Supports" }), el("dd", { text: Object.entries(v.supports).filter(([, on]) => on).map(([k]) => k).join(", ") || "–" }),
    el("dt", { text: "Successor" }), el("dd", { class: "mono", text: v.successor || "–" }));
  document.getElementById("facts").replaceChildren(facts);
  document.getElementById("capabilities").replaceChildren(capabilityChart(v.capabilities, model.id));
  document.querySelector("#versions tbody").replaceChildren(...model.versions.map((x) => el("tr", {},
    el("th", { scope: "row", class: "mono", text: x.version }),
    el("td", {}, el("span", { class: `badge ${x.status}`, text: x.status })),
    el("td", { class: "mono", text: x.upstream_model }), el("td", { text: x.provider }),
    el("td", { class: "num", text: fmt.tokens(x.context_window) }),
    el("td", { class: "num", text: x.prices.input_per_mtok }), el("td", { class: "num", text: x.prices.output_per_mtok }),
    el("td", { class: "mono", text: x.successor || "–" }), el("td", { text: x.origin }))));
  document.getElementById("open-retire").disabled = model.status === "retired";
  document.getElementById("open-deprecate").disabled = model.status !== "active";
}

async function renderCharts() {
  const charts = document.getElementById("charts");
  try {
    const series = await api(`/admin/perf/series?minutes=60&step_s=60&model=${encodeURIComponent(id)}`);
    const points = series.points;
    charts.replaceChildren(
      lineChart({ title: "Latency", points, format: fmt.ms,
                  series: [{ key: "p50_ms", label: "p50" }, { key: "p95_ms", label: "p95" }] }),
      lineChart({ title: "Requests and errors per minute", points, format: (v) => fmt.num(v),
                  series: [{ key: "requests", label: "requests" }, { key: "errors", label: "errors" },
                           { key: "fallbacks", label: "fallbacks" }] }),
      lineChart({ title: "Cost per minute", points, format: fmt.usd, series: [{ key: "cost_usd", label: "cost" }] }));
  } catch (err) {
    charts.replaceChildren(el("p", { class: "muted", text: `Charts are not available: ${err.message}` }));
  }
}

async function load() {
  try {
    renderModel(await api(path));
  } catch (err) {
    showError(err);
    return;
  }
  await renderCharts();
}

async function fillSuccessors(select) {
  const models = await api("/admin/models");
  select.replaceChildren(el("option", { value: "", text: "(keep the current one)" }),
    ...models.data.filter((m) => m.id !== id && m.status !== "retired").map((m) => el("option", { value: m.id, text: m.id })));
}

async function act(label, request) {
  try {
    const model = await request();
    renderModel(model);
    announce(`${label}: done (registry version ${model.registry_version}).`, "ok");
  } catch (err) {
    announce(`${label} failed: ${problems(err).join("; ")}`, "error");
  }
}

function lifecycle(buttonId, dialogId, label, action) {
  document.getElementById(buttonId).addEventListener("click", async () => {
    const dialog = document.getElementById(dialogId);
    const select = dialog.querySelector("select");
    if (select) await fillSuccessors(select).catch(showError);
    if ((await ask(dialog)) !== "confirm") { announce(`${label}: cancelled.`); return; }
    await act(label, () => action(dialog));
  });
}

const successorBody = (dialog) => {
  const successor = dialog.querySelector("select").value;
  return successor ? { successor } : {};
};

lifecycle("open-deprecate", "deprecate-dialog", "Deprecate",
  (d) => api(`${path}/deprecate`, { method: "POST", body: successorBody(d) }));
lifecycle("open-retire", "retire-dialog", "Retire",
  (d) => api(`${path}/retire`, { method: "POST", body: successorBody(d) }));
lifecycle("open-version", "version-dialog", "New version", (d) => {
  const body = { version: d.querySelector("#version-name").value.trim() };
  const upstream = d.querySelector("#version-upstream").value.trim();
  if (upstream) body.upstream_model = upstream;
  return api(`${path}/versions`, { method: "POST", body });
});

load();
