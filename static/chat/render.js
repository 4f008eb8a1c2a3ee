// The open conversation: messages grouped by sender, day separators, times, links,
// each of my messages' delivery status, and the scrolling rules (the view stays at
// the newest message unless the reader scrolled up; then a "new messages" pill).
// Message text is only ever put in the page as text nodes (textContent), never as
// HTML; links are made by splitting the text, each an <a> whose href is an http(s) URL.

import { attachmentsElement, attachmentsSignature } from "./attachments.js";
import { requestChange, startEditing, saveEdit, stopEditing } from "./edits.js";
import { messageStatus } from "./presence.js";
import { sendReport, startReporting, stopReporting } from "./reports.js";
import { SLOWED } from "./composer.js";
import { $, me, state } from "./state.js";

const GROUP_WITHIN_MS = 5 * 60 * 1000; // a sender's messages this close together are one group
const URL_PATTERN = /\bhttps?:\/\/[^\s<>"']+/gi;
const TRAILING = /[.,;:!?)\]}'"]+$/; // punctuation after a link is not part of it

// Appends the text to the element, with each http(s) URL in it as a link.
export function appendLinkified(element, text) {
  let at = 0;
  for (const match of text.matchAll(URL_PATTERN)) {
    let link = match[0];
    const trailing = link.match(TRAILING);
    if (trailing && !(trailing[0] === ")" && link.includes("("))) link = link.slice(0, -trailing[0].length);
    let url = null;
    try {
      url = new URL(link);
    } catch (error) {
      url = null;
    }
    if (!url || (url.protocol !== "http:" && url.protocol !== "https:")) continue;
    element.append(document.createTextNode(text.slice(at, match.index)));
    const anchor = document.createElement("a");
    anchor.href = url.href;
    anchor.textContent = link;
    anchor.target = "_blank";
    anchor.rel = "noopener noreferrer";
    element.append(anchor);
    at = match.index + link.length;
  }
  element.append(document.createTextNode(text.slice(at)));
}

function dayKey(date) {
  return `${date.getFullYear()}-${date.getMonth() + 1}-${date.getDate()}`;
}

export function dayLabel(date) {
  const today = new Date();
  const yesterday = new Date(today.getFullYear(), today.getMonth(), today.getDate() - 1);
  if (dayKey(date) === dayKey(today)) return "Today";
  if (dayKey(date) === dayKey(yesterday)) return "Yesterday";
  const sameYear = date.getFullYear() === today.getFullYear();
  return date.toLocaleDateString(undefined, { weekday: "long", day: "numeric", month: "long", year: sameYear ? undefined : "numeric" });
}

export function shortTime(date) {
  return date.toLocaleTimeString(undefined, { hour: "2-digit", minute: "2-digit" });
}

function actionButton(text, className, label, onClick) {
  const button = document.createElement("button");
  button.type = "button";
  button.className = "link msg-action " + className;
  button.textContent = text;
  if (label) button.setAttribute("aria-label", label);
  button.addEventListener("click", onClick);
  return button;
}

function tickElement(status) {
  const tick = document.createElement("span");
  tick.className = "tick";
  tick.dataset.status = status.status;
  const icon = document.createElement("span");
  icon.className = "tick-icon";
  icon.textContent = status.icon;
  tick.append(icon, status.text ? " " + status.text : "");
  tick.title = status.title;
  tick.setAttribute("role", "img");
  tick.setAttribute("aria-label", status.title);
  return tick;
}

function messageElement(message, pendingSend, change, editing, continued, status) {
  const pending = pendingSend ? pendingSend.status : "";
  const item = document.createElement("li");
  const deleted = message.deleted || (change && change.kind === "delete");
  item.className = "message" + (message.sender === me.username ? " mine" : "") + (pendingSend ? " pending" : "");
  if (continued) item.classList.add("continued");
  if (message.id) item.dataset.id = message.id;
  if (message.seq !== undefined) item.dataset.seq = String(message.seq);
  if (message.client_id) item.dataset.clientId = message.client_id;
  const meta = document.createElement("div");
  meta.className = "meta";
  const sender = document.createElement("span");
  sender.className = "sender";
  sender.textContent = message.sender;
  const time = document.createElement("time");
  if (message.created_at) {
    const at = new Date(message.created_at);
    time.dateTime = message.created_at;
    time.textContent = shortTime(at);
    time.title = at.toLocaleString();
  }
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
  const statusText = document.createElement("span");
  statusText.className = "status";
  if (change && change.slowed) {
    statusText.textContent = "slowed down, retrying…";
    item.classList.add("slowed");
  } else {
    statusText.textContent = pending || (change ? (change.kind === "edit" ? "saving…" : "deleting…") : "");
  }
  if (pending === SLOWED) item.classList.add("slowed");
  meta.append(statusText);
  if (status && !deleted) meta.append(tickElement(status));
  item.append(meta);

  if (editing) {
    item.append(editForm(message));
    item.classList.add("editing");
    return item;
  }

  const body = document.createElement("div");
  body.className = "body";
  if (deleted) body.textContent = "message deleted";
  else appendLinkified(body, change && change.kind === "edit" ? change.body : message.body);
  if (deleted) item.classList.add("deleted");
  item.append(body);
  // A deleted message's files are gone with it.
  const files = deleted ? null : attachmentsElement(message.attachments);
  if (files) item.append(files);

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
        actionButton("yes", "msg-delete-yes", "", () => {
          state.confirmingDelete = null;
          requestChange(message, "delete");
        }),
        actionButton("no", "msg-delete-no", "", () => {
          state.confirmingDelete = null;
          renderMessages(false);
        }),
      );
    } else {
      actions.append(
        actionButton("edit", "msg-edit", "", () => startEditing(message)),
        actionButton("delete", "msg-delete", "", () => {
          state.editing = null;
          state.confirmingDelete = message.id;
          renderMessages(false);
        }),
      );
    }
    meta.append(actions);
  }
  const others = message.sender !== me.username && message.id && !deleted;
  if (others) {
    const reporting = state.reporting && state.reporting.id === message.id;
    const actions = document.createElement("div");
    actions.className = "msg-actions";
    if (state.reported.has(message.id)) {
      const done = document.createElement("span");
      done.className = "msg-reported";
      done.textContent = "Reported";
      actions.append(done);
    } else if (!reporting) {
      actions.append(actionButton("report", "msg-report", "Report this message", () => startReporting(message)));
    }
    meta.append(actions);
    if (reporting) {
      item.append(reportForm(message));
      item.classList.add("reporting");
    }
  }
  return item;
}

function reportForm(message) {
  const reporting = state.reporting;
  const form = document.createElement("form");
  form.className = "report-form";
  form.addEventListener("submit", (event) => {
    event.preventDefault();
    sendReport(message);
  });
  const input = reporting.input;
  input.disabled = reporting.sending;
  input.onkeydown = (event) => {
    if (event.key === "Escape") {
      event.preventDefault();
      stopReporting();
    }
  };
  const send = document.createElement("button");
  send.type = "submit";
  send.className = "msg-report-send";
  send.textContent = reporting.sending ? "Reporting…" : "Report";
  send.disabled = reporting.sending;
  const buttons = document.createElement("div");
  buttons.className = "msg-actions";
  buttons.append(send, actionButton("Cancel", "msg-report-cancel", "Cancel the report", stopReporting));
  form.append(input, buttons);
  return form;
}

function editForm(message) {
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
  buttons.append(save, actionButton("Cancel", "msg-cancel", "Cancel the edit", stopEditing));
  form.append(input, buttons);
  return form;
}

function separator(label) {
  const item = document.createElement("li");
  item.className = "day-separator";
  item.setAttribute("role", "separator");
  item.textContent = label;
  return item;
}

function wantedElements(roomId) {
  const known = state.messages.get(roomId) || new Map();
  const sorted = [...known.values()].sort((a, b) => a.seq - b.seq);
  const shown = sorted.map((message) => ({ message, pending: null, key: "m:" + message.id }));
  for (const [clientId, pending] of state.pending) {
    if (pending.room !== roomId) continue;
    const message = { client_id: clientId, sender: me.username, body: pending.body, attachments: pending.attachments, created_at: pending.at };
    shown.push({ message, pending, key: "p:" + clientId });
  }
  const wanted = [];
  let previous = null;
  for (const { message, pending, key } of shown) {
    const at = new Date(message.created_at || Date.now());
    const day = dayKey(at);
    if (!previous || previous.day !== day) {
      const label = dayLabel(at);
      wanted.push({ key: "d:" + day, signature: label, make: () => separator(label) });
    }
    const continued = !!previous && previous.day === day && previous.sender === message.sender && at - previous.at < GROUP_WITHIN_MS;
    previous = { day, sender: message.sender, at };
    const change = message.id ? state.changes.get(message.id) || null : null;
    const editing = !!(state.editing && state.editing.id === message.id && !message.deleted && !change);
    const status = message.sender === me.username ? messageStatus(roomId, message, pending) : null;
    const signature = JSON.stringify([
      message.seq, message.body, attachmentsSignature(message.attachments), !!message.deleted, message.edited_at || null, message.sender,
      pending && [pending.status, !!pending.acked],
      change && [change.kind, change.body, !!change.slowed], editing, state.confirmingDelete === message.id,
      state.reporting && state.reporting.id === message.id && [state.reporting.sending], state.reported.has(message.id),
      continued, status && [status.status, status.text, status.title],
    ]); // prettier-ignore
    wanted.push({ key, signature, make: () => messageElement(message, pending, change, editing, continued, status) });
  }
  return wanted;
}

function atBottom(list) {
  return list.scrollHeight - list.scrollTop - list.clientHeight < 40;
}

// Re-renders the open room, reusing the element of every message that did not change
// (an inline edit in progress keeps its text, caret and focus). `scrollToEnd`: go to the
// newest message; `arrived`: a new message of someone else came (the pill, if scrolled up).
export function renderMessages(scrollToEnd, arrived = false) {
  const list = $("messages");
  const wasAtBottom = atBottom(list);
  const nodes = new Map();
  const elements = wantedElements(state.current).map(({ key, signature, make }) => {
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
  if (scrollToEnd || wasAtBottom) scrollToNewest();
  else if (arrived) showPill(true);
}

export function scrollToNewest() {
  const list = $("messages");
  list.scrollTop = list.scrollHeight;
  showPill(false);
}

export function showPill(shown) {
  state.unseenBelow = shown;
  $("new-messages").hidden = !shown;
}

// Runs a change of the list (older messages put above) keeping what is on screen in place.
export function keepPosition(change) {
  const list = $("messages");
  const fromBottom = list.scrollHeight - list.scrollTop;
  change();
  list.scrollTop = list.scrollHeight - fromBottom;
}

export function onMessagesScrolled(loadOlder) {
  const list = $("messages");
  if (list.scrollTop < 60) loadOlder();
  if (atBottom(list)) showPill(false);
}
