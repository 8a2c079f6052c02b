// The per-need panel: timeline, why it was routed (the decision's explanation), and the
// control room's actions (reassign, close, acknowledge), each with a reason.
import { el } from "./api.js";
import { formatTime, signal, t } from "./i18n.js";

const OUTCOMES = ["resolved_at_home", "urgent_clinic", "emergency_department", "ambulance", "no_need"];

function explanation(ex) {
  if (!ex) return el("p", {}, "–");
  const matched = (ex.matched || []).map((m) => el("li", {}, `${m.field} ${m.condition} → ${JSON.stringify(m.value)}`));
  const cands = (ex.candidates || []).map((c) => el("tr", {},
    el("td", {}, c.team_id), el("td", {}, c.service), el("td", {}, c.eligible ? "✓" : "✗"), el("td", {}, c.reason)));
  return el("div", { class: "why" },
    el("dl", {},
      el("dt", {}, t("need.ruleset")), el("dd", {}, ex.ruleset),
      el("dt", {}, t("need.rule")), el("dd", { class: "rule-id" }, ex.rule_id || "–"),
      ex.guard_reason ? [el("dt", {}, t("need.guard")), el("dd", {}, ex.guard_reason)] : []),
    matched.length ? [el("h4", {}, t("need.matched")), el("ul", {}, matched)] : [],
    cands.length ? [el("h4", {}, t("need.candidates")), el("table", {}, el("tbody", {}, cands))] : []);
}

function actionForm(need, ctx) {
  const status = el("p", { class: "form-status", role: "status" });
  const reason = el("input", { id: "act-reason", required: true, maxlength: "120", autocomplete: "off" });
  const team = el("select", { id: "act-team" }, ctx.teams.map((tm) => el("option", { value: tm.team_id }, `${tm.team_id} (${t(`status.${tm.status}`)})`)));
  const outcome = el("select", { id: "act-outcome" }, OUTCOMES.map((o) => el("option", { value: o }, t(`outcome.${o}`))));
  const send = async (body) => {
    if (!reason.value.trim()) { status.textContent = t("action.needs_reason"); reason.focus(); return; }
    try {
      await ctx.act(need.need_id, { ...body, reason: reason.value.trim() });
      status.textContent = t("action.sent");
      reason.value = "";
    } catch (err) {
      status.textContent = t("common.error", { why: err.message });
    }
  };
  return el("form", { class: "actions", onsubmit: (ev) => ev.preventDefault() },
    el("label", { for: "act-reason" }, t("action.reason")), reason,
    el("div", { class: "row" },
      el("label", { for: "act-team" }, t("action.team")), team,
      el("button", { type: "button", id: "act-reassign", onclick: () => send({ command: "reassign", team_id: team.value }) }, t("action.reassign"))),
    el("div", { class: "row" },
      el("label", { for: "act-outcome" }, t("action.outcome")), outcome,
      el("button", { type: "button", id: "act-close", onclick: () => send({ command: "close", outcome: outcome.value }) }, t("action.close"))),
    need.alert && !need.alert.acknowledged_by
      ? el("button", { type: "button", id: "act-ack", onclick: () => send({ command: "acknowledge" }) }, t("action.ack")) : [],
    status);
}

export function needPanel(panel, need, ctx) {
  const keep = panel.dataset.need === need.need_id && panel.dataset.version === String(need.timeline.length) + need.phase;
  if (keep && panel.contains(document.activeElement)) return; // do not disturb someone typing a reason
  panel.dataset.need = need.need_id;
  panel.dataset.version = String(need.timeline.length) + need.phase;
  const timeline = need.timeline.map(([at, what, detail]) =>
    el("li", {}, el("time", { datetime: at }, formatTime(at)), ` ${what}`, detail ? ` – ${detail}` : ""));
  panel.replaceChildren(
    el("div", { class: "panel-head" },
      el("h2", { id: "panel-title" }, `${t(`prio.${need.priority}`)} · ${signal(need.signal)} · ${ctx.muniName(need.municipality)}`),
      el("button", { type: "button", class: "close-panel", onclick: ctx.close, "aria-label": t("need.close_panel") }, "×")),
    el("dl", { class: "facts" },
      el("dt", {}, t("need.phase")), el("dd", { class: "phase" }, need.phase),
      el("dt", {}, t("need.service")), el("dd", {}, need.service || t("need.control_room")),
      el("dt", {}, t("need.owner")), el("dd", {}, need.owner?.kind === "team" ? need.owner.team_id : t("need.control_room")),
      el("dt", {}, t("need.due")), el("dd", {}, formatTime(need.due_at)),
      need.alert ? [el("dt", {}, t("alert.reason")), el("dd", { class: "alert-reason" }, need.alert.reason)] : []),
    el("h3", {}, t("need.timeline")), el("ol", { class: "timeline" }, timeline),
    el("h3", {}, t("need.why")), explanation(need.explanation),
    need.status === "open" ? actionForm(need, ctx) : []);
}
