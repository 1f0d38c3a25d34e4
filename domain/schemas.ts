import { z } from 'zod';
import { parseDurationSeconds } from './duration.js';

/** Durations as operators write them in YAML: "90s", "30m", "2h", "1d". */
export const DurationText = z.string().refine((s) => {
  try {
    return parseDurationSeconds(s) > 0;
  } catch {
    return false;
  }
}, 'expected a duration like 90s, 30m, 2h or 1d');
