// The operators' dashboard. It reads the /v1 API of the origin that served it (fetch), keeps an
// API key in sessionStorage only (this tab; never localStorage, never a cookie) and draws the
// chart as SVG itself. Text from the API goes into the page through textContent only.
"use strict";

(() => {
  const KEY_NAME = "efp.apiKey";
  const SVG_NS = "http://www.w3.org/2000/svg";
  const HOUR = 3600 * 1000;
  const DAY = 24 * HOUR;
  const HISTORY_DAYS = 7;
  const $ = (id) => document.getElementById(id);
  const state = { auth: null, cities: [], production: new Set(), city: null, asOf: "", citySeq: 0, batchSeq: 0 };

  class ApiError extends Error {
    constructor(status, message) {
      super(message);
      this.status = status;
    }
  }

  // -- the API ---------------------------------------------------------------------------
  const storedKey = () => sessionStorage.getItem(KEY_NAME);

  function detailText(body, response) {
    const detail = body && body.detail;
    if (Array.isArray(detail)) return detail.map((d) => `${(d.loc || []).join(".")}: ${d.msg}`).join("; ");
    if (typeof detail === "string") return detail;
    return `${response.status} ${response.statusText}`;
  }

  async function api(path, body) {
    const headers = { Accept: "application/json" };
    if (body !== undefined) headers["Content-Type"] = "application/json";
    const key = storedKey();
    if (state.auth === "enabled" && key) headers["X-API-Key"] = key;
    // Relative paths: the API is wherever this page is (also behind a route prefix).
    const response = await fetch(path, {
      method: body === undefined ? "GET" : "POST", headers, credentials: "omit", cache: "no-store",
      body: body === undefined ? undefined : JSON.stringify(body),
    });
    let parsed = null;
    try {
      parsed = await response.json();
    } catch (_) {
      parsed = null;
    }
    if (!response.ok) throw new ApiError(response.status, detailText(parsed, response));
    return parsed;
  }

  const query = (params) => new URLSearchParams(params).toString();

  // -- time ------------------------------------------------------------------------------
  function cityTz() {
    const city = state.cities.find((c) => c.code === state.city);
    return city ? city.timezone : "UTC";
  }

  function offsetMinutes(tz, instant) {
    const part = new Intl.DateTimeFormat("en-US", { timeZone: tz, timeZoneName: "longOffset" })
      .formatToParts(new Date(instant)).find((p) => p.type === "timeZoneName");
    const match = /GMT([+-])(\d{1,2}):?(\d{2})?/.exec(part ? part.value : "");
    return match ? (match[1] === "-" ? -1 : 1) * (Number(match[2]) * 60 + Number(match[3] || 0)) : 0;
  }

  // "YYYY-MM-DDTHH:MM" on the city's clock -> epoch milliseconds.
  function localToInstant(naive, tz) {
    const [day, time] = naive.split("T");
    const [y, mo, d] = day.split("-").map(Number);
    const [h, mi] = time.split(":").map(Number);
    const wall = Date.UTC(y, mo - 1, d, h, mi);
    const guess = wall - offsetMinutes(tz, wall) * 60000;
    return wall - offsetMinutes(tz, guess) * 60000;
  }

  const iso = (instant) => new Date(instant).toISOString();

  function formatTime(instant, withZone) {
    const text = new Intl.DateTimeFormat("en-GB", {
      timeZone: cityTz(), day: "2-digit", month: "short", year: "numeric", hour: "2-digit", minute: "2-digit", hourCycle: "h23",
    }).format(new Date(instant));
    return withZone ? `${text} (${cityTz()})` : text;
  }

  const formatDay = (instant) => new Intl.DateTimeFormat("en-GB", { timeZone: cityTz(), weekday: "short", day: "2-digit", month: "short" })
    .format(new Date(instant));
  const formatMw = (value) => (value === null || value === undefined ? "-" : `${Math.round(value).toLocaleString("en-IN")} MW`);
  const hours = (ms) => `${(ms / HOUR).toFixed(1)} h`;

  // -- small DOM helpers -------------------------------------------------------------------
  function text(id, value) {
    $(id).textContent = value;
  }

  function element(tag, className, content) {
    const node = document.createElement(tag);
    if (className) node.className = className;
    if (content !== undefined) node.textContent = content;
    return node;
  }

  function svg(tag, attributes, content) {
    const node = document.createElementNS(SVG_NS, tag);
    for (const [name, value] of Object.entries(attributes)) node.setAttribute(name, String(value));
    if (content !== undefined) node.textContent = content;
    return node;
  }

  // -- authentication ------------------------------------------------------------------------
  function showKeyForm(problem) {
    $("board").hidden = true;
    $("forget-key").hidden = true;
    $("key-form").hidden = false;
    text("key-error", problem);
    $("api-key").focus();
  }

  function onKeySubmit(event) {
    event.preventDefault();
    const key = $("api-key").value.trim();
    if (!key) return;
    sessionStorage.setItem(KEY_NAME, key);
    $("api-key").value = "";
    openBoard().catch(showFailure);
  }

  function onForgetKey() {
    sessionStorage.removeItem(KEY_NAME);
    showKeyForm("");
  }

  function showFailure(error) {
    text("message", error instanceof Error ? error.message : String(error));
  }

  // -- the board -------------------------------------------------------------------------
  async function start() {
    const health = await api("healthz");
    state.auth = health.auth;
    const status = $("auth-status");
    if (health.auth === "disabled") {
      status.textContent = `Authentication is off: ${health.warning || "every caller is an admin"}`;
      status.classList.add("off");
    } else {
      status.textContent = "Authentication is on: requests carry your API key (X-API-Key).";
    }
    if (health.auth === "enabled" && !storedKey()) {
      showKeyForm("");
      return;
    }
    await openBoard();
  }

  async function openBoard() {
    try {
      [state.cities, state.models] = await Promise.all([api("v1/cities"), api("v1/models")]);
    } catch (error) {
      if (error.status === 401 || error.status === 403) {
        sessionStorage.removeItem(KEY_NAME);
        showKeyForm(`The key was refused: ${error.message}`);
        return;
      }
      throw error;
    }
    state.production = new Set(state.models.flatMap((m) => m.production_for || []));
    $("key-form").hidden = true;
    $("board").hidden = false;
    $("forget-key").hidden = state.auth !== "enabled";
    const params = new URLSearchParams(window.location.search);
    const select = $("city");
    select.replaceChildren();
    for (const city of state.cities) {
      const served = state.production.has(city.code);
      const option = element("option", null, `${city.code}: ${city.name}${served ? "" : " (no production model)"}`);
      option.value = city.code;
      select.append(option);
    }
    const wanted = (params.get("city") || "").toUpperCase();
    const fallback = state.cities.find((c) => state.production.has(c.code)) || state.cities[0];
    state.city = state.cities.some((c) => c.code === wanted) ? wanted : fallback && fallback.code;
    select.value = state.city;
    const asOf = params.get("as_of") || "";
    state.asOf = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}/.test(asOf) ? asOf.slice(0, 16) : "";
    $("as-of").value = state.asOf;
    await Promise.all([loadCity(), loadBatch()]);
  }

  function remember() {
    const params = new URLSearchParams({ city: state.city });
    if (state.asOf) params.set("as_of", state.asOf);
    window.history.replaceState(null, "", `${window.location.pathname}?${params}`);
  }

  function onCityChange() {
    state.city = $("city").value;
    remember();
    loadCity().catch(showFailure);
  }

  function onRefresh() {
    state.asOf = $("as-of").value ? $("as-of").value.slice(0, 16) : "";
    remember();
    Promise.all([loadCity(), loadBatch()]).catch(showFailure);
  }

  const settle = (promise) => promise.then((value) => ({ value }), (error) => ({ error }));

  async function loadCity() {
    const seq = ++state.citySeq;
    const city = state.city;
    const tz = cityTz();
    text("message", "");
    $("chart").setAttribute("data-state", "loading");
    const request = { city };
    if (state.asOf) request.as_of = `${state.asOf}:00`;
    const alerts = settle(api(`v1/alerts?${query({ city, limit: 100 })}`));
    const forecast = await settle(api("v1/forecast", request));
    const fc = forecast.value;
    const issue = fc ? Date.parse(fc.as_of) : state.asOf ? localToInstant(state.asOf, tz) : Date.now();
    const step = fc ? fc.resolution_minutes * 60000 : 15 * 60000;
    const first = fc ? Date.parse(fc.points[0].ts) : issue;
    const last = fc ? Date.parse(fc.points[fc.points.length - 1].ts) + step : issue;
    const from = first - HISTORY_DAYS * DAY;
    // Actuals through the forecast day itself: there are some when the issue time lies in the past.
    const actualsEnd = Math.min(last, Date.now());
    const [actuals, stored] = await Promise.all([
      settle(actualsEnd > from ? api(`v1/actuals?${query({ city, start: iso(from), end: iso(actualsEnd) })}`) : Promise.resolve({ points: [] })),
      settle(api(`v1/forecasts?${query({ city, start: iso(from), end: iso(first) })}`)),
    ]);
    const alertList = await alerts;
    if (seq !== state.citySeq) return; // the operator picked another city meanwhile
    const problems = [forecast, actuals, stored].filter((r) => r.error).map((r) => r.error.message);
    text("message", problems.join(" | "));
    showMeta(fc, issue, first);
    showDegraded(fc);
    drawChart({
      city, from, to: Math.max(last, first + DAY), step,
      actuals: actuals.value ? actuals.value.points.map((p) => ({ t: Date.parse(p.ts), v: p.load_mw })) : [],
      stored: stored.value ? chooseStored(stored.value) : [],
      forecast: fc ? fc.points.map((p) => ({ t: Date.parse(p.ts), p10: p.p10, p50: p.p50, p90: p.p90 })) : [],
    });
    showAlerts(alertList);
  }

  function showMeta(fc, issue, first) {
    text("chart-title", fc ? `Forecast for ${formatDay(first)} (${state.city})` : `No forecast for ${state.city}`);
    text("meta-version", fc ? fc.model_version : "-");
    text("meta-as-of", formatTime(issue, true));
    text("meta-lead", fc ? `${hours(first - issue)} from the issue time` +
      (fc.data_until ? `, ${hours(first - Date.parse(fc.data_until))} from data_until` : "") : "-");
    text("meta-data-until", fc && fc.data_until ? formatTime(Date.parse(fc.data_until), true) : "-");
    text("meta-issued", fc ? `${formatTime(Date.parse(fc.issued_at), false)}${fc.cached ? " (from the cache)" : ""}` : "-");
  }

  function showDegraded(fc) {
    const box = $("degraded");
    box.replaceChildren();
    const left = fc && fc.members ? fc.members.filter((m) => !m.used) : [];
    const notes = fc && fc.notes ? fc.notes : [];
    if (!fc || (!fc.degraded && notes.length === 0)) {
      box.hidden = true;
      return;
    }
    if (fc.degraded) {
      box.append(element("strong", null, "Degraded answer: "));
      box.append(document.createTextNode(left.map((m) => `${m.name} left out (${m.reason || "no reason given"})`).join("; ") || "a member was left out"));
    }
    for (const note of notes) box.append(element("div", null, `Note: ${note}`));
    box.hidden = false;
  }

  function showAlerts(result) {
    const list = $("alerts");
    list.replaceChildren();
    if (result.error) {
      list.append(element("li", "critical", `Alerts unavailable: ${result.error.message}`));
      return;
    }
    const open = result.value.filter((a) => a.resolved_at === null || a.resolved_at === undefined);
    if (open.length === 0) list.append(element("li", null, "No open alerts for this city."));
    for (const alert of open) {
      const item = element("li", alert.severity === "critical" ? "critical" : null,
        `[${alert.severity}] ${alert.kind}: ${alert.message} (since ${formatTime(Date.parse(alert.created_at), false)})`);
      item.setAttribute("data-kind", alert.kind);
      list.append(item);
    }
  }

  // For each past day, the forecast issued last before its first block (the day-ahead one);
  // a day forecast only after it began shows its earliest forecast.
  function chooseStored(forecasts) {
    const byDay = new Map();
    for (const f of forecasts) {
      if (!byDay.has(f.target_day)) byDay.set(f.target_day, []);
      byDay.get(f.target_day).push(f);
    }
    const chosen = [];
    for (const list of byDay.values()) {
      const ahead = list.filter((f) => Date.parse(f.as_of) <= Date.parse(f.points[0].ts));
      const latest = (a, b) => (Date.parse(b.as_of) > Date.parse(a.as_of) ? b : a);
      const earliest = (a, b) => (Date.parse(b.as_of) < Date.parse(a.as_of) ? b : a);
      const pick = ahead.length ? ahead.reduce(latest) : list.reduce(earliest);
      chosen.push(...pick.points.map((p) => ({ t: Date.parse(p.ts), v: p.p50, asOf: Date.parse(pick.as_of), version: pick.model_version })));
    }
    return chosen.sort((a, b) => a.t - b.t);
  }

  // -- the chart -----------------------------------------------------------------------------
  function niceTicks(lo, hi, count) {
    const raw = (hi - lo) / count;
    const magnitude = 10 ** Math.floor(Math.log10(raw));
    const step = [1, 2, 2.5, 5, 10].map((m) => m * magnitude).find((s) => s >= raw) || raw;
    const ticks = [];
    for (let v = Math.ceil(lo / step) * step; v <= hi + 1e-9; v += step) ticks.push(v);
    return ticks;
  }

  // "M x y L x y ..." over points, starting a new subpath where blocks are missing.
  function linePath(points, x, y, value, step) {
    let d = "";
    let previous = null;
    for (const p of points) {
      const gap = previous === null || p.t - previous > step * 1.5;
      d += `${gap ? "M" : "L"}${x(p.t).toFixed(1)},${y(value(p)).toFixed(1)}`;
      previous = p.t;
    }
    return d;
  }

  function drawChart(data) {
    const chart = $("chart");
    chart.replaceChildren();
    const width = chart.clientWidth || 1000;
    const height = chart.clientHeight || 380;
    chart.setAttribute("viewBox", `0 0 ${width} ${height}`);
    const margin = { left: 70, right: 16, top: 12, bottom: 30 };
    const values = [
      ...data.actuals.map((p) => p.v), ...data.stored.map((p) => p.v),
      ...data.forecast.flatMap((p) => [p.p10, p.p90]),
    ].filter((v) => Number.isFinite(v));
    let lo = values.length ? Math.min(...values) : 0;
    let hi = values.length ? Math.max(...values) : 1;
    const pad = (hi - lo || Math.abs(hi) || 1) * 0.08;
    lo = Math.max(0, lo - pad);
    hi += pad;
    const x = (t) => margin.left + ((t - data.from) / (data.to - data.from)) * (width - margin.left - margin.right);
    const y = (v) => height - margin.bottom - ((v - lo) / (hi - lo)) * (height - margin.top - margin.bottom);

    for (const tick of niceTicks(lo, hi, 5)) {
      chart.append(svg("line", { class: "grid", x1: margin.left, x2: width - margin.right, y1: y(tick), y2: y(tick) }));
      chart.append(svg("text", { class: "tick", x: margin.left - 6, y: y(tick) + 4, "text-anchor": "end" }, Math.round(tick).toLocaleString("en-IN")));
    }
    chart.append(svg("text", { class: "tick", x: 4, y: margin.top + 8 }, "MW"));
    for (let t = data.from; t <= data.to; t += DAY) {
      chart.append(svg("line", { class: "axis", x1: x(t), x2: x(t), y1: margin.top, y2: height - margin.bottom }));
      if (t < data.to) chart.append(svg("text", { class: "tick", x: x(t + DAY / 2), y: height - 10, "text-anchor": "middle" }, formatDay(t)));
    }

    const fc = data.forecast;
    if (fc.length) {
      const upper = fc.map((p) => `${x(p.t).toFixed(1)},${y(p.p90).toFixed(1)}`);
      const lower = fc.slice().reverse().map((p) => `${x(p.t).toFixed(1)},${y(p.p10).toFixed(1)}`);
      chart.append(svg("path", { class: "band", id: "forecast-band", d: `M${upper.join("L")}L${lower.join("L")}Z` }));
    }
    chart.append(svg("path", { class: "actual", id: "actual-line", d: linePath(data.actuals, x, y, (p) => p.v, data.step), "data-points": data.actuals.length }));
    chart.append(svg("path", { class: "stored", id: "stored-line", d: linePath(data.stored, x, y, (p) => p.v, data.step), "data-points": data.stored.length }));
    chart.append(svg("path", { class: "p50", id: "p50-line", d: linePath(fc, x, y, (p) => p.p50, data.step), "data-points": fc.length }));

    const guide = svg("line", { class: "guide", y1: margin.top, y2: height - margin.bottom, x1: -10, x2: -10 });
    const dot = svg("circle", { class: "dot", r: 3.5, cx: -10, cy: -10 });
    const overlay = svg("rect", { class: "overlay", x: margin.left, y: margin.top, width: width - margin.left - margin.right, height: height - margin.top - margin.bottom });
    chart.append(guide, dot, overlay);
    const lookup = hoverLookup(data);
    overlay.addEventListener("mousemove", (event) => {
      const box = chart.getBoundingClientRect();
      const px = ((event.clientX - box.left) / box.width) * width;
      const t = data.from + ((px - margin.left) / (width - margin.left - margin.right)) * (data.to - data.from);
      const found = lookup(t);
      if (!found) return;
      guide.setAttribute("x1", x(found.t));
      guide.setAttribute("x2", x(found.t));
      const anchor = found.forecast ? found.forecast.p50 : found.actual !== undefined ? found.actual : found.stored ? found.stored.v : null;
      dot.setAttribute("cx", x(found.t));
      dot.setAttribute("cy", anchor === null ? -10 : y(anchor));
      showTooltip(found, (x(found.t) / width) * box.width, event.clientY - box.top);
    });
    overlay.addEventListener("mouseleave", () => {
      $("tooltip").hidden = true;
      guide.setAttribute("x1", -10);
      guide.setAttribute("x2", -10);
      dot.setAttribute("cy", -10);
    });

    chart.setAttribute("data-city", data.city);
    chart.setAttribute("data-points", fc.length);
    chart.setAttribute("data-state", "drawn");
    chart.setAttribute("aria-label", `${data.city}: ${fc.length} forecast blocks over ${data.actuals.length} blocks of actual load`);
    const legend = $("legend");
    legend.replaceChildren();
    for (const [swatch, label] of [["band", "P10-P90"], ["p50", "P50 forecast"], ["actual", "actual load"], ["stored", "P50 forecast then (stored)"]]) {
      const item = element("span", null);
      item.append(element("span", `swatch ${swatch}`), document.createTextNode(label));
      legend.append(item);
    }
  }

  // time -> what every series has at the block nearest to it.
  function hoverLookup(data) {
    const index = new Map();
    const at = (t) => {
      if (!index.has(t)) index.set(t, { t });
      return index.get(t);
    };
    for (const p of data.actuals) at(p.t).actual = p.v;
    for (const p of data.stored) at(p.t).stored = p;
    for (const p of data.forecast) at(p.t).forecast = p;
    const times = [...index.keys()].sort((a, b) => a - b);
    return (t) => {
      if (!times.length) return null;
      let lo = 0;
      let hi = times.length - 1;
      while (hi - lo > 1) {
        const mid = (lo + hi) >> 1;
        if (times[mid] <= t) lo = mid;
        else hi = mid;
      }
      return index.get(Math.abs(times[lo] - t) <= Math.abs(times[hi] - t) ? times[lo] : times[hi]);
    };
  }

  function showTooltip(found, left, top) {
    const tip = $("tooltip");
    tip.replaceChildren(element("div", null, formatTime(found.t, false)));
    if (found.actual !== undefined) tip.append(element("div", null, `Actual: ${formatMw(found.actual)}`));
    if (found.stored) tip.append(element("div", null, `Forecast then (P50): ${formatMw(found.stored.v)}, issued ${formatTime(found.stored.asOf, false)}`));
    if (found.forecast) {
      const p = found.forecast;
      tip.append(element("div", null, `P50: ${formatMw(p.p50)}`), element("div", null, `P10-P90: ${formatMw(p.p10)} to ${formatMw(p.p90)}`));
    }
    tip.hidden = false;
    const box = $("chart-box").getBoundingClientRect();
    // Beside the guide, on the side with more room, so the hovered blocks stay visible.
    const side = left > box.width / 2 ? left - tip.offsetWidth - 12 : left + 12;
    tip.style.left = `${Math.max(0, Math.min(side, box.width - tip.offsetWidth - 4))}px`;
    tip.style.top = `${Math.max(0, top - tip.offsetHeight - 8)}px`;
  }

  // -- the batch view --------------------------------------------------------------------------
  async function loadBatch() {
    const seq = ++state.batchSeq;
    // Only cities with a production model: the others have nothing to forecast with.
    const served = state.cities.filter((c) => state.production.has(c.code));
    const idle = state.cities.filter((c) => !state.production.has(c.code)).map((c) => c.code);
    text("batch-idle", idle.length ? `No production model: ${idle.join(", ")}` : "");
    const requests = served.map((c) => (state.asOf ? { city: c.code, as_of: `${state.asOf}:00` } : { city: c.code }));
    const body = requests.length ? await settle(api("v1/forecast/batch", { requests })) : { value: { results: [] } };
    if (seq !== state.batchSeq) return;
    const rows = $("batch").tBodies[0];
    rows.replaceChildren();
    if (body.error) {
      const row = element("tr", "failed");
      const cell = element("td", null, `Batch forecast unavailable: ${body.error.message}`);
      cell.colSpan = 6;
      row.append(cell);
      rows.append(row);
      return;
    }
    for (const item of body.value.results) rows.append(batchRow(item));
  }

  function batchRow(item) {
    const row = element("tr", item.status === 200 ? null : "failed");
    row.setAttribute("data-city", item.city);
    const city = state.cities.find((c) => c.code === item.city.toUpperCase());
    const zone = city ? city.timezone : "UTC";
    const cells = [item.city];
    if (item.status === 200) {
      const peak = item.forecast.points.reduce((a, b) => (b.p50 > a.p50 ? b : a));
      const at = new Intl.DateTimeFormat("en-GB", { timeZone: zone, day: "2-digit", month: "short", hour: "2-digit", minute: "2-digit", hourCycle: "h23" })
        .format(new Date(Date.parse(peak.ts)));
      cells.push(formatMw(peak.p50), at, formatMw(peak.p90), item.forecast.model_version, item.forecast.degraded ? "degraded" : "ok");
    } else {
      cells.push("-", "-", "-", "-", `${item.status}: ${item.error}`);
    }
    cells.forEach((value, i) => row.append(element("td", i === 1 || i === 3 ? "num" : null, value)));
    return row;
  }

  document.addEventListener("DOMContentLoaded", () => {
    $("key-form").addEventListener("submit", onKeySubmit);
    $("forget-key").addEventListener("click", onForgetKey);
    $("city").addEventListener("change", onCityChange);
    $("refresh").addEventListener("click", onRefresh);
    start().catch(showFailure);
  });
})();
