// The portal's request page: an answer from the team appears without a reload. The
// conversation is fetched again as HTML when the ticket's socket says something changed.
import { liveSocket } from "./app.js";

const article = document.querySelector("article.conversation");
if (article) {
  liveSocket(`/ws/tickets/${article.dataset.ticket}/`, async () => {
    const r = await fetch(location.pathname, { headers: { Accept: "text/html" } });
    if (!r.ok) return;
    const doc = new DOMParser().parseFromString(await r.text(), "text/html");
    for (const part of ["ol.messages", "header.list-head", "form.status-actions"]) {
      const fresh = doc.querySelector(part);
      const here = document.querySelector(part);
      if (fresh && here) here.replaceWith(fresh);
    }
  });
}
