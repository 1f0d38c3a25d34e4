import { z } from 'zod';

/** Data classification of a declared endpoint (kept apart from the YAML loader so workflows can import it). */
export const CLASSIFICATIONS = ['payment', 'account-data', 'personal-data', 'internal', 'public'] as const;
export const Classification = z.enum(CLASSIFICATIONS);
export type Classification = z.infer<typeof Classification>;

/** Classifications whose endpoints must have authentication and throttling. */
export const SENSITIVE: readonly Classification[] = ['payment', 'account-data', 'personal-data'];
