// Reporting someone else's message to the moderators. "report" opens a small form under the
// message that asks why; the report goes to POST /api/rooms/<id>/messages/<id>/report/. Once
// the server has it (a second report of the same message answers the one still open) the
// message shows "Reported"; a refusal is said in a sentence (api.js), and the form stays.

import { api, humanError } from "./api.js";
import { renderMessages } from "./render.js";
import { $, showError, state } from "./state.js";

export const REASON_MAX_CHARS = 1000;

export function startReporting(message) {
  state.editing = null;
  state.confirmingDelete = null;
  const input = document.createElement("input");
  input.type = "text";
  input.className = "report-input";
  input.maxLength = REASON_MAX_CHARS;
  input.placeholder = "Why report this message?";
  input.setAttribute("aria-label", "Why report this message");
  state.reporting = { id: message.id, input, sending: false };
  renderMessages(false);
  input.focus();
}

export function stopReporting() {
  state.reporting = null;
  renderMessages(false);
  $("composer-input").focus();
}

export async function sendReport(message) {
  const reporting = state.reporting;
  if (!reporting || reporting.sending) return;
  const reason = reporting.input.value.trim();
  if (!reason) {
    showError("Say why you report this message.");
    reporting.input.focus();
    return;
  }
  showError("");
  reporting.sending = true;
  renderMessages(false);
  const path = `/api/rooms/${encodeURIComponent(message.room)}/messages/${encodeURIComponent(message.id)}/report/`;
  try {
    await api("POST", path, { reason });
    state.reported.add(message.id);
    if (state.reporting === reporting) state.reporting = null;
  } catch (error) {
    reporting.sending = false;
    showError(humanError(error));
  }
  renderMessages(false);
}
