/* The forecast as a CSV download. */

import { state } from "./state.js";
import { forecastOf } from "./forecast.js";

// ---------------------------------------------------------------- CSV
export function downloadCsv() {
  const f = forecastOf();
  const levels = Object.keys(f.points[0].quantiles || {});
  const lines = [["product", "method", "step", "start_date", "forecast", ...levels.map((l) => `q${l}`)].join(",")];
  for (const p of f.points) {
    lines.push([csvCell(f.product_id || state.last.label), f.method, p.step, p.start_date, p.forecast,
      ...levels.map((l) => p.quantiles[l])].join(","));
  }
  const blob = new Blob([lines.join("\n") + "\n"], { type: "text/csv" });
  const link = document.createElement("a");
  link.href = URL.createObjectURL(blob);
  link.download = `forecast-${(f.product_id || "new-product").replace(/[^A-Za-z0-9_-]/g, "_")}.csv`;
  document.body.appendChild(link);
  link.click();
  link.remove();
  URL.revokeObjectURL(link.href);
}

const csvCell = (text) => (/[",\n]/.test(text) ? `"${String(text).replace(/"/g, '""')}"` : text);
