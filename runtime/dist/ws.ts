// The production transport: one WebSocket per link, text frames only, over TLS
// (mutual when a CA is configured) or plain TCP. It owns the sockets and turns
// every socket event into the Conn contract: frames in order, then exactly one
// onClose, and never a throw out of a socket event handler.
import { readFileSync } from 'node:fs';
import { type IncomingMessage, type ServerResponse, createServer as createHttpServer } from 'node:http';
import { createServer as createHttpsServer } from 'node:https';
import type { AddressInfo } from 'node:net';
import { type RawData, WebSocket, WebSocketServer } from 'ws';
import type { Conn, Listener, Transport } from './transport.js';

export interface WsTransportOptions {
  readonly tls?: { readonly certFile: string; readonly keyFile: string; readonly caFile?: string };
  /** Largest frame accepted from a peer; a bigger one closes that connection (ws close code 1009). */
  readonly maxFrameBytes?: number;
  /** Bound on TCP connect + TLS + HTTP upgrade before connect() rejects. */
  readonly connectTimeoutMs?: number;
}

const defaultMaxFrameBytes = 16 * 1024 * 1024;
const defaultConnectTimeoutMs = 3_000;
/** A close frame carries at most 123 bytes of reason; stay a little under. */
const maxCloseReasonBytes = 120;
/** Frames held for an owner that has not set onFrame yet; beyond this the link is closed. */
export const maxHeldFrames = 10_000;

const noop = (): void => {};

/**
 * What a Conn has received, handed to its owner in order: every frame, then the
 * close, each once. An event that arrives before the owner has set the matching
 * handler waits for it: a frame landing between connect() resolving and the
 * owner assigning onFrame must not be lost. Frames go straight to the handler
 * when nothing is held; held events are handed over from `schedule` (never
 * inside the owner's own assignment, so the owner can finish wiring first), and
 * the close is always reported from `schedule` (never inside close()). Shared by
 * both transports so they agree on these orderings.
 */
export class ConnInbox {
  private frameHandler: ((data: string) => void) | null = null;
  private closeHandler: ((reason: string) => void) | null = null;
  private held: string[] = [];
  private heldHead = 0;
  private reason: string | null = null;
  private reported = false;
  private pumpPending = false;

  constructor(private readonly schedule: (fn: () => void) => void) {}

  /** True once the link is gone (reported to the owner or not yet). */
  get closed(): boolean {
    return this.reason !== null;
  }

  get onFrame(): (data: string) => void {
    return this.frameHandler ?? noop;
  }

  set onFrame(fn: (data: string) => void) {
    this.frameHandler = fn;
    this.schedulePump();
  }

  get onClose(): (reason: string) => void {
    return this.closeHandler ?? noop;
  }

  set onClose(fn: (reason: string) => void) {
    this.closeHandler = fn;
    this.schedulePump();
  }

  /** A frame arrived. Returns false when it would exceed maxHeldFrames (the caller closes the link). */
  frame(data: string): boolean {
    if (this.reason !== null) return true; // the link is gone for the owner: nothing more is handed over
    if (this.frameHandler !== null && this.heldHead === this.held.length) {
      this.frameHandler(data);
      return true;
    }
    if (this.held.length - this.heldHead >= maxHeldFrames) return false;
    this.held.push(data);
    return true;
  }

  /**
   * The link is gone; the first reason wins. `dropHeld` for the owner's own
   * close: it wants no more frames, even those already received.
   */
  close(reason: string, dropHeld: boolean): void {
    if (this.reason !== null) return;
    this.reason = reason;
    if (dropHeld) this.dropHeld();
    this.schedulePump();
  }

  private dropHeld(): void {
    this.held = [];
    this.heldHead = 0;
  }

  private schedulePump(): void {
    if (this.pumpPending) return;
    this.pumpPending = true;
    this.schedule(() => this.pump());
  }

  private pump(): void {
    this.pumpPending = false;
    // A handler may close (dropping what is held) or receive more frames (appended) while we loop.
    while (this.frameHandler !== null && this.heldHead < this.held.length) {
      const data = this.held[this.heldHead++]!;
      this.frameHandler(data);
    }
    if (this.heldHead === this.held.length) this.dropHeld();
    else return; // frames still wait for onFrame, and the close comes after them
    if (this.reason !== null && !this.reported && this.closeHandler !== null) {
      this.reported = true;
      this.closeHandler(this.reason);
    }
  }
}

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

class WsConn implements Conn {
  private readonly inbox = new ConnInbox(queueMicrotask);
  /** The first socket error, used as the close reason when the peer gave none. */
  private error: string | null = null;
  /** Set when a send left bytes queued; cleared by the onDrain it leads to. */
  private drainArmed = false;
  onDrain: () => void = noop;

  constructor(private readonly ws: WebSocket) {
    ws.on('message', (data, isBinary) => {
      if (isBinary) this.fail(1003, 'binary_frame_unsupported');
      else if (!this.inbox.frame(text(data))) this.fail(1008, 'unclaimed_frames_overflow');
    });
    // ws emits 'error' (if any) before 'close', and always 'close' at the end.
    ws.on('error', (err) => {
      this.error ??= `error:${err.message}`;
    });
    ws.on('close', (code, reason) => {
      this.inbox.close(reason.length > 0 ? reason.toString('utf8') : (this.error ?? `closed:${code}`), false);
    });
  }

  get onFrame(): (data: string) => void {
    return this.inbox.onFrame;
  }

  set onFrame(fn: (data: string) => void) {
    this.inbox.onFrame = fn;
  }

  get onClose(): (reason: string) => void {
    return this.inbox.onClose;
  }

  set onClose(fn: (reason: string) => void) {
    this.inbox.onClose = fn;
  }

  send(data: string): void {
    if (this.inbox.closed || this.ws.readyState !== WebSocket.OPEN) return;
    this.ws.send(data, (err) => {
      // An error here means the socket is going away; 'error'/'close' report it.
      if (err || !this.drainArmed || this.inbox.closed || this.ws.bufferedAmount > 0) return;
      this.drainArmed = false;
      this.onDrain();
    });
    if (this.ws.bufferedAmount > 0) this.drainArmed = true;
  }

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

export function wsTransport(opts: WsTransportOptions = {}): Transport {
  const maxPayload = opts.maxFrameBytes ?? defaultMaxFrameBytes;
  const handshakeTimeout = opts.connectTimeoutMs ?? defaultConnectTimeoutMs;
  // Read once, at construction: a missing or unreadable file fails at boot, not at the first connection.
  const tls = opts.tls && {
    cert: readFileSync(opts.tls.certFile),
    key: readFileSync(opts.tls.keyFile),
    ca: opts.tls.caFile === undefined ? undefined : readFileSync(opts.tls.caFile),
  };
  const scheme = tls ? 'wss' : 'ws';

  return {
    async listen(host: string, port: number, onConn: (conn: Conn) => void): Promise<Listener> {
      const server = tls
        ? createHttpsServer(
            { cert: tls.cert, key: tls.key, ca: tls.ca, requestCert: tls.ca !== undefined, rejectUnauthorized: tls.ca !== undefined },
            upgradeRequired,
          )
        : createHttpServer(upgradeRequired);
      const wss = new WebSocketServer({ server, perMessageDeflate: false, maxPayload, clientTracking: false });
      wss.on('connection', (ws) => onConn(new WsConn(ws)));
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
          ...(tls && { ca: tls.ca, cert: tls.cert, key: tls.key }),
        });
        // Stays attached after a failure: a late second 'error' must not go unhandled.
        const failed = (err: Error): void => reject(err);
        ws.on('error', failed);
        ws.once('open', () => {
          const conn = new WsConn(ws); // attaches its own handlers before we detach ours
          ws.off('error', failed);
          resolve(conn);
        });
      });
    },
  };
}
