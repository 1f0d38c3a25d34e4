import { z } from 'zod';
import { parseYamlFile, type YamlFileError } from '../yaml-file.js';
import { Classification } from './classification.js';
import { HttpMethod, endpointKey } from './inventory.js';

export { CLASSIFICATIONS, Classification, SENSITIVE } from './classification.js';

/**
 * The declared inventory (`inventory.yaml`): the endpoints the team says exist, who owns each and
 * what data it carries. The scan compares what is deployed against it.
 */
const name = z.string().min(1).max(256).regex(/^[A-Za-z0-9._:@+=,-]+$/, 'expected letters, digits and . _ : @ + = , - only');

/** HTTP APIs have a `$default` stage, which the name alphabet above leaves out. */
const stageName = z.string().min(1).max(256).regex(/^(\$default|[A-Za-z0-9._:@+=,-]+)$/, 'expected $default or letters, digits and . _ : @ + = , - only');

export const DeclaredEndpoint = z.strictObject({
  /** REST or HTTP API name (ids change when an API is recreated; names are what teams know). An HTTP API may also be named by its id. */
  api: name.optional(),
  stage: stageName.optional(),
  method: z.preprocess((v) => (typeof v === 'string' ? v.toUpperCase() : v), HttpMethod),
  path: z.string().min(1).max(512).regex(/^\/[^\s]*$/, 'expected a path starting with / and no spaces'),
  owner: z.string().min(1).max(128),
  classification: Classification,
  description: z.string().max(1000).optional(),
});
export type DeclaredEndpoint = z.infer<typeof DeclaredEndpoint>;

export const DeclaredInventoryDoc = z
  .strictObject({
    version: z.literal(1),
    /** Applied to endpoints that leave api or stage out. */
    defaults: z.strictObject({ api: name.optional(), stage: stageName.optional() }).default({}),
    /** Only these APIs are compared; anything else deployed is not reported as shadow (default: every API in the account). */
    scope: z.strictObject({ apis: z.array(name).min(1).optional() }).default({}),
    endpoints: z.array(DeclaredEndpoint).max(10_000),
  })
  .superRefine((doc, ctx) => {
    const seen = new Map<string, number>();
    doc.endpoints.forEach((e, i) => {
      const api = e.api ?? doc.defaults.api;
      const stage = e.stage ?? doc.defaults.stage;
      if (!api) ctx.addIssue({ code: 'custom', path: ['endpoints', i, 'api'], message: 'expected an api name (here or in defaults.api)' });
      if (!stage) ctx.addIssue({ code: 'custom', path: ['endpoints', i, 'stage'], message: 'expected a stage (here or in defaults.stage)' });
      if (!api || !stage) return;
      const key = endpointKey({ apiName: api, stage, method: e.method, path: e.path });
      const first = seen.get(key);
      if (first !== undefined) ctx.addIssue({ code: 'custom', path: ['endpoints', i], message: `duplicate of endpoints[${first}] (${key})` });
      else seen.set(key, i);
    });
  });
export type DeclaredInventoryDoc = z.infer<typeof DeclaredInventoryDoc>;

/** The file with defaults applied: every endpoint has its api and stage and a key. */
export interface DeclaredInventory {
  scopeApis?: string[];
  endpoints: (Required<Pick<DeclaredEndpoint, 'api' | 'stage'>> & Omit<DeclaredEndpoint, 'api' | 'stage'> & { key: string })[];
}

export function resolveDeclared(doc: DeclaredInventoryDoc): DeclaredInventory {
  return {
    ...(doc.scope.apis ? { scopeApis: doc.scope.apis } : {}),
    endpoints: doc.endpoints.map((e) => {
      const api = (e.api ?? doc.defaults.api)!;
      const stage = (e.stage ?? doc.defaults.stage)!;
      return { ...e, api, stage, key: endpointKey({ apiName: api, stage, method: e.method, path: e.path }) };
    }),
  };
}

/** Parses inventory.yaml; errors carry file:line and the field. */
export function parseDeclaredInventory(text: string, file = 'inventory.yaml'): { ok: true; inventory: DeclaredInventory } | { ok: false; errors: YamlFileError[] } {
  const r = parseYamlFile(text, file, DeclaredInventoryDoc);
  return r.ok ? { ok: true, inventory: resolveDeclared(r.data) } : r;
}
