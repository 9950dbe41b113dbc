// The chat page's script: the form sends over /ws/chat/<room>/ (message_send), typing is
// told to the room (typing, at most every 2.5 s), and new messages and "… is typing" show
// live. New messages are drawn by the server (the page is fetched again and its message
// list and room list swapped in): one renderer for `#123` links and `@name` marks, and the
// fetch marks the room read as opening it does. Without this script the form posts.
import { liveSocket } from "./app.js";

const log = document.querySelector("ol.chat-log");
const form = document.querySelector("form.chat-send");
if (log && form) chatRoom(log, form);

function chatRoom(log, form) {
  const people = JSON.parse(log.dataset.people || "{}");
  const me = log.dataset.me;
  const typingLine = document.querySelector("p.typing");
  const errorLine = form.querySelector(".chat-error");
  const field = form.querySelector("textarea");
  const typists = new Map(); // user id -> timer that forgets them
  let socket = null;
  let lastTyping = 0;

  function showTyping() {
    const names = [...typists.keys()].map((id) => people[id] || "Someone");
    typingLine.textContent = names.length ? `${names.join(", ")} ${names.length > 1 ? "are" : "is"} typing…` : "";
  }
  function typing(id, on) {
    clearTimeout(typists.get(id));
    typists.delete(id);
    if (on) typists.set(id, setTimeout(() => { typists.delete(id); showTyping(); }, 6000));
    showTyping();
  }

  let pending = null;
  async function refresh() {
    const r = await fetch(location.href, { headers: { Accept: "text/html" } });
    if (!r.ok) return;
    const doc = new DOMParser().parseFromString(await r.text(), "text/html");
    for (const selector of ["ol.chat-log", "nav.chat-rooms"]) {
      const fresh = doc.querySelector(selector);
      const here = document.querySelector(selector);
      if (fresh && here) here.replaceChildren(...fresh.childNodes);
    }
    const end = document.querySelector("ol.chat-log li:last-child");
    end?.scrollIntoView({ block: "nearest" });
  }

  liveSocket(`/ws/chat/${log.dataset.room}/`, (frame, ws) => {
    const data = frame.data || {};
    if (frame.type === "message_new") {
      const author = String(data.message?.author_id ?? "");
      if (author !== me) typing(author, false);
      clearTimeout(pending);
      pending = setTimeout(refresh, 50);
    } else if (frame.type === "user_typing" && String(data.user_id) !== me) {
      typing(String(data.user_id), data.is_typing !== false);
    } else if (frame.type === "error" && ws === socket) {
      errorLine.textContent = frame.message || "The message was not sent.";
    }
  }, (ws) => { socket = ws; refresh(); });

  field.addEventListener("input", () => {
    const now = Date.now();
    if (socket?.readyState !== WebSocket.OPEN || now - lastTyping < 2500) return;
    lastTyping = now;
    socket.send(JSON.stringify({ type: "typing" }));
  });
  field.addEventListener("keydown", (e) => {
    if (e.key === "Enter" && !e.shiftKey) { e.preventDefault(); form.requestSubmit(); }
  });
  form.addEventListener("submit", (e) => {
    const body = field.value.trim();
    if (socket?.readyState !== WebSocket.OPEN || !body) return; // the form posts instead
    e.preventDefault();
    errorLine.textContent = "";
    socket.send(JSON.stringify({ type: "message_send", body }));
    socket.send(JSON.stringify({ type: "typing", is_typing: false }));
    lastTyping = 0;
    field.value = "";
  });
}
