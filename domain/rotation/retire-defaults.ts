/**
 * Defaults of the retirement phase. Kept apart from target.ts's schemas so the rotation workflow
 * can use them without loading zod into every workflow run (see workflows/bundle-entry.cjs).
 */
export const DEFAULT_GRACE = '1h';
export const DEFAULT_CONFIRM_WITHIN = '1h';
