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
    "id.client": "Asiakas", "id.device_id": "Laite", "id.call_id": "Puhelu",
    "id.transport_request_id": "Kuljetuspyyntö", "id.copy": "Kopioi {what}", "id.copied": "Kopioitu", "id.copy_button": "Kopioi",
    "id.copy_failed": "Kopiointi ei onnistunut – valitse teksti",
    "notice.refused": "Ei toteutettu", "notice.marker": "Toimenpide hylätty: {why}",
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
    "kpi.needs": "Tarpeet", "kpi.at_home": "Hoidettu kotona", "kpi.avoided": "Vältetyt kuljetukset",
    "kpi.calls": "116117-puhelut", "kpi.accept": "Tarjous→hyväksyntä (mediaani)",
    "kpi.onsite": "Hyväksyntä→perillä (mediaani)", "kpi.open": "Avoimet", "kpi.overdue": "Myöhässä",
    "kpi.today": "Tänään (24 h)", "kpi.hour": "Viimeinen tunti",
    "teamv.title": "Tehtävät", "teamv.none": "Ei tehtäviä – odotetaan hälytyksiä",
    "teamv.new": "UUSI TEHTÄVÄ", "teamv.accept": "Hyväksy", "teamv.decline": "Hylkää",
    "teamv.en_route": "Matkalla", "teamv.on_site": "Perillä", "teamv.complete": "Valmis",
    "teamv.decline_reason": "Hylkäyksen syy", "teamv.outcome": "Lopputulos",
    "teamv.refused": "Ei hyväksytty: {why}", "teamv.expires": "Vastattava klo {t}",
    "teamv.arm": "Ota äänihälytykset käyttöön", "teamv.armed": "Ääni ja värinä käytössä",
    "teamv.armed_novibrate": "Ääni käytössä (laite ei värise)",
    "teamv.decline_confirm": "Vahvista hylkäys", "teamv.cancel": "Peruuta", "teamv.needs_reason": "Anna syy",
    "teamv.choose_outcome": "Valitse lopputulos", "teamv.needs_outcome": "Valitse lopputulos ensin",
    "teamv.pending": "Lähetetty: {action} – odotetaan vahvistusta",
    "teamv.acked": "Vastaanotettu: {action} – odotetaan vahvistusta",
    "teamv.not_sent": "ei lähetetty, ei yhteyttä – yritä uudelleen",
    "teamv.ended": "Edellinen tehtävä ({what}): {status}",
    "rules.active": "Voimassa oleva", "rules.edit": "Muokattava kopio", "rules.validate": "Tarkista",
    "rules.valid": "Kelvollinen: {label}, {n} sääntöä", "rules.invalid": "{n} virhettä",
    "rules.line": "Rivi {line}", "rules.dryrun": "Koeajo (24 h)", "rules.activate": "Ota käyttöön",
    "rules.comment": "Kommentti", "rules.history": "Versiohistoria", "rules.changed": "{n} päätöstä muuttuisi {total}:sta",
    "rules.activated": "Otettu käyttöön: {label}", "rules.who": "Kuka", "rules.when": "Milloin",
    "rules.version": "Versio", "rules.refused": "Hylätty", "rules.warnings": "Varoitukset",
    "rules.before": "Ennen", "rules.after": "Jälkeen", "rules.need": "Tarve",
    "rules.shipped": "Toimitettu oletus (ei aktivointeja)",
    "demo.badge": "Demo – simuloitua dataa",
    "demo.title": "Kaikki näkyvät tarpeet, puhelut ja tiimit ovat simulaattorin tuottamia (synthetic).",
    "login.help_title": "Mistä tunniste saadaan?",
    "login.help_dev": "Kehityskäytössä `tike up` tulostaa valmiit kirjautumislinkit (http://127.0.0.1:…/#token=…): avaa linkki, niin olet sisällä.",
    "login.help_prod": "Tuotannossa tunnisteen antaa organisaatiosi Tike-pääkäyttäjä: hän tekee sen komennolla `tike token --role <rooli>` tai rajapinnalla POST /api/tokens. Tunniste on henkilökohtainen ja vanhenee (oletus 8 h).",
    "login.help_roles": "Roolit: {roles}.",
    "need.type": "Tyyppi",
    "need.guard_hit": "Hengenvaara: {field} = {value}",
    "tl.received": "{source} → sääntö {rule}",
    "tl.no_rule": "ei sääntöä",
    "tl.overdue": "SLA {m} min ylittyi",
    "tl.refused": "{team}: {action} – {why}",
    "map.coast": "Rannikko ja valtionrajat: Natural Earth (public domain)",
    "map.legend_need": "Tarve (väri = kiireellisyys)",
    "map.legend_team": "Tiimi (väri = tila)",
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
    "id.client": "Klient", "id.device_id": "Enhet", "id.call_id": "Samtal",
    "id.transport_request_id": "Transportbegäran", "id.copy": "Kopiera {what}", "id.copied": "Kopierat", "id.copy_button": "Kopiera",
    "id.copy_failed": "Kopieringen misslyckades – markera texten",
    "notice.refused": "Inte utfört", "notice.marker": "Åtgärden avvisades: {why}",
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
    "kpi.needs": "Behov", "kpi.at_home": "Skött hemma", "kpi.avoided": "Undvikna transporter",
    "kpi.calls": "116117-samtal", "kpi.accept": "Erbjudande→accepterat (median)",
    "kpi.onsite": "Accepterat→på plats (median)", "kpi.open": "Öppna", "kpi.overdue": "Försenade",
    "kpi.today": "I dag (24 h)", "kpi.hour": "Senaste timmen",
    "teamv.title": "Uppdrag", "teamv.none": "Inga uppdrag – väntar på larm",
    "teamv.new": "NYTT UPPDRAG", "teamv.accept": "Acceptera", "teamv.decline": "Avböj",
    "teamv.en_route": "På väg", "teamv.on_site": "Framme", "teamv.complete": "Klar",
    "teamv.decline_reason": "Orsak till avböjande", "teamv.outcome": "Utfall",
    "teamv.refused": "Inte godkänt: {why}", "teamv.expires": "Svara senast {t}",
    "teamv.arm": "Slå på ljudlarm", "teamv.armed": "Ljud och vibration på",
    "teamv.armed_novibrate": "Ljud på (enheten vibrerar inte)",
    "teamv.decline_confirm": "Bekräfta avböjande", "teamv.cancel": "Avbryt", "teamv.needs_reason": "Ange orsak",
    "teamv.choose_outcome": "Välj utfall", "teamv.needs_outcome": "Välj utfall först",
    "teamv.pending": "Skickat: {action} – väntar på bekräftelse",
    "teamv.acked": "Mottaget: {action} – väntar på bekräftelse",
    "teamv.not_sent": "inte skickat, ingen anslutning – försök igen",
    "teamv.ended": "Föregående uppdrag ({what}): {status}",
    "rules.active": "Gällande", "rules.edit": "Kopia att redigera", "rules.validate": "Kontrollera",
    "rules.valid": "Giltig: {label}, {n} regler", "rules.invalid": "{n} fel",
    "rules.line": "Rad {line}", "rules.dryrun": "Provkörning (24 h)", "rules.activate": "Ta i bruk",
    "rules.comment": "Kommentar", "rules.history": "Versionshistorik", "rules.changed": "{n} av {total} beslut skulle ändras",
    "rules.activated": "Taget i bruk: {label}", "rules.who": "Vem", "rules.when": "När",
    "rules.version": "Version", "rules.refused": "Avvisad", "rules.warnings": "Varningar",
    "rules.before": "Före", "rules.after": "Efter", "rules.need": "Behov",
    "rules.shipped": "Levererad standard (inga aktiveringar)",
    "demo.badge": "Demo – simulerade data",
    "demo.title": "Alla behov, samtal och team som syns är skapade av simulatorn (synthetic).",
    "login.help_title": "Var får jag en token?",
    "login.help_dev": "Vid utveckling skriver `tike up` ut färdiga inloggningslänkar (http://127.0.0.1:…/#token=…): öppna en länk så är du inloggad.",
    "login.help_prod": "I produktion får du din token av organisationens Tike-administratör, som skapar den med `tike token --role <roll>` eller via POST /api/tokens. En token är personlig och går ut (standard 8 h).",
    "login.help_roles": "Roller: {roles}.",
    "need.type": "Typ",
    "need.guard_hit": "Livsfara: {field} = {value}",
    "tl.received": "{source} → regel {rule}",
    "tl.no_rule": "ingen regel",
    "tl.overdue": "SLA {m} min överskriden",
    "tl.refused": "{team}: {action} – {why}",
    "map.coast": "Kust och riksgränser: Natural Earth (public domain)",
    "map.legend_need": "Behov (färg = brådska)",
    "map.legend_team": "Team (färg = status)",
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
    "id.client": "Client", "id.device_id": "Device", "id.call_id": "Call",
    "id.transport_request_id": "Transport request", "id.copy": "Copy {what}", "id.copied": "Copied", "id.copy_button": "Copy",
    "id.copy_failed": "Could not copy – select the text",
    "notice.refused": "Not carried out", "notice.marker": "Action refused: {why}",
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
    "kpi.needs": "Needs", "kpi.at_home": "Resolved at home", "kpi.avoided": "Avoided transports",
    "kpi.calls": "116117 calls", "kpi.accept": "Offer→accept (median)",
    "kpi.onsite": "Accept→on site (median)", "kpi.open": "Open", "kpi.overdue": "Overdue",
    "kpi.today": "Today (24 h)", "kpi.hour": "Last hour",
    "teamv.title": "Tasks", "teamv.none": "No tasks – waiting for alerts",
    "teamv.new": "NEW TASK", "teamv.accept": "Accept", "teamv.decline": "Decline",
    "teamv.en_route": "En route", "teamv.on_site": "On site", "teamv.complete": "Completed",
    "teamv.decline_reason": "Why decline", "teamv.outcome": "Outcome",
    "teamv.refused": "Not accepted: {why}", "teamv.expires": "Answer by {t}",
    "teamv.arm": "Turn on sound alerts", "teamv.armed": "Sound and vibration on",
    "teamv.armed_novibrate": "Sound on (this device does not vibrate)",
    "teamv.decline_confirm": "Confirm decline", "teamv.cancel": "Cancel", "teamv.needs_reason": "Give a reason",
    "teamv.choose_outcome": "Choose the outcome", "teamv.needs_outcome": "Choose the outcome first",
    "teamv.pending": "Sent: {action} – waiting for confirmation",
    "teamv.acked": "Received: {action} – waiting for confirmation",
    "teamv.not_sent": "not sent, no connection – try again",
    "teamv.ended": "Previous task ({what}): {status}",
    "rules.active": "In force", "rules.edit": "Working copy", "rules.validate": "Validate",
    "rules.valid": "Valid: {label}, {n} rules", "rules.invalid": "{n} errors",
    "rules.line": "Line {line}", "rules.dryrun": "Dry-run (24 h)", "rules.activate": "Activate",
    "rules.comment": "Comment", "rules.history": "Version history", "rules.changed": "{n} of {total} decisions would change",
    "rules.activated": "Activated: {label}", "rules.who": "Who", "rules.when": "When",
    "rules.version": "Version", "rules.refused": "Refused", "rules.warnings": "Warnings",
    "rules.before": "Before", "rules.after": "After", "rules.need": "Need",
    "rules.shipped": "Shipped default (no activations)",
    "demo.badge": "Demo – simulated data",
    "demo.title": "Every need, call and team shown comes from the simulator (synthetic).",
    "login.help_title": "Where do I get a token?",
    "login.help_dev": "In development, `tike up` prints ready sign-in links (http://127.0.0.1:…/#token=…): open one and you are in.",
    "login.help_prod": "In production, your organisation's Tike administrator gives you a token, made with `tike token --role <role>` or POST /api/tokens. A token is personal and expires (8 h by default).",
    "login.help_roles": "Roles: {roles}.",
    "need.type": "Type",
    "need.guard_hit": "Life-threatening: {field} = {value}",
    "tl.received": "{source} → rule {rule}",
    "tl.no_rule": "no rule",
    "tl.overdue": "SLA {m} min passed",
    "tl.refused": "{team}: {action} – {why}",
    "map.coast": "Coastline and national borders: Natural Earth (public domain)",
    "map.legend_need": "Need (colour = priority)",
    "map.legend_team": "Team (colour = status)",
    "common.loading": "Loading…", "common.error": "Error: {why}",
  },
};
export const LANGS = ["fi", "sv", "en"];

// Every enumerated value's label comes from one file (labels.json), checked by the tests
// against the contracts; it is merged in as the keys "category.value".
const LABELS = await fetch("/i18n/labels.json").then((r) => r.json());
for (const [category, values] of Object.entries(LABELS)) {
  if (category.startsWith("_")) continue;
  for (const [value, words] of Object.entries(values)) {
    for (const code of LANGS) STRINGS[code][`${category}.${value}`] = words[code];
  }
}
/** Where a need's signal comes from, in the order the situation machine picks it. */
const SIGNAL_CATEGORIES = ["alarm_code", "condition_category", "disposition", "source"];

let lang = LANGS.includes(localStorage.getItem("tike.lang")) ? localStorage.getItem("tike.lang") : "fi";
const listeners = new Set();
export function currentLang() { return lang; }
/** A need's signal (alarm code, transport condition, 116117 disposition or its source) in
 * words; the category key itself when no label has it (which the language tests catch). */
export function signal(code) {
  for (const cat of SIGNAL_CATEGORIES) {
    if (`${cat}.${code}` in STRINGS[lang]) return t(`${cat}.${code}`);
  }
  return `signal.${code ?? ""}`;
}

/** An enumerated value in words: labels.json's category and value. */
export function label(category, value, vars = {}) {
  return t(`${category}.${value}`, vars);
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
