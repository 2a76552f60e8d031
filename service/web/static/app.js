/* The planner's desk: describe or pick a product, see its forecast, steer its analogues,
 * compare variants. Talks only to this service's own API, with the key kept for the tab
 * (sessionStorage). No framework: a few functions over the DOM, in native ES modules (one per
 * concern; `state` lives in state.js). This is the entry point: it wires them. */

import { config, $, KEY, state } from "./state.js";
import { api, reviewProblem } from "./api.js";
import { isoDay } from "./periods.js";
import { initKey, loadChoices, showHistoryWarning } from "./choices.js";
import { mode, runForecast, forecastOf } from "./forecast.js";
import { renderAnalogues } from "./analogues.js";
import { downloadCsv } from "./csv.js";
import { addVariant } from "./variants.js";

// ---------------------------------------------------------------- wiring
function init() {
  initKey();
  for (const radio of document.querySelectorAll('input[name="mode"]')) {
    radio.addEventListener("change", () => {
      $("new-product").hidden = mode() !== "new";
      $("catalogue-product").hidden = mode() !== "catalogue";
      state.pinned.clear();
      state.excluded.clear();
      reviewProblem();
      // The table shown says so too, rather than still mark as pinned what no longer is.
      if (state.last) renderAnalogues(forecastOf().neighbours || [], forecastOf());
    });
  }
  $("product-form").addEventListener("submit", (event) => { event.preventDefault(); runForecast(); });
  $("history").addEventListener("input", showHistoryWarning);
  // A new service level asks again: the answer carries only the quantiles requested. So does
  // one chosen while a forecast is on its way (the first included): that answer is dropped.
  $("service-level").addEventListener("change", () => {
    if (state.last || state.ticket !== state.settled) runForecast();
  });
  $("reforecast").addEventListener("click", runForecast);
  $("pin-form").addEventListener("submit", async (event) => {
    event.preventDefault();
    const id = $("pin-id").value.trim();
    const note = $("pin-problem");
    note.hidden = true;
    if (!id) return;
    // An id the catalogue does not hold is refused now, by name, not at the re-forecast.
    try {
      await api(`/v1/products/${encodeURIComponent(id)}`);
    } catch (error) {
      note.textContent = error.status === 404 ? `No catalogue product “${id}”: not pinned.`
        : `Could not pin “${id}”: ${error.message}`;
      note.hidden = false;
      return;
    }
    state.pinned.set(id, 1);
    state.excluded.delete(id);
    reviewProblem();
    $("pin-id").value = "";
    if (state.last) renderAnalogues(forecastOf().neighbours || [], forecastOf());
  });
  // A refused id's message goes once the planner edits the id it named.
  $("pin-id").addEventListener("input", () => { $("pin-problem").hidden = true; });
  $("download-csv").addEventListener("click", downloadCsv);
  $("add-variant").addEventListener("click", addVariant);
  if (!$("launch-date").value) {
    const next = new Date();
    next.setUTCDate(next.getUTCDate() + 28);
    $("launch-date").value = isoDay(next);
  }
  if (sessionStorage.getItem(KEY) || !config.keyRequired) loadChoices();
}

init();
