// The per-need panel: timeline, why it was routed (the decision's explanation), and the
// control room's actions (reassign, close, acknowledge), each with a reason.
import { el } from "./api.js";
import { currentLang, formatTime, signal, t } from "./i18n.js";

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
      `${t(`action.${item.data.command}`)} – ${item.data.message} `,
      el("time", { datetime: item.at }, formatTime(item.at)))));
}

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
  const timeline = need.timeline.map(([at, what, detail]) =>
    el("li", {}, el("time", { datetime: at }, formatTime(at)), ` ${what}`, detail ? ` – ${detail}` : ""));
  panel.replaceChildren(
    el("div", { class: "panel-head" },
      el("h2", { id: "panel-title" }, `${t(`prio.${need.priority}`)} · ${signal(need.signal)} · ${ctx.muniName(need.municipality)}`),
      el("button", { type: "button", class: "close-panel", onclick: ctx.close, "aria-label": t("need.close_panel") }, "×")),
    el("dl", { class: "facts" },
      el("dt", {}, t("need.phase")), phaseLabel(need.phase, "dd"),
      ID_KEYS.filter((k) => need[k]).map((k) => [el("dt", {}, t(`id.${k}`)),
        el("dd", { class: `ident ident-${k}`, "data-id-kind": k }, el("code", {}, need[k]), " ", copyButton(need[k], t(`id.${k}`)))]),
      el("dt", {}, t("need.service")), el("dd", {}, need.service || t("need.control_room")),
      el("dt", {}, t("need.owner")), el("dd", {}, need.owner?.kind === "team" ? need.owner.team_id : t("need.control_room")),
      el("dt", {}, t("need.due")), el("dd", {}, formatTime(need.due_at)),
      need.alert ? [el("dt", {}, t("alert.reason")), el("dd", { class: "alert-reason" }, need.alert.reason)] : []),
    need.status === "open" ? [] : statusLine(need.need_id),
    notices(ctx.notices),
    el("h3", {}, t("need.timeline")), el("ol", { class: "timeline" }, timeline),
    el("h3", {}, t("need.why")), explanation(need.explanation),
    need.status === "open" ? actionForm(need, ctx) : []);
  if (refocus) (panel.querySelector(`#${CSS.escape(refocus)}`) || panel).focus();
}
