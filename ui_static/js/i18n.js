// Finnish (default), Swedish and English. Elements with data-i18n="key" get their text,
// data-i18n-attr="attr:key[,attr:key]" their attributes; t(key, vars) is for code.

const STRINGS = {
  fi: {
    "app.board": "Tilannekuva", "app.team": "Tiimi", "app.rules": "Reitityssäännöt",
    "nav.board": "Tilannekuva", "nav.team": "Tiiminäkymä", "nav.rules": "Säännöt",
    "lang.label": "Kieli",
    "login.title": "Kirjaudu", "login.token": "Tunniste (token)", "login.submit": "Kirjaudu",
    "login.logout": "Kirjaudu ulos", "login.invalid": "Tunniste ei kelpaa: {why}",
    "conn.live": "Yhteys kunnossa", "conn.connecting": "Yhdistetään…",
    "conn.offline": "Ei yhteyttä – yritetään uudelleen", "conn.closed": "Yhteys suljettu: {why}",
    "board.queue": "Avoimet tarpeet", "board.teams": "Tiimit", "board.kpis": "Tunnusluvut",
    "board.map": "Alueen kartta", "board.empty": "Ei avoimia tarpeita",
    "filter.source": "Lähde", "filter.municipality": "Kunta", "filter.all": "Kaikki",
    "filter.window": "Aikaikkuna", "window.1h": "1 h", "window.6h": "6 h", "window.24h": "24 h",
    "source.safety_alarm": "Turvapuhelin", "source.transport_request": "Kuljetuspyyntö",
    "source.call_116117": "116117", "source.device_supervision": "Laite hiljaa",
    "phase.new": "Uusi", "phase.offered": "Tarjottu", "phase.escalated": "Eskaloitu",
    "phase.accepted": "Hyväksytty", "phase.en_route": "Matkalla", "phase.on_site": "Kohteessa",
    "phase.completed": "Valmis", "phase.closed": "Suljettu",
    "id.client": "Asiakas", "id.device_id": "Laite", "id.call_id": "Puhelu",
    "id.transport_request_id": "Kuljetuspyyntö", "id.copy": "Kopioi {what}", "id.copied": "Kopioitu", "id.copy_button": "Kopioi",
    "id.copy_failed": "Kopiointi ei onnistunut – valitse teksti",
    "notice.refused": "Ei toteutettu", "notice.marker": "Toimenpide hylätty: {why}",
    "prio.stat": "Kiireellisin", "prio.asap": "Kiireellinen", "prio.urgent": "Pian",
    "prio.routine": "Kiireetön",
    "need.due": "SLA", "need.overdue": "Myöhässä", "need.left": "{m} min jäljellä",
    "need.late": "{m} min myöhässä", "need.owner": "Omistaja", "need.control_room": "Tilannekeskus",
    "need.timeline": "Aikajana", "need.why": "Miksi näin reititettiin", "need.rule": "Sääntö",
    "need.ruleset": "Sääntökokoelma", "need.matched": "Täyttyneet ehdot",
    "need.candidates": "Tiimiehdokkaat", "need.guard": "Turvasääntö",
    "need.close_panel": "Sulje", "need.service": "Palvelu", "need.phase": "Vaihe",
    "action.reassign": "Siirrä tiimille", "action.close": "Sulje tarve",
    "action.ack": "Kuittaa", "action.reason": "Syy", "action.team": "Tiimi",
    "action.outcome": "Lopputulos", "action.send": "Lähetä", "action.sent": "Vastaanotettu käsiteltäväksi",
    "action.acknowledge": "Kuittaa", "action.ack_optional": "Syy (valinnainen kuittauksessa)",
    "action.needs_reason": "Anna syy",
    "alert.banner": "Eskaloitu tilannekeskukselle: {n}", "alert.reason": "Syy",
    "team.status": "Tila", "team.task": "Tehtävä", "team.none": "Ei tiimejä",
    "status.available": "Vapaa", "status.busy": "Varattu", "status.en_route": "Matkalla",
    "status.on_site": "Kohteessa", "status.offline": "Poissa", "status.break": "Tauko",
    "kpi.needs": "Tarpeet", "kpi.at_home": "Hoidettu kotona", "kpi.avoided": "Vältetyt kuljetukset",
    "kpi.calls": "116117-puhelut", "kpi.accept": "Tarjous→hyväksyntä (mediaani)",
    "kpi.onsite": "Hyväksyntä→perillä (mediaani)", "kpi.open": "Avoimet", "kpi.overdue": "Myöhässä",
    "kpi.today": "Tänään (24 h)", "kpi.hour": "Viimeinen tunti",
    "teamv.title": "Tehtävät", "teamv.none": "Ei tehtäviä – odotetaan hälytyksiä",
    "teamv.new": "UUSI TEHTÄVÄ", "teamv.accept": "Hyväksy", "teamv.decline": "Hylkää",
    "teamv.en_route": "Matkalla", "teamv.on_site": "Perillä", "teamv.complete": "Valmis",
    "teamv.decline_reason": "Hylkäyksen syy", "teamv.outcome": "Lopputulos",
    "teamv.refused": "Ei hyväksytty: {why}", "teamv.expires": "Vastattava klo {t}",
    "outcome.resolved_at_home": "Hoidettu kotona", "outcome.urgent_clinic": "Päivystysvastaanotto",
    "outcome.emergency_department": "Päivystys (ED)", "outcome.ambulance": "Ambulanssi",
    "outcome.no_need": "Ei tarvetta",
    "teamv.arm": "Ota äänihälytykset käyttöön", "teamv.armed": "Ääni ja värinä käytössä",
    "teamv.armed_novibrate": "Ääni käytössä (laite ei värise)",
    "teamv.decline_confirm": "Vahvista hylkäys", "teamv.cancel": "Peruuta", "teamv.needs_reason": "Anna syy",
    "teamv.choose_outcome": "Valitse lopputulos", "teamv.needs_outcome": "Valitse lopputulos ensin",
    "teamv.pending": "Lähetetty: {action} – odotetaan vahvistusta",
    "teamv.acked": "Vastaanotettu: {action} – odotetaan vahvistusta",
    "teamv.not_sent": "ei lähetetty, ei yhteyttä – yritä uudelleen",
    "teamv.ended": "Edellinen tehtävä ({what}): {status}",
    "dstatus.requested": "Tarjottu", "dstatus.received": "Vastaanotettu", "dstatus.accepted": "Hyväksytty",
    "dstatus.in-progress": "Käynnissä", "dstatus.completed": "Valmis", "dstatus.rejected": "Hylätty",
    "dstatus.cancelled": "Peruttu", "dstatus.failed": "Epäonnistui",
    "bstatus.en-route": "Matkalla kohteeseen", "bstatus.on-site": "Kohteessa",
    "rules.active": "Voimassa oleva", "rules.edit": "Muokattava kopio", "rules.validate": "Tarkista",
    "rules.valid": "Kelvollinen: {label}, {n} sääntöä", "rules.invalid": "{n} virhettä",
    "rules.line": "Rivi {line}", "rules.dryrun": "Koeajo (24 h)", "rules.activate": "Ota käyttöön",
    "rules.comment": "Kommentti", "rules.history": "Versiohistoria", "rules.changed": "{n} päätöstä muuttuisi {total}:sta",
    "rules.activated": "Otettu käyttöön: {label}", "rules.who": "Kuka", "rules.when": "Milloin",
    "rules.version": "Versio", "rules.refused": "Hylätty", "rules.warnings": "Varoitukset",
    "rules.before": "Ennen", "rules.after": "Jälkeen", "rules.need": "Tarve",
    "rules.shipped": "Toimitettu oletus (ei aktivointeja)",
    "signal.fall_detected": "Kaatuminen", "signal.help_button": "Hälytysnappi", "signal.no_activity": "Ei liikettä",
    "signal.smoke": "Savu", "signal.door_bed": "Ovi/sänky", "signal.low_battery": "Akku vähissä",
    "signal.technical_fault": "Tekninen vika", "signal.device_silent": "Laite hiljaa",
    "common.loading": "Ladataan…", "common.error": "Virhe: {why}",
  },
  sv: {
    "app.board": "Lägesbild", "app.team": "Team", "app.rules": "Dirigeringsregler",
    "nav.board": "Lägesbild", "nav.team": "Teamvy", "nav.rules": "Regler",
    "lang.label": "Språk",
    "login.title": "Logga in", "login.token": "Token", "login.submit": "Logga in",
    "login.logout": "Logga ut", "login.invalid": "Ogiltig token: {why}",
    "conn.live": "Ansluten", "conn.connecting": "Ansluter…",
    "conn.offline": "Ingen anslutning – försöker igen", "conn.closed": "Anslutningen stängd: {why}",
    "board.queue": "Öppna behov", "board.teams": "Team", "board.kpis": "Nyckeltal",
    "board.map": "Karta över området", "board.empty": "Inga öppna behov",
    "filter.source": "Källa", "filter.municipality": "Kommun", "filter.all": "Alla",
    "filter.window": "Tidsfönster", "window.1h": "1 h", "window.6h": "6 h", "window.24h": "24 h",
    "source.safety_alarm": "Trygghetslarm", "source.transport_request": "Transportbegäran",
    "source.call_116117": "116117", "source.device_supervision": "Tyst enhet",
    "phase.new": "Ny", "phase.offered": "Erbjuden", "phase.escalated": "Eskalerad",
    "phase.accepted": "Accepterad", "phase.en_route": "På väg", "phase.on_site": "På plats",
    "phase.completed": "Slutförd", "phase.closed": "Stängd",
    "id.client": "Klient", "id.device_id": "Enhet", "id.call_id": "Samtal",
    "id.transport_request_id": "Transportbegäran", "id.copy": "Kopiera {what}", "id.copied": "Kopierat", "id.copy_button": "Kopiera",
    "id.copy_failed": "Kopieringen misslyckades – markera texten",
    "notice.refused": "Inte utfört", "notice.marker": "Åtgärden avvisades: {why}",
    "prio.stat": "Mest brådskande", "prio.asap": "Brådskande", "prio.urgent": "Snart",
    "prio.routine": "Icke brådskande",
    "need.due": "SLA", "need.overdue": "Försenad", "need.left": "{m} min kvar",
    "need.late": "{m} min försenad", "need.owner": "Ägare", "need.control_room": "Lägescentralen",
    "need.timeline": "Tidslinje", "need.why": "Varför så dirigerat", "need.rule": "Regel",
    "need.ruleset": "Regelverk", "need.matched": "Uppfyllda villkor",
    "need.candidates": "Teamkandidater", "need.guard": "Säkerhetsregel",
    "need.close_panel": "Stäng", "need.service": "Tjänst", "need.phase": "Fas",
    "action.reassign": "Flytta till team", "action.close": "Stäng behovet",
    "action.ack": "Kvittera", "action.reason": "Orsak", "action.team": "Team",
    "action.outcome": "Utfall", "action.send": "Skicka", "action.sent": "Mottaget för behandling",
    "action.acknowledge": "Kvittera", "action.ack_optional": "Orsak (frivillig vid kvittering)",
    "action.needs_reason": "Ange orsak",
    "alert.banner": "Eskalerat till lägescentralen: {n}", "alert.reason": "Orsak",
    "team.status": "Status", "team.task": "Uppdrag", "team.none": "Inga team",
    "status.available": "Ledig", "status.busy": "Upptagen", "status.en_route": "På väg",
    "status.on_site": "På plats", "status.offline": "Frånvarande", "status.break": "Paus",
    "kpi.needs": "Behov", "kpi.at_home": "Skött hemma", "kpi.avoided": "Undvikna transporter",
    "kpi.calls": "116117-samtal", "kpi.accept": "Erbjudande→accepterat (median)",
    "kpi.onsite": "Accepterat→på plats (median)", "kpi.open": "Öppna", "kpi.overdue": "Försenade",
    "kpi.today": "I dag (24 h)", "kpi.hour": "Senaste timmen",
    "teamv.title": "Uppdrag", "teamv.none": "Inga uppdrag – väntar på larm",
    "teamv.new": "NYTT UPPDRAG", "teamv.accept": "Acceptera", "teamv.decline": "Avböj",
    "teamv.en_route": "På väg", "teamv.on_site": "Framme", "teamv.complete": "Klar",
    "teamv.decline_reason": "Orsak till avböjande", "teamv.outcome": "Utfall",
    "teamv.refused": "Inte godkänt: {why}", "teamv.expires": "Svara senast {t}",
    "outcome.resolved_at_home": "Skött hemma", "outcome.urgent_clinic": "Jourmottagning",
    "outcome.emergency_department": "Akuten", "outcome.ambulance": "Ambulans",
    "outcome.no_need": "Inget behov",
    "teamv.arm": "Slå på ljudlarm", "teamv.armed": "Ljud och vibration på",
    "teamv.armed_novibrate": "Ljud på (enheten vibrerar inte)",
    "teamv.decline_confirm": "Bekräfta avböjande", "teamv.cancel": "Avbryt", "teamv.needs_reason": "Ange orsak",
    "teamv.choose_outcome": "Välj utfall", "teamv.needs_outcome": "Välj utfall först",
    "teamv.pending": "Skickat: {action} – väntar på bekräftelse",
    "teamv.acked": "Mottaget: {action} – väntar på bekräftelse",
    "teamv.not_sent": "inte skickat, ingen anslutning – försök igen",
    "teamv.ended": "Föregående uppdrag ({what}): {status}",
    "dstatus.requested": "Erbjudet", "dstatus.received": "Mottaget", "dstatus.accepted": "Accepterat",
    "dstatus.in-progress": "Pågår", "dstatus.completed": "Klart", "dstatus.rejected": "Avböjt",
    "dstatus.cancelled": "Avbrutet", "dstatus.failed": "Misslyckades",
    "bstatus.en-route": "På väg till platsen", "bstatus.on-site": "På plats",
    "rules.active": "Gällande", "rules.edit": "Kopia att redigera", "rules.validate": "Kontrollera",
    "rules.valid": "Giltig: {label}, {n} regler", "rules.invalid": "{n} fel",
    "rules.line": "Rad {line}", "rules.dryrun": "Provkörning (24 h)", "rules.activate": "Ta i bruk",
    "rules.comment": "Kommentar", "rules.history": "Versionshistorik", "rules.changed": "{n} av {total} beslut skulle ändras",
    "rules.activated": "Taget i bruk: {label}", "rules.who": "Vem", "rules.when": "När",
    "rules.version": "Version", "rules.refused": "Avvisad", "rules.warnings": "Varningar",
    "rules.before": "Före", "rules.after": "Efter", "rules.need": "Behov",
    "rules.shipped": "Levererad standard (inga aktiveringar)",
    "signal.fall_detected": "Fall", "signal.help_button": "Larmknapp", "signal.no_activity": "Ingen aktivitet",
    "signal.smoke": "Rök", "signal.door_bed": "Dörr/säng", "signal.low_battery": "Låg batterinivå",
    "signal.technical_fault": "Tekniskt fel", "signal.device_silent": "Tyst enhet",
    "common.loading": "Laddar…", "common.error": "Fel: {why}",
  },
  en: {
    "app.board": "Situation board", "app.team": "Team", "app.rules": "Routing rules",
    "nav.board": "Board", "nav.team": "Team view", "nav.rules": "Rules",
    "lang.label": "Language",
    "login.title": "Sign in", "login.token": "Token", "login.submit": "Sign in",
    "login.logout": "Sign out", "login.invalid": "Token not accepted: {why}",
    "conn.live": "Connected", "conn.connecting": "Connecting…",
    "conn.offline": "Offline – retrying", "conn.closed": "Connection closed: {why}",
    "board.queue": "Open needs", "board.teams": "Teams", "board.kpis": "KPIs",
    "board.map": "Map of the region", "board.empty": "No open needs",
    "filter.source": "Source", "filter.municipality": "Municipality", "filter.all": "All",
    "filter.window": "Time window", "window.1h": "1 h", "window.6h": "6 h", "window.24h": "24 h",
    "source.safety_alarm": "Safety alarm", "source.transport_request": "Transport request",
    "source.call_116117": "116117", "source.device_supervision": "Device silent",
    "phase.new": "New", "phase.offered": "Offered", "phase.escalated": "Escalated",
    "phase.accepted": "Accepted", "phase.en_route": "En route", "phase.on_site": "On site",
    "phase.completed": "Completed", "phase.closed": "Closed",
    "id.client": "Client", "id.device_id": "Device", "id.call_id": "Call",
    "id.transport_request_id": "Transport request", "id.copy": "Copy {what}", "id.copied": "Copied", "id.copy_button": "Copy",
    "id.copy_failed": "Could not copy – select the text",
    "notice.refused": "Not carried out", "notice.marker": "Action refused: {why}",
    "prio.stat": "Immediate", "prio.asap": "Urgent", "prio.urgent": "Soon",
    "prio.routine": "Routine",
    "need.due": "SLA", "need.overdue": "Overdue", "need.left": "{m} min left",
    "need.late": "{m} min late", "need.owner": "Owner", "need.control_room": "Control room",
    "need.timeline": "Timeline", "need.why": "Why it was routed so", "need.rule": "Rule",
    "need.ruleset": "Ruleset", "need.matched": "Conditions met",
    "need.candidates": "Team candidates", "need.guard": "Safety guard",
    "need.close_panel": "Close", "need.service": "Service", "need.phase": "Phase",
    "action.reassign": "Reassign to team", "action.close": "Close need",
    "action.ack": "Acknowledge", "action.reason": "Reason", "action.team": "Team",
    "action.outcome": "Outcome", "action.send": "Send", "action.sent": "Accepted for processing",
    "action.acknowledge": "Acknowledge", "action.ack_optional": "Reason (optional to acknowledge)",
    "action.needs_reason": "Give a reason",
    "alert.banner": "Escalated to the control room: {n}", "alert.reason": "Reason",
    "team.status": "Status", "team.task": "Task", "team.none": "No teams",
    "status.available": "Available", "status.busy": "Busy", "status.en_route": "En route",
    "status.on_site": "On site", "status.offline": "Offline", "status.break": "Break",
    "kpi.needs": "Needs", "kpi.at_home": "Resolved at home", "kpi.avoided": "Avoided transports",
    "kpi.calls": "116117 calls", "kpi.accept": "Offer→accept (median)",
    "kpi.onsite": "Accept→on site (median)", "kpi.open": "Open", "kpi.overdue": "Overdue",
    "kpi.today": "Today (24 h)", "kpi.hour": "Last hour",
    "teamv.title": "Tasks", "teamv.none": "No tasks – waiting for alerts",
    "teamv.new": "NEW TASK", "teamv.accept": "Accept", "teamv.decline": "Decline",
    "teamv.en_route": "En route", "teamv.on_site": "On site", "teamv.complete": "Completed",
    "teamv.decline_reason": "Why decline", "teamv.outcome": "Outcome",
    "teamv.refused": "Not accepted: {why}", "teamv.expires": "Answer by {t}",
    "outcome.resolved_at_home": "Resolved at home", "outcome.urgent_clinic": "Urgent clinic",
    "outcome.emergency_department": "Emergency department", "outcome.ambulance": "Ambulance",
    "outcome.no_need": "No need",
    "teamv.arm": "Turn on sound alerts", "teamv.armed": "Sound and vibration on",
    "teamv.armed_novibrate": "Sound on (this device does not vibrate)",
    "teamv.decline_confirm": "Confirm decline", "teamv.cancel": "Cancel", "teamv.needs_reason": "Give a reason",
    "teamv.choose_outcome": "Choose the outcome", "teamv.needs_outcome": "Choose the outcome first",
    "teamv.pending": "Sent: {action} – waiting for confirmation",
    "teamv.acked": "Received: {action} – waiting for confirmation",
    "teamv.not_sent": "not sent, no connection – try again",
    "teamv.ended": "Previous task ({what}): {status}",
    "dstatus.requested": "Offered", "dstatus.received": "Received", "dstatus.accepted": "Accepted",
    "dstatus.in-progress": "In progress", "dstatus.completed": "Completed", "dstatus.rejected": "Declined",
    "dstatus.cancelled": "Cancelled", "dstatus.failed": "Failed",
    "bstatus.en-route": "En route", "bstatus.on-site": "On site",
    "rules.active": "In force", "rules.edit": "Working copy", "rules.validate": "Validate",
    "rules.valid": "Valid: {label}, {n} rules", "rules.invalid": "{n} errors",
    "rules.line": "Line {line}", "rules.dryrun": "Dry-run (24 h)", "rules.activate": "Activate",
    "rules.comment": "Comment", "rules.history": "Version history", "rules.changed": "{n} of {total} decisions would change",
    "rules.activated": "Activated: {label}", "rules.who": "Who", "rules.when": "When",
    "rules.version": "Version", "rules.refused": "Refused", "rules.warnings": "Warnings",
    "rules.before": "Before", "rules.after": "After", "rules.need": "Need",
    "rules.shipped": "Shipped default (no activations)",
    "signal.fall_detected": "Fall", "signal.help_button": "Help button", "signal.no_activity": "No activity",
    "signal.smoke": "Smoke", "signal.door_bed": "Door/bed", "signal.low_battery": "Low battery",
    "signal.technical_fault": "Technical fault", "signal.device_silent": "Device silent",
    "common.loading": "Loading…", "common.error": "Error: {why}",
  },
};

export const LANGS = ["fi", "sv", "en"];
let lang = LANGS.includes(localStorage.getItem("tike.lang")) ? localStorage.getItem("tike.lang") : "fi";
const listeners = new Set();

export function currentLang() { return lang; }

/** A need's signal (alarm code, category) in words, or the code itself when unknown. */
export function signal(code) {
  const key = `signal.${code}`;
  return STRINGS[lang][key] ?? STRINGS.fi[key] ?? String(code ?? "");
}

export function t(key, vars = {}) {
  const text = STRINGS[lang][key] ?? STRINGS.fi[key] ?? key;
  return text.replace(/\{(\w+)\}/g, (_, name) => (name in vars ? String(vars[name]) : `{${name}}`));
}

export function applyI18n(root = document) {
  document.documentElement.lang = lang;
  for (const el of root.querySelectorAll("[data-i18n]")) el.textContent = t(el.dataset.i18n);
  for (const el of root.querySelectorAll("[data-i18n-attr]")) {
    for (const pair of el.dataset.i18nAttr.split(",")) {
      const [attr, key] = pair.split(":");
      el.setAttribute(attr.trim(), t(key.trim()));
    }
  }
}

export function setLang(next) {
  if (!LANGS.includes(next)) return;
  lang = next;
  localStorage.setItem("tike.lang", next);
  applyI18n();
  for (const fn of listeners) fn(next);
}

export function onLangChange(fn) { listeners.add(fn); }

/** A <select> that switches the language (placed in the page header). */
export function languageSwitch(select) {
  select.replaceChildren(...LANGS.map((code) => {
    const opt = document.createElement("option");
    opt.value = code;
    opt.textContent = { fi: "Suomi", sv: "Svenska", en: "English" }[code];
    opt.lang = code;
    return opt;
  }));
  select.value = lang;
  select.addEventListener("change", () => setLang(select.value));
}

export function formatTime(iso) {
  if (!iso) return "";
  const locale = { fi: "fi-FI", sv: "sv-FI", en: "en-GB" }[lang];
  return new Date(iso).toLocaleTimeString(locale, { hour: "2-digit", minute: "2-digit" });
}
