// The room list and the open room: the list sorted by latest activity with a one-line
// preview, unread badges and the total in the tab title; opening and closing rooms; each
// room's own address (/rooms/<id>/, with back and forward); and the room.joined /
// room.updated / room.left frames that keep the list current without polling.

import { api, humanError } from "./api.js";
import { forgetUploads } from "./attachments.js";
import { restoreDraft, saveDraft, stopTyping } from "./composer.js";
import { loadRoom } from "./history.js";
import { renderMembers } from "./people.js";
import { absorbMemberInfo, dot, markRead, presenceText, renderTyping } from "./presence.js";
import { renderMessages, shortTime, showPill } from "./render.js";
import { $, me, showError, state } from "./state.js";

export function roomPath(roomId) {
  return `/rooms/${encodeURIComponent(roomId)}/`;
}

export function roomFromPath() {
  const match = location.pathname.match(/^\/rooms\/([^/]+)\/$/);
  return match ? decodeURIComponent(match[1]) : null;
}

function activity(room) {
  return Date.parse(room.last_message?.created_at || room.activity_at || "") || 0;
}

// A room just made or joined is the newest activity, even from a server that does not say.
export function asNewRoom(room) {
  return room.activity_at || state.rooms.has(room.id) ? room : { ...room, activity_at: new Date().toISOString() };
}

// A room as the server sent it, merged with what this page knows better: its unread count
// (kept live here) and a newer last message or seq from live frames.
export function upsertRoom(incoming, { keepUnread = true } = {}) {
  const known = state.rooms.get(incoming.id);
  const room = { ...incoming };
  if (known) {
    if (keepUnread) room.unread = known.unread;
    room.last_seq = Math.max(known.last_seq ?? -1, incoming.last_seq ?? -1);
    if (room.last_seq < 0) room.last_seq = null;
    if (known.last_message && (!incoming.last_message || known.last_message.seq > incoming.last_message.seq)) {
      room.last_message = known.last_message;
    }
    if (activity(known) > activity(room)) room.activity_at = known.activity_at;
  }
  state.rooms.set(room.id, room);
  absorbMemberInfo(room);
  return room;
}

export async function loadRooms() {
  const data = await api("GET", "/api/rooms/");
  const listed = new Set(data.rooms.map((room) => room.id));
  for (const roomId of [...state.rooms.keys()]) if (!listed.has(roomId)) forgetRoom(roomId);
  // The server's unread counts are the truth after a reconnect; the open room is being read.
  for (const room of data.rooms) upsertRoom(room, { keepUnread: false });
  if (state.current && state.rooms.has(state.current)) markRead();
  renderRooms();
  renderHeader();
}

function preview(room) {
  const last = room.last_message;
  if (!last) return room.kind === "dm" ? "No messages yet" : "New group";
  // A message of files alone has no text: its preview names them.
  const files = Array.isArray(last.attachments) ? last.attachments : [];
  const named = files.length === 1 ? `File: ${files[0].filename}` : files.length ? `${files.length} files` : "";
  const body = last.body || named || (last.seq !== undefined ? "message deleted" : "");
  return (last.sender === me.username ? "You: " : room.kind === "group" ? `${last.sender}: ` : "") + body;
}

function timeLabel(iso) {
  if (!iso) return "";
  const at = new Date(iso);
  const today = new Date();
  if (at.toDateString() === today.toDateString()) return shortTime(at);
  return at.toLocaleDateString(undefined, { day: "numeric", month: "short" });
}

function otherMember(room) {
  return room.kind === "dm" ? room.members.find((name) => name !== me.username) || room.name : null;
}

function roomEntry(room) {
  const item = document.createElement("li");
  const link = document.createElement("a");
  link.className = "room-item" + (room.id === state.current ? " active" : "");
  link.href = roomPath(room.id);
  link.dataset.roomId = room.id;
  if (room.id === state.current) link.setAttribute("aria-current", "page");
  const other = otherMember(room);
  const marker = other ? dot(other) : document.createElement("span");
  if (!other) {
    marker.className = "group-mark";
    marker.setAttribute("aria-hidden", "true");
    marker.textContent = "#";
  }
  const main = document.createElement("span");
  main.className = "room-main";
  const top = document.createElement("span");
  top.className = "room-line";
  const name = document.createElement("span");
  name.className = "room-name";
  name.textContent = (room.kind === "dm" ? "@ " : "# ") + room.name;
  const time = document.createElement("time");
  time.className = "room-time";
  const when = room.last_message?.created_at || room.activity_at;
  time.textContent = timeLabel(when);
  if (when) time.dateTime = when;
  top.append(name, time);
  const bottom = document.createElement("span");
  bottom.className = "room-line";
  const text = document.createElement("span");
  text.className = "room-preview";
  text.textContent = preview(room);
  bottom.append(text);
  if (room.unread > 0 && room.id !== state.current) {
    const badge = document.createElement("span");
    badge.className = "badge";
    badge.textContent = String(room.unread);
    badge.title = `${room.unread} unread`;
    bottom.append(badge);
  }
  main.append(top, bottom);
  link.append(marker, main);
  link.addEventListener("click", (event) => {
    if (event.ctrlKey || event.metaKey || event.shiftKey || event.button !== 0) return; // a new tab
    event.preventDefault();
    openRoom(room.id);
  });
  item.append(link);
  return item;
}

export function renderRooms() {
  const list = $("room-list");
  const focusedRoom = list.contains(document.activeElement) ? document.activeElement.dataset.roomId : null;
  const rooms = [...state.rooms.values()].sort((a, b) => activity(b) - activity(a));
  list.replaceChildren(...rooms.map(roomEntry));
  if (focusedRoom) list.querySelector(`[data-room-id="${CSS.escape(focusedRoom)}"]`)?.focus();
  $("no-rooms").hidden = rooms.length > 0;
  // The open room counts too while the reader is away (markRead clears it when they look).
  const total = rooms.reduce((sum, room) => sum + (room.unread || 0), 0);
  document.title = total ? `(${total}) EchoStream` : "EchoStream";
}

// The open room's header: name, presence (a DM) or members (a group).
export function renderHeader() {
  const room = state.rooms.get(state.current);
  const marker = $("room-dot");
  if (!room) return;
  $("room-title").textContent = room.name;
  const other = otherMember(room);
  if (other) {
    marker.replaceChildren(dot(other));
    $("room-members").textContent = presenceText(other);
  } else {
    marker.replaceChildren();
    const online = room.members.filter((name) => name === me.username || state.people.get(name)?.online).length;
    $("room-members").textContent = `${room.members.length} members, ${online} online: ${room.members.join(", ")}`;
  }
  $("members-button").hidden = room.kind !== "group";
  renderMembers();
}

export async function openRoom(roomId, { push = true } = {}) {
  const room = state.rooms.get(roomId);
  if (!room) {
    closeRoom({ push, notice: "That conversation is not available: it does not exist, or you are not in it." });
    return;
  }
  if (state.current !== roomId) {
    saveDraft();
    stopTyping();
    state.editing = null;
    state.confirmingDelete = null;
    $("members-panel").hidden = true;
    $("members-button").setAttribute("aria-expanded", "false");
  }
  state.current = roomId;
  if (push && location.pathname !== roomPath(roomId)) history.pushState({ room: roomId }, "", roomPath(roomId));
  document.body.classList.add("room-open");
  $("room-notice").hidden = true;
  $("composer").hidden = false;
  restoreDraft();
  showPill(false);
  renderHeader();
  renderTyping();
  renderRooms();
  const focusAtOpen = focusPlace();
  if (!state.messages.has(roomId)) {
    renderMessages(true); // empty while the history loads
    $("messages").setAttribute("aria-busy", "true");
    try {
      await loadRoom(roomId);
    } catch (error) {
      showError(humanError(error));
      return;
    } finally {
      if (state.current === roomId) $("messages").removeAttribute("aria-busy");
    }
  } else {
    $("messages").removeAttribute("aria-busy");
  }
  if (state.current !== roomId) return;
  renderMessages(true);
  markRead();
  // Not when the reader moved on while the history loaded (Tab to the next room, say).
  const unmoved = focusPlace() === focusAtOpen || document.activeElement === document.body;
  if (unmoved && !matchMedia("(max-width: 640px)").matches) $("composer-input").focus();
}

// Where the keyboard is: a room's entry by its room, since the list redraws entries as new elements.
function focusPlace() {
  const element = document.activeElement;
  return element?.dataset?.roomId ? `room:${element.dataset.roomId}` : element;
}

// Back to the list (on a phone the list is the whole screen): no room open.
export function closeRoom({ push = true, notice = "" } = {}) {
  if (state.current) {
    saveDraft();
    stopTyping();
  }
  state.current = null;
  state.editing = null;
  if (push && location.pathname !== "/") history.pushState({}, "", "/");
  document.body.classList.remove("room-open");
  $("room-title").textContent = notice ? "Not available" : "Pick a conversation";
  $("room-members").textContent = "";
  $("room-dot").replaceChildren();
  $("members-button").hidden = true;
  $("members-panel").hidden = true;
  $("composer").hidden = true;
  $("typing").textContent = "";
  $("room-notice").textContent = notice;
  $("room-notice").hidden = !notice;
  showPill(false);
  renderMessages(false);
  renderRooms();
}

// The address names a room (a reload, a shared link, back and forward).
export function followAddress() {
  const roomId = roomFromPath();
  if (roomId && state.rooms.has(roomId)) openRoom(roomId, { push: false });
  else if (roomId) closeRoom({ push: false, notice: "That conversation is not available: it does not exist, or you are not in it." });
  else if (state.current) closeRoom({ push: false });
}

function forgetRoom(roomId) {
  state.rooms.delete(roomId);
  state.messages.delete(roomId);
  state.cursors.delete(roomId);
  state.hasMore.delete(roomId);
  state.drafts.delete(roomId);
  forgetUploads(roomId);
  state.marks.delete(roomId);
  for (const pending of state.pending.values()) {
    if (pending.room === roomId) pending.failed = true;
  }
  if (state.current === roomId) {
    // Leaving by one's own hand needs no explaining.
    closeRoom({ notice: state.leaving === roomId ? "" : "You are no longer in that conversation." });
  }
}

export function roomJoined(room) {
  upsertRoom(asNewRoom(room));
  renderRooms();
  if (room.id === state.current) renderHeader();
}

export function roomUpdated(room) {
  if (!state.rooms.has(room.id)) return roomJoined(room);
  upsertRoom(room);
  renderRooms();
  if (room.id === state.current) {
    renderHeader();
    renderMessages(false); // the members changed, and so what "read by n of m" counts
  }
}

export function roomLeft(roomId) {
  if (!state.rooms.has(roomId)) return;
  forgetRoom(roomId);
  renderRooms();
}
