// The fleet drift report as Markdown, for a ticket or a pull request.

import { countClasses, countStatuses, type RunResult } from '../core/result.js';
import { diffBody, formatValue, lastConvergedText, reasonText, statusText } from './text.js';

const cell = (s: unknown) => String(s).replace(/\|/g, '\\|').replace(/\n/g, ' ');

export function markdownReport(run: RunResult, title = 'converge report'): string {
  const out = [`# ${title}: ${run.mode} of ${run.hosts.length} host(s)`, '', '| host | roles | status | unchanged | changed | would change | drift | pending | new | failed | skipped |', '|---|---|---|---:|---:|---:|---:|---:|---:|---:|---:|'];
  for (const h of run.hosts) {
    const c = countStatuses(h.resources);
    const k = countClasses(h.resources);
    out.push(`| ${cell(h.host)} | ${cell(h.roles.join(', '))} | ${h.status} | ${c.unchanged} | ${c.changed} | ${c['would-change']} | ${k.drift} | ${k.pending} | ${k.new} | ${c.failed} | ${c.skipped} |`);
  }
  for (const h of run.hosts) {
    const notable = h.resources.filter((r) => r.status !== 'unchanged');
    if (!notable.length && !h.error) continue;
    out.push('', `## ${h.host} (${h.status})`, '', `_${cell(lastConvergedText(h))}_`, '');
    if (h.error) out.push(`**${h.error.message}**${h.error.hint ? ` (hint: ${h.error.hint})` : ''}`, '');
    for (const r of notable) {
      out.push(`<details><summary>${statusText(r)}: <b>${r.id}</b> <code>${r.naturalId}</code>: ${cell(reasonText(r))}</summary>`, '');
      for (const c of r.changes) {
        out.push(`- \`${c.path}\`: ${formatValue(c, c.before)} → ${formatValue(c, c.after)}`);
        if (c.diff) out.push('', '```diff', diffBody(c.diff).join('\n'), '```');
      }
      out.push('', '</details>');
    }
  }
  return out.join('\n') + '\n';
}
