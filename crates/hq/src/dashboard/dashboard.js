// fieldsync HQ dashboard: reads the HQ API with the signed-in device token and renders one view per hash route
// (#overview, #map, #tasks, #task/<id>, #quality). No libraries: the page must work with no internet.
"use strict";

const TOKEN_KEY = "fieldsync-token";
const view = () => document.getElementById("view");

function token() { return sessionStorage.getItem(TOKEN_KEY); }

// GET an HQ API path as JSON; a refusal shows the server's message and, for 401, asks to sign in again.
async function api(path) {
  const response = await fetch(path, { headers: { Authorization: "Bearer " + token() } });
  const body = await response.json().catch(() => ({ message: response.statusText }));
  if (!response.ok) {
    if (response.status === 401) sessionStorage.removeItem(TOKEN_KEY);
    throw new Error(body.message || response.statusText);
  }
  return body;
}

function element(tag, attributes, ...children) {
  const node = document.createElement(tag);
  for (const [key, value] of Object.entries(attributes || {})) node.setAttribute(key, value);
  for (const child of children) node.append(child instanceof Node ? child : document.createTextNode(String(child ?? "")));
  return node;
}

function table(headings, rows, numeric = []) {
  const head = element("tr", {}, ...headings.map((h) => element("th", {}, h)));
  const body = rows.map((row) => element("tr", {}, ...row.map((cell, i) =>
    element("td", numeric.includes(i) ? { class: "number" } : {}, cell))));
  return element("table", {}, element("thead", {}, head), element("tbody", {}, ...body));
}

const hectares = (m2) => (m2 / 10000).toFixed(2);

async function overview() {
  // What HQ reports: approved records (the API's default). Everything reported, drafts included, comes second.
  const [approved, reported, stats] = await Promise.all([api("/v1/hq/totals"), api("/v1/hq/totals?review=any"),
    api("/v1/hq/statistics")]);
  const h = approved.headline;
  const r = reported.headline;
  const tile = (id, value, name) => element("div", { class: "tile" },
    element("div", { class: "value", id }, value), element("div", { class: "name" }, name));
  const land = approved.land_release;
  return [
    element("h2", {}, "National totals, approved"),
    element("div", { class: "tiles" },
      tile("hectares-cleared", h.hectares_cleared.toFixed(2), "hectares cleared"),
      tile("ap-mines", h.ap_mines, "AP mines"),
      tile("at-mines", h.at_mines, "AT mines"),
      tile("uxo", h.uxo, "UXO")),
    element("p", { id: "approved" },
      "Approved by a supervisor or HQ: the figures to report. Everything reported, drafts and records in review " +
      `included: ${r.hectares_cleared.toFixed(2)} ha cleared, ${r.ap_mines} AP mines, ${r.at_mines} AT mines, ` +
      `${r.uxo} UXO.`),
    element("p", { id: "land-released" },
      `Land released: ${land.released_ha.toFixed(2)} ha (${land.cleared_ha.toFixed(2)} cleared, ` +
      `${land.reduced_ha.toFixed(2)} reduced, ${land.cancelled_ha.toFixed(2)} cancelled) in ${land.worked_areas} worked areas.`),
    element("h3", {}, "Land released by team"),
    table(["Team", "Cleared ha", "Reduced ha", "Cancelled ha", "Team-days", "m² per team-day"],
      stats.land_release_by_team.map((t) => {
        const p = stats.productivity.find((x) => x.team === t.key) || { team_days: 0, m2_per_team_day: 0 };
        return [t.key, t.cleared_ha.toFixed(2), t.reduced_ha.toFixed(2), t.cancelled_ha.toFixed(2),
          p.team_days, Math.round(p.m2_per_team_day)];
      }), [1, 2, 3, 4, 5]),
    element("h3", {}, "Finds by category"),
    table(["Category", "Items", "Records"], stats.finds_by_category.map((f) => [f.category, f.items, f.finds]), [1, 2]),
  ];
}

// The map of a box (GET /v1/hq/map): `query` is the rest of the hash, `bbox=w,s,e,n&limit=n`, passed on as it is
// (the server checks it). Each layer comes as features when there are few enough, else as counts on a grid, drawn
// as circles that link to the map of their cell.
async function map(query) {
  const data = await api(`/v1/hq/map${query ? "?" + query : ""}`);
  const title = element("h2", {}, "Map");
  if (!data.bbox) return [title, element("p", {}, "No mapped records yet.")];
  const [minX, minY, maxX, maxY] = data.bbox;
  // Equirectangular, a degree of longitude shrunk by the cosine of the middle latitude: true shapes at this scale.
  const k = Math.cos(((minY + maxY) / 2) * Math.PI / 180);
  const width = 1000, pad = 10;
  const scale = (width - 2 * pad) / Math.max((maxX - minX) * k, (maxY - minY) * 0.5, 1e-9);
  const height = Math.max(200, Math.round((maxY - minY) * scale + 2 * pad));
  const px = ([x, y]) => [pad + (x - minX) * k * scale, height - pad - (y - minY) * scale].map((v) => v.toFixed(1));
  const svg = document.createElementNS("http://www.w3.org/2000/svg", "svg");
  const svgElement = (name, attributes) => {
    const e = document.createElementNS(svg.namespaceURI, name);
    for (const [key, value] of Object.entries(attributes)) e.setAttribute(key, value);
    return e;
  };
  svg.setAttribute("class", "map");
  svg.setAttribute("viewBox", `0 0 ${width} ${height}`);
  svg.setAttribute("role", "img");
  svg.setAttribute("aria-label", "hazard areas, worked areas and finds");
  const shape = (feature, cls) => {
    const g = feature.geometry;
    if (!g) return;
    const polygons = g.type === "Polygon" ? [g.coordinates] : g.type === "MultiPolygon" ? g.coordinates : [];
    for (const rings of polygons) {
      const d = rings.map((ring) => "M" + ring.map((p) => px(p).join(",")).join("L") + "Z").join("");
      svg.append(svgElement("path", { class: cls, d, "data-id": feature.id }));
    }
    if (g.type === "Point") {
      const [cx, cy] = px(g.coordinates);
      svg.append(svgElement("circle", { class: cls, cx, cy, r: "2.5", "data-id": feature.id }));
    }
  };
  const cell = (c, cls) => {
    const [cx, cy] = px([c.lon, c.lat]);
    const link = svgElement("a", { href: `#map/bbox=${c.bbox.join(",")}` });
    const mark = svgElement("circle", { class: cls + " cell", cx, cy, r: (3 + 2 * Math.sqrt(c.count)).toFixed(1) });
    mark.append(svgElement("title", {}));
    mark.lastChild.textContent = `${c.count}`;
    link.append(mark);
    svg.append(link);
  };
  const names = { hazard_areas: ["hazard", "hazard areas (outlined)"], worked_areas: ["worked", "worked areas (green)"],
    finds: ["find", "finds (red)"] };
  const legend = element("p", { class: "legend" });
  for (const layer of data.layers) {
    const [cls, label] = names[layer.layer];
    if (layer.features) layer.features.features.forEach((f) => shape(f, cls));
    else layer.cells.forEach((c) => cell(c, cls));
    const counted = layer.features ? "" : ", counted on a grid";
    legend.append(element("span", { id: `map-${layer.layer}` }, `${layer.total} ${label}${counted}`));
  }
  const notes = [];
  if (data.layers.some((layer) => !layer.features)) {
    notes.push("Too many records to draw one by one: circles count them on a grid; click one to open its part of the map.");
  }
  if (query) notes.push(element("a", { href: "#map" }, "Show everything"));
  return [title, legend, ...notes.map((note) => element("p", {}, note)), svg];
}

async function tasks() {
  const layer = await api("/v1/hq/export?format=geojson&layer=tasks");
  const rows = layer.features.map((f) => [
    element("a", { href: `#task/${f.id}` }, f.properties.label), f.properties.status, f.properties.organisation,
    f.properties.teams]);
  return [element("h2", {}, `Tasks (${rows.length})`), table(["Task", "Status", "Organisation", "Teams"], rows)];
}

async function task(id) {
  const names = ["daily_reports", "worked_areas", "finds", "demolitions", "qa_inspections", "completion_reports"];
  const [own, ...layers] = await Promise.all([
    api(`/v1/hq/export?format=geojson&layer=tasks&task=${id}`),
    ...names.map((name) => api(`/v1/hq/export?format=geojson&layer=${name}&task=${id}`)),
  ]);
  const t = own.features[0];
  if (!t) throw new Error(`no task ${id}`);
  const out = [element("h2", {}, `Task ${t.properties.label}`),
    element("p", {}, `${t.properties.activity}, ${t.properties.status}, ${t.properties.organisation}, teams ${t.properties.teams}`)];
  names.forEach((name, i) => {
    const features = layers[i].features;
    out.push(element("h3", {}, `${name.replace("_", " ")} (${features.length})`));
    if (features.length) {
      out.push(table(["Label", "Date", "Review", "Void"], features.map((f) => [
        element("a", { href: `#record/${f.id}` }, f.properties.label), f.properties.date_of_information,
        f.properties.review, f.properties.void ? "void" : ""])));
    }
  });
  return out;
}

async function record(id) {
  const r = await api(`/v1/hq/records/${id}`);
  const fields = Object.entries(r.record).map(([key, value]) =>
    [key, typeof value === "object" && value !== null ? JSON.stringify(value) : value]);
  // The device that pushed a change is the server's knowledge; the person and device inside it are a claim.
  const value = (v) => (typeof v === "object" && v !== null ? JSON.stringify(v) : String(v));
  const history = r.history.map((h) => [
    new Date(h.time * 1000).toISOString().replace(".000Z", "Z"),
    h.pushed_by ? `${h.pushed_by.name} (${h.pushed_by.role})` : "unknown device",
    h.author ? `${h.author.user}, ${h.author.action}` : h.actor.slice(0, 12),
    Object.entries(h.changed).map(([field, v]) => `${field} = ${value(v)}`).join("; ")]);
  return [
    element("h2", {}, `${r.record_type.replaceAll("_", " ")} ${r.record.label}`),
    element("h3", {}, "As the server holds it"), table(["Field", "Value"], fields),
    element("h3", {}, `Warnings (${r.warnings.length})`),
    table(["Rule", "Field", "Message"], r.warnings.map((w) => [w.rule, w.field, w.message])),
    element("h3", {}, `Open conflicts (${r.conflicts.length}): a supervisor decides`),
    table(["Field", "Candidates"], r.conflicts.map((c) => [c.field, c.candidates.map((v) =>
      `${JSON.stringify(v.value)}${v.author ? ` (${v.author.user}, ${v.author.device})` : ""}`).join(" or ")])),
    element("h3", {}, `History (${history.length} changes)`),
    element("div", { id: "history" }, table(["When (device clock, UTC)", "Pushed by (enrolled device)", "Claimed by", "Set"], history)),
  ];
}

// Findings listed per kind on the page; the rest are counted (the API and `fieldsync-server quality` give them all).
const FINDINGS_SHOWN = 200;

// The data-quality report: how many findings of each kind, then each kind's findings. At national scale one kind
// (records stuck in review) can hold thousands, which must not bury the few invalid polygons.
async function quality() {
  const report = await api("/v1/hq/quality");
  const kinds = new Map();
  for (const f of report.findings) {
    if (!kinds.has(f.kind)) kinds.set(f.kind, []);
    kinds.get(f.kind).push(f);
  }
  const name = (kind) => kind.replaceAll("_", " ");
  const summary = table(["Finding", "Records"], [...kinds].map(([kind, found]) => [name(kind), found.length]), [1]);
  const sections = [...kinds].map(([kind, found]) => {
    const rows = found.slice(0, FINDINGS_SHOWN).map((f) => [f.record_type.replaceAll("_", " "),
      f.task_id ? element("a", { href: `#task/${f.task_id}` }, f.label) : f.label, f.detail]);
    const more = found.length > FINDINGS_SHOWN
      ? [element("p", {}, `and ${found.length - FINDINGS_SHOWN} more: GET /v1/hq/quality or fieldsync-server quality ` +
        "lists them all.")]
      : [];
    return element("section", { class: "quality-kind" }, element("h3", {}, `${name(kind)} (${found.length})`),
      table(["Record type", "Record", "Detail"], rows), ...more);
  });
  return [element("h2", {}, `Data quality: ${report.findings.length} finding(s)`),
    element("div", { id: "quality-summary" }, summary),
    element("div", { id: "quality-findings" }, ...sections)];
}

async function route() {
  const hash = location.hash.slice(1);
  // A link can sign in: #token=<token>, or #token=<token>&then=<view> to open a view.
  if (hash.startsWith("token=")) {
    const [tokenPart, then] = hash.slice(6).split("&then=");
    sessionStorage.setItem(TOKEN_KEY, decodeURIComponent(tokenPart));
    history.replaceState(null, "", "#" + (then ? decodeURIComponent(then) : "overview"));
  }
  const signedIn = Boolean(token());
  document.getElementById("sign-in").hidden = signedIn;
  document.getElementById("nav").hidden = !signedIn;
  view().replaceChildren();
  if (!signedIn) return;
  const [name, id] = (location.hash.slice(1) || "overview").split(/\/(.*)/s);
  for (const a of document.querySelectorAll("nav a")) a.classList.toggle("current", a.hash === "#" + name);
  const problem = document.getElementById("problem");
  problem.hidden = true;
  try {
    const render = { overview, map: () => map(id), tasks, quality, task: () => task(id), record: () => record(id) }[name] || overview;
    view().replaceChildren(...(await render()));
    document.body.dataset.loaded = name;
  } catch (error) {
    problem.textContent = error.message;
    problem.hidden = false;
    if (!token()) route();
  }
}

document.getElementById("sign-in").addEventListener("submit", (event) => {
  event.preventDefault();
  sessionStorage.setItem(TOKEN_KEY, document.getElementById("token").value.trim());
  route();
});
document.getElementById("sign-out").addEventListener("click", () => { sessionStorage.removeItem(TOKEN_KEY); route(); });
window.addEventListener("hashchange", route);
route();
