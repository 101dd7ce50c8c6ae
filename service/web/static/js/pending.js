// Nurse actions (ack, pause, resume) the service has not saved yet. A 503 (store down), 502/504 or no answer keeps
// the action: in memory and in sessionStorage (a reload keeps it), retried in order, one at a time, with backoff
// (at least the server's Retry-After), only while the user who made it is logged in (a 401 waits for the login).
// It ends saved, or failed with the server's message (409 and other 4xx are never retried) and then stays listed
// until the nurse discards it. alerts.js and detail.js submit through here and show badge(); app.js mounts the
// top bar's indicator. Each try goes through api.js, which adds the X-CSRF-Token of the session current at that
// moment (a retry after a new login carries the new session's token).
import * as api from './api.js';
import { el, fill } from './dom.js';
import { clock } from './format.js';

const STORAGE_KEY = 'painwatch.pending-actions';
const MAX_BACKOFF_MS = 15000;
const SAVED_SHOWN_MS = 15000;
const CALLS = {
  ack: (a) => api.acknowledge(a.target, a.args.verdict, a.args.note),
  pause: (a) => api.pause(a.target, a.args.reason, a.args.minutes),
  resume: (a) => api.resume(a.target),
};

let actions = load();
let user; // whose actions are retried now (null: no access control); undefined while nobody is logged in
let timer = null;
let running = false;
const listeners = new Set();

function load() {
  try {
    return (JSON.parse(sessionStorage.getItem(STORAGE_KEY)) || []).filter((a) => a.status !== 'saved');
  } catch {
    return [];
  }
}

function changed(action) {
  try {
    sessionStorage.setItem(STORAGE_KEY, JSON.stringify(actions.filter((a) => a.status !== 'saved')));
  } catch { /* storage off or full: memory only */ }
  for (const listener of listeners) listener(action);
}

/** Not applied, and worth trying again: the store is down, a gateway failed, no answer came, or after a login. */
function retryable(error) {
  return !(error instanceof api.ApiError) || [401, 502, 503, 504].includes(error.status);
}

const sameTarget = (a, b) => (a.kind === 'ack') === (b.kind === 'ack') && a.target === b.target;

/** Keep the action for a retry after `error`; the delay in ms, or 0 to wait for a login instead. */
function keep(action, error) {
  action.attempts += 1;
  if (error.status === 401) {
    action.message = 'log in again to save it';
    action.nextAt = null;
    return 0;
  }
  const backoff = Math.min(MAX_BACKOFF_MS, 1000 * 2 ** (action.attempts - 1));
  const wait = Math.max(1000 * (error.retryAfterS || 0), backoff);
  action.message = error instanceof api.ApiError ? error.message : 'no answer from the service';
  action.nextAt = Date.now() + wait;
  return wait;
}

function settle(action, status, message) {
  Object.assign(action, { status, message, nextAt: null, settledAt: Date.now() });
  if (status === 'saved') setTimeout(() => discard(action.id), SAVED_SHOWN_MS);
  changed(action);
}

/** Retry the current user's pending actions in order; stop at the first that still cannot be saved. */
async function flush() {
  clearTimeout(timer);
  timer = null;
  if (running || user === undefined) return;
  running = true;
  let wait = 0;
  for (let action; (action = actions.find((a) => a.status === 'pending' && a.user === user));) {
    try {
      await CALLS[action.kind](action);
      settle(action, 'saved', 'saved');
    } catch (error) {
      if (!retryable(error)) {
        settle(action, 'failed', error.message);
        continue;
      }
      wait = keep(action, error);
      changed(action);
      break;
    }
  }
  running = false;
  if (wait) timer = setTimeout(flush, wait);
}

/**
 * Do an action now: {saved: true, result}, or {saved: false, action} when it is kept for retry (also when an
 * earlier action on the same alert or bed is still waiting: it never overtakes). A refusal (4xx) throws ApiError.
 */
export async function submit(kind, target, args, label) {
  const action = { id: `${Date.now()}-${Math.random().toString(36).slice(2, 8)}`, kind, target, args, label,
    user: user ?? null, status: 'pending', message: 'waiting for an earlier action', attempts: 0, nextAt: null };
  let wait = 1000;
  if (!actions.some((a) => a.status === 'pending' && sameTarget(a, action))) {
    try {
      return { saved: true, result: await CALLS[kind](action) };
    } catch (error) {
      if (!retryable(error)) throw error;
      wait = keep(action, error);
    }
  }
  actions.push(action);
  changed(action);
  if (wait && !timer && !running) timer = setTimeout(flush, wait);
  return { saved: false, action };
}

/** Start retrying for this user (null without access control), e.g. after login or a page reload. */
export function start(userName) {
  user = userName;
  flush();
}

/** Logged out: nothing is retried until start() (the actions stay). */
export function stop() {
  user = undefined;
  clearTimeout(timer);
  timer = null;
}

/** Try now (e.g. the store is back) instead of waiting for the backoff. */
export function retryNow() {
  flush();
}

export function discard(id) {
  const action = actions.find((a) => a.id === id);
  if (!action) return;
  actions = actions.filter((a) => a !== action);
  changed({ ...action, status: 'discarded' });
}

/** The latest action of this kind (or of these kinds) on this alert or bed, or undefined. */
export function find(kinds, target) {
  return actions.findLast((a) => [].concat(kinds).includes(a.kind) && a.target === target);
}

/** listener(action) after every change; returns the unsubscribe function. */
export function subscribe(listener) {
  listeners.add(listener);
  return () => listeners.delete(listener);
}

/** The action's state in words; `short` leaves out why and when (for table rows). */
export function describe(action, { short = false } = {}) {
  if (action.status === 'saved') return `saved at ${clock(action.settledAt / 1000)}`;
  if (action.status === 'failed') return `NOT SAVED: ${action.message}`;
  if (short) return 'NOT SAVED YET - will retry';
  const who = action.user !== user && action.user !== null ? `; waiting for ${action.user} to log in` : '';
  const next = action.nextAt && !who ? `; next try at ${clock(action.nextAt / 1000)}` : '';
  return `NOT SAVED YET - will retry (${action.message}${next}${who})`;
}

/** What a control shows about its action: "NOT SAVED YET - will retry ...", "NOT SAVED: ..." or "saved at ...". */
export function badge(action, options) {
  return el('span', { class: `pending-badge pending-${action.status}`, dataset: { pending: action.status } },
    describe(action, options));
}

/** The top bar's list of actions not saved (or just saved), each with a Discard button. */
export function mountIndicator(node) {
  const summary = el('summary', {});
  const list = el('ul', {});
  fill(node, summary, list);
  const render = () => {
    const waiting = actions.filter((a) => a.status === 'pending').length;
    const failed = actions.filter((a) => a.status === 'failed').length;
    node.hidden = actions.length === 0;
    node.className = `pending-actions pending-${waiting ? 'pending' : failed ? 'failed' : 'saved'}`;
    summary.textContent = [waiting && `${waiting} NOT SAVED YET - retrying`, failed && `${failed} NOT SAVED`]
      .filter(Boolean).join(', ') || 'Actions saved';
    fill(list, actions.map((a) => el('li', { dataset: { action: a.id, status: a.status } },
      `${a.label}: `, badge(a),
      a.status === 'saved' ? null : el('button', { type: 'button', class: 'btn btn-small', onclick: () => discard(a.id) }, 'Discard'))));
  };
  listeners.add(render);
  render();
}
