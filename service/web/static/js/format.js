// Words, colours and numbers shown to nurses: bands per clinical scale, bed states (stale = analysis stalled),
// alert kinds, the service's technical conditions, priorities, times.

export const STATE_LABEL = {
  ok: 'OK', no_face: 'NO FACE', no_signal: 'NO SIGNAL', model_error: 'MODEL ERROR', starting: 'STARTING',
  stale: 'STALE', lost: 'CONNECTION LOST', node_down: 'NODE DOWN',
};

// Facial item bands (service/aggregation/scales.py): DAN 0-4 (1 is never estimated), FLACC 0-2.
const BANDS = {
  DAN: [
    { from: 0, to: 1, cls: 'band-none', label: 'calm' },
    { from: 2, to: 2, cls: 'band-mild', label: 'pain < 1/3 of time' },
    { from: 3, to: 3, cls: 'band-moderate', label: 'pain 1/3-2/3 of time' },
    { from: 4, to: 4, cls: 'band-severe', label: 'pain > 2/3 of time' },
  ],
  FLACC: [
    { from: 0, to: 0, cls: 'band-none', label: 'relaxed' },
    { from: 1, to: 1, cls: 'band-mild', label: 'occasional grimace' },
    { from: 2, to: 2, cls: 'band-severe', label: 'frequent/constant' },
  ],
};

export function scaleBands(scale) {
  return BANDS[scale] || BANDS.DAN;
}

export function scaleMax(scale) {
  return scale === 'FLACC' ? 2 : 4;
}

export function band(scale, score) {
  if (score === null || score === undefined) return { cls: 'band-unknown', label: 'unknown' };
  return scaleBands(scale).find((b) => score >= b.from && score <= b.to) || { cls: 'band-unknown', label: '?' };
}

export const PRIORITY_LABEL = { high: 'HIGH', medium: 'MEDIUM', low: 'LOW' };
export const KIND_LABEL = {
  pain_episode: 'Pain episode', no_signal: 'No signal', no_face: 'No face', model_error: 'Model error',
  stale: 'Stale (analysis stalled)', node_down: 'Node down (bed not monitored)',
};
export const CONDITION_LABEL = {
  store_unavailable: 'Store unavailable', component_down: 'Component down', analysis_stalled: 'Analysis stalled',
};
export const VERDICT_LABEL = { pain_confirmed: 'Pain confirmed', not_pain: 'Not pain', unsure: 'Unsure' };

export function pct(value) {
  return value === null || value === undefined ? '-' : `${Math.round(value * 100)}%`;
}

export function clock(ts) {
  if (!ts) return '-';
  return new Date(ts * 1000).toLocaleTimeString([], { hour: '2-digit', minute: '2-digit', second: '2-digit' });
}

export function dateTime(ts) {
  if (!ts) return '-';
  const d = new Date(ts * 1000);
  return `${d.toLocaleDateString()} ${d.toLocaleTimeString([], { hour: '2-digit', minute: '2-digit' })}`;
}

export function ago(ts, now = Date.now() / 1000) {
  if (!ts) return 'never';
  const s = Math.max(0, Math.round(now - ts));
  if (s < 60) return `${s} s ago`;
  if (s < 3600) return `${Math.floor(s / 60)} min ago`;
  return `${Math.floor(s / 3600)} h ago`;
}
