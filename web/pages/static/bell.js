// The bell in the header: "Notifications (N)" is counted afresh from the API on every
// `notification.added` frame of /ws/notifications/?bell=1 and on every (re)connection
// (lines added while the socket was away). Without it the count is the
// page's own, as drawn.

// The pages' module under the very URL this page loaded it by (the inbox loads
// app.js?v=…, others import ./app.js): a second URL would run a second copy of it.
const loaded = document.querySelector('script[type="module"][src*="/static/app.js"]');
const { accessToken, liveSocket } = await import(loaded ? loaded.src : "./app.js");

const bell = document.getElementById("bell");
const shown = bell?.querySelector(".bell-count");

function show(n) {
  shown.textContent = String(n);
  bell.classList.toggle("unread", n > 0);
}

async function recount() {
  const r = await fetch("/api/notifications/?unread=true&page_size=1", {
    headers: { Authorization: `Bearer ${await accessToken()}` },
  });
  if (r.ok) show((await r.json()).count);
}

if (bell && shown) {
  show(Number(shown.textContent) || 0);
  // Counted by the API each time rather than added up here: a line told while a recount
  // was on its way would otherwise be counted twice.
  const again = () => { recount().catch(() => {}); };
  liveSocket("/ws/notifications/?bell=1", (frame) => {
    if (frame.type === "notification.added") again();
  }, again, bell);
}
