// The Evaluate sweep of a project: accuracy and coverage per (k, threshold), as a table and a plot.

import { get, post } from "./api.js";
import { fail } from "./app.js";
import { projectNav } from "./labeling.js";
import { clear, el, format, loading } from "./ui.js";

const SVG = "http://www.w3.org/2000/svg";
const WIDTH = 480;
const HEIGHT = 320;
const PAD = 44;

function svg(tag, attrs, text) {
  const node = document.createElementNS(SVG, tag);
  for (const [name, value] of Object.entries(attrs)) node.setAttribute(name, value);
  if (text !== undefined) node.textContent = text;
  return node;
}

// Accuracy (y) against coverage (x), one point per setting, each k a line over its thresholds.
export function plot(evaluations) {
  const x = (v) => PAD + v * (WIDTH - 2 * PAD);
  const y = (v) => HEIGHT - PAD - v * (HEIGHT - 2 * PAD);
  const chart = svg("svg", { viewBox: `0 0 ${WIDTH} ${HEIGHT}`, width: WIDTH, height: HEIGHT, id: "sweep-plot", role: "img" });
  chart.append(svg("rect", { x: PAD, y: PAD, width: WIDTH - 2 * PAD, height: HEIGHT - 2 * PAD, class: "frame" }));
  for (const tick of [0, 0.25, 0.5, 0.75, 1]) {
    chart.append(svg("text", { x: x(tick), y: HEIGHT - PAD + 16, "text-anchor": "middle" }, tick.toFixed(2)));
    chart.append(svg("text", { x: PAD - 6, y: y(tick) + 4, "text-anchor": "end" }, tick.toFixed(2)));
  }
  chart.append(svg("text", { x: WIDTH / 2, y: HEIGHT - 6, "text-anchor": "middle" }, "coverage"));
  chart.append(svg("text", { x: 12, y: HEIGHT / 2, transform: `rotate(-90 12 ${HEIGHT / 2})`, "text-anchor": "middle" }, "accuracy"));
  const byK = new Map();
  for (const e of evaluations) {
    const k = (e.params || {}).k ?? 10;
    if (!byK.has(k)) byK.set(k, []);
    byK.get(k).push(e);
  }
  [...byK].forEach(([k, points], i) => {
    const hue = (i * 67) % 360;
    points.sort((a, b) => (a.coverage || 0) - (b.coverage || 0));
    const path = points.map((p, j) => `${j ? "L" : "M"}${x(p.coverage || 0).toFixed(1)},${y(p.accuracy || 0).toFixed(1)}`).join(" ");
    chart.append(svg("path", { d: path, fill: "none", stroke: `hsl(${hue} 60% 45%)`, "stroke-width": 2 }));
    for (const p of points) {
      const dot = svg("circle", { cx: x(p.coverage || 0), cy: y(p.accuracy || 0), r: 4, fill: `hsl(${hue} 60% 45%)` });
      dot.append(svg("title", {}, `k=${k} threshold=${format((p.params || {}).threshold ?? 30, 0)}: `
        + `accuracy ${format(p.accuracy || 0)}, coverage ${format(p.coverage || 0)}`));
      chart.append(dot);
    }
    chart.append(svg("text", { x: WIDTH - PAD + 4, y: PAD + 14 * (i + 1), fill: `hsl(${hue} 60% 45%)` }, `k=${k}`));
  });
  return chart;
}

function table(evaluations) {
  return el("table", { class: "list", id: "sweep" },
    el("thead", {}, el("tr", {}, ["k", "Threshold", "Accuracy", "Coverage"].map((h) => el("th", { text: h })))),
    el("tbody", {}, evaluations.map((e) => el("tr", {},
      el("td", { class: "num", text: (e.params || {}).k ?? "" }),
      el("td", { class: "num", text: format((e.params || {}).threshold ?? 0, 0) }),
      el("td", { class: "num", text: format(e.accuracy || 0) }),
      el("td", { class: "num", text: format(e.coverage || 0) })))));
}

const numbers = (text) => text.split(/[\s,]+/).filter(Boolean).map(Number).filter((n) => !Number.isNaN(n));

export async function renderEvaluate(main, id) {
  const project = await get(`projects/${id}`);
  const ks = el("input", { id: "sweep-k", value: "1, 3, 5, 10, 20", size: "16" });
  const thresholds = el("input", { id: "sweep-thresholds", value: "0, 30, 50, 70, 90", size: "18" });
  const out = el("section", { id: "evaluation" });
  const run = async (event) => {
    if (event) event.preventDefault();
    clear(out, loading("Evaluating…"));
    try {
      const answer = await post(`${project.name}:evaluate`, { kValues: numbers(ks.value), thresholdValues: numbers(thresholds.value) });
      const evaluations = answer.evaluations || [];
      clear(out, el("p", { class: "muted", text: `${answer.imageCount || 0} labeled images, leave-one-out` }),
        el("div", { class: "sweep" }, table(evaluations), plot(evaluations)));
    } catch (error) {
      clear(out);
      fail(error, out);
    }
  };
  main.append(el("h1", {}, el("a", { href: "#/projects", text: "Labeling" }), ` / ${project.displayName || id}`),
    projectNav(id, "evaluate"),
    el("form", { class: "controls", onsubmit: run },
      el("label", {}, "k values ", ks), el("label", {}, "thresholds ", thresholds),
      el("button", { type: "submit", class: "primary", id: "run-sweep" }, "Run sweep")),
    out);
  await run();
}
