// postdesk's pages script: live updates over the API's WebSockets, keyboard shortcuts and
// in-place actions. No framework, no build step: a plain ES module served by postdesk.
// Pages work without it; it only makes them live.

const csrf = document.querySelector('meta[name="csrf-token"]')?.content ?? "";

/** An access token of this browser's session, for sockets and JSON calls (POST /app/token). */
export async function accessToken() {
  const r = await fetch("/app/token", { method: "POST", headers: { "X-CSRF-Token": csrf } });
  if (!r.ok) throw new Error(`token: ${r.status}`);
  return (await r.json()).access;
}

/** A WebSocket on `path` that reconnects with a fresh token; `onFrame` gets each JSON frame,
 * `onOpen` (optional) each (re)connection, to catch up on what happened while away.
 * `marker`: the element whose data-live tells whether this socket is live (the page's
 * <html> by default; a second socket on the page, like the bell's, marks its own). */
export function liveSocket(path, onFrame, onOpen, marker = document.documentElement) {
  let delay = 500;
  async function open() {
    let token;
    try { token = await accessToken(); } catch { return setTimeout(open, delay *= 2); }
    const scheme = location.protocol === "https:" ? "wss" : "ws";
    const sep = path.includes("?") ? "&" : "?";
    const ws = new WebSocket(`${scheme}://${location.host}${path}${sep}token=${encodeURIComponent(token)}`);
    // data-live on <html> tells people (and tests) whether the page is live right now.
    ws.onopen = () => {
      delay = 500;
      marker.dataset.live = "connected";
      onOpen?.(ws);
    };
    ws.onmessage = (e) => { try { onFrame(JSON.parse(e.data), ws); } catch (err) { console.error(err); } };
    ws.onclose = (e) => {
      marker.dataset.live = "disconnected";
      if (e.code !== 4401 && e.code !== 1000) setTimeout(open, delay = Math.min(delay * 2, 15000));
    };
  }
  open();
}

/** Inbox: a ticket created or changed shows up without a reload (the list is refetched). */
function liveInbox() {
  const table = document.querySelector("table.tickets, p.empty");
  if (!table) return;
  let pending = null;
  liveSocket("/ws/inbox/", () => {
    clearTimeout(pending);
    pending = setTimeout(refreshList, 300);
  });
}

async function refreshList() {
  const r = await fetch(location.href, { headers: { Accept: "text/html" } });
  if (!r.ok && r.status !== 400) return; // 400: the inbox still, its search refused
  const doc = new DOMParser().parseFromString(await r.text(), "text/html");
  const fresh = doc.querySelector(".inbox");
  const here = document.querySelector(".inbox");
  if (fresh && here) { here.replaceWith(fresh); reselect(); autoSort(); }
}

/** Keys that work on every page: `?` the list of shortcuts, `/` search. Each page adds its
 * own through `onKey`. Keys typed into a field are the field's. */
const keyHandlers = [];
export function onKey(handler) { keyHandlers.push(handler); }

document.addEventListener("keydown", (e) => {
  if (e.ctrlKey || e.metaKey || e.altKey) return;
  const t = e.target;
  if (t instanceof HTMLElement && (t.isContentEditable || ["INPUT", "TEXTAREA", "SELECT"].includes(t.tagName))) return;
  for (const handler of keyHandlers) if (handler(e.key, e) === true) { e.preventDefault(); return; }
  if (e.key === "?") { document.getElementById("keys")?.showModal(); e.preventDefault(); }
  else if (e.key === "/") { const q = document.getElementById("q"); if (q) { q.focus(); e.preventDefault(); } }
});

/** Inbox rows: j/k move the selection, Enter opens it; kept across live refreshes. */
let selected = null;
function rows() { return [...document.querySelectorAll("table.tickets tbody tr")]; }
function select(row) {
  rows().forEach((r) => { r.classList.remove("selected"); r.removeAttribute("aria-selected"); });
  if (!row) return;
  row.classList.add("selected");
  row.setAttribute("aria-selected", "true");
  row.scrollIntoView({ block: "nearest" });
  selected = row.dataset.ticket;
}
function reselect() { if (selected) select(rows().find((r) => r.dataset.ticket === selected) ?? null); }

function inboxKeys(key) {
  const all = rows();
  if (!all.length) return false;
  const at = all.findIndex((r) => r.dataset.ticket === selected);
  if (key === "j") { select(all[Math.min(at + 1, all.length - 1)]); return true; }
  if (key === "k") { select(all[Math.max(at - 1, 0)]); return true; }
  if (key === "Enter" && at >= 0) { all[at].querySelector("a")?.click(); return true; }
  return false;
}

function autoSort() {
  document.getElementById("sort")?.addEventListener("change", (e) => e.target.form.submit());
}

if (document.querySelector(".inbox")) {
  liveInbox();
  onKey(inboxKeys);
  autoSort();
}
