// Rules editor (operators): view the ruleset in force, edit a copy with inline validation,
// dry-run it against recorded needs, activate it with a comment, and see the history.
import { api, el, header, setConnection, signIn } from "./api.js";
import { applyI18n, label, onLangChange, t } from "./i18n.js";

/** A dry-run decision: its rule (code) and the route in words. */
const route = (d) => [el("code", {}, d.rule || "–"), ` → ${d.service ? label("service", d.service) : t("need.control_room")}, ${label("prio", d.priority)}`];

const source = () => document.getElementById("source");
let errors = [];
let timer = null;

function gutter() {
  const lines = source().value.split("\n").length;
  const bad = new Map(errors.map((e) => [e.line, e.message]));
  const g = document.getElementById("gutter");
  g.replaceChildren(...Array.from({ length: lines }, (_, i) => {
    const n = i + 1;
    return el("div", { class: bad.has(n) ? "err" : null, "data-line": n, title: bad.get(n) }, String(n));
  }));
  source().style.height = `${lines * 18 + 12}px`;
}

function goTo(line) {
  const ta = source();
  const offset = ta.value.split("\n").slice(0, line - 1).join("\n").length + (line > 1 ? 1 : 0);
  ta.focus();
  ta.setSelectionRange(offset, offset);
  ta.parentElement.scrollTop = Math.max(0, (line - 5) * 18);
}

async function validate() {
  const check = document.getElementById("check");
  try {
    const report = await api("/api/rules/validate", { method: "POST", body: { text: source().value } });
    errors = report.errors;
    if (report.valid) {
      check.replaceChildren(el("p", { class: "valid" }, t("rules.valid", { label: report.label, n: report.rules })),
        report.warnings.length ? el("ul", { class: "warnings" }, report.warnings.map((w) => el("li", {}, w))) : []);
    } else {
      check.replaceChildren(el("p", {}, t("rules.invalid", { n: errors.length })),
        el("ul", { class: "errors" }, errors.map((e) => el("li", { "data-line": e.line },
          el("button", { type: "button", class: "link", onclick: () => goTo(e.line) }, t("rules.line", { line: e.line })),
          `${e.rule_id ? `${e.rule_id}: ` : ""}${e.message}`))));
    }
  } catch (err) {
    check.textContent = t("common.error", { why: err.message });
  }
  gutter();
  if (errors.length) {  // bring the first error's line into view
    source().parentElement.scrollTop = Math.max(0, (errors[0].line - 5) * 18);
  }
  return errors.length === 0;
}

async function dryRun() {
  const box = document.getElementById("dryrun-result");
  box.textContent = t("common.loading");
  try {
    const r = await api("/api/rules/dry-run", { method: "POST", body: { text: source().value, since_hours: 24 } });
    box.replaceChildren(el("p", {}, t("rules.changed", { n: r.changed, total: r.needs })),
      el("table", { class: "changes" },
        el("thead", {}, el("tr", {}, el("th", {}, t("rules.need")), el("th", {}, t("rules.before")), el("th", {}, t("rules.after")))),
        el("tbody", {}, r.changed_decisions.slice(0, 50).map((c) => el("tr", {},
          el("td", {}, `${c.need_id} (${c.municipality})`),
          el("td", {}, route(c.before)),
          el("td", {}, route(c.after)))))));
  } catch (err) {
    box.textContent = t("common.error", { why: err.detail?.message || err.message });
    if (err.detail?.errors) { errors = err.detail.errors; gutter(); }
  }
}

/** A KPI value of the what-if report: a count, a share, or a duration's median. */
function kpiValue(v) {
  if (v === null || v === undefined) return "–";
  if (typeof v === "object") {
    if ("median_s" in v) return v.median_s === null ? label("whatif", "never") : label("whatif", "median", { m: v.median_s });
    return "";
  }
  return String(v);
}

/** A difference: signed; a duration's median difference in seconds, or "–" if either is never. */
function kpiDiff(v) {
  const signed = (x) => (x > 0 ? `+${x}` : String(x));
  if (v === null || v === undefined) return "–";
  if (typeof v === "object") return "median_s" in v && v.median_s !== null ? `${signed(v.median_s)} s` : "–";
  return signed(v);
}

let reportUrl = null;

async function whatIf() {
  const box = document.getElementById("whatif-result");
  box.replaceChildren(el("p", {}, label("whatif", "running")));
  try {
    const r = await api("/api/rules/whatif", { method: "POST", body: { text: source().value, hours: 24 } });
    const rep = r.report;
    const rows = Object.entries(rep.kpis).filter(([key]) => key !== "by_service").map(([key, k]) =>
      el("tr", { "data-kpi": key },
        el("th", {}, label("whatif_kpi", key)),
        el("td", {}, kpiValue(k.baseline)), el("td", {}, kpiValue(k.variant)),
        el("td", { class: "diff" }, kpiDiff(k.difference)),
        el("td", {}, k.needs_total ? el("details", {}, el("summary", {}, String(k.needs_total)),
          el("code", {}, k.needs.slice(0, 40).join(" "))) : "")));
    if (reportUrl) URL.revokeObjectURL(reportUrl);
    reportUrl = URL.createObjectURL(new Blob([r.html], { type: "text/html" }));
    box.replaceChildren(
      el("h2", {}, label("whatif", "title")),
      el("p", { class: "whatif-summary" }, label("whatif", "summary",
        { needs: rep.kpis.needs.baseline, changed: rep.route_changes.length, diff: rep.changed_needs_total })),
      el("table", { class: "changes whatif" },
        el("thead", {}, el("tr", {}, ["kpi", "baseline", "variant", "difference", "needs"].map((c) => el("th", {}, label("whatif", c))))),
        el("tbody", {}, rows)),
      el("p", { class: "limits" }, label("whatif", "limits")),
      el("p", {}, el("a", { id: "whatif-report", href: reportUrl, download: "whatif.html" }, label("whatif", "report"))));
  } catch (err) {
    box.textContent = t("common.error", { why: err.detail?.message || err.message });
    if (err.detail?.errors?.length) { errors = err.detail.errors; gutter(); }
  }
}

async function load() {
  const rules = await api("/api/rules");
  document.getElementById("active-label").textContent = `${t("rules.active")}: ${rules.label}`;
  if (!source().value) source().value = rules.text;
  const rows = rules.history.slice().reverse().map((h) => el("tr", { class: h.active ? "active" : null },
    el("td", {}, h.label ? `${h.active ? "★ " : ""}${h.label}` : `${t("rules.refused")}: ${h.refused}`),
    el("td", {}, h.activated_by || ""), el("td", {}, h.activated_at ? new Date(h.activated_at).toLocaleString() : ""),
    el("td", {}, h.comment || "")));
  if (!rules.history.some((h) => h.active)) {
    rows.push(el("tr", { class: "active" }, el("td", {}, `★ ${rules.label}`), el("td", {}, "–"), el("td", {}, "–"),
      el("td", {}, t("rules.shipped"))));
  }
  document.getElementById("history").replaceChildren(...rows);
  gutter();
}

async function activate(ev) {
  ev.preventDefault();
  const status = document.getElementById("activate-status");
  if (!(await validate())) { status.textContent = t("rules.invalid", { n: errors.length }); return; }
  try {
    const r = await api("/api/rules/activate", { method: "POST",
      body: { text: source().value, comment: document.getElementById("comment").value } });
    status.textContent = t("rules.activated", { label: r.label });
    document.getElementById("comment").value = "";
  } catch (err) {
    status.textContent = t("common.error", { why: err.detail?.message || err.message });
    return;
  }
  try {
    await load(); // the badge and the history; the activation stands even if this fails
  } catch (err) {
    document.getElementById("check").textContent = t("common.error", { why: err.detail?.message || err.message });
  }
}

async function main() {
  header("app.rules");
  await signIn();
  setConnection("live");
  applyI18n();
  await load();
  source().addEventListener("input", () => { gutter(); clearTimeout(timer); timer = setTimeout(validate, 600); });
  document.getElementById("validate").addEventListener("click", validate);
  document.getElementById("dryrun").addEventListener("click", dryRun);
  document.getElementById("whatif").addEventListener("click", whatIf);
  document.getElementById("activate-form").addEventListener("submit", activate);
  onLangChange(() => { load(); if (errors.length) validate(); });
}

main();
