// Token login, REST calls and a websocket that reconnects and resumes.
import { applyI18n, label, languageSwitch, onLangChange, t } from "./i18n.js";

const KEY = "tike.token";

export function token() {
  // A token in the URL fragment (#token=...) signs in once and is removed from the address.
  const m = location.hash.match(/token=([^&]+)/);
  if (m) {
    localStorage.setItem(KEY, decodeURIComponent(m[1]));
    history.replaceState(null, "", location.pathname + location.search);
  }
  return localStorage.getItem(KEY) || "";
}

export function logout() {
  localStorage.removeItem(KEY);
  location.reload();
}

export class ApiError extends Error {
  constructor(status, detail) {
    super(typeof detail === "string" ? detail : JSON.stringify(detail));
    this.status = status;
    this.detail = detail;
  }
}

export async function api(path, { method = "GET", body, headers = {} } = {}) {
  const resp = await fetch(path, {
    method,
    headers: { Authorization: `Bearer ${token()}`,
               ...(body !== undefined ? { "Content-Type": "application/json" } : {}), ...headers },
    body: body !== undefined ? JSON.stringify(body) : undefined,
  });
  const data = resp.headers.get("content-type")?.includes("json") ? await resp.json() : null;
  if (!resp.ok) throw new ApiError(resp.status, data?.detail ?? resp.statusText);
  return data;
}

/** Header shared by every page: title, navigation, connection state, language, sign-out. */
export function header(titleKey) {
  const el = document.querySelector("header.top");
  el.innerHTML = `
    <h1><span class="brand">Tike</span> <span data-i18n="${titleKey}"></span></h1>
    <nav aria-label="Tike">
      <a href="/" data-i18n="nav.board"></a>
      <a href="/team.html" data-i18n="nav.team"></a>
      <a href="/rules.html" data-i18n="nav.rules"></a>
    </nav>
    <span class="conn" role="status" data-state="connecting" id="conn"></span>
    <label class="lang"><span data-i18n="lang.label"></span> <select id="lang"></select></label>
    <button type="button" id="logout" data-i18n="login.logout"></button>`;
  languageSwitch(el.querySelector("#lang"));
  el.querySelector("#logout").addEventListener("click", logout);
  applyI18n();
}

export function setConnection(state, why = "") {
  const el = document.getElementById("conn");
  if (!el) return;
  el.dataset.state = state;
  el.textContent = state === "closed" ? t("conn.closed", { why }) : t(`conn.${state}`);
}

/** Show the sign-in form until a token is accepted by GET /api/me; resolve with "me". */
function loginDialog() {
  let dialog = document.getElementById("login");
  if (!dialog) {
    dialog = el("div", { id: "login", class: "login", hidden: true },
      el("form", {},
        el("h2", { "data-i18n": "login.title" }),
        el("label", { for: "token-input", "data-i18n": "login.token" }),
        el("input", { id: "token-input", type: "password", autocomplete: "off", required: true }),
        el("button", { type: "submit", "data-i18n": "login.submit" }),
        el("p", { class: "error", role: "alert" }),
        el("section", { class: "login-help", "aria-labelledby": "login-help-h" },
          el("h3", { id: "login-help-h", "data-i18n": "login.help_title" }),
          el("p", { "data-i18n": "login.help_dev" }),
          el("p", { "data-i18n": "login.help_prod" }),
          el("p", { class: "roles" }))));
    document.body.prepend(dialog);
    const roles = () => {
      dialog.querySelector(".roles").textContent = t("login.help_roles", {
        roles: ["control_room", "operator", "admin", "team"].map((r) => label("role", r)).join(", ") });
    };
    roles();
    onLangChange(roles);
  }
  return dialog;
}

export async function signIn() {
  const dialog = loginDialog();
  for (;;) {
    if (token()) {
      try {
        return await api("/api/me");
      } catch (err) {
        dialog.querySelector(".error").textContent = t("login.invalid", { why: err.message });
        localStorage.removeItem(KEY);
      }
    }
    dialog.hidden = false;
    applyI18n(dialog);
    const input = dialog.querySelector("input");
    input.focus();
    await new Promise((resolve) => {
      dialog.querySelector("form").addEventListener("submit", (ev) => {
        ev.preventDefault();
        localStorage.setItem(KEY, input.value.trim());
        resolve();
      }, { once: true });
    });
    dialog.hidden = true;
  }
}

/**
 * A websocket that reconnects with backoff and resumes from the last frame it applied
 * (?epoch=&seq=); onFrame gets every frame, onState "live" | "connecting" | "offline" |
 * "closed" (with a reason, for auth failures, which are not retried).
 */
export function liveSocket(path, { onFrame, onState }) {
  let epoch = null, seq = null, delay = 500, ws = null, stopped = false;
  const open = () => {
    onState("connecting");
    const url = new URL(path, location.href);
    url.protocol = location.protocol === "https:" ? "wss:" : "ws:";
    url.searchParams.set("token", token());
    if (epoch !== null && seq !== null) {
      url.searchParams.set("epoch", epoch);
      url.searchParams.set("seq", seq);
    }
    ws = new WebSocket(url);
    ws.onopen = () => { delay = 500; onState("live"); };
    ws.onmessage = (ev) => {
      const frame = JSON.parse(ev.data);
      if (frame.epoch !== undefined) { epoch = frame.epoch; seq = frame.seq; }
      onFrame(frame, ws);
    };
    ws.onclose = (ev) => {
      if (stopped) return;
      if (ev.code === 4401 || ev.code === 4403 || ev.code === 4400) {
        onState("closed", ev.reason || String(ev.code));
        return;
      }
      onState("offline");
      setTimeout(open, delay);
      delay = Math.min(delay * 2, 10000);
    };
  };
  open();
  return {
    send: (msg) => ws && ws.readyState === WebSocket.OPEN && ws.send(JSON.stringify(msg)),
    close: () => { stopped = true; ws?.close(); },
  };
}

export function el(tag, attrs = {}, ...children) {
  const node = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) {
    if (v === undefined || v === null || v === false) continue;
    if (k === "class") node.className = v;
    else if (k.startsWith("on")) node.addEventListener(k.slice(2), v);
    else if (k === "dataset") Object.assign(node.dataset, v);
    else node.setAttribute(k, v === true ? "" : v);
  }
  for (const c of children.flat(Infinity)) { // children may nest arrays at any depth
    if (c !== undefined && c !== null && c !== false) node.append(c instanceof Node ? c : String(c));
  }
  return node;
}
