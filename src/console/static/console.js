// The shardict web console: polls the coordinator's /console/api/ once a second and shows
// the cluster, its load, and a read-only dict browser. Plain DOM, no framework; every value
// from the cluster goes into the page as text (textContent), never as HTML.
"use strict";
(() => {
  const POLL_MS = 1000;
  const KEEP_SECONDS = 300;
  const TOKEN_KEY = "shardict.console.token";
  const PALETTE = ["#2563eb", "#db2777", "#059669", "#d97706", "#7c3aed", "#0891b2", "#65a30d", "#dc2626", "#4b5563", "#c026d3", "#0d9488", "#ca8a04"];

  const $ = (id) => document.getElementById(id);
  const el = (tag, props, ...children) => {
    const e = document.createElement(tag);
    if (props) for (const [k, v] of Object.entries(props)) {
      if (k === "text") e.textContent = v;
      else if (k === "class") e.className = v;
      else if (k.startsWith("data-")) e.setAttribute(k, v);
      else e[k] = v;
    }
    for (const c of children) if (c != null) e.append(c);
    return e;
  };

  let token = sessionStorage.getItem(TOKEN_KEY) || "";
  let tokenRequired = false;

  class AuthNeeded extends Error {}

  /** GET /console/api/<name>?params; the JSON answer, or an Error with the server's message. */
  async function api(name, params = {}) {
    const q = new URLSearchParams();
    for (const [k, v] of Object.entries(params)) if (v !== undefined && v !== null) q.set(k, String(v));
    const headers = token ? { authorization: `Bearer ${token}` } : {};
    const res = await fetch(`/console/api/${name}${q.size ? `?${q}` : ""}`, { headers, cache: "no-store" });
    let body = null;
    try { body = await res.json(); } catch { /* not JSON */ }
    if (res.status === 401) {
      // Forget a token the cluster refused, so the polls stop asking with it.
      token = "";
      sessionStorage.removeItem(TOKEN_KEY);
      tokenRequired = true;
      askForToken(body?.error || "a client token is required");
      throw new AuthNeeded(body?.error || "token required");
    }
    if (!res.ok) throw new Error(body?.error || `HTTP ${res.status}`);
    return body;
  }

  // ---- token ---------------------------------------------------------------------------------

  function askForToken(why) {
    $("token-form").hidden = false;
    $("token-change").hidden = true;
    $("token-note").textContent = why;
    setLive("token", "token needed");
  }
  $("token-form").addEventListener("submit", (ev) => {
    ev.preventDefault();
    token = $("token").value.trim();
    sessionStorage.setItem(TOKEN_KEY, token);
    $("token").value = "";
    $("token-form").hidden = true;
    $("token-change").hidden = false;
    loadEnvs();
    if (current.dict) openDict(current.dict);
  });
  $("token-change").addEventListener("click", () => askForToken("a client token of this cluster"));

  function setLive(state, text) {
    const b = $("live");
    b.dataset.state = state;
    b.textContent = text;
  }

  // ---- cluster -------------------------------------------------------------------------------

  let map = null; // the partition map (sent when its epoch changes)
  let shardsNow = [];
  let rf = 1;

  async function pollCluster() {
    if (tokenRequired && !token) {
      setTimeout(pollCluster, POLL_MS);
      return;
    }
    try {
      const [s, load] = await Promise.all([api("status", { epoch: map ? map.epoch : undefined }), api("load", { since: lastT })]);
      if (s.map) map = s.map;
      renderStatus(s);
      addLoad(load);
      setLive("live", "live");
    } catch (err) {
      if (!(err instanceof AuthNeeded)) setLive("down", navigator.onLine === false ? "offline" : `unreachable: ${err.message}`);
    } finally {
      setTimeout(pollCluster, POLL_MS);
    }
  }

  function renderStatus(s) {
    const st = s.status;
    tokenRequired = s.tokenRequired;
    if (tokenRequired && $("token-form").hidden) $("token-change").hidden = false;
    rf = st.replicationFactor;
    shardsNow = st.shards;
    const alive = st.shards.filter((x) => x.health === "alive").length;
    $("summary").textContent = `${st.shards.length} shards (${alive} alive) · ${st.partitions} partitions · replication ${st.replicationFactor} · ${st.dicts} dicts · table epoch ${st.epoch}`;
    const body = $("shards").tBodies[0];
    const rows = st.shards.map((x) =>
      el("tr", { "data-shard": x.id, "data-health": x.health, "data-state": x.state },
        el("td", { class: "mono", text: x.id }),
        el("td", { class: "mono muted", text: x.url || "—" }),
        el("td", { class: "state", text: x.state }),
        el("td", null, el("span", { class: "badge health", "data-state": x.health, text: x.health })),
        el("td", { class: "num", text: String(x.partitions) }),
        el("td", { class: "num", text: String(x.replicas) }),
        el("td", { class: "num", text: x.entries === null ? "—" : `${fmt(x.entries)}${x.held !== null && x.held !== x.entries ? ` (${fmt(x.held)})` : ""}` }),
      ),
    );
    body.replaceChildren(...rows);
    const r = st.rebalance;
    $("rebalance-bar").style.width = `${(100 * r.done) / Math.max(1, st.partitions)}%`;
    $("rebalance-text").textContent = r.pending === 0 ? "every partition is where it belongs" : `rebalancing: ${r.done} of ${st.partitions} partitions in place, ${r.moving} moving, ${r.pending} to go`;
    const moves = st.moves.slice(0, 12).map((m) => el("li", { text: `partition ${m.part}: ${m.from} → ${m.to}, ${m.phase}${m.total ? ` (${fmt(m.done)} / ${fmt(m.total)} entries)` : ""}` }));
    if (st.moves.length > 12) moves.push(el("li", { class: "muted", text: `and ${st.moves.length - 12} more` }));
    $("moves").replaceChildren(...moves);
    drawMap();
  }

  const fmt = (n) => Number(n).toLocaleString("en-US");
  /** 1234567 → "1.2M": short enough for a chart's axis. */
  const short = (n) => {
    const a = Math.abs(n);
    if (a >= 1e9) return `${+(n / 1e9).toFixed(1)}G`;
    if (a >= 1e6) return `${+(n / 1e6).toFixed(1)}M`;
    if (a >= 1e3) return `${+(n / 1e3).toFixed(1)}k`;
    return `${+n.toFixed(3)}`;
  };
  const yAxis = { size: 50, values: (u, vals) => vals.map(short) };
  const colorOf = (shard) => {
    const i = map ? map.shards.indexOf(shard) : -1;
    return i < 0 ? "#9ca3af" : PALETTE[i % PALETTE.length];
  };

  function mapGeometry(width) {
    const n = map.primary.length;
    const cols = Math.min(n, Math.max(8, Math.ceil(Math.sqrt(n * 6))));
    const cell = Math.max(2, Math.floor(width / cols));
    return { n, cols, cell, rows: Math.ceil(n / cols) };
  }

  function drawMap() {
    if (!map) return;
    const canvas = $("pmap");
    const width = canvas.clientWidth || 600;
    const g = mapGeometry(width);
    const dpr = window.devicePixelRatio || 1;
    canvas.style.height = `${g.rows * g.cell}px`;
    canvas.width = Math.round(g.cols * g.cell * dpr);
    canvas.height = Math.round(g.rows * g.cell * dpr);
    const ctx = canvas.getContext("2d");
    ctx.scale(dpr, dpr);
    const health = new Map(shardsNow.map((x) => [x.id, x.health]));
    const moving = new Set(map.moving);
    const gap = g.cell >= 6 ? 1 : 0;
    let down = 0;
    let short = 0;
    for (let p = 0; p < g.n; p++) {
      const x = (p % g.cols) * g.cell;
      const y = Math.floor(p / g.cols) * g.cell;
      const owner = map.shards[map.primary[p]];
      const ok = owner !== undefined && health.get(owner) === "alive";
      ctx.fillStyle = owner === undefined ? "#9ca3af" : colorOf(owner);
      ctx.globalAlpha = ok ? 1 : 0.25;
      ctx.fillRect(x, y, g.cell - gap, g.cell - gap);
      ctx.globalAlpha = 1;
      if (!ok) down++;
      if (map.replicas[p] < rf - 1) {
        short++;
        if (g.cell >= 6) { ctx.fillStyle = "#dc2626"; ctx.fillRect(x + g.cell - gap - 3, y, 3, 3); }
      }
      if (moving.has(p) && g.cell >= 6) { ctx.strokeStyle = "#111"; ctx.lineWidth = 1; ctx.strokeRect(x + 0.5, y + 0.5, g.cell - gap - 1, g.cell - gap - 1); }
    }
    const notes = [`epoch ${map.epoch}`];
    if (down) notes.push(`${down} without a live primary`);
    if (short) notes.push(`${short} short of replicas`);
    if (map.moving.length) notes.push(`${map.moving.length} moving (outlined)`);
    $("pmap-note").textContent = `(${notes.join(", ")})`;
    $("pmap-legend").replaceChildren(...map.shards.map((s) => el("span", null, el("i", { style: `background:${colorOf(s)}` }), s)));
  }
  $("pmap").addEventListener("mousemove", (ev) => {
    if (!map) return;
    const canvas = $("pmap");
    const g = mapGeometry(canvas.clientWidth || 600);
    const r = canvas.getBoundingClientRect();
    const p = Math.floor((ev.clientY - r.top) / g.cell) * g.cols + Math.floor((ev.clientX - r.left) / g.cell);
    if (p < 0 || p >= g.n) return;
    const owner = map.shards[map.primary[p]] ?? "none";
    canvas.title = `partition ${p}: primary ${owner}, ${map.replicas[p]} replica(s)${map.moving.includes(p) ? ", moving" : ""}`;
  });
  window.addEventListener("resize", () => { drawMap(); sizeCharts(); });

  // ---- load charts ---------------------------------------------------------------------------

  let lastT; // unix seconds of the newest sample we have
  const series = { t: [], ops: [], errors: [], p50: [], p99: [], mean: [], shards: new Map() };
  let opsChart = null;
  let latChart = null;
  let chartShards = "";

  function addLoad(load) {
    const n = load.t.length;
    if (n === 0) return;
    const before = series.t.length;
    series.t.push(...load.t);
    series.ops.push(...load.cluster.ops);
    series.errors.push(...load.cluster.errors);
    series.p50.push(...load.cluster.p50Ms);
    series.p99.push(...load.cluster.p99Ms);
    series.mean.push(...load.cluster.meanMs);
    for (const s of load.shards) {
      if (!series.shards.has(s.id)) series.shards.set(s.id, new Array(before).fill(null));
    }
    for (const [id, arr] of series.shards) {
      const got = load.shards.find((s) => s.id === id);
      arr.push(...(got ? got.ops : new Array(n).fill(null)));
    }
    const drop = series.t.length - KEEP_SECONDS;
    if (drop > 0) {
      for (const k of ["t", "ops", "errors", "p50", "p99", "mean"]) series[k].splice(0, drop);
      for (const arr of series.shards.values()) arr.splice(0, drop);
    }
    lastT = series.t[series.t.length - 1];
    drawCharts();
  }

  /** At least the last minute is shown, so a fresh page's few seconds read as such. */
  const timeRange = (u, min, max) => [Math.min(min, max - 60), max];

  function chartWidth(id) {
    return Math.max(240, $(id).clientWidth || 480);
  }

  function drawCharts() {
    if (typeof uPlot !== "function" || series.t.length < 2) return;
    const ids = [...series.shards.keys()].sort();
    const opsData = [series.t, series.ops, ...ids.map((id) => series.shards.get(id))];
    const latData = [series.t, series.p50, series.p99, series.mean];
    if (!opsChart || chartShards !== ids.join(",")) {
      opsChart?.destroy();
      chartShards = ids.join(",");
      $("chart-ops").replaceChildren();
      opsChart = new uPlot(
        {
          width: chartWidth("chart-ops"),
          height: 180,
          series: [{}, { label: "cluster", stroke: "#111", width: 2, points: { show: false } }, ...ids.map((id) => ({ label: id, stroke: colorOf(id), width: 1, points: { show: false } }))],
          axes: [{}, yAxis],
          scales: { x: { range: timeRange }, y: { range: (u, min, max) => [0, Math.max(1, max)] } },
        },
        opsData,
        $("chart-ops"),
      );
    } else {
      opsChart.setData(opsData);
    }
    if (!latChart) {
      $("chart-latency").replaceChildren();
      latChart = new uPlot(
        {
          width: chartWidth("chart-latency"),
          height: 180,
          series: [{}, { label: "p50", stroke: "#2563eb", width: 1.5, points: { show: false } }, { label: "p99", stroke: "#dc2626", width: 1.5, points: { show: false } }, { label: "mean", stroke: "#059669", width: 1, dash: [4, 4], points: { show: false } }],
          axes: [{}, yAxis],
          scales: { x: { range: timeRange }, y: { range: (u, min, max) => [0, Math.max(0.1, max ?? 0)] } },
        },
        latData,
        $("chart-latency"),
      );
    } else {
      latChart.setData(latData);
    }
  }

  function sizeCharts() {
    opsChart?.setSize({ width: chartWidth("chart-ops"), height: 180 });
    latChart?.setSize({ width: chartWidth("chart-latency"), height: 180 });
  }

  // ---- dict browser --------------------------------------------------------------------------

  const current = { env: "main", dict: null, next: null, dictsNext: null };

  async function loadEnvs() {
    try {
      const { envs } = await api("envs");
      const sel = $("env");
      const want = current.env;
      sel.replaceChildren(...envs.map((e) => el("option", { value: e.env, text: `${e.env} (${e.dicts})`, selected: e.env === want })));
      await loadDicts(false);
    } catch (err) {
      if (!(err instanceof AuthNeeded)) $("dict-list").replaceChildren(el("li", { class: "error", text: err.message }));
    }
  }
  $("env").addEventListener("change", () => {
    current.env = $("env").value;
    loadDicts(false);
  });
  $("dicts-more").addEventListener("click", () => loadDicts(true));

  async function loadDicts(more) {
    const list = $("dict-list");
    try {
      const r = await api("dicts", { env: current.env, before: more ? current.dictsNext : undefined });
      const items = r.dicts.map((d) => el("li", null, el("a", { href: `#dict/${encodeURIComponent(d.id)}`, "data-dict-name": d.name, "data-dict-id": d.id, class: d.id === current.dict ? "current" : "", text: d.name, title: `${d.id}, created ${new Date(d.createdAt).toISOString()}${d.createdBy ? ` by ${d.createdBy}` : ""}` })));
      if (more) list.append(...items);
      else list.replaceChildren(...(items.length ? items : [el("li", { class: "muted", text: "no named dicts in this environment" })]));
      current.dictsNext = r.next;
      $("dict-list-more").hidden = r.next === null;
    } catch (err) {
      if (!(err instanceof AuthNeeded)) list.replaceChildren(el("li", { class: "error", text: err.message }));
    }
  }

  function route() {
    const m = /^#dict\/(.+)$/.exec(location.hash);
    if (m) openDict(decodeURIComponent(m[1]));
  }
  window.addEventListener("hashchange", route);

  async function openDict(id) {
    current.dict = id;
    current.next = null;
    for (const a of document.querySelectorAll("#dict-list a")) a.classList.toggle("current", a.dataset.dictId === id);
    $("dict-view").hidden = false;
    $("dict-title").textContent = id;
    $("dict-info").textContent = "…";
    $("lookup-result").replaceChildren();
    $("hot").open = false;
    $("hot-body").textContent = "…";
    $("entries").tBodies[0].replaceChildren();
    $("entries-note").textContent = "";
    try {
      const d = await api("dict", { id });
      if (current.dict !== id) return;
      if (d.name !== null && d.env !== current.env) {
        // Opened by its address: show its environment's list beside it.
        current.env = d.env;
        if (![...$("env").options].some((o) => o.value === d.env)) $("env").append(el("option", { value: d.env, text: d.env }));
        $("env").value = d.env;
        loadDicts(false);
      }
      $("dict-title").textContent = d.name === null ? `ephemeral dict ${d.id}` : `${d.name} `;
      if (d.name !== null) $("dict-title").append(el("span", { class: "muted", text: `in ${d.env}` }));
      $("dict-info").textContent = `${d.id} · created ${new Date(d.createdAt).toISOString()}${d.createdBy ? ` by ${d.createdBy}` : ""} · ${d.len === null ? `entries unknown (${d.lenError})` : `${fmt(d.len)} ${d.len === 1 ? "entry" : "entries"}`}`;
    } catch (err) {
      if (!(err instanceof AuthNeeded)) $("dict-info").replaceChildren(el("span", { class: "error", text: err.message }));
      return;
    }
    await loadEntries(false);
  }

  $("entries-more").addEventListener("click", () => loadEntries(true));

  async function loadEntries(more) {
    const id = current.dict;
    const btn = $("entries-more");
    btn.disabled = true;
    try {
      const page = await api("entries", { dict: id, page: more ? current.next : undefined, limit: 50 });
      if (current.dict !== id) return;
      const body = $("entries").tBodies[0];
      if (!more) body.replaceChildren();
      body.append(...page.entries.map(entryRow));
      current.next = page.next;
      btn.hidden = page.next === null;
      const shown = body.rows.length;
      $("entries-note").textContent = shown === 0 && page.next === null ? "(none)" : `(${fmt(shown)} shown${page.next === null ? ", all" : `, through partition ${page.progress.part} of ${page.progress.partitions}`})`;
    } catch (err) {
      if (!(err instanceof AuthNeeded)) $("entries-note").replaceChildren(el("span", { class: "error", text: err.message }));
    } finally {
      btn.disabled = false;
    }
  }

  /** A shown key or value: its JSON (a string as itself), or why it is not shown. */
  function shown(s, cls) {
    if (s.json === null) return el("span", { class: "note", text: s.note || "not shown" });
    let text = s.json;
    if (s.type === "string" && !s.truncated) { try { text = JSON.parse(s.json); } catch { /* keep the JSON */ } }
    return el("span", { class: `${cls}${s.type === "string" ? " value-string" : ""}`, text: s.truncated ? `${text}…` : text });
  }

  function entryRow(e) {
    const keyCell = el("td", { class: "key mono" });
    if (e.key.json !== null && !e.key.truncated) {
      keyCell.append(el("a", { title: "look this key up", text: e.key.type === "string" ? JSON.parse(e.key.json) : e.key.json, onclick: () => lookUp(e.key.json, true) }));
    } else keyCell.append(shown(e.key, "mono"));
    return el("tr", { "data-key": e.key.json ?? "" },
      keyCell,
      el("td", { class: "value mono" }, shown(e.value, "mono")),
      el("td", { class: "muted", text: e.value.type }),
      el("td", { class: "num muted", text: fmt(e.bytes) }),
    );
  }

  $("lookup").addEventListener("submit", (ev) => {
    ev.preventDefault();
    const raw = $("lookup-key").value;
    lookUp($("lookup-json").checked ? raw : JSON.stringify(raw), false);
  });

  async function lookUp(keyJson, fill) {
    const id = current.dict;
    if (fill) {
      $("lookup-key").value = keyJson;
      $("lookup-json").checked = true;
    }
    const out = $("lookup-result");
    out.replaceChildren(el("p", { class: "muted", text: "…" }));
    try {
      const r = await api("entry", { dict: id, key: keyJson });
      if (current.dict !== id) return;
      if (!r.found) { out.replaceChildren(el("p", { "data-found": "false", text: `no entry at ${keyJson}` })); return; }
      let text = r.value.json ?? r.value.note ?? "";
      if (r.value.json !== null && !r.value.truncated) { try { text = JSON.stringify(JSON.parse(r.value.json), null, 2); } catch { /* as sent */ } }
      out.replaceChildren(
        el("p", { "data-found": "true", class: "muted", text: `${r.value.type}, ${fmt(r.bytes)} bytes, version ${r.version}, expires ${r.expiresAt} unless used${r.value.truncated ? " (cut)" : ""}` }),
        el("pre", { class: r.value.json === null ? "note" : "", text }),
      );
    } catch (err) {
      if (!(err instanceof AuthNeeded)) out.replaceChildren(el("p", { class: "error", text: err.message }));
    }
  }

  $("hot").addEventListener("toggle", async () => {
    if (!$("hot").open || !current.dict) return;
    const id = current.dict;
    const body = $("hot-body");
    body.textContent = "…";
    try {
      const r = await api("hot", { dict: id, limit: 10 });
      if (current.dict !== id) return;
      const table = (title, rows, col, val) =>
        el("div", null, el("h4", { text: title }), rows.length === 0 ? el("p", { class: "muted", text: "none yet" }) :
          el("table", null, el("thead", null, el("tr", null, el("th", { text: "key" }), el("th", { class: "num", text: col }))),
            el("tbody", null, ...rows.map((x) => el("tr", null, el("td", { class: "mono" }, shown(x.key, "mono")), el("td", { class: "num", text: fmt(val(x)) }))))));
      const parts = [table("most read", r.accessed, "reads", (x) => x.count), table("largest", r.largest, "bytes", (x) => x.bytes)];
      if (r.unreachable.length) parts.push(el("p", { class: "error", text: `not answered by ${r.unreachable.join(", ")}` }));
      body.replaceChildren(...parts);
      body.className = "";
    } catch (err) {
      if (!(err instanceof AuthNeeded)) body.replaceChildren(el("span", { class: "error", text: err.message }));
    }
  });

  // ---- start ---------------------------------------------------------------------------------

  async function start() {
    try {
      const a = await api("access");
      tokenRequired = a.tokenRequired;
      if (tokenRequired && !token) askForToken("this cluster requires a client token");
      else if (tokenRequired) $("token-change").hidden = false;
    } catch { /* the poll says so */ }
    pollCluster();
    if (!tokenRequired || token) await loadEnvs();
    route();
  }
  start();
})();
