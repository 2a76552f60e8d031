/* launchcast's own small SVG line chart: bands, lines and point markers over periods.
 *
 * Written here rather than vendored: the page needs four kinds of marks and a legend, and
 * drawing them as inline SVG keeps every line a DOM element (testable, printable, with a
 * <title> for hover) and its style a dash pattern as well as a colour (readable without colour).
 */
"use strict";

(function () {
  const SVG = "http://www.w3.org/2000/svg";
  const DASHES = { solid: "", dash: "9 5", dot: "2 4", dashdot: "12 4 3 4", long: "18 6" };
  const SIZE = { width: 760, height: 300, left: 56, right: 16, top: 14, bottom: 40 };
  // A container narrower than SIZE.width (a phone) gets a chart drawn at its own width, one unit
  // a pixel, so the 11 px labels show at 11 px instead of scaled down to 5; a wider one gets the
  // 760-unit chart scaled up, as on a desktop. Below MIN_WIDTH the chart is scaled down again.
  const MIN_WIDTH = 240;
  // How far series marked `clip` (the analogues' own curves) may stretch the y-axis above the
  // others (the forecast, its band, the actuals): one analogue that sold several times more
  // must not squash the forecast flat. Above that they are cut at the top, with a mark.
  const CLIP_HEADROOM = 1.25;

  function el(name, attrs, parent) {
    const node = document.createElementNS(SVG, name);
    for (const [key, value] of Object.entries(attrs || {})) {
      if (value !== undefined && value !== null) node.setAttribute(key, String(value));
    }
    if (parent) parent.appendChild(node);
    return node;
  }

  function niceStep(span, ticks) {
    const raw = span / Math.max(ticks, 1);
    const power = Math.pow(10, Math.floor(Math.log10(raw || 1)));
    for (const m of [1, 2, 2.5, 5, 10]) {
      if (raw <= m * power) return m * power;
    }
    return 10 * power;
  }

  function extent(series) {
    let xMin = Infinity, xMax = -Infinity, yMain = 0, yClip = 0;
    for (const s of series) {
      const groups = s.kind === "band" ? [s.lo, s.hi] : [s.points];
      for (const points of groups) {
        for (const [x, y] of points) {
          if (y === null || !Number.isFinite(y)) continue;
          xMin = Math.min(xMin, x); xMax = Math.max(xMax, x);
          if (s.clip) yClip = Math.max(yClip, y); else yMain = Math.max(yMain, y);
        }
      }
    }
    if (!Number.isFinite(xMin)) { xMin = 1; xMax = 1; }
    if (xMax === xMin) xMax = xMin + 1;
    // Only clipped series (a forecast of zeros): they set the scale, there is nothing to squash.
    const yTop = yMain > 0 ? Math.max(yMain, Math.min(yClip, CLIP_HEADROOM * yMain)) : yClip;
    return { xMin, xMax, yMax: yTop > 0 ? yTop * 1.08 : 1 };
  }

  const number = (y) => Number(y).toLocaleString("en", { maximumFractionDigits: 1 });

  /* A path through the points, broken where a value is missing (null). */
  function pathOf(points, sx, sy) {
    let d = "", pen = false;
    for (const [x, y] of points) {
      if (y === null || !Number.isFinite(y)) { pen = false; continue; }
      d += (pen ? "L" : "M") + sx(x).toFixed(1) + "," + sy(y).toFixed(1);
      pen = true;
    }
    return d;
  }

  // The width to draw a chart at in `container`: its own when narrower than a desktop's chart,
  // else SIZE.width (also when it has no width yet: hidden, it is redrawn once it shows).
  function widthFor(container) {
    const own = Math.floor(container.clientWidth);
    return own > 0 && own < SIZE.width ? Math.max(own, MIN_WIDTH) : SIZE.width;
  }

  // Each container's last chart, redrawn when its width calls for another (a phone turned, a
  // window resized, a scrollbar come), in the next frame rather than inside the observer.
  const drawn = new WeakMap();  // container -> {spec, width}
  const resized = typeof ResizeObserver === "function" ? new ResizeObserver((entries) => {
    for (const entry of entries) {
      const container = entry.target, last = drawn.get(container);
      if (!last || widthFor(container) === last.width || last.pending) continue;
      last.pending = true;
      requestAnimationFrame(() => {
        if (drawn.get(container) === last) draw(container, last.spec);
      });
    }
  }) : null;

  function draw(container, spec) {
    const { height, left, right, top, bottom } = SIZE;
    const width = widthFor(container);
    drawn.set(container, { spec, width });
    if (resized) resized.observe(container);
    const box = extent(spec.series);
    const sx = (x) => left + ((x - box.xMin) / (box.xMax - box.xMin)) * (width - left - right);
    const sy = (y) => top + (1 - y / box.yMax) * (height - top - bottom);
    container.textContent = "";
    const svg = el("svg", {
      viewBox: `0 0 ${width} ${height}`, role: "img", "aria-label": spec.title,
      class: "chart-svg", preserveAspectRatio: "xMidYMid meet",
    }, container);
    el("title", {}, svg).textContent = spec.title;
    const defs = el("defs", {}, svg);
    const hatch = el("pattern", {
      id: spec.id + "-hatch", width: 6, height: 6, patternUnits: "userSpaceOnUse",
      patternTransform: "rotate(45)",
    }, defs);
    el("rect", { width: 6, height: 6, class: "hatch-bg" }, hatch);
    el("line", { x1: 0, y1: 0, x2: 0, y2: 6, class: "hatch-line" }, hatch);
    // The plot area: clipped series are cut at its top rather than drawn over the margin.
    const plot = el("clipPath", { id: spec.id + "-plot" }, defs);
    el("rect", { x: left, y: top, width: width - left - right, height: height - top - bottom }, plot);
    const clipped = [];  // {name, x, y}: the clipped series that go above the scale, at their peak

    // Axes: y ticks at nice round numbers, x ticks at whole periods.
    const axes = el("g", { class: "axes", "aria-hidden": "true" }, svg);
    const yStep = niceStep(box.yMax, 5);
    for (let y = 0; y <= box.yMax + 1e-9; y += yStep) {
      el("line", { x1: left, x2: width - right, y1: sy(y), y2: sy(y), class: "grid" }, axes);
      el("text", { x: left - 6, y: sy(y) + 4, class: "tick", "text-anchor": "end" }, axes)
        .textContent = y >= 1000 ? (y / 1000).toFixed(y % 1000 ? 1 : 0) + "k" : String(+y.toFixed(2));
    }
    // Up to 12 period ticks, fewer where the plot is narrow (about 40 px each).
    const xTicks = Math.max(3, Math.min(12, Math.floor((width - left - right) / 40)));
    const xStep = Math.max(1, Math.ceil(niceStep(box.xMax - box.xMin, xTicks)));
    for (let x = Math.ceil(box.xMin); x <= box.xMax; x += xStep) {
      el("text", { x: sx(x), y: height - bottom + 16, class: "tick", "text-anchor": "middle" }, axes)
        .textContent = String(x);
    }
    el("line", { x1: left, x2: width - right, y1: sy(0), y2: sy(0), class: "axis" }, axes);
    el("text", { x: (left + width - right) / 2, y: height - 6, class: "axis-label", "text-anchor": "middle" }, axes)
      .textContent = spec.xLabel;
    el("text", { x: 12, y: top + (height - top - bottom) / 2, class: "axis-label", "text-anchor": "middle",
      transform: `rotate(-90 12 ${top + (height - top - bottom) / 2})` }, axes).textContent = spec.yLabel;

    for (const s of spec.series) {
      const g = el("g", { "data-series": s.key, class: "series " + (s.cls || "") }, svg);
      if (s.kind === "band") {
        const upper = pathOf(s.hi, sx, sy);
        const lower = s.lo.slice().reverse().map(([x, y]) => `L${sx(x).toFixed(1)},${sy(y).toFixed(1)}`).join("");
        if (upper) {
          el("path", { d: upper + lower + "Z", fill: `url(#${spec.id}-hatch)`, class: "band" }, g);
        }
      } else {
        const d = pathOf(s.points, sx, sy);
        if (!d) continue;
        if (s.clip) {
          g.setAttribute("clip-path", `url(#${spec.id}-plot)`);
          const peak = s.points.reduce((best, p) => (Number.isFinite(p[1]) && p[1] > best[1] ? p : best), [null, -Infinity]);
          if (peak[1] > box.yMax) {
            clipped.push({ name: s.name, x: peak[0], y: peak[1] });
            // A small upward triangle on the top edge where the line peaks out of view (drawn
            // outside the clipped group, so it shows).
            const cx = sx(peak[0]);
            const mark = el("path", {
              d: `M${(cx - 5).toFixed(1)},${top + 8}L${cx.toFixed(1)},${top}L${(cx + 5).toFixed(1)},${top + 8}Z`,
              class: "clip-mark",  // coloured by app.css: the page's CSP refuses style attributes
            }, svg);
            el("title", {}, mark).textContent = `${s.name} peaks at ${number(peak[1])} in period ${peak[0]}, above the scale`;
          }
        }
        const line = el("path", {
          d, class: "line", "stroke-dasharray": DASHES[s.dash || "solid"], "stroke-width": s.width || 2,
          "data-name": s.name,
        }, g);
        if (s.color) line.style.stroke = s.color;
        el("title", {}, line).textContent = s.name;
        if (s.markers) {
          for (const [x, y] of s.points) {
            if (y === null || !Number.isFinite(y)) continue;
            const dot = el("circle", { cx: sx(x), cy: sy(y), r: 3.5, class: "marker" }, g);
            if (s.color) dot.style.stroke = s.color;
            el("title", {}, dot).textContent = `${s.name}: period ${x}, ${y}`;
          }
        }
        if (s.endLabel) {
          const last = s.points.filter(([, y]) => y !== null && Number.isFinite(y)).pop();
          if (last) {  // stacked by series so labels of lines that end together stay apart
            const lift = 6 + 13 * (s.labelRow || 0);
            el("text", { x: sx(last[0]) - 4, y: sy(last[1]) - lift, class: "end-label", "text-anchor": "end" }, g)
              .textContent = s.endLabel;
          }
        }
      }
    }
    if (spec.legend) legend(spec.legend, spec, clipped);
    return svg;
  }

  /* The legend draws each series' own mark (dash pattern, hatch, markers) beside its name. */
  function legend(target, spec, clipped) {
    target.textContent = "";
    const list = document.createElement("ul");
    for (const s of spec.series) {
      if (s.legend === false) continue;
      const item = document.createElement("li");
      const sample = el("svg", { width: 40, height: 14, "aria-hidden": "true", class: "sample " + (s.cls || "") });
      if (s.kind === "band") {
        const defs = el("defs", {}, sample);
        const p = el("pattern", { id: spec.id + "-hatch-legend", width: 6, height: 6, patternUnits: "userSpaceOnUse", patternTransform: "rotate(45)" }, defs);
        el("rect", { width: 6, height: 6, class: "hatch-bg" }, p);
        el("line", { x1: 0, y1: 0, x2: 0, y2: 6, class: "hatch-line" }, p);
        el("rect", { x: 1, y: 1, width: 38, height: 12, fill: `url(#${spec.id}-hatch-legend)`, class: "band" }, sample);
      } else {
        const line = el("line", { x1: 2, x2: 38, y1: 7, y2: 7, class: "line", "stroke-dasharray": DASHES[s.dash || "solid"], "stroke-width": s.width || 2 }, sample);
        if (s.color) line.style.stroke = s.color;
        if (s.markers) {
          const dot = el("circle", { cx: 20, cy: 7, r: 3.5, class: "marker" }, sample);
          if (s.color) dot.style.stroke = s.color;
        }
      }
      item.appendChild(sample);
      item.append(" " + (s.legendName || s.name));
      list.appendChild(item);
    }
    if (clipped && clipped.length) {  // say which lines are cut, and how high they go
      // The highest three by name; the rest counted, so the note stays one line.
      const named = clipped.slice().sort((a, b) => b.y - a.y).slice(0, 3);
      const more = clipped.length - named.length;
      const note = document.createElement("li");
      note.className = "clip-note";
      note.textContent = "▲ above the scale, cut at the top: " +
        named.map((c) => `${c.name} (peak ${number(c.y)} in period ${c.x})`).join(", ") +
        (more ? ` and ${more} more` : "");
      list.appendChild(note);
    }
    target.appendChild(list);
  }

  window.LaunchChart = { draw, DASHES };
})();
