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
  const [totals, stats] = await Promise.all([api("/v1/hq/totals"), api("/v1/hq/statistics")]);
  const h = totals.headline;
  const tile = (id, value, name) => element("div", { class: "tile" },
    element("div", { class: "value", id }, value), element("div", { class: "name" }, name));
  const land = totals.land_release;
  return [
    element("h2", {}, "National totals"),
    element("div", { class: "tiles" },
      tile("hectares-cleared", h.hectares_cleared.toFixed(2), "hectares cleared"),
      tile("ap-mines", h.ap_mines, "AP mines"),
      tile("at-mines", h.at_mines, "AT mines"),
      tile("uxo", h.uxo, "UXO")),
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

// Every vertex of a GeoJSON geometry.
function* positions(geometry) {
  if (!geometry) return;
  const walk = function* (c) { if (typeof c[0] === "number") yield c; else for (const x of c) yield* walk(x); };
  yield* walk(geometry.coordinates);
}

async function map() {
  const layer = (name) => api(`/v1/hq/export?format=geojson&layer=${name}`);
  const [hazards, worked, finds] = await Promise.all([layer("hazard_areas"), layer("worked_areas"), layer("finds")]);
  const all = [...hazards.features, ...worked.features, ...finds.features];
  let [minX, minY, maxX, maxY] = [Infinity, Infinity, -Infinity, -Infinity];
  for (const f of all) for (const [x, y] of positions(f.geometry)) {
    minX = Math.min(minX, x); maxX = Math.max(maxX, x); minY = Math.min(minY, y); maxY = Math.max(maxY, y);
  }
  if (!isFinite(minX)) return [element("p", {}, "No mapped records yet.")];
  // Equirectangular, a degree of longitude shrunk by the cosine of the middle latitude: true shapes at this scale.
  const k = Math.cos(((minY + maxY) / 2) * Math.PI / 180);
  const width = 1000, pad = 10;
  const scale = (width - 2 * pad) / Math.max((maxX - minX) * k, 1e-9);
  const height = Math.max(200, Math.round((maxY - minY) * scale + 2 * pad));
  const px = ([x, y]) => `${(pad + (x - minX) * k * scale).toFixed(1)},${(height - pad - (y - minY) * scale).toFixed(1)}`;
  const svg = document.createElementNS("http://www.w3.org/2000/svg", "svg");
  svg.setAttribute("class", "map");
  svg.setAttribute("viewBox", `0 0 ${width} ${height}`);
  svg.setAttribute("role", "img");
  svg.setAttribute("aria-label", "hazard areas, worked areas and finds");
  const shape = (feature, cls) => {
    const g = feature.geometry;
    if (!g) return;
    const polygons = g.type === "Polygon" ? [g.coordinates] : g.type === "MultiPolygon" ? g.coordinates : [];
    for (const rings of polygons) {
      const path = document.createElementNS(svg.namespaceURI, "path");
      path.setAttribute("class", cls);
      path.setAttribute("d", rings.map((ring) => "M" + ring.map(px).join("L") + "Z").join(""));
      path.setAttribute("data-id", feature.id);
      svg.append(path);
    }
    if (g.type === "Point") {
      const [x, y] = px(g.coordinates).split(",");
      const dot = document.createElementNS(svg.namespaceURI, "circle");
      dot.setAttribute("class", cls);
      dot.setAttribute("cx", x); dot.setAttribute("cy", y); dot.setAttribute("r", "2.5");
      dot.setAttribute("data-id", feature.id);
      svg.append(dot);
    }
  };
  hazards.features.forEach((f) => shape(f, "hazard"));
  worked.features.forEach((f) => shape(f, "worked"));
  finds.features.forEach((f) => shape(f, "find"));
  return [
    element("h2", {}, "Map"),
    element("p", { class: "legend" },
      element("span", {}, `${hazards.features.length} hazard areas (outlined)`),
      element("span", {}, `${worked.features.length} worked areas (green)`),
      element("span", {}, `${finds.features.length} finds (red)`)),
    svg,
  ];
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
  const history = r.history.map((h) => [
    new Date(h.time * 1000).toISOString().replace(".000Z", "Z"),
    h.author ? `${h.author.user} (${h.author.device}), ${h.author.action}` : h.actor.slice(0, 12),
    Object.keys(h.changed).join(", ")]);
  return [
    element("h2", {}, `${r.record_type.replaceAll("_", " ")} ${r.record.label}`),
    element("h3", {}, "As the server holds it"), table(["Field", "Value"], fields),
    element("h3", {}, `Warnings (${r.warnings.length})`),
    table(["Rule", "Field", "Message"], r.warnings.map((w) => [w.rule, w.field, w.message])),
    element("h3", {}, `History (${history.length} changes)`),
    element("div", { id: "history" }, table(["When (device clock, UTC)", "Who", "Changed"], history)),
  ];
}

async function quality() {
  const report = await api("/v1/hq/quality");
  const rows = report.findings.map((f) => [f.kind.replaceAll("_", " "), f.record_type.replaceAll("_", " "),
    f.task_id ? element("a", { href: `#task/${f.task_id}` }, f.label) : f.label, f.detail]);
  return [element("h2", {}, `Data quality: ${rows.length} finding(s)`),
    element("div", { id: "quality-findings" }, table(["Finding", "Record type", "Record", "Detail"], rows))];
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
  const [name, id] = (location.hash.slice(1) || "overview").split("/");
  for (const a of document.querySelectorAll("nav a")) a.classList.toggle("current", a.hash === "#" + name);
  const problem = document.getElementById("problem");
  problem.hidden = true;
  try {
    const render = { overview, map, tasks, quality, task: () => task(id), record: () => record(id) }[name] || overview;
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
