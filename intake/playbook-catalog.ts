import { readdirSync, readFileSync, statSync, watch, type FSWatcher } from 'node:fs';
import { basename, join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { Alert } from '../domain/alert.js';
import type { Plan } from '../domain/playbook.js';
import type { PlaybookDefaults } from '../domain/playbook.js';
import { ApprovalsFile } from '../domain/approval.js';
import { formatPlaybookError, parsePlaybook, type LoadedPlaybook, type PlaybookError } from '../domain/playbooks/load.js';
import { parseYamlFile } from '../domain/yaml-file.js';
import { planFromPlaybook, settingsFrom, triagePlan } from '../domain/playbooks/plan.js';
import { route, routingTies, specificity } from '../domain/playbooks/route.js';

/** The playbooks shipped with bulwark. */
export const SHIPPED_PLAYBOOKS_DIR = fileURLToPath(new URL('../playbooks/', import.meta.url));
/** The example approval policies shipped with bulwark. */
export const SHIPPED_APPROVALS_FILE = fileURLToPath(new URL('../approvals.yaml', import.meta.url));

/** Reads approvals.yaml; an invalid file is an error at start-up (approvals must never silently loosen). */
export function loadApprovals(file: string): ApprovalsFile {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (err) {
    throw new Error(`cannot read approval policies ${display(file)}: ${(err as Error).message}`);
  }
  const r = parseYamlFile(text, display(file), ApprovalsFile);
  if (!r.ok) throw new Error(`invalid approval policies:\n${r.errors.map(formatPlaybookError).join('\n')}`);
  return r.data;
}

const display = (file: string) => {
  const rel = relative(process.cwd(), file);
  return rel && !rel.startsWith('..') ? rel : file;
};

/** `*.yaml` / `*.yml` files of a directory (not recursive: `drafts/` stays out), or the one file given. */
export function playbookFiles(target: string): string[] {
  if (!statSync(target).isDirectory()) return [target];
  return readdirSync(target)
    .filter((f) => /\.ya?ml$/.test(f))
    .sort()
    .map((f) => join(target, f));
}

export interface CatalogLoad {
  loaded: LoadedPlaybook[];
  errors: PlaybookError[];
  /** Files that failed now but whose previous valid version stays in service. */
  kept: string[];
}

/** Parses files and checks the set: unique ids, no routing ties. Pure apart from reading the files. */
export function loadPlaybooks(files: string[]): { loaded: LoadedPlaybook[]; errors: PlaybookError[] } {
  const loaded: LoadedPlaybook[] = [];
  const errors: PlaybookError[] = [];
  for (const file of files) {
    let text: string;
    try {
      text = readFileSync(file, 'utf8');
    } catch (err) {
      errors.push({ file: display(file), line: 1, field: '(file)', message: (err as Error).message });
      continue;
    }
    const result = parsePlaybook(text, display(file));
    if (result.ok) loaded.push(result.playbook);
    else errors.push(...result.errors);
  }
  return { loaded, errors: [...errors, ...setErrors(loaded)] };
}

function setErrors(loaded: LoadedPlaybook[]): PlaybookError[] {
  const errors: PlaybookError[] = [];
  const byId = new Map<string, LoadedPlaybook>();
  for (const p of loaded) {
    const other = byId.get(p.doc.id);
    if (other) errors.push({ file: p.file, line: 1, field: 'id', message: `"${p.doc.id}" is also the id of ${other.file}` });
    byId.set(p.doc.id, p);
  }
  for (const [a, b] of routingTies(loaded.map((p) => p.doc))) {
    const pa = byId.get(a)!;
    errors.push({
      file: pa.file,
      line: 1,
      field: 'match',
      message: `ties with ${b} (${byId.get(b)!.file}): both can match the same alert with specificity ${specificity(pa.doc.match)}; narrow one of them`,
    });
  }
  return errors;
}

/**
 * The playbooks in service. A reload swaps in new versions only when they are valid: a broken
 * edit leaves the previous version of that file running and is reported. Each incident carries
 * the plan it was started with, so a reload never changes a running incident.
 */
export class PlaybookCatalog {
  private byFile = new Map<string, LoadedPlaybook>();
  private watcher?: FSWatcher;

  constructor(
    readonly dir: string,
    /** Resolved into each planned step that names a policy. */
    readonly approvals: ApprovalsFile = loadApprovals(SHIPPED_APPROVALS_FILE),
  ) {}

  static fromDir(dir: string, approvals?: ApprovalsFile): { catalog: PlaybookCatalog; result: CatalogLoad } {
    const catalog = new PlaybookCatalog(dir, approvals);
    return { catalog, result: catalog.reload() };
  }

  get playbooks(): LoadedPlaybook[] {
    return [...this.byFile.values()];
  }

  reload(): CatalogLoad {
    const files = playbookFiles(this.dir);
    const { loaded, errors } = loadPlaybooks(files);
    const badFiles = new Set(errors.map((e) => e.file));
    const next = new Map<string, LoadedPlaybook>();
    const kept: string[] = [];
    for (const p of loaded) if (!badFiles.has(p.file)) next.set(p.file, p);
    for (const file of badFiles) {
      const previous = this.byFile.get(file);
      if (previous) {
        next.set(file, previous);
        kept.push(file);
      }
    }
    // A kept old version could itself tie with a new file: then the new file waits too.
    const tieErrors = setErrors([...next.values()]);
    for (const e of tieErrors) {
      if (kept.includes(e.file)) continue;
      next.delete(e.file);
    }
    this.byFile = next;
    return { loaded: [...next.values()], errors: [...errors, ...tieErrors.filter((e) => !errors.some((x) => x.file === e.file && x.message === e.message))], kept };
  }

  /** Reloads when files change; reports every load through `onLoad`. */
  watch(onLoad: (r: CatalogLoad) => void): void {
    let timer: NodeJS.Timeout | undefined;
    this.watcher = watch(this.dir, () => {
      clearTimeout(timer);
      timer = setTimeout(() => onLoad(this.reload()), 200);
    });
  }

  close(): void {
    this.watcher?.close();
  }

  /** The plan for an alert from the most specific matching playbook, or the triage plan. */
  plan(alert: Alert, defaults: PlaybookDefaults): { plan: Plan; routing?: string } {
    const r = route(this.playbooks, alert);
    if (r.kind === 'triage') return { plan: triagePlan(alert), routing: r.reason };
    return { plan: planFromPlaybook(r.playbook.doc, alert, settingsFrom(defaults), r.playbook.digest, this.approvals) };
  }
}

let shipped: PlaybookCatalog | undefined;
/** The shipped catalog, loaded once; callers that configure a directory build their own. */
export function shippedCatalog(): PlaybookCatalog {
  shipped ??= PlaybookCatalog.fromDir(SHIPPED_PLAYBOOKS_DIR).catalog;
  return shipped;
}

export const describeErrors = (errors: PlaybookError[]) => errors.map(formatPlaybookError).join('\n');
export const fileLabel = (p: LoadedPlaybook) => `${p.doc.id}@v${p.doc.version} (${basename(p.file)})`;
