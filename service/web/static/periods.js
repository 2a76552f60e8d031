/* Periods as the service counts them: days, weeks or months since launch. */

import { config } from "./state.js";

// ---------------------------------------------------------------- periods (as the service counts them)
const parseDay = (text) => new Date(text + "T00:00:00Z");
export const isoDay = (date) => date.toISOString().slice(0, 10);

function addMonths(date, months) {
  const y = date.getUTCFullYear(), m = date.getUTCMonth() + months, d = date.getUTCDate();
  const last = new Date(Date.UTC(y, m + 1, 0)).getUTCDate();
  return new Date(Date.UTC(y, m, Math.min(d, last)));
}

export function stepStart(launch, step) {
  const day = parseDay(launch);
  if (config.frequency === "M") return isoDay(addMonths(day, step - 1));
  const days = (step - 1) * (config.frequency === "W" ? 7 : 1);
  return isoDay(new Date(day.getTime() + days * 86400000));
}

export function stepOf(launch, date) {
  const a = parseDay(launch), b = parseDay(date);
  const days = Math.round((b - a) / 86400000);
  if (config.frequency === "D") return days + 1;
  if (config.frequency === "W") return Math.floor(days / 7) + 1;
  let months = (b.getUTCFullYear() - a.getUTCFullYear()) * 12 + b.getUTCMonth() - a.getUTCMonth();
  if (addMonths(a, months) > b) months -= 1;
  return months + 1;
}
