// src/resources holds one file per resource type: every other module there
// (what types share) lives in src/resources/lib.

import { readdirSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { resourceTypes } from '../../src/resources/index.js';

describe('src/resources layout', () => {
  it('has a file per registered type, and nothing else but the registry', () => {
    const dir = join(import.meta.dirname, '../../src/resources');
    const modules = readdirSync(dir).filter((f) => f.endsWith('.ts') && !f.endsWith('.test.ts') && f !== 'index.ts');
    const typeFiles = Object.values(resourceTypes).map((t) => `${t.kind.replace(/_/g, '-')}.ts`);
    expect(modules.filter((f) => !typeFiles.includes(f))).toEqual([]);
    expect(typeFiles.filter((f) => !modules.includes(f))).toEqual([]);
  });
});
