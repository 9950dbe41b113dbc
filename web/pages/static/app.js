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

/** A WebSocket on `path` that reconnects with a fresh token; `onFrame` gets each JSON frame. */
export function liveSocket(path, onFrame) {
  let delay = 500;
  async function open() {
    let token;
    try { token = await accessToken(); } catch { return setTimeout(open, delay *= 2); }
    const scheme = location.protocol === "https:" ? "wss" : "ws";
    const ws = new WebSocket(`${scheme}://${location.host}${path}?token=${encodeURIComponent(token)}`);
    ws.onopen = () => { delay = 500; };
    ws.onmessage = (e) => { try { onFrame(JSON.parse(e.data), ws); } catch (err) { console.error(err); } };
    ws.onclose = (e) => { if (e.code !== 4401 && e.code !== 1000) setTimeout(open, delay = Math.min(delay * 2, 15000)); };
  }
  open();
}

/** Inbox: a ticket created or changed shows up without a reload (the list is refetched). */
function liveInbox() {
  const table = document.querySelector("table.tickets, p.empty");
  if (!table) return;
  let pending = null;
  liveSocket("/ws/notifications/", () => {
    clearTimeout(pending);
    pending = setTimeout(refreshList, 300);
  });
}

async function refreshList() {
  const r = await fetch(location.href, { headers: { Accept: "text/html" } });
  if (!r.ok) return;
  const doc = new DOMParser().parseFromString(await r.text(), "text/html");
  const fresh = doc.querySelector(".inbox");
  const here = document.querySelector(".inbox");
  if (fresh && here) here.replaceWith(fresh);
}

if (document.querySelector(".inbox")) liveInbox();
