import { readFileSync } from 'node:fs';
import type { Command } from 'commander';
import { parseAlert, type Alert } from '../../domain/alert.js';
import { actionSpec } from '../../domain/playbooks/actions.js';
import { evaluate, parseCondition } from '../../domain/playbooks/condition.js';
import { formatPlaybookError, type LoadedPlaybook } from '../../domain/playbooks/load.js';
import { planFromPlaybook, settingsFrom, type Plan, type PlannedStep } from '../../domain/playbooks/plan.js';
import { matches, specificity } from '../../domain/playbooks/route.js';
import { referencedPaths, resolveTemplates } from '../../domain/playbooks/template.js';
import { createAwsClients } from '../../activities/clients.js';
import { createPreview, type StepPreview } from '../../activities/preview.js';
import { loadPlaybooks, playbookFiles, SHIPPED_PLAYBOOKS_DIR } from '../../intake/playbook-catalog.js';
import { playbookDefaults } from '../../temporal.config.js';
import { configFrom, type GlobalOptions } from '../context.js';
import { CliError, usageError } from '../errors.js';
import { readDevState } from '../devstate.js';
import { plainTable } from '../render.js';

function loadOne(file: string): LoadedPlaybook {
  let files: string[];
  try {
    files = playbookFiles(file);
  } catch (err) {
    throw usageError(`cannot read ${file}: ${(err as Error).message}`);
  }
  if (files.length !== 1) throw usageError(`${file}: give one playbook file (validate takes directories)`);
  const { loaded, errors } = loadPlaybooks(files);
  if (errors.length) throw new CliError(`invalid playbook:\n${errors.map(formatPlaybookError).join('\n')}`);
  return loaded[0]!;
}

function readAlert(path: string): Alert {
  let json: unknown;
  try {
    json = JSON.parse(readFileSync(path, 'utf8'));
  } catch (err) {
    throw usageError(`--alert ${path}: ${(err as Error).message}`);
  }
  const parsed = parseAlert(json);
  if (!parsed.ok) throw usageError(`--alert ${path} is not a valid alert:\n${parsed.errors.map((e) => `  ${e.field}: ${e.message}`).join('\n')}`);
  return parsed.value;
}

/** Whether a step's condition holds for the alert alone; undefined when it depends on earlier steps. */
function conditionNow(step: PlannedStep, plan: Plan, alert: Alert): boolean | undefined {
  if (!step.when) return true;
  const expr = parseCondition(step.when);
  if (/\bsteps\./.test(step.when)) return undefined;
  return evaluate(expr, { alert, inputs: plan.inputs ?? {}, settings: plan.settings, incident: { severity: alert.severity } });
}

const effectLabel = (s: PlannedStep) =>
  s.reversible ? `reversible: ${s.undo}` : s.effect === 'containment' || s.effect === 'destructive' ? `irreversible (${s.effect}; never auto-undone)` : s.effect;

export function renderPlan(p: LoadedPlaybook, plan: Plan, alert: Alert, previews?: Map<string, StepPreview>): string {
  const out: string[] = [];
  out.push(`${p.doc.id} v${p.doc.version} — ${p.doc.title}  (${p.file}, digest ${p.digest})`);
  out.push(`alert: ${alert.type} (${alert.severity}) from ${alert.source}`);
  if (!matches(p.doc.match, alert)) out.push(`note: this alert does not match the playbook's match rules: intake would not route it here`);
  if (plan.operatorBelow) {
    const gated = plan.steps.some((s) => s.gate);
    out.push(
      `gate: alerts below ${plan.operatorBelow} wait for \`bulwark incident contain\` — ${gated && ['low', 'medium', 'high', 'critical'].indexOf(alert.severity) < ['low', 'medium', 'high', 'critical'].indexOf(plan.operatorBelow) ? 'this one waits' : 'this one does not wait'}`,
    );
  }
  const groups = [...new Set(plan.steps.map((s) => s.group))];
  groups.forEach((g, gi) => {
    const steps = plan.steps.filter((s) => s.group === g);
    const lastGroup = gi === groups.length - 1;
    if (steps.length > 1) out.push(`${lastGroup ? '└─' : '├─'} in parallel:`);
    steps.forEach((s, si) => {
      const indent = steps.length > 1 ? (lastGroup ? '   ' : '│  ') : '';
      const branch = steps.length > 1 ? (si === steps.length - 1 ? '└─' : '├─') : lastGroup ? '└─' : '├─';
      const cont = `${indent}${steps.length > 1 ? (si === steps.length - 1 ? '   ' : '│  ') : lastGroup ? '   ' : '│  '}`;
      const cond = conditionNow(s, plan, alert);
      out.push(`${indent}${branch} ${s.id}: ${s.title}  [${s.action}]${cond === false ? '  (skipped: condition false)' : ''}`);
      const params = Object.entries(s.with).map(([k, v]) => `${k}=${typeof v === 'object' ? JSON.stringify(v) : String(v)}`);
      out.push(`${cont}with: ${params.length ? params.join(' ') : '(none)'}`);
      if (s.when) out.push(`${cont}when: ${s.when} → ${cond === undefined ? 'decided when it runs' : cond}`);
      if (s.gate) out.push(`${cont}gate: contain (operator)`);
      if (s.approval) out.push(`${cont}approval: ${s.approval} (bulwark incident approve <id> ${s.id})`);
      out.push(`${cont}effect: ${effectLabel(s)} · on failure: ${s.onFailure}${s.timeoutSeconds ? ` · timeout ${s.timeoutSeconds}s` : ''}${s.retry ? ` · ${s.retry.maxAttempts} attempts` : ''}`);
      if (s.invalid) out.push(`${cont}PROBLEM: ${s.invalid}`);
      const pv = previews?.get(s.id);
      for (const c of pv?.changes ?? []) out.push(`${cont}would: ${c}`);
      for (const pr of pv?.problems ?? []) out.push(`${cont}PROBLEM: ${pr}`);
    });
  });
  return out.join('\n');
}

export function registerPlaybookCommands(program: Command): void {
  const globals = () => program.opts<GlobalOptions>();
  const playbook = program
    .command('playbook')
    .description('write and check playbooks before an incident: validate, plan, dry-run test, list')
    .addHelpText('after', `\nPlaybooks are YAML files (playbooks/README.md has the language). Intake serves the ones in\nBULWARK_PLAYBOOKS_DIR (default: the shipped playbooks/) and reloads them when files change;\nan invalid edit is refused and the previous version keeps serving.`);

  playbook
    .command('validate [target]')
    .description('check one file or every *.yaml in a directory (default: the configured playbooks); exit 1 on any error')
    .option('--json', 'print JSON')
    .action((target: string | undefined, o: { json?: boolean }) => {
      const dir = target ?? configFrom(globals()).playbooks.dir ?? SHIPPED_PLAYBOOKS_DIR;
      let files: string[];
      try {
        files = playbookFiles(dir);
      } catch (err) {
        throw usageError(`cannot read ${dir}: ${(err as Error).message}`);
      }
      const { loaded, errors } = loadPlaybooks(files);
      if (o.json) console.log(JSON.stringify({ valid: loaded.map((p) => ({ id: p.doc.id, version: p.doc.version, file: p.file, digest: p.digest })), errors }, null, 2));
      else {
        const bad = new Set(errors.map((e) => e.file));
        for (const p of loaded) if (!bad.has(p.file)) console.log(`ok    ${p.file}  ${p.doc.id} v${p.doc.version}, ${p.doc.steps.length} step(s)`);
        for (const e of errors) console.log(`error ${formatPlaybookError(e)}`);
        if (files.length === 0) console.log(`no *.yaml files in ${dir}`);
      }
      if (errors.length) throw new CliError(`${errors.length} problem(s) in ${new Set(errors.map((e) => e.file)).size} file(s)`);
    });

  playbook
    .command('list')
    .description('the playbooks in service, with what they match and how specific the match is')
    .option('--json', 'print JSON')
    .action((o: { json?: boolean }) => {
      const dir = configFrom(globals()).playbooks.dir ?? SHIPPED_PLAYBOOKS_DIR;
      const { loaded, errors } = loadPlaybooks(playbookFiles(dir));
      if (o.json) return console.log(JSON.stringify(loaded.map((p) => ({ id: p.doc.id, version: p.doc.version, match: p.doc.match, specificity: specificity(p.doc.match), steps: p.doc.steps.length, file: p.file })), null, 2));
      const t = plainTable(['playbook', 'v', 'matches', 'specificity', 'steps', 'file']);
      for (const p of loaded) {
        const m = p.doc.match;
        const what = [m.types?.join(','), m.severities && `severity ${m.severities.join(',')}`, m.sources && `source ${m.sources.join(',')}`, m.subject && Object.entries(m.subject).map(([k, v]) => `${k}=${v}`).join(' ')].filter(Boolean).join(' · ');
        t.push([p.doc.id, p.doc.version, what || 'any alert', specificity(m), p.doc.steps.length, p.file]);
      }
      console.log(t.toString());
      if (errors.length) console.log(`\nnot in service (invalid):\n${errors.map(formatPlaybookError).join('\n')}`);
      console.log('\nAlerts no playbook matches open a triage incident that only notifies.');
    });

  playbook
    .command('plan <file>')
    .description('show what the playbook would do for an alert: steps, parameters, conditions, gates, approvals, undo')
    .requiredOption('--alert <alert.json>', 'an alert in bulwark’s schema (see README: Alert schema)')
    .option('--json', 'print the resolved plan as JSON')
    .addHelpText('after', '\nExample:\n  bulwark playbook plan playbooks/credential-compromise.yaml --alert alert.json')
    .action((file: string, o: { alert: string; json?: boolean }) => {
      const p = loadOne(file);
      const alert = readAlert(o.alert);
      const plan = planFromPlaybook(p.doc, alert, settingsFrom(playbookDefaults(configFrom(globals()))), p.digest);
      console.log(o.json ? JSON.stringify({ matches: matches(p.doc.match, alert), plan }, null, 2) : renderPlan(p, plan, alert));
    });

  playbook
    .command('test <file>')
    .description('dry run against the sandbox AWS: read-only checks of every referenced resource, and what each step would change')
    .requiredOption('--alert <alert.json>', 'an alert in bulwark’s schema')
    .option('--aws-endpoint <url>', 'the sandbox (default: AWS_ENDPOINT_URL, else the running `npm start` stack)')
    .option('--json', 'print JSON')
    .addHelpText('after', '\nNothing is written: each step is checked with read-only calls. A step whose resource does not\nexist is a PROBLEM and the command exits 1.')
    .action(async (file: string, o: { alert: string; awsEndpoint?: string; json?: boolean }) => {
      const p = loadOne(file);
      const alert = readAlert(o.alert);
      const endpoint = o.awsEndpoint ?? process.env.AWS_ENDPOINT_URL ?? (await readDevState())?.awsEndpoint;
      if (!endpoint) throw usageError('playbook test runs against the sandbox AWS: start it with `npm start`, or pass --aws-endpoint / set AWS_ENDPOINT_URL');
      const config = configFrom(globals(), { aws: { endpoint } });
      const plan = planFromPlaybook(p.doc, alert, settingsFrom(playbookDefaults(config)), p.digest);
      const { previewStep } = createPreview(createAwsClients(config.aws), config);
      const previews = new Map<string, StepPreview>();
      for (const step of plan.steps) {
        if (conditionNow(step, plan, alert) === false) continue;
        if (step.invalid) {
          previews.set(step.id, { changes: [], problems: [] });
          continue;
        }
        const params = resolveTemplates(step.with, {}) as Record<string, unknown>;
        if (referencedPaths(params).length) {
          previews.set(step.id, { changes: [`parameters depend on earlier steps (${referencedPaths(params).join(', ')}): checked when it runs`], problems: [] });
          continue;
        }
        if (!actionSpec(step.action)) continue;
        previews.set(step.id, await previewStep(step, params));
      }
      const problems = [...previews.values()].flatMap((v) => v.problems).concat(plan.steps.filter((s) => s.invalid && conditionNow(s, plan, alert) !== false).map((s) => `${s.id}: ${s.invalid}`));
      if (o.json) console.log(JSON.stringify({ playbook: p.doc.id, version: p.doc.version, steps: plan.steps.map((s) => ({ id: s.id, ...(previews.get(s.id) ?? { skipped: true }) })), problems }, null, 2));
      else console.log(`${renderPlan(p, plan, alert, previews)}\n\n${problems.length ? `${problems.length} problem(s): the playbook would fail for this alert` : `ok: every step can run against ${endpoint} (nothing was changed)`}`);
      if (problems.length) throw new CliError(`${problems.length} problem(s)`);
    });
}
