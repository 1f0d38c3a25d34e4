/**
 * `npm run devtools` and npm's postinstall: make sure the pinned Temporal CLI and moto are in
 * .devtools/. BULWARK_SKIP_DEVTOOLS=1 skips it (e.g. when both come from PATH or env).
 */
import { ensureTools } from './tools.js';

if (process.env.BULWARK_SKIP_DEVTOOLS === '1') process.exit(0);
try {
  const tools = await ensureTools({ onProgress: (m) => console.log(`bulwark: ${m}`) });
  console.log(`bulwark: Temporal CLI ${tools.temporal}; moto ${[tools.moto.command, ...tools.moto.args].join(' ')}`);
} catch (err) {
  console.error(`bulwark: ${(err as Error).message}`);
  process.exit(1);
}
