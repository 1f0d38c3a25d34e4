import { z } from 'zod';
import { DurationText } from '../schemas.js';
import { parseCidr, SPECIAL_CATEGORIES } from './cidr.js';

const REFERENCE = /^\$\{[^}]+\}$/;

/** One address or CIDR, or a `${alert.subject.sourceIp}` reference resolved when the step runs. */
const ipEntry = z.string().superRefine((s, ctx) => {
  if (REFERENCE.test(s.trim())) return;
  try {
    parseCidr(s);
  } catch (err) {
    ctx.addIssue({ code: 'custom', message: (err as Error).message });
  }
});

/** Parameters of `waf.blockIps` (declared in domain/playbooks/actions.ts). */
export const BLOCK_IPS_SHAPE = {
  ips: z.union([ipEntry, z.array(ipEntry).min(1).max(10_000)]),
  ttl: DurationText,
  ipSetName: z.string().regex(/^[\w-]{1,100}$/, 'expected letters, digits, _ and -').optional(),
  /** Special-purpose ranges this step may block (private, documentation, …); refused otherwise. */
  allow: z.array(z.enum(SPECIAL_CATEGORIES)).optional(),
};
