// REST calls to the service (same origin; the session cookie travels by itself). A failed call throws ApiError
// with the HTTP status, the server's message and its Retry-After (s); no answer at all throws fetch's TypeError.
// Every unsafe call (POST, PUT, PATCH, DELETE) carries the session's X-CSRF-Token (from the login answer or
// /api/auth/me); when the service refuses it (the session changed, e.g. a login in another tab) the token is read
// again from /api/auth/me and the call made once more.

export class ApiError extends Error {
  constructor(status, detail, retryAfterS = 0) {
    super(detail || `HTTP ${status}`);
    this.status = status;
    this.retryAfterS = retryAfterS;
  }
}

export const CHANGE_PASSWORD_FIRST = 'change your password first';
const CSRF_FAILED = 'CSRF check failed';
const SAFE_METHODS = ['GET', 'HEAD', 'OPTIONS'];

let onUnauthorized = () => {};
let onPasswordChangeRequired = () => {};
let csrfToken = null;

export function setUnauthorizedHandler(handler) {
  onUnauthorized = handler;
}

/** Called when the service answers 403 "change your password first" (the session's password must change). */
export function setPasswordChangeHandler(handler) {
  onPasswordChangeRequired = handler;
}

/** The session's CSRF token, from an answer that carries one (login, /api/auth/me, password change). */
function keepCsrf(answer) {
  if (answer && typeof answer.csrf_token === 'string') csrfToken = answer.csrf_token;
  return answer;
}

async function request(method, path, body, { quiet401 = false, csrfRetry = true } = {}) {
  const init = { method, credentials: 'same-origin', headers: { Accept: 'application/json' } };
  if (body !== undefined) {
    init.headers['Content-Type'] = 'application/json';
    init.body = JSON.stringify(body);
  }
  if (!SAFE_METHODS.includes(method) && csrfToken) init.headers['X-CSRF-Token'] = csrfToken;
  const response = await fetch(path, init);
  if (response.status === 401 && !quiet401) onUnauthorized();
  if (!response.ok) {
    let detail = response.statusText;
    try {
      const data = await response.json();
      detail = typeof data.detail === 'string' ? data.detail : JSON.stringify(data.detail ?? data);
    } catch { /* not JSON */ }
    if (response.status === 403 && detail.startsWith(CSRF_FAILED) && csrfRetry) {
      const current = await me();
      if (current.user) return request(method, path, body, { quiet401, csrfRetry: false });
    }
    if (response.status === 403 && detail.startsWith(CHANGE_PASSWORD_FIRST)) onPasswordChangeRequired();
    throw new ApiError(response.status, detail, Number(response.headers.get('Retry-After')) || 0);
  }
  const type = response.headers.get('content-type') || '';
  return type.includes('application/json') ? response.json() : null;
}

function query(params) {
  const q = new URLSearchParams();
  for (const [k, v] of Object.entries(params)) if (v !== '' && v !== null && v !== undefined) q.set(k, v);
  const s = q.toString();
  return s ? `?${s}` : '';
}

/** {enabled, user}: enabled=false when the service has no access control (404); user.must_change_password. */
export async function me() {
  try {
    return { enabled: true, user: keepCsrf(await request('GET', '/api/auth/me', undefined, { quiet401: true })) };
  } catch (error) {
    if (error.status === 404) return { enabled: false, user: null };
    if (error.status === 401) return { enabled: true, user: null };
    throw error;
  }
}

/** {token, user, csrf_token}; user.must_change_password: only changePassword() works until it is done. */
export const login = async (username, password) =>
  keepCsrf(await request('POST', '/api/auth/login', { username, password }, { quiet401: true }));
export async function logout() {
  try {
    return await request('POST', '/api/auth/logout', undefined, { quiet401: true });
  } finally {
    csrfToken = null;
  }
}
/** The user's own new password; answers the user (must_change_password false now). */
export const changePassword = async (currentPassword, newPassword) =>
  keepCsrf(await request('POST', '/api/auth/password',
    { current_password: currentPassword, new_password: newPassword }, { quiet401: true }));
export const beds = () => request('GET', '/api/beds');
export const bed = (id) => request('GET', `/api/beds/${encodeURIComponent(id)}`);
export const alerts = (filters = {}) => request('GET', `/api/alerts${query(filters)}`);
export const alert = (id) => request('GET', `/api/alerts/${encodeURIComponent(id)}`);
export const acknowledge = (id, verdict, note) =>
  request('POST', `/api/alerts/${encodeURIComponent(id)}/ack`, { verdict, note: note || null });
export const pause = (bedId, reason, minutes) =>
  request('POST', `/api/beds/${encodeURIComponent(bedId)}/pause`, { reason, minutes: minutes || null });
export const resume = (bedId) => request('POST', `/api/beds/${encodeURIComponent(bedId)}/resume`);
export const model = () => request('GET', '/api/model');
export const trend = (bedId, minutes) =>
  request('GET', `/api/beds/${encodeURIComponent(bedId)}/trend${query({ minutes })}`);

/** The review snapshot, or null when the service has none for this alert (404). */
export async function snapshot(id) {
  try {
    return await request('GET', `/api/alerts/${encodeURIComponent(id)}/snapshot`);
  } catch (error) {
    if (error.status === 404) return null;
    throw error;
  }
}

export const snapshotImage = (id, name) => `/api/alerts/${encodeURIComponent(id)}/snapshot/${name}`;
