// The active model: warnings first, then what it runs on (human units), its cross-validation metrics and the
// datasets it was trained on; the full card stays one click away. DOM built with dom.js, never HTML strings.
import * as api from './api.js';
import { el, fill } from './dom.js';

const METRIC_LABEL = {
  accuracy: 'Accuracy', precision: 'Precision', recall: 'Recall (sensitivity)', specificity: 'Specificity',
  f1: 'F1', roc_auc: 'ROC AUC', balanced_accuracy: 'Balanced accuracy',
};

function ms(value) {
  if (typeof value !== 'number' || !Number.isFinite(value)) return '-';
  return value >= 10 ? `${Math.round(value)} ms` : `${value.toFixed(1)} ms`;
}

function fixed(value, digits = 3) {
  return typeof value === 'number' && Number.isFinite(value) ? value.toFixed(digits) : '-';
}

function when(epochSeconds) {
  return epochSeconds ? new Date(epochSeconds * 1000).toLocaleString() : '-';
}

function providerName(provider) {
  return String(provider).replace(/ExecutionProvider$/, '');
}

// A nested card value as readable nodes: objects as definition lists, lists of scalars joined.
function render(value) {
  if (value === null || value === undefined || value === '') return '-';
  if (Array.isArray(value)) {
    if (value.every((v) => v === null || typeof v !== 'object')) return value.join(', ');
    return el('ol', {}, value.map((v) => el('li', {}, render(v))));
  }
  if (typeof value === 'object') {
    return el('dl', { class: 'card-facts nested' },
      Object.entries(value).flatMap(([k, v]) => [el('dt', {}, k), el('dd', {}, render(v))]));
  }
  if (typeof value === 'number' && !Number.isInteger(value)) return String(Number(value.toPrecision(4)));
  return String(value);
}

function facts(rows) {
  return el('dl', { class: 'card-facts' }, rows.flatMap(([label, node]) => [el('dt', {}, label), el('dd', {}, node)]));
}

function warningsBlock(report) {
  const warnings = report.warnings || [];
  if (!warnings.length) return null;
  return el('section', { class: 'model-warnings' },
    el('h2', {}, 'Warnings'),
    el('ul', { class: 'warnings' }, warnings.map((w) => el('li', {},
      el('span', {}, w.text), w.fix ? el('span', { class: 'muted' }, ` - ${w.fix}`) : null))));
}

const CIRCUIT_LABEL = {
  closed: 'answering', open: 'not answering: batches fail at once (beds show model error)', half_open: 'trying again',
};

// The Triton server, model and version serving the beds (backend triton), and whether it answers now.
function tritonRows(triton) {
  if (!triton) return [];
  return [
    ['Triton server', el('code', {}, triton.url)],
    ['Triton model', `${triton.model} / version ${triton.version} (max batch ${triton.max_batch_size})`],
    ['Triton status', el('span', { class: triton.circuit === 'closed' ? null : 'error' },
      CIRCUIT_LABEL[triton.circuit] || triton.circuit, triton.problem ? ` - ${triton.problem}` : '')],
  ];
}

function runtimeBlock(report) {
  const card = report.card || {};
  const requested = report.requested_providers || [];
  const used = report.providers || [];
  // with the triton backend model.providers are not used: Triton places the model itself
  const fellBack = report.backend !== 'triton' && requested.length && used.length && requested[0] !== used[0];
  return el('section', {},
    el('h2', {}, 'Runtime'),
    facts([
      ['Backend', report.backend === 'triton' ? 'NVIDIA Triton Inference Server' : 'ONNX Runtime (in the service)'],
      ['Runs on', el('ul', { class: 'providers' }, used.map((p) => el('li', {}, providerName(p))))],
      ...tritonRows(report.triton),
      fellBack ? ['Requested', requested.map(providerName).join(', ')] : null,
      ['Warm-up', ms(report.warmup_ms)],
      ['Loaded', when(report.loaded_at)],
      ['Created', card.created ? new Date(card.created).toLocaleString() : '-'],
      ['Intended use', card.intended_use || '-'],
      ['Face detector', card.detector || 'any'],
      ['Quantization', card.quantization ? (card.quantization.method || card.quantization.mode || 'yes') : 'none (fp32)'],
      ['File', report.path],
      ['SHA-256', el('code', { title: report.sha256 }, `${String(report.sha256).slice(0, 16)}...`)],
      ['Git commit', card.git_commit ? el('code', {}, String(card.git_commit).slice(0, 12)) : '-'],
    ].filter(Boolean)));
}

function metricsBlock(report) {
  const metrics = report.cv_metrics || [];
  return el('section', {},
    el('h2', {}, 'Cross-validation'),
    metrics.length ? el('table', { class: 'table metrics' },
      el('thead', {}, el('tr', {}, el('th', {}, 'Metric'), el('th', {}, 'Mean'), el('th', {}, 'SD'), el('th', {}, 'Folds'))),
      el('tbody', {}, metrics.map((m) => el('tr', {},
        el('td', {}, METRIC_LABEL[m.name] || m.name), el('td', {}, fixed(m.mean)), el('td', {}, fixed(m.std)),
        el('td', {}, m.n ?? '-')))))
      : el('p', { class: 'muted' }, 'The card has no cross-validation metrics.'));
}

function datasetsBlock(report) {
  const datasets = report.datasets || [];
  return el('section', {},
    el('h2', {}, 'Training data'),
    datasets.length ? el('table', { class: 'table datasets' },
      el('thead', {}, el('tr', {}, ['Dataset', 'Infants', 'Frames', 'Classes', 'Synthetic'].map((h) => el('th', {}, h)))),
      el('tbody', {}, datasets.map((d) => el('tr', {},
        el('td', {}, d.name), el('td', {}, d.infants ?? '-'), el('td', {}, d.frames ?? '-'),
        el('td', {}, Object.entries(d.class_balance || {}).map(([k, v]) => `${k} ${v}`).join(', ') || '-'),
        el('td', {}, d.synthetic ? 'yes' : 'no')))))
      : el('p', { class: 'muted' }, 'The card names no datasets.'));
}

export function createModel(container) {
  fill(container, el('h1', {}, 'Model'), el('p', { class: 'muted' }, 'Loading...'));
  api.model().then((report) => {
    const card = report.card || {};
    fill(container,
      el('h1', {}, `Model ${report.name || card.name} / ${report.version || card.version}`),
      (report.demo ?? card.demo) ? el('p', { class: 'demo-inline' }, 'DEMO model - not for clinical use.') : null,
      warningsBlock(report),
      runtimeBlock(report),
      metricsBlock(report),
      datasetsBlock(report),
      el('details', {}, el('summary', {}, 'Full model card'), render(card)));
  }).catch((error) => {
    fill(container, el('h1', {}, 'Model'), el('p', { class: 'error' }, `Could not load the model card: ${error.message}`));
  });
  return { destroy() {} };
}
