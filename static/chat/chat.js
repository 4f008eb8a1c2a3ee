// EchoStream's browser client: one WebSocket for all rooms, history over HTTP.
// Message text is only ever put in the page with textContent, never as HTML.
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
// Rate limits (docs/protocol.md, "Retrying after rate_limited"): a frame refused with
// `rate_limited` goes again after `retry_after` seconds. A refused send stays pending and
// keeps its client_id; while a room has refused sends, its sends go one at a time, each
// once the one before is acknowledged, so that messages keep the order they were written in.
(() => {
  "use strict";

  const PING_EVERY_MS = 10000; // a heartbeat, so that a silently dead socket is noticed
  const PONG_TIMEOUT_MS = 5000; // no answer in this long: the socket is dead, reconnect
  const OPEN_TIMEOUT_MS = 10000; // a socket that does not open in this long is given up
  const RESUME_TIMEOUT_MS = 15000; // no resume.done in this long: reconnect
  const CHANGE_TIMEOUT_MS = 20000; // an edit or delete not confirmed in this long failed
  const MAX_BACKOFF_MS = 10000;
  const OFFLINE_RETRY_MS = 30000; // while the browser says it is offline

  const me = JSON.parse(document.getElementById("me-data").textContent);
  const $ = (id) => document.getElementById(id);
  const state = {
    rooms: new Map(), // id -> room from /api/rooms/
    current: null,
    messages: new Map(), // room id -> Map(message id -> message): the loaded rooms
    versions: new Map(), // message id -> seq of the event that made the state we show
    cursors: new Map(), // room id -> seq up to which every event is here (the resume cursor)
    loading: new Map(), // room id -> the Map a history load in flight fills
    liveDuringLoad: new Map(), // room id -> highest seq of a live frame that came during its load
    pending: new Map(), // client_id -> {room, body, status, failed, held}, in the order written
    throttled: new Map(), // room id -> {timer, inFlight}: the room's sends wait their turn (rate_limited)
    changes: new Map(), // message id -> {room, kind: "edit"|"delete", body, timer, slowed}: unconfirmed
    hasMore: new Map(), // room id -> bool (older history exists)
    editing: null, // {id, input} while one of my messages is being edited inline
    confirmingDelete: null, // message id whose delete waits for "yes"
    nodes: new Map(), // render key -> {signature, element}
    loadingOlder: false,
    socket: null,
    generation: 0, // counts socket opens
    resuming: null, // {rooms: Set of room ids, timer} while resumes are answered
    resumesInFlight: [], // {kind: "open"|"gap", cursors} per resume sent, oldest first (answered in order)
    resumeRetry: null, // {timer, kind, rooms} while a resume refused with rate_limited waits to go again
    receiptRetry: null, // timer: a read receipt refused with rate_limited goes again
    everOnline: false,
    backoff: 500,
    reconnectTimer: null,
    pongTimer: null,
    openTimer: null,
  };

  function csrfToken() {
    const match = document.cookie.match(/(?:^|; )csrftoken=([^;]+)/);
    return match ? decodeURIComponent(match[1]) : "";
  }

  async function api(method, path, body) {
    const response = await fetch(path, {
      method,
      credentials: "same-origin",
      headers: { "Content-Type": "application/json", "X-CSRFToken": csrfToken() },
      body: body === undefined ? undefined : JSON.stringify(body),
    });
    const data = response.status === 204 ? null : await response.json();
    if (!response.ok) {
      const detail = data && data.error ? data.error.detail : response.statusText;
      throw new Error(detail);
    }
    return data;
  }

  function showError(text) {
    $("side-error").textContent = text || "";
  }

  // --- Rooms -----------------------------------------------------------------
  async function loadRooms() {
    const data = await api("GET", "/api/rooms/");
    state.rooms = new Map(data.rooms.map((room) => [room.id, room]));
    renderRooms();
  }

  function renderRooms() {
    const list = $("room-list");
    list.replaceChildren();
    for (const room of state.rooms.values()) {
      const item = document.createElement("li");
      item.className = "room-item" + (room.id === state.current ? " active" : "");
      item.dataset.roomId = room.id;
      const name = document.createElement("span");
      name.className = "room-name";
      name.textContent = (room.kind === "dm" ? "@ " : "# ") + room.name;
      item.append(name);
      if (room.unread > 0 && room.id !== state.current) {
        const badge = document.createElement("span");
        badge.className = "badge";
        badge.textContent = String(room.unread);
        item.append(badge);
      }
      item.addEventListener("click", () => openRoom(room.id));
      list.append(item);
    }
  }

  async function openRoom(roomId) {
    state.current = roomId;
    state.editing = null;
    state.confirmingDelete = null;
    const room = state.rooms.get(roomId);
    room.unread = 0;
    $("room-title").textContent = room.name;
    $("room-members").textContent = room.members.join(", ");
    $("composer").hidden = false;
    renderRooms();
    if (!state.messages.has(roomId)) {
      renderMessages(true); // empty while the history loads
      try {
        await loadRoom(roomId);
      } catch (error) {
        showError(error.message);
        return;
      }
    }
    if (state.current !== roomId) return;
    renderMessages(true);
    markRead();
    $("composer-input").focus();
  }

  function bumpCursor(roomId, seq) {
    if (typeof seq !== "number") return;
    state.cursors.set(roomId, Math.max(state.cursors.get(roomId) ?? -1, seq));
  }

  // The delivery rule for one room frame: "apply" (it is next; the cursor moves to it),
  // "duplicate" (already here) or "gap" (an event before it was lost on the way).
  function follow(roomId, seq, prevSeq) {
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

  function resumeGap(roomId) {
    if (state.resuming && state.resuming.rooms.has(roomId)) return; // the resume under way covers it
    resume({ [roomId]: state.cursors.get(roomId) }, "gap");
  }

  // (Re)loads a room's newest history page over HTTP: on first opening it, and when
  // resume.done says its topic was re-created. What was shown of it is dropped.
  async function loadRoom(roomId) {
    const known = new Map();
    state.messages.set(roomId, known);
    state.cursors.delete(roomId);
    state.liveDuringLoad.delete(roomId);
    state.loading.set(roomId, known);
    const generation = state.generation;
    const wasOpen = socketOpen();
    let page;
    try {
      page = await api("GET", `/api/rooms/${roomId}/messages/?limit=50`);
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
    const liveAfterPage = (state.liveDuringLoad.get(roomId) ?? -1) > pageTop;
    state.liveDuringLoad.delete(roomId);
    if (state.generation !== generation || (!wasOpen && socketOpen()) || liveAfterPage) {
      // The socket was replaced while the page loaded, or live frames came past the page
      // that nothing links to it: what follows the page is only sure in a resume from its end.
      resume({ [roomId]: pageTop }, "gap");
    }
  }

  async function loadOlder() {
    const roomId = state.current;
    if (!roomId || state.loadingOlder || !state.hasMore.get(roomId) || state.loading.has(roomId)) return;
    const known = [...state.messages.get(roomId).values()];
    if (!known.length) return;
    state.loadingOlder = true;
    try {
      const oldest = Math.min(...known.map((m) => m.seq));
      const page = await api("GET", `/api/rooms/${roomId}/messages/?before=${oldest}&limit=50`);
      if (!state.messages.has(roomId)) return;
      page.messages.forEach((message) => merge(roomId, message, undefined));
      state.hasMore.set(roomId, page.has_more);
      if (roomId !== state.current) return;
      const list = $("messages");
      const fromBottom = list.scrollHeight - list.scrollTop;
      renderMessages(false);
      list.scrollTop = list.scrollHeight - fromBottom;
    } finally {
      state.loadingOlder = false;
    }
  }

  // --- Messages ----------------------------------------------------------------
  // Puts a message's state in its room's map unless what is there is newer: a
  // message is kept once, by id, however many copies (live, replayed, history) come.
  function merge(roomId, message, version) {
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

  function clearPendingOf(message) {
    if (message.client_id && message.sender === me.username && state.pending.delete(message.client_id)) {
      sendSettled(message.room, message.client_id);
    }
  }

  function receive(frame, isNew) {
    const message = frame.message;
    const seq = typeof frame.seq === "number" ? frame.seq : message.seq;
    const room = state.rooms.get(message.room);
    if (!room) {
      loadRooms().catch(() => {}); // a room we were just added to
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
    room.last_seq = Math.max(room.last_seq ?? -1, seq);
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
    if (message.room === state.current) {
      renderMessages(false);
      if (document.visibilityState === "visible") markRead();
    } else if (isNew && message.sender !== me.username && (added || !known)) {
      // Only a new message is unread: an edit or a delete of an old one is not.
      room.unread = (room.unread || 0) + 1;
      renderRooms();
    }
  }

  function markRead() {
    const room = state.rooms.get(state.current);
    if (room && room.last_seq !== null && room.last_seq !== undefined) {
      sendFrame({ type: "receipt", room: room.id, seq: room.last_seq, kind: "read" });
    }
  }

  function setPendingStatus(clientId, status) {
    const pending = state.pending.get(clientId);
    if (!pending) return;
    pending.status = status;
    if (pending.room === state.current) renderMessages(false);
  }

  function send(body) {
    const clientId = crypto.randomUUID();
    const pending = { room: state.current, body, status: "sending…" };
    state.pending.set(clientId, pending);
    if (state.throttled.has(pending.room)) hold(pending); // it waits its turn, behind the refused ones
    else sendPending(clientId, pending);
    renderMessages(true);
  }

  function sendPending(clientId, pending) {
    return sendFrame({ type: "message.send", room: pending.room, client_id: clientId, body: pending.body });
  }

  // --- Retrying after rate_limited ------------------------------------------------------
  const SLOWED = "sending slowed down, retrying…";

  function retryDelayMs(frame) {
    const seconds = Number(frame.retry_after);
    return Math.ceil((Number.isFinite(seconds) && seconds > 0 ? seconds : 1) * 1000);
  }

  function hold(pending) {
    pending.held = true;
    pending.status = SLOWED;
  }

  // A send refused with rate_limited: it stays pending, and it and the room's later sends
  // go again, in order, after retry_after.
  function sendRefused(clientId, frame) {
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
  function releaseHeld(roomId) {
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
  function sendSettled(roomId, clientId) {
    const throttle = state.throttled.get(roomId);
    if (throttle && throttle.inFlight === clientId) releaseHeld(roomId);
  }

  // An edit or delete refused with rate_limited goes again after retry_after.
  function changeRefused(id, frame) {
    const change = state.changes.get(id);
    clearTimeout(change.timer);
    change.slowed = true;
    change.timer = setTimeout(() => {
      if (state.changes.get(id) === change) sendChange(id);
    }, retryDelayMs(frame));
    if (change.room === state.current) renderMessages(false);
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

  function receiptRefused(frame) {
    if (state.receiptRetry) return;
    state.receiptRetry = setTimeout(() => {
      state.receiptRetry = null;
      if (document.visibilityState === "visible") markRead();
    }, retryDelayMs(frame));
  }

  // --- Editing and deleting one's own messages -----------------------------------------
  function sendChange(id) {
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

  function requestChange(message, kind, body) {
    showError("");
    state.changes.set(message.id, { room: message.room, kind, body, timer: null });
    sendChange(message.id);
    renderMessages(false);
  }

  function resolveChange(id) {
    const change = state.changes.get(id);
    if (!change) return;
    clearTimeout(change.timer);
    state.changes.delete(id);
  }

  function startEditing(message) {
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

  function stopEditing() {
    state.editing = null;
    renderMessages(false);
    $("composer-input").focus();
  }

  function saveEdit(message) {
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
  function shows(message, change) {
    return message.deleted || (change.kind === "edit" && !!message.edited_at && message.body === change.body);
  }

  // Re-sends unconfirmed edits and deletes after a reconnect, unless what came back
  // already shows them done.
  function resendChanges() {
    for (const [id, change] of state.changes) {
      const message = state.messages.get(change.room)?.get(id);
      if (!message || shows(message, change)) {
        resolveChange(id);
        continue;
      }
      sendChange(id);
    }
  }

  // --- Rendering ----------------------------------------------------------------------
  function actionButton(text, className, onClick) {
    const button = document.createElement("button");
    button.type = "button";
    button.className = "link msg-action " + className;
    button.textContent = text;
    button.addEventListener("click", onClick);
    return button;
  }

  function messageElement(message, pending, change, editing) {
    const item = document.createElement("li");
    const deleted = message.deleted || (change && change.kind === "delete");
    item.className = "message" + (message.sender === me.username ? " mine" : "") + (pending ? " pending" : "");
    if (message.id) item.dataset.id = message.id;
    if (message.seq !== undefined) item.dataset.seq = String(message.seq);
    if (message.client_id) item.dataset.clientId = message.client_id;
    const meta = document.createElement("div");
    meta.className = "meta";
    const sender = document.createElement("span");
    sender.className = "sender";
    sender.textContent = message.sender;
    const time = document.createElement("time");
    time.textContent = message.created_at ? new Date(message.created_at).toLocaleTimeString() : "";
    meta.append(sender, time);
    const edited = !deleted && (message.edited_at || (change && change.kind === "edit"));
    if (edited) {
      const mark = document.createElement("span");
      mark.className = "edited-mark";
      mark.textContent = "(edited)";
      if (message.edited_at) mark.title = new Date(message.edited_at).toLocaleString();
      meta.append(mark);
      item.classList.add("edited");
    }
    const status = document.createElement("span");
    status.className = "status";
    if (change && change.slowed) {
      status.textContent = "slowed down, retrying…";
      item.classList.add("slowed");
    } else {
      status.textContent = pending || (change ? (change.kind === "edit" ? "saving…" : "deleting…") : "");
    }
    if (pending === SLOWED) item.classList.add("slowed");
    meta.append(status);
    item.append(meta);

    if (editing) {
      const form = document.createElement("form");
      form.className = "edit-form";
      form.addEventListener("submit", (event) => {
        event.preventDefault();
        saveEdit(message);
      });
      const input = state.editing.input;
      input.onkeydown = (event) => {
        if (event.key === "Enter" && !event.shiftKey) {
          event.preventDefault();
          form.requestSubmit();
        } else if (event.key === "Escape") {
          event.preventDefault();
          stopEditing();
        }
      };
      const buttons = document.createElement("div");
      buttons.className = "msg-actions";
      const save = document.createElement("button");
      save.type = "submit";
      save.className = "msg-save";
      save.textContent = "Save";
      buttons.append(save, actionButton("Cancel", "msg-cancel", stopEditing));
      form.append(input, buttons);
      item.append(form);
      item.classList.add("editing");
      return item;
    }

    const body = document.createElement("div");
    body.className = "body";
    body.textContent = deleted ? "message deleted" : change && change.kind === "edit" ? change.body : message.body;
    if (deleted) item.classList.add("deleted");
    item.append(body);

    const mine = message.sender === me.username && message.id && !pending && !deleted && !change;
    if (mine) {
      const actions = document.createElement("div");
      actions.className = "msg-actions";
      if (state.confirmingDelete === message.id) {
        const question = document.createElement("span");
        question.className = "msg-question";
        question.textContent = "Delete this message?";
        actions.append(
          question,
          actionButton("yes", "msg-delete-yes", () => {
            state.confirmingDelete = null;
            requestChange(message, "delete");
          }),
          actionButton("no", "msg-delete-no", () => {
            state.confirmingDelete = null;
            renderMessages(false);
          }),
        );
      } else {
        actions.append(
          actionButton("edit", "msg-edit", () => startEditing(message)),
          actionButton("delete", "msg-delete", () => {
            state.editing = null;
            state.confirmingDelete = message.id;
            renderMessages(false);
          }),
        );
      }
      meta.append(actions);
    }
    return item;
  }

  // Re-renders the open room, reusing the element of every message that did not
  // change (an inline edit in progress keeps its text, caret and focus).
  function renderMessages(scrollToEnd) {
    const list = $("messages");
    const atBottom = list.scrollHeight - list.scrollTop - list.clientHeight < 40;
    const roomId = state.current;
    const known = state.messages.get(roomId) || new Map();
    const sorted = [...known.values()].sort((a, b) => a.seq - b.seq);
    const wanted = [];
    for (const message of sorted) {
      const change = state.changes.get(message.id) || null;
      const editing = !!(state.editing && state.editing.id === message.id && !message.deleted && !change);
      const signature = JSON.stringify([
        message.seq, message.body, !!message.deleted, message.edited_at || null, message.sender,
        change && [change.kind, change.body, !!change.slowed], editing, state.confirmingDelete === message.id,
      ]);
      wanted.push({ key: "m:" + message.id, signature, make: () => messageElement(message, null, change, editing) });
    }
    for (const [clientId, pending] of state.pending) {
      if (pending.room !== roomId) continue;
      const message = { client_id: clientId, sender: me.username, body: pending.body };
      wanted.push({ key: "p:" + clientId, signature: JSON.stringify([pending.body, pending.status]), make: () => messageElement(message, pending.status, null, false) });
    }
    const nodes = new Map();
    const elements = wanted.map(({ key, signature, make }) => {
      const old = state.nodes.get(key);
      const element = old && old.signature === signature ? old.element : make();
      nodes.set(key, { signature, element });
      return element;
    });
    state.nodes = nodes;
    const focused = document.activeElement;
    let cursor = list.firstChild;
    for (const element of elements) {
      if (element === cursor) {
        cursor = cursor.nextSibling;
        continue;
      }
      list.insertBefore(element, cursor);
    }
    while (cursor) {
      const next = cursor.nextSibling;
      cursor.remove();
      cursor = next;
    }
    if (focused && focused !== document.activeElement && list.contains(focused)) focused.focus();
    if (scrollToEnd || atBottom) list.scrollTop = list.scrollHeight;
  }

  // --- Socket --------------------------------------------------------------------
  function setConnection(text, kind) {
    const element = $("connection-state");
    element.textContent = text;
    element.dataset.state = kind;
  }

  function socketOpen() {
    return !!state.socket && state.socket.readyState === WebSocket.OPEN;
  }

  function sendFrame(frame) {
    if (socketOpen()) {
      state.socket.send(JSON.stringify(frame));
      return true;
    }
    return false;
  }

  function clearSocketTimers() {
    clearTimeout(state.pongTimer);
    clearTimeout(state.openTimer);
    if (state.resuming) clearTimeout(state.resuming.timer);
    if (state.resumeRetry) clearTimeout(state.resumeRetry.timer);
    state.pongTimer = state.openTimer = state.resuming = state.resumeRetry = null;
    state.resumesInFlight = [];
  }

  function connect() {
    clearTimeout(state.reconnectTimer);
    state.reconnectTimer = null;
    if (state.socket) return;
    const scheme = location.protocol === "https:" ? "wss" : "ws";
    const socket = new WebSocket(`${scheme}://${location.host}/ws/`);
    state.socket = socket;
    if (!state.everOnline) setConnection("connecting…", "connecting");
    state.openTimer = setTimeout(() => {
      if (state.socket === socket) drop();
    }, OPEN_TIMEOUT_MS);
    socket.addEventListener("open", () => {
      if (state.socket !== socket) return;
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
      state.socket = null;
      lost();
    });
  }

  // kind "open": the resume of a new socket, after which unacknowledged sends go again;
  // "gap": rooms that missed frames on a socket that stays.
  function resume(cursors, kind) {
    if (!sendFrame({ type: "resume", rooms: cursors })) return;
    state.resumesInFlight.push({ kind, cursors });
    const socket = state.socket;
    if (state.resuming) clearTimeout(state.resuming.timer);
    const rooms = new Set([...(state.resuming ? state.resuming.rooms : []), ...Object.keys(cursors)]);
    state.resuming = {
      rooms,
      timer: setTimeout(() => {
        if (state.socket === socket) drop();
      }, RESUME_TIMEOUT_MS),
    };
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
      for (const roomId of reload) loadRoom(roomId).catch((error) => showError(error.message));
      if (state.current) renderMessages(false);
      return;
    }
    const firstTime = !state.everOnline;
    state.everOnline = true;
    state.backoff = 500;
    setConnection("online", "online");
    for (const roomId of reload) {
      // The room's topic was re-created: what is shown of it is not to be trusted.
      loadRoom(roomId)
        .then(() => {
          if (roomId === state.current) renderMessages(false);
        })
        .catch((error) => showError(error.message));
    }
    // Sends that were never acknowledged go again; the same client_id makes a retry
    // harmless. Those the resume showed delivered are no longer pending. In a room whose
    // sends were refused with rate_limited they wait their turn, in order.
    for (const [clientId, pending] of state.pending) {
      if (pending.failed) continue;
      if (state.throttled.has(pending.room)) hold(pending);
      else sendPending(clientId, pending);
    }
    for (const [roomId, throttle] of state.throttled) if (!throttle.timer) releaseHeld(roomId);
    resendChanges();
    if (state.current) {
      renderMessages(false);
      if (document.visibilityState === "visible") markRead();
    }
    // Rooms that are not loaded (new ones, unread counts) are fresh in the list.
    if (!firstTime) loadRooms().catch(() => {});
  }

  // The socket is dead or must be replaced: stop listening to it and reconnect.
  function drop() {
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
    const delay = navigator.onLine === false ? OFFLINE_RETRY_MS : state.backoff;
    state.reconnectTimer = setTimeout(connect, delay);
    state.backoff = Math.min(state.backoff * 2, MAX_BACKOFF_MS);
  }

  // A ping that needs a pong in time: a socket that died silently (a laptop asleep,
  // a network that went away) is noticed and replaced.
  function probe() {
    if (!socketOpen() || state.pongTimer) return;
    const socket = state.socket;
    sendFrame({ type: "ping" });
    state.pongTimer = setTimeout(() => {
      state.pongTimer = null;
      if (state.socket === socket) drop();
    }, PONG_TIMEOUT_MS);
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
        setPendingStatus(frame.client_id, "sent");
        sendSettled(frame.room, frame.client_id);
        break;
      case "message.rejected":
        if (frame.reason === "rate_limited") {
          rateLimited(frame);
        } else if (frame.client_id && state.pending.has(frame.client_id)) {
          state.pending.get(frame.client_id).failed = true;
          setPendingStatus(frame.client_id, `not sent: ${frame.detail}`);
          sendSettled(state.pending.get(frame.client_id).room, frame.client_id);
        } else if (frame.id) {
          // An edit or a delete was refused.
          resolveChange(frame.id);
          showError(frame.detail);
          if (frame.room === state.current) renderMessages(false);
        } else if (!frame.client_id && state.resuming && state.resuming.rooms.has(frame.room)) {
          // A resumed room we are no longer in: forget it.
          state.messages.delete(frame.room);
          state.cursors.delete(frame.room);
          if (state.current === frame.room) {
            state.current = null;
            $("room-title").textContent = "Pick a conversation";
            $("room-members").textContent = "";
            $("composer").hidden = true;
            renderMessages(false);
          }
          loadRooms().catch(() => {});
        } else {
          showError(frame.detail);
        }
        break;
      case "error": {
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

  // --- Forms -----------------------------------------------------------------------
  $("composer").addEventListener("submit", (event) => {
    event.preventDefault();
    const input = $("composer-input");
    const body = input.value;
    if (!body.trim() || !state.current) return;
    input.value = "";
    send(body);
  });
  $("composer-input").addEventListener("keydown", (event) => {
    if (event.key === "Enter" && !event.shiftKey) {
      event.preventDefault();
      $("composer").requestSubmit();
    }
  });
  $("dm-form").addEventListener("submit", async (event) => {
    event.preventDefault();
    showError("");
    try {
      const room = await api("POST", "/api/dms/", { username: $("dm-username").value.trim() });
      $("dm-username").value = "";
      await loadRooms();
      await openRoom(room.id);
    } catch (error) {
      showError(error.message);
    }
  });
  $("group-form").addEventListener("submit", async (event) => {
    event.preventDefault();
    showError("");
    const members = $("group-members").value.split(",").map((name) => name.trim()).filter(Boolean);
    try {
      const room = await api("POST", "/api/rooms/", { name: $("group-name").value, members });
      $("group-name").value = "";
      $("group-members").value = "";
      await loadRooms();
      await openRoom(room.id);
    } catch (error) {
      showError(error.message);
    }
  });
  $("messages").addEventListener("scroll", () => {
    if ($("messages").scrollTop < 60) loadOlder();
  });
  document.addEventListener("visibilitychange", () => {
    if (document.visibilityState === "visible") {
      markRead();
      probe(); // after a sleep the socket may be dead without knowing it
    }
  });
  window.addEventListener("offline", () => drop());
  window.addEventListener("online", () => {
    state.backoff = 500;
    if (state.socket) probe();
    else connect();
  });
  setInterval(probe, PING_EVERY_MS);

  loadRooms()
    .catch((error) => showError(error.message))
    .finally(connect);
})();
