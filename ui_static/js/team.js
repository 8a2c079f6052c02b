// Mobile team view: the team's dispatches, loud when new, one thumb to act.
import { el, header, liveSocket, setConnection, signIn } from "./api.js";
import { applyI18n, currentLang, formatTime, label, onLangChange, signal, t } from "./i18n.js";

const OUTCOMES = ["resolved_at_home", "urgent_clinic", "emergency_department", "ambulance", "no_need"];
const state = {
  teamId: null,
  dispatches: new Map(), // dispatch id -> the newest active dispatch
  notes: new Map(), // dispatch id -> why its last action was refused (until it moves on)
  pending: new Map(), // dispatch id -> {action, version, acked}: sent, no new version yet
  keys: new Map(), // idempotency key -> dispatch id, to place a gateway error on its card
  declining: new Map(), // dispatch id -> the reason typed so far (the decline form is open)
  outcomes: new Map(), // dispatch id -> the outcome chosen in the select
  formError: new Map(), // dispatch id -> the decline form's own complaint
  fresh: new Set(),
  alerted: new Set(),
  socket: null,
  municipalities: new Map(), // code -> {name_fi, name_sv}
};

/** What a note says: a refusal from the worker (its code in words), or a sentence. */
function noteText(note) {
  if (typeof note === "string") return note;
  if (!note?.code) return note?.reason ?? "";
  const status = note.status ? label(note.status.includes("-") ? "bstatus" : "dstatus", note.status) : "";
  return label("refusal", note.code, { status });
}

function muniName(code) {
  const m = state.municipalities.get(code);
  return m ? (currentLang() === "sv" ? m.name_sv : m.name_fi) : code;
}

/** Where the client is: the named place in words (or as the source named it), else the
 * municipality. */
function whereText(need) {
  const place = need.location?.place;
  if (place) return `${t(`place.${place}`) === `place.${place}` ? place : label("place", place)} · ${muniName(need.municipality)}`;
  return muniName(need.municipality || "");
}

// The next actions a team can take from each FHIR Task state.
function nextActions(d) {
  if (d.status === "requested" || d.status === "received") return ["accept", "decline"];
  if (d.status === "accepted") return ["en_route", "on_site"];
  if (d.status === "in-progress" && d.business_status === "en-route") return ["on_site"];
  if (d.status === "in-progress" && d.business_status === "on-site") return ["complete"];
  return [];
}

/** The dispatch's state in words: its business status (en route, on site) or FHIR status. */
function statusLabel(d) {
  return d.business_status ? t(`bstatus.${d.business_status}`) : t(`dstatus.${d.status}`);
}

// --- Sound and vibration -------------------------------------------------------------------
// Browsers start audio only inside a user gesture, so the first screen asks for one tap
// (#arm); the AudioContext is created and resumed in that tap and reused for every alert.
let audio = null;

function beeps(count, volume) {
  for (let i = 0; i < count; i++) {
    const osc = audio.createOscillator(), gain = audio.createGain();
    osc.frequency.value = 880;
    gain.gain.value = volume;
    osc.connect(gain).connect(audio.destination);
    osc.start(audio.currentTime + i * 0.35);
    osc.stop(audio.currentTime + i * 0.35 + 0.2);
  }
}

function showArmed() {
  const running = audio?.state === "running";
  document.getElementById("arm").hidden = running;
  const status = document.getElementById("armed");
  status.hidden = !running;
  status.textContent = running ? t(navigator.vibrate ? "teamv.armed" : "teamv.armed_novibrate") : "";
}

async function arm() {
  try {
    audio = audio || new AudioContext();
    audio.onstatechange = showArmed; // e.g. suspended by the phone: ask for a tap again
    await audio.resume();
    beeps(1, 0.15); // the tap is heard: sound works
  } catch { /* no audio device: the status says it is not armed */ }
  navigator.vibrate?.(200);
  showArmed();
}

function alarm() {
  // A loud, distinct alert: three beeps (Web Audio) and vibration, once armed by a tap.
  if (audio) {
    if (audio.state !== "running") audio.resume().catch(() => {});
    try { beeps(3, 0.4); } catch { /* no audio device */ }
  }
  if (navigator.userActivation?.hasBeenActive) navigator.vibrate?.([300, 150, 300, 150, 300]);
}

// --- Frames --------------------------------------------------------------------------------

function apply(frame) {
  if (frame.type === "snapshot") {
    // The snapshot is the whole state: its dispatches, then the refusals still standing.
    state.dispatches.clear();
    state.notes.clear();
  }
  let fresh = 0;
  for (const item of frame.items || []) {
    if (item.kind === "dispatch_refusal") {
      state.notes.set(item.dispatch_id, { code: item.code, status: item.status, reason: item.reason });
      state.pending.delete(item.dispatch_id);
      continue;
    }
    if (item.kind !== "dispatch") continue;
    const old = state.dispatches.get(item.dispatch_id);
    if (old && old.version >= item.version && frame.type !== "snapshot") continue;
    // A newer version: the dispatch moved on, which answers the action sent and any refusal.
    const sent = state.pending.get(item.dispatch_id);
    if (!sent || item.version > sent.version) state.pending.delete(item.dispatch_id);
    if (old && item.version > old.version) state.notes.delete(item.dispatch_id);
    if (nextActions(item).length === 0) {
      if (old || sent) {
        document.getElementById("last-result").textContent =
          t("teamv.ended", { what: signal(old?.need?.alarm_code || item.need?.alarm_code || ""), status: statusLabel(item) });
      }
      forget(item.dispatch_id);
      continue;
    }
    if (item.status === "requested" && !state.alerted.has(item.dispatch_id)) {
      state.alerted.add(item.dispatch_id); // once per offer, also across reconnects
      state.fresh.add(item.dispatch_id);
      fresh += 1;
    }
    state.dispatches.set(item.dispatch_id, item);
  }
  if (frame.type === "snapshot") { // what ended while this page was away leaves no traces
    for (const m of [state.pending, state.declining, state.outcomes, state.formError]) {
      for (const id of [...m.keys()]) if (!state.dispatches.has(id)) m.delete(id);
    }
  }
  if (fresh) {
    const banner = document.getElementById("new-alert");
    banner.hidden = false;
    banner.textContent = `${t("teamv.new")} (${fresh})`;
    document.getElementById("live-urgent").textContent = `${t("teamv.new")}: ${[...state.dispatches.values()].filter((d) => state.fresh.has(d.dispatch_id)).map((d) => signal(d.need.alarm_code || d.need.condition_category || d.need.disposition || d.need.source)).join(", ")}`;
    alarm();
  }
  render();
}

function forget(id) {
  for (const m of [state.dispatches, state.notes, state.pending, state.declining, state.outcomes, state.formError]) m.delete(id);
  state.fresh.delete(id);
  if (!state.fresh.size) document.getElementById("new-alert").hidden = true;
}

/** The gateway's answer to an action: an ack, or an error that refuses it outright. */
function answer(frame) {
  const id = state.keys.get(frame.idempotency_key);
  if (frame.type === "ack") {
    const sent = id && state.pending.get(id);
    if (sent) sent.acked = true;
  } else if (id) {
    state.pending.delete(id);
    state.notes.set(id, frame.message);
  } else {
    document.getElementById("live-urgent").textContent = frame.message;
  }
  render();
}

function send(d, action, extra = {}) {
  state.fresh.delete(d.dispatch_id);
  if (!state.fresh.size) document.getElementById("new-alert").hidden = true;
  const key = `${d.dispatch_id}:${action}:${d.version}`;
  state.keys.set(key, d.dispatch_id);
  // liveSocket's send gives WebSocket.send's undefined when it sent, false or null when not.
  const sent = state.socket.send({ type: "action", dispatch_id: d.dispatch_id, action, idempotency_key: key, ...extra }) === undefined;
  state.notes.delete(d.dispatch_id);
  if (sent) state.pending.set(d.dispatch_id, { action, version: d.version, acked: false });
  else state.notes.set(d.dispatch_id, t("teamv.not_sent"));
  render();
}

// --- Cards ---------------------------------------------------------------------------------

function declineForm(d) {
  const id = d.dispatch_id;
  const input = el("input", { type: "text", class: "decline-reason", id: `reason-${id}`, maxlength: 500,
    autocomplete: "off", value: state.declining.get(id) || "",
    oninput: (ev) => { state.declining.set(id, ev.target.value); state.formError.delete(id); } });
  const confirm = () => {
    const reason = input.value.trim();
    if (!reason) { // refused in the form: a decline always says why
      state.formError.set(id, t("teamv.needs_reason"));
      render();
      document.getElementById(`reason-${id}`)?.focus();
      return;
    }
    state.declining.delete(id);
    state.formError.delete(id);
    send(d, "decline", { reason });
  };
  return el("form", { class: "decline-form", onsubmit: (ev) => { ev.preventDefault(); confirm(); } },
    el("label", { for: `reason-${id}` }, t("teamv.decline_reason")),
    input,
    el("div", { class: "buttons" },
      el("button", { type: "submit", class: "decline", "data-action": "decline-confirm" }, t("teamv.decline_confirm")),
      el("button", { type: "button", class: "cancel", "data-action": "decline-cancel", onclick: () => {
        state.declining.delete(id);
        state.formError.delete(id);
        render();
      } }, t("teamv.cancel"))));
}

function buttons(d) {
  const busy = state.pending.has(d.dispatch_id);
  return nextActions(d).map((action) => {
    const label = t(`teamv.${action}`);
    if (action === "decline") {
      return el("button", { type: "button", class: "decline", "data-action": action, disabled: busy, onclick: () => {
        state.declining.set(d.dispatch_id, "");
        render();
        document.getElementById(`reason-${d.dispatch_id}`)?.focus();
      } }, label);
    }
    if (action === "complete") {
      const chosen = state.outcomes.get(d.dispatch_id);
      const outcome = el("select", { class: "outcome", "aria-label": t("teamv.outcome"), id: `outcome-${d.dispatch_id}`,
        onchange: (ev) => { state.outcomes.set(d.dispatch_id, ev.target.value); state.formError.delete(d.dispatch_id); } },
        el("option", { value: "", disabled: true, selected: !chosen }, t("teamv.choose_outcome")),
        OUTCOMES.map((o) => el("option", { value: o, selected: o === chosen }, t(`outcome.${o}`))));
      return [outcome, el("button", { type: "button", "data-action": action, disabled: busy, onclick: () => {
        if (!outcome.value) { // refused in the form: the outcome is the team's to say
          state.formError.set(d.dispatch_id, t("teamv.needs_outcome"));
          render();
          return;
        }
        send(d, action, { outcome: outcome.value });
      } }, label)];
    }
    return el("button", { type: "button", "data-action": action, disabled: busy, onclick: () => send(d, action) }, label);
  });
}

function card(d) {
  const need = d.need || {};
  const where = whereText(need);
  const flags = (need.client_flags || []).map((f) => label("client_flags", f)).join(", ");
  const what = signal(need.alarm_code || need.condition_category || need.disposition || need.source);
  const refused = state.notes.get(d.dispatch_id);
  const sent = state.pending.get(d.dispatch_id);
  const offered = d.status === "requested" || d.status === "received";
  return el("article", { class: `task-card prio-${d.priority}${state.fresh.has(d.dispatch_id) ? " fresh" : ""}`,
                         "data-dispatch": d.dispatch_id, "data-status": d.status,
                         "data-business-status": d.business_status || undefined,
                         "aria-label": what },
    el("h2", {}, `${t(`prio.${d.priority}`)} · ${what}`),
    el("p", { class: "meta" }, [where, need.age_band ? label("age_band", need.age_band) : "", flags].filter(Boolean).join(" · ")),
    el("p", { class: "meta status" }, statusLabel(d),
      d.expires_at && offered ? ` · ${t("teamv.expires", { t: formatTime(d.expires_at) })}` : ""),
    sent ? el("p", { class: "pending", role: "status" },
      t(sent.acked ? "teamv.acked" : "teamv.pending", { action: t(`teamv.${sent.action}`) })) : null,
    refused ? el("p", { class: "refused", role: "alert" }, t("teamv.refused", { why: noteText(refused) })) : null,
    state.formError.has(d.dispatch_id) ? el("p", { class: "form-status", role: "alert" }, state.formError.get(d.dispatch_id)) : null,
    state.declining.has(d.dispatch_id) && !sent ? declineForm(d) : el("div", { class: "buttons" }, buttons(d)));
}

function render() {
  const list = [...state.dispatches.values()].sort((a, b) => a.offered_at.localeCompare(b.offered_at));
  // Keep the typing position in a decline form across a re-render (frames come any time).
  const focused = document.activeElement?.id;
  const caret = document.activeElement?.selectionStart;
  document.getElementById("tasks").replaceChildren(...(list.length ? list.map(card) : [el("p", { class: "meta" }, t("teamv.none"))]));
  const again = focused && document.getElementById(focused);
  if (again && again !== document.activeElement) {
    again.focus();
    if (typeof caret === "number" && again.setSelectionRange) again.setSelectionRange(caret, caret);
  }
}

async function main() {
  header("app.team");
  document.getElementById("arm").addEventListener("click", arm);
  const me = await signIn();
  const wanted = new URLSearchParams(location.search).get("team");
  state.teamId = me.team_id || wanted;
  document.getElementById("team-id").textContent = state.teamId || "";
  if (!state.teamId) {
    setConnection("closed", "team:<id>");
    return;
  }
  onLangChange(() => { showArmed(); render(); });
  applyI18n();
  render();
  fetch("/api/regions").then((r) => r.json()).then((regions) => {
    for (const r of regions) for (const m of r.municipalities) state.municipalities.set(m.code, m);
    render();
  }).catch(() => {}); // names are a nicety: codes remain
  state.socket = liveSocket(`/ws/teams/${encodeURIComponent(state.teamId)}`, {
    onFrame: (frame) => {
      if (frame.items) apply(frame);
      else if (frame.type === "ack" || frame.type === "error") answer(frame);
    },
    onState: (s, why) => setConnection(s, why),
  });
  window.tikeTeam = state;
}

main();
