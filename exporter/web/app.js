// shaper's page: polls the JSON endpoints of `shaper serve` and draws the
// tables and the chart. No library, nothing fetched from elsewhere.
"use strict";

const POLL = { rates: 3000, quotas: 15000, history: 60000 };
const COLORS = ["#2f7dd1", "#e8833a", "#3aa55d", "#c94c8a", "#8a6bd1", "#c9a227", "#2aa3a3", "#d1462f", "#7d8791"];

const $ = (id) => document.getElementById(id);

// Human units: decimal, three significant digits.
function human(v, units) {
  let i = 0;
  while (Math.abs(v) >= 1000 && i < units.length - 1) { v /= 1000; i++; }
  const s = i === 0 ? String(Math.round(v)) : v.toPrecision(3).replace(/\.0+$|(\.\d*?)0+$/, "$1");
  return s + " " + units[i];
}
const bits = (v) => human(v, ["bit/s", "kbit/s", "Mbit/s", "Gbit/s", "Tbit/s"]);
const bytes = (v) => human(v, ["B", "kB", "MB", "GB", "TB", "PB"]);

function el(tag, attrs, ...kids) {
  const e = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) {
    if (k === "class") e.className = v; else e.setAttribute(k, v);
  }
  for (const k of kids) e.append(k);
  return e;
}

// bar draws use against a limit; over marks use beyond it.
function bar(used, limit, over) {
  const fill = el("div");
  fill.style.width = (limit > 0 ? Math.min(100, (100 * used) / limit) : 0).toFixed(1) + "%";
  return el("div", { class: over ? "bar over" : "bar" }, fill);
}

function nameCell(name, where, many) {
  const td = el("td", { class: "name" }, name);
  if (many) td.append(el("span", { class: "where" }, where));
  return td;
}

const whereOf = (r) => (r.netns ? r.netns + " · " : "") + r.iface;
const manyPlaces = (rows) => new Set(rows.map(whereOf)).size > 1;

function fillTable(id, rows, toRow) {
  const body = $(id).querySelector("tbody");
  body.replaceChildren(...rows.map(toRow));
  $(id).hidden = rows.length === 0;
  $(id + "-empty").hidden = rows.length !== 0;
}

// Rows carry their numbers as data- attributes: the browser test reads
// them, and so can anyone's script.
function appRow(a, many) {
  return el("tr", { "data-app": a.name, "data-iface": a.iface, "data-up-bits": a.up_bits, "data-down-bits": a.down_bits },
    nameCell(a.name, whereOf(a), many),
    el("td", { class: "num" }, bits(a.up_bits)),
    el("td", { class: "num" }, bits(a.down_bits)));
}

function classRow(c, many) {
  const up = c.direction === "egress";
  const name = nameCell((up ? "↑ " : "↓ ") + c.name, whereOf(c), many);
  name.title = up ? "upload (egress)" : "download (ingress)";
  // A class may borrow up to its ceil: the bar reaches that far and
  // turns red past the rate.
  const borrows = c.ceil_bits > c.rate_bits;
  const conf = c.rate_bits <= 0 ? "–" : borrows ? bits(c.rate_bits) + " – " + bits(c.ceil_bits) : bits(c.rate_bits);
  return el("tr", { "data-class": c.name, "data-direction": c.direction, "data-bits": c.bits, "data-rate-bits": c.rate_bits },
    name,
    el("td", { class: "num" }, bits(c.bits), bar(c.bits, borrows ? c.ceil_bits : c.rate_bits, c.bits > c.rate_bits * 1.02)),
    el("td", { class: "num" }, conf));
}

function renderRates(r) {
  const manyApps = manyPlaces(r.apps), manyClasses = manyPlaces(r.classes);
  fillTable("apps", r.apps, (a) => appRow(a, manyApps));
  fillTable("classes", r.classes, (c) => classRow(c, manyClasses));
  const st = $("status");
  st.textContent = "rates over " + r.seconds.toFixed(1) + " s, " + new Date(r.time).toLocaleTimeString();
  st.className = "";
  if (r.errors && r.errors.length) { st.textContent += " · " + r.errors.join("; "); st.className = "error"; }
}

const when = (t) => new Date(t).toLocaleString([], { weekday: "short", day: "numeric", month: "short", hour: "2-digit", minute: "2-digit", hour12: false });

function quotaRow(u) {
  const what = "per " + u.per + (u.direction && u.direction !== "both" ? ", " + u.direction : "") + (u.exhausted ? ", spent: in " + u.then : "");
  return el("tr", { "data-quota": u.app, "data-used": u.used_bytes, "data-limit": u.limit_bytes },
    el("td", { class: "name" }, u.app, el("span", { class: "where" }, what)),
    el("td", { class: "num" }, bytes(u.used_bytes) + " / " + bytes(u.limit_bytes), bar(u.used_bytes, u.limit_bytes, u.exhausted)),
    el("td", {}, when(u.resets)));
}

const renderQuotas = (q) => fillTable("quotas", q.quotas || [], quotaRow);

let lastHistory = null;

function renderHistory(h) {
  lastHistory = h;
  $("chart-title").textContent = "Last " + spanText((new Date(h.to) - new Date(h.from)) / 1000) +
    ", per app, up + down" + (h.step_seconds ? " (" + stepText(h.step_seconds) + " steps)" : "");
  const empty = h.series.length === 0;
  $("chart-empty").hidden = !empty;
  $("chart-empty").textContent = h.note || "No history yet.";
  $("chart-box").hidden = empty;
  $("legend").replaceChildren(...h.series.map((s, i) => {
    const sw = el("span", { class: "sw" });
    sw.style.background = COLORS[i % COLORS.length];
    return el("li", { "data-series": s.name }, sw, s.name + " " + bytes(s.bytes));
  }));
  if (!empty) drawChart($("chart"), h);
}

// spanText says how long the chart reaches back, in the largest unit
// that leaves at least two of it.
function spanText(s) {
  for (const [unit, len] of [["days", 86400], ["hours", 3600], ["min", 60]]) if (s >= 2 * len) return Math.round(s / len) + " " + unit;
  return Math.round(s) + " s";
}

const stepText = (s) => (s >= 3600 ? s / 3600 + " h" : s >= 60 ? s / 60 + " min" : s + " s");

// niceMax rounds a maximum up to 1, 2 or 5 times a power of ten.
function niceMax(v) {
  if (v <= 0) return 1;
  const p = Math.pow(10, Math.floor(Math.log10(v)));
  for (const m of [1, 2, 5, 10]) if (m * p >= v) return m * p;
  return 10 * p;
}

// drawChart draws a stacked area per series, largest at the bottom, with
// a rate axis on the left and a time axis below.
function drawChart(svg, h) {
  const NS = svg.namespaceURI; // the page's SVG namespace, taken from the DOM
  const W = svg.clientWidth || 600, H = svg.clientHeight || 240;
  const m = { l: 64, r: 8, t: 8, b: 22 };
  const pw = W - m.l - m.r, ph = H - m.t - m.b;
  svg.setAttribute("viewBox", `0 0 ${W} ${H}`);
  const n = h.times.length;
  const t0 = h.times[0], t1 = h.times[n - 1] + h.step_seconds * 1000;
  const x = (t) => m.l + ((t - t0) / (t1 - t0 || 1)) * pw;
  const tops = h.times.map((_, i) => h.series.reduce((s, se) => s + se.bits[i], 0));
  const ymax = niceMax(Math.max(...tops));
  const y = (v) => m.t + ph - (v / ymax) * ph;
  const node = (tag, attrs, text) => {
    const e = document.createElementNS(NS, tag);
    for (const [k, v] of Object.entries(attrs)) e.setAttribute(k, v);
    if (text !== undefined) e.textContent = text;
    return e;
  };
  const kids = [];
  for (let k = 0; k <= 4; k++) {
    const v = (ymax * k) / 4, yy = y(v).toFixed(1);
    kids.push(node("line", { class: "grid", x1: m.l, x2: W - m.r, y1: yy, y2: yy }));
    kids.push(node("text", { x: m.l - 6, y: +yy + 4, "text-anchor": "end" }, bits(v)));
  }
  const base = new Array(n).fill(0);
  h.series.forEach((s, si) => {
    const top = base.map((b, i) => b + s.bits[i]);
    let d = "";
    for (let i = 0; i < n; i++) {
      // Each step is flat over its interval: what was counted in it.
      d += (i ? "L" : "M") + x(h.times[i]).toFixed(1) + "," + y(top[i]).toFixed(1);
      d += "L" + x(h.times[i] + h.step_seconds * 1000).toFixed(1) + "," + y(top[i]).toFixed(1);
    }
    for (let i = n - 1; i >= 0; i--) {
      d += "L" + x(h.times[i] + h.step_seconds * 1000).toFixed(1) + "," + y(base[i]).toFixed(1);
      d += "L" + x(h.times[i]).toFixed(1) + "," + y(base[i]).toFixed(1);
    }
    const p = node("path", { d: d + "Z", fill: COLORS[si % COLORS.length], "fill-opacity": 0.85 });
    p.append(node("title", {}, s.name));
    kids.push(p);
    top.forEach((v, i) => (base[i] = v));
  });
  const ticks = Math.max(2, Math.min(6, Math.floor(pw / 80)));
  const long = t1 - t0 > 2 * 86400e3, short = t1 - t0 < 600e3;
  for (let k = 0; k <= ticks; k++) {
    const t = t0 + ((t1 - t0) * k) / ticks, d = new Date(t);
    const label = long ? d.toLocaleDateString([], { day: "numeric", month: "short" })
      : d.toLocaleTimeString([], { hour: "2-digit", minute: "2-digit", second: short ? "2-digit" : undefined, hour12: false });
    const anchor = k === 0 ? "start" : k === ticks ? "end" : "middle";
    kids.push(node("text", { x: x(t).toFixed(1), y: H - 6, "text-anchor": anchor }, label));
  }
  kids.push(node("line", { class: "grid", x1: m.l, x2: W - m.r, y1: m.t + ph, y2: m.t + ph }));
  svg.replaceChildren(...kids);
}

// poll fetches path now and every `every` ms while the page is in view:
// a tab in the background costs serve no readings.
async function poll(path, render, every) {
  if (document.hidden) {
    setTimeout(() => poll(path, render, every), 1000);
    return;
  }
  try {
    const res = await fetch(path, { cache: "no-store" });
    const body = await res.json();
    if (!res.ok) throw new Error(body.error || res.statusText);
    render(body);
  } catch (e) {
    const st = $("status");
    st.textContent = path + ": " + e.message;
    st.className = "error";
  }
  setTimeout(() => poll(path, render, every), every);
}

addEventListener("resize", () => lastHistory && lastHistory.series.length && drawChart($("chart"), lastHistory));
poll("/api/rates", renderRates, POLL.rates);
poll("/api/history?since=24h", renderHistory, POLL.history);
poll("/api/quotas", renderQuotas, POLL.quotas);
