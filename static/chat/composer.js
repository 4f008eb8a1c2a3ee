// Writing: sending messages (pending bubbles until acknowledged), drafts kept per room,
// and telling the room that one is typing.
//
// Rate limits (docs/protocol.md, "Retrying after rate_limited"): a frame refused with
// `rate_limited` goes again after `retry_after` seconds. A refused send stays pending and
// keeps its client_id; while a room has refused sends, its sends go one at a time, each
// once the one before is acknowledged, so that messages keep the order they were written in.
//
// Typing (docs/protocol.md, "Presence, typing and delivery status"): `typing true` when the
// user starts typing and again at most every 3 seconds while they go on; `typing false`
// when they stop for 3 seconds, clear the input, leave it, switch rooms or send.
//
// Attachments (attachments.js) are uploaded before the send; a pending send keeps the
// ids it was given, so that every retry of it (same client_id) names the same files.

import { hasReady, renderUploads, setUpAttachments, takeReady, uploading } from "./attachments.js";
import { renderMessages } from "./render.js";
import { sendFrame } from "./socket.js";
import { $, me, state } from "./state.js";

export const SLOWED = "sending slowed down, retrying…";
const TYPING_RENEW_MS = 3000;
const TYPING_IDLE_MS = 3000;

const typing = { room: null, sentAt: 0, idleTimer: null };

export function retryDelayMs(frame) {
  const seconds = Number(frame.retry_after);
  return Math.ceil((Number.isFinite(seconds) && seconds > 0 ? seconds : 1) * 1000);
}

export function clearPendingOf(message) {
  if (message.client_id && message.sender === me.username && state.pending.delete(message.client_id)) {
    sendSettled(message.room, message.client_id);
  }
}

export function setPendingStatus(clientId, status) {
  const pending = state.pending.get(clientId);
  if (!pending) return;
  pending.status = status;
  if (pending.room === state.current) renderMessages(false);
}

// Kafka has it: the bubble shows "sent" (✓) until its message.new replaces it.
export function markAcked(clientId) {
  const pending = state.pending.get(clientId);
  if (!pending) return;
  pending.acked = true;
  pending.status = "";
  if (pending.room === state.current) renderMessages(false);
}

export function send(body, attachments = []) {
  const clientId = crypto.randomUUID();
  const pending = { room: state.current, body, attachments, status: "sending…", at: new Date().toISOString() };
  state.pending.set(clientId, pending);
  if (state.throttled.has(pending.room)) hold(pending); // it waits its turn, behind the refused ones
  else sendPending(clientId, pending);
  renderMessages(true);
}

export function sendPending(clientId, pending) {
  const frame = { type: "message.send", room: pending.room, client_id: clientId, body: pending.body };
  if (pending.attachments && pending.attachments.length) frame.attachments = pending.attachments.map((file) => file.id);
  return sendFrame(frame);
}

export function hold(pending) {
  pending.held = true;
  pending.status = SLOWED;
}

// A send refused with rate_limited: it stays pending, and it and the room's later sends
// go again, in order, after retry_after.
export function sendRefused(clientId, frame) {
  const pending = state.pending.get(clientId);
  hold(pending);
  const throttle = state.throttled.get(pending.room) || { timer: null, inFlight: null };
  state.throttled.set(pending.room, throttle);
  clearTimeout(throttle.timer);
  throttle.inFlight = null;
  throttle.timer = setTimeout(() => releaseHeld(pending.room), retryDelayMs(frame));
  if (pending.room === state.current) renderMessages(false);
}

// Sends the room's first held send; the next goes when this one is acknowledged.
export function releaseHeld(roomId) {
  const throttle = state.throttled.get(roomId);
  if (!throttle) return;
  clearTimeout(throttle.timer);
  throttle.timer = null;
  const next = [...state.pending].find(([, pending]) => pending.room === roomId && pending.held && !pending.failed);
  if (!next) {
    state.throttled.delete(roomId);
    return;
  }
  const [clientId, pending] = next;
  pending.held = false; // keeps its "slowed down" status until acknowledged
  throttle.inFlight = clientId;
  sendPending(clientId, pending); // with the socket down, it goes after the next resume.done
}

// A send got its answer (acknowledged, shown, or refused for good): the next held one goes.
export function sendSettled(roomId, clientId) {
  const throttle = state.throttled.get(roomId);
  if (throttle && throttle.inFlight === clientId) releaseHeld(roomId);
}

// After a socket's opening resume: sends that were never acknowledged go again (the same
// client_id makes a retry harmless); in a room whose sends were refused, in turn.
export function resendPending() {
  for (const [clientId, pending] of state.pending) {
    if (pending.failed) continue;
    if (state.throttled.has(pending.room)) hold(pending);
    else sendPending(clientId, pending);
  }
  for (const [roomId, throttle] of state.throttled) if (!throttle.timer) releaseHeld(roomId);
}

// --- Typing ----------------------------------------------------------------------------
export function stopTyping() {
  clearTimeout(typing.idleTimer);
  typing.idleTimer = null;
  if (typing.room) sendFrame({ type: "typing", room: typing.room, state: false });
  typing.room = null;
  typing.sentAt = 0;
}

function typed() {
  const input = $("composer-input");
  if (!state.current || !input.value.trim()) {
    stopTyping();
    return;
  }
  if (typing.room && typing.room !== state.current) stopTyping();
  const now = Date.now();
  if (typing.room !== state.current || now - typing.sentAt >= TYPING_RENEW_MS) {
    if (sendFrame({ type: "typing", room: state.current, state: true })) {
      typing.room = state.current;
      typing.sentAt = now;
    }
  }
  clearTimeout(typing.idleTimer);
  typing.idleTimer = setTimeout(stopTyping, TYPING_IDLE_MS);
}

// --- Drafts ----------------------------------------------------------------------------
// What is typed in a room stays with that room when another is opened.
export function saveDraft() {
  if (!state.current) return;
  const text = $("composer-input").value;
  if (text) state.drafts.set(state.current, text);
  else state.drafts.delete(state.current);
}

export function restoreDraft() {
  $("composer-input").value = (state.current && state.drafts.get(state.current)) || "";
  renderUploads(); // the room's files waiting to be sent, like its draft
}

// Send waits for the room's uploads: a message must not go without the files shown with it.
function updateSendButton() {
  const busy = !!state.current && uploading(state.current);
  const button = $("send-button");
  button.disabled = busy;
  button.textContent = busy ? "Uploading…" : "Send";
}

export function setUpComposer() {
  const input = $("composer-input");
  setUpAttachments(updateSendButton);
  $("composer").addEventListener("submit", (event) => {
    event.preventDefault();
    const body = input.value;
    if (!state.current || uploading(state.current)) return;
    // A message may be files alone; then its text is empty.
    const withFiles = hasReady(state.current);
    if (!body.trim() && !withFiles) return;
    input.value = "";
    state.drafts.delete(state.current);
    stopTyping();
    send(withFiles && !body.trim() ? "" : body, withFiles ? takeReady(state.current) : []);
  });
  input.addEventListener("keydown", (event) => {
    // Enter sends; Shift+Enter makes a new line (the textarea's own behaviour).
    if (event.key === "Enter" && !event.shiftKey && !event.isComposing) {
      event.preventDefault();
      $("composer").requestSubmit();
    }
  });
  input.addEventListener("input", () => {
    typed();
    if (state.current) {
      if (input.value) state.drafts.set(state.current, input.value);
      else state.drafts.delete(state.current);
    }
  });
  input.addEventListener("blur", stopTyping);
}
