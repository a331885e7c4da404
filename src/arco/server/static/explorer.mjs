// Arco explorer: mints signed URLs for the current snapshot's Parquet files, registers them
// in DuckDB-WASM and computes every list, the lineage graph, search and free SQL in the
// browser. The merged views use the server's own merge rule (GET /explorer/config.json).

const API = "/api/v1";
const VENDOR = new URL("/explorer/vendor/", location.href).href;
const $ = (id) => document.getElementById(id);

const state = { db: null, conn: null, duckdb: null, config: null, loads: 0, selected: null };

function setStatus(text, st = "busy", el = $("status")) {
  el.textContent = text;
  el.dataset.state = st;
}

function el(tag, attrs = {}, ...children) {
  const node = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) {
    if (k === "dataset") Object.assign(node.dataset, v);
    else if (k.startsWith("on")) node.addEventListener(k.slice(2), v);
    else node.setAttribute(k, v);
  }
  for (const c of children) node.append(c instanceof Node ? c : document.createTextNode(String(c)));
  return node;
}

const lit = (s) => (s == null ? "NULL" : `'${String(s).replaceAll("'", "''")}'`);
const ident = (s) => `"${String(s).replaceAll('"', '""')}"`;

// ---------------------------------------------------------------------------- DuckDB-WASM

function loadScript(src) {
  return new Promise((resolve, reject) => {
    const s = el("script", { src });
    s.onload = resolve;
    s.onerror = () => reject(new Error(`could not load ${src}`));
    document.head.append(s);
  });
}

async function startDuckDB() {
  if (state.db) return;
  setStatus("Starting DuckDB-WASM…");
  await loadScript(VENDOR + "apache-arrow/Arrow.es2015.min.js");
  const duckdb = await import(VENDOR + "duckdb-wasm/duckdb-browser.mjs");
  const worker = new Worker(VENDOR + "duckdb-wasm/duckdb-browser-eh.worker.js");
  const db = new duckdb.AsyncDuckDB(new duckdb.VoidLogger(), worker);
  await db.instantiate(VENDOR + "duckdb-wasm/duckdb-eh.wasm");
  state.duckdb = duckdb;
  state.db = db;
  state.conn = await db.connect();
}

async function query(sql) {
  return state.conn.query(sql);
}

async function rows(sql) {
  const table = await query(sql);
  return table.toArray().map((r) => r.toJSON());
}

// ---------------------------------------------------------------------------- REST calls

function authHeaders() {
  const h = {};
  const tenant = $("tenant").value.trim();
  const workspace = $("workspace").value.trim();
  const token = $("token").value.trim();
  if (tenant) h["X-Tenant-Id"] = tenant;
  if (workspace) h["X-Workspace-Id"] = workspace;
  if (token) h["Authorization"] = `Bearer ${token}`;
  return h;
}

async function api(method, path, body) {
  const headers = authHeaders();
  if (body !== undefined) {
    headers["Content-Type"] = "application/json";
    headers["Idempotency-Key"] = crypto.randomUUID();
  }
  const resp = await fetch(API + path, {
    method,
    headers,
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  const payload = resp.headers.get("content-type")?.includes("json") ? await resp.json() : null;
  if (!resp.ok) {
    const err = new Error(payload?.error?.message ?? `${method} ${path}: HTTP ${resp.status}`);
    err.status = resp.status;
    err.code = payload?.error?.code;
    throw err;
  }
  return payload;
}

async function mint(domain) {
  return api("POST", "/browser/urls", { domain });
}

// ---------------------------------------------------------------------------- views

async function buildViews() {
  const load = ++state.loads;
  // the domains the server's views read (its registry), in its order; a domain never
  // written has no manifest (404): its views are empty, not an error
  const domains = [...new Set(state.config.views.map((v) => v.domain))];
  const files = {}; // "domain/table" -> [registered file names]
  let count = 0;
  for (const domain of domains) {
    let minted;
    try {
      minted = await mint(domain);
    } catch (e) {
      if (e.status === 404) continue;
      throw e;
    }
    for (const [i, f] of minted.files.entries()) {
      const name = `arco_${load}_${domain}_${f.table}_${i}.parquet`;
      const url = new URL(f.url, location.href).href;
      await state.db.registerFileURL(name, url, state.duckdb.DuckDBDataProtocol.HTTP, false);
      (files[`${domain}/${f.table}`] ??= []).push(name);
      count += 1;
    }
  }
  const schemas = new Set(state.config.views.map((v) => v.schema));
  for (const s of schemas) await query(`CREATE SCHEMA IF NOT EXISTS ${ident(s)}`);
  for (const v of state.config.views) {
    const names = files[`${v.domain}/${v.table}`];
    const source = names
      ? `read_parquet([${names.map(lit).join(", ")}], union_by_name = true)`
      : `(SELECT ${v.columns.map((c) => `NULL::${c.type} AS ${ident(c.name)}`).join(", ")} WHERE false) AS empty_source`;
    const select = v.merge_sql.replace("{source}", source);
    await query(`CREATE OR REPLACE VIEW ${ident(v.schema)}.${ident(v.view)} AS ${select}`);
  }
  for (const sql of state.config.extra_views ?? []) await query(sql);
  return { domains, count };
}

// ---------------------------------------------------------------------------- rendering

async function renderTree() {
  const namespaces = await rows(
    "SELECT namespace_id, name, description FROM catalog.namespaces ORDER BY name"
  );
  const tables = await rows(
    "SELECT table_id, namespace_id, name, description FROM catalog.tables ORDER BY name"
  );
  const list = $("namespaces");
  list.replaceChildren();
  for (const ns of namespaces) {
    const sub = el("ul", { class: "tables" });
    for (const t of tables.filter((t) => t.namespace_id === ns.namespace_id)) {
      const button = el(
        "button",
        {
          type: "button",
          class: "table-link",
          dataset: { namespace: ns.name, table: t.name, tableId: t.table_id },
          onclick: () => selectTable(ns.name, t),
        },
        t.name
      );
      sub.append(el("li", { class: "table", dataset: { table: t.name } }, button));
    }
    list.append(
      el(
        "li",
        { class: "namespace", dataset: { namespace: ns.name } },
        el("span", { class: "ns-name" }, ns.name),
        ns.description ? el("span", { class: "hint" }, ` — ${ns.description}`) : "",
        sub
      )
    );
  }
  return { namespaces: namespaces.length, tables: tables.length };
}

async function selectTable(namespace, table) {
  state.selected = { namespace, table };
  for (const b of document.querySelectorAll(".table-link")) {
    b.classList.toggle("selected", b.dataset.tableId === table.table_id);
  }
  $("selected-table").textContent = `${namespace}.${table.name}`;
  $("table-description").textContent = table.description ?? "";
  const cols = await rows(
    `SELECT position, name, type, nullable, description FROM catalog.columns
     WHERE table_id = ${lit(table.table_id)} ORDER BY position`
  );
  const body = $("columns").tBodies[0];
  body.replaceChildren(
    ...cols.map((c) =>
      el(
        "tr",
        { class: "column", dataset: { column: c.name } },
        el("td", {}, c.position),
        el("td", { class: "column-name" }, c.name),
        el("td", { class: "column-type" }, c.type),
        el("td", {}, c.nullable ? "yes" : "no"),
        el("td", {}, c.description ?? "")
      )
    )
  );
  await renderLineage(`${namespace}/${table.name}`);
  $("detail-section").dataset.selected = `${namespace}/${table.name}`;
}

// The same walk as arco.lineage.traverse: breadth first from the asset, each node expanded
// upstream and downstream ("both") once, up to `depth` hops; nodes are case-insensitive.
async function renderLineage(asset, depth = 3) {
  const edges = await rows(
    "SELECT edge_id, source, target, edge_type, run_id FROM lineage.edges"
  );
  const key = (a) => a.normalize("NFKC").toLowerCase();
  const info = new Map([[key(asset), { name: asset, distance: 0, layer: 0 }]]);
  const shown = new Map();
  const queue = [key(asset)];
  while (queue.length) {
    const node = queue.shift();
    const here = info.get(node);
    if (here.distance === depth) continue;
    const steps = [];
    for (const e of edges) {
      if (key(e.target) === node) steps.push([e, e.source, -1]);
      if (key(e.source) === node) steps.push([e, e.target, 1]);
    }
    for (const [e, neighbour, dir] of steps) {
      if (!shown.has(e.edge_id)) shown.set(e.edge_id, e);
      const k = key(neighbour);
      if (!info.has(k)) {
        info.set(k, { name: neighbour, distance: here.distance + 1, layer: here.layer + dir });
        queue.push(k);
      }
    }
  }
  const ordered = [...shown.values()].sort((a, b) =>
    `${key(a.source)}\u0000${key(a.target)}`.localeCompare(`${key(b.source)}\u0000${key(b.target)}`)
  );
  $("lineage-edges").replaceChildren(
    ...(ordered.length
      ? ordered.map((e) =>
          el(
            "li",
            { class: "lineage-edge", dataset: { source: e.source, target: e.target } },
            `${e.source} → ${e.target}`,
            el("span", { class: "hint" }, ` (${e.edge_type}${e.run_id ? `, run ${e.run_id}` : ""})`)
          )
        )
      : [el("li", { class: "hint" }, "no lineage recorded")])
  );
  const layers = new Map([...info.values()].map((n) => [n.name, n.layer]));
  $("lineage-graph").replaceChildren(lineageSvg(asset, layers, ordered, key));
}

function lineageSvg(asset, layers, edges, key) {
  const NS = "http://www.w3.org/2000/svg";
  const svg = (tag, attrs = {}) => {
    const n = document.createElementNS(NS, tag);
    for (const [k, v] of Object.entries(attrs)) n.setAttribute(k, v);
    return n;
  };
  const byLayer = new Map();
  for (const [node, layer] of layers) (byLayer.get(layer) ?? byLayer.set(layer, []).get(layer)).push(node);
  const keys = [...byLayer.keys()].sort((a, b) => a - b);
  const W = 170, H = 28, GX = 50, GY = 14;
  const pos = new Map();
  keys.forEach((layer, x) =>
    byLayer.get(layer).sort().forEach((node, y) => pos.set(node, [x * (W + GX), y * (H + GY)]))
  );
  const width = Math.max(1, keys.length) * (W + GX);
  const height = Math.max(...keys.map((k) => byLayer.get(k).length), 1) * (H + GY);
  const root = svg("svg", { width, height, viewBox: `0 0 ${width} ${height}`, role: "img" });
  const defs = svg("defs");
  const marker = svg("marker", { id: "arrow", viewBox: "0 0 10 10", refX: 10, refY: 5, markerWidth: 6, markerHeight: 6, orient: "auto" });
  marker.append(svg("path", { d: "M0,0 L10,5 L0,10 z", fill: "#888" }));
  defs.append(marker);
  root.append(defs);
  const byKey = new Map([...pos].map(([name, p]) => [key(name), p]));
  for (const e of edges) {
    const [x1, y1] = byKey.get(key(e.source)), [x2, y2] = byKey.get(key(e.target));
    root.append(svg("line", { class: "edge", x1: x1 + W, y1: y1 + H / 2, x2, y2: y2 + H / 2 }));
  }
  for (const [node, [x, y]] of pos) {
    const g = svg("g", { class: node === asset ? "node focus" : "node", "data-asset": node });
    g.append(svg("rect", { x, y, width: W, height: H, rx: 4 }));
    const t = svg("text", { x: x + 6, y: y + H / 2 + 4 });
    t.textContent = node.length > 24 ? node.slice(0, 23) + "…" : node;
    g.append(t);
    root.append(g);
  }
  return root;
}

// ---------------------------------------------------------------------------- search

const SPACELESS = /[\p{Script=Han}\p{Script=Hiragana}\p{Script=Katakana}\p{Script=Thai}\p{Script=Lao}\p{Script=Khmer}\p{Script=Myanmar}]/u;

// A close approximation of arco.search.tokenize for queries: NFKC, split on anything that is
// not a letter/mark/number, at letter/number and case boundaries; spaceless scripts → bigrams.
function tokenize(text) {
  const out = [];
  const words = text.normalize("NFKC").replace(/[\p{Cf}\p{Me}]/gu, "").split(/[^\p{L}\p{M}\p{N}]+/u);
  for (const word of words) {
    const pieces = word.match(/\p{N}+|(?:\p{Lu}\p{M}*)+(?=\p{Lu}\p{Ll})|\p{Lu}?\p{M}*(?:\p{Ll}\p{M}*)+|(?:\p{Lu}\p{M}*)+|(?:\p{L}\p{M}*)+/gu) ?? [];
    for (const piece of pieces) {
      const runs = piece.split(/((?:[\p{Script=Han}\p{Script=Hiragana}\p{Script=Katakana}\p{Script=Thai}\p{Script=Lao}\p{Script=Khmer}\p{Script=Myanmar}]\p{M}*)+)/u);
      for (const run of runs) {
        if (!run) continue;
        const chars = [...run];
        if (SPACELESS.test(run) && chars.length > 1) {
          for (let i = 0; i + 1 < chars.length; i++) out.push((chars[i] + chars[i + 1]).toLowerCase());
        } else {
          out.push(run.toLowerCase().normalize("NFKC"));
        }
      }
    }
  }
  return [...new Set(out.filter(Boolean))];
}

async function runSearch(text) {
  const tokens = tokenize(text);
  const list = $("search-results");
  if (!tokens.length) {
    list.replaceChildren();
    return;
  }
  const hits = await rows(`
    WITH q(tok) AS (VALUES ${tokens.map((t) => `(${lit(t)})`).join(", ")}),
    best AS (
      SELECT q.tok, p.entity_kind, p.entity_id, any_value(p.table_id) AS table_id,
             any_value(p.namespace_id) AS namespace_id,
             max(p.weight::DOUBLE * CASE WHEN p.token = q.tok THEN 1.5 ELSE 1.0 END) AS score
      FROM search.postings p JOIN q ON starts_with(p.token, q.tok)
      GROUP BY q.tok, p.entity_kind, p.entity_id),
    ranked AS (
      SELECT entity_kind, entity_id, any_value(table_id) AS table_id,
             any_value(namespace_id) AS namespace_id, sum(score)::DOUBLE AS score
      FROM best GROUP BY entity_kind, entity_id
      HAVING count(*) = (SELECT count(*) FROM q))
    SELECT r.entity_kind, r.score, n.name AS namespace, t.name AS table_name, c.name AS column_name
    FROM ranked r
    JOIN catalog.namespaces n ON n.namespace_id = r.namespace_id
    LEFT JOIN catalog.tables t ON t.table_id = r.table_id
    LEFT JOIN catalog.columns c ON r.entity_kind = 'column' AND c.column_id = r.entity_id
    ORDER BY r.score DESC,
      CASE r.entity_kind WHEN 'namespace' THEN 0 WHEN 'table' THEN 1 ELSE 2 END, r.entity_id
    LIMIT 20`);
  list.replaceChildren(
    ...hits.map((h) => {
      const label = [h.namespace, h.table_name, h.column_name].filter((x) => x != null).join(".");
      return el("li", { class: "search-hit", dataset: { kind: h.entity_kind, name: label } },
        `${h.entity_kind}: ${label}`, el("span", { class: "hint" }, ` (${Number(h.score)})`));
    })
  );
  if (!hits.length) list.append(el("li", { class: "hint" }, "no match"));
  list.dataset.query = text;
}

// ---------------------------------------------------------------------------- SQL box

function format(value, type) {
  if (value == null) return null;
  const Arrow = globalThis.Arrow;
  if (type.typeId === Arrow.Type.Timestamp || type.typeId === Arrow.Type.Date) {
    return new Date(Number(value)).toISOString();
  }
  if (typeof value === "bigint") return value.toString();
  if (typeof value === "object") {
    const plain = typeof value.toJSON === "function" ? value.toJSON() : value;
    return JSON.stringify(plain, (_k, v) => (typeof v === "bigint" ? v.toString() : v));
  }
  return String(value);
}

async function runSql(sql) {
  const status = $("sql-status");
  setStatus("running…", "busy", status);
  const started = performance.now();
  try {
    const table = await query(sql);
    const fields = table.schema.fields;
    $("sql-result").tHead.replaceChildren(el("tr", {}, ...fields.map((f) => el("th", {}, f.name))));
    const body = [];
    for (const row of table) {
      body.push(
        el(
          "tr",
          {},
          ...fields.map((f) => {
            const v = format(row[f.name], f.type);
            return v == null ? el("td", { class: "null" }, "NULL") : el("td", {}, v);
          })
        )
      );
    }
    $("sql-result").tBodies[0].replaceChildren(...body);
    const ms = Math.round(performance.now() - started);
    setStatus(`${table.numRows} row(s) in ${ms} ms`, "ready", status);
  } catch (e) {
    $("sql-result").tHead.replaceChildren();
    $("sql-result").tBodies[0].replaceChildren();
    setStatus(String(e.message ?? e), "error", status);
  }
}

// ---------------------------------------------------------------------------- wiring

async function load() {
  try {
    await startDuckDB();
    setStatus("Minting signed URLs…");
    const { domains, count } = await buildViews();
    const { namespaces, tables } = await renderTree();
    setStatus(
      `Loaded ${count} Parquet file(s) of ${domains.join(", ")}: ${namespaces} namespace(s), ${tables} table(s).`,
      "ready"
    );
    for (const k of ["tenant", "workspace"]) localStorage.setItem(`arco.${k}`, $(k).value);
  } catch (e) {
    console.error(e);
    setStatus(`Error: ${e.message ?? e}`, "error");
  }
}

async function main() {
  for (const k of ["tenant", "workspace"]) {
    const saved = localStorage.getItem(`arco.${k}`);
    if (saved) $(k).value = saved;
  }
  const params = new URLSearchParams(location.search);
  for (const k of ["tenant", "workspace"]) if (params.get(k)) $(k).value = params.get(k);
  try {
    state.config = await (await fetch("/explorer/config.json")).json();
  } catch (e) {
    setStatus(`Error: cannot read /explorer/config.json (${e.message})`, "error");
    return;
  }
  $("mode-hint").textContent = state.config.dev
    ? "development mode: the scope comes from tenant and workspace"
    : "production: a bearer token is required";
  if (!state.config.assets_vendored) {
    setStatus(
      "The DuckDB-WASM assets are not installed in this package. Run " +
        "`python src/arco/server/static/vendor.py` (or ./dev demo / ./dev test) and reinstall.",
      "error"
    );
    $("status").dataset.missing = "assets";
    $("load").disabled = true;
    return;
  }
  $("connect").addEventListener("submit", (ev) => {
    ev.preventDefault();
    load();
  });
  const search = () =>
    runSearch($("search").value).catch((e) => setStatus(`Error: ${e.message ?? e}`, "error"));
  $("search-form").addEventListener("submit", (ev) => {
    ev.preventDefault();
    search();
  });
  let typing = null;
  $("search").addEventListener("input", () => {
    clearTimeout(typing);
    if (state.conn && $("status").dataset.state === "ready") typing = setTimeout(search, 250);
  });
  $("sql-form").addEventListener("submit", (ev) => {
    ev.preventDefault();
    runSql($("sql").value);
  });
  if (params.has("autoload")) await load();
}

main();
