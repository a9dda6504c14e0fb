// Small hand-written SVG charts: capability bars and time-series lines. Each chart is an
// <svg role="img"> whose aria-label says in words what it shows (its text alternative).

const SVG = "http://www.w3.org/2000/svg";

function svg(tag, attrs = {}, text) {
  const node = document.createElementNS(SVG, tag);
  for (const [name, value] of Object.entries(attrs)) node.setAttribute(name, value);
  if (text !== undefined) node.textContent = text;
  return node;
}

export const CAPABILITIES = ["reasoning", "creativity", "precision", "speed", "context"];

/** Five bars, 0–10, with their values written next to them. */
export function capabilityChart(capabilities, name = "this model") {
  const rowH = 22;
  const labelW = 78;
  const barW = 170;
  const width = labelW + barW + 34;
  const height = CAPABILITIES.length * rowH + 4;
  const summary = CAPABILITIES.map((c) => `${c} ${capabilities[c]}`).join(", ");
  const root = svg("svg", {
    class: "chart capabilities", viewBox: `0 0 ${width} ${height}`, role: "img",
    "aria-label": `Capability scores of ${name} out of 10: ${summary}.`,
  });
  CAPABILITIES.forEach((cap, i) => {
    const y = i * rowH + 4;
    const value = Number(capabilities[cap]) || 0;
    root.append(svg("text", { x: 0, y: y + 12 }, cap));
    root.append(svg("rect", { class: "bar-bg", x: labelW, y, width: barW, height: 14, rx: 3 }));
    root.append(svg("rect", { class: "bar", x: labelW, y, width: (barW * value) / 10, height: 14, rx: 3 }));
    root.append(svg("text", { class: "value", x: labelW + barW + 6, y: y + 12 }, String(value)));
  });
  return root;
}

/**
 * Lines over time. `points`: [{t, ...}] oldest first; `series`: [{key, label}];
 * `format`: value → text (axis labels and the summary). Returns a <figure> with the chart,
 * its legend and a caption.
 */
export function lineChart({ title, points, series, format = String }) {
  const width = 560;
  const height = 180;
  const pad = { left: 56, right: 10, top: 10, bottom: 24 };
  const innerW = width - pad.left - pad.right;
  const innerH = height - pad.top - pad.bottom;
  const values = points.flatMap((p) => series.map((s) => p[s.key]).filter((v) => v !== null && v !== undefined));
  const max = Math.max(...values, 0) || 1;
  const x = (i) => pad.left + (points.length > 1 ? (innerW * i) / (points.length - 1) : innerW / 2);
  const y = (v) => pad.top + innerH - (innerH * v) / max;

  const root = svg("svg", { class: "chart line", viewBox: `0 0 ${width} ${height}`, role: "img",
                            "aria-label": summarize(title, points, series, format) });
  root.append(svg("line", { class: "axis", x1: pad.left, y1: pad.top + innerH, x2: width - pad.right, y2: pad.top + innerH }));
  root.append(svg("line", { class: "axis", x1: pad.left, y1: pad.top, x2: pad.left, y2: pad.top + innerH }));
  root.append(svg("text", { x: pad.left - 6, y: pad.top + 8, "text-anchor": "end" }, format(max)));
  root.append(svg("text", { x: pad.left - 6, y: pad.top + innerH, "text-anchor": "end" }, format(0)));
  if (points.length) {
    const time = (t) => new Date(t * 1000).toLocaleTimeString("en-GB", { hour: "2-digit", minute: "2-digit" });
    root.append(svg("text", { x: pad.left, y: height - 6 }, time(points[0].t)));
    root.append(svg("text", { x: width - pad.right, y: height - 6, "text-anchor": "end" }, time(points[points.length - 1].t)));
  }
  series.forEach((s, n) => {
    // A gap (null, e.g. no requests in that step) breaks the line rather than drawing a zero.
    let d = "";
    let pen = "M";
    points.forEach((p, i) => {
      const v = p[s.key];
      if (v === null || v === undefined) { pen = "M"; return; }
      d += `${pen}${x(i).toFixed(1)},${y(v).toFixed(1)} `;
      pen = "L";
    });
    if (d) root.append(svg("path", { class: `series-${n}`, d }));
    // A point with no neighbour would draw no line: mark it with a dot.
    points.forEach((p, i) => {
      const has = (j) => j >= 0 && j < points.length && points[j][s.key] !== null && points[j][s.key] !== undefined;
      if (has(i) && !has(i - 1) && !has(i + 1)) root.append(svg("circle", { class: `dot-${n}`, cx: x(i), cy: y(p[s.key]), r: 3 }));
    });
  });

  const legend = document.createElement("ul");
  legend.className = "legend";
  legend.setAttribute("aria-hidden", "true");  // the chart's label names the series already
  series.forEach((s, n) => {
    const item = document.createElement("li");
    const swatch = document.createElement("span");
    swatch.className = `swatch series-${n}`;
    item.append(swatch, s.label);
    legend.append(item);
  });
  const figure = document.createElement("figure");
  figure.className = "panel";
  const caption = document.createElement("figcaption");
  const heading = document.createElement("h3");
  heading.textContent = title;
  caption.append(heading);
  figure.append(caption, root, legend);
  return figure;
}

function summarize(title, points, series, format) {
  if (!points.length) return `${title}: no data.`;
  const parts = series.map((s) => {
    const vals = points.map((p) => p[s.key]).filter((v) => v !== null && v !== undefined);
    if (!vals.length) return `${s.label}: no data`;
    return `${s.label}: latest ${format(vals[vals.length - 1])}, highest ${format(Math.max(...vals))}`;
  });
  return `${title}, ${points.length} points: ${parts.join("; ")}.`;
}
