// Per-bed history kept in the page from the live summary stream: 1 point per second, the last hour.

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
