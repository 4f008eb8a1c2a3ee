// Files attached to messages: choosing them (the Attach button, dropping them on the
// conversation, pasting them into the message box), uploading them with a progress bar,
// and showing what messages carry (images as thumbnails, other files as download chips).
//
// Uploads go one request per file to POST /api/rooms/<id>/attachments/ before the message
// is sent; the message then names them by id. XMLHttpRequest, not fetch: only it reports
// upload progress. Files waiting to be sent belong to the room they were added in, like
// drafts: switching rooms keeps them (and their uploads go on) until that room is back.
// URLs from the server go into href/src only when they are http(s) (relative ones resolve
// to our own origin); names are only ever text.

import { describe, UNREACHABLE, csrfToken } from "./api.js";
import { $, state } from "./state.js";

export const MAX_BYTES = 25 * 1024 * 1024; // the server's limit; it is the judge, this spares a useless upload
const THUMB_BOX = 240; // px: the largest side a thumbnail is shown at

let nextKey = 0;
let onChange = () => {}; // the composer's hook: Send is enabled or not

// --- What is shown -----------------------------------------------------------------------
export function humanSize(bytes) {
  const size = Number(bytes) || 0;
  if (size < 1024) return `${size} byte${size === 1 ? "" : "s"}`;
  const units = ["KB", "MB", "GB"];
  let value = size / 1024;
  let unit = 0;
  while (value >= 1024 && unit < units.length - 1) {
    value /= 1024;
    unit += 1;
  }
  return `${value < 10 ? value.toFixed(1) : Math.round(value)} ${units[unit]}`;
}

// An http(s) URL (a relative one is of our own origin), or null: never javascript: or data:.
export function safeUrl(raw) {
  if (typeof raw !== "string" || !raw) return null;
  try {
    const url = new URL(raw, location.origin);
    return url.protocol === "http:" || url.protocol === "https:" ? url.href : null;
  } catch (error) {
    return null;
  }
}

// The thumbnail's size on screen, known before it loads, so that nothing jumps when it does.
function thumbSize(attachment) {
  const width = Number(attachment.width);
  const height = Number(attachment.height);
  if (!(width > 0 && height > 0)) return null;
  const scale = Math.min(1, THUMB_BOX / Math.max(width, height));
  return { width: Math.max(1, Math.round(width * scale)), height: Math.max(1, Math.round(height * scale)) };
}

function imageElement(attachment, href) {
  const src = safeUrl(attachment.thumbnail_url) || href;
  const link = document.createElement("a");
  link.className = "att-image";
  link.href = href;
  link.target = "_blank";
  link.rel = "noopener noreferrer";
  link.title = `${attachment.filename} (${humanSize(attachment.size)}), opens full size`;
  const image = document.createElement("img");
  image.src = src;
  image.alt = attachment.filename || "image";
  const size = thumbSize(attachment);
  if (size) {
    image.width = size.width;
    image.height = size.height;
  }
  image.loading = "lazy";
  link.append(image);
  return link;
}

function fileElement(attachment, href) {
  const link = document.createElement("a");
  link.className = "att-file";
  link.href = href;
  link.download = attachment.filename || "";
  const name = document.createElement("span");
  name.className = "att-name";
  name.textContent = attachment.filename || "file";
  const size = document.createElement("span");
  size.className = "att-size";
  size.textContent = humanSize(attachment.size);
  link.append(name, " ", size);
  return link;
}

// A message's attachments, or null when it has none worth showing.
export function attachmentsElement(attachments) {
  if (!Array.isArray(attachments) || !attachments.length) return null;
  const list = document.createElement("ul");
  list.className = "attachments";
  for (const attachment of attachments) {
    const href = safeUrl(attachment && attachment.url);
    if (!href) continue;
    const item = document.createElement("li");
    // Only images get a thumbnail (the server makes one for each image it accepts).
    item.append(attachment.thumbnail_url ? imageElement(attachment, href) : fileElement(attachment, href));
    list.append(item);
  }
  return list.childElementCount ? list : null;
}

// What the render signature needs to know: a message whose files changed is drawn again.
export function attachmentsSignature(attachments) {
  return Array.isArray(attachments) ? attachments.map((a) => [a.id, a.url, a.thumbnail_url || null]) : [];
}

// --- Files waiting to be sent ------------------------------------------------------------
// state.uploads: room id -> [{key, room, file, status: "uploading"|"done", xhr, result, element}]
function roomUploads(roomId) {
  if (!state.uploads.has(roomId)) state.uploads.set(roomId, []);
  return state.uploads.get(roomId);
}

export function uploading(roomId) {
  return (state.uploads.get(roomId) || []).some((upload) => upload.status === "uploading");
}

export function hasReady(roomId) {
  return (state.uploads.get(roomId) || []).some((upload) => upload.status === "done");
}

// The uploaded files of the room, for the message being sent: they leave the composer.
export function takeReady(roomId) {
  const uploads = state.uploads.get(roomId) || [];
  const ready = uploads.filter((upload) => upload.status === "done").map((upload) => upload.result);
  state.uploads.set(roomId, uploads.filter((upload) => upload.status !== "done"));
  showError("");
  renderUploads();
  return ready;
}

function showError(text) {
  $("attach-error").textContent = text;
}

function forget(upload) {
  const uploads = state.uploads.get(upload.room) || [];
  state.uploads.set(upload.room, uploads.filter((other) => other !== upload));
  renderUploads();
}

function failed(upload, text) {
  forget(upload);
  // Errors are told in the room the file was added in; elsewhere they would puzzle.
  if (upload.room === state.current) showError(`${upload.file.name}: ${text}`);
}

function uploadError(xhr) {
  let data = null;
  try {
    data = JSON.parse(xhr.responseText);
  } catch (error) {
    data = null;
  }
  if (xhr.status === 413) return `That file is larger than ${humanSize(MAX_BYTES)}.`;
  if (xhr.status === 400 || xhr.status === 404) {
    const detail = data?.error?.detail || "the server refused it";
    return `That file could not be uploaded: ${detail}`;
  }
  // Signed out, rate limited, the server down: the same sentences as every other request.
  return describe({ status: xhr.status, headers: { get: (name) => xhr.getResponseHeader(name) } }, data);
}

function start(upload) {
  const xhr = new XMLHttpRequest();
  upload.xhr = xhr;
  xhr.open("POST", `/api/rooms/${encodeURIComponent(upload.room)}/attachments/`);
  xhr.withCredentials = true;
  xhr.setRequestHeader("X-CSRFToken", csrfToken());
  xhr.upload.addEventListener("progress", (event) => {
    if (event.lengthComputable) setProgress(upload, Math.round((event.loaded / event.total) * 100));
  });
  xhr.addEventListener("load", () => {
    let result = null;
    try {
      result = JSON.parse(xhr.responseText);
    } catch (error) {
      result = null;
    }
    if (xhr.status === 201 && result && result.id) {
      upload.status = "done";
      upload.result = result;
      upload.xhr = null;
      upload.element = null; // drawn again, as a chip with a remove button
      renderUploads();
    } else {
      failed(upload, xhr.status === 201 ? "EchoStream's answer could not be read. Try again." : uploadError(xhr));
    }
  });
  xhr.addEventListener("error", () => failed(upload, UNREACHABLE));
  // "abort": the person cancelled it; the chip is already gone.
  const form = new FormData();
  form.append("file", upload.file, upload.file.name);
  xhr.send(form);
}

export function addFiles(files) {
  const roomId = state.current;
  if (!roomId) return;
  showError("");
  for (const file of files) {
    if (file.size > MAX_BYTES) {
      showError(`${file.name}: That file is larger than ${humanSize(MAX_BYTES)}.`);
      continue;
    }
    const upload = { key: ++nextKey, room: roomId, file, status: "uploading", progress: 0, xhr: null, result: null, element: null };
    roomUploads(roomId).push(upload);
    start(upload);
  }
  renderUploads();
}

function setProgress(upload, percent) {
  upload.progress = percent;
  const bar = upload.element && upload.element.querySelector("[role=progressbar]");
  if (!bar) return;
  bar.setAttribute("aria-valuenow", String(percent));
  bar.firstChild.style.width = `${percent}%`; // CSSOM, which the CSP allows (style attributes it would not)
}

function chipElement(upload) {
  const item = document.createElement("li");
  item.className = "pending-file";
  item.dataset.status = upload.status;
  const name = document.createElement("span");
  name.className = "att-name";
  name.textContent = upload.file.name;
  const size = document.createElement("span");
  size.className = "att-size";
  size.textContent = humanSize(upload.file.size);
  item.append(name, size);
  const button = document.createElement("button");
  button.type = "button";
  button.className = "link att-remove";
  if (upload.status === "uploading") {
    const bar = document.createElement("div");
    bar.className = "att-progress";
    bar.setAttribute("role", "progressbar");
    bar.setAttribute("aria-valuemin", "0");
    bar.setAttribute("aria-valuemax", "100");
    bar.setAttribute("aria-valuenow", String(upload.progress));
    bar.setAttribute("aria-label", `Uploading ${upload.file.name}`);
    const fill = document.createElement("div");
    fill.className = "att-progress-fill";
    fill.style.width = `${upload.progress}%`;
    bar.append(fill);
    item.append(bar);
    button.textContent = "Cancel";
    button.setAttribute("aria-label", `Cancel the upload of ${upload.file.name}`);
    button.addEventListener("click", () => {
      if (upload.xhr) upload.xhr.abort();
      forget(upload);
      $("composer-input").focus();
    });
  } else {
    button.textContent = "×";
    button.setAttribute("aria-label", `Remove ${upload.file.name}`);
    button.addEventListener("click", () => {
      forget(upload);
      $("composer-input").focus();
    });
  }
  item.append(button);
  return item;
}

// The open room's waiting files, above the message box.
export function renderUploads() {
  const list = $("pending-files");
  const uploads = (state.current && state.uploads.get(state.current)) || [];
  for (const upload of uploads) if (!upload.element) upload.element = chipElement(upload);
  list.replaceChildren(...uploads.map((upload) => upload.element));
  list.hidden = !uploads.length;
  onChange();
}

// A room left: its uploads stop and its waiting files go (they could never be sent).
export function forgetUploads(roomId) {
  for (const upload of state.uploads.get(roomId) || []) if (upload.xhr) upload.xhr.abort();
  state.uploads.delete(roomId);
  if (roomId === state.current) renderUploads();
}

// --- Choosing files ----------------------------------------------------------------------
function carriesFiles(event) {
  return !!event.dataTransfer && [...event.dataTransfer.types].includes("Files");
}

export function setUpAttachments(changed) {
  onChange = changed;
  const input = $("attach-input");
  $("attach-button").addEventListener("click", () => input.click());
  input.addEventListener("change", () => {
    addFiles([...input.files]);
    input.value = ""; // choosing the same file again is a change too
  });

  // Dropping files anywhere on the open conversation; the hint shows while they are dragged
  // over it. dragenter/dragleave come for every child crossed: a count says when it left.
  const room = document.querySelector("main.room");
  const hint = $("drop-hint");
  let depth = 0;
  const open = () => !!state.current && !$("composer").hidden;
  room.addEventListener("dragenter", (event) => {
    if (!carriesFiles(event) || !open()) return;
    event.preventDefault();
    depth += 1;
    hint.hidden = false;
  });
  room.addEventListener("dragover", (event) => {
    if (!carriesFiles(event) || !open()) return;
    event.preventDefault(); // what makes it a drop target
    event.dataTransfer.dropEffect = "copy";
  });
  room.addEventListener("dragleave", () => {
    depth = Math.max(0, depth - 1);
    if (!depth) hint.hidden = true;
  });
  room.addEventListener("drop", (event) => {
    depth = 0;
    hint.hidden = true;
    if (!carriesFiles(event) || !open()) return;
    event.preventDefault(); // the browser would otherwise open the file in place of the chat
    addFiles([...event.dataTransfer.files]);
  });

  // Pasting a screenshot or a copied file into the message box attaches it; pasted text
  // stays text (a copy from a document can carry both: then the text is pasted as well).
  $("composer-input").addEventListener("paste", (event) => {
    const files = [...(event.clipboardData?.files || [])];
    if (!files.length) return;
    if (!event.clipboardData.getData("text/plain")) event.preventDefault();
    addFiles(files);
  });
}
