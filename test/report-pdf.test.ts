import { mkdtemp, readFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { inflateSync } from 'node:zlib';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { renderEvidencePdf } from '../cli/report-pdf.js';
import { parseAlert } from '../domain/alert.js';
import type { EvidencePack } from '../domain/report.js';
import { AlertDeliverer } from '../intake/deliver.js';
import { playbookDefaults } from '../temporal.config.js';
import { alertFor, runCli, startHarness, testConfig, uniqueId, waitForState, type Harness } from './support.js';

/**
 * What a reader of the PDF gets: the page count from
 * the page tree and the text drawn by every content stream (pdfkit deflates streams and writes text
 * as hex strings in TJ arrays, WinAnsi-encoded for the built-in fonts).
 */
function readPdf(pdf: Buffer): { pages: number; text: string; title?: string } {
  const raw = pdf.toString('latin1');
  expect(raw.startsWith('%PDF-1.')).toBe(true);
  expect(raw.trimEnd().endsWith('%%EOF')).toBe(true);
  const pages = (raw.match(/\/Type \/Page\b(?!s)/g) ?? []).length;
  const texts: string[] = [];
  for (const m of raw.matchAll(/stream\r?\n/g)) {
    const start = m.index! + m[0].length;
    const end = raw.indexOf('endstream', start);
    let content: string;
    try {
      content = inflateSync(pdf.subarray(start, end)).toString('latin1');
    } catch {
      continue; // not a deflated content stream (fonts, images)
    }
    for (const tj of content.matchAll(/\[([^\]]*)\]\s*TJ/g)) {
      texts.push([...tj[1]!.matchAll(/<([0-9a-fA-F]*)>/g)].map((h) => Buffer.from(h[1]!, 'hex').toString('latin1')).join(''));
    }
  }
  // pdfkit writes the Title as an indirect object holding a (possibly UTF-16, BOM-prefixed) string.
  const ref = /\/Title (\d+) 0 R/.exec(raw)?.[1];
  const literal = ref ? new RegExp(`(?:^|\\n)${ref} 0 obj\\s*\\(([^)]*)\\)`).exec(raw)?.[1] : undefined;
  const title = literal?.startsWith('\xfe\xff') ? Buffer.from(literal.slice(2), 'latin1').swap16().toString('utf16le') : literal;
  return { pages, text: texts.join('\n'), title };
}

/** Page `n` rasterised at 72 dpi on a white background. */
async function renderPageToPng(pdf: Buffer, n: number) {
  const { createCanvas } = await import('@napi-rs/canvas');
  const pdfjs = await import('pdfjs-dist/legacy/build/pdf.mjs');
  const fonts = `${join(process.cwd(), 'node_modules/pdfjs-dist/standard_fonts')}/`;
  const doc = await pdfjs.getDocument({ data: new Uint8Array(pdf), standardFontDataUrl: fonts, disableFontFace: true }).promise;
  const page = await doc.getPage(n);
  const viewport = page.getViewport({ scale: 1 });
  const canvas = createCanvas(Math.ceil(viewport.width), Math.ceil(viewport.height));
  const ctx = canvas.getContext('2d');
  ctx.fillStyle = '#ffffff';
  ctx.fillRect(0, 0, canvas.width, canvas.height);
  await page.render({ canvasContext: ctx as unknown as Parameters<typeof page.render>[0]["canvasContext"], viewport }).promise;
  const png = canvas.toBuffer('image/png');
  const px = ctx.getImageData(0, 0, canvas.width, canvas.height).data;
  let ink = 0;
  for (let i = 0; i < px.length; i += 4) if (px[i]! < 200 || px[i + 1]! < 200 || px[i + 2]! < 200) ink++;
  await doc.destroy();
  return {
    png,
    width: canvas.width,
    height: canvas.height,
    inkRatio: ink / (canvas.width * canvas.height),
    pixelsNear: ([r, g, b]: [number, number, number]) => {
      let count = 0;
      for (let i = 0; i < px.length; i += 4) if (Math.abs(px[i]! - r) < 12 && Math.abs(px[i + 1]! - g) < 12 && Math.abs(px[i + 2]! - b) < 12) count++;
      return count;
    },
  };
}

function pack(over: Partial<EvidencePack> = {}): EvidencePack {
  const steps = Array.from({ length: 40 }, (_, i) => ({
    id: `step-${i}`,
    title: `Step number ${i}`,
    action: 'secrets.rotate',
    status: i === 3 ? 'failed' : 'succeeded',
    approvalPolicy: i === 1 ? 'security-lead' : undefined,
    approvedBy: i === 1 ? 'alice' : undefined,
    error: i === 3 ? 'PutSecretValue on secret x failed: AccessDenied' : undefined,
    startedAt: '2026-11-26T10:00:05Z',
    finishedAt: '2026-11-26T10:00:09Z',
    resources: [`arn:aws:secretsmanager:eu-west-1:123456789012:secret:s${i}`],
  }));
  return {
    format: 'bulwark-evidence/v1',
    generatedAt: '2026-11-26T12:00:00Z',
    incident: { id: 'incident-0123456789abcdef01234567', status: 'contained', type: 'credential.compromised', severity: 'high', source: 'guardduty', subject: { clientId: 'acme-pay' }, openedAt: '2026-11-26T10:00:02Z', openedBy: 'alert:guardduty', playbook: 'credential-compromise v1', alertCount: 3 },
    milestones: { alertObservedAt: '2026-11-26T10:00:00Z', detectedAt: '2026-11-26T10:00:02Z', containedAt: '2026-11-26T10:01:30Z', recoveredAt: '2026-11-26T10:31:30Z' },
    durations: { mttdSeconds: 2, mttcSeconds: 88, mttrSeconds: 1800 },
    steps,
    approvals: [{ at: '2026-11-26T10:00:20Z', step: 'step-1', decision: 'granted', by: 'alice', detail: 'approved by alice — confirmed leak' }],
    resources: steps.map((s) => ({ resource: s.resources[0]!, steps: [s.id] })),
    notifications: [{ at: '2026-11-26T10:02:00Z', step: 'notify-fca', action: 'regulators.assess', detail: 'FCA initial notification', deadline: '2026-11-27T10:00:00Z', outcome: 'sent' }],
    timeline: [],
    timelineDropped: 0,
    audit: { file: '/x/incident.jsonl', exists: true, ok: true, verification: 'audit chain intact: 57 record(s), 2 anchor(s)', records: 57, anchors: [{ seq: 30, headSeq: 29, keyId: 'arn:aws:kms:eu-west-1:123456789012:key/k', valid: true }] },
    ...over,
  } as EvidencePack;
}

describe('PDF evidence pack (pure render)', () => {
  it('has every section, the durations, approvers and the audit verdict, over several numbered pages', async () => {
    const pdf = readPdf(await renderEvidencePdf(pack()));
    expect(pdf.pages).toBeGreaterThanOrEqual(2);
    expect(pdf.title).toBe('Evidence pack incident-0123456789abcdef01234567');
    for (const s of ['Incident evidence pack', 'Summary', 'Timeline: detection, containment, recovery', 'Steps and approvals', 'Resources touched', 'Notifications', 'Audit-chain verification']) expect(pdf.text).toContain(s);
    expect(pdf.text).toMatch(/MTTD \(alert to detection\):\s*2s/);
    expect(pdf.text).toMatch(/MTTC \(detection to containment\):\s*1m 28s/);
    expect(pdf.text).toContain('approved by alice');
    expect(pdf.text).toContain('deadline 2026-11-27T10:00:00Z');
    expect(pdf.text).toContain('error: PutSecretValue on secret x failed: AccessDenied');
    expect(pdf.text).toContain('VERIFIED');
    expect(pdf.text).toContain('approved by alice - confirmed leak'); // em dash mapped for Helvetica
    expect(pdf.text).toContain(`page 1 of ${pdf.pages}`);
    expect(pdf.text).toContain(`page ${pdf.pages} of ${pdf.pages}`);
  });

  it('page 1 renders to a PNG (pdf.js + skia canvas) that is not blank and shows the MTTD/MTTC bar', async () => {
    const png = await renderPageToPng(await renderEvidencePdf(pack()), 1);
    expect(png.png.subarray(0, 8).equals(Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]))).toBe(true);
    expect(png.width).toBe(596); // A4 at 72 dpi
    expect(png.height).toBe(842);
    // Ink covers a real share of the page, but the page is not a solid block.
    expect(png.inkRatio).toBeGreaterThan(0.01);
    expect(png.inkRatio).toBeLessThan(0.5);
    // The chart's segments were drawn, sized by duration: recovery (30 min, #5aa469) > containment (88 s, #3b82c4) > detection (2 s, #f2a93b).
    const [detect, contain, recover] = [png.pixelsNear([0xf2, 0xa9, 0x3b]), png.pixelsNear([0x3b, 0x82, 0xc4]), png.pixelsNear([0x5a, 0xa4, 0x69])];
    expect(detect).toBeGreaterThan(0);
    expect(contain).toBeGreaterThan(detect);
    expect(recover).toBeGreaterThan(contain * 5);
  });

  it('says NOT VERIFIED and names the first bad record when the chain is broken', async () => {
    const broken = pack({ audit: { exists: true, ok: false, verification: 'audit chain BROKEN at record 7', records: 9, firstBad: { seq: 7, line: 7, reason: 'edited', message: 'hash mismatch' }, anchors: [] } });
    const pdf = readPdf(await renderEvidencePdf(broken));
    expect(pdf.text).toContain('NOT VERIFIED');
    expect(pdf.text).toContain('first bad record: 7 (line 7): edited - hash mismatch');
  });
});

describe('`bulwark incident report --format pdf` on a real incident', () => {
  let h: Harness;
  let workflowId: string;
  beforeAll(async () => {
    h = await startHarness({ config: testConfig({ audit: { dir: await mkdtemp(join(tmpdir(), 'bulwark-pdf-')) } }) });
    const parsed = parseAlert(alertFor({ clientId: uniqueId('tpp') }, { type: 'anomaly.detected' }));
    if (!parsed.ok) throw new Error(JSON.stringify(parsed.errors));
    ({ workflowId } = await new AlertDeliverer(h.client, h.config.temporal.taskQueue, playbookDefaults(h.config)).deliver(parsed.value));
    await waitForState(h.client, workflowId, (s) => s.status === 'contained');
  });
  afterAll(() => h?.close());

  it('writes a PDF with the incident, its steps and the verified audit chain', async () => {
    const out = join(await mkdtemp(join(tmpdir(), 'bulwark-pdf-out-')), 'pack.pdf');
    const r = await runCli(h, ['incident', 'report', workflowId, '--format', 'pdf', '--out', out, '--no-kms'], { BULWARK_AUDIT_DIR: h.config.audit.dir });
    expect(r.code, r.stderr).toBe(0);
    const pdf = readPdf(await readFile(out));
    expect(pdf.pages).toBeGreaterThanOrEqual(1);
    expect(pdf.text).toContain(workflowId);
    expect(pdf.text).toContain('notify-operators - succeeded');
    expect(pdf.text).toMatch(/audit chain intact: \d+ record/);
  });

  it('refuses an unknown format naming the choices', async () => {
    const r = await runCli(h, ['incident', 'report', workflowId, '--format', 'docx']);
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/--format must be html, pdf or json/);
  });
});
