/* Variants compared: up to four forecasts on one chart. */

import { $, state } from "./state.js";
import { say } from "./api.js";
import { periodWord } from "./trust.js";
import { forecastOf, fmt } from "./forecast.js";

const MAX_VARIANTS = 4;
// Line styles of the compared variants: a dash pattern and a colour each.
const VARIANT_STYLES = [
  { dash: "solid", color: "#1b4f9c" }, { dash: "dash", color: "#b3450e" },
  { dash: "dot", color: "#2d7a36" }, { dash: "dashdot", color: "#6b2d8f" },
];

// ---------------------------------------------------------------- variants
export function addVariant() {
  if (state.variants.length >= MAX_VARIANTS) {
    say(`At most ${MAX_VARIANTS} variants: remove one first.`);
    return;
  }
  const f = forecastOf();
  const points = f.points.map((p) => [p.step, p.forecast]);
  // The same numbers as a variant compared already would draw exactly over its line, so the
  // chart would show one line for two: said, and not added.
  const same = state.variants.findIndex((v) => v.points.length === points.length &&
    v.points.every(([step, y], i) => step === points[i][0] && y === points[i][1]));
  if (same >= 0) {
    say(`Not added: this is the same forecast as variant ${same + 1} (“${variantName(state.variants[same])}”), ` +
      `${periodWord().slice(0, -1)} for ${periodWord().slice(0, -1)}; its line would lie exactly on that one.`);
    return;
  }
  state.variants.push({ label: state.last.label, name: null, horizon: state.last.request.horizon, points });
  renderVariants();
  say(`Added to the comparison (${state.variants.length} of ${MAX_VARIANTS}).`);
}

// A variant's name: the planner's own, or its product's description, with the horizon added
// when the compared variants differ in it (the same product over 12 and 20 weeks would
// otherwise share one name).
function variantName(v) {
  if (v.name !== null) return v.name;
  const horizons = new Set(state.variants.map((x) => x.horizon));
  return horizons.size > 1 ? `${v.label}; ${v.horizon} ${periodWord()}` : v.label;
}

function renderVariants() {
  $("compare").hidden = state.variants.length === 0;
  $("add-variant").disabled = state.variants.length >= MAX_VARIANTS;
  drawVariants();
  const body = $("compare-table").querySelector("tbody");
  body.textContent = "";
  state.variants.forEach((v, i) => {
    const row = body.insertRow();
    row.insertCell().textContent = `${i + 1} (${VARIANT_STYLES[i].dash})`;
    const name = row.insertCell();
    const input = document.createElement("input");
    input.value = input.title = variantName(v);
    input.setAttribute("aria-label", `name of variant ${i + 1}`);
    // Renaming redraws the chart and its legend only: the table, and the focus in it, stay
    // (a keyboard user tabbing on from the name lands on the next control, not on the page).
    input.addEventListener("change", () => { v.name = input.title = input.value; drawVariants(); });
    name.appendChild(input);
    // The periods the total sums: variants may differ in horizon or warm-up (1–12, 3–14).
    const span = row.insertCell();
    span.className = "periods";
    span.textContent = `${v.points[0][0]}–${v.points[v.points.length - 1][0]}`;
    row.insertCell().textContent = fmt(v.points.reduce((s, [, y]) => s + y, 0));
    const peak = v.points.reduce((best, p) => (p[1] > best[1] ? p : best), v.points[0]);
    row.insertCell().textContent = `${fmt(peak[1])} in period ${peak[0]}`;
    const remove = document.createElement("button");
    remove.type = "button";
    remove.textContent = `Remove variant ${i + 1}`;
    remove.addEventListener("click", () => {
      state.variants.splice(i, 1);
      renderVariants();
      // The button went with its row: the focus goes to the Remove button now in its place
      // (or the last one), or, the comparison emptied, back to "Add to comparison".
      const left = $("compare-table").querySelectorAll("tbody button");
      (left[Math.min(i, left.length - 1)] || $("add-variant")).focus();
    });
    row.insertCell().appendChild(remove);
  });
}

function drawVariants() {
  const series = state.variants.map((v, i) => ({
    kind: "line", key: "variant", name: `${i + 1}: ${variantName(v)}`, cls: `s-variant v${i + 1}`, width: 2.5,
    dash: VARIANT_STYLES[i].dash, color: VARIANT_STYLES[i].color, endLabel: String(i + 1), labelRow: i,
    points: v.points,
  }));
  LaunchChart.draw($("compare-chart"), {
    id: "compare", title: `Variants compared: ${state.variants.length} forecasts`, xLabel: "period since launch",
    yLabel: "units", series, legend: $("compare-legend"),
  });
}
