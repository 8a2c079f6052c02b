// The per-need panel: timeline, why it was routed (the decision's explanation), and the
// control room's actions (reassign, close, acknowledge), each with a reason.
import { el } from "./api.js";
import { currentLang, formatTime, label, signal, t } from "./i18n.js";

const OUTCOMES = ["resolved_at_home", "urgent_clinic", "emergency_department", "ambulance", "no_need"];
//: Whom to call: the client pseudonym and the source's own id (never a name or identity code).
const ID_KEYS = ["client", "device_id", "call_id", "transport_request_id"];
//: The last answer to an action sent from the panel, by need: {text, at}. It survives the
//: panel's redraws (the need may change, or close, while the request is under way).
const sentStatus = new Map();
const STATUS_MS = 60e3;

function statusLine(needId) {
  const last = sentStatus.get(needId);
  const text = last && Date.now() - last.at < STATUS_MS ? last.text : "";
  return el("p", { class: "form-status", role: "status" }, text);
}

function say(panel, needId, text) {
  sentStatus.set(needId, { text, at: Date.now() });
  const live = panel.querySelector(".form-status");
  if (live) live.textContent = text;
}

/** Why a need was escalated, in words (its alert's code; the English reason otherwise). */
export function alertText(alert) {
  if (!alert?.code) return alert?.reason ?? "";
  const services = (alert.services || []).map((s) => label("service", s)).join(", ");
  return label("alert", alert.code, { services });
}

/** Why the worker refused a control-room action (a board notice), in words. */
export function noticeText(data) {
  if (!data?.code) return data?.message ?? "";
  return label("refusal", data.code, { phase: data.phase ? label("phase", data.phase) : "", team: data.team_id ?? "" });
}

/** A vocabulary value in words: its field's labels, or a municipality's name. */
function fieldValue(field, value, muniName) {
  if (value === null || value === undefined) return "–";
  if (field === "municipality") return muniName(value);
  if (field === "time_of_day" || field === "region") return String(value);
  if (Array.isArray(value)) return value.map((v) => fieldValue(field, v, muniName)).join(", ") || "–";
  return label(field, value);
}

/** A timeline entry's detail: from its values in the reader's language where it has them. */
function timelineDetail(what, detail, info, muniName) {
  if (!info) return detail;
  if (what === "received") {
    return t("tl.received", { source: label("source", info.source), rule: info.rule || t("tl.no_rule") });
  }
  if (what === "offered") return info.team;
  if (what === "escalated") return alertText(info);
  if (what === "overdue") return t("tl.overdue", { m: info.sla_minutes });
  if (what === "refused") {
    const status = info.status ? label(info.status.includes("-") ? "bstatus" : "dstatus", info.status) : "";
    return t("tl.refused", { team: info.team, action: label("team_action", info.action), why: label("refusal", info.code, { status }) });
  }
  return detail;
}

/** A candidate team's reason in words (its code and values). */
function candidateReason(c, muniName) {
  if (!c.code) return c.reason;
  const p = { ...(c.params || {}) };
  if (p.municipality) p.municipality = muniName(p.municipality);
  if (p.skills) p.skills = p.skills.split(",").map((s) => label("skill", s)).join(", ");
  return label("candidate", c.code, p);
}

/** A need's phase in words; the raw phase stays in data-phase. */
export function phaseLabel(phase, tag = "span") {
  return el(tag, { class: "phase", "data-phase": phase }, t(`phase.${phase}`) === `phase.${phase}` ? phase : t(`phase.${phase}`));
}

async function copyText(text) {
  try {
    await navigator.clipboard.writeText(text);
    return true;
  } catch {
    // No clipboard API or no permission: the old way, through a selected text area.
    const area = el("textarea", { readonly: true, class: "sr-only" }, text);
    document.body.append(area);
    area.select();
    let ok = false;
    try { ok = document.execCommand("copy"); } catch { ok = false; }
    area.remove();
    return ok;
  }
}

/** A button that copies ``value`` and says whether it did. */
export function copyButton(value, what) {
  const label = t("id.copy", { what: `${what} ${value}` });
  const btn = el("button", { type: "button", class: "copy", "data-copy": value, title: label, "aria-label": label,
    onclick: async (ev) => {
      ev.stopPropagation(); // not a click on the queue row
      const ok = await copyText(value);
      btn.dataset.copied = ok ? "yes" : "no";
      btn.title = ok ? t("id.copied") : t("id.copy_failed");
      btn.textContent = ok ? `✓ ${t("id.copied")}` : t("id.copy_button");
      if (!ok) { // let the person select it by hand
        const sel = window.getSelection();
        const range = document.createRange();
        range.selectNodeContents(btn.previousElementSibling || btn);
        sel?.removeAllRanges();
        sel?.addRange(range);
      }
    } }, t("id.copy_button"));
  btn.addEventListener("keydown", (ev) => ev.stopPropagation());
  return btn;
}

/** The need's identifiers, each with a copy button (empty when it has none). */
export function whom(need, cls = "who") {
  const ids = ID_KEYS.filter((k) => need[k]);
  if (!ids.length) return null;
  return el("span", { class: cls },
    ids.map((k) => el("span", { class: `ident ident-${k}`, "data-id-kind": k },
      `${t(`id.${k}`)} `, el("code", {}, need[k]), copyButton(need[k], t(`id.${k}`)))));
}

function notices(list) {
  return el("div", { class: "notices", "aria-live": "polite" },
    (list || []).slice(0, 5).map((item) => el("p", { class: "notice", role: "alert", "data-notice": item.id },
      el("strong", {}, `${t("notice.refused")}: `),
      `${label("command", item.data.command)} – ${noticeText(item.data)} `,
      el("time", { datetime: item.at }, formatTime(item.at)))));
}

function explanation(ex, muniName) {
  if (!ex) return el("p", {}, "–");
  // The rule's own text (its condition, in the rule language) stays code; field names and
  // values are said in words.
  const guard = ex.guard_reason ? (ex.matched || [])[0] : null;
  const matched = (guard ? [] : ex.matched || []).map((m) => el("li", {},
    `${label("field", m.field)}: ${fieldValue(m.field, m.value, muniName)} `, el("code", {}, m.condition)));
  const cands = (ex.candidates || []).map((c) => el("tr", {},
    el("td", {}, c.team_id), el("td", {}, label("service", c.service)), el("td", {}, c.eligible ? "✓" : "✗"),
    el("td", {}, candidateReason(c, muniName))));
  return el("div", { class: "why" },
    el("dl", {},
      el("dt", {}, t("need.ruleset")), el("dd", {}, el("code", {}, ex.ruleset)),
      el("dt", {}, t("need.rule")), el("dd", { class: "rule-id" }, ex.rule_id ? el("code", {}, ex.rule_id) : "–"),
      guard ? [el("dt", {}, t("need.guard")), el("dd", { class: "guard" },
        t("need.guard_hit", { field: label("field", guard.field), value: fieldValue(guard.field, guard.value, muniName) }))] : []),
    matched.length ? [el("h4", {}, t("need.matched")), el("ul", {}, matched)] : [],
    cands.length ? [el("h4", {}, t("need.candidates")), el("table", {}, el("tbody", {}, cands))] : []);
}

function actionForm(need, ctx) {
  const status = statusLine(need.need_id);
  const reason = el("input", { id: "act-reason", required: true, maxlength: "120", autocomplete: "off" });
  const team = el("select", { id: "act-team" }, ctx.teams.map((tm) => el("option", { value: tm.team_id }, `${tm.team_id} (${t(`status.${tm.status}`)})`)));
  const outcome = el("select", { id: "act-outcome" }, OUTCOMES.map((o) => el("option", { value: o }, t(`outcome.${o}`))));
  const send = async (body) => {
    const why = reason.value.trim();
    if (!why && body.command !== "acknowledge") { status.textContent = t("action.needs_reason"); reason.focus(); return; }
    try {
      await ctx.act(need.need_id, why ? { ...body, reason: why } : body);
      // Accepted for processing: the worker may still refuse it (then a notice comes).
      reason.value = "";
      say(ctx.panel, need.need_id, t("action.sent"));
    } catch (err) {
      say(ctx.panel, need.need_id, t("common.error", { why: err.message }));
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
      ? el("div", { class: "row" }, el("span", { class: "hint" }, t("action.ack_optional")),
        el("button", { type: "button", id: "act-ack", onclick: () => send({ command: "acknowledge" }) }, t("action.ack"))) : [],
    status);
}

export function needPanel(panel, need, context) {
  const ctx = { ...context, panel };
  const version = [need.timeline.length, need.phase, need.status, currentLang(),
                   ...ctx.teams.map((tm) => `${tm.team_id}:${tm.status}`)].join("|");
  const keep = panel.dataset.need === need.need_id && panel.dataset.version === version;
  const seen = (ctx.notices || []).map((n) => n.id).join(",");
  const active = document.activeElement;
  const busy = panel.contains(active) && (active.tagName === "SELECT" || (active.tagName === "INPUT" && active.value));
  if (keep || busy) { // unchanged, or someone is typing a reason or choosing: do not disturb
    if (panel.dataset.notices !== seen) {
      panel.dataset.notices = seen;
      panel.querySelector(".notices")?.replaceWith(notices(ctx.notices));
    }
    return;
  }
  panel.dataset.notices = seen;
  const refocus = panel.contains(active) && active.id ? active.id : null;
  panel.dataset.need = need.need_id;
  panel.dataset.version = version;
  const timeline = need.timeline.map(([at, what, detail, info]) => {
    const said = timelineDetail(what, detail, info, ctx.muniName);
    return el("li", { "data-what": what }, el("time", { datetime: at }, formatTime(at)), ` ${label("timeline", what)}`,
      said ? ` – ${said}` : "");
  });
  panel.replaceChildren(
    el("div", { class: "panel-head" },
      el("h2", { id: "panel-title" }, `${t(`prio.${need.priority}`)} · ${signal(need.signal)} · ${ctx.muniName(need.municipality)}`),
      el("button", { type: "button", class: "close-panel", onclick: ctx.close, "aria-label": t("need.close_panel") }, "×")),
    el("dl", { class: "facts" },
      el("dt", {}, t("need.phase")), phaseLabel(need.phase, "dd"),
      ID_KEYS.filter((k) => need[k]).map((k) => [el("dt", {}, t(`id.${k}`)),
        el("dd", { class: `ident ident-${k}`, "data-id-kind": k }, el("code", {}, need[k]), " ", copyButton(need[k], t(`id.${k}`)))]),
      el("dt", {}, t("need.service")), el("dd", {}, need.service ? label("service", need.service) : t("need.control_room")),
      el("dt", {}, t("need.owner")), el("dd", {}, need.owner?.kind === "team" ? need.owner.team_id : t("need.control_room")),
      el("dt", {}, t("need.due")), el("dd", {}, formatTime(need.due_at)),
      need.alert ? [el("dt", {}, t("alert.reason")), el("dd", { class: "alert-reason" }, alertText(need.alert))] : []),
    need.status === "open" ? [] : statusLine(need.need_id),
    notices(ctx.notices),
    el("h3", {}, t("need.timeline")), el("ol", { class: "timeline" }, timeline),
    el("h3", {}, t("need.why")), explanation(need.explanation, ctx.muniName),
    need.status === "open" ? actionForm(need, ctx) : []);
  if (refocus) (panel.querySelector(`#${CSS.escape(refocus)}`) || panel).focus();
}
