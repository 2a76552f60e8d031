/* The analogues a forecast borrows from, and the planner's steering of them (pin, weight,
 * exclude). */

import { $, state } from "./state.js";
import { api, reviewProblem } from "./api.js";

// ---------------------------------------------------------------- analogues
function toggle(label, pressed, control, onClick) {
  const button = document.createElement("button");
  button.type = "button";
  button.textContent = label;
  button.dataset.control = control;  // "pin" or "exclude": refocus finds its counterpart
  button.setAttribute("aria-pressed", String(pressed));
  button.addEventListener("click", onClick);
  return button;
}

// What each analogue is (its attributes and launch), so the planner can judge it before
// pinning or excluding it: read once per product and kept for the page's life.
const descriptions = new Map(); // product_id -> Promise of its one-line description
function describeAnalogue(id, into) {
  if (!descriptions.has(id)) {
    descriptions.set(id, api(`/v1/products/${encodeURIComponent(id)}`).then((p) => {
      const values = Object.entries(p.attributes || {})
        .filter(([, v]) => v !== null && v !== "")
        .map(([k, v]) => (typeof v === "string" ? v : `${k} ${v}`));
      return [...values, p.launch_date ? `launched ${p.launch_date}` : ""].filter(Boolean).join(" · ");
    }).catch(() => ""));
  }
  descriptions.get(id).then((text) => { into.textContent = text; });
}

export function renderAnalogues(neighbours, f) {
  const body = $("analogues").querySelector("tbody");
  body.textContent = "";
  const shown = new Map(neighbours.map((n) => [n.product_id, n]));
  for (const id of [...state.pinned.keys(), ...state.excluded]) {
    if (!shown.has(id)) shown.set(id, { product_id: id, similarity: null, weight: null });
  }
  const explain = !f.neighbours ? "This key may not see the products a forecast borrows from."
    : !shown.size && f.method.startsWith("statistical:")
      ? "An established product's forecast borrows from no analogues: it comes from its own sales history."
      : "";
  if (explain) {
    const row = body.insertRow();
    const cell = row.insertCell();
    cell.colSpan = 5;
    cell.textContent = explain;
  }
  [...shown.values()].forEach((n, index) => {
    const row = body.insertRow();
    row.dataset.productId = n.product_id;
    const excluded = state.excluded.has(n.product_id), pinned = state.pinned.has(n.product_id);
    if (excluded) row.className = "excluded";
    const name = row.insertCell();
    name.textContent = n.product_id + (excluded ? " (excluded)" : pinned ? " (pinned)" : "");
    const about = document.createElement("small");
    about.className = "about";
    name.append(document.createElement("br"), about);
    describeAnalogue(n.product_id, about);
    row.insertCell().textContent = n.similarity === null ? "–" : n.similarity.toFixed(2);
    const weight = row.insertCell();
    if (pinned) {
      const input = document.createElement("input");
      input.type = "number"; input.min = "0.01"; input.step = "any"; input.size = 4;
      input.value = state.pinned.get(n.product_id);
      input.setAttribute("aria-label", `weight of ${n.product_id}`);
      input.addEventListener("input", () => {
        // Empty is the API's default weight, 1; anything else is kept as typed (0 included)
        // and checked before the re-forecast, which names a weight the API would refuse (and
        // takes the problem back as soon as the weight is corrected).
        state.pinned.set(n.product_id, input.value.trim() === "" ? 1 : Number(input.value));
        reviewProblem();
      });
      weight.appendChild(input);
    } else {
      weight.textContent = n.weight === null ? "–" : `${(n.weight * 100).toFixed(0)}%`;
    }
    row.insertCell().appendChild(toggle(pinned ? `Unpin ${n.product_id}` : `Pin ${n.product_id}`, pinned, "pin", () => {
      if (pinned) state.pinned.delete(n.product_id); else { state.pinned.set(n.product_id, 1); state.excluded.delete(n.product_id); }
      reviewProblem();
      renderAnalogues(neighbours, f);
      refocus(n.product_id, "pin", index);
    }));
    row.insertCell().appendChild(toggle(excluded ? `Include ${n.product_id}` : `Exclude ${n.product_id}`, excluded, "exclude", () => {
      if (excluded) state.excluded.delete(n.product_id); else { state.excluded.add(n.product_id); state.pinned.delete(n.product_id); }
      reviewProblem();
      renderAnalogues(neighbours, f);
      refocus(n.product_id, "exclude", index);
    }));
  });
}

// The table is drawn anew on each toggle, so the button pressed is gone: the focus goes to its
// counterpart in the same row (Pin -> Unpin), or, when the row went with it (an unpinned product
// the forecast did not choose), to the same column of the row now in its place, so a keyboard
// user goes on from where they were.
function refocus(id, control, index) {
  const rows = [...$("analogues").querySelectorAll("tbody tr[data-product-id]")];
  const row = rows.find((r) => r.dataset.productId === id) || rows[Math.min(index, rows.length - 1)];
  (row ? row.querySelector(`[data-control="${control}"]`) : $("pin-id")).focus();
}
