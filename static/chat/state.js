// The page's shared state: one object that every module reads and changes, the
// signed-in user, and the few helpers everything needs (finding elements, errors).
// The modules: api.js (HTTP), socket.js (the connection, resuming, the delivery rule),
// history.js (messages kept per room), rooms.js (the room list, opening rooms, addresses),
// render.js (the open conversation), composer.js (sending, drafts, typing), edits.js
// (editing and deleting), attachments.js (files: uploads, thumbnails, chips), reports.js (reporting others' messages), presence.js (dots, typing indicators, receipts and ticks),
// people.js (finding people, making groups, members), main.js (wires them up).

export const PING_EVERY_MS = 10000; // a heartbeat, so that a silently dead socket is noticed
export const PONG_TIMEOUT_MS = 5000; // no answer in this long: the socket is dead, reconnect
export const OPEN_TIMEOUT_MS = 10000; // a socket that does not open in this long is given up
export const RESUME_TIMEOUT_MS = 15000; // no resume.done in this long: reconnect
export const CHANGE_TIMEOUT_MS = 20000; // an edit or delete not confirmed in this long failed
export const MAX_BACKOFF_MS = 10000;
export const OFFLINE_RETRY_MS = 30000; // while the browser says it is offline

export const me = JSON.parse(document.getElementById("me-data").textContent);
export const $ = (id) => document.getElementById(id);

export const state = {
  rooms: new Map(), // id -> room from /api/rooms/ and the room.* frames
  current: null, // the open room's id
  messages: new Map(), // room id -> Map(message id -> message): the loaded rooms
  versions: new Map(), // message id -> seq of the event that made the state we show
  cursors: new Map(), // room id -> seq up to which every event is here (the resume cursor)
  loading: new Map(), // room id -> the Map a history load in flight fills
  liveDuringLoad: new Map(), // room id -> highest seq of a live frame that came during its load
  pending: new Map(), // client_id -> {room, body, status, failed, held}, in the order written
  throttled: new Map(), // room id -> {timer, inFlight}: the room's sends wait their turn (rate_limited)
  changes: new Map(), // message id -> {room, kind: "edit"|"delete", body, timer, slowed}: unconfirmed
  hasMore: new Map(), // room id -> bool (older history exists)
  drafts: new Map(), // room id -> what was typed there and not sent
  uploads: new Map(), // room id -> files added there and not sent yet (attachments.js)
  editing: null, // {id, input} while one of my messages is being edited inline
  confirmingDelete: null, // message id whose delete waits for "yes"
  reporting: null, // {id, input, sending} while someone else's message is being reported (reports.js)
  reported: new Set(), // ids of messages this page reported
  leaving: null, // the room id while the user leaves it
  nodes: new Map(), // render key -> {signature, element}
  loadingOlder: false,
  unseenBelow: false, // new messages arrived while the reader was scrolled up
  // presence.js
  people: new Map(), // username -> {online, last_seen}
  marks: new Map(), // room id -> Map(username -> {delivered, read}): receipt watermarks
  receiptsSent: new Map(), // "delivered:room" / "read:room" -> highest seq sent
  deliverTimers: new Map(), // room id -> timer: the coalesced delivered receipt
  typing: new Map(), // room id -> Map(username -> timer): who types there now
  // socket.js
  socket: null,
  generation: 0, // counts socket opens
  resuming: null, // {rooms: Set of room ids, timer} while resumes are answered
  resumesInFlight: [], // {kind: "open"|"gap", cursors} per resume sent, oldest first (answered in order)
  resumeRetry: null, // {timer, kind, rooms} while a resume refused with rate_limited waits to go again
  receiptRetry: null, // timer: receipts refused with rate_limited go again
  everOnline: false,
  backoff: 500,
  // The last socket was refused as one too many of the user's (close code 4429).
  tooManySockets: false,
  reconnectTimer: null,
  pongTimer: null,
  openTimer: null,
};

export function showError(text) {
  $("side-error").textContent = text || "";
}

// Whether the reader can see the open room now: what makes a message read.
export function onScreen() {
  return document.visibilityState === "visible" && document.hasFocus();
}
