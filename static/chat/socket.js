// The one WebSocket for all rooms: connecting, heartbeats, reconnecting, and catching up.
//
// Catching up (docs/protocol.md, "Gaps and resuming"): the client keeps, per loaded
// room, a cursor: the seq up to which it has every event. Each room frame names the
// seq of the event before it (`prev_seq`): at or below the cursor, the frame is next
// in line and moves the cursor; above it, something was lost on the way, and the
// client resumes the room from its cursor (so does `room.head` above the cursor); a
// frame at or below the cursor is a copy already had. Every socket open resumes all
// loaded rooms in one `resume` frame; the server replays what changed after each
// cursor and ends with `resume.done`. Messages are kept by id, so copies show once.
//
// The socket is opened as `/ws/?resume=1` ("Live frames from the first moment"): the
// server holds live room frames until the opening resume is done, so that none overtakes
// the replay. The page resumes first thing on every open, even with no room loaded.

import { humanError } from "./api.js";
import { markAcked, resendPending, retryDelayMs, sendRefused, sendSettled, setPendingStatus } from "./composer.js";
import { changeRefused, resendChanges, resolveChange } from "./edits.js";
import { loadRoom, receive } from "./history.js";
import { flushReceipts, markRead, onPresence, onReceipt, onTyping, receiptRefused, sendDeliveredOnLoad } from "./presence.js";
import { renderMessages } from "./render.js";
import { loadRooms, roomJoined, roomLeft, roomUpdated } from "./rooms.js";
import * as config from "./state.js";
import { $, onScreen, showError, state } from "./state.js";

export function setConnection(text, kind) {
  const element = $("connection-state");
  element.textContent = text;
  element.dataset.state = kind;
  // The banner over the conversation: what is going on, and that nothing written is lost.
  const banner = $("connection-banner");
  banner.hidden = kind !== "reconnecting";
  banner.textContent =
    kind === "reconnecting"
      ? (navigator.onLine === false ? "You are offline. " : "Reconnecting… ") + "What you write is sent once the connection is back."
      : "";
}

export function socketOpen() {
  return !!state.socket && state.socket.readyState === WebSocket.OPEN;
}

export function sendFrame(frame) {
  if (socketOpen()) {
    state.socket.send(JSON.stringify(frame));
    return true;
  }
  return false;
}

export function bumpCursor(roomId, seq) {
  if (typeof seq !== "number") return;
  state.cursors.set(roomId, Math.max(state.cursors.get(roomId) ?? -1, seq));
}

// The delivery rule for one room frame: "apply" (it is next; the cursor moves to it),
// "duplicate" (already here) or "gap" (an event before it was lost on the way).
export function follow(roomId, seq, prevSeq) {
  const cursor = state.cursors.get(roomId);
  if (cursor === undefined) return "apply";
  if (seq <= cursor) return "duplicate";
  // null: the server knows no earlier event, which is sure only if we have none either;
  // absent: a server from before prev_seq.
  const contiguous = prevSeq === undefined || (prevSeq === null ? cursor < 0 : prevSeq <= cursor);
  if (!contiguous) return "gap";
  state.cursors.set(roomId, seq);
  return "apply";
}

export function resumeGap(roomId) {
  if (state.resuming && state.resuming.rooms.has(roomId)) return; // the resume under way covers it
  resume({ [roomId]: state.cursors.get(roomId) }, "gap");
}

function clearSocketTimers() {
  clearTimeout(state.pongTimer);
  clearTimeout(state.openTimer);
  if (state.resuming) clearTimeout(state.resuming.timer);
  if (state.resumeRetry) clearTimeout(state.resumeRetry.timer);
  state.pongTimer = state.openTimer = state.resuming = state.resumeRetry = null;
  state.resumesInFlight = [];
}

export function connect() {
  clearTimeout(state.reconnectTimer);
  state.reconnectTimer = null;
  if (state.socket) return;
  const scheme = location.protocol === "https:" ? "wss" : "ws";
  const socket = new WebSocket(`${scheme}://${location.host}/ws/?resume=1`);
  state.socket = socket;
  if (!state.everOnline) setConnection("connecting…", "connecting");
  state.openTimer = setTimeout(() => {
    if (state.socket === socket) drop();
  }, config.OPEN_TIMEOUT_MS);
  socket.addEventListener("open", () => {
    if (state.socket !== socket) return;
    if (state.tooManySockets) showError("");
    state.tooManySockets = false;
    clearTimeout(state.openTimer);
    state.openTimer = null;
    state.generation += 1;
    // What the loaded rooms missed, then resume.done; sends go again only after it.
    const cursors = {};
    for (const [roomId, seq] of state.cursors) if (state.messages.has(roomId)) cursors[roomId] = seq;
    resume(cursors, "open");
  });
  socket.addEventListener("message", (event) => {
    if (state.socket !== socket) return; // a socket already given up on
    clearTimeout(state.pongTimer); // anything from the server shows the socket lives
    state.pongTimer = null;
    onFrame(JSON.parse(event.data));
  });
  socket.addEventListener("close", (event) => {
    if (state.socket !== socket) return;
    if (event.code === 4401) {
      location.href = "/login/";
      return;
    }
    if (event.code === 4429) {
      // Tried again as any lost socket is; it gets in once another tab or device closes.
      showError("Too many tabs and devices are connected to your account; close one to chat here.");
      state.tooManySockets = true;
    }
    state.socket = null;
    lost();
  });
}

// kind "open": the resume of a new socket, after which unacknowledged sends go again;
// "gap": rooms that missed frames on a socket that stays.
export function resume(cursors, kind) {
  if (!sendFrame({ type: "resume", rooms: cursors })) return;
  state.resumesInFlight.push({ kind, cursors });
  const socket = state.socket;
  if (state.resuming) clearTimeout(state.resuming.timer);
  const rooms = new Set([...(state.resuming ? state.resuming.rooms : []), ...Object.keys(cursors)]);
  state.resuming = {
    rooms,
    timer: setTimeout(() => {
      if (state.socket === socket) drop();
    }, config.RESUME_TIMEOUT_MS),
  };
}

function reloadRoom(roomId) {
  // The room's topic was re-created: what is shown of it is not to be trusted.
  loadRoom(roomId)
    .then(() => {
      if (roomId === state.current) renderMessages(false);
    })
    .catch((error) => showError(humanError(error)));
}

function resumeDone(frame) {
  const kind = (state.resumesInFlight.shift() || { kind: "open" }).kind;
  if (state.resuming && !state.resumesInFlight.length && !state.resumeRetry) {
    clearTimeout(state.resuming.timer);
    state.resuming = null;
  } else if (state.resuming) {
    for (const roomId of Object.keys(frame.rooms || {})) state.resuming.rooms.delete(roomId);
  }
  const reload = new Set(frame.reload || []);
  for (const [roomId, seq] of Object.entries(frame.rooms || {})) {
    if (!reload.has(roomId) && state.messages.has(roomId) && !state.loading.has(roomId)) bumpCursor(roomId, seq);
  }
  if (kind === "gap") {
    for (const roomId of reload) reloadRoom(roomId);
    if (state.current) renderMessages(false);
    return;
  }
  const firstTime = !state.everOnline;
  state.everOnline = true;
  state.backoff = 500;
  setConnection("online", "online");
  for (const roomId of reload) reloadRoom(roomId);
  // Those the resume showed delivered are no longer pending; the rest go again.
  resendPending();
  resendChanges();
  if (state.current) {
    renderMessages(false);
    if (onScreen()) markRead();
  }
  flushReceipts();
  // Rooms that are not loaded (new ones, unread counts) are fresh in the list.
  if (!firstTime) loadRooms().then(sendDeliveredOnLoad, () => {});
  else sendDeliveredOnLoad();
}

// The socket is dead or must be replaced: stop listening to it and reconnect.
export function drop() {
  const socket = state.socket;
  if (!socket) return;
  state.socket = null;
  try {
    socket.close();
  } catch (error) {
    // closing a socket that is still connecting may throw; it is given up either way
  }
  lost();
}

function lost() {
  clearSocketTimers();
  if (navigator.onLine === false) setConnection("offline, reconnecting when back…", "reconnecting");
  else setConnection("reconnecting…", "reconnecting");
  clearTimeout(state.reconnectTimer);
  // Offline, the browser's "online" event reconnects; a slow retry in case it never comes.
  const delay = navigator.onLine === false ? config.OFFLINE_RETRY_MS : state.backoff;
  state.reconnectTimer = setTimeout(connect, delay);
  state.backoff = Math.min(state.backoff * 2, config.MAX_BACKOFF_MS);
}

// A ping that needs a pong in time: a socket that died silently (a laptop asleep,
// a network that went away) is noticed and replaced.
export function probe() {
  if (!socketOpen() || state.pongTimer) return;
  const socket = state.socket;
  sendFrame({ type: "ping" });
  state.pongTimer = setTimeout(() => {
    state.pongTimer = null;
    if (state.socket === socket) drop();
  }, config.PONG_TIMEOUT_MS);
}

// A resume refused with rate_limited (it names no room) goes again after retry_after, from
// the cursors as they are then; refusals that come meanwhile are folded into the one retry.
function resumeRefused(frame) {
  const refused = state.resumesInFlight.shift() || { kind: "gap", cursors: {} };
  if (state.resuming) {
    clearTimeout(state.resuming.timer); // the retry sets it again
    state.resuming.timer = null;
  }
  const retry = state.resumeRetry || { timer: null, kind: "gap", rooms: {} };
  clearTimeout(retry.timer);
  if (refused.kind === "open") retry.kind = "open";
  Object.assign(retry.rooms, refused.cursors);
  const socket = state.socket;
  retry.timer = setTimeout(() => {
    state.resumeRetry = null;
    if (state.socket !== socket) return; // a new socket resumes everything anyway
    const cursors = {};
    for (const [roomId, seq] of Object.entries(retry.rooms)) cursors[roomId] = state.cursors.get(roomId) ?? seq;
    if (retry.kind === "open") {
      for (const [roomId, seq] of state.cursors) if (state.messages.has(roomId)) cursors[roomId] = seq;
    }
    if (retry.kind === "open" || Object.keys(cursors).length) resume(cursors, retry.kind);
  }, retryDelayMs(frame));
  state.resumeRetry = retry;
}

// A frame refused with rate_limited: what it was is told by what the refusal names.
function rateLimited(frame) {
  if (frame.client_id) {
    if (state.pending.has(frame.client_id)) sendRefused(frame.client_id, frame);
  } else if (frame.id) {
    if (state.changes.has(frame.id)) changeRefused(frame.id, frame);
  } else if (frame.room) {
    receiptRefused(frame);
  } else {
    resumeRefused(frame);
  }
}

function rejected(frame) {
  if (frame.reason === "rate_limited") {
    rateLimited(frame);
  } else if (frame.client_id && state.pending.has(frame.client_id)) {
    state.pending.get(frame.client_id).failed = true;
    // Moderation's details already begin "Your message was not sent: …".
    const detail = /not sent/i.test(frame.detail) ? frame.detail : `not sent: ${frame.detail}`;
    setPendingStatus(frame.client_id, detail);
    sendSettled(state.pending.get(frame.client_id).room, frame.client_id);
  } else if (frame.id) {
    // An edit or a delete was refused.
    resolveChange(frame.id);
    showError(frame.detail);
    if (frame.room === state.current) renderMessages(false);
  } else if (!frame.client_id && state.resuming && state.resuming.rooms.has(frame.room)) {
    // A resumed room we are no longer in: forget it.
    roomLeft(frame.room);
    loadRooms().catch(() => {});
  } else if (frame.room && !state.rooms.has(frame.room)) {
    // A receipt or typing frame of a room just left: nothing to tell.
  } else {
    showError(frame.detail);
  }
}

function onFrame(frame) {
  switch (frame.type) {
    case "message.new":
      receive(frame, true);
      break;
    case "message.updated":
      receive(frame, false);
      break;
    case "resume.done":
      resumeDone(frame);
      break;
    case "room.head": {
      // The room's newest event never reached this socket: fetch what is missing.
      const cursor = state.cursors.get(frame.room);
      if (cursor !== undefined && !state.loading.has(frame.room) && frame.seq > cursor) resumeGap(frame.room);
      break;
    }
    case "message.ack":
      markAcked(frame.client_id);
      sendSettled(frame.room, frame.client_id);
      break;
    case "message.rejected":
      rejected(frame);
      break;
    case "receipt":
      onReceipt(frame);
      break;
    case "typing":
      onTyping(frame);
      break;
    case "presence":
      onPresence(frame);
      break;
    case "room.joined":
      roomJoined(frame.room);
      break;
    case "room.updated":
      roomUpdated(frame.room);
      break;
    case "room.left":
      roomLeft(frame.room);
      break;
    case "error": {
      // A frame this server does not know yet (an older server) is not the person's concern.
      if (frame.code === "unknown_type") break;
      showError(frame.detail);
      // A send of a room whose sends go one at a time was not stored (`unavailable`): it
      // goes again shortly, still ahead of the others.
      const throttle = state.throttled.get(state.pending.get(frame.client_id)?.room);
      if (throttle && throttle.inFlight === frame.client_id) sendRefused(frame.client_id, { retry_after: 1 });
      break;
    }
    default:
      break;
  }
}
