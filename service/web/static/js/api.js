// REST calls to the service (same origin; the session cookie travels by itself). A failed call throws ApiError
// with the HTTP status, the server's message and its Retry-After (s); no answer at all throws fetch's TypeError.

export class ApiError extends Error {
  constructor(status, detail, retryAfterS = 0) {
    super(detail || `HTTP ${status}`);
    this.status = status;
    this.retryAfterS = retryAfterS;
  }
}

let onUnauthorized = () => {};

export function setUnauthorizedHandler(handler) {
  onUnauthorized = handler;
}

async function request(method, path, body, { quiet401 = false } = {}) {
  const init = { method, credentials: 'same-origin', headers: { Accept: 'application/json' } };
  if (body !== undefined) {
    init.headers['Content-Type'] = 'application/json';
    init.body = JSON.stringify(body);
  }
  const response = await fetch(path, init);
  if (response.status === 401 && !quiet401) onUnauthorized();
  if (!response.ok) {
    let detail = response.statusText;
    try {
      const data = await response.json();
      detail = typeof data.detail === 'string' ? data.detail : JSON.stringify(data.detail ?? data);
    } catch { /* not JSON */ }
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

/** {enabled, user}: enabled=false when the service has no access control (404). */
export async function me() {
  try {
    return { enabled: true, user: await request('GET', '/api/auth/me', undefined, { quiet401: true }) };
  } catch (error) {
    if (error.status === 404) return { enabled: false, user: null };
    if (error.status === 401) return { enabled: true, user: null };
    throw error;
  }
}

export const login = (username, password) =>
  request('POST', '/api/auth/login', { username, password }, { quiet401: true });
export const logout = () => request('POST', '/api/auth/logout', undefined, { quiet401: true });
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
