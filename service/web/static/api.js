/* The API: the fetch wrapper, the status line, and the problem box. */

import { $, KEY, state } from "./state.js";

// ---------------------------------------------------------------- the API
export async function api(path, options = {}) {
  const headers = { Accept: "application/json", ...(options.headers || {}) };
  const key = sessionStorage.getItem(KEY);
  if (key) headers["X-API-Key"] = key;
  if (options.body !== undefined) headers["Content-Type"] = "application/json";
  let response;
  try {
    response = await fetch(path, {
      method: options.method || "GET", headers,
      body: options.body !== undefined ? JSON.stringify(options.body) : undefined,
    });
  } catch (error) {
    // fetch rejects only when no answer came at all (the service stopped, the network went):
    // the browser's own words for it ("Failed to fetch") tell a planner nothing.
    throw Object.assign(new Error("the service did not answer (is it running?)"), { status: 0, problem: null });
  }
  const body = await response.json().catch(() => null);
  if (!response.ok) {
    const error = new Error((body && body.detail) || `HTTP ${response.status}`);
    error.status = response.status;
    error.problem = body;
    throw error;
  }
  return body;
}

export function say(message) { $("status").textContent = message; }

// `action` titles the box for what failed ("Could not forecast", "Could not load the model's
// attributes"), unless the key is the reason, which is then said instead. `review`, when
// given, returns the errors listed that still stand: reviewProblem calls it as the planner
// steers the analogues, and the box goes once none does.
export function showProblem(error, action = "Could not forecast", review = null) {
  drawProblem(error, action);
  state.review = review && { error, action, review };
  say("");
}

function drawProblem(error, action) {
  const box = $("problem");
  box.textContent = "";
  const title = document.createElement("strong");
  title.textContent = error.status === 401 ? "The API key is missing or unknown: "
    : error.status === 403 ? "This key may not do that: " : `${action}: `;
  box.append(title, error.message);
  const errors = (error.problem && error.problem.errors) || [];
  if (errors.length) {
    const list = document.createElement("ul");
    for (const e of errors) {
      const item = document.createElement("li");
      item.textContent = `${e.field}: ${e.message}`;
      list.appendChild(item);
    }
    box.appendChild(list);
  }
  box.hidden = false;
}

export function clearProblem() { $("problem").hidden = true; $("problem").textContent = ""; state.review = null; }

// A problem about the pins or exclusions (a weight of 0, an analogue the API refused) once the
// planner changes them: gone when nothing it named still stands, else listing what does.
export function reviewProblem() {
  const shown = state.review;
  if (!shown) return;
  const errors = shown.review();
  if (!errors.length) { clearProblem(); return; }
  const listed = (e) => JSON.stringify(e.problem.errors.map((x) => [x.field, x.message]));
  const now = Object.assign(new Error(shown.error.message),
    { status: shown.error.status, problem: { ...shown.error.problem, errors } });
  if (listed(now) === listed(shown.error)) return;
  drawProblem(now, shown.action);
  shown.error = now;
}

// A refusal of the page's own, in the API's problem shape (showProblem lists its fields).
export const refusal = (message, field, detail) =>
  Object.assign(new Error(message), { problem: { errors: [{ field, message: detail }] } });
