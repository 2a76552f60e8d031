/* The planner's desk: describe or pick a product, see its forecast, steer its analogues,
 * compare variants. Talks only to this service's own API, with the key kept for the tab
 * (sessionStorage). No framework: a few functions over the DOM. */
"use strict";

(function () {
  const config = JSON.parse(document.getElementById("config").textContent);
  const $ = (id) => document.getElementById(id);
  const KEY = "launchcast.apiKey";
  const MAX_VARIANTS = 4;
  const LOW = 0.1, HIGH = 0.9;
  // Line styles of the compared variants: a dash pattern and a colour each.
  const VARIANT_STYLES = [
    { dash: "solid", color: "#1b4f9c" }, { dash: "dash", color: "#b3450e" },
    { dash: "dot", color: "#2d7a36" }, { dash: "dashdot", color: "#6b2d8f" },
  ];

  const state = {
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

  // ---------------------------------------------------------------- the API
  async function api(path, options = {}) {
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

  function say(message) { $("status").textContent = message; }

  // `action` titles the box for what failed ("Could not forecast", "Could not load the model's
  // attributes"), unless the key is the reason, which is then said instead. `review`, when
  // given, returns the errors listed that still stand: reviewProblem calls it as the planner
  // steers the analogues, and the box goes once none does.
  function showProblem(error, action = "Could not forecast", review = null) {
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

  function clearProblem() { $("problem").hidden = true; $("problem").textContent = ""; state.review = null; }

  // A problem about the pins or exclusions (a weight of 0, an analogue the API refused) once the
  // planner changes them: gone when nothing it named still stands, else listing what does.
  function reviewProblem() {
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
  const refusal = (message, field, detail) =>
    Object.assign(new Error(message), { problem: { errors: [{ field, message: detail }] } });

  // ---------------------------------------------------------------- periods (as the service counts them)
  const parseDay = (text) => new Date(text + "T00:00:00Z");
  const isoDay = (date) => date.toISOString().slice(0, 10);

  function addMonths(date, months) {
    const y = date.getUTCFullYear(), m = date.getUTCMonth() + months, d = date.getUTCDate();
    const last = new Date(Date.UTC(y, m + 1, 0)).getUTCDate();
    return new Date(Date.UTC(y, m, Math.min(d, last)));
  }

  function stepStart(launch, step) {
    const day = parseDay(launch);
    if (config.frequency === "M") return isoDay(addMonths(day, step - 1));
    const days = (step - 1) * (config.frequency === "W" ? 7 : 1);
    return isoDay(new Date(day.getTime() + days * 86400000));
  }

  function stepOf(launch, date) {
    const a = parseDay(launch), b = parseDay(date);
    const days = Math.round((b - a) / 86400000);
    if (config.frequency === "D") return days + 1;
    if (config.frequency === "W") return Math.floor(days / 7) + 1;
    let months = (b.getUTCFullYear() - a.getUTCFullYear()) * 12 + b.getUTCMonth() - a.getUTCMonth();
    if (addMonths(a, months) > b) months -= 1;
    return months + 1;
  }

  // ---------------------------------------------------------------- the key
  function initKey() {
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
  async function loadChoices(retried = false) {
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

  // What to order for the total at the chosen service level: the total's quantile at that
  // level (a planner orders to cover demand, and the median point falls short of it as often as
  // not), with how often such an order covered the totals in the backtest.
  function showOrder() {
    const f = forecastOf();
    const band = f.total && f.total.quantiles;
    const asked = state.last.request.quantiles;
    const level = asked.find((q) => q > 0.5 && q === serviceLevel()) || null;
    const quantity = level && band ? band[String(level)] : undefined;
    const established = f.method.startsWith("statistical:");
    $("order").hidden = quantity === undefined && !established;
    if (quantity === undefined) {
      // Say why rather than leave the planner's service level unanswered (CHANGELOG.md: such a
      // band, tried, held 50-88% of the totals on real series).
      if (established) {
        $("order").textContent = "No order quantity for an established product yet: its own " +
          "history is too short to calibrate a band for its total. Its weekly 10–90% band is drawn below.";
      }
      return;
    }
    const percent = Math.round(100 * level);
    $("order").textContent = `To cover the total demand at ${article(percent)} ${percent}% service level, ` +
      `order ${fmt(quantity)} units (the total's ${percent}% quantile).` + orderEvidence(f, level);
  }

  // "an 80%", "an 8%", "an 11%", "an 18%": the article goes by how the number is said.
  const article = (n) => (/^8/.test(String(n)) || n === 11 || n === 18 ? "an" : "a");

  // How often the backtest's totals were at or below their quantile at `level`, for the method
  // that answered, over the periods it scored ("" when the metrics do not say).
  function orderEvidence(f, level) {
    const b = state.backtest ? backtestOf(state.backtest, f) : null;
    const unit = periodWord();
    if (!b) return "";
    if (b.missing) {
      return ` This model's backtest has no figure for how often such an order covered the totals ` +
        `of ${b.missing} forecasts${b.warm ? ` made after their first ${unit} were seen` : ""}.`;
    }
    const share = (b.scores.total_service_levels || {})[String(level)];
    if (share === undefined || share === null) return "";
    const [first, last] = stepsOf(f);
    // The order is for the forecast's periods; the backtest summed its own: say so when they differ.
    const span = first === b.first && last === b.last ? "." : ` only; this order is for ${unit} ${first}–${last}.`;
    return ` In the backtest, such an order covered ${Math.round(100 * share)}% of the launches' ` +
      `totals over ${unit} ${b.first}–${b.last}${span}`;
  }

  function showTrust() {
    const line = state.backtest && state.last ? trustLine(state.backtest, forecastOf()) : null;
    $("trust").hidden = !line;
    $("trust").textContent = line || "";
  }

  // The active model's backtest (a read key may see it; a forecast key, or a service without a
  // model, sees none and the page says nothing of trust).
  async function activeMetrics() {
    try {
      const m = (await api("/v1/models/active")).metrics || {};
      const served = (m.methods || {}).served;
      return served && served.wape !== null && served.wape !== undefined ? m : null;
    } catch (error) {
      return null;
    }
  }

  // The first and last periods the drawn forecast covers.
  const stepsOf = (f) => [f.points[0].step, f.points[f.points.length - 1].step];

  const periodWord = () => ({ D: "days", W: "weeks", M: "months" }[config.frequency] || "periods");

  // Which of the backtest's figures describe the forecast `f`: those of the method that
  // answered (a pin or an exclusion can switch the served gbm to neighbours, whose figures are
  // not gbm's), cold or after its first periods seen. {scores, first, last} with the periods
  // they were scored over (and `warmup` when they are a warm-up's); {missing: method, warm}
  // when the backtest scored no such forecast; null for an established product (trustLine
  // quotes the statistical path's figures).
  function backtestOf(m, f) {
    // Established by the method that answered: the service forecasts a product that saw exactly
    // launch_steps periods as a launch still (gbm after its first 12 weeks), not statistically.
    if (f.method.startsWith("statistical:")) return null;
    const observed = f.points[0].step - 1;
    const served = f.method === m.served_method;
    if (observed > 0) {
      // The backtest's warm-ups were scored for the served method only.
      const w = served ? warmupScored(m, observed) : null;
      if (w) return { scores: w.warm, first: w.scored_steps[0], last: w.scored_steps[1], warmup: w };
      if (!served) return { missing: f.method, warm: true };
    }
    const methods = m.methods || {};
    const scores = served ? methods.served || methods[f.method] : methods[f.method];
    if (!scores || scores.wape === null || scores.wape === undefined) return { missing: f.method, warm: false };
    return { scores, first: 1, last: m.launch_steps };
  }

  // How far to trust a forecast, in one sentence from the backtest of the method that answered:
  // the cold-start figures, or for a forecast that saw its first periods, the backtest's warm-ups
  // after the most periods it scored that do not exceed them (a forecast that saw 3 weeks is
  // described by the warm-ups after 2: the sentence never claims more was seen than was), or for
  // an established product, the statistical path's. When the forecast covers other periods
  // than the figures were scored over (another horizon), a last sentence says so.
  function trustLine(m, f) {
    const unit = periodWord();
    const band = (s) => (s.coverage === null || s.coverage === undefined ? ""
      : `; its 10–90% band held ${Math.round(100 * s.coverage)}% of the actual ${unit}` +
        (s.total_coverage === null || s.total_coverage === undefined ? ""
          : `, and its band for a product's total held ${Math.round(100 * s.total_coverage)}% of the totals`));
    // A median point sums short of what sold: the planner ordering for a collection should know.
    const summed = (s) => (s.bias === null || s.bias === undefined || Math.abs(s.bias) < 5 ? ""
      : `; summed, they came to ${Math.round(Math.abs(s.bias))}% ${s.bias < 0 ? "less" : "more"} ` +
        "than was sold");
    const b = backtestOf(m, f);
    if (!b) {  // an established product: the statistical path's figures
      const st = m.statistical;
      if (!st || st.wape === null || st.wape === undefined) return null;
      const ahead = f.points.length === st.horizon ? ""
        : ` These figures are for ${st.horizon} ${unit} ahead; this forecast runs ${f.points.length}.`;
      return `How far to trust it: in this model's backtest, on ${st.n_products} established ` +
        `products with their last ${st.horizon} ${unit} held out, forecasts were off by ` +
        `${fmt(st.wape)}% of their sales (WAPE; repeating the last ${unit.slice(0, -1)}: ` +
        `${fmt(st.naive_wape)}%)${band(st)}.${ahead}`;
    }
    if (b.missing) {  // said plainly rather than quoting another method's figures
      return `How far to trust it: this forecast came from the ${b.missing} method, and this ` +
        `model's backtest has no figure for ${b.missing} forecasts` +
        `${b.warm ? ` made after their first ${unit} were seen` : ""}.`;
    }
    const [first, last] = stepsOf(f);
    const same = first === b.first && last === b.last;
    const span = same ? "" : ` These figures are for ${unit} ${b.first}–${b.last} only; this forecast ` +
      `covers ${unit} ${first}–${last}.`;
    if (b.warmup) {
      const w = b.warmup;
      return `How far to trust it: in this model's backtest, products launched after the ones ` +
        `it learnt from, forecast with their first ${w.observed_steps} ${unit} seen, were off by ` +
        `${fmt(w.warm.wape)}% of their sales in ${unit} ${b.first}–${b.last} (WAPE; ${fmt(w.cold_wape)}% ` +
        `forecast before launch)${summed(w.warm)}${band(w.warm)}.${span}`;
    }
    const s = b.scores;
    const over = same ? `over ${m.launch_steps} ${unit}` : `over their first ${m.launch_steps} ${unit}`;
    return `How far to trust it: in this model's backtest, on ${m.n_test} products launched ` +
      `after the ones it learnt from, ${f.method} forecasts were off by ${fmt(s.wape)}% ` +
      `of their sales ${over} (WAPE)${summed(s)}${band(s)}.${span}`;
  }

  // The backtest's warm-ups after the most periods it scored that do not exceed `observed`.
  function warmupScored(m, observed) {
    const seen = Object.keys(m.warmup || {}).map(Number)
      .filter((k) => k >= 1 && k <= observed && (m.warmup[String(k)].warm || {}).wape != null);
    return seen.length ? m.warmup[String(Math.max(...seen))] : null;
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
  function inputWarnings() {
    const out = [];
    for (const attribute of state.attributes) {
      const input = document.querySelector(`#attribute-fields [data-attribute="${CSS.escape(attribute.name)}"]`);
      if (input && attribute.kind !== "categorical") out.push(rangeWarning(attribute, input.value));
    }
    out.push(historyWarning($("history").value));
    return out.filter(Boolean);
  }

  // Early sales as typed: a comma, a semicolon or a space separates periods.
  const historyValues = (text) => text.split(/[,;\s]+/).filter((x) => x !== "").map(Number);

  // "1,5" goes as two periods here (1 and 5), yet is one and a half with a decimal comma: say
  // how it is read when a comma between two digits could be a decimal one, that is when it
  // stands alone between spaces or semicolons ("1,5 2,5"); "40,55,61" is a list, not decimals.
  function historyWarning(text) {
    const token = text.split(/[;\s]+/).find((t) => /^\d+,\d+,?$/.test(t));
    const pair = token && token.match(/(\d+),(\d+)/);
    return pair ? `early sales: “${pair[0]}” is read as two periods, ${pair[1]} and ${pair[2]}; ` +
      `for a decimal, type a point (${pair[1]}.${pair[2]}).` : "";
  }

  function showHistoryWarning() {
    $("history-warning").textContent = historyWarning($("history").value);
    $("history-warning").hidden = !$("history-warning").textContent;
  }

  function describedAttributes() {
    const out = {};
    for (const input of document.querySelectorAll("#attribute-fields [data-attribute]")) {
      if (input.value === "") continue;
      out[input.dataset.attribute] = input.dataset.kind === "numeric" ? Number(input.value) : input.value;
    }
    return out;
  }

  // ---------------------------------------------------------------- forecasting
  const mode = () => document.querySelector('input[name="mode"]:checked').value;

  async function productRequest() {
    // Empty means the default; anything else goes as typed, so 0 or 1.5 gets the API's 422
    // naming horizon instead of silently becoming 12 periods.
    const typed = $("horizon").value.trim();
    const horizon = typed === "" ? 12 : Number(typed);
    if (mode() === "catalogue") {
      const id = $("product-id").value.trim();
      if (!id) throw Object.assign(new Error("choose a catalogue product"), { problem: null });
      const stored = await api(`/v1/products/${encodeURIComponent(id)}`);
      const sales = stored.n_observations
        ? (await api(`/v1/products/${encodeURIComponent(id)}/sales`)).observations : [];
      const launch = stored.launch_date || stored.first_sale_date;
      const product = { product_id: id, attributes: stored.attributes, launch_date: launch };
      if ($("use-sales").checked && sales.length) {
        product.history = sales.map((s) => ({ date: s.date, quantity: s.quantity }));
      }
      return { horizon, product, actuals: stepTotals(launch, sales), label: id,
        description: describe(stored.attributes, launch) };
    }
    const launch = $("launch-date").value;
    if (!launch) throw Object.assign(new Error("give the launch date"), { problem: { errors: [{ field: "launch_date", message: "required for a new product" }] } });
    const attributes = describedAttributes();
    const product = { attributes, launch_date: launch };
    const history = historyValues($("history").value);
    if (history.some((x) => !Number.isFinite(x))) {
      throw Object.assign(new Error("first periods of sales must be numbers"), { problem: null });
    }
    // The API stores negative quantities as net returns, but early sales of a launch cannot be
    // below zero: a typo (or a minus meant as a dash) is refused here, naming the field.
    const negative = history.findIndex((x) => x < 0);
    if (negative >= 0) {
      throw refusal("early sales cannot be negative", "First periods of sales",
        `period ${negative + 1} is ${history[negative]} (type 0 for a period with no sales)`);
    }
    if (history.length) product.history = history.map((q, i) => ({ date: stepStart(launch, i + 1), quantity: q }));
    const actuals = history.map((q, i) => [i + 1, q]);
    return { horizon, product, actuals, label: describe(attributes, launch), description: describe(attributes, launch),
      notes: inputWarnings() };
  }

  function describe(attributes, launch) {
    const parts = Object.entries(attributes || {}).filter(([, v]) => v !== null && v !== "").map(([k, v]) => `${k}=${v}`);
    return `${parts.join(", ") || "no attributes"}; launch ${launch}`;
  }

  function stepTotals(launch, sales) {
    const totals = new Map();
    for (const s of sales) {
      const step = stepOf(launch, s.date);
      if (step >= 1) totals.set(step, (totals.get(step) || 0) + s.quantity);
    }
    if (!totals.size) return [];
    const last = Math.max(...totals.keys());
    return Array.from({ length: last }, (_, i) => [i + 1, totals.get(i + 1) || 0]);
  }

  // The pinned weights the API would refuse (it takes weights above 0 only), as problem errors.
  const weightErrors = () => [...state.pinned]
    .filter(([, weight]) => !(Number.isFinite(weight) && weight > 0))
    .map(([id, weight]) => ({ field: `weight of ${id}`, message: `${weight} is not more than 0` }));

  // Of the API's errors naming a pinned or excluded analogue by its place in the request sent
  // (products[0].analogues[j]...), those whose product is still pinned (or excluded); any other
  // error stands until the next forecast.
  function refusedAnalogues(errors, sent) {
    return () => errors.filter((e) => {
      const named = /^products\[0\]\.(analogues|exclude_analogues)\[(\d+)\]/.exec(e.field);
      if (!named) return true;
      if (named[1] === "exclude_analogues") return state.excluded.has((sent.exclude_analogues || [])[named[2]]);
      const pin = (sent.analogues || [])[named[2]];
      return !pin || state.pinned.has(pin.product_id);
    });
  }

  async function runForecast() {
    clearProblem();
    // A pinned weight the API would refuse is named here, and the table stays so it can be
    // corrected; the problem goes as soon as it is (or the product unpinned).
    const bad = weightErrors();
    if (bad.length) {
      const named = new Set(bad.map((e) => e.field));  // later reviews drop, never add, a weight
      showProblem(Object.assign(new Error("a pinned analogue's weight must be more than 0 (unpin it to leave it out)"),
        { problem: { errors: bad } }), undefined, () => weightErrors().filter((e) => named.has(e.field)));
      return;
    }
    // Only the newest request may draw: a slower earlier answer must not replace it.
    const ticket = (state.ticket = (state.ticket || 0) + 1);
    let product;  // as sent, once built: the API's errors name its analogues by their place in it
    const fail = (error) => {
      if (ticket !== state.ticket) return;
      state.settled = ticket;
      const errors = (error.problem && error.problem.errors) || [];
      // What it names among the analogues goes from the box once unpinned or included again.
      showProblem(error, undefined, product && errors.length ? refusedAnalogues(errors, product) : null);
      // A refusal of only the pinned or excluded analogues (one launched after the product, or
      // unknown to the model): the table stays, so the planner can unpin what the API named.
      if (state.last && errors.length &&
          errors.every((e) => /^products\[0\]\.(analogues|exclude_analogues)\b/.test(e.field))) return;
      // Otherwise the previous forecast is not this request's answer: hidden, so no order,
      // comparison or CSV is taken from it.
      $("result").hidden = true;
      state.last = null;
    };
    let asked;
    try {
      asked = await productRequest();
    } catch (error) {
      fail(error);
      return;
    }
    product = { ...asked.product };
    if (state.pinned.size) {
      product.analogues = [...state.pinned].map(([product_id, weight]) => ({ product_id, weight }));
    }
    if (state.excluded.size) product.exclude_analogues = [...state.excluded];
    const levels = [...new Set([LOW, 0.5, HIGH, serviceLevel()])].sort((a, b) => a - b);
    const body = { horizon: asked.horizon, quantiles: levels, products: [product] };
    // A forecast key may not see other products: ask for explanations only when allowed.
    const explained = { ...body, details: ["curves", "drivers"] };
    say("Forecasting…");
    let answer;
    try {
      answer = await api("/v1/forecasts", { method: "POST", body: explained });
    } catch (error) {
      if (error.status !== 403) { fail(error); return; }
      try {
        answer = await api("/v1/forecasts", { method: "POST", body });
      } catch (again) { fail(again); return; }
    }
    if (ticket !== state.ticket) return;
    state.settled = ticket;
    state.last = { request: body, answer, ...asked };
    renderResult();
    say(`Forecast ready: ${answer.forecasts[0].method}, model ${answer.model_version || "none (launch curves)"}.`);
  }

  const forecastOf = () => state.last.answer.forecasts[0];
  const serviceLevel = () => Number($("service-level").value);
  const quantile = (point, level) => (point.quantiles || {})[String(level)];
  const fmt = (x) => (x === null || x === undefined ? "–" : Number(x).toLocaleString("en", { maximumFractionDigits: 1 }));

  function renderResult() {
    const f = forecastOf();
    $("result").hidden = false;
    // The total's own band (learnt on totals: the weeks' bands summed would be too wide); the
    // trust line says how often it held in the backtest.
    const band = f.total && f.total.quantiles;
    const range = band && band[String(LOW)] !== undefined && band[String(HIGH)] !== undefined
      ? ` (10–90%: ${fmt(band[String(LOW)])} to ${fmt(band[String(HIGH)])})` : "";
    const summary = $("result-summary");
    summary.textContent = `${state.last.description}: ${fmt(f.total.forecast)} units over ` +
      `periods ${f.points[0].step} to ${f.points[f.points.length - 1].step}${range}, method ${f.method}.`;
    showOrder();
    showTrust();
    // Attributes the planner left unset are one line, not one warning each.
    const missing = /^attribute (.+) is missing; treated as unknown$/;
    const unset = f.warnings.map((w) => w.match(missing)).filter(Boolean).map((m) => m[1]);
    const warnings = f.warnings.filter((w) => !missing.test(w));
    if (unset.length) warnings.unshift(`not set, so treated as unknown: ${unset.join(", ")}`);
    warnings.unshift(...(state.last.notes || []));  // the page's own, flagged as they were typed
    if (warnings.length) {
      const list = document.createElement("ul");
      list.className = "warnings";
      for (const warning of warnings) {
        const item = document.createElement("li");
        item.textContent = warning;
        list.appendChild(item);
      }
      summary.appendChild(list);
    }
    const series = [];
    series.push({ kind: "band", key: "band", name: "10–90% band", cls: "s-band",
      lo: f.points.map((p) => [p.step, quantile(p, LOW)]), hi: f.points.map((p) => [p.step, quantile(p, HIGH)]) });
    const neighbours = f.neighbours || [];
    neighbours.forEach((n, i) => {
      if (!n.curve) return;
      // clip: an analogue far above the forecast does not set the y-axis (see chart.js)
      series.push({ kind: "line", key: "analogue", name: `analogue ${n.product_id}`, cls: "s-analogue",
        dash: "dash", width: 1, clip: true, legend: i === neighbours.findIndex((m) => m.curve),
        legendName: "analogues' own launch curves",
        points: n.curve.map((y, j) => [j + 1, y]).slice(0, f.points[f.points.length - 1].step) });
    });
    if (state.last.actuals.length) {
      series.push({ kind: "line", key: "actual", name: "actual sales", cls: "s-actual", dash: "dot",
        markers: true, points: state.last.actuals });
    }
    series.push({ kind: "line", key: "forecast", name: "forecast", cls: "s-forecast", width: 3,
      points: f.points.map((p) => [p.step, p.forecast]) });
    LaunchChart.draw($("forecast-chart"), {
      id: "forecast", title: `Forecast chart: ${state.last.description}`, xLabel: "period since launch",
      yLabel: "units", series, legend: $("forecast-legend"),
    });
    renderTable(f);
    renderAnalogues(neighbours, f);
    renderDrivers(f);
  }

  function renderTable(f) {
    const table = $("forecast-table");
    const actual = new Map(state.last.actuals);
    table.innerHTML = "<thead><tr><th scope='col'>Period</th><th scope='col'>Starts</th><th scope='col'>Forecast</th>" +
      "<th scope='col'>10%</th><th scope='col'>90%</th><th scope='col'>Actual</th></tr></thead>";
    const body = document.createElement("tbody");
    for (const p of f.points) {
      const row = body.insertRow();
      for (const value of [p.step, p.start_date, fmt(p.forecast), fmt(quantile(p, LOW)), fmt(quantile(p, HIGH)), fmt(actual.get(p.step))]) {
        row.insertCell().textContent = value;
      }
    }
    table.appendChild(body);
  }

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

  function renderAnalogues(neighbours, f) {
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

  function renderDrivers(f) {
    const list = $("drivers");
    list.textContent = "";
    const drivers = f.drivers;
    if (!drivers) {
      // The statistical path forecasts a product from its own sales: nothing to attribute.
      $("drivers-summary").textContent = f.method.startsWith("statistical:")
        ? `No drivers for an established product: its forecast (${f.method}) comes from its own ` +
          "sales history, not from its attributes or analogues."
        : "No drivers in this answer (this key or this model does not give them).";
      return;
    }
    const entries = Object.entries(drivers.contributions).sort((a, b) => Math.abs(b[1]) - Math.abs(a[1]));
    const total = drivers.baseline + entries.reduce((sum, [, v]) => sum + v, 0);
    $("drivers-summary").textContent = `baseline ${fmt(drivers.baseline)} + contributions = ${fmt(total)} units`;
    const scale = Math.max(1e-9, ...entries.map(([, v]) => Math.abs(v)));
    // An attribute the product left unset still moves the forecast (the model has learnt what
    // an unknown value sells like): say so, or the planner reads it as the value's effect.
    const given = (state.last && state.last.product && state.last.product.attributes) || {};
    const unset = new Set(state.attributes.map((a) => a.name)
      .filter((name) => given[name] === undefined || given[name] === null || given[name] === ""));
    for (const [name, value] of entries) {
      const item = document.createElement("li");
      item.className = value >= 0 ? "up" : "down";
      const label = document.createElement("span");
      label.className = "bar-label";
      label.textContent = unset.has(name) ? `${name} (not set)` : name;
      const track = document.createElement("span");
      track.className = "bar-track";
      const bar = document.createElement("span");
      bar.className = "bar";
      bar.style.width = `${(Math.abs(value) / scale) * 100}%`;
      track.appendChild(bar);
      const number = document.createElement("span");
      number.className = "bar-value";
      number.textContent = (value >= 0 ? "+" : "−") + fmt(Math.abs(value));
      item.append(label, track, number);
      list.appendChild(item);
    }
  }

  // ---------------------------------------------------------------- CSV
  function downloadCsv() {
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

  // ---------------------------------------------------------------- variants
  function addVariant() {
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
})();
