// One bed: live Grad-CAM overlay (/ws/beds/{id}), the last hour's trend with bands, alert history, pause/resume.
// A pause or resume the service could not save (store down) is kept by pending.js and shown next to the form as
// not saved yet until a retry saves it or the server refuses it.
import * as api from './api.js';
import { trendChart } from './chart.js';
import { el, fill } from './dom.js';
import { KIND_LABEL, PRIORITY_LABEL, STATE_LABEL, VERDICT_LABEL, clock, dateTime, pct } from './format.js';
import { alertBadge, bedFigures } from './grid.js';
import { points, seed } from './history.js';
import * as pending from './pending.js';
import { LiveSocket } from './ws.js';

const OVERLAY_HOLD_MS = 2000; // how long the last Grad-CAM overlay stays up while frames without one arrive

export function createDetail(container, bedId, { onUnauthorized }) {
  let bed = null;
  let connection = 'connecting';
  let frameConnection = 'connecting';
  let imageUrl = null;
  let expectImage = false;
  let imageAt = 0;

  const title = el('h1', {}, `Bed ${bedId}`);
  const figures = el('div', { class: 'detail-figures' });
  const image = el('img', { class: 'gradcam', alt: 'Grad-CAM of the pain class over the face crop', hidden: true });
  const imageNote = el('p', { class: 'gradcam-note muted' }, 'Waiting for a face...');
  const frameInfo = el('p', { class: 'frame-info', dataset: { role: 'frame' } }, 'No frame yet');
  const trend = el('div', { class: 'trend-wrap' });
  const pauseInfo = el('p', { class: 'pause-info' });
  const history = el('div', { class: 'alert-history' }, el('p', { class: 'muted' }, 'Loading alerts...'));
  const message = el('p', { class: 'form-message', role: 'status' });
  const pendingNote = el('p', { class: 'pending-note' });
  const reason = el('input', { id: 'pause-reason', name: 'reason', required: true, maxlength: 500,
    placeholder: 'e.g. procedure: heel lance' });
  const minutes = el('input', { id: 'pause-minutes', name: 'minutes', type: 'number', min: 1, max: 240, value: 30 });
  const resumeButton = el('button', { type: 'button', class: 'btn', onclick: () => act('resume', {}, 'Alerts resumed') }, 'Resume alerts');

  fill(container, 
    el('p', {}, el('a', { href: '#/beds' }, '< All beds')),
    title,
    el('div', { class: 'detail-layout' },
      el('section', { class: 'panel' }, el('h2', {}, 'Now'), figures, frameInfo),
      el('section', { class: 'panel' }, el('h2', {}, 'Live Grad-CAM (pain class)'), image, imageNote)),
    el('section', { class: 'panel' }, el('h2', {}, 'Estimated score, last hour'), trend,
      el('p', { class: 'muted small' }, 'From this page\'s live stream since it was opened; gaps = unknown (no face, no signal, connection lost).')),
    el('section', { class: 'panel' }, el('h2', {}, 'Alerts: pause / resume'), pauseInfo,
      el('form', { class: 'pause-form', onsubmit: (e) => {
        e.preventDefault();
        act('pause', { reason: reason.value.trim(), minutes: Number(minutes.value) || null }, 'Alerts paused');
      } },
      el('label', { for: 'pause-reason' }, 'Reason'), reason,
      el('label', { for: 'pause-minutes' }, 'Minutes'), minutes,
      el('button', { type: 'submit', class: 'btn btn-warn' }, 'Pause alerts'), resumeButton), message, pendingNote),
    el('section', { class: 'panel' }, el('h2', {}, 'Alert history'), history));

  async function act(kind, args, done) {
    message.textContent = 'Saving...';
    const label = kind === 'pause' ? `Pause alerts on bed ${bedId} (${args.reason})` : `Resume alerts on bed ${bedId}`;
    try {
      const outcome = await pending.submit(kind, bedId, args, label);
      message.textContent = '';
      if (!outcome.saved) return; // kept for retry: pendingNote says so
      const state = outcome.result;
      message.textContent = `${done}${state.paused_until ? ` until ${clock(state.paused_until)}` : ''}.`;
      if (bed) { bed.alerts_paused_until = state.paused_until; render(); }
    } catch (error) {
      message.textContent = `Not saved: ${error.message}`;
    }
  }

  function showPending() {
    const action = pending.find(['pause', 'resume'], bedId);
    fill(pendingNote, action ? [`${action.label}: `, pending.badge(action)] : null);
  }
  const unsubscribe = pending.subscribe((action) => { if (action.target === bedId && action.kind !== 'ack') showPending(); });
  showPending();

  async function loadHistory() {
    try {
      const list = await api.alerts({ bed: bedId, limit: 50 });
      fill(history, list.length ? el('table', { class: 'table' },
        el('thead', {}, el('tr', {}, ['Opened', 'Priority', 'Kind', 'Status', 'Peak', 'Verdict', ''].map((h) => el('th', {}, h)))),
        el('tbody', {}, list.map((a) => el('tr', {},
          el('td', {}, dateTime(a.opened_at)),
          el('td', {}, el('span', { class: `prio-chip prio-${a.priority}` }, PRIORITY_LABEL[a.priority])),
          el('td', {}, KIND_LABEL[a.kind] || a.kind), el('td', {}, a.status),
          el('td', {}, a.peak_score ?? '-'), el('td', {}, VERDICT_LABEL[a.verdict] || '-'),
          el('td', {}, el('a', { href: `#/alerts/${encodeURIComponent(a.id)}` }, 'Review')))))) :
        el('p', { class: 'muted' }, 'No alerts for this bed.'));
    } catch (error) {
      fill(history, el('p', { class: 'error' }, `Could not load alerts: ${error.message}`));
    }
  }

  function render() {
    if (!bed) return;
    title.textContent = `${bed.label || `Bed ${bed.bed_id}`} (${bed.scale})`;
    fill(figures, bedFigures(bed, connection), el('div', { class: 'alerts' }, (bed.active_alerts || []).map(alertBadge)));
    const now = Date.now() / 1000;
    const paused = bed.alerts_paused_until && bed.alerts_paused_until > now;
    pauseInfo.textContent = paused ? `ALERTS PAUSED until ${clock(bed.alerts_paused_until)} (scores are still recorded).` : 'Alerts are live.';
    pauseInfo.className = paused ? 'pause-info paused' : 'pause-info';
    resumeButton.disabled = !paused;
  }

  function drawTrend() {
    if (!bed) return;
    const now = Date.now() / 1000;
    fill(trend, trendChart(points(bedId, now - 3600), bed.scale, now));
  }

  function showNoImage(text) {
    if (imageUrl) URL.revokeObjectURL(imageUrl);
    imageUrl = null;
    image.hidden = true;
    imageNote.hidden = false;
    imageNote.textContent = text;
  }

  const frames = new LiveSocket(`/ws/beds/${encodeURIComponent(bedId)}`, {
    staleAfterMs: 5000,
    onMessage(frame) {
      if (frame.type && frame.type !== 'frame') return;
      expectImage = Boolean(frame.heatmap_follows);
      frameInfo.textContent = `Frame ${frame.sequence} at ${clock(frame.capture_ts)} - ${STATE_LABEL[frame.state] || frame.state}` +
        `${frame.state === 'ok' ? `, probability ${pct(frame.pain_probability)}` : ''}, latency ${Math.round(frame.latency_ms ?? 0)} ms`;
      frameInfo.dataset.sequence = frame.sequence;
      // Overlays come at heatmap_hz, slower than frames: keep the last one while the face stays scored, but drop it
      // at once on any other state (no face must never show an old face's map).
      const overlayFresh = frame.state === 'ok' && imageUrl && Date.now() - imageAt < OVERLAY_HOLD_MS;
      if (!expectImage && !overlayFresh) showNoImage(frame.state === 'ok' ? 'No overlay for this frame.' : `No overlay: ${STATE_LABEL[frame.state] || frame.state}${frame.state_reason ? ` - ${frame.state_reason}` : ''}`);
      if (frame.model && frame.model.demo) document.dispatchEvent(new CustomEvent('painwatch:demo'));
    },
    onBinary(blob) {
      if (!expectImage) return;
      expectImage = false;
      const url = URL.createObjectURL(blob.type ? blob : new Blob([blob], { type: 'image/jpeg' }));
      image.onload = () => { if (imageUrl && imageUrl !== url) URL.revokeObjectURL(imageUrl); imageUrl = url; imageAt = Date.now(); };
      image.src = url;
      image.hidden = false;
      imageNote.hidden = true;
    },
    onStatus(status) {
      frameConnection = status;
      if (status === 'unauthorized') onUnauthorized();
      else if (status === 'gone') showNoImage(`Unknown bed ${bedId}.`);
      else if (status !== 'live') showNoImage('Connection lost - no live image.');
      image.classList.toggle('not-live', frameConnection !== 'live');
    },
  }).start();

  loadHistory();
  seed(bedId, 60).then(drawTrend);
  const trendTimer = setInterval(drawTrend, 2000);

  return {
    update(summary) {
      const found = summary.beds.find((b) => b.bed_id === bedId);
      if (found) { bed = found; render(); if (!trend.firstChild) drawTrend(); }
    },
    setConnection(status) { connection = status; render(); },
    onAlertEvent(event) { if (event.event && event.event.bed_id === bedId) loadHistory(); },
    destroy() {
      unsubscribe();
      frames.stop();
      clearInterval(trendTimer);
      if (imageUrl) URL.revokeObjectURL(imageUrl);
    },
  };
}
