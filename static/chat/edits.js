// Editing and deleting one's own messages. A change shows at once as "saving…" /
// "deleting…" and is confirmed by the message.updated frame that carries it; one not
// confirmed in CHANGE_TIMEOUT_MS is reported. A change refused with rate_limited goes
// again after retry_after; one made while the socket is down goes after the next resume.

import { retryDelayMs } from "./composer.js";
import { renderMessages } from "./render.js";
import { sendFrame } from "./socket.js";
import { $, CHANGE_TIMEOUT_MS, showError, state } from "./state.js";

export function sendChange(id) {
  const change = state.changes.get(id);
  const frame =
    change.kind === "edit"
      ? { type: "message.edit", room: change.room, id, body: change.body }
      : { type: "message.delete", room: change.room, id };
  clearTimeout(change.timer);
  change.timer = null;
  change.slowed = false;
  if (sendFrame(frame)) {
    change.timer = setTimeout(() => {
      if (state.changes.get(id) !== change) return;
      state.changes.delete(id);
      showError(change.kind === "edit" ? "Your edit was not confirmed; try again." : "The delete was not confirmed; try again.");
      if (change.room === state.current) renderMessages(false);
    }, CHANGE_TIMEOUT_MS);
  }
  // Not sent (the socket is down): it goes after the next resume.done.
}

export function requestChange(message, kind, body) {
  showError("");
  state.changes.set(message.id, { room: message.room, kind, body, timer: null });
  sendChange(message.id);
  renderMessages(false);
}

// An edit or delete refused with rate_limited goes again after retry_after.
export function changeRefused(id, frame) {
  const change = state.changes.get(id);
  clearTimeout(change.timer);
  change.slowed = true;
  change.timer = setTimeout(() => {
    if (state.changes.get(id) === change) sendChange(id);
  }, retryDelayMs(frame));
  if (change.room === state.current) renderMessages(false);
}

export function resolveChange(id) {
  const change = state.changes.get(id);
  if (!change) return;
  clearTimeout(change.timer);
  state.changes.delete(id);
}

export function startEditing(message) {
  state.confirmingDelete = null;
  const input = document.createElement("textarea");
  input.className = "edit-input";
  input.rows = 2;
  input.maxLength = 4000;
  input.value = message.body;
  input.setAttribute("aria-label", "Edit message");
  state.editing = { id: message.id, input };
  renderMessages(false);
  input.focus();
  input.setSelectionRange(input.value.length, input.value.length);
}

// Escape, or "Cancel": the message stays as it was.
export function stopEditing() {
  state.editing = null;
  renderMessages(false);
  $("composer-input").focus();
}

export function saveEdit(message) {
  const body = state.editing.input.value;
  if (!body.trim()) {
    showError("A message needs text; delete it instead.");
    return;
  }
  state.editing = null;
  if (body !== message.body) requestChange(message, "edit", body);
  else renderMessages(false);
  $("composer-input").focus();
}

// Whether a message's state already has the change done (or can no longer take it).
export function shows(message, change) {
  return message.deleted || (change.kind === "edit" && !!message.edited_at && message.body === change.body);
}

// Re-sends unconfirmed edits and deletes after a reconnect, unless what came back
// already shows them done.
export function resendChanges() {
  for (const [id, change] of state.changes) {
    const message = state.messages.get(change.room)?.get(id);
    if (!message || shows(message, change)) {
      resolveChange(id);
      continue;
    }
    sendChange(id);
  }
}
