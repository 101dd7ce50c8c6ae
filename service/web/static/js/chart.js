// SVG charts without a library: the grid's sparkline and the detail page's trend with the scale's bands.
import { svg } from './dom.js';
import { scaleBands, scaleMax } from './format.js';

/** Polyline segments of (x, y) with gaps where y is null or points are further apart than maxGap. */
function paths(points, x, y, value, maxGap = 5) {
  const segments = [];
  let current = [];
  let previous = null;
  for (const point of points) {
    const v = value(point);
    if (v === null || v === undefined || (previous && point.ts - previous.ts > maxGap)) {
      if (current.length) segments.push(current);
      current = [];
    }
    if (v !== null && v !== undefined) current.push(`${x(point.ts).toFixed(1)},${y(v).toFixed(1)}`);
    previous = point;
  }
  if (current.length) segments.push(current);
  return segments.map((seg) => (seg.length === 1 ? `M${seg[0]}h1` : `M${seg.join('L')}`)).join(' ');
}

/** Smoothed probability over the last spanS seconds (0..1). */
export function sparkline(points, now, spanS = 600) {
  const w = 300;
  const h = 60;
  const x = (ts) => ((ts - (now - spanS)) / spanS) * w;
  const y = (p) => h - 2 - p * (h - 4);
  return svg('svg', { viewBox: `0 0 ${w} ${h}`, class: 'sparkline', preserveAspectRatio: 'none',
    role: 'img', 'aria-label': 'smoothed pain probability, last 10 minutes' },
  svg('line', { x1: 0, x2: w, y1: y(0.5), y2: y(0.5), class: 'spark-mid' }),
  svg('path', { d: paths(points, x, y, (p) => p.p), class: 'spark-line' }));
}

/** Estimated score over the last spanS seconds, drawn over the scale's bands, with minute ticks. */
export function trendChart(points, scale, now, spanS = 3600) {
  const w = 900;
  const h = 260;
  const left = 40;
  const bottom = 24;
  const max = scaleMax(scale);
  const x = (ts) => left + ((ts - (now - spanS)) / spanS) * (w - left);
  const y = (s) => (h - bottom) - (s / max) * (h - bottom - 8);
  const root = svg('svg', { viewBox: `0 0 ${w} ${h}`, class: 'trend', role: 'img',
    'aria-label': `estimated ${scale} face score, last hour` });
  for (const b of scaleBands(scale)) {
    const top = y(Math.min(max, b.to + 0.5));
    const bot = y(Math.max(0, b.from - 0.5));
    root.append(svg('rect', { x: left, y: top, width: w - left, height: bot - top, class: `trend-band ${b.cls}` }));
    const label = svg('text', { x: w - 6, y: (top + bot) / 2 + 6, class: 'trend-band-label', 'text-anchor': 'end' });
    label.textContent = b.label;
    root.append(label);
  }
  for (let s = 0; s <= max; s += 1) {
    const t = svg('text', { x: left - 8, y: y(s) + 6, class: 'trend-axis', 'text-anchor': 'end' });
    t.textContent = String(s);
    root.append(t);
  }
  const step = Math.max(1, Math.round(spanS / 60 / 6));
  for (let m = 0; m <= spanS / 60; m += step) {
    const tx = x(now - spanS + m * 60);
    root.append(svg('line', { x1: tx, x2: tx, y1: 8, y2: h - bottom, class: 'trend-grid' }));
    const t = svg('text', { x: tx, y: h - 4, class: 'trend-axis', 'text-anchor': 'middle' });
    t.textContent = m === spanS / 60 ? 'now' : `-${spanS / 60 - m} min`;
    root.append(t);
  }
  root.append(svg('path', { d: paths(points, x, y, (p) => p.score), class: 'trend-line' }));
  return root;
}

/** A snapshot's score trace (GET /api/alerts/{id}/snapshot: trace.trend, [{ts, estimated_score, ...}]); null
 * when it holds no point. */
export function traceChart(trend, scale) {
  if (!Array.isArray(trend) || !trend.length) return null;
  const points = trend.map((p) => ({ ts: p.ts, score: p.estimated_score }));
  const end = points[points.length - 1].ts;
  return trendChart(points, scale, end, Math.max(60, Math.ceil((end - points[0].ts) / 60) * 60));
}
