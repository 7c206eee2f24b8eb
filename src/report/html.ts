// The fleet drift report as one self-contained HTML page (no network):
// a summary table of hosts with their roles and counts, then per host the
// resources that changed, would change, failed or were skipped, grouped by
// whose change it is (drift, pending, new; then failures), each with its
// changes and diffs in collapsible sections. Checkboxes above filter by that
// class (a few lines of inline script: the page needs no network). Built
// from the redacted run.

import { CHANGE_CLASSES, countClasses, countStatuses, type HostResult, type ResourceResult, type RunResult } from '../core/result.js';
import { diffBody, formatValue, lastConvergedText, reasonText, statusText } from './text.js';

const esc = (s: unknown) => String(s).replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);

const CSS = `
body{font:14px/1.4 system-ui,sans-serif;margin:2em;color:#222}
h1{font-size:1.4em} table{border-collapse:collapse;margin:1em 0}
th,td{border:1px solid #ccc;padding:.3em .7em;text-align:left} th{background:#f3f3f3}
td.n{text-align:right} .changed{color:#a60} .would-change,.drift{color:#06a} .failed,.unreachable,.not-attempted{color:#c00} .skipped{color:#a0a} .unchanged{color:#666}
details{margin:.3em 0 .3em 1em} summary{cursor:pointer}
pre.diff{background:#f8f8f8;border:1px solid #ddd;padding:.5em;overflow:auto}
pre.diff .add{color:#070} pre.diff .del{color:#b00} pre.diff .file{font-weight:bold} pre.diff .hunk{color:#808}
.hint{color:#555;font-style:italic} .last{color:#555} h3{font-size:1em;margin:.6em 0 .2em 1em}
.pending{color:#850} .new{color:#070} #filter label{margin-right:1em}
body.hide-drift .c-drift,body.hide-pending .c-pending,body.hide-new .c-new,body.hide-other .c-other{display:none}`;

/** The class filter: each box shows or hides one group (body.hide-X hides every .c-X). */
const FILTER = `<p id="filter">Show: ${[...CHANGE_CLASSES, 'other']
  .map((k) => `<label><input type="checkbox" data-class="${k}" checked> ${k === 'other' ? 'failed / skipped' : k}</label>`)
  .join('')}</p>
<script>for (const b of document.querySelectorAll('#filter input')) b.addEventListener('change', () => document.body.classList.toggle('hide-' + b.dataset.class, !b.checked));</script>`;

const GROUP_TITLE: Record<string, string> = {
  drift: 'drift: the host no longer matches what converge last applied',
  pending: 'pending: the declared state changed since the last apply',
  new: 'new: never applied on this host',
  other: 'failed or skipped',
};

/** A diff line's class: the ---/+++ file names and @@ hunk heads are not removed or added lines. */
const lineClass = (l: string) => (/^(---|\+\+\+) /.test(l) ? 'file' : l.startsWith('@@') ? 'hunk' : l.startsWith('+') ? 'add' : l.startsWith('-') ? 'del' : '');

function diffHtml(diff: string): string {
  return `<pre class="diff">${diffBody(diff).map((l) => `<span class="${lineClass(l)}">${esc(l)}</span>`).join('\n')}</pre>`;
}

function resourceHtml(r: ResourceResult): string {
  const changes = r.changes
    .map((c) => `<li><code>${esc(c.path)}</code>: ${esc(formatValue(c, c.before))} &rarr; ${esc(formatValue(c, c.after))}${c.sensitive ? ' (sensitive)' : ''}${c.diff ? `<details class="diff"><summary>diff</summary>${diffHtml(c.diff)}</details>` : ''}</li>`)
    .join('');
  const hint = r.hint ? `<div class="hint">hint: ${esc(r.hint)}</div>` : '';
  return `<details class="resource" data-id="${esc(r.id)}" data-class="${r.class ?? 'other'}"><summary><span class="${r.status}">${esc(statusText(r))}</span> <b>${esc(r.id)}</b> <code>${esc(r.naturalId)}</code>: ${esc(reasonText(r))}</summary>${hint}<ul>${changes}</ul></details>`;
}

function hostHtml(h: HostResult): string {
  const notable = h.resources.filter((r) => r.status !== 'unchanged');
  const error = h.error ? `<p class="failed">${esc(h.error.message)}</p>${h.error.hint ? `<p class="hint">hint: ${esc(h.error.hint)}</p>` : ''}` : '';
  const groups = [...CHANGE_CLASSES, 'other']
    .map((k) => [k, notable.filter((r) => (r.class ?? 'other') === k)] as const)
    .filter(([, rs]) => rs.length)
    .map(([k, rs]) => `<section class="c-${k}"><h3 class="${k === 'other' ? 'failed' : k}">${esc(GROUP_TITLE[k])} (${rs.length})</h3>${rs.map(resourceHtml).join('')}</section>`);
  return `<details class="host" data-host="${esc(h.host)}" open><summary><b>${esc(h.host)}</b> <span class="${h.status}">${esc(h.status)}</span> (${notable.length} of ${h.resources.length} resources to look at)</summary><p class="last">${esc(lastConvergedText(h))}</p>${error}${groups.join('')}</details>`;
}

export function htmlReport(run: RunResult, title = 'converge report'): string {
  const rows = run.hosts
    .map((h) => {
      const c = countStatuses(h.resources);
      const k = countClasses(h.resources);
      return `<tr data-host="${esc(h.host)}"><td>${esc(h.host)}</td><td>${esc(h.roles.join(', '))}</td><td class="${h.status}">${esc(h.status)}</td><td class="n unchanged">${c.unchanged}</td><td class="n changed">${c.changed}</td><td class="n would-change">${c['would-change']}</td><td class="n drift">${k.drift}</td><td class="n pending">${k.pending}</td><td class="n new">${k.new}</td><td class="n failed">${c.failed}</td><td class="n skipped">${c.skipped}</td></tr>`;
    })
    .join('\n');
  return `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>${esc(title)}</title><style>${CSS}</style></head>
<body>
<h1>${esc(title)}: ${run.mode} of ${run.hosts.length} host(s)</h1>
<p>${run.interrupted ? '<b class="failed">Interrupted.</b> ' : ''}Took ${(run.durationMs / 1000).toFixed(1)} s.</p>
<table id="summary"><thead><tr><th>host</th><th>roles</th><th>status</th><th>unchanged</th><th>changed</th><th>would change</th><th>drift</th><th>pending</th><th>new</th><th>failed</th><th>skipped</th></tr></thead>
<tbody>
${rows}
</tbody></table>
${FILTER}
${run.hosts.map(hostHtml).join('\n')}
</body></html>
`;
}
