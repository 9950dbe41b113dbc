// The conversation page's script: the composer keeps its draft across reloads
// (localStorage), takes dropped files, and fills in an AI draft in place; messages, history
// and the sidebar follow the ticket live. The page works without it (forms post and come
// back; the AI draft button then reloads with the draft).
import { accessToken, liveSocket, onKey } from "./app.js";

const form = document.querySelector("form.composer");
if (form) {
  composer(form);
  live(form.dataset.ticket);
  onKey(ticketKeys);
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
 * messages, history and sidebar; the composer, and a sidebar field being edited, are left
 * alone. `data-live` on <body> says the page is following (tests wait for it). */
function live(ticket) {
  let pending = null;
  const later = () => { clearTimeout(pending); pending = setTimeout(refresh, 150); };
  liveSocket(`/ws/tickets/${ticket}/`, (frame) => {
    if (frame.type !== "pong" && frame.type !== "error") later();
  }, async () => {
    await refresh();
    document.body.dataset.live = "following";
  });
}

async function refresh() {
  const r = await fetch(location.pathname, { headers: { Accept: "text/html" } });
  if (!r.ok) return;
  const fresh = new DOMParser().parseFromString(await r.text(), "text/html");
  // New messages are added; those on screen stay as they are (an opened fold, a frame
  // whose remote images were asked for).
  const list = document.querySelector(".messages");
  for (const article of fresh.querySelectorAll(".messages > li > article")) {
    if (!document.getElementById(article.id)) list?.append(article.parentElement);
  }
  for (const part of [".history", ".sidebar"]) {
    const here = document.querySelector(part);
    const there = fresh.querySelector(part);
    if (!here || !there || here.contains(document.activeElement) || edited(here)) continue;
    here.replaceWith(there);
  }
}

/** Whether a field in `root` holds a change the person has not saved yet. */
function edited(root) {
  for (const field of root.querySelectorAll("input, select, textarea")) {
    if (field.type === "hidden") continue;
    if (field.tagName === "SELECT") {
      if ([...field.options].some((o) => o.selected !== o.defaultSelected)) return true;
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
