// The region map (Web Mercator): land, coastline and national borders from Natural Earth
// (shipped with Tike, GET /api/regions/<id>/outline), municipalities at their centres with
// open and overdue counts, each open need as a marker coloured by priority, teams by position
// and status. Optional XYZ tiles by setting. No request leaves the machine unless tiles are set.
import { label, signal, t } from "./i18n.js";

const NS = "http://www.w3.org/2000/svg";
const W = 640, H = 520, PAD = 36;

function svg(tag, attrs = {}, text) {
  const node = document.createElementNS(NS, tag);
  for (const [k, v] of Object.entries(attrs)) node.setAttribute(k, v);
  if (text !== undefined) node.textContent = text;
  return node;
}

//: Where a team sitting on a municipality's circle goes on its rim (degrees; above the circle,
//: away from the name below it), so no team marker covers an open-count label.
const RIM = [-45, -135, -90, 0, 180, -20, -160, -67, -113];

const mercY = (lat) => Math.log(Math.tan(Math.PI / 4 + (lat * Math.PI) / 360));

export class RegionMap {
  constructor(root, region, tilesUrl, outline) {
    this.root = root;
    this.region = region;
    const lats = region.municipalities.map((m) => m.lat);
    const lons = region.municipalities.map((m) => m.lon);
    this.box = { minLon: Math.min(...lons) - 0.25, maxLon: Math.max(...lons) + 0.25,
                 minY: mercY(Math.min(...lats) - 0.12), maxY: mercY(Math.max(...lats) + 0.12) };
    const sx = (W - 2 * PAD) / (this.box.maxLon - this.box.minLon);
    const sy = (H - 2 * PAD) / (((this.box.maxY - this.box.minY) * 180) / Math.PI);
    this.scale = Math.min(sx, sy);
    root.setAttribute("viewBox", `0 0 ${W} ${H}`);
    root.replaceChildren(svg("rect", { class: "sea", x: 0, y: 0, width: W, height: H }));
    if (outline) this.outline(outline);
    if (tilesUrl) this.tiles(tilesUrl);
    this.layer = svg("g");
    this.needLayer = svg("g", { class: "needs" });
    this.teamLayer = svg("g");
    this.legend = svg("g", { class: "legend" });
    root.append(this.layer, this.needLayer, this.teamLayer, this.legend);
    this.hasOutline = Boolean(outline);
  }

  path(points, close) {
    return points.map(([lon, lat], i) => {
      const [x, y] = this.xy(lat, lon);
      return `${i ? "L" : "M"}${x.toFixed(1)},${y.toFixed(1)}`;
    }).join("") + (close ? "Z" : "");
  }

  /** Land, coast and national borders: real data only (tike/data/maps/, Natural Earth). */
  outline(data) {
    const g = svg("g", { class: "outline", "aria-hidden": "true" });
    for (const ring of data.land || []) g.append(svg("path", { class: "land", d: this.path(ring, true) }));
    for (const line of data.coast || []) g.append(svg("path", { class: "coast", d: this.path(line, false) }));
    for (const line of data.borders || []) g.append(svg("path", { class: "border", d: this.path(line, false) }));
    this.root.append(g);
  }

  drawLegend() {
    this.legend.replaceChildren();
    let x = 10;
    const y = H - 26;
    const item = (node, text) => {
      this.legend.append(node, svg("text", { x: x + 10, y: y + 4, class: "legend-text" }, text));
      x += 16 + text.length * 6.2;
    };
    for (const p of ["stat", "asap", "urgent", "routine"]) {
      item(svg("circle", { cx: x + 3, cy: y, r: 5, class: `need-dot prio-${p}` }), label("prio", p));
    }
    x += 8;
    for (const s of ["available", "busy", "en_route", "on_site"]) {
      const g = svg("g", { class: `team-dot status-${s}` });
      g.append(svg("rect", { x: x - 2, y: y - 5, width: 10, height: 10, rx: 2 }));
      item(g, label("status", s));
    }
    if (this.hasOutline) this.legend.append(svg("text", { x: W - 8, y: H - 8, class: "attribution" }, t("map.coast")));
  }

  xy(lat, lon) {
    const x = PAD + (lon - this.box.minLon) * this.scale;
    const y = PAD + ((this.box.maxY - mercY(lat)) * 180 / Math.PI) * this.scale;
    return [x, y];
  }

  tiles(template) {
    // Zoom 8 tiles covering the box, placed with the same projection.
    const z = 8, n = 2 ** z;
    const tileX = (lon) => Math.floor(((lon + 180) / 360) * n);
    const tileY = (y) => Math.floor(((1 - y / Math.PI) / 2) * n);
    const g = svg("g", { class: "tiles", opacity: "0.55" });
    for (let x = tileX(this.box.minLon); x <= tileX(this.box.maxLon); x++) {
      for (let y = tileY(this.box.maxY); y <= tileY(this.box.minY); y++) {
        const lon0 = (x / n) * 360 - 180, lon1 = ((x + 1) / n) * 360 - 180;
        const lat = (ty) => (Math.atan(Math.sinh(Math.PI * (1 - (2 * ty) / n))) * 180) / Math.PI;
        const [x0, y0] = this.xy(lat(y), lon0);
        const [x1, y1] = this.xy(lat(y + 1), lon1);
        const href = template.replace("{z}", z).replace("{x}", x).replace("{y}", y);
        g.append(svg("image", { href, x: x0, y: y0, width: x1 - x0, height: y1 - y0,
                                preserveAspectRatio: "none" }));
      }
    }
    this.root.append(g);
  }

  render(needs, teams, lang) {
    const open = new Map(), overdue = new Map(), stat = new Map();
    for (const n of needs) {
      if (n.status !== "open") continue;
      open.set(n.municipality, (open.get(n.municipality) || 0) + 1);
      if (n.overdue) overdue.set(n.municipality, (overdue.get(n.municipality) || 0) + 1);
      if (n.priority === "stat") stat.set(n.municipality, true);
    }
    this.layer.replaceChildren();
    const circles = [];
    for (const m of this.region.municipalities) {
      const [x, y] = this.xy(m.lat, m.lon);
      const r = 5 + Math.sqrt(m.population) / 28;
      circles.push({ x, y, r, used: 0 });
      const count = open.get(m.code) || 0, late = overdue.get(m.code) || 0;
      const name = lang === "sv" ? m.name_sv : m.name_fi;
      const g = svg("g", { class: `muni${count ? " busy" : ""}${late ? " late" : ""}${stat.get(m.code) ? " stat" : ""}`,
                           "data-code": m.code });
      const title = `${name}: ${t("kpi.open")} ${count}, ${t("kpi.overdue")} ${late}`;
      g.append(svg("title", {}, title));
      g.append(svg("circle", { cx: x, cy: y, r }));
      g.append(svg("text", { x, y: y + r + 12, class: "name" }, name));
      if (count) {
        g.append(svg("text", { x, y: y + 4, class: "count" }, late ? `${count}/${late}` : `${count}`));
      }
      this.layer.append(g);
    }
    this.needLayer.replaceChildren();
    const RANK = { stat: 0, asap: 1, urgent: 2, routine: 3 };
    const placed = new Map();
    const openNeeds = needs.filter((n) => n.status === "open")
      .sort((a, b) => (RANK[b.priority] ?? 9) - (RANK[a.priority] ?? 9)); // most urgent on top
    for (const n of openNeeds) {
      let lat = n.location?.lat, lon = n.location?.lon;
      if (lat == null || lon == null) { // no coordinates: around its municipality's centre
        const m = this.region.municipalities.find((x) => x.code === n.municipality);
        if (!m) continue;
        const k = placed.get(m.code) || 0;
        placed.set(m.code, k + 1);
        const a = (k * 137.5 * Math.PI) / 180;
        lat = m.lat + 0.03 * Math.sin(a) * (1 + k / 6);
        lon = m.lon + 0.06 * Math.cos(a) * (1 + k / 6);
      }
      const [x, y] = this.xy(lat, lon);
      const g = svg("g", { class: `need-dot prio-${n.priority}${n.overdue ? " overdue" : ""}`, "data-need": n.need_id });
      g.append(svg("title", {}, `${label("prio", n.priority)}: ${signal(n.signal)}`));
      g.append(svg("circle", { cx: x, cy: y, r: n.priority === "stat" ? 6 : 4.5 }));
      this.needLayer.append(g);
    }
    this.drawLegend();
    this.teamLayer.replaceChildren();
    for (const team of [...teams].sort((a, b) => a.team_id.localeCompare(b.team_id))) {
      const loc = team.location;
      if (!loc || loc.lat == null || loc.lon == null) continue;
      const [x, y] = this.offCircles(...this.xy(loc.lat, loc.lon), circles);
      const g = svg("g", { class: `team-dot status-${team.status}`, "data-team": team.team_id });
      g.append(svg("title", {}, `${team.team_id}: ${t(`status.${team.status}`)}`));
      g.append(svg("rect", { x: x - 5, y: y - 5, width: 10, height: 10, rx: 2 }));
      this.teamLayer.append(g);
    }
  }

  /** A team marker's place: where it is, or on the rim of a circle it would cover. */
  offCircles(x, y, circles) {
    const hit = circles.find((c) => Math.hypot(x - c.x, y - c.y) < c.r + 7);
    if (!hit) return [x, y];
    const k = hit.used++;
    const a = (RIM[k % RIM.length] * Math.PI) / 180, d = hit.r + 8 + 13 * Math.floor(k / RIM.length);
    return [hit.x + d * Math.cos(a), hit.y + d * Math.sin(a)];
  }
}
