// The JSON API: a fetch wrapper with the bearer token (kept in sessionStorage).
//
//   api.get("/claims", {status: "filed"})   -> parsed JSON
//   api.post("/claims/ID/decision", {decision: "approve"})
//
// Paths without the /api/v1 prefix get it. A refusal throws ApiError with the API's
// {detail, field} (shown to the user as is); a 401 also fires "unauthorized" on window,
// and the shell shows the login form again. Every request names the page's language
// (Accept-Language), so the words the server renders are the reader's.

import { locale } from "./i18n.js";

const TOKEN_KEY = "agri.token";
const USER_KEY = "agri.user";
export const API = "/api/v1";

/** A refusal of the API: HTTP status, what is wrong (detail), and the field at fault. */
export class ApiError extends Error {
  constructor(status, detail, field = null) {
    super(field ? `${detail} (${field})` : detail);
    this.name = "ApiError";
    this.status = status;
    this.detail = detail;
    this.field = field;
  }
}

/** The full URL of an API path, with query parameters (null and undefined left out). */
export function url(path, params = {}) {
  const full = path.startsWith("/api/") ? path : `${API}${path.startsWith("/") ? "" : "/"}${path}`;
  const query = new URLSearchParams();
  for (const [k, v] of Object.entries(params || {})) {
    if (v !== null && v !== undefined && v !== "") query.append(k, String(v));
  }
  const qs = query.toString();
  return qs ? `${full}?${qs}` : full;
}

async function request(method, path, { params, body, headers = {} } = {}) {
  // Checks' reasons and indemnity labels come back in the page's language.
  const h = { Accept: "application/json", "Accept-Language": locale(), ...headers };
  const token = sessionStorage.getItem(TOKEN_KEY);
  if (token) h.Authorization = `Bearer ${token}`;
  let payload;
  if (body instanceof FormData) {
    payload = body;
  } else if (body !== undefined) {
    h["Content-Type"] = "application/json";
    payload = JSON.stringify(body);
  }
  let response;
  let data;
  window.__agriPending = (window.__agriPending || 0) + 1; // the browser tests wait for 0
  try {
    response = await fetch(url(path, params), { method, headers: h, body: payload });
    const type = response.headers.get("content-type") || "";
    data = type.includes("json") ? await response.json().catch(() => null) : await response.text();
  } catch (err) {
    throw new ApiError(0, `the server cannot be reached (${err.message})`);
  } finally {
    window.__agriPending -= 1;
  }
  if (!response.ok) {
    const detail = (data && data.detail) || `HTTP ${response.status}`;
    if (response.status === 401 && !path.endsWith("/auth/token")) {
      clearSession();
      window.dispatchEvent(new CustomEvent("unauthorized", { detail }));
    }
    throw new ApiError(response.status, String(detail), (data && data.field) || null);
  }
  return data;
}

function clearSession() {
  sessionStorage.removeItem(TOKEN_KEY);
  sessionStorage.removeItem(USER_KEY);
}

export const api = {
  /** GET a path with query parameters; the parsed JSON. */
  get: (path, params) => request("GET", path, { params }),
  /** POST a JSON body (or FormData); the parsed JSON. */
  post: (path, body, headers) => request("POST", path, { body, headers }),
  /** PUT a JSON body; the parsed JSON. */
  put: (path, body, headers) => request("PUT", path, { body, headers }),

  /** Log in: keep the token and the user ({username, role, farmer_id}); returns the user. */
  async login(username, password) {
    const token = await request("POST", "/auth/token", { body: { username, password } });
    sessionStorage.setItem(TOKEN_KEY, token.access_token);
    const me = await request("GET", "/me");
    sessionStorage.setItem(USER_KEY, JSON.stringify(me));
    return me;
  },

  /** End the token on the server (best effort: offline it still ends here) and forget it. */
  logout() {
    const token = sessionStorage.getItem(TOKEN_KEY);
    clearSession();
    if (token) {
      fetch(url("/auth/logout"), {
        method: "POST",
        headers: { Authorization: `Bearer ${token}` },
        keepalive: true, // survives the tab closing right after
      }).catch(() => {}); // offline: the token still expires by itself
    }
  },

  /** The logged-in user ({username, role, farmer_id}), or null. */
  user() {
    try {
      return JSON.parse(sessionStorage.getItem(USER_KEY) || "null");
    } catch {
      return null;
    }
  },

  /** The bearer token, or null. */
  token() {
    return sessionStorage.getItem(TOKEN_KEY);
  },
};

export default api;
