/* The page's shared state and settings: the service's config (from the page), the element
 * lookup, the key's storage name, the band's levels, and `state`, owned by app.js's wiring. */

export const config = JSON.parse(document.getElementById("config").textContent);
export const $ = (id) => document.getElementById(id);
export const KEY = "launchcast.apiKey";
export const LOW = 0.1, HIGH = 0.9;

export const state = {
  attributes: [],
  last: null,        // {request, answer, actuals, label, description}
  backtest: null,    // the active model's backtest metrics, when the key may read them
  pinned: new Map(), // product_id -> weight
  excluded: new Set(),
  variants: [],
  fieldsDrawn: false, // the attribute fields have been drawn once (a failed reload keeps them)
  review: null,      // the shown problem's errors that still stand, when the page can judge them
  ticket: 0,         // the newest forecast request; older answers are dropped
  settled: 0,        // the newest request that has answered or failed (ticket: none pending)
};
