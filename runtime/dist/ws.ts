// The production transport: one WebSocket per link, text frames only, over TLS
// (mutual when a CA is configured) or plain TCP. It owns the sockets and turns
// every socket event into the Conn contract: frames in order, then exactly one
// onClose, and never a throw out of a socket event handler.
import { readFileSync } from 'node:fs';
import { type IncomingMessage, type ServerResponse, createServer as createHttpServer } from 'node:http';
import { createServer as createHttpsServer } from 'node:https';
import type { AddressInfo } from 'node:net';
import { type RawData, WebSocket, WebSocketServer } from 'ws';
import { BusyWait, maxBusyWaitUs } from './busywait.js';
import { ConnInbox, InboxConn } from './inbox.js';
import type { Conn, Listener, Transport } from './transport.js';

export interface WsTransportOptions {
  readonly tls?: { readonly certFile: string; readonly keyFile: string; readonly caFile?: string };
  /** Largest frame accepted from a peer; a bigger one closes that connection (ws close code 1009). */
  readonly maxFrameBytes?: number;
  /** Bound on TCP connect + TLS + HTTP upgrade before connect() rejects. */
  readonly connectTimeoutMs?: number;
  /**
   * Spin before sleep (BEAM's `+sbwt`): keep the event loop polling for this many µs after each frame
   * sent or received, so a reply arriving soon does not wait for a sleeping process to wake. 0 (default): off.
   */
  readonly busyWaitUs?: number;
}

/** The ws transport, plus a view of its busy-wait spinner (undefined when off) for tests and benchmarks. */
export interface WsTransport extends Transport {
  readonly busyWait: { readonly spinning: boolean; readonly turns: number } | undefined;
}

const defaultMaxFrameBytes = 16 * 1024 * 1024;
const defaultConnectTimeoutMs = 3_000;
/** A close frame carries at most 123 bytes of reason; stay a little under. */
const maxCloseReasonBytes = 120;
/** Cut `s` to at most `maxBytes` of UTF-8 without splitting a character. */
function truncateUtf8(s: string, maxBytes: number): string {
  if (Buffer.byteLength(s) <= maxBytes) return s;
  let bytes = 0;
  let out = '';
  for (const ch of s) {
    const n = Buffer.byteLength(ch);
    if (bytes + n > maxBytes) break;
    bytes += n;
    out += ch;
  }
  return out;
}

function text(data: RawData): string {
  if (Buffer.isBuffer(data)) return data.toString('utf8');
  if (Array.isArray(data)) return Buffer.concat(data).toString('utf8');
  return Buffer.from(data).toString('utf8');
}

const noop = (): void => {};

/** ws.send options for a frame handed over as bytes: it is still a text frame. */
const asText = { binary: false } as const;

/** A frame given in pieces, as the UTF-8 of their concatenation: one allocation and one copy. */
function piecesToBytes(pieces: readonly string[]): Buffer {
  let bytes = 0;
  for (const p of pieces) bytes += Buffer.byteLength(p);
  const buf = Buffer.allocUnsafe(bytes);
  let at = 0;
  for (const p of pieces) at += buf.write(p, at);
  return buf;
}

/**
 * The masking key of every frame the dialing side sends: all zeros, which ws takes as "send unmasked
 * bytes" (no copy, no XOR pass over each frame). Masking exists so that script in a browser cannot
 * choose the bytes a proxy sees; both ends of these links are our nodes, the key travels in the clear
 * beside the frame anyway, and confidentiality comes from TLS (docs/distribution.md, security model).
 */
function zeroMask(mask: Uint8Array): void {
  mask.fill(0);
}

class WsConn extends InboxConn implements Conn {
  /** The first socket error, used as the close reason when the peer gave none. */
  private error: string | null = null;
  /** Set when a send left bytes queued; cleared by the onDrain it leads to. */
  private drainArmed = false;
  onDrain: () => void = noop;

  constructor(
    private readonly ws: WebSocket,
    private readonly spin: BusyWait | undefined,
    onGone: () => void,
  ) {
    super(new ConnInbox(queueMicrotask));
    ws.on('message', (data, isBinary) => {
      this.spin?.touch();
      if (isBinary) this.fail(1003, 'binary_frame_unsupported');
      else if (!this.inbox.frame(text(data))) this.fail(1008, 'unclaimed_frames_overflow');
    });
    // ws emits 'error' (if any) before 'close', and always 'close' at the end.
    ws.on('error', (err) => {
      this.error ??= `error:${err.message}`;
    });
    ws.on('close', (code, reason) => {
      this.inbox.close(reason.length > 0 ? reason.toString('utf8') : (this.error ?? `closed:${code}`), false);
      onGone();
    });
  }

  send(data: string | readonly string[]): void {
    if (this.inbox.closed || this.ws.readyState !== WebSocket.OPEN) return;
    if (typeof data === 'string') this.ws.send(data, this.written);
    else this.ws.send(piecesToBytes(data), asText, this.written);
    this.spin?.touch();
    if (this.ws.bufferedAmount > 0) this.drainArmed = true;
  }

  /** Every send's completion callback: one function per connection, not a closure per frame. */
  private readonly written = (err?: Error | null): void => {
    // An error here means the socket is going away; 'error'/'close' report it.
    if (err || !this.drainArmed || this.inbox.closed || this.ws.bufferedAmount > 0) return;
    this.drainArmed = false;
    this.onDrain();
  };

  bufferedBytes(): number {
    return this.ws.bufferedAmount;
  }

  close(reason: string): void {
    if (this.inbox.closed) return;
    this.inbox.close('closed_locally', true);
    this.ws.close(1000, truncateUtf8(reason, maxCloseReasonBytes));
  }

  /** We end the link for a protocol reason: the owner and the peer both see `reason`. */
  private fail(code: number, reason: string): void {
    if (this.inbox.closed) return;
    this.inbox.close(reason, false);
    this.ws.close(code, reason);
  }
}

function urlHost(host: string): string {
  return host.includes(':') && !host.startsWith('[') ? `[${host}]` : host;
}

function upgradeRequired(_req: IncomingMessage, res: ServerResponse): void {
  res.writeHead(426, { connection: 'close' }).end();
}

export function wsTransport(opts: WsTransportOptions = {}): WsTransport {
  const maxPayload = opts.maxFrameBytes ?? defaultMaxFrameBytes;
  const busyWaitUs = opts.busyWaitUs ?? 0;
  if (!Number.isInteger(busyWaitUs) || busyWaitUs < 0 || busyWaitUs > maxBusyWaitUs) {
    throw new RangeError(`busyWaitUs must be an integer in [0, ${maxBusyWaitUs}], got ${busyWaitUs}`);
  }
  // One spinner for every connection of this transport; it stops early when the last one closes.
  const spin = busyWaitUs > 0 ? new BusyWait(busyWaitUs) : undefined;
  let openConns = 0;
  const wrap = (ws: WebSocket): WsConn => {
    openConns++;
    return new WsConn(ws, spin, () => {
      if (--openConns === 0) spin?.stop();
    });
  };
  const handshakeTimeout = opts.connectTimeoutMs ?? defaultConnectTimeoutMs;
  // Read once, at construction: a missing or unreadable file fails at boot, not at the first connection.
  const tls = opts.tls && {
    cert: readFileSync(opts.tls.certFile),
    key: readFileSync(opts.tls.keyFile),
    ca: opts.tls.caFile === undefined ? undefined : readFileSync(opts.tls.caFile),
  };
  const scheme = tls ? 'wss' : 'ws';

  return {
    busyWait: spin,

    async listen(host: string, port: number, onConn: (conn: Conn) => void): Promise<Listener> {
      const server = tls
        ? createHttpsServer(
            { cert: tls.cert, key: tls.key, ca: tls.ca, requestCert: tls.ca !== undefined, rejectUnauthorized: tls.ca !== undefined },
            upgradeRequired,
          )
        : createHttpServer(upgradeRequired);
      const wss = new WebSocketServer({ server, perMessageDeflate: false, maxPayload, clientTracking: false });
      wss.on('connection', (ws) => onConn(wrap(ws)));
      let bound = false;
      await new Promise<void>((resolve, reject) => {
        // wss re-emits the server's errors. Before binding, one fails listen();
        // after it (accept failures such as EMFILE), the server keeps listening.
        wss.on('error', (err) => {
          if (!bound) reject(err);
        });
        server.listen(port, host, () => {
          bound = true;
          resolve();
        });
      }).catch((err: unknown) => {
        wss.close();
        server.close();
        throw err;
      });
      let closed = false;
      return {
        port: (server.address() as AddressInfo).port,
        // Stops accepting (the listening socket is closed at once); established connections stay up.
        async close(): Promise<void> {
          if (closed) return;
          closed = true;
          wss.close();
          server.close();
        },
      };
    },

    connect(host: string, port: number): Promise<Conn> {
      return new Promise<Conn>((resolve, reject) => {
        const ws = new WebSocket(`${scheme}://${urlHost(host)}:${port}/`, {
          perMessageDeflate: false,
          maxPayload,
          handshakeTimeout,
          generateMask: zeroMask,
          ...(tls && { ca: tls.ca, cert: tls.cert, key: tls.key }),
        });
        // Stays attached after a failure: a late second 'error' must not go unhandled.
        const failed = (err: Error): void => reject(err);
        ws.on('error', failed);
        ws.once('open', () => {
          const conn = wrap(ws); // attaches its own handlers before we detach ours
          ws.off('error', failed);
          resolve(conn);
        });
      });
    },
  };
}
