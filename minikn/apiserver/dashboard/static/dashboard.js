// minikn dashboard: polls GET /api/v1/dashboard/state once a second with the bearer token,
// naming the revision it charts (?revision=, whose full detail comes back), the catalog
// version it holds (?catalog=, so the ISVC list comes back only when it changed), the tick it
// holds (?since=, so only the summary rows changed after it come back, merged here) and its
// newest event's number (?events=, so only newer events come back), and keeps the charted
// revision's time series in bounded ring buffers. The token arrives in the URL
// fragment (#token=...), which browsers never send to a server nor put in a Referer; it is kept
// in sessionStorage (this tab only) and dropped from the address bar at once.
"use strict";
(function () {
  const POLL_MS = 1000;
  const POINTS = 300;        // samples kept per revision (5 minutes at 1 s)
  const COLD_STARTS = 20;    // cold-start bars kept
  const LOG_LINES = 500;     // log lines kept
  const EVENTS = 100;        // events kept
  const PHASES = ["gpu", "storage", "create", "load", "handover"];
  const KEY = "minikn-token";

  function takeToken() {
    const m = /(?:^|[#&])token=([^&]+)/.exec(window.location.hash);
    if (m) {
      sessionStorage.setItem(KEY, decodeURIComponent(m[1]));
      history.replaceState(null, "", window.location.pathname + window.location.search);
    }
    return sessionStorage.getItem(KEY);
  }
  const token = takeToken();

  const $ = (id) => document.getElementById(id);
  function el(tag, attrs, ...children) {
    const e = document.createElement(tag);
    for (const [k, v] of Object.entries(attrs || {})) {
      if (k === "class") e.className = v; else e.setAttribute(k, v);
    }
    for (const c of children) e.append(c instanceof Node ? c : document.createTextNode(String(c)));
    return e;
  }
  function authGet(path, signal, etag) {
    const headers = { Authorization: "Bearer " + token, Accept: "application/json" };
    if (etag) headers["If-None-Match"] = etag;
    return fetch(path, {
      method: "GET", headers,
      cache: "no-store", credentials: "omit", referrerPolicy: "no-referrer", signal,
    });
  }

  // --- time series: per revision, bounded ring buffers -------------------------------------
  const FIELDS = ["desired", "ready", "pending", "stable", "panic", "target", "buffered",
                  "rps2xx", "rps4xx", "rps5xx", "p50", "p99"];
  const series = new Map();  // revision -> {t: [], <field>: []} (the charted revision only)
  function push(rev, t, row) {
    let s = series.get(rev);
    if (!s) { s = { t: [] }; for (const f of FIELDS) s[f] = []; series.set(rev, s); }
    const rps = { rps2xx: 0, rps4xx: 0, rps5xx: 0 };
    for (const [code, v] of Object.entries(row.rps || {})) {
      const k = code >= 500 ? "rps5xx" : code >= 400 ? "rps4xx" : "rps2xx";
      rps[k] += v;
    }
    const vals = {
      desired: row.desired, ready: row.ready, pending: row.pending,
      stable: row.stable ?? null, panic: row.panic ?? null, target: row.target ?? null,
      buffered: row.buffered, ...rps,
      p50: row.p50 == null ? null : row.p50 * 1000, p99: row.p99 == null ? null : row.p99 * 1000,
    };
    s.t.push(t);
    for (const f of FIELDS) s[f].push(vals[f]);
    if (s.t.length > POINTS) { s.t.shift(); for (const f of FIELDS) s[f].shift(); }
  }

  // --- charts (uPlot) -----------------------------------------------------------------------
  const CHARTS = [
    ["c-replicas", [["desired", "#1f77b4"], ["ready", "#2ca02c"], ["pending", "#ff7f0e"]], "replicas"],
    ["c-concurrency", [["stable", "#1f77b4"], ["panic", "#d62728"], ["target", "#999"]], "concurrency"],
    ["c-rps", [["rps2xx", "#2ca02c"], ["rps4xx", "#ff7f0e"], ["rps5xx", "#d62728"]], "req/s"],
    ["c-latency", [["p50", "#1f77b4"], ["p99", "#d62728"]], "ms"],
    ["c-buffered", [["buffered", "#9467bd"]], "requests"],
  ];
  let charts = [];
  let selected = null;
  function makeCharts() {
    for (const c of charts) c.plot.destroy();
    charts = [];
    for (const [id, fields, unit] of CHARTS) {
      const opts = {
        width: 520, height: 180,
        scales: { x: { time: true } },
        axes: [{ label: "time" }, { label: unit }],
        series: [{}, ...fields.map(([f, color]) => ({ label: f, stroke: color, width: 1.5, spanGaps: true }))],
      };
      const data = [[], ...fields.map(() => [])];
      charts.push({ fields, plot: new uPlot(opts, data, $(id)) });
    }
  }
  function drawCharts() {
    const s = series.get(selected);
    for (const c of charts) {
      if (!s) { c.plot.setData([[], ...c.fields.map(() => [])]); continue; }
      c.plot.setData([s.t.slice(), ...c.fields.map(([f]) => s[f].slice())]);
    }
    $("points").textContent = s ? String(s.t.length) : "0";
    const last = s && s.t.length ? s.rps2xx[s.t.length - 1] + s.rps4xx[s.t.length - 1] + s.rps5xx[s.t.length - 1] : 0;
    $("rps-now").textContent = String(Math.round(last * 100) / 100);
  }

  // --- tables -------------------------------------------------------------------------------
  function renderIsvcs(isvcs, revisions, summary) {
    const perIsvc = new Map();  // "ns/name" -> [ready, desired, rps]
    for (const [name, ns, isvc] of revisions) {
      const s = summary[name];
      if (!s) continue;
      const k = `${ns}/${isvc}`;
      const acc = perIsvc.get(k) || [0, 0, 0];
      acc[0] += s[1]; acc[1] += s[0]; acc[2] += s[4];
      perIsvc.set(k, acc);
    }
    const body = $("isvcs").tBodies[0];
    body.replaceChildren(...isvcs.map((i) => {
      const acc = perIsvc.get(`${i.namespace}/${i.name}`) || [0, 0, 0];
      const splits = [];
      for (const comp of i.components) {
        for (const t of comp.traffic) {
          const label = `${comp.name}: ${t.revision} ${t.percent ?? 0}%` + (t.tag ? ` (tag ${t.tag})` : "") + (t.latest ? " latest" : "");
          splits.push(el("span", { class: "split", title: t.url || "" }, label));
        }
      }
      return el("tr", { "data-isvc": `${i.namespace}/${i.name}` },
        el("td", {}, i.kind), el("td", {}, `${i.namespace}/${i.name}`), el("td", {}, i.url || ""),
        el("td", { class: "ready-" + i.ready, title: i.message || "" }, i.ready + (i.reason ? ` (${i.reason})` : "")),
        el("td", {}, `${acc[0]}/${acc[1]}`), el("td", {}, String(Math.round(acc[2] * 100) / 100)),
        el("td", {}, ...splits));
    }));
  }
  function renderRevisionPicker(revisions) {
    const pick = $("revision");
    const names = revisions.map((r) => r[0]);
    const have = Array.from(pick.options).map((o) => o.value);
    if (names.join("\n") !== have.join("\n")) {
      pick.replaceChildren(...revisions.map(([name, ns, isvc, comp]) => el("option", { value: name }, `${ns}/${isvc} ${comp} ${name}`)));
    }
    if (!selected || !names.includes(selected)) select(names.length ? names[0] : null);
    else pick.value = selected;
  }
  function renderDetail(row) {
    $("panic").classList.toggle("hidden", !(row && row.panicMode));
    $("revinfo").textContent = row
      ? `replicas ${row.ready}/${row.desired} ready, ${row.pending} pending · ` +
        `${row.metric || "concurrency"} stable ${row.stable ?? "-"} panic ${row.panic ?? "-"} target ${row.target ?? "-"}` +
        ` · ${row.active || ""} ${row.scaleReason ? "(" + row.scaleReason + ")" : ""}`
      : "no live revision";
  }
  const colds = [];  // {key, revision, phases}
  function collectColdStarts(recent) {  // the server's newest, oldest first
    for (const r of recent) {
      const key = `${r.revision}/${r.replica}`;
      const found = colds.find((c) => c.key === key);
      if (found) { found.phases = r.phases; continue; }
      colds.push({ key, phases: r.phases });
      if (colds.length > COLD_STARTS) colds.shift();
    }
    const longest = Math.max(0.001, ...colds.map((c) => Object.values(c.phases).reduce((a, b) => a + b, 0)));
    $("coldstarts").replaceChildren(...colds.slice().reverse().map((c) => {
      const total = Object.values(c.phases).reduce((a, b) => a + b, 0);
      const bar = el("div", { class: "bar" });
      for (const [name, sec] of Object.entries(c.phases)) {
        const part = el("span", { class: "ph-" + (PHASES.includes(name) ? name : "other"), title: `${name} ${sec.toFixed(3)} s` });
        part.style.width = `${(100 * sec) / longest}%`;
        bar.append(part);
      }
      const text = Object.entries(c.phases).map(([n, s]) => `${n} ${s.toFixed(2)}`).join(" · ");
      return el("div", { class: "cold" }, el("span", { class: "label", title: c.key }, c.key), bar,
        el("span", { class: "muted" }, `${total.toFixed(2)} s: ${text}`));
    }));
  }
  function renderEvents(events) {
    $("events").tBodies[0].replaceChildren(...events.slice().reverse().map((e) => el("tr", {},
      el("td", {}, new Date(e.time * 1000).toLocaleTimeString()), el("td", {}, e.type), el("td", {}, e.reason),
      el("td", {}, `${e.namespace}/${e.isvc}` + (e.revision ? ` ${e.revision}` : "") + (e.replica ? ` ${e.replica}` : "")),
      el("td", {}, e.message))));
  }

  // --- logs: fetch streaming (headers can be set, unlike EventSource) -------------------------
  let logAbort = null;
  let lastDetail = null;
  async function followLogs() {
    const row = lastDetail && lastDetail.name === selected ? lastDetail : null;
    if (!row) return;
    if (logAbort) logAbort.abort();
    logAbort = new AbortController();
    $("logs-stop").disabled = false;
    const pre = $("logs");
    pre.textContent = "";
    const path = `/api/v1/namespaces/${encodeURIComponent(row.namespace)}/inferenceservices/` +
      `${encodeURIComponent(row.isvc)}/logs?follow=true&revision=${encodeURIComponent(row.name)}`;
    try {
      const resp = await authGet(path, logAbort.signal);
      if (!resp.ok) { pre.textContent = `logs: HTTP ${resp.status}`; return; }
      const reader = resp.body.getReader();
      const decoder = new TextDecoder();
      for (;;) {
        const { value, done } = await reader.read();
        if (done) break;
        pre.append(decoder.decode(value, { stream: true }));
        const lines = pre.textContent.split("\n");
        if (lines.length > LOG_LINES) pre.textContent = lines.slice(-LOG_LINES).join("\n");
        pre.scrollTop = pre.scrollHeight;
      }
    } catch (err) {
      if (err.name !== "AbortError") pre.append(`\n[logs stopped: ${err.message}]`);
    } finally {
      $("logs-stop").disabled = true;
    }
  }
  $("logs-follow").addEventListener("click", () => { followLogs(); });
  $("logs-stop").addEventListener("click", () => { if (logAbort) logAbort.abort(); });
  function select(name) {  // chart another revision: its series start now
    selected = name;
    series.clear();
    if (name) $("revision").value = name;
    drawCharts();
  }
  $("revision").addEventListener("change", (ev) => { select(ev.target.value); });

  // --- the poll loop ------------------------------------------------------------------------
  let lastTime = null;
  let snapshots = 0;
  let catalog = { isvcs: [], revisions: [] };
  let version = "";
  let etag = "";
  let tick = "";          // the server tick whose summary this page holds
  let summary = {};       // revision -> [desired, ready, pending, panic, rps]
  let events = [];        // the newest events, oldest first
  let eventSeq = 0;       // the newest event's number
  function mergeEvents(fresh) {  // true when there was anything new
    if (!fresh.length) return false;
    events = events.concat(fresh).slice(-EVENTS);
    eventSeq = events[events.length - 1].seq;
    return true;
  }
  async function poll() {
    try {
      const q = new URLSearchParams();
      if (selected) q.set("revision", selected);
      if (version) q.set("catalog", version);
      if (tick) q.set("since", tick);
      if (eventSeq) q.set("events", String(eventSeq));
      const resp = await authGet("/api/v1/dashboard/state?" + q.toString(), undefined, etag);
      if (resp.status === 401) {
        $("conn").textContent = "unauthorized"; $("conn").className = "conn err";
        $("login").classList.remove("hidden");
        return;
      }
      if (resp.status === 304) { setTimeout(poll, POLL_MS); return; }  // nothing new this tick
      if (!resp.ok) throw new Error(`HTTP ${resp.status}`);
      const snap = await resp.json();
      etag = resp.headers.get("ETag") || "";
      $("conn").textContent = "live"; $("conn").className = "conn ok";
      if (snap.catalog) {
        catalog = snap.catalog;
        version = snap.catalogVersion;
        renderRevisionPicker(catalog.revisions);
      }
      if (tick.split("-")[0] !== snap.tick.split("-")[0]) {  // another server process
        events = []; eventSeq = 0;
      }
      tick = snap.tick;
      if (snap.summaryFull) summary = snap.summary; else Object.assign(summary, snap.summary);
      const newEvents = mergeEvents(snap.events);
      if (snap.time !== lastTime) {  // one sample per server snapshot
        lastTime = snap.time;
        snapshots += 1;
        const d = snap.detail;
        if (d && !selected) select(d.name);
        if (d && d.name === selected) push(d.name, snap.time, d);
        lastDetail = d;
        renderIsvcs(catalog.isvcs, catalog.revisions, summary);
        renderDetail(d && d.name === selected ? d : null);
        collectColdStarts(snap.coldStarts);
        if (newEvents || snapshots === 1) renderEvents(events);
        drawCharts();
        $("updated").textContent = new Date(snap.time * 1000).toLocaleTimeString();
        $("snapshots").textContent = String(snapshots);
      }
    } catch (err) {
      $("conn").textContent = "disconnected: " + err.message; $("conn").className = "conn err";
    }
    setTimeout(poll, POLL_MS);
  }

  $("legend").replaceChildren(...PHASES.map((p) => el("span", {}, el("i", { class: "ph-" + p }), p)));
  if (!token) {
    $("login").classList.remove("hidden");
    $("conn").textContent = "no token"; $("conn").className = "conn err";
    return;
  }
  makeCharts();
  poll();
})();
