/* The key, and the choices it reads: the active model's attributes (the form's fields,
 * their warnings) and the catalogue's product ids. */

import { $, KEY, state } from "./state.js";
import { api, say, showProblem, clearProblem } from "./api.js";
import { showOrder, showTrust, activeMetrics } from "./trust.js";

// ---------------------------------------------------------------- the key
export function initKey() {
  $("api-key").value = sessionStorage.getItem(KEY) || "";
  $("key-form").addEventListener("submit", async (event) => {
    event.preventDefault();
    const key = $("api-key").value.trim();
    if (key) sessionStorage.setItem(KEY, key); else sessionStorage.removeItem(KEY);
    await loadChoices();
  });
}

// ---------------------------------------------------------------- choices
// `retried`: asked from the attributes box's Retry button, whose place the fields then take.
export async function loadChoices(retried = false) {
  clearProblem();
  try {
    const listed = await api("/v1/attributes");
    state.attributes = listed.attributes;
    state.fieldsDrawn = true;
    renderAttributeFields();
    // Retried from the attributes box: the focus goes on to the first field in its place.
    const first = $("attribute-fields").querySelector("[data-attribute]");
    if (retried && first) first.focus();
    $("key-state").textContent = listed.model_version
      ? `model ${listed.model_version}` : "no model yet: forecasts come from launch curves";
  } catch (error) {
    $("key-state").textContent = "";
    showProblem(error, "Could not load the model's attributes");
    // Fields drawn already stay (the model's a moment ago); else the box says why it is empty.
    if (!state.fieldsDrawn) attributesUnavailable(error);
    return;
  }
  try {  // a read key may list the catalogue; a forecast key may not, and needs not
    const page = await api("/v1/products?limit=1000");
    const list = $("product-ids");
    list.textContent = "";
    for (const p of page.products) {
      const option = document.createElement("option");
      option.value = p.product_id;
      list.appendChild(option);
    }
  } catch (error) {
    if (error.status !== 403) showProblem(error, "Could not list the catalogue's products");
  }
  state.backtest = await activeMetrics();
  if (state.last) showOrder();  // a forecast drawn before the figures arrived gets them now
  showTrust();
}

// Why the attributes box has no fields: the key (enter it above), or a service that did not
// answer or failed (a Retry button asks again).
function attributesUnavailable(error) {
  const box = $("attribute-fields");
  box.textContent = "";
  const hint = document.createElement("p");
  hint.className = "hint";
  hint.textContent = error.status === 401 ? "The API key is missing or unknown: enter it above and press Use key."
    : error.status === 403 ? "This key may not read the model's attributes: enter another above."
      : error.status === 0 ? "The service did not answer, so the model's attributes could not be loaded. "
        : `The model's attributes could not be loaded (${error.message}). `;
  if (error.status !== 401 && error.status !== 403) {
    const retry = document.createElement("button");
    retry.type = "button";
    retry.id = "retry-attributes";
    retry.textContent = "Retry";
    retry.addEventListener("click", () => loadChoices(true));
    hint.appendChild(retry);
  }
  box.appendChild(hint);
}

// The attribute fields, drawn anew for the active model's attributes ("Use key" asks again),
// keeping what the planner had entered in those it still has: a value it no longer offers is
// said to be cleared, not dropped silently.
function renderAttributeFields() {
  const box = $("attribute-fields");
  const entered = new Map([...box.querySelectorAll("[data-attribute]")]
    .filter((input) => input.value !== "").map((input) => [input.dataset.attribute, input.value]));
  const cleared = [];
  box.textContent = "";
  if (!state.attributes.length) {
    box.innerHTML = '<p class="hint">The active model knows no attributes yet.</p>';
    return;
  }
  for (const attribute of state.attributes) {
    const field = document.createElement("div");
    field.className = "field";
    const id = "attr-" + attribute.name.replace(/[^A-Za-z0-9_-]/g, "_");
    const label = document.createElement("label");
    label.htmlFor = id;
    label.textContent = attribute.name;
    let input;
    if (attribute.kind === "categorical") {
      input = document.createElement("select");
      input.add(new Option("(not set)", ""));
      for (const v of attribute.values) input.add(new Option(`${v.value} (${v.count})`, v.value));
    } else {
      input = document.createElement("input");
      input.type = "number";
      input.step = "any";
      if (attribute.median !== null) input.placeholder = `median ${attribute.median}`;
      const range = document.createElement("small");
      if (attribute.min !== null) range.textContent = ` ${attribute.min} to ${attribute.max}`;
      label.appendChild(range);
    }
    input.id = id;
    input.dataset.attribute = attribute.name;
    input.dataset.kind = attribute.kind;
    if (entered.has(attribute.name)) {
      input.value = entered.get(attribute.name);
      if (input.value !== entered.get(attribute.name)) {
        cleared.push(`${attribute.name} “${entered.get(attribute.name)}”`);
        input.value = "";  // "(not set)" shown, not a blank select
      }
    }
    field.append(label, input);
    if (attribute.kind !== "categorical") {
      // Flagged as typed, beside the field, before anything is sent.
      const warning = document.createElement("small");
      warning.id = id + "-warning";
      warning.className = "field-warning";
      warning.setAttribute("role", "status");
      warning.hidden = true;
      input.setAttribute("aria-describedby", warning.id);
      const flag = () => {
        warning.textContent = rangeWarning(attribute, input.value);
        warning.hidden = !warning.textContent;
      };
      input.addEventListener("input", flag);
      flag();  // a value kept from before is judged against this model's range
      field.appendChild(warning);
    }
    box.appendChild(field);
  }
  if (cleared.length) say(`Not among the active model's choices, so cleared: ${cleared.join(", ")}.`);
}

// A numeric attribute outside the range of the catalogue the model learnt from (a price typed
// in cents, an extra zero): no known product is like it, and the model only extrapolates, so
// the planner is asked to check it. A warning, not a refusal: a new line may well go beyond.
function rangeWarning(attribute, text) {
  if (text === "" || attribute.min == null || attribute.max == null) return "";  // null or absent
  const value = Number(text);
  if (!Number.isFinite(value) || (value >= attribute.min && value <= attribute.max)) return "";
  return `${attribute.name} ${value} is outside the catalogue's range (${attribute.min} to ` +
    `${attribute.max}): no known product is like it; check the value.`;
}

// The warnings of the values typed (numeric attributes out of range, a decimal comma in the
// early sales), repeated with the forecast they went into.
export function inputWarnings() {
  const out = [];
  for (const attribute of state.attributes) {
    const input = document.querySelector(`#attribute-fields [data-attribute="${CSS.escape(attribute.name)}"]`);
    if (input && attribute.kind !== "categorical") out.push(rangeWarning(attribute, input.value));
  }
  out.push(historyWarning($("history").value));
  return out.filter(Boolean);
}

// Early sales as typed: a comma, a semicolon or a space separates periods.
export const historyValues = (text) => text.split(/[,;\s]+/).filter((x) => x !== "").map(Number);

// "1,5" goes as two periods here (1 and 5), yet is one and a half with a decimal comma: say
// how it is read when a comma between two digits could be a decimal one, that is when it
// stands alone between spaces or semicolons ("1,5 2,5"); "40,55,61" is a list, not decimals.
function historyWarning(text) {
  const token = text.split(/[;\s]+/).find((t) => /^\d+,\d+,?$/.test(t));
  const pair = token && token.match(/(\d+),(\d+)/);
  return pair ? `early sales: “${pair[0]}” is read as two periods, ${pair[1]} and ${pair[2]}; ` +
    `for a decimal, type a point (${pair[1]}.${pair[2]}).` : "";
}

export function showHistoryWarning() {
  $("history-warning").textContent = historyWarning($("history").value);
  $("history-warning").hidden = !$("history-warning").textContent;
}

export function describedAttributes() {
  const out = {};
  for (const input of document.querySelectorAll("#attribute-fields [data-attribute]")) {
    if (input.value === "") continue;
    out[input.dataset.attribute] = input.dataset.kind === "numeric" ? Number(input.value) : input.value;
  }
  return out;
}
