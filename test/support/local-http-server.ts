import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';

/**
 * A test server on 127.0.0.1 and a free port: each request reaches `onRequest` with its whole body.
 * The stand-ins for the systems bulwark talks to (OAuth server, consent store, credential target)
 * extend it and answer like the real thing.
 */
export abstract class LocalHttpServer {
  private server?: Server;
  private baseUrl = '';

  get url(): string {
    return this.baseUrl;
  }

  protected abstract onRequest(req: IncomingMessage, body: string, res: ServerResponse): void;

  async start(): Promise<string> {
    const server = createServer((req, res) => {
      const chunks: Buffer[] = [];
      req.on('data', (c: Buffer) => chunks.push(c));
      req.on('end', () => this.onRequest(req, Buffer.concat(chunks).toString('utf8'), res));
    });
    // Short keep-alive: a test's last request must not hold the server open after stop().
    server.keepAliveTimeout = 1000;
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    this.server = server;
    this.baseUrl = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
    return this.baseUrl;
  }

  async stop(): Promise<void> {
    this.server?.closeAllConnections();
    await new Promise<void>((resolve) => (this.server ? this.server.close(() => resolve()) : resolve()));
  }
}
