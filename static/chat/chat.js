// EchoStream's browser client: one WebSocket for all rooms, history over HTTP.
// Message text is only ever put in the page with textContent, never as HTML.
(() => {
  "use strict";

  const me = JSON.parse(document.getElementById("me-data").textContent);
  const $ = (id) => document.getElementById(id);
  const state = {
    rooms: new Map(), // id -> room from /api/rooms/
    current: null,
    messages: new Map(), // room id -> Map(message id -> message)
    pending: new Map(), // client_id -> {room, body}
    hasMore: new Map(), // room id -> bool (older history exists)
    loadingOlder: false,
    socket: null,
    backoff: 500,
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
    const room = state.rooms.get(roomId);
    room.unread = 0;
    $("room-title").textContent = room.name;
    $("room-members").textContent = room.members.join(", ");
    $("composer").hidden = false;
    renderRooms();
    if (!state.messages.has(roomId)) {
      state.messages.set(roomId, new Map());
      const page = await api("GET", `/api/rooms/${roomId}/messages/?limit=50`);
      page.messages.forEach((message) => state.messages.get(roomId).set(message.id, message));
      state.hasMore.set(roomId, page.has_more);
    }
    renderMessages(true);
    markRead();
    $("composer-input").focus();
  }

  async function loadOlder() {
    const roomId = state.current;
    if (!roomId || state.loadingOlder || !state.hasMore.get(roomId)) return;
    const known = [...state.messages.get(roomId).values()];
    if (!known.length) return;
    state.loadingOlder = true;
    try {
      const oldest = Math.min(...known.map((m) => m.seq));
      const page = await api("GET", `/api/rooms/${roomId}/messages/?before=${oldest}&limit=50`);
      page.messages.forEach((message) => state.messages.get(roomId).set(message.id, message));
      state.hasMore.set(roomId, page.has_more);
      const list = $("messages");
      const fromBottom = list.scrollHeight - list.scrollTop;
      renderMessages(false);
      list.scrollTop = list.scrollHeight - fromBottom;
    } finally {
      state.loadingOlder = false;
    }
  }

  // --- Messages ----------------------------------------------------------------
  function messageElement(message, pending) {
    const item = document.createElement("li");
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
    const status = document.createElement("span");
    status.className = "status";
    status.textContent = pending ? pending : "";
    meta.append(sender, time, status);
    const body = document.createElement("div");
    body.className = "body";
    body.textContent = message.deleted ? "message deleted" : message.body;
    if (message.deleted) item.classList.add("deleted");
    item.append(meta, body);
    return item;
  }

  function renderMessages(scrollToEnd) {
    const list = $("messages");
    const atBottom = list.scrollHeight - list.scrollTop - list.clientHeight < 40;
    const roomId = state.current;
    const sorted = [...state.messages.get(roomId).values()].sort((a, b) => a.seq - b.seq);
    const items = sorted.map((message) => messageElement(message, null));
    for (const [clientId, pending] of state.pending) {
      if (pending.room !== roomId) continue;
      items.push(messageElement({ client_id: clientId, sender: me.username, body: pending.body }, pending.status));
    }
    list.replaceChildren(...items);
    if (scrollToEnd || atBottom) list.scrollTop = list.scrollHeight;
  }

  function receive(message, isNew) {
    const room = state.rooms.get(message.room);
    if (!room) {
      loadRooms(); // a room we were just added to
      return;
    }
    room.last_seq = Math.max(room.last_seq ?? -1, message.seq);
    if (message.client_id && message.sender === me.username) state.pending.delete(message.client_id);
    const known = state.messages.get(message.room);
    if (known) known.set(message.id, message);
    if (message.room === state.current) {
      renderMessages(false);
      if (document.visibilityState === "visible") markRead();
    } else if (isNew && message.sender !== me.username) {
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
    state.pending.set(clientId, { room: state.current, body, status: "sending…" });
    renderMessages(true);
    sendFrame({ type: "message.send", room: state.current, client_id: clientId, body });
  }

  // --- Socket --------------------------------------------------------------------
  function setConnection(text, kind) {
    const element = $("connection-state");
    element.textContent = text;
    element.dataset.state = kind;
  }

  function sendFrame(frame) {
    if (state.socket && state.socket.readyState === WebSocket.OPEN) {
      state.socket.send(JSON.stringify(frame));
      return true;
    }
    return false;
  }

  function connect() {
    const scheme = location.protocol === "https:" ? "wss" : "ws";
    const socket = new WebSocket(`${scheme}://${location.host}/ws/`);
    state.socket = socket;
    setConnection("connecting…", "connecting");
    socket.addEventListener("open", () => {
      state.backoff = 500;
      setConnection("online", "online");
      // Sends that were never acknowledged go again; the same client_id makes
      // a retry harmless.
      for (const [clientId, pending] of state.pending) {
        if (pending.failed) continue;
        sendFrame({ type: "message.send", room: pending.room, client_id: clientId, body: pending.body });
      }
      catchUp();
    });
    socket.addEventListener("message", (event) => onFrame(JSON.parse(event.data)));
    socket.addEventListener("close", (event) => {
      if (event.code === 4401) {
        location.href = "/login/";
        return;
      }
      setConnection("reconnecting…", "reconnecting");
      setTimeout(connect, state.backoff);
      state.backoff = Math.min(state.backoff * 2, 10000);
    });
  }

  // After a reconnect, fetch what arrived while the socket was down.
  async function catchUp() {
    await loadRooms();
    for (const [roomId, known] of state.messages) {
      const seqs = [...known.values()].map((m) => m.seq);
      const after = seqs.length ? Math.max(...seqs) : -1;
      let hasMore = true;
      let cursor = after;
      while (hasMore) {
        const page = await api("GET", `/api/rooms/${roomId}/messages/?after=${cursor}&limit=100`);
        page.messages.forEach((message) => {
          known.set(message.id, message);
          // A send whose message.new was missed while the socket was down: the
          // retry is only acknowledged, so the delivered copy replaces the bubble.
          if (message.client_id && message.sender === me.username) state.pending.delete(message.client_id);
        });
        hasMore = page.has_more && page.messages.length > 0;
        if (page.messages.length) cursor = page.messages[page.messages.length - 1].seq;
      }
    }
    if (state.current) renderMessages(false);
  }

  function onFrame(frame) {
    switch (frame.type) {
      case "message.new":
        receive(frame.message, true);
        break;
      case "message.updated":
        receive(frame.message, false);
        break;
      case "message.ack":
        setPendingStatus(frame.client_id, "sent");
        break;
      case "message.rejected":
        if (frame.client_id && state.pending.has(frame.client_id)) {
          state.pending.get(frame.client_id).failed = true;
          setPendingStatus(frame.client_id, `not sent: ${frame.detail}`);
        } else {
          showError(frame.detail);
        }
        break;
      case "error":
        showError(frame.detail);
        break;
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
    if (document.visibilityState === "visible") markRead();
  });
  setInterval(() => sendFrame({ type: "ping" }), 20000);

  loadRooms().then(connect);
})();
