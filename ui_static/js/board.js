// Control-room board: queue, teams, KPIs, map, alerts, per-need panel and actions.
import { api, el, header, liveSocket, setConnection, signIn } from "./api.js";
import { applyI18n, currentLang, formatTime, label, onLangChange, signal, t } from "./i18n.js";
import { RegionMap } from "./map.js";
import { alertText, copyButton, needPanel, noticeText, phaseLabel, whom } from "./need_panel.js";

const RANK = { stat: 0, asap: 1, urgent: 2, routine: 3 };
const HOURS = { "1h": 1, "6h": 6, "24h": 24 };
const state = { items: new Map(), ready: false, filters: { source: "", municipality: "", window: "24h" },
                selected: null, region: null, map: null, announced: new Set() };

const needs = () => [...state.items.values()].filter((i) => i.entity === "need").map((i) => i.data);
const teams = () => [...state.items.values()].filter((i) => i.entity === "team").map((i) => i.data);
const NOTICE_FRESH_MS = 15 * 60e3; // a refusal marks its need's row this long
/** Refusals of control actions on a need (the worker's notices), newest first. */
const noticesOf = (needId) => [...state.items.values()]
  .filter((i) => i.entity === "notice" && i.data?.need_id === needId)
  .sort((a, b) => Date.parse(b.at) - Date.parse(a.at));
const muniName = (code) => {
  const m = state.region?.municipalities.find((x) => x.code === code);
  return m ? (currentLang() === "sv" ? m.name_sv : m.name_fi) : code;
};

function announce(text, urgent) {
  const live = document.getElementById(urgent ? "live-urgent" : "live-polite");
  live.textContent = "";
  setTimeout(() => { live.textContent = text; }, 50);
}

function apply(frame) {
  if (frame.type === "snapshot") state.items.clear();
  for (const item of frame.items || []) {
    const key = `${item.entity}:${item.id}`;
    const old = state.items.get(key);
    if (item.op === "remove") { state.items.delete(key); continue; }
    if (old && old.version > item.version) continue;
    state.items.set(key, item);
    if (frame.type === "deltas" && item.entity === "need" && state.ready) {
      const n = item.data;
      if (item.version === 1 && !state.announced.has(n.need_id)) {
        state.announced.add(n.need_id);
        announce(`${t(`prio.${n.priority}`)}: ${signal(n.signal)}, ${muniName(n.municipality)}`, n.priority === "stat");
      } else if (n.alert && !n.alert.acknowledged_by && old && !old.data.alert) {
        const ids = [n.client, n.device_id || n.call_id || n.transport_request_id].filter(Boolean).join(" ");
        announce(`${t("alert.banner", { n: 1 })} – ${signal(n.signal)}, ${muniName(n.municipality)}${ids ? `, ${ids}` : ""}`, true);
      }
    }
  }
  if (frame.type === "snapshot") {
    state.ready = true;
    for (const n of needs()) state.announced.add(n.need_id);
  }
  schedule();
}

let pending = false;
function schedule() {
  if (pending) return;
  pending = true;
  requestAnimationFrame(() => { pending = false; render(); });
}

function countdown(n) {
  const left = Math.round((Date.parse(n.due_at) - Date.now()) / 60000);
  return left >= 0 ? t("need.left", { m: left }) : t("need.late", { m: -left });
}

function queueRow(n) {
  const late = n.overdue || Date.parse(n.due_at) < Date.now();
  const owner = n.owner?.kind === "team" ? n.owner.team_id : n.team_id ? `→ ${n.team_id}` : t("need.control_room");
  const marker = noticeMarker(n);
  const row = el("li", {
    class: `need prio-${n.priority}${late ? " overdue" : ""}${n.alert && !n.alert.acknowledged_by ? " alerting" : ""}${marker ? " refused" : ""}`,
    tabindex: "0", "data-need": n.need_id, "aria-selected": state.selected === n.need_id ? "true" : "false",
    onclick: () => select(n.need_id),
    onkeydown: (ev) => { if (ev.key === "Enter" || ev.key === " ") { ev.preventDefault(); select(n.need_id); } },
  },
  el("span", { class: "prio" }, n.priority === "stat" ? `‼ ${t("prio.stat")}` : t(`prio.${n.priority}`)),
  el("span", { class: "signal", title: n.signal }, signal(n.signal)),
  el("span", { class: "muni" }, muniName(n.municipality)),
  el("span", { class: "sla" }, late ? `${t("need.overdue")} · ${countdown(n)}` : countdown(n)),
  el("span", { class: "source" }, t(`source.${n.source}`)),
  el("span", { class: "owner" }, owner),
  phaseLabel(n.phase),
  whom(n, "who"),
  marker);
  return row;
}

function noticeMarker(n) {
  const latest = noticesOf(n.need_id)[0];
  if (!latest || Date.now() - Date.parse(latest.at) > NOTICE_FRESH_MS) return null;
  const why = noticeText(latest.data);
  return el("span", { class: "notice-marker", role: "note", title: why }, `⚠ ${t("notice.marker", { why })}`);
}

function renderQueue(all) {
  const f = state.filters;
  const since = Date.now() - HOURS[f.window] * 3600e3;
  const list = all
    .filter((n) => n.status === "open")
    .filter((n) => Date.parse(n.received_at) >= since)
    .filter((n) => !f.source || n.source === f.source)
    .filter((n) => !f.municipality || n.municipality === f.municipality)
    .sort((a, b) => (RANK[a.priority] ?? 9) - (RANK[b.priority] ?? 9) || Date.parse(a.due_at) - Date.parse(b.due_at));
  const queue = document.getElementById("queue");
  const focused = document.activeElement?.dataset?.need;
  queue.replaceChildren(...(list.length ? list.map(queueRow) : [el("li", { class: "empty" }, t("board.empty"))]));
  if (focused) queue.querySelector(`[data-need="${CSS.escape(focused)}"]`)?.focus();
  document.getElementById("queue-count").textContent = String(list.length);
}

function renderTeams(all) {
  const list = document.getElementById("teams");
  const byNeed = new Map(needs().map((n) => [n.need_id, n]));
  list.replaceChildren(...(all.length ? all.sort((a, b) => a.team_id.localeCompare(b.team_id)).map((tm) => {
    const task = tm.need_id ? byNeed.get(tm.need_id) : null;
    return el("li", { class: `team status-${tm.status}`, "data-team": tm.team_id },
      el("span", { class: "dot", "aria-hidden": "true" }),
      el("span", { class: "id" }, tm.team_id, tm.team_type ? el("small", { class: "type" }, label("service", tm.team_type)) : ""),
      el("span", { class: "status" }, t(`status.${tm.status}`)),
      el("span", { class: "task" }, task ? `${signal(task.signal)} · ${muniName(task.municipality)}` : ""));
  }) : [el("li", { class: "empty" }, t("team.none"))]));
}

function kpi(label, value) {
  return el("div", { class: "kpi" }, el("span", { class: "label" }, label), el("span", { class: "value" }, value ?? "–"));
}

function renderKpis() {
  const item = state.items.get(`kpi:${state.region?.id}`);
  const box = document.getElementById("kpis");
  if (!item) { box.replaceChildren(el("p", {}, "–")); return; }
  const k = item.data, day = k["24h"], hour = k["1h"];
  const secs = (v) => {
    if (v == null) return "–";
    const s = Math.round(v);
    return s < 60 ? `${s} s` : `${Math.floor(s / 60)} min ${String(s % 60).padStart(2, "0")} s`;
  };
  const bySource = Object.entries(day.by_source || {}).map(([s, n]) => `${t(`source.${s}`)} ${n}`).join(", ");
  box.replaceChildren(
    kpi(t("kpi.open"), k.open), kpi(t("kpi.overdue"), k.overdue),
    kpi(`${t("kpi.needs")} – ${t("kpi.today")}`, `${day.needs}${bySource ? ` (${bySource})` : ""}`),
    kpi(`${t("kpi.needs")} – ${t("kpi.hour")}`, hour.needs),
    kpi(t("kpi.at_home"), day.share_at_home == null ? "–" : `${Math.round(day.share_at_home * 100)} %`),
    kpi(t("kpi.avoided"), day.avoided_transports), kpi(t("kpi.calls"), day.calls_116117),
    kpi(t("kpi.accept"), secs(day.offer_to_accept.median_s)), kpi(t("kpi.onsite"), secs(day.accept_to_on_site.median_s)));
}

function renderAlerts(all) {
  const alerting = all.filter((n) => n.status === "open" && n.alert && !n.alert.acknowledged_by);
  const banner = document.getElementById("alerts");
  banner.hidden = alerting.length === 0;
  if (!alerting.length) return;
  banner.replaceChildren(el("strong", {}, t("alert.banner", { n: alerting.length })),
    ...alerting.slice(0, 5).map((n) => el("span", { class: "alert-item", "data-need": n.need_id },
      el("button", { type: "button", class: "link", onclick: () => select(n.need_id) },
        `${signal(n.signal)} · ${muniName(n.municipality)}`),
      whom(n, "who"),
      ` ${alertText(n.alert)} `,
      // One click says "seen" and records no reason; a reason goes through the panel's form.
      el("button", { type: "button", class: "ack", "data-need": n.need_id,
                     onclick: () => act(n.need_id, { command: "acknowledge" })
                       .then(() => announce(t("action.sent"), false))
                       .catch((err) => announce(t("common.error", { why: err.message }), true)) },
        t("action.ack")))));
}

/** The demo badge: shown while the board holds synthetic (simulated) needs or teams. */
function renderDemo(all, teamList) {
  const badge = document.getElementById("demo-badge");
  if (!badge) return;
  badge.hidden = ![...all, ...teamList].some((x) => x.synthetic || String(x.team_id || "").startsWith("sim-"));
}

function render() {
  const all = needs();
  renderDemo(all, teams());
  renderQueue(all);
  renderTeams(teams());
  renderKpis();
  renderAlerts(all);
  state.map?.render(all, teams(), currentLang());
  const panel = document.getElementById("panel");
  const chosen = state.selected && state.items.get(`need:${state.selected}`);
  panel.hidden = !chosen;
  if (chosen) {
    needPanel(panel, chosen.data, { teams: teams(), muniName, act, close: () => select(null),
                                    notices: noticesOf(state.selected) });
  }
}

export async function act(needId, body) {
  const key = `${needId}:${body.command}:${Date.now()}`;
  return api(`/api/needs/${encodeURIComponent(needId)}/actions`, { method: "POST", body, headers: { "Idempotency-Key": key } });
}

function select(needId) {
  state.selected = needId;
  render();
  if (needId) document.getElementById("panel").focus();
}

function filters() {
  const source = document.getElementById("f-source");
  const muni = document.getElementById("f-muni");
  const fill = () => {
    source.replaceChildren(el("option", { value: "" }, t("filter.all")),
      ...["safety_alarm", "transport_request", "call_116117", "device_supervision"].map((s) => el("option", { value: s }, t(`source.${s}`))));
    muni.replaceChildren(el("option", { value: "" }, t("filter.all")),
      ...(state.region?.municipalities || []).map((m) => el("option", { value: m.code }, muniName(m.code))));
    source.value = state.filters.source;
    muni.value = state.filters.municipality;
  };
  fill();
  onLangChange(() => { fill(); render(); });
  source.addEventListener("change", () => { state.filters.source = source.value; render(); });
  muni.addEventListener("change", () => { state.filters.municipality = muni.value; render(); });
  for (const btn of document.querySelectorAll("[data-window]")) {
    btn.addEventListener("click", () => {
      state.filters.window = btn.dataset.window;
      for (const b of document.querySelectorAll("[data-window]")) b.setAttribute("aria-pressed", String(b === btn));
      render();
    });
  }
}

async function main() {
  header("app.board");
  await signIn();
  const [regions, config] = await Promise.all([fetch("/api/regions").then((r) => r.json()), fetch("/api/ui-config").then((r) => r.json())]);
  const wanted = new URLSearchParams(location.search).get("region");
  state.region = regions.find((r) => r.id === wanted) || regions[0];
  // Coast and borders from the gateway (shipped data); a region without one gets none.
  const outline = await fetch(`/api/regions/${encodeURIComponent(state.region.id)}/outline`)
    .then((r) => (r.ok ? r.json() : null)).catch(() => null);
  state.map = new RegionMap(document.getElementById("map"), state.region, config.map_tiles_url, outline);
  filters();
  applyI18n();
  liveSocket(`/ws/board?region=${encodeURIComponent(state.region.id)}`, {
    onFrame: (frame) => (frame.items ? apply(frame) : null),
    onState: (s, why) => setConnection(s, why),
  });
  setInterval(schedule, 1000); // SLA countdowns
  document.addEventListener("keydown", (ev) => { if (ev.key === "Escape") select(null); });
  window.tikeBoard = { state, formatTime, copyButton };
}

main();
