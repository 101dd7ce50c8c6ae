// The bed grid: one card per bed from the /ws/beds summary (2 Hz).
import { sparkline } from './chart.js';
import { el, fill } from './dom.js';
import { KIND_LABEL, PRIORITY_LABEL, STATE_LABEL, ago, band, clock, pct } from './format.js';
import { points, seed } from './history.js';

const SPARK_S = 600;

export function alertBadge(alert) {
  const acked = alert.status === 'acknowledged';
  return el('span', { class: `alert-badge prio-${alert.priority}${acked ? ' acked' : ''}`, title: alert.reason },
    `${PRIORITY_LABEL[alert.priority] || alert.priority}: ${KIND_LABEL[alert.kind] || alert.kind}`,
    acked ? ' (acknowledged)' : '');
}

/** The numbers of one bed, or dashes with the reason when they are not known now. */
export function bedFigures(bed, connection) {
  const lost = connection !== 'live';
  const state = lost ? 'lost' : bed.state;
  const known = !lost && bed.state === 'ok' && bed.estimated_score !== null;
  const b = band(bed.scale, known ? bed.estimated_score : null);
  const reason = lost ? 'no live data from the service' : (bed.state_reason || '');
  return el('div', { class: 'figures' },
    el('div', { class: `state-badge state-${state}` }, STATE_LABEL[state] || state,
      state !== 'ok' && reason ? el('span', { class: 'state-reason' }, ` - ${reason}`) : null),
    el('div', { class: `score ${b.cls}`, dataset: { role: 'score' } },
      el('span', { class: 'score-value' }, known ? String(bed.estimated_score) : '-'),
      el('span', { class: 'score-label' }, known ? `${bed.scale} face: ${b.label}` : `${bed.scale} face: unknown`)),
    el('dl', { class: 'facts' },
      el('dt', {}, 'Pain prob. (smoothed)'), el('dd', {}, known ? pct(bed.smoothed_probability) : '-'),
      el('dt', {}, 'Face visible'),
      el('dd', {}, lost ? '-' : pct(bed.face_visible_share),
        !lost && bed.low_evidence ? el('span', { class: 'low-evidence' }, ' LOW EVIDENCE') : null)));
}

export function createGrid(container, { onOpen }) {
  const grid = el('section', { class: 'bed-grid', 'aria-label': 'beds' });
  fill(container, el('h1', { class: 'visually-hidden' }, 'Beds'), grid);
  const cards = new Map();
  let last = null;
  let connection = 'connecting';

  function card(bed, now) {
    const paused = bed.alerts_paused_until && bed.alerts_paused_until > now;
    const recent = points(bed.bed_id, now - SPARK_S);
    const alerts = bed.active_alerts || [];
    const top = alerts.find((a) => a.status === 'open');
    // The article stays (only its content is replaced), so a click never lands on a node removed mid-click.
    let node = cards.get(bed.bed_id);
    if (!node) {
      node = el('article', { tabindex: 0, role: 'link', 'aria-label': `bed ${bed.label || bed.bed_id}`,
        onclick: () => onOpen(bed.bed_id), onkeydown: (e) => { if (e.key === 'Enter') onOpen(bed.bed_id); } });
      cards.set(bed.bed_id, node);
      seed(bed.bed_id, 10);  // the stored last 10 min, so a reloaded page shows its sparkline at once
      grid.append(node);
    }
    node.className = `bed-card${top ? ` has-alert prio-border-${top.priority}` : ''}${connection !== 'live' ? ' not-live' : ''}`;
    Object.assign(node.dataset, { bed: bed.bed_id, state: connection === 'live' ? bed.state : 'lost', updated: bed.last_update_ts ?? '' });
    fill(node, 
    el('header', {}, el('h2', {}, bed.label || bed.bed_id),
      el('span', { class: 'scale' }, bed.scale, bed.node_id ? el('span', { class: 'node', dataset: { role: 'node' } }, ` @ ${bed.node_id}`) : null)),
    bedFigures(bed, connection),
    el('div', { class: 'spark-wrap' }, sparkline(recent, now, SPARK_S),
      el('span', { class: 'spark-caption' }, 'last 10 min, smoothed probability')),
    paused ? el('div', { class: 'paused' }, `ALERTS PAUSED until ${clock(bed.alerts_paused_until)}`) : null,
    el('div', { class: 'alerts' }, alerts.length ? alerts.map(alertBadge) : el('span', { class: 'muted' }, 'No active alerts')),
    el('footer', { class: 'updated', dataset: { role: 'updated' } },
      `Updated ${clock(bed.last_update_ts)} (${ago(bed.last_update_ts, now)})`));
  }

  function render() {
    if (!last) return;
    const now = last.ts;
    const seen = new Set();
    for (const bed of last.beds) {
      seen.add(bed.bed_id);
      card(bed, now);
    }
    for (const [id, node] of cards) if (!seen.has(id)) { node.remove(); cards.delete(id); }
  }

  return {
    update(summary) { last = summary; render(); },
    setConnection(status) { connection = status; render(); },
    destroy() {},
  };
}
