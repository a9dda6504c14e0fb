// Models: one card per model (its default version) with its capability chart.

import { api, el, fmt, showError } from "./console.js";
import { capabilityChart } from "./charts.js";

function card(model) {
  const v = model.versions.find((x) => x.version === model.default_version) || model.versions[0];
  const link = `/console/model.html?id=${encodeURIComponent(model.id)}`;
  return el("li", { class: "card", "data-model": model.id },
    el("h2", {}, el("a", { href: link, class: "mono", text: model.id })),
    el("span", { class: `badge ${model.status}`, text: model.status }),
    el("dl", {},
      el("dt", { text: "Provider" }), el("dd", { text: v.provider }),
      el("dt", { text: "Version" }), el("dd", { class: "mono", text: `${model.default_version}` +
        (model.versions.length > 1 ? ` (of ${model.versions.length})` : "") }),
      el("dt", { text: "Context window" }), el("dd", { text: `${fmt.num(v.context_window)} tokens` }),
      el("dt", { text: "Prices per Mtok" }),
      el("dd", { text: `$${v.prices.input_per_mtok} in · $${v.prices.output_per_mtok} out` }),
      v.successor ? [el("dt", { text: "Successor" }), el("dd", { class: "mono", text: v.successor })] : null),
    capabilityChart(v.capabilities, model.id));
}

async function load() {
  try {
    const models = await api("/admin/models");
    const cards = document.getElementById("cards");
    cards.replaceChildren(...models.data.map(card));
    if (!models.data.length) cards.append(el("li", { class: "muted", text: "No models yet." }));
  } catch (err) { showError(err); }
}

load();
