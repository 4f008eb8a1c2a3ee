// Who is there, who types, and how far each member got (docs/protocol.md, "Presence,
// typing and delivery status").
//
// Presence: `presence {user, status, last_seen}` frames and each room's `member_info` say
// who is online; the page shows a dot, or "last seen 5 minutes ago" (refreshed each minute).
//
// Typing: another member's "is typing…" goes 6 seconds after their last `typing true`,
// on `typing false`, or when their message arrives.
//
// Receipts are watermarks per (member, room), not per message. The page sends few of them:
// `delivered` once per room per burst of others' messages (debounced), and on load for rooms
// whose newest seq is above our own delivered watermark; `read` only while the room is on
// screen, the page visible and the window focused; each only when above what was sent. From
// the members' watermarks (kept current by `receipt` frames; a read implies delivered) each of
// my messages gets its status: sending → sent ✓ → delivered ✓✓ → read (blue ✓✓); in groups
// "delivered to n of m" / "read by n of m", with the names on hover.

import { retryDelayMs } from "./composer.js";
import { renderMessages } from "./render.js";
import { renderHeader, renderRooms } from "./rooms.js";
import { sendFrame } from "./socket.js";
import { $, me, onScreen, state } from "./state.js";

const TYPING_SHOWN_MS = 6000;
const DELIVERED_DEBOUNCE_MS = 300;

// --- Presence ----------------------------------------------------------------------------
export function absorbMemberInfo(room) {
  const marks = state.marks.get(room.id) || new Map();
  state.marks.set(room.id, marks);
  for (const info of room.member_info || []) {
    if (info.username !== me.username) state.people.set(info.username, { online: !!info.online, last_seen: info.last_seen });
    raiseMark(room.id, info.username, "delivered", info.delivered);
    raiseMark(room.id, info.username, "read", info.read);
  }
}

export function onPresence(frame) {
  state.people.set(frame.user, { online: frame.status === "online", last_seen: frame.last_seen });
  renderRooms();
  renderHeader();
}

export function relativeTime(iso) {
  const seconds = Math.max(0, (Date.now() - Date.parse(iso)) / 1000);
  if (seconds < 60) return "just now";
  const minutes = Math.floor(seconds / 60);
  if (minutes < 60) return `${minutes} minute${minutes === 1 ? "" : "s"} ago`;
  const hours = Math.floor(minutes / 60);
  if (hours < 24) return `${hours} hour${hours === 1 ? "" : "s"} ago`;
  const days = Math.floor(hours / 24);
  if (days < 7) return `${days} day${days === 1 ? "" : "s"} ago`;
  return "on " + new Date(iso).toLocaleDateString();
}

// "online", "last seen 5 minutes ago", or "offline".
export function presenceText(username) {
  const person = state.people.get(username);
  if (!person) return "";
  if (person.online) return "online";
  return person.last_seen ? `last seen ${relativeTime(person.last_seen)}` : "offline";
}

export function dot(username) {
  const element = document.createElement("span");
  const person = state.people.get(username);
  const status = person ? (person.online ? "online" : "offline") : "unknown";
  element.className = "dot";
  element.dataset.status = status;
  element.dataset.user = username;
  element.setAttribute("role", "img");
  element.setAttribute("aria-label", `${username}: ${presenceText(username) || "status unknown"}`);
  element.title = presenceText(username);
  return element;
}

// --- Typing --------------------------------------------------------------------------------
export function onTyping(frame) {
  if (frame.user === me.username) return;
  const typists = state.typing.get(frame.room) || new Map();
  state.typing.set(frame.room, typists);
  clearTimeout(typists.get(frame.user));
  if (frame.state) typists.set(frame.user, setTimeout(() => typingStopped(frame.room, frame.user), TYPING_SHOWN_MS));
  else typists.delete(frame.user);
  if (frame.room === state.current) renderTyping();
}

export function typingStopped(roomId, username) {
  const typists = state.typing.get(roomId);
  if (!typists || !typists.has(username)) return;
  clearTimeout(typists.get(username));
  typists.delete(username);
  if (roomId === state.current) renderTyping();
}

export function renderTyping() {
  const names = [...(state.typing.get(state.current) || new Map()).keys()];
  let text = "";
  if (names.length === 1) text = `${names[0]} is typing…`;
  else if (names.length === 2) text = `${names[0]} and ${names[1]} are typing…`;
  else if (names.length > 2) text = `${names.slice(0, -1).join(", ")} and ${names[names.length - 1]} are typing…`;
  $("typing").textContent = text;
}

// --- Receipts ------------------------------------------------------------------------------
function raiseMark(roomId, username, kind, seq) {
  if (typeof seq !== "number") return false;
  const marks = state.marks.get(roomId) || new Map();
  state.marks.set(roomId, marks);
  const mark = marks.get(username) || { delivered: -1, read: -1 };
  marks.set(username, mark);
  let moved = false;
  if (seq > mark.delivered) {
    mark.delivered = seq; // a read implies delivered
    moved = true;
  }
  if (kind === "read" && seq > mark.read) {
    mark.read = seq;
    moved = true;
  }
  return moved;
}

function markOf(roomId, username) {
  return state.marks.get(roomId)?.get(username) || { delivered: -1, read: -1 };
}

export function onReceipt(frame) {
  if (!raiseMark(frame.room, frame.user, frame.kind, frame.seq)) return;
  const room = state.rooms.get(frame.room);
  if (frame.user === me.username) {
    // Our own receipt, maybe from another tab or device: what it read is no longer unread.
    if (frame.kind === "read" && room && frame.seq >= (room.last_seq ?? -1) && room.unread) {
      room.unread = 0;
      renderRooms();
    }
    return;
  }
  if (frame.room === state.current) renderMessages(false);
}

function sendReceipt(roomId, kind, seq) {
  const key = `${kind}:${roomId}`;
  const own = markOf(roomId, me.username)[kind];
  if (typeof seq !== "number" || seq < 0 || seq <= Math.max(own, state.receiptsSent.get(key) ?? -1)) return;
  if (!sendFrame({ type: "receipt", room: roomId, seq, kind })) return;
  state.receiptsSent.set(key, seq);
  if (kind === "read") state.receiptsSent.set(`delivered:${roomId}`, Math.max(seq, state.receiptsSent.get(`delivered:${roomId}`) ?? -1));
}

// Others' messages reached this page: one `delivered` per room per burst.
export function noteDelivered(roomId) {
  if (state.deliverTimers.has(roomId)) return;
  state.deliverTimers.set(
    roomId,
    setTimeout(() => {
      state.deliverTimers.delete(roomId);
      const room = state.rooms.get(roomId);
      if (room) sendReceipt(roomId, "delivered", room.last_seq);
    }, DELIVERED_DEBOUNCE_MS),
  );
}

// On load (and after a reconnect): rooms with messages past our own delivered watermark.
export function sendDeliveredOnLoad() {
  for (const room of state.rooms.values()) {
    if ((room.last_seq ?? -1) > markOf(room.id, me.username).delivered) noteDelivered(room.id);
  }
}

// The open room is read, if the reader can see it.
export function markRead() {
  const room = state.rooms.get(state.current);
  if (!room || !onScreen()) return;
  if (room.unread) {
    room.unread = 0;
    renderRooms();
  }
  sendReceipt(room.id, "read", room.last_seq);
}

// Receipts of a room refused with rate_limited go again after retry_after.
export function receiptRefused(frame) {
  state.receiptsSent.delete(`delivered:${frame.room}`);
  state.receiptsSent.delete(`read:${frame.room}`);
  if (state.receiptRetry) return;
  state.receiptRetry = setTimeout(() => {
    state.receiptRetry = null;
    flushReceipts();
  }, retryDelayMs(frame));
}

// Whatever is owed: delivered for every room, read for the open one (after a reconnect too,
// since what was sent on a dead socket may never have arrived).
export function flushReceipts() {
  state.receiptsSent.clear();
  sendDeliveredOnLoad();
  markRead();
}

// The status of one of my messages, from the other members' watermarks.
export function messageStatus(roomId, message, pending) {
  if (pending) {
    if (pending.failed) return null;
    return pending.acked
      ? { status: "sent", icon: "✓", text: "", title: "sent" }
      : { status: "sending", icon: "◷", text: "", title: "sending" };
  }
  if (typeof message.seq !== "number") return null;
  const room = state.rooms.get(roomId);
  const others = (room ? room.members : []).filter((name) => name !== me.username);
  const readers = others.filter((name) => markOf(roomId, name).read >= message.seq);
  const receivers = others.filter((name) => markOf(roomId, name).delivered >= message.seq);
  const group = room && room.kind === "group";
  const names = (list) => (list.length ? list.join(", ") : "nobody yet");
  if (!others.length) return { status: "sent", icon: "✓", text: "", title: "sent" };
  if (readers.length === others.length) {
    return { status: "read", icon: "✓✓", text: group ? "read by all" : "", title: group ? `read by ${names(readers)}` : "read" };
  }
  if (group && readers.length) {
    return { status: "read-some", icon: "✓✓", text: `read by ${readers.length} of ${others.length}`, title: `read by ${names(readers)}` };
  }
  if (receivers.length === others.length) {
    return { status: "delivered", icon: "✓✓", text: "", title: group ? `delivered to ${names(receivers)}` : "delivered" };
  }
  if (group && receivers.length) {
    return { status: "sent", icon: "✓", text: `delivered to ${receivers.length} of ${others.length}`, title: `delivered to ${names(receivers)}` };
  }
  return { status: "sent", icon: "✓", text: "", title: "sent" };
}
