// Finding people and managing groups: the DM box (with usernames suggested as one types,
// from /api/users/?q=), creating a group, and a group's members panel (add, remove, leave).
// A button that waits for the server says so ("Opening…") and cannot be pressed twice;
// the room opens as soon as the API answers, without waiting for the room list.

import { api, humanError } from "./api.js";
import { dot, presenceText } from "./presence.js";
import { asNewRoom, loadRooms, openRoom, renderHeader, renderRooms, roomLeft, upsertRoom } from "./rooms.js";
import { $, me, showError, state } from "./state.js";

const SUGGEST_AFTER_MS = 150;
let suggestTimer = null;
let suggestAsked = "";

// Runs `work` with the button disabled and showing `busyText`; errors go to the person.
async function busy(button, busyText, work) {
  const label = button.textContent;
  button.disabled = true;
  button.textContent = busyText;
  button.setAttribute("aria-busy", "true");
  showError("");
  try {
    await work();
  } catch (error) {
    showError(humanError(error));
  } finally {
    button.disabled = false;
    button.textContent = label;
    button.removeAttribute("aria-busy");
  }
}

async function suggest() {
  const query = $("dm-username").value.trim();
  if (!query || query === suggestAsked) return;
  suggestAsked = query;
  try {
    const data = await api("GET", `/api/users/?q=${encodeURIComponent(query)}`);
    if ($("dm-username").value.trim() !== query) return; // typed on meanwhile
    const options = data.users
      .filter((user) => user.username !== me.username)
      .map((user) => {
        const option = document.createElement("option");
        option.value = user.username;
        option.label = user.online ? `${user.username} (online)` : user.username;
        return option;
      });
    $("user-suggestions").replaceChildren(...options);
  } catch (error) {
    suggestAsked = ""; // suggestions are a help, not a must: the form still works
  }
}

async function openDm(event) {
  event.preventDefault();
  const button = event.submitter || $("dm-form").querySelector("button");
  await busy(button, "Opening…", async () => {
    const room = await api("POST", "/api/dms/", { username: $("dm-username").value.trim() });
    $("dm-username").value = "";
    upsertRoom(asNewRoom(room));
    renderRooms();
    openRoom(room.id);
    loadRooms().catch(() => {});
  });
}

async function createGroup(event) {
  event.preventDefault();
  const button = event.submitter || $("group-form").querySelector("button");
  const members = $("group-members").value.split(",").map((name) => name.trim()).filter(Boolean);
  await busy(button, "Creating…", async () => {
    const room = await api("POST", "/api/rooms/", { name: $("group-name").value, members });
    $("group-name").value = "";
    $("group-members").value = "";
    upsertRoom(asNewRoom(room));
    renderRooms();
    openRoom(room.id);
    loadRooms().catch(() => {});
  });
}

// --- A group's members ------------------------------------------------------------------
export function renderMembers() {
  const room = state.rooms.get(state.current);
  if (!room || room.kind !== "group") return;
  const items = room.members.map((username) => {
    const item = document.createElement("li");
    item.className = "member";
    item.dataset.username = username;
    const name = document.createElement("span");
    name.className = "member-name";
    name.textContent = username === me.username ? `${username} (you)` : username;
    const seen = document.createElement("span");
    seen.className = "member-seen";
    seen.textContent = username === me.username ? "" : presenceText(username);
    item.append(dot(username), name, seen);
    if (username !== me.username && (room.admins || []).includes(me.username)) {
      const remove = document.createElement("button");
      remove.type = "button";
      remove.className = "link member-remove";
      remove.textContent = "remove";
      remove.setAttribute("aria-label", `Remove ${username} from the group`);
      remove.addEventListener("click", () => removeMember(room.id, username, remove));
      item.append(remove);
    }
    return item;
  });
  $("member-list").replaceChildren(...items);
  // Only a group's admins may add members; the server refuses anyone else with 403.
  $("add-member-form").hidden = !(room.admins || []).includes(me.username);
}

function removeMember(roomId, username, button) {
  return busy(button, "removing…", async () => {
    await api("DELETE", `/api/rooms/${encodeURIComponent(roomId)}/members/${encodeURIComponent(username)}/`);
    const room = state.rooms.get(roomId);
    if (room) room.members = room.members.filter((name) => name !== username);
    renderHeader();
  });
}

async function addMember(event) {
  event.preventDefault();
  const roomId = state.current;
  const username = $("add-member-username").value.trim();
  if (!roomId || !username) return;
  await busy(event.submitter || $("add-member-form").querySelector("button"), "Adding…", async () => {
    await api("POST", `/api/rooms/${encodeURIComponent(roomId)}/members/`, { username });
    $("add-member-username").value = "";
    const room = state.rooms.get(roomId);
    if (room && !room.members.includes(username)) room.members = [...room.members, username];
    renderHeader();
  });
}

async function leaveGroup() {
  const roomId = state.current;
  if (!roomId) return;
  state.leaving = roomId;
  await busy($("leave-button"), "Leaving…", async () => {
    await api("DELETE", `/api/rooms/${encodeURIComponent(roomId)}/members/${encodeURIComponent(me.username)}/`);
    roomLeft(roomId); // unless its room.left came first
  });
  state.leaving = null;
}

export function setUpPeople() {
  $("dm-form").addEventListener("submit", openDm);
  $("group-form").addEventListener("submit", createGroup);
  $("dm-username").addEventListener("input", () => {
    clearTimeout(suggestTimer);
    suggestTimer = setTimeout(suggest, SUGGEST_AFTER_MS);
  });
  $("members-button").addEventListener("click", () => {
    const panel = $("members-panel");
    panel.hidden = !panel.hidden;
    $("members-button").setAttribute("aria-expanded", String(!panel.hidden));
    if (!panel.hidden) renderMembers();
  });
  $("add-member-form").addEventListener("submit", addMember);
  $("leave-button").addEventListener("click", leaveGroup);
}
