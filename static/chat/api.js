// HTTP to the JSON API. Whatever goes wrong reaches the person as a sentence that says
// what happened and what to do: never a browser's "Failed to fetch" or a bare status.

export function csrfToken() {
  const match = document.cookie.match(/(?:^|; )csrftoken=([^;]+)/);
  return match ? decodeURIComponent(match[1]) : "";
}

export class ApiError extends Error {
  constructor(message, status, code) {
    super(message);
    this.status = status;
    this.code = code;
  }
}

export const UNREACHABLE = "Could not reach EchoStream. Check your internet connection, then try again.";

// The sentence for a failed answer; `response` needs only `status` and `headers.get`.
export function describe(response, data) {
  const detail = data && data.error ? data.error.detail : "";
  if (response.status === 401) return "You are signed out. Reload the page and sign in again.";
  if (response.status === 429) {
    const seconds = Number(response.headers.get("Retry-After"));
    const wait = seconds > 0 ? `${seconds} second${seconds === 1 ? "" : "s"}` : "a moment";
    return `Too many tries in a short time. Wait ${wait}, then try again.`;
  }
  if (response.status === 503) return "EchoStream is busy or partly down right now. Try again in a few seconds.";
  if (response.status >= 500) return "Something went wrong on EchoStream's side. Try again in a moment.";
  return detail || `That did not work (error ${response.status}). Try again.`;
}

export async function api(method, path, body) {
  let response;
  try {
    response = await fetch(path, {
      method,
      credentials: "same-origin",
      headers: { "Content-Type": "application/json", "X-CSRFToken": csrfToken() },
      body: body === undefined ? undefined : JSON.stringify(body),
    });
  } catch (error) {
    throw new ApiError(UNREACHABLE, 0, "network");
  }
  let data = null;
  if (response.status !== 204) {
    try {
      data = await response.json();
    } catch (error) {
      data = null; // not JSON (a proxy's error page): described by its status below
    }
  }
  if (!response.ok) throw new ApiError(describe(response, data), response.status, data?.error?.code);
  if (data === null && response.status !== 204) {
    throw new ApiError("EchoStream's answer could not be read. Try again in a moment.", response.status, "unreadable");
  }
  return data;
}

// A message for any error a promise of the page may end with.
export function humanError(error) {
  if (error instanceof ApiError) return error.message;
  return "Something went wrong in the page. Reload it and try again.";
}
