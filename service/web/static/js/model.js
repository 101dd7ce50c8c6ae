// The active model card.
import * as api from './api.js';
import { clear, el } from './dom.js';

function value(v) {
  if (v === null || v === undefined || v === '') return '-';
  if (typeof v === 'object') return el('pre', {}, JSON.stringify(v, null, 2));
  return String(v);
}

export function createModel(container) {
  clear(container).append(el('h1', {}, 'Model'), el('p', { class: 'muted' }, 'Loading...'));
  api.model().then((report) => {
    const card = report.card;
    const main = ['name', 'version', 'created', 'demo', 'intended_use', 'detector', 'git_commit', 'backbone_weights'];
    const rest = Object.keys(card).filter((k) => !main.includes(k) && k !== 'warnings');
    clear(container).append(
      el('h1', {}, `Model ${card.name} / ${card.version}`),
      card.demo ? el('p', { class: 'demo-inline' }, 'DEMO model - not for clinical use.') : null,
      (card.warnings || []).length ? el('ul', { class: 'warnings' }, card.warnings.map((w) => el('li', {}, w))) : null,
      el('dl', { class: 'card-facts' },
        ['path', 'providers', 'loaded_at', 'warmup_ms'].flatMap((k) => [el('dt', {}, k), el('dd', {}, value(k === 'loaded_at' && report[k] ? new Date(report[k] * 1000).toLocaleString() : report[k]))]),
        main.flatMap((k) => [el('dt', {}, k), el('dd', {}, value(card[k]))])),
      el('details', {}, el('summary', {}, 'Full model card'),
        el('dl', { class: 'card-facts' }, rest.flatMap((k) => [el('dt', {}, k), el('dd', {}, value(card[k]))]))));
  }).catch((error) => {
    clear(container).append(el('h1', {}, 'Model'), el('p', { class: 'error' }, `Could not load the model card: ${error.message}`));
  });
  return { destroy() {} };
}
