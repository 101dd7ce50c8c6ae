// Start-up, login state, the hash router, the shared live streams, the DEMO banner, the banners for the service's
// technical conditions (from the summary stream: store unavailable = actions are not being saved) and the top
// bar's list of actions not saved yet (pending.js, retried while their user is logged in).
import * as api from './api.js';
import { createAlerts } from './alerts.js';
import { createDetail } from './detail.js';
import { el, fill } from './dom.js';
import { CONDITION_LABEL, clock } from './format.js';
import { createGrid } from './grid.js';
import * as history from './history.js';
import { createLogin, createPasswordChange } from './login.js';
import { createModel } from './model.js';
import * as pending from './pending.js';
import { LiveSocket } from './ws.js';

const view = document.getElementById('view');
const connEl = document.getElementById('conn');
const lostEl = document.getElementById('conn-lost');
const nav = document.getElementById('nav');
const who = document.getElementById('who');
const alertCount = document.getElementById('alert-count');
const storeBanner = document.getElementById('store-banner');
const conditionsEl = document.getElementById('conditions');

let current = null;
let summary = null;
let summaryStatus = 'connecting';
let streams = [];
let started = false;
let bedIds = [];
const activeAlerts = new Map();
let shownConditions = '[]';

function showDemo(on) {
  document.getElementById('demo-banner').hidden = !on;
  document.body.classList.toggle('demo', on);
}
document.addEventListener('painwatch:demo', () => showDemo(true));

/** The banners follow the summary's conditions; redrawn only when they change (role=alert re-announces). */
function showConditions(conditions) {
  const key = JSON.stringify(conditions);
  if (key === shownConditions) return;
  const storeWasDown = storeBanner.hidden === false;
  shownConditions = key;
  const store = conditions.filter((c) => c.name === 'store_unavailable');
  const others = conditions.filter((c) => c.name !== 'store_unavailable');
  fill(storeBanner, store.length ? el('strong', {}, 'Store unavailable: actions are not being saved') : null,
    store.map((c) => el('div', { class: 'condition-reason' }, `${c.reason} (since ${clock(c.since)})`)));
  fill(conditionsEl, others.map((c) => el('div', { class: 'condition', dataset: { condition: c.name } },
    `${CONDITION_LABEL[c.name] || c.name}: ${c.component}${c.bed_id ? ` (bed ${c.bed_id})` : ''} - ${c.reason} ` +
    `(since ${clock(c.since)}${c.restarts ? `, ${c.restarts} restart(s)` : ''})`)));
  storeBanner.hidden = !store.length;
  conditionsEl.hidden = !others.length;
  if (storeWasDown && !store.length) pending.retryNow();
}

function setConnection(status, detail) {
  summaryStatus = status;
  const live = status === 'live';
  connEl.className = `conn conn-${status}`;
  connEl.textContent = live ? 'LIVE' : status === 'connecting' ? 'CONNECTING' :
    status === 'stale' ? 'NO DATA' : `CONNECTION LOST${detail && detail.retryInMs ? ` - retry in ${Math.ceil(detail.retryInMs / 1000)} s` : ''}`;
  lostEl.hidden = live || status === 'connecting';
  if (!live) history.gap(Date.now() / 1000);
  if (current && current.setConnection) current.setConnection(live ? 'live' : 'lost');
}

function updateAlertCount() {
  const open = [...activeAlerts.values()].filter((a) => a.status === 'open').length;
  alertCount.hidden = open === 0;
  alertCount.textContent = String(open);
}

function parseHash() {
  const [path, q] = (location.hash.replace(/^#/, '') || '/beds').split('?');
  const parts = path.split('/').filter(Boolean).map(decodeURIComponent);
  return { parts, params: Object.fromEntries(new URLSearchParams(q || '')) };
}

function route() {
  if (!started) return;
  if (current) current.destroy();
  const { parts, params } = parseHash();
  const section = parts[0] || 'beds';
  for (const link of nav.querySelectorAll('a')) link.classList.toggle('active', link.dataset.nav === section);
  if (section === 'beds' && parts[1]) {
    current = createDetail(view, parts[1], { onUnauthorized: showLogin });
  } else if (section === 'alerts') {
    current = createAlerts(view, {
      alertId: parts[1], filters: params, beds: bedIds,
      navigate: (filters) => { location.hash = `#/alerts?${new URLSearchParams(filters)}`; },
    });
  } else if (section === 'model') {
    current = createModel(view);
  } else {
    current = createGrid(view, { onOpen: (id) => { location.hash = `#/beds/${encodeURIComponent(id)}`; } });
  }
  if (current.setConnection) current.setConnection(summaryStatus === 'live' ? 'live' : 'lost');
  if (summary && current.update) current.update(summary);
}

function startStreams() {
  streams = [
    new LiveSocket('/ws/beds', {
      staleAfterMs: 3000,
      onMessage(message) {
        if (message.type !== 'summary') return;
        summary = message;
        showConditions(message.conditions || []);
        bedIds = message.beds.map((b) => b.bed_id);
        for (const bed of message.beds) history.record(bed, message.ts);
        if (current && current.update) current.update(message);
      },
      onStatus(status, detail) {
        if (status === 'unauthorized') showLogin();
        else setConnection(status, detail);
      },
    }).start(),
    new LiveSocket('/ws/alerts', {
      onMessage(message) {
        if (message.type === 'alerts_snapshot') {
          activeAlerts.clear();
          for (const a of message.alerts) activeAlerts.set(a.id, a);
        } else if (message.type === 'alert_event' && message.alert) {
          if (message.alert.status === 'closed') activeAlerts.delete(message.alert.id);
          else activeAlerts.set(message.alert.id, message.alert);
        }
        updateAlertCount();
        if (current && current.onAlertEvent) current.onAlertEvent(message);
      },
      onStatus(status) { if (status === 'unauthorized') showLogin(); },
    }).start(),
  ];
}

function stopStreams() {
  for (const stream of streams) stream.stop();
  streams = [];
}

async function startApp(user) {
  if (user && user.must_change_password) {
    showPasswordChange(user);
    return;
  }
  started = true;
  nav.hidden = false;
  who.hidden = !user;
  document.getElementById('who-name').textContent = user ? `${user.name} (${user.role})` : '';
  pending.start(user ? user.name : null);
  api.model().then((report) => showDemo(Boolean(report.card.demo))).catch(() => {});
  startStreams();
  route();
}

function showLogin() {
  if (!started && current && current.isLogin) return;
  started = false;
  stopStreams();
  pending.stop();
  showConditions([]);
  if (current) current.destroy();
  nav.hidden = true;
  who.hidden = true;
  lostEl.hidden = true;
  connEl.textContent = '';
  current = createLogin(view, { onLoggedIn: (user) => startApp(user) });
  current.isLogin = true;
}

/** Logged in with a password that must be replaced first: nothing else is shown (the service refuses it anyway). */
function showPasswordChange(user) {
  showLogin();
  if (current) current.destroy();
  current = createPasswordChange(view, {
    user,
    onChanged: (updated) => startApp(updated),
    onLogout: async () => {
      try { await api.logout(); } catch { /* already out */ }
      showLogin();
    },
  });
}

async function passwordChangeRequired() {
  try {
    const me = await api.me();
    if (me.user && me.user.must_change_password) showPasswordChange(me.user);
  } catch { /* the next call tells */ }
}

async function boot(attempt = 0) {
  try {
    const me = await api.me();
    if (me.enabled && !me.user) showLogin();
    else startApp(me.user);
  } catch (error) {
    view.textContent = `The service cannot be reached (${error.message}). Retrying...`;
    setTimeout(() => boot(attempt + 1), Math.min(10000, 1000 * 2 ** attempt));
  }
}

api.setUnauthorizedHandler(showLogin);
api.setPasswordChangeHandler(passwordChangeRequired);
pending.mountIndicator(document.getElementById('pending-actions'));
window.addEventListener('hashchange', route);
document.getElementById('logout').addEventListener('click', async () => {
  try { await api.logout(); } catch { /* already out */ }
  showLogin();
});
boot();
