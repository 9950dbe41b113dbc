// The conversation page's script: the composer keeps its draft across reloads
// (localStorage), takes dropped files, and fills in an AI draft in place. The page works
// without it (forms post and come back; the AI draft button then reloads with the draft).
import { accessToken } from "./app.js";

const form = document.querySelector("form.composer");
if (form) composer(form);

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
