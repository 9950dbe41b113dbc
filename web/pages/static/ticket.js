// The conversation page's script: the composer keeps its draft across reloads
// (localStorage), takes dropped files, fills in an AI draft or a saved reply in place;
// messages, history and the sidebar follow the ticket live, and who else is on the ticket
// (viewing, replying) shows as it changes. The page works without it (forms post and come
// back; the AI draft button then reloads with the draft).
import { accessToken, liveSocket, onKey } from "./app.js";

// After a refused action (409: the draft is put back) the browser sits on the form's
// POST-only URL: the address becomes the ticket's own, so a reload does not post again and
// the live refresh below fetches a page that answers GET.
const canonical = document.querySelector(".conversation")?.dataset.url ?? location.pathname;
if (location.pathname !== canonical) history.replaceState(null, "", canonical);

const form = document.querySelector("form.composer");
if (form) {
  composer(form);
  savedReplies(form);
  live(form.dataset.ticket, presence(form));
  onKey(ticketKeys);
  undoWindows();
}

/** r reply, n note (the composer, focused), a assign to me, e resolve (the sidebar's forms,
 * posted as if pressed). */
function ticketKeys(key) {
  if (key === "r" || key === "n") {
    document.getElementById(key === "r" ? "mode-reply" : "mode-note").checked = true;
    document.getElementById("composer-body").focus();
    return true;
  }
  const [formId, value] = { a: ["assignee-form", "me"], e: ["status-form", "RESOLVED"] }[key] ?? [];
  const sidebarForm = formId && document.getElementById(formId);
  if (!sidebarForm) return false;
  const choice = sidebarForm.querySelector("select");
  const option = value === "me" ? choice.querySelector("option[data-me]") : choice.querySelector(`option[value="${value}"]`);
  if (!option) return false;
  choice.value = option.value;
  sidebarForm.requestSubmit();
  return true;
}

/** Each event of this ticket (and each reconnection) refetches the page and swaps in its
 * messages, history and sidebar; the composer, and each sidebar form being edited, are
 * left alone. `data-live` on <body> says the page is following (tests wait for it). */
function live(ticket, team) {
  const follow = coalesced(refresh);
  liveSocket(`/ws/tickets/${ticket}/`, (frame) => {
    if (frame.type === "presence") team.show(frame.data.people);
    else if (frame.type !== "pong" && frame.type !== "error") follow();
  }, async (ws) => {
    team.connected(ws);
    await follow();
    document.body.dataset.live = "following";
  });
}

/** `run` at once when asked, and once more after it for everything asked meanwhile: the
 * first event of a burst (a reply and its status change) shows without waiting, and the
 * burst costs at most two fetches. */
function coalesced(run) {
  let busy = null;
  let again = false;
  return async function go() {
    if (busy) { again = true; return busy; }
    busy = (async () => {
      try { do { again = false; await run(); } while (again); } finally { busy = null; }
    })();
    return busy;
  };
}

/** Presence: this page tells the ticket's socket "viewing" when it opens, "replying" while
 * the composer holds text (settled for a moment, not every key), "left" when the page goes;
 * the others on the ticket (not me) are shown in the page's live region. */
function presence(form) {
  const region = document.getElementById("presence");
  const me = Number(region?.dataset.me);
  const body = form.querySelector("textarea[name=body]");
  let socket = null;
  let sent = null;
  let settle = null;
  const wanted = () => (body.value.trim() ? "replying" : "viewing");
  const say = (state) => {
    if (!socket || socket.readyState !== WebSocket.OPEN || state === sent) return;
    socket.send(JSON.stringify({ type: "presence", state }));
    sent = state;
  };
  body.addEventListener("input", () => { clearTimeout(settle); settle = setTimeout(() => say(wanted()), 400); });
  addEventListener("pagehide", () => say("left"));
  return {
    connected(ws) { socket = ws; sent = null; say(wanted()); },
    show(people) {
      if (!region) return;
      const others = (people ?? []).filter((p) => p.user_id !== me && p.state !== "left");
      region.textContent = others.map((p) => `${p.name} is ${p.state}`).join(". ");
      region.classList.toggle("someone", others.length > 0);
    },
  };
}

/** "Insert saved reply": the choice, filled in for this ticket (the render API), goes in at
 * the cursor; the Insert button (the page's way without script) does the same in place. */
function savedReplies(form) {
  const choice = form.querySelector("select[name=saved_reply]");
  const button = form.querySelector("button[data-saved-reply]");
  if (!choice) return;
  const body = form.querySelector("textarea[name=body]");
  const status = form.querySelector(".composer-status");
  async function insert() {
    if (!choice.value) { status.textContent = "Pick a saved reply to insert."; return; }
    try {
      const token = await accessToken();
      const r = await fetch(`/api/saved-replies/${choice.value}/render/?ticket=${form.dataset.ticket}`, {
        headers: { Authorization: `Bearer ${token}` },
      });
      const data = await r.json();
      if (!r.ok) throw new Error(data.message || `error ${r.status}`);
      const at = body.selectionStart ?? body.value.length;
      const end = body.selectionEnd ?? at;
      body.setRangeText(data.body, at, end, "end");
      body.dispatchEvent(new Event("input", { bubbles: true }));  // kept as draft, "replying"
      status.textContent = `Inserted "${data.title}".`;
      choice.value = "";
      body.focus();
    } catch (err) {
      status.textContent = `Not inserted: ${err.message}`;
    }
  }
  choice.addEventListener("change", insert);
  button?.addEventListener("click", (e) => { e.preventDefault(); insert(); });
}

/** "Undo merge" goes when its minute is over (the server refuses it after that anyway). */
function undoWindows() {
  for (const undo of document.querySelectorAll("form.undo-merge[data-until]")) {
    const left = Date.parse(undo.dataset.until) - Date.now();
    setTimeout(() => undo.remove(), Math.max(left, 0));
  }
}

async function refresh() {
  const r = await fetch(canonical, { headers: { Accept: "text/html" } });
  if (!r.ok) return;
  const fresh = new DOMParser().parseFromString(await r.text(), "text/html");
  // New messages are added; those on screen stay as they are (an opened fold, a frame
  // whose remote images were asked for).
  const list = document.querySelector(".messages");
  for (const article of fresh.querySelectorAll(".messages > li > article")) {
    if (!document.getElementById(article.id)) list?.append(article.parentElement);
  }
  const history = document.querySelector(".history");
  const newHistory = fresh.querySelector(".history");
  if (history && newHistory) history.replaceWith(newHistory);
  const sidebar = document.querySelector(".sidebar");
  const newSidebar = fresh.querySelector(".sidebar");
  if (sidebar && newSidebar) followParts(sidebar, newSidebar);
}

/** The sidebar part by part (`data-part`: each form, the customer): a part the person is
 * in (focused) or has changed without saving stays as it is; every other part is the
 * fresh page's, and parts that came or went (the merge form) come and go. */
function followParts(here, there) {
  const order = [...there.children].map((p) => p.dataset.part);
  const fresh = new Map([...there.children].map((p) => [p.dataset.part, p]));
  const kept = new Map();
  for (const part of [...here.children]) {
    const key = part.dataset.part;
    const next = fresh.get(key);
    if (part.contains(document.activeElement) || edited(part)) kept.set(key, part);
    else if (next) { part.replaceWith(next); kept.set(key, next); }
    else part.remove();
  }
  let before = null;
  for (const key of order) {
    let part = kept.get(key);
    if (!part) {
      part = fresh.get(key);
      if (before) before.after(part); else here.prepend(part);
    }
    before = part;
  }
}

/** Whether a field in `root` holds a change the person has not saved yet. */
function edited(root) {
  for (const field of root.querySelectorAll("input, select, textarea")) {
    if (field.type === "hidden") continue;
    if (field.tagName === "SELECT") {
      // With no option marked `selected` ("Nobody" assigned) the browser shows the first.
      const initial = [...field.options].find((o) => o.defaultSelected) ?? field.options[0];
      if (field.value !== (initial?.value ?? "")) return true;
    } else if (field.value !== field.defaultValue) return true;
  }
  return false;
}

function composer(form) {
  const ticket = form.dataset.ticket;
  const key = `postdesk:draft:${ticket}`;
  const body = form.querySelector("textarea[name=body]");
  const files = form.querySelector("input[type=file]");
  const status = form.querySelector(".composer-status");

  // A draft survives a reload; one the server put back (after an error) wins.
  const saved = localStorage.getItem(key);
  if (saved && !body.value) body.value = saved;
  else if (body.value) localStorage.setItem(key, body.value); // kept for a reload too
  body.addEventListener("input", () => localStorage.setItem(key, body.value));
  form.addEventListener("submit", (e) => {
    if (!e.submitter?.hasAttribute("data-ai-draft")) localStorage.removeItem(key);
  });

  // Files dropped anywhere on the composer join those picked.
  form.addEventListener("dragover", (e) => { e.preventDefault(); form.classList.add("dropping"); });
  form.addEventListener("dragleave", () => form.classList.remove("dropping"));
  form.addEventListener("drop", (e) => {
    e.preventDefault();
    form.classList.remove("dropping");
    const all = new DataTransfer();
    for (const f of files.files) all.items.add(f);
    for (const f of e.dataTransfer.files) all.items.add(f);
    files.files = all.files;
    status.textContent = `${all.files.length} file(s) attached.`;
  });

  // The AI draft lands in the box; nothing is sent.
  const ai = form.querySelector("button[data-ai-draft]");
  ai?.addEventListener("click", async (e) => {
    e.preventDefault();
    ai.disabled = true;
    status.textContent = "Asking for a draft…";
    try {
      const token = await accessToken();
      const r = await fetch(`/api/tickets/${ticket}/ai-draft/`, {
        method: "POST", headers: { Authorization: `Bearer ${token}` },
      });
      const data = await r.json();
      if (!r.ok) throw new Error(data.message || `error ${r.status}`);
      body.value = data.draft;
      localStorage.setItem(key, body.value);
      form.querySelector("#mode-reply").checked = true;
      status.textContent = "Draft ready: read it and edit it before sending.";
      body.focus();
    } catch (err) {
      status.textContent = `No draft: ${err.message}`;
    } finally {
      ai.disabled = false;
    }
  });
}
