/**
 * Chaos: every built-in playbook runs while 30% of the worker's AWS and Slack requests meet an
 * injected fault (test/support/fault-proxy.ts), and finishes with exactly the expected end state in
 * the sandbox — read through a direct, unproxied client — and no duplicated side effect.
 */
import { mkdtempSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { createAwsClients } from '../../activities/clients.js';
import { parseAlert } from '../../domain/alert.js';
import { createDeliverer } from '../../intake/app.js';
import { createLogger } from '../../telemetry/logger.js';
import { stateQuery } from '../../workflows/definitions.js';
import { startFakeSlack, type FakeSlack } from '../support/fake-slack.js';
import { FaultProxy, motoControlApi, slackMayDropResponse } from '../support/fault-proxy.js';
import { runCli, startHarness, testConfig, type Harness } from '../support.js';
import { auditChainOutcome, driveToEnd, FULL, fullAlert, incidentTally, mergeOutcomes, recordResult, SCALE, SCENARIOS, scenarioConfig, SEED, stepsRecordedOnce, type Driven } from './support.js';
import { DefaultLogger, Runtime, makeTelemetryFilterString } from '@temporalio/worker';

// Injected faults make every activity retry loud; keep the SDK's own log to errors in chaos runs.
try {
  Runtime.install({ logger: new DefaultLogger('ERROR'), telemetryOptions: { logging: { filter: makeTelemetryFilterString({ core: 'ERROR' }) } } });
} catch {
  // already installed in this process
}

const RATE = 0.3;
const PER_PLAYBOOK = FULL ? Math.max(2, Math.round(SCALE / 10)) : 1;
const BOT_TOKEN = 'xoxb-chaos-0000-token';

let awsProxy: FaultProxy;
let slackProxy: FaultProxy;
let slack: FakeSlack;
let h: Harness;
let auditDir: string;
const direct = () => createAwsClients(testConfig().aws);

beforeAll(async () => {
  auditDir = mkdtempSync(join(inject('scratchDir'), 'chaos-audit-'));
  slack = await startFakeSlack({ botToken: BOT_TOKEN });
  awsProxy = new FaultProxy({ target: inject('awsEndpoint'), flavour: 'aws', rate: RATE, seed: SEED, exempt: motoControlApi, holdMs: 2000 });
  slackProxy = new FaultProxy({ target: slack.url, flavour: 'slack', rate: RATE, seed: SEED + 1, mayDropResponse: slackMayDropResponse, holdMs: 2000 });
  const [awsUrl, slackUrl] = [await awsProxy.start(), await slackProxy.start()];
  const config = testConfig({
    // Generous SDK retries: at 30% faults per request an activity making ten calls would otherwise
    // exhaust Temporal's six attempts; every SDK retry still goes through the proxy.
    aws: { endpoint: awsUrl, maxAttempts: 10 },
    slack: { botToken: BOT_TOKEN, signingSecret: 'chaos-signing-secret-0123456789', channel: 'C0CHAOS001', apiUrl: `${slackUrl}/api/` },
    audit: { dir: auditDir },
    ...scenarioConfig(mkdtempSync(join(inject('scratchDir'), 'chaos-scenarios-'))),
  });
  h = await startHarness({ config });
});

afterAll(async () => {
  await h?.close();
  await awsProxy?.stop();
  await slackProxy?.stop();
  await slack?.close();
});

describe(`chaos: built-in playbooks under ${RATE * 100}% injected AWS and Slack faults`, () => {
  it(`${PER_PLAYBOOK} incident(s) per playbook complete with the right end state and no duplicated side effect`, async () => {
    const aws = direct();
    const deliverer = createDeliverer(h.config, h.client, createLogger('silent'));
    const incidents: Driven[] = [];
    for (const scenario of SCENARIOS) {
      for (let i = 0; i < PER_PLAYBOOK; i++) {
        const run = await scenario.prepare(aws);
        const parsed = parseAlert(fullAlert(run));
        if (!parsed.ok) throw new Error(`bad chaos alert: ${JSON.stringify(parsed.errors)}`);
        const { workflowId } = await deliverer.deliver(parsed.value);
        incidents.push({ workflowId, run, outcome: { problems: [], duplicates: 0 }, done: false });
      }
    }
    await driveToEnd(h.client, incidents, { timeoutMs: FULL ? 480_000 : 150_000 });

    for (const inc of incidents) {
      if (!inc.done) inc.outcome.problems.push(`${inc.run.playbook} ${inc.workflowId} did not finish: ${inc.state?.status} ${inc.state?.attention ?? ''}`);
      inc.outcome = mergeOutcomes(inc.outcome, stepsRecordedOnce(inc.state), await inc.run.final({ client: h.client, state: inc.state }), await auditChainOutcome(h.client, auditDir, inc.workflowId));
    }
    // Slack: one incident message each (posted once, then updated in place), despite the faults.
    const deadline = Date.now() + 60_000;
    for (const inc of incidents) {
      while (Date.now() < deadline && !(await h.client.workflow.getHandle(inc.workflowId).query(stateQuery)).slackMessage) await new Promise((r) => setTimeout(r, 200));
      const posts = slack.callsOf('chat.postMessage').filter((c) => c.status === 200 && !c.error && !c.args.thread_ts && (c.args.metadata as { event_payload?: { incidentId?: string } } | undefined)?.event_payload?.incidentId === inc.workflowId);
      if (posts.length !== 1) inc.outcome.problems.push(`${inc.workflowId}: ${posts.length} Slack incident messages, expected 1`);
      inc.outcome.duplicates += Math.max(0, posts.length - 1);
    }
    const cli = await runCli(h, ['audit', 'verify', incidents[0]!.workflowId, '--no-kms'], { BULWARK_AUDIT_DIR: auditDir });

    const { problems, ...tally } = incidentTally(incidents);
    // Playbooks shipped after these scenarios were written are named in the results, not silently skipped.
    const shipped = readdirSync('playbooks').filter((f) => f.endsWith('.yaml')).map((f) => f.replace(/\.yaml$/, ''));
    const uncovered = shipped.filter((id) => !SCENARIOS.some((sc) => sc.playbook === id));
    recordResult({
      suite: 'aws+slack faults (30%)',
      ...tally,
      faultsInjected: awsProxy.stats.total + slackProxy.stats.total,
      lostAlerts: 0,
      fuzzInputs: 0,
      notes: uncovered.length ? `no scenario yet for: ${uncovered.join(', ')}` : undefined,
      detail: { aws: awsProxy.stats, slack: slackProxy.stats, problems, uncoveredPlaybooks: uncovered },
    });
    // The proxy really was in the path and really faulted about the configured share.
    expect(awsProxy.stats.requests).toBeGreaterThan(10 * incidents.length);
    expect(awsProxy.stats.total / awsProxy.stats.requests).toBeGreaterThan(RATE - 0.1);
    expect(awsProxy.stats.faults['drop-response']).toBeGreaterThan(0);
    expect(slackProxy.stats.total).toBeGreaterThan(0);
    expect(problems).toEqual([]);
    expect(tally.duplicates).toBe(0);
    expect(cli.code, cli.stderr).toBe(0);
  }, FULL ? 900_000 : 300_000);
});
