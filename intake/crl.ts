import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { GetObjectCommand, type S3Client } from '@aws-sdk/client-s3';
import type { Config } from '../temporal.config.js';

/**
 * GET /crl/<ca>.crl: the CA's current revocation list (DER, application/pkix-crl), read from where
 * certificatesPublishCrl publishes it — the S3 bucket when one is configured, else the directory.
 * Public by design: relying parties fetch CRLs without credentials. Resolves false for other paths.
 */
const CRL_PATH = /^\/crl\/([a-z0-9][a-z0-9.-]{0,62})\.crl$/;

export function createCrlHandler(opts: { settings: Config['certificates']; s3?: S3Client }): (req: IncomingMessage, res: ServerResponse) => Promise<boolean> {
  const { settings } = opts;
  async function load(ca: string): Promise<Buffer | undefined> {
    if (settings.crlBucket && opts.s3) {
      try {
        const r = await opts.s3.send(new GetObjectCommand({ Bucket: settings.crlBucket, Key: `${settings.crlPrefix}${ca}.crl` }));
        return Buffer.from(await r.Body!.transformToByteArray());
      } catch (err) {
        if ((err as { name?: string }).name === 'NoSuchKey' || (err as { $metadata?: { httpStatusCode?: number } }).$metadata?.httpStatusCode === 404) return undefined;
        throw err;
      }
    }
    try {
      return await readFile(join(settings.crlDir, `${ca}.crl`));
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
      throw err;
    }
  }

  return async (req, res) => {
    const path = (req.url ?? '/').split('?')[0] ?? '/';
    if (!path.startsWith('/crl/')) return false;
    const json = (status: number, body: unknown) => {
      res.writeHead(status, { 'content-type': 'application/json' });
      res.end(JSON.stringify(body));
    };
    if (req.method !== 'GET' && req.method !== 'HEAD') {
      json(405, { error: 'method-not-allowed' });
      return true;
    }
    const ca = CRL_PATH.exec(path)?.[1];
    if (!ca) {
      json(404, { error: 'not-found', message: 'expected /crl/<ca>.crl' });
      return true;
    }
    const der = await load(ca);
    if (!der) {
      json(404, { error: 'not-found', message: `no CRL published for CA ${ca}` });
      return true;
    }
    res.writeHead(200, { 'content-type': 'application/pkix-crl', 'content-length': String(der.length), 'cache-control': 'max-age=300' });
    res.end(req.method === 'HEAD' ? undefined : der);
    return true;
  };
}
