// EchoStream's browser client: one WebSocket for all rooms, history over HTTP, as ES
// modules with no build step (state.js lists them). Message text is only ever put in the
// page as text, never as HTML.

import { humanError } from "./api.js";
import { setUpComposer } from "./composer.js";
import { loadOlder } from "./history.js";
import { setUpPeople } from "./people.js";
import { markRead } from "./presence.js";
import { onMessagesScrolled, scrollToNewest } from "./render.js";
import { closeRoom, followAddress, loadRooms, renderHeader, renderRooms } from "./rooms.js";
import { connect, drop, probe } from "./socket.js";
import { $, PING_EVERY_MS, showError, state } from "./state.js";

setUpComposer();
setUpPeople();

$("messages").addEventListener("scroll", () => onMessagesScrolled(loadOlder));
$("new-messages").addEventListener("click", () => {
  scrollToNewest();
  $("composer-input").focus();
});
$("back-button").addEventListener("click", () => closeRoom());
window.addEventListener("popstate", followAddress);

// What makes the open room read: the page visible and the window focused.
document.addEventListener("visibilitychange", () => {
  if (document.visibilityState === "visible") {
    markRead();
    probe(); // after a sleep the socket may be dead without knowing it
  }
});
window.addEventListener("focus", markRead);
window.addEventListener("offline", () => drop());
window.addEventListener("online", () => {
  state.backoff = 500;
  if (state.socket) probe();
  else connect();
});
setInterval(probe, PING_EVERY_MS);
// "last seen 5 minutes ago" and the list's times stay true.
setInterval(() => {
  renderRooms();
  renderHeader();
}, 60000);

loadRooms()
  .then(followAddress)
  .catch((error) => showError(humanError(error)))
  .finally(connect);
