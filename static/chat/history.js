// The messages the page holds, per room: loaded from history over HTTP (the newest
// page when a room is first opened, older pages as the reader scrolls up) and kept
// current by the socket's message.new / message.updated frames. A message is kept
// once, by id, however many copies (live, replayed, history) come; the socket's
// delivery rule (socket.js) decides which frames are applied.

import { api } from "./api.js";
import { clearPendingOf } from "./composer.js";
import { resolveChange, shows } from "./edits.js";
import { markRead, noteDelivered, typingStopped } from "./presence.js";
import { keepPosition, renderMessages } from "./render.js";
import { loadRooms, renderRooms } from "./rooms.js";
import { follow, resume, resumeGap, socketOpen } from "./socket.js";
import { me, onScreen, state } from "./state.js";

// Puts a message's state in its room's map unless what is there is newer.
export function merge(roomId, message, version) {
  const known = state.messages.get(roomId);
  if (!known) return false;
  const current = known.get(message.id);
  if (current) {
    if (current.deleted && !message.deleted) return false; // a delete is final
    const shown = state.versions.get(message.id);
    if (version !== undefined && shown !== undefined && version < shown) return false;
    if (current.edited_at && !message.deleted) {
      if (!message.edited_at || Date.parse(message.edited_at) < Date.parse(current.edited_at)) return false;
    }
  }
  known.set(message.id, message);
  if (version !== undefined) state.versions.set(message.id, Math.max(state.versions.get(message.id) ?? -1, version));
  return !current;
}

// (Re)loads a room's newest history page over HTTP: on first opening it, and when
// resume.done says its topic was re-created. What was shown of it is dropped.
export async function loadRoom(roomId) {
  const known = new Map();
  state.messages.set(roomId, known);
  state.cursors.delete(roomId);
  state.liveDuringLoad.delete(roomId);
  state.loading.set(roomId, known);
  const generation = state.generation;
  const wasOpen = socketOpen();
  let page;
  try {
    page = await api("GET", `/api/rooms/${encodeURIComponent(roomId)}/messages/?limit=50`);
  } catch (error) {
    if (state.messages.get(roomId) === known) {
      state.messages.delete(roomId);
      state.loading.delete(roomId);
    }
    throw error;
  }
  if (state.messages.get(roomId) !== known) return; // a newer load replaced this one
  state.loading.delete(roomId);
  page.messages.forEach((message) => {
    merge(roomId, message, undefined);
    clearPendingOf(message);
  });
  if (page.has_more && page.messages.length) {
    // Changes that arrived during the load for messages older than the page: they are
    // outside what is shown, and keeping them would leave a gap before the page.
    const oldest = page.messages[0].seq;
    for (const [id, message] of known) if (message.seq < oldest) known.delete(id);
  }
  state.hasMore.set(roomId, page.has_more);
  const pageTop = page.messages.length ? page.messages[page.messages.length - 1].seq : -1;
  state.cursors.set(roomId, pageTop);
  const room = state.rooms.get(roomId);
  if (room && pageTop > (room.last_seq ?? -1)) room.last_seq = pageTop;
  const liveAfterPage = (state.liveDuringLoad.get(roomId) ?? -1) > pageTop;
  state.liveDuringLoad.delete(roomId);
  if (state.generation !== generation || (!wasOpen && socketOpen()) || liveAfterPage) {
    // The socket was replaced while the page loaded, or live frames came past the page
    // that nothing links to it: what follows the page is only sure in a resume from its end.
    resume({ [roomId]: pageTop }, "gap");
  }
}

// Infinite scroll: the page of messages before the oldest shown, keeping what the
// reader looks at where it is.
export async function loadOlder() {
  const roomId = state.current;
  if (!roomId || state.loadingOlder || !state.hasMore.get(roomId) || state.loading.has(roomId)) return;
  const known = [...state.messages.get(roomId).values()];
  if (!known.length) return;
  state.loadingOlder = true;
  try {
    const oldest = Math.min(...known.map((m) => m.seq));
    const page = await api("GET", `/api/rooms/${encodeURIComponent(roomId)}/messages/?before=${oldest}&limit=50`);
    if (!state.messages.has(roomId)) return;
    page.messages.forEach((message) => merge(roomId, message, undefined));
    state.hasMore.set(roomId, page.has_more);
    if (roomId === state.current) keepPosition(() => renderMessages(false));
  } finally {
    state.loadingOlder = false;
  }
}

// The room list's preview and order follow the newest message.
function notePreview(room, message, seq, isNew) {
  const last = room.last_message;
  if (isNew && (!last || message.seq >= last.seq)) {
    room.last_message = {
      id: message.id, seq: message.seq, sender: message.sender,
      body: (message.body || "").slice(0, 140), created_at: message.created_at,
      attachments: message.attachments || [],
    }; // prettier-ignore
    if (!room.activity_at || Date.parse(message.created_at) > Date.parse(room.activity_at)) {
      room.activity_at = message.created_at;
    }
  } else if (last && last.id === message.id) {
    last.body = message.deleted ? "" : (message.body || "").slice(0, 140);
    last.attachments = message.deleted ? [] : message.attachments || [];
  }
}

// A message.new (isNew) or message.updated frame.
export function receive(frame, isNew) {
  const message = frame.message;
  const seq = typeof frame.seq === "number" ? frame.seq : message.seq;
  const room = state.rooms.get(message.room);
  if (!room) {
    loadRooms().catch(() => {}); // a room we were just added to, before its room.joined
    return;
  }
  const known = state.messages.get(message.room);
  if (known && state.loading.get(message.room) === known) {
    state.liveDuringLoad.set(message.room, Math.max(state.liveDuringLoad.get(message.room) ?? -1, seq));
  } else if (known) {
    const verdict = follow(message.room, seq, frame.prev_seq);
    if (verdict === "duplicate") return;
    if (verdict === "gap") {
      resumeGap(message.room); // it comes again, in line, in the replay
      return;
    }
  }
  const unseen = seq > (room.last_seq ?? -1); // a room not loaded has no cursor to drop copies
  room.last_seq = Math.max(room.last_seq ?? -1, seq);
  notePreview(room, message, seq, isNew);
  clearPendingOf(message);
  let added = false;
  if (known) {
    // A change of a message that is not shown is of an older one, outside the loaded
    // page; unless the page is still loading, when it may be in it.
    if (isNew || known.has(message.id) || state.loading.get(message.room) === known) {
      added = merge(message.room, message, seq);
    }
  }
  const change = state.changes.get(message.id);
  if (change && (!isNew || shows(message, change))) resolveChange(message.id);
  if (state.editing && state.editing.id === message.id && message.deleted) state.editing = null;
  const theirs = isNew && message.sender !== me.username;
  if (theirs) {
    typingStopped(message.room, message.sender);
    noteDelivered(message.room);
  }
  // Only a new message is unread (an edit or a delete of an old one is not), and only
  // while the reader does not see it.
  const fresh = known ? added : unseen;
  if (message.room === state.current) {
    renderMessages(false, theirs && fresh);
    if (onScreen()) markRead();
    else if (theirs && fresh) room.unread = (room.unread || 0) + 1;
  } else if (theirs && fresh) {
    room.unread = (room.unread || 0) + 1;
  }
  renderRooms();
}
