/**
 * A TCP proxy on 127.0.0.1 between the service and one of its backing servers (Redis, DynamoDB
 * Local), whose behaviour a scenario changes while traffic flows:
 *
 * - `pass`: bytes go through untouched (the normal state);
 * - `drop`: every chunk the client sends is forwarded, and then, with probability `rate`, both
 *   sockets are destroyed before the answer can come back. The server has run the command; the
 *   client never learns its outcome and (ioredis) sends it again on a new connection;
 * - `latency`: every chunk, either way, waits `minMs`–`maxMs` before it is forwarded, in order;
 * - `blackhole`: nothing is forwarded either way (bytes wait in the proxy until the mode changes);
 *   a replication link held here lets the primary acknowledge writes its replica never receives.
 *
 * `retarget` points new connections at another server (a failover's DNS change) and `cut` ends
 * every open connection, as a failover or a restart does to its clients.
 */
import { createServer, type Server, Socket } from 'node:net';

export type ProxyMode =
  | { readonly kind: 'pass' }
  | { readonly kind: 'drop'; readonly rate: number }
  | { readonly kind: 'latency'; readonly minMs: number; readonly maxMs: number }
  | { readonly kind: 'blackhole' };

interface Link {
  readonly client: Socket;
  readonly server: Socket;
  /** Chunks waiting for the blackhole to end, per direction. */
  readonly held: { toServer: Buffer[]; toClient: Buffer[] };
  /** When the last delayed chunk of each direction leaves: chunks keep their order. */
  readonly due: { toServer: number; toClient: number };
}

export class TcpProxy {
  private server: Server | undefined;
  private readonly links = new Set<Link>();
  private mode: ProxyMode = { kind: 'pass' };
  /** Connections the drop mode ended. */
  dropped = 0;

  constructor(private upstreamPort: number) {}

  get port(): number {
    const address = this.server?.address();
    if (!address || typeof address === 'string') throw new Error('the proxy is not listening');
    return address.port;
  }

  async listen(port = 0): Promise<number> {
    const server = createServer((client) => this.accept(client));
    this.server = server;
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(port, '127.0.0.1', resolve);
    });
    return this.port;
  }

  setMode(mode: ProxyMode): void {
    const leavingBlackhole = this.mode.kind === 'blackhole' && mode.kind !== 'blackhole';
    this.mode = mode;
    if (leavingBlackhole) {
      for (const link of this.links) {
        for (const chunk of link.held.toServer.splice(0)) this.forward(link, chunk, 'toServer');
        for (const chunk of link.held.toClient.splice(0)) this.forward(link, chunk, 'toClient');
      }
    }
  }

  retarget(upstreamPort: number): void {
    this.upstreamPort = upstreamPort;
  }

  /** End every open connection (clients see a reset and reconnect through the proxy). */
  cut(): void {
    for (const link of this.links) this.closeLink(link, true);
  }

  async close(): Promise<void> {
    this.cut();
    const server = this.server;
    this.server = undefined;
    if (server) await new Promise<void>((resolve) => server.close(() => resolve()));
  }

  private accept(client: Socket): void {
    const server = new Socket();
    const link: Link = {
      client,
      server,
      held: { toServer: [], toClient: [] },
      due: { toServer: 0, toClient: 0 },
    };
    this.links.add(link);
    client.setNoDelay(true);
    server.setNoDelay(true);
    // Bytes a client sends before the upstream connection is open are queued by the socket itself.
    server.connect(this.upstreamPort, '127.0.0.1');
    client.on('data', (chunk) => this.fromClient(link, chunk));
    server.on('data', (chunk) => this.relay(link, chunk, 'toClient'));
    const end = () => this.closeLink(link, false);
    client.on('error', end);
    server.on('error', end);
    client.on('close', end);
    server.on('close', end);
  }

  private fromClient(link: Link, chunk: Buffer): void {
    if (this.mode.kind === 'drop') {
      link.server.write(chunk);
      if (Math.random() < this.mode.rate) {
        this.dropped += 1;
        // The command is on its way to the server; its answer will find no client.
        link.server.end();
        link.client.destroy();
        this.links.delete(link);
      }
      return;
    }
    this.relay(link, chunk, 'toServer');
  }

  private relay(link: Link, chunk: Buffer, direction: 'toServer' | 'toClient'): void {
    if (this.mode.kind === 'blackhole') {
      link.held[direction].push(chunk);
      return;
    }
    this.forward(link, chunk, direction);
  }

  private forward(link: Link, chunk: Buffer, direction: 'toServer' | 'toClient'): void {
    const target = direction === 'toServer' ? link.server : link.client;
    const mode = this.mode;
    // A chunk never overtakes one still held by the latency mode: that would mix up RESP replies.
    const behind = link.due[direction] > Date.now();
    if (mode.kind !== 'latency' && !behind) {
      if (!target.destroyed) target.write(chunk);
      return;
    }
    const delay = mode.kind === 'latency' ? mode.minMs + Math.random() * (mode.maxMs - mode.minMs) : 0;
    const at = Math.max(Date.now() + delay, link.due[direction]);
    link.due[direction] = at;
    setTimeout(
      () => {
        if (!target.destroyed) target.write(chunk);
      },
      Math.max(0, at - Date.now()),
    );
  }

  /**
   * Unless `now`, a request still held by the latency mode is delivered before the server side
   * closes: a client that gave up (a function killed at its timeout) does not take back what it
   * already put on the wire.
   */
  private closeLink(link: Link, now: boolean): void {
    if (!this.links.delete(link)) return;
    link.client.destroy();
    const pending = link.due.toServer - Date.now();
    if (now || pending <= 0) link.server.destroy();
    else setTimeout(() => link.server.end(), pending + 5);
  }
}
