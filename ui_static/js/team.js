// Mobile team view: the team's dispatches, loud when new, one thumb to act.
import { el, header, liveSocket, setConnection, signIn } from "./api.js";
import { applyI18n, formatTime, onLangChange, signal, t } from "./i18n.js";

const OUTCOMES = ["resolved_at_home", "urgent_clinic", "emergency_department", "ambulance", "no_need"];
const state = { teamId: null, dispatches: new Map(), notes: new Map(), fresh: new Set(), alerted: new Set(), socket: null };

// The next actions a team can take from each FHIR Task state.
function nextActions(d) {
  if (d.status === "requested" || d.status === "received") return ["accept", "decline"];
  if (d.status === "accepted") return ["en_route", "on_site"];
  if (d.status === "in-progress" && d.business_status === "en-route") return ["on_site"];
  if (d.status === "in-progress" && d.business_status === "on-site") return ["complete"];
  return [];
}

let audio;
function alarm() {
  // A loud, distinct alert: three beeps (Web Audio), vibration where available.
  try {
    audio = audio || new AudioContext();
    for (let i = 0; i < 3; i++) {
      const osc = audio.createOscillator(), gain = audio.createGain();
      osc.frequency.value = 880;
      gain.gain.value = 0.4;
      osc.connect(gain).connect(audio.destination);
      osc.start(audio.currentTime + i * 0.35);
      osc.stop(audio.currentTime + i * 0.35 + 0.2);
    }
  } catch { /* no audio device */ }
  // Browsers allow vibration only after the user has touched the page once.
  if (navigator.userActivation?.hasBeenActive) navigator.vibrate?.([300, 150, 300, 150, 300]);
}

function apply(frame) {
  if (frame.type === "snapshot") state.dispatches.clear();
  let fresh = 0;
  for (const item of frame.items || []) {
    if (item.kind === "dispatch_refusal") {
      state.notes.set(item.dispatch_id, item.reason);
      continue;
    }
    if (item.kind !== "dispatch") continue;
    const old = state.dispatches.get(item.dispatch_id);
    if (old && old.version > item.version) continue;
    state.notes.delete(item.dispatch_id);
    if (nextActions(item).length === 0) {
      state.dispatches.delete(item.dispatch_id);
      state.fresh.delete(item.dispatch_id);
      continue;
    }
    if (item.status === "requested" && !state.alerted.has(item.dispatch_id)) {
      state.alerted.add(item.dispatch_id); // once per offer, also across reconnects
      state.fresh.add(item.dispatch_id);
      fresh += 1;
    }
    state.dispatches.set(item.dispatch_id, item);
  }
  if (fresh) {
    const banner = document.getElementById("new-alert");
    banner.hidden = false;
    banner.textContent = `${t("teamv.new")} (${fresh})`;
    document.getElementById("live-urgent").textContent = `${t("teamv.new")}: ${[...state.dispatches.values()].filter((d) => state.fresh.has(d.dispatch_id)).map((d) => d.need.alarm_code || d.need.source).join(", ")}`;
    alarm();
  }
  render();
}

function send(d, action, extra = {}) {
  state.fresh.delete(d.dispatch_id);
  if (!state.fresh.size) document.getElementById("new-alert").hidden = true;
  state.socket.send({ type: "action", dispatch_id: d.dispatch_id, action,
                      idempotency_key: `${d.dispatch_id}:${action}:${d.version}`, ...extra });
}

function card(d) {
  const need = d.need || {};
  const where = need.location?.place || need.municipality || "";
  const buttons = nextActions(d).map((action) => {
    if (action === "decline") {
      return el("button", { type: "button", class: "decline", "data-action": action, onclick: () => {
        const reason = prompt(t("teamv.decline_reason")) || "declined";
        send(d, action, { reason });
      } }, t(`teamv.${action}`));
    }
    if (action === "complete") {
      const outcome = el("select", { "aria-label": t("teamv.outcome"), id: `outcome-${d.dispatch_id}` },
        OUTCOMES.map((o) => el("option", { value: o }, t(`outcome.${o}`))));
      return [outcome, el("button", { type: "button", "data-action": action,
        onclick: () => send(d, action, { outcome: outcome.value }) }, t(`teamv.${action}`))];
    }
    return el("button", { type: "button", "data-action": action, onclick: () => send(d, action) }, t(`teamv.${action}`));
  });
  const refused = state.notes.get(d.dispatch_id);
  return el("article", { class: `task-card prio-${d.priority}${state.fresh.has(d.dispatch_id) ? " fresh" : ""}`,
                         "data-dispatch": d.dispatch_id, "data-status": d.status, "aria-label": need.alarm_code || need.source },
    el("h2", {}, `${t(`prio.${d.priority}`)} · ${signal(need.alarm_code || need.condition_category || need.disposition || need.source)}`),
    el("p", { class: "meta" }, `${where} · ${need.age_band || ""} ${(need.client_flags || []).join(", ")}`),
    el("p", { class: "meta" }, `${d.status}${d.business_status ? ` / ${d.business_status}` : ""}`,
      d.expires_at && (d.status === "requested" || d.status === "received") ? ` · ${t("teamv.expires", { t: formatTime(d.expires_at) })}` : ""),
    refused ? el("p", { class: "refused", role: "alert" }, t("teamv.refused", { why: refused })) : [],
    el("div", { class: "buttons" }, buttons));
}

function render() {
  const list = [...state.dispatches.values()].sort((a, b) => a.offered_at.localeCompare(b.offered_at));
  document.getElementById("tasks").replaceChildren(...(list.length ? list.map(card) : [el("p", { class: "meta" }, t("teamv.none"))]));
}

async function main() {
  header("app.team");
  const me = await signIn();
  const wanted = new URLSearchParams(location.search).get("team");
  state.teamId = me.team_id || wanted;
  document.getElementById("team-id").textContent = state.teamId || "";
  if (!state.teamId) {
    setConnection("closed", "team:<id>");
    return;
  }
  onLangChange(render);
  applyI18n();
  render();
  state.socket = liveSocket(`/ws/teams/${encodeURIComponent(state.teamId)}`, {
    onFrame: (frame) => {
      if (frame.items) apply(frame);
      else if (frame.type === "error") {
        document.getElementById("live-urgent").textContent = frame.message;
      }
    },
    onState: (s, why) => setConnection(s, why),
  });
  window.tikeTeam = state;
}

main();
