import { createRequire } from 'node:module';
import { describe, expect, it } from 'vitest';
import * as workflows from '../workflows/index.js';
import { BUNDLE_ENTRY_PATH, workflowBundle } from '../worker/bundle.js';

describe('workflow bundle entry', () => {
  it('exports exactly the workflows of workflows/index.ts (the lazy entry must not drift)', () => {
    // Object.keys does not run the getters, so nothing is loaded here.
    const entry = createRequire(import.meta.url)(BUNDLE_ENTRY_PATH) as Record<string, unknown>;
    expect(Object.keys(entry).sort()).toEqual(Object.keys(workflows).sort());
  });

  it('a secret rotation loads neither zod nor the incident workflow (each module is evaluated once per workflow run)', async () => {
    const { code } = await workflowBundle();
    const reached = reachableModules(code, './workflows/rotation.ts');
    expect(reached.has('./workflows/rotation.ts')).toBe(true);
    expect([...reached].filter((m) => m.includes('/zod/') || m.startsWith('./domain/playbook') || m === './workflows/incident.ts')).toEqual([]);
    // The incident workflow does use zod: the walk is not vacuous.
    expect([...reachableModules(code, './workflows/incident.ts')].some((m) => m.includes('/zod/'))).toBe(true);
  }, 120_000);

  it('bundles every workflow module the entry names', async () => {
    const { code } = await workflowBundle();
    for (const file of ['incident', 'rotation', 'certificate', 'notification', 'posture', 'waf-block', 'intel']) {
      expect(code, file).toContain(`"./workflows/${file}.ts"`);
    }
  }, 120_000);
});

/** The bundle's modules `from` requires, directly or not (webpack's development output names each require's target). */
function reachableModules(code: string, from: string): Set<string> {
  const bodies = new Map<string, string>();
  const marker = /^\/\*\*\*\/ "([^"]+)"$/gm;
  const starts = [...code.matchAll(marker)];
  starts.forEach((m, i) => bodies.set(m[1]!, code.slice(m.index!, starts[i + 1]?.index ?? code.length)));
  const seen = new Set<string>();
  const queue = [from];
  while (queue.length) {
    const id = queue.pop()!;
    if (seen.has(id)) continue;
    seen.add(id);
    for (const r of (bodies.get(id) ?? '').matchAll(/__webpack_require__\(\/\*! [^*]* \*\/ "([^"]+)"\)/g)) queue.push(r[1]!);
  }
  return seen;
}
