// Plain progress (pipes, CI): a line per phase a host enters, and a line per
// resource as it finishes, so a long first apply is not minutes of silence.

import { describe, expect, it } from 'vitest';
import { createProgress } from '../../src/report/progress.js';

function capture(): { out: NodeJS.WriteStream; lines: () => string[] } {
  let text = '';
  const out = { write: (s: string) => ((text += s), true) } as unknown as NodeJS.WriteStream;
  return { out, lines: () => text.trimEnd().split('\n') };
}

describe('plain progress', () => {
  it('prints every finished resource of an apply with elapsed time, host, n/m, id, result and seconds', () => {
    const { out, lines } = capture();
    const p = createProgress('plain', ['web-1'], out, false);
    p.event({ host: 'web-1', phase: 'applying', done: 0, total: 2, resource: 'package:nginx' });
    p.event({ host: 'web-1', phase: 'applying', done: 1, total: 2, finished: { id: 'package:nginx', status: 'changed', seconds: 12.34 } });
    p.event({ host: 'web-1', phase: 'applying', done: 1, total: 2, resource: 'nginx-conf' });
    p.event({ host: 'web-1', phase: 'applying', done: 2, total: 2, finished: { id: 'nginx-conf', status: 'unchanged', seconds: 0.01 } });
    p.event({ host: 'web-1', phase: 'done' });
    expect(lines().map((l) => l.replace(/^\[\d+\.\ds\] /, ''))).toEqual([
      'web-1: applying 2 resource(s)',
      'web-1: 1/2 package:nginx changed (12.3s)',
      'web-1: 2/2 nginx-conf unchanged (0.0s)',
      'web-1: done',
    ]);
    for (const l of lines()) expect(l).toMatch(/^\[\d+\.\ds\] web-1: /);
  });

  it('in check mode prints only the resources that would change, fail or be skipped', () => {
    const { out, lines } = capture();
    const p = createProgress('plain', ['db-1'], out, false);
    p.event({ host: 'db-1', phase: 'planning', done: 0, total: 3, resource: 'a' });
    p.event({ host: 'db-1', phase: 'planning', done: 1, total: 3, finished: { id: 'a', status: 'unchanged', seconds: 0 } });
    p.event({ host: 'db-1', phase: 'planning', done: 2, total: 3, finished: { id: 'b', status: 'would-change', seconds: 0 } });
    p.event({ host: 'db-1', phase: 'planning', done: 3, total: 3, finished: { id: 'c', status: 'skipped', seconds: 0 } });
    expect(lines().map((l) => l.replace(/^\[\d+\.\ds\] /, ''))).toEqual(['db-1: planning 3 resource(s)', 'db-1: 2/3 b would-change (0.0s)', 'db-1: 3/3 c skipped (0.0s)']);
  });
});
