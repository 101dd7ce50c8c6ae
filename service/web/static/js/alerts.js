// Alerts: filtered list (live via /ws/alerts events), review with snapshot and trace, acknowledge with a verdict.
// An acknowledgement the service could not save (store down) is kept by pending.js: the review and the list show
// it as not saved yet until a retry saves it (then both reload) or the server refuses it (its message is shown).
import * as api from './api.js';
import { traceChart } from './chart.js';
import { el, fill } from './dom.js';
import { KIND_LABEL, PRIORITY_LABEL, VERDICT_LABEL, clock, dateTime } from './format.js';
import * as pending from './pending.js';

const SINCE = { '': 'any time', 3600: 'last hour', 86400: 'last 24 h', 604800: 'last 7 days' };

function options(select, entries, value) {
  for (const [v, label] of entries) select.append(el('option', { value: v, selected: v === value }, label));
  return select;
}

export function createAlerts(container, { alertId, filters = {}, beds = [], navigate }) {
  const status = options(el('select', { id: 'f-status', name: 'status' }),
    [['open', 'Open'], ['acknowledged', 'Acknowledged'], ['closed', 'Closed'], ['', 'All']], filters.status ?? 'open');
  const bed = options(el('select', { id: 'f-bed', name: 'bed' }),
    [['', 'All beds'], ...beds.map((b) => [b, b])], filters.bed ?? '');
  const since = options(el('select', { id: 'f-since', name: 'since' }), Object.entries(SINCE), filters.since ?? '');
  const list = el('div', { class: 'alert-list', 'aria-live': 'polite' });
  const review = el('section', { class: 'panel review', hidden: !alertId });
  for (const control of [status, bed, since]) control.addEventListener('change', () => navigate(currentFilters()));

  fill(container, 
    el('h1', {}, 'Alerts'),
    el('form', { class: 'filters', onsubmit: (e) => e.preventDefault() },
      el('label', { for: 'f-status' }, 'Status'), status,
      el('label', { for: 'f-bed' }, 'Bed'), bed,
      el('label', { for: 'f-since' }, 'Updated'), since),
    review, list);

  function currentFilters() {
    return { status: status.value, bed: bed.value, since: since.value };
  }

  let rows = null;
  let renderAck = null;

  async function loadList() {
    const f = currentFilters();
    try {
      rows = await api.alerts({ status: f.status, bed: f.bed, since: f.since ? Date.now() / 1000 - Number(f.since) : '' });
      renderList();
    } catch (error) {
      fill(list, el('p', { class: 'error' }, `Could not load alerts: ${error.message}`));
    }
  }

  function renderList() {
    const f = currentFilters();
    fill(list, rows.length ? el('table', { class: 'table', id: 'alert-table' },
      el('thead', {}, el('tr', {}, ['Priority', 'Bed', 'Kind', 'Opened', 'Status', 'Peak', 'Verdict / note', ''].map((h) => el('th', {}, h)))),
      el('tbody', {}, rows.map((a) => el('tr', { dataset: { alert: a.id, status: a.status }, class: a.id === alertId ? 'selected' : null },
        el('td', {}, el('span', { class: `prio-chip prio-${a.priority}` }, PRIORITY_LABEL[a.priority] || a.priority)),
        el('td', {}, a.bed_id),
        el('td', {}, KIND_LABEL[a.kind] || a.kind, a.reason ? el('div', { class: 'small muted' }, a.reason) : null),
        el('td', {}, dateTime(a.opened_at)),
        el('td', {}, a.status, ackBadge(a.id, { short: true })),
        el('td', {}, a.peak_score ?? '-'),
        el('td', { class: 'verdict' }, a.verdict ? `${VERDICT_LABEL[a.verdict]}${a.note ? `: ${a.note}` : ''}` : '-',
          a.acknowledged_by ? el('div', { class: 'small muted' }, `by ${a.acknowledged_by} at ${clock(a.acknowledged_at)}`) : null),
        el('td', {}, el('a', { class: 'btn btn-small', href: `#/alerts/${encodeURIComponent(a.id)}?${new URLSearchParams(f)}` }, 'Review')))))) :
      el('p', { class: 'muted big' }, 'No alerts match these filters.'));
  }

  async function loadReview() {
    if (!alertId) return;
    fill(review, el('p', { class: 'muted' }, 'Loading alert...'));
    let found;
    let snap;
    try {
      [found, snap] = await Promise.all([api.alert(alertId), api.snapshot(alertId).catch((e) => ({ error: e.message }))]);
    } catch (error) {
      fill(review, el('p', { class: 'error' }, `Could not load alert: ${error.message}`));
      return;
    }
    const a = found.alert;
    const message = el('p', { class: 'form-message', role: 'status' });
    const note = el('textarea', { id: 'ack-note', name: 'note', maxlength: 2000, rows: 3, placeholder: 'What you saw (no patient identifiers)' });
    const verdicts = el('fieldset', { class: 'verdicts' }, el('legend', {}, 'Verdict'),
      Object.entries(VERDICT_LABEL).map(([value, label]) => el('label', { class: 'verdict-option' },
        el('input', { type: 'radio', name: 'verdict', value, required: true }), ` ${label}`)));
    const submit = el('button', { type: 'submit', class: 'btn btn-primary', id: 'ack-submit' }, 'Acknowledge');
    const form = el('form', { class: 'ack-form', onsubmit: async (e) => {
      e.preventDefault();
      const chosen = form.querySelector('input[name=verdict]:checked');
      if (!chosen) { message.textContent = 'Choose a verdict.'; return; }
      submit.disabled = true;
      message.textContent = 'Saving...';
      try {
        const outcome = await pending.submit('ack', alertId, { verdict: chosen.value, note: note.value.trim() },
          `Acknowledge ${KIND_LABEL[a.kind] || a.kind} on bed ${a.bed_id} as ${VERDICT_LABEL[chosen.value]}`);
        message.textContent = outcome.saved ? 'Acknowledged.' : '';
        if (outcome.saved) await Promise.all([loadReview(), loadList()]);
      } catch (error) {
        message.textContent = `Not saved: ${error.message}`;
      } finally {
        submit.disabled = false;
      }
    } }, verdicts, el('label', { for: 'ack-note' }, 'Note'), note, submit);
    const ackSlot = el('div', { class: 'ack-slot' });
    renderAck = () => {
      const action = pending.find('ack', alertId);
      const shown = ackBadge(alertId);
      if (a.status === 'acknowledged') {
        fill(ackSlot, el('p', { class: 'acked-info' }, `Acknowledged by ${a.acknowledged_by} at ${dateTime(a.acknowledged_at)}: ${VERDICT_LABEL[a.verdict] || a.verdict}${a.note ? ` - "${a.note}"` : ''}`), shown);
      } else if (action && action.status === 'pending') {
        fill(ackSlot, el('div', { class: 'ack-pending', id: 'ack-pending' },
          el('p', {}, `Your acknowledgement: ${VERDICT_LABEL[action.args.verdict]}${action.args.note ? ` - "${action.args.note}"` : ''}`), shown));
      } else {
        fill(ackSlot, form, shown);
      }
    };
    renderAck();

    fill(review, 
      el('h2', {}, el('span', { class: `prio-chip prio-${a.priority}` }, PRIORITY_LABEL[a.priority]), ` ${KIND_LABEL[a.kind] || a.kind} - bed ${a.bed_id}`),
      el('p', {}, `Opened ${dateTime(a.opened_at)}; status ${a.status}${a.peak_score !== null && a.peak_score !== undefined ? `; peak score ${a.peak_score}` : ''}. ${a.reason || ''}`),
      snapshotView(a, snap),
      el('h3', {}, 'Events'),
      el('ol', { class: 'events' }, found.events.map((ev) => el('li', {},
        `${clock(ev.ts)} ${ev.type}${ev.user ? ` by ${ev.user}` : ''}${ev.details && ev.details.note ? `: ${ev.details.note}` : ''}`))),
      ackSlot, message);
    review.hidden = false;
  }

  // A retried ack saved or refused: reload (the store answers again); still waiting or discarded: redraw only.
  const unsubscribe = pending.subscribe((action) => {
    if (action.kind !== 'ack') return;
    const settled = action.status === 'saved' || action.status === 'failed';
    if (action.target === alertId && settled) loadReview();
    else if (action.target === alertId && renderAck) renderAck();
    if (settled) loadList();
    else if (rows) renderList();
  });
  loadList();
  loadReview();
  let reload = null;
  return {
    onAlertEvent() {
      clearTimeout(reload);
      reload = setTimeout(loadList, 300);
    },
    destroy() { clearTimeout(reload); unsubscribe(); },
  };
}

function ackBadge(alertId, options) {
  const action = pending.find('ack', alertId);
  return action ? pending.badge(action, options) : null;
}

function snapshotView(alert, snap) {
  if (snap === null) return el('p', { class: 'muted snapshot-none' }, 'No snapshot for this alert.');
  if (snap.error) return el('p', { class: 'error' }, `Snapshot unavailable: ${snap.error}`);
  const chart = snap.trace ? traceChart(snap.trace.trend, snap.scale || 'DAN') : null;
  return el('div', { class: 'snapshot' },
    el('figure', {}, el('img', { src: api.snapshotImage(alert.id, 'crop.jpg'), alt: 'face crop at the episode peak' }), el('figcaption', {}, 'Face crop at peak')),
    el('figure', {}, el('img', { src: api.snapshotImage(alert.id, 'gradcam.jpg'), alt: 'Grad-CAM at the episode peak' }), el('figcaption', {}, 'Grad-CAM (pain class)')),
    el('figure', { class: 'snapshot-trace' }, chart || el('p', { class: 'muted' }, 'No score trace was stored for this episode.'),
      el('figcaption', {}, 'Score trace of the episode')));
}
