// Per-bed history: the stored 1 Hz trend (so a reload keeps the last hour), extended by the live summary stream.

import { trend } from './api.js';

const KEEP_S = 3600;
const series = new Map();

/** Record one bed summary at time ts (Unix s); unknown states record nulls (a gap, never "no pain"). */
export function record(bed, ts) {
  let points = series.get(bed.bed_id);
  if (!points) series.set(bed.bed_id, (points = []));
  const last = points[points.length - 1];
  if (last && ts - last.ts < 1) return;
  const known = bed.state === 'ok';
  points.push({
    ts,
    p: known ? bed.smoothed_probability : null,
    score: known ? bed.estimated_score : null,
  });
  while (points.length && points[0].ts < ts - KEEP_S) points.shift();
}

/** Mark a gap (e.g. connection lost) so lines do not bridge it. */
export function gap(ts) {
  for (const points of series.values()) points.push({ ts, p: null, score: null });
}

export function points(bedId, since) {
  return (series.get(bedId) || []).filter((point) => point.ts >= since);
}

const seeded = new Map();

/** Load the stored trend once per bed (up to `minutes` back) under the live points; failures leave live-only. */
export async function seed(bedId, minutes) {
  if ((seeded.get(bedId) || 0) >= minutes) return;
  seeded.set(bedId, minutes);
  let rows;
  try {
    rows = await trend(bedId, minutes);
  } catch {
    seeded.delete(bedId);
    return;
  }
  const live = series.get(bedId) || [];
  const firstLive = live.length ? live[0].ts : Infinity;
  const stored = rows
    .filter((row) => row.ts < firstLive)
    .map((row) => ({
      ts: row.ts,
      p: row.state === 'ok' ? row.smoothed_probability : null,
      score: row.state === 'ok' ? row.estimated_score : null,
    }));
  series.set(bedId, [...stored, ...live]);
}
