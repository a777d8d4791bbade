// A distributed node: connections to peers (handshake, liveness, reconnects,
// the mesh), and the kernel's RemotePort over them. Operations for a peer are
// queued in its outbox and flushed as ONE frame per microtask turn, so a process
// that sends a burst pays one frame per few hundred messages. Per-connection
// FIFO holds because a peer has exactly one connection and one outbox.
import { randomBytes } from 'node:crypto';
import type { Logger } from 'pino';
import type { Env, TimerHandle } from '../env.js';
import { RuntimeError } from '../errors.js';
import { type CallOptions, type ProcessBody, type RemotePort, Runtime } from '../kernel.js';
import { type ServerBehaviour, startServer } from '../server.js';
import { PreEncoded } from '../pre-encoded.js';
import type { ExitReason, Name, Pid, Ref, RemoteName } from '../types.js';
import { type ConfigSources, type DistConfig, type DistConfigInput, processSources, resolveDistConfig } from './config.js';
import { type Frame, type Op, PROTOCOL_VERSION, decodeFrame } from './frames.js';
import { proof, proofsEqual } from './handshake.js';
import { formatNodeName, parseNodeName } from './names.js';
import type { Conn, Listener, Transport } from './transport.js';
import { wsTransport } from './ws.js';

export type NodeEvent =
  | { readonly type: 'nodeup'; readonly node: string; readonly hidden: boolean }
  | { readonly type: 'nodedown'; readonly node: string; readonly reason: string };

export type SendOutcome =
  | { readonly type: 'ok' }
  /** The link's buffer is above its soft limit: wait for `whenWritable` before sending more. */
  | { readonly type: 'backpressure'; readonly bufferedBytes: number }
  | { readonly type: 'nodedown'; readonly node: string };

/** Builds the body of a process spawned on request of another node (no code is shipped). */
export type Spawnable = (args: unknown) => ProcessBody;

/** How a spawnable starts: a plain process, or a gen_server behaviour started with its init. */
type Starter = (args: unknown) => Promise<Pid>;

export interface DistDeps {
  /** Default: WebSocket (wss when the config has `tls`), with the config's maxFrameBytes and busyWaitUs. */
  readonly transport?: Transport;
  readonly env: Env;
  readonly log?: Logger;
  /** 128 random bits as hex; injected so a simulation can seed it. */
  readonly nonce?: () => string;
  /** Where DQ_COOKIE, DQ_COOKIE_FILE and NODE_ENV come from; default: this process's environment and files. */
  readonly sources?: ConfigSources;
}

export class DistConfigError extends RuntimeError {
  constructor(
    readonly field: string,
    detail: string,
  ) {
    super('start_failed', `distribution config ${field}: ${detail}`);
    this.name = 'DistConfigError';
  }
}

type PeerState = 'handshaking' | 'up';

class Peer {
  conn: Conn | undefined = undefined;
  state: PeerState = 'handshaking';
  hidden = false;
  creation = -1;
  /** `<node.creation.` of the peer's incarnation on the current connection (set at nodeup). */
  pidPrefix = '';
  outbox: Op[] = [];
  flushQueued = false;
  /** Allocated once: the microtask that flushes the outbox. */
  readonly flushTask: () => void;
  lastRecv = 0;
  lastSent = 0;
  readonly waiters: ((up: boolean) => void)[] = [];
  constructor(
    readonly node: string,
    readonly outbound: boolean,
    flush: (peer: Peer) => void,
  ) {
    this.flushTask = () => flush(this);
  }
}

/** How many operations may wait for a connection that is still being set up. */
const MAX_PENDING_OPS = 100_000;

const defaultNonce = (): string => randomBytes(16).toString('hex');

/** Names and pids the wire accepts (frames.ts: at most 255 / 600 characters, never empty). */
const validName = (name: string): boolean => name.length > 0 && name.length <= (name.charCodeAt(0) === 60 ? 600 : 255);

/** A batch frame's text up to its ops array. */
const BATCH_HEAD = `{"v":${PROTOCOL_VERSION},"t":"b","ops":`;

/**
 * Frames of at least this many characters go to the transport as pieces (Conn.send), which it writes
 * into one buffer: made a string first, a frame is a fresh large-object allocation, then flattened and
 * encoded again on the way out, each a copy of the whole (and on this VM, fresh pages the kernel zeroes).
 */
const PIECES_FROM_CHARS = 16 * 1024;

/**
 * One batch frame for `ops`: its text, or for a big frame the pieces whose concatenation it is, with its
 * length in characters. A message sent with Runtime.sendEncoded carries its text already; it goes in as
 * it is (the same text JSON.stringify would make of its value), so the value is not serialised again.
 * Throws what JSON.stringify throws (a BigInt, a cycle).
 */
function encodeBatch(ops: readonly Op[]): { readonly frame: string | readonly string[]; readonly chars: number } {
  if (!ops.some(preEncoded)) {
    const body = JSON.stringify(ops);
    const chars = BATCH_HEAD.length + body.length + 1;
    return { frame: chars < PIECES_FROM_CHARS ? `${BATCH_HEAD}${body}}` : [BATCH_HEAD, body, '}'], chars };
  }
  const pieces = [BATCH_HEAD, '['];
  for (let i = 0; i < ops.length; i++) {
    const op = ops[i]!;
    if (i > 0) pieces.push(',');
    if (!preEncoded(op)) pieces.push(JSON.stringify(op));
    else {
      pieces.push(`{"t":"${op.t}","to":${JSON.stringify(op.to)},"msg":`);
      const json = op.msg.json;
      if (typeof json === 'string') pieces.push(json);
      else for (const p of json) pieces.push(p);
      pieces.push('}');
    }
  }
  pieces.push(']}');
  let chars = 0;
  for (const p of pieces) chars += p.length;
  return { frame: chars < PIECES_FROM_CHARS ? pieces.join('') : pieces, chars };
}

/** UTF-8 bytes of a frame from encodeBatch (its characters when that many bytes cannot pass `max` anyway). */
function frameBytes(frame: string | readonly string[], chars: number, max: number): number {
  if (chars * 3 <= max) return chars;
  if (typeof frame === 'string') return Buffer.byteLength(frame);
  let bytes = 0;
  for (const p of frame) bytes += Buffer.byteLength(p);
  return bytes;
}

function preEncoded(op: Op): op is Extract<Op, { t: 'send' | 'sendn' }> & { msg: PreEncoded } {
  return (op.t === 'send' || op.t === 'sendn') && op.msg instanceof PreEncoded;
}

export class Distribution implements RemotePort {
  readonly node: string;
  private readonly peers = new Map<string, Peer>();
  /** Nodes we keep a connection to: reconnected with backoff after a drop. */
  private readonly wanted = new Map<string, { attempt: number; timer: TimerHandle | undefined }>();
  private readonly nodeMonitors = new Map<string, Set<Pid>>();
  private readonly subscribers = new Set<(e: NodeEvent) => void>();
  /** monitorNodes subscribers: pid → whether it wants hidden nodes too, and how to stop watching its exit. */
  private readonly nodeWatchers = new Map<Pid, { readonly hidden: boolean; readonly unwatch: () => void }>();
  private readonly spawnables = new Map<string, Starter>();
  private readonly pendingSpawns = new Map<Ref, { node: string; resolve: (pid: Pid) => void; reject: (e: Error) => void; link: Pid | undefined }>();
  /** Callers of whenWritable, per node: released on drain or when the node goes down. */
  private readonly writableWaiters = new Map<string, (() => void)[]>();
  private readonly env: Env;
  private readonly nonce: () => string;
  private tickTimer: TimerHandle | undefined;
  private stopped = false;
  private readonly counters = { framesSent: 0, framesReceived: 0, opsSent: 0, opsReceived: 0, bytesSent: 0, bytesReceived: 0 };

  private constructor(
    readonly rt: Runtime,
    readonly config: DistConfig,
    private readonly transport: Transport,
    private readonly listener: Listener | undefined,
    deps: DistDeps,
  ) {
    this.node = rt.node;
    this.localPrefix = `<${rt.node}.`;
    this.ownPidPrefix = `<${rt.node}.${rt.creation}.`;
    this.env = deps.env;
    this.log = deps.log;
    this.nonce = deps.nonce ?? defaultNonce;
    rt.attachRemote(this);
    this.armTick();
  }

  private readonly log: Logger | undefined;
  private readonly localPrefix: string;
  /** `<node.creation.` of this incarnation: a local pid's serial follows it. */
  private readonly ownPidPrefix: string;
  private readonly flushPeer = (peer: Peer): void => this.flush(peer);

  /**
   * Start a node: check the config, listen (port 0 picks a free port, which then
   * becomes part of the node's name), create its Runtime and attach distribution.
   */
  static async start(input: DistConfigInput, deps: DistDeps & { readonly creation?: number; readonly batch?: number }): Promise<Distribution> {
    const resolved = resolveDistConfig(input, deps.sources ?? processSources());
    if (!resolved.ok) throw new DistConfigError(resolved.field, resolved.error);
    for (const w of resolved.warnings) deps.log?.warn({ node: input.node }, w);
    let config = resolved.config;
    const transport =
      deps.transport ?? wsTransport({ maxFrameBytes: config.maxFrameBytes, busyWaitUs: config.busyWaitUs, ...(config.tls === undefined ? {} : { tls: config.tls }) });
    // Connections may arrive before the node object exists; they wait on this.
    const holder: { dist?: Distribution } = {};
    let listener: Listener | undefined;
    if (config.listen) {
      listener = await transport.listen(config.host, config.port, (conn) => {
        if (holder.dist === undefined) conn.close('node_starting');
        else holder.dist.accept(conn);
      });
      const node = formatNodeName({ ...parseNodeName(config.node)!, port: listener.port });
      config = Object.freeze({ ...config, node, port: listener.port });
    }
    const creation = deps.creation ?? deps.env.rng.int(1, 2 ** 31 - 1);
    const rt = new Runtime({ env: deps.env, node: config.node, creation, ...(deps.batch === undefined ? {} : { batch: deps.batch }) });
    holder.dist = new Distribution(rt, config, transport, listener, deps);
    return holder.dist;
  }

  // ---- public API --------------------------------------------------------

  /** Connect to `node` (net_kernel:connect_node); true once the handshake succeeds. */
  connect(node: string): Promise<boolean> {
    if (node === this.node) return Promise.resolve(true);
    if (parseNodeName(node) === undefined) return Promise.resolve(false);
    // An explicit connect means "stay connected": reconnect after a drop.
    this.want(node);
    const peer = this.peers.get(node) ?? this.dial(node);
    if (peer === undefined) return Promise.resolve(false);
    if (peer.state === 'up') return Promise.resolve(true);
    return new Promise((resolve) => peer.waiters.push(resolve));
  }

  /** Drop the connection to `node` and stop reconnecting to it. */
  disconnect(node: string): void {
    this.unwant(node);
    const peer = this.peers.get(node);
    if (peer !== undefined) this.drop(peer, 'disconnect');
  }

  /** Connected nodes: visible ones by default (as Erlang's nodes()), hidden ones on request. */
  nodes(which: 'visible' | 'hidden' | 'all' = 'visible'): string[] {
    const out: string[] = [];
    for (const p of this.peers.values()) {
      if (p.state !== 'up') continue;
      if (which === 'all' || (which === 'hidden') === p.hidden) out.push(p.node);
    }
    return out.sort();
  }

  /** erlang:monitor_node: `pid` gets `{type:'nodedown', node}` once, when the connection goes (or cannot be made). */
  monitorNode(pid: Pid, node: string): void {
    let set = this.nodeMonitors.get(node);
    if (set === undefined) this.nodeMonitors.set(node, (set = new Set()));
    set.add(pid);
    if (this.peers.get(node)?.state === 'up') return;
    // Try to connect (as erlang:monitor_node does) without asking to stay connected.
    const peer = this.peers.get(node) ?? this.dial(node);
    if (peer === undefined) this.fireNodeMonitors(node, 'connect_failed');
  }

  /**
   * net_kernel:monitor_nodes(Flag, [{node_type, …}]): local process `pid` gets every `{type:'nodeup', node, hidden}`
   * and `{type:'nodedown', node, reason}` as a message (the NodeEvent itself), for visible nodes, and hidden ones
   * too with `{ hidden: true }`; until `monitorNodes(pid, false)` or its death. Returns false for a pid that is
   * not a live local process (nothing is subscribed).
   */
  monitorNodes(pid: Pid, on = true, opts: { readonly hidden?: boolean } = {}): boolean {
    const w = this.nodeWatchers.get(pid);
    if (!on) {
      w?.unwatch();
      return this.nodeWatchers.delete(pid);
    }
    if (!this.rt.isAlive(pid)) return false; // local processes only: isAlive knows no remote pid
    w?.unwatch();
    // Dropped at its death, so processes that subscribe and die do not pile up on a quiet cluster.
    const unwatch = this.rt.watchExit(pid, () => this.nodeWatchers.delete(pid));
    this.nodeWatchers.set(pid, { hidden: opts.hidden ?? false, unwatch });
    return true;
  }

  /** A callback for every nodeup/nodedown (hidden nodes included), until the returned function is called. */
  subscribe(fn: (e: NodeEvent) => void): () => void {
    this.subscribers.add(fn);
    return () => this.subscribers.delete(fn);
  }

  /** A send that reports back-pressure instead of queueing without bound. */
  trySend(to: Pid | RemoteName, msg: unknown): SendOutcome {
    const node = typeof to === 'string' ? this.rt.remoteNodeOf(to) : to.node;
    if (node === undefined || node === this.node) {
      this.rt.send(to, msg);
      return { type: 'ok' };
    }
    const peer = this.peers.get(node);
    if (peer === undefined || peer.state !== 'up' || peer.conn === undefined) return { type: 'nodedown', node };
    const buffered = peer.conn.bufferedBytes();
    if (buffered > this.config.softBufferedBytes) return { type: 'backpressure', bufferedBytes: buffered };
    this.rt.send(to, msg);
    return { type: 'ok' };
  }

  /**
   * Resolves once the link to `node` has drained its buffer (the transport's
   * drain), at once when it is below the soft limit, and when the node goes down.
   */
  whenWritable(node: string): Promise<void> {
    const peer = this.peers.get(node);
    if (peer?.conn === undefined || peer.conn.bufferedBytes() <= this.config.softBufferedBytes) return Promise.resolve();
    return new Promise((resolve) => {
      const list = this.writableWaiters.get(node);
      if (list === undefined) this.writableWaiters.set(node, [resolve]);
      else list.push(resolve);
    });
  }

  /** Release whenWritable callers once the link is back at or below the soft limit (or gone). */
  private checkWritable(peer: Peer): void {
    if (this.writableWaiters.has(peer.node) && (peer.conn === undefined || peer.conn.bufferedBytes() <= this.config.softBufferedBytes)) {
      this.releaseWritable(peer.node);
    }
  }

  private releaseWritable(node: string): void {
    const list = this.writableWaiters.get(node);
    if (list === undefined) return;
    this.writableWaiters.delete(node);
    for (const resolve of list) resolve();
  }

  /** rpc: a call to the service registered as `service` on `node`. */
  rpc<R = unknown>(node: string, service: Name, request: unknown, opts?: CallOptions): Promise<R> {
    return this.rt.call<R>({ name: service, node }, request, opts);
  }

  /** Allow other nodes to spawn `name` here (spawn by name: no code crosses the wire). */
  registerSpawnable(name: string, make: Spawnable): void {
    this.spawnables.set(name, async (args) => this.rt.spawn(make(args)));
  }

  /** Allow other nodes to start a gen_server of behaviour `cb` here by name; its args come from the request. */
  registerBehaviour<S>(name: string, cb: ServerBehaviour<S, unknown, never, unknown, never, never>): void {
    this.spawnables.set(name, async (args) => {
      const r = await startServer(this.rt, cb, args);
      if (r.type === 'ok') return r.pid;
      throw new RuntimeError('start_failed', r.type === 'ignore' ? 'init returned ignore' : JSON.stringify(r.error));
    });
  }

  /** Spawn a registered spawnable on `node`; with `link`, the new process is linked to that local pid. */
  spawnRemote(node: string, spawnable: string, args: unknown, opts: { link?: Pid; timeoutMs?: number } = {}): Promise<Pid> {
    if (node === this.node) {
      const start = this.spawnables.get(spawnable);
      if (start === undefined) return Promise.reject(new RuntimeError('start_failed', `no spawnable ${spawnable}`));
      return start(args);
    }
    const ref = this.rt.makeRef();
    const from = opts.link ?? this.rt.externalPid;
    return new Promise<Pid>((resolve, reject) => {
      const timer = this.env.timers.set(opts.timeoutMs ?? 5000, () => {
        if (this.pendingSpawns.delete(ref)) reject(new RuntimeError('start_failed', `spawn on ${node} timed out`));
      });
      this.pendingSpawns.set(ref, {
        node,
        resolve: (pid) => {
          this.env.timers.clear(timer);
          resolve(pid);
        },
        reject: (e) => {
          this.env.timers.clear(timer);
          reject(e);
        },
        link: opts.link,
      });
      this.enqueue(node, { t: 'spawn', ref, from, spawnable, args, link: opts.link !== undefined });
    });
  }

  /** Traffic counters since start (for metrics and benchmarks). */
  stats(): Readonly<typeof this.counters> {
    return { ...this.counters };
  }

  /** Close every connection and the listener; kills nothing (stop the runtime for that). */
  async stop(): Promise<void> {
    this.stopped = true;
    if (this.tickTimer !== undefined) this.env.timers.clear(this.tickTimer);
    for (const w of this.wanted.values()) if (w.timer !== undefined) this.env.timers.clear(w.timer);
    this.wanted.clear();
    for (const p of [...this.peers.values()]) this.drop(p, 'node_stopping');
    await this.listener?.close();
  }

  // ---- RemotePort (called by the kernel) ----------------------------------

  send(to: Pid, msg: unknown): void {
    const node = this.rt.remoteNodeOf(to);
    if (node !== undefined && node !== this.node) this.enqueue(node, { t: 'send', to, msg });
  }

  sendName(to: RemoteName, msg: unknown): void {
    if (validName(to.name)) this.enqueue(to.node, { t: 'sendn', to: to.name, msg });
  }

  link(from: Pid, to: Pid): void {
    const node = this.rt.remoteNodeOf(to)!;
    if (node === this.node) return this.rt.remoteExit(to, from, 'noproc', true); // an older incarnation of us
    this.enqueue(node, { t: 'link', from, to });
  }

  unlink(from: Pid, to: Pid): void {
    const node = this.rt.remoteNodeOf(to);
    if (node !== undefined && node !== this.node) this.enqueue(node, { t: 'unlink', from, to });
  }

  exit(from: Pid, to: Pid, reason: ExitReason, viaLink: boolean): void {
    const node = this.rt.remoteNodeOf(to);
    if (node !== undefined && node !== this.node) this.enqueue(node, { t: 'exit', from, to, reason, link: viaLink });
  }

  monitor(from: Pid, ref: Ref, to: Pid | RemoteName): void {
    const node = typeof to === 'string' ? this.rt.remoteNodeOf(to)! : to.node;
    const target = typeof to === 'string' ? to : to.name;
    if (node === this.node || !validName(target)) return this.rt.remoteDown(ref, target, 'noproc');
    this.enqueue(node, { t: 'mon', from, to: target, ref });
  }

  demonitor(ref: Ref, node: string): void {
    this.enqueue(node, { t: 'demon', ref });
  }

  down(to: Pid, ref: Ref, pid: Pid | Name, reason: ExitReason): void {
    const node = this.rt.remoteNodeOf(to);
    if (node !== undefined && node !== this.node) this.enqueue(node, { t: 'down', ref, to, pid, reason });
  }

  reply(node: string, caller: Pid, refSerial: number, value: unknown): void {
    // A reply only makes sense on the connection the call came in on: once that
    // is gone the caller has failed the call with NodeDown, and a new
    // incarnation of the caller's node reuses serials. So no dial, and no reply
    // to an incarnation other than the connected one.
    const peer = this.peers.get(node);
    if (peer === undefined || peer.state !== 'up' || !caller.startsWith(peer.pidPrefix)) return;
    this.enqueue(node, { t: 'reply', ref: refSerial, value });
  }

  call(from: Pid, refSerial: number, to: Pid | RemoteName, request: unknown): void {
    const node = typeof to === 'string' ? this.rt.remoteNodeOf(to)! : to.node;
    const target = typeof to === 'string' ? to : to.name;
    if (node === this.node || !validName(target)) return this.rt.remoteCallDown(refSerial, target, 'noproc');
    // The caller is a local process (or the runtime's external pid): only its serial crosses the wire.
    this.enqueue(node, { t: 'call', from: Number(from.slice(this.ownPidPrefix.length, -1)), to: target, ref: refSerial, request });
  }

  // ---- outbox ------------------------------------------------------------

  private enqueue(node: string, op: Op): void {
    if (this.stopped) return this.unreachable(node, op);
    // A node we are backing off from is not redialed by every send to it.
    const peer = this.peers.get(node) ?? (this.wanted.get(node)?.timer === undefined ? this.dial(node) : undefined);
    if (peer === undefined) return this.unreachable(node, op);
    if (peer.state !== 'up' && peer.outbox.length >= MAX_PENDING_OPS) {
      this.log?.warn({ node, pending: peer.outbox.length }, 'dist: too many operations waiting for a connection; dropping');
      return this.unreachable(node, op);
    }
    peer.outbox.push(op);
    // A process sending in a tight loop never yields to the microtask flush: a full frame goes out now, so what
    // waits is in the transport's buffer, counted in bytes (trySend's back-pressure, hardBufferedBytes), never
    // more than a frame's worth in the outbox.
    if (peer.state === 'up' && peer.outbox.length >= this.config.maxOpsPerFrame) return this.flush(peer);
    if (peer.state === 'up' && !peer.flushQueued) {
      peer.flushQueued = true;
      // One frame per microtask turn: everything sent in this synchronous run
      // (e.g. a whole nact dispatch of a busy process) shares the frame.
      queueMicrotask(peer.flushTask);
    }
  }

  /** An operation that cannot reach its node: answer it as the network would. */
  private unreachable(node: string, op: Op): void {
    switch (op.t) {
      case 'mon':
        return this.rt.remoteDown(op.ref as Ref, op.to, 'noconnection');
      case 'call':
        return this.rt.remoteCallDown(op.ref, op.to, 'noconnection');
      case 'link':
        return this.rt.remoteExit(op.to as Pid, op.from as Pid, 'noconnection', true);
      case 'spawn': {
        const p = this.pendingSpawns.get(op.ref as Ref);
        if (p !== undefined) {
          this.pendingSpawns.delete(op.ref as Ref);
          p.reject(new RuntimeError('nodedown', node));
        }
        return;
      }
      default:
        return;
    }
  }

  private flush(peer: Peer): void {
    peer.flushQueued = false;
    const conn = peer.conn;
    if (peer.state !== 'up' || conn === undefined || peer.outbox.length === 0) return;
    const ops = peer.outbox;
    peer.outbox = [];
    const max = this.config.maxOpsPerFrame;
    if (ops.length <= max) this.sendOps(peer, conn, ops);
    else for (let i = 0; i < ops.length; i += max) this.sendOps(peer, conn, ops.slice(i, i + max));
    peer.lastSent = this.env.clock.now();
    if (conn.bufferedBytes() > this.config.hardBufferedBytes) this.drop(peer, 'send_buffer_overflow');
  }

  private sendOps(peer: Peer, conn: Conn, ops: Op[]): void {
    let encoded: ReturnType<typeof encodeBatch>;
    try {
      encoded = encodeBatch(ops);
    } catch (e) {
      // Something in the batch cannot be JSON (a BigInt, a cycle): find it, fail
      // it alone, and send the rest.
      if (ops.length > 1) {
        const mid = ops.length >> 1;
        this.sendOps(peer, conn, ops.slice(0, mid));
        this.sendOps(peer, conn, ops.slice(mid));
      } else {
        this.undeliverable(peer, ops[0]!, `not serializable: ${(e as Error).message}`);
      }
      return;
    }
    const { frame, chars } = encoded;
    // maxFrameBytes counts bytes on the wire (as ws's maxPayload does), not UTF-16 units.
    const bytes = frameBytes(frame, chars, this.config.maxFrameBytes);
    if (bytes <= this.config.maxFrameBytes) {
      conn.send(frame);
      this.counters.framesSent++;
      this.counters.opsSent += ops.length;
      this.counters.bytesSent += chars;
      return;
    }
    if (ops.length > 1) {
      const mid = ops.length >> 1;
      this.sendOps(peer, conn, ops.slice(0, mid));
      this.sendOps(peer, conn, ops.slice(mid));
      return;
    }
    // One message larger than a frame may be: it cannot be sent.
    this.undeliverable(peer, ops[0]!, `${bytes} bytes > maxFrameBytes ${this.config.maxFrameBytes}`);
  }

  /** An op that cannot be put on the wire: dropped and logged; a call waiting on it fails now. */
  private undeliverable(peer: Peer, op: Op, why: string): void {
    this.log?.warn({ node: peer.node, op: op.t, why }, 'dist: message dropped');
    if (op.t === 'call') this.rt.remoteCallDown(op.ref, op.to, { type: 'error', name: 'MessageNotSendable', message: why });
  }

  // ---- connections -------------------------------------------------------

  private dial(node: string): Peer | undefined {
    if (this.stopped || node === this.node) return undefined;
    const addr = parseNodeName(node);
    if (addr === undefined || addr.port === 0) return undefined;
    const peer = new Peer(node, true, this.flushPeer);
    this.peers.set(node, peer);
    const cNonce = this.nonce();
    const timer = this.env.timers.set(this.config.handshakeTimeoutMs, () => {
      if (this.peers.get(node) === peer && peer.state !== 'up') this.fail(peer, 'handshake_timeout');
    });
    this.transport.connect(addr.host, addr.port).then(
      (conn) => {
        if (this.peers.get(node) !== peer || this.stopped) {
          conn.close('superseded');
          return;
        }
        peer.conn = conn;
        let stage: 'challenge' | 'welcome' = 'challenge';
        let sNonce = '';
        conn.onClose = (reason) => {
          if (peer.conn !== conn) return;
          if (reason === 'simultaneous_connect' && peer.state !== 'up') {
            // The peer is dialing us too and its connection wins the tie (its
            // name sorts first): keep what we queued and wait for its inbound
            // connection to take this peer over; the handshake timer still bounds it.
            peer.conn = undefined;
            return;
          }
          this.env.timers.clear(timer);
          this.fail(peer, reason);
        };
        conn.onFrame = this.guarded(conn, (data) => {
          if (peer.state === 'up') return this.onOps(peer, data);
          const d = decodeFrame(data, this.config.maxFrameBytes);
          if (!d.ok) return this.refuse(peer, conn, d.reason);
          const f: Frame = d.frame;
          // Refused for its cookie, this node is the misconfigured one: its operator must hear it. Other refusals
          // (already_connected, simultaneous_connect) are races that settle themselves.
          if (f.t === 'refuse') return this.refuse(peer, conn, `refused: ${f.reason}`, f.reason === 'bad_cookie');
          if (stage === 'challenge' && f.t === 'challenge') {
            if (f.node !== node) return this.refuse(peer, conn, `wrong_node: expected ${node}, got ${f.node}`);
            peer.creation = f.creation;
            peer.hidden = f.hidden;
            sNonce = f.nonce;
            stage = 'welcome';
            conn.send(JSON.stringify({ v: PROTOCOL_VERSION, t: 'auth', nonce: cNonce, proof: proof(this.config.cookie, 'client', sNonce, cNonce, this.node, node) }));
            return;
          }
          if (stage === 'welcome' && f.t === 'welcome') {
            // The listener proves itself last; an impostor without the cookie stops here.
            if (!proofsEqual(proof(this.config.cookie, 'server', cNonce, sNonce, node, this.node), f.proof)) return this.refuse(peer, conn, 'bad_cookie');
            this.env.timers.clear(timer);
            this.up(peer, peer.hidden || this.config.hidden);
            this.learnPeers(f.peers);
            return;
          }
          this.refuse(peer, conn, `unexpected_${f.t}_during_handshake`);
        });
        conn.send(JSON.stringify({ v: PROTOCOL_VERSION, t: 'hello', node: this.node, creation: this.rt.creation, hidden: this.config.hidden }));
      },
      (e: unknown) => {
        this.env.timers.clear(timer);
        if (this.peers.get(node) === peer) this.fail(peer, `connect_failed: ${(e as Error).message}`);
      },
    );
    return peer;
  }

  /** An inbound connection: hello → challenge (our nonce) → auth (their nonce and proof) → welcome (our proof). */
  private accept(conn: Conn): void {
    if (this.stopped) return conn.close('node_stopping');
    let stage: 'hello' | 'auth' | 'done' = 'hello';
    let peer: Peer | undefined;
    let theirs: { node: string; creation: number; hidden: boolean } | undefined;
    const sNonce = this.nonce();
    const timer = this.env.timers.set(this.config.handshakeTimeoutMs, () => {
      if (stage !== 'done') this.reject(conn, 'handshake_timeout');
    });
    conn.onClose = (reason) => {
      this.env.timers.clear(timer);
      if (peer !== undefined && peer.conn === conn) this.fail(peer, reason);
    };
    conn.onFrame = this.guarded(conn, (data) => {
      if (stage === 'done') return peer !== undefined && peer.conn === conn ? this.onOps(peer, data) : undefined;
      const d = decodeFrame(data, this.config.maxFrameBytes);
      if (!d.ok) return this.reject(conn, d.reason);
      const f = d.frame;
      if (stage === 'hello' && f.t === 'hello') {
        if (parseNodeName(f.node) === undefined || f.node === this.node) return this.reject(conn, `bad_node_name: ${f.node}`);
        theirs = { node: f.node, creation: f.creation, hidden: f.hidden };
        stage = 'auth';
        conn.send(JSON.stringify({ v: PROTOCOL_VERSION, t: 'challenge', node: this.node, creation: this.rt.creation, hidden: this.config.hidden, nonce: sNonce }));
        return;
      }
      if (stage === 'auth' && f.t === 'auth' && theirs !== undefined) {
        const cNonce = f.nonce;
        const expected = proof(this.config.cookie, 'client', sNonce, cNonce, theirs.node, this.node);
        if (!proofsEqual(expected, f.proof)) {
          this.log?.warn({ peer: theirs.node }, 'dist: connection refused: bad_cookie');
          conn.send(JSON.stringify({ v: PROTOCOL_VERSION, t: 'refuse', reason: 'bad_cookie' }));
          stage = 'done';
          return conn.close('bad_cookie');
        }
        const existing = this.peers.get(theirs.node);
        if (existing !== undefined) {
          if (existing.state === 'up' && existing.creation === theirs.creation) return this.reject(conn, 'already_connected');
          if (existing.state === 'up') {
            this.drop(existing, 'peer_restarted'); // the node came back: its old connection is dead
          } else if (this.node < theirs.node) {
            return this.reject(conn, 'simultaneous_connect'); // our own dial wins the tie
          } else {
            existing.conn?.close('simultaneous_connect');
            this.peers.delete(theirs.node);
            peer = new Peer(theirs.node, false, this.flushPeer);
            peer.outbox = existing.outbox; // keep what was queued, in order
            peer.waiters.push(...existing.waiters);
          }
        }
        peer ??= new Peer(theirs.node, false, this.flushPeer);
        peer.conn = conn;
        peer.creation = theirs.creation;
        this.peers.set(theirs.node, peer);
        stage = 'done';
        this.env.timers.clear(timer);
        conn.send(
          JSON.stringify({
            v: PROTOCOL_VERSION,
            t: 'welcome',
            proof: proof(this.config.cookie, 'server', cNonce, sNonce, this.node, theirs.node),
            peers: this.config.hidden ? [] : this.nodes('visible'),
          }),
        );
        // A connection is hidden at both ends if either end is hidden (Erlang's published flag).
        this.up(peer, theirs.hidden || this.config.hidden);
        return;
      }
      this.reject(conn, `unexpected_${f.t}_during_handshake`);
    });
  }

  private up(peer: Peer, hidden: boolean): void {
    peer.state = 'up';
    peer.hidden = hidden;
    peer.pidPrefix = `<${peer.node}.${peer.creation}.`;
    if (peer.conn !== undefined) peer.conn.onDrain = () => this.checkWritable(peer);
    const now = this.env.clock.now();
    peer.lastRecv = now;
    peer.lastSent = now;
    const w = this.wanted.get(peer.node);
    if (w !== undefined) w.attempt = 0;
    if (!hidden && !this.config.hidden && peer.outbound === false) this.want(peer.node);
    this.log?.info({ peer: peer.node, hidden }, 'dist: nodeup');
    for (const resolve of peer.waiters.splice(0)) resolve(true);
    this.emit({ type: 'nodeup', node: peer.node, hidden }, hidden);
    // Tell the mesh about the newcomer, and the newcomer about the mesh.
    if (!hidden && !this.config.hidden) {
      const visible = this.nodes('visible');
      for (const other of visible) if (other !== peer.node) this.enqueue(other, { t: 'peers', nodes: [peer.node] });
      this.enqueue(peer.node, { t: 'peers', nodes: visible.filter((n) => n !== peer.node) });
    }
    if (peer.outbox.length > 0 && !peer.flushQueued) {
      peer.flushQueued = true;
      queueMicrotask(peer.flushTask);
    }
  }

  private learnPeers(nodes: readonly string[]): void {
    if (this.config.hidden) return;
    for (const n of nodes) if (n !== this.node && !this.peers.has(n)) void this.connect(n);
  }

  private onOps(peer: Peer, data: string): void {
    peer.lastRecv = this.env.clock.now();
    const d = decodeFrame(data, this.config.maxFrameBytes);
    if (!d.ok || d.frame.t !== 'b') return this.drop(peer, d.ok ? `unexpected_${d.frame.t}` : d.reason);
    this.counters.framesReceived++;
    this.counters.opsReceived += d.frame.ops.length;
    this.counters.bytesReceived += data.length;
    // Pids of the peer's current incarnation only.
    const prefix = peer.pidPrefix;
    const rt = this.rt;
    for (const op of d.frame.ops) {
      // An answer queued by an earlier op (a `down` for a call to no one, say) can fill the outbox, flush it at
      // once and find the link over hardBufferedBytes: dropped, the peer is down for everyone here, and the rest
      // of its frame must not act after that (a link made after nodeDown would never fire).
      if (peer.conn === undefined) return;
      switch (op.t) {
        case 'send':
          rt.remoteDeliver(op.to as Pid, op.msg);
          break;
        case 'call':
          // The caller is named by its serial on this connection's peer: it cannot be forged.
          rt.remoteCallIn(peer.node, prefix, op.from, op.ref, op.to, op.request);
          break;
        case 'sendn':
          rt.remoteDeliverName(op.to, op.msg);
          break;
        case 'tick':
          break;
        case 'reply':
          rt.remoteReply(op.ref, op.value, peer.node);
          break;
        case 'down':
          if (op.to.startsWith(this.localPrefix)) rt.remoteDown(op.ref as Ref, op.pid as Pid, op.reason, peer.node);
          break;
        case 'demon':
          rt.remoteDemonitor(op.ref as Ref, peer.node);
          break;
        case 'peers':
          this.learnPeers(op.nodes);
          break;
        case 'spawned': {
          const p = this.pendingSpawns.get(op.ref as Ref);
          if (p === undefined || p.node !== peer.node) break;
          this.pendingSpawns.delete(op.ref as Ref);
          if (op.result.ok) {
            if (p.link !== undefined) rt.remoteLink(op.result.pid as Pid, p.link);
            p.resolve(op.result.pid as Pid);
          } else {
            p.reject(new RuntimeError('start_failed', op.result.error));
          }
          break;
        }
        default:
          // Operations that act on behalf of a remote process must name a process
          // of the peer that sent them: a node cannot forge another node's pids.
          if (!op.from.startsWith(prefix)) return this.drop(peer, `forged_sender: ${op.from}`);
          this.applyFromProcess(op);
      }
    }
  }

  private applyFromProcess(op: Extract<Op, { from: string }>): void {
    const rt = this.rt;
    switch (op.t) {
      case 'link':
        return rt.remoteLink(op.from as Pid, op.to as Pid);
      case 'unlink':
        return rt.remoteUnlink(op.from as Pid, op.to as Pid);
      case 'exit':
        return rt.remoteExit(op.from as Pid, op.to as Pid, op.reason, op.link);
      case 'mon':
        rt.remoteMonitor(op.from as Pid, op.ref as Ref, op.to as Pid);
        return;
      case 'spawn': {
        const node = rt.remoteNodeOf(op.from as Pid)!;
        const start = this.spawnables.get(op.spawnable);
        if (start === undefined) {
          this.enqueue(node, { t: 'spawned', ref: op.ref, result: { ok: false, error: `no spawnable named ${op.spawnable}` } });
          return;
        }
        start(op.args).then(
          (pid) => {
            if (op.link) rt.remoteLink(op.from as Pid, pid);
            this.enqueue(node, { t: 'spawned', ref: op.ref, result: { ok: true, pid } });
          },
          (e: unknown) => {
            const error = (e instanceof Error ? e.message : String(e)).slice(0, 400) || 'spawn failed';
            this.enqueue(node, { t: 'spawned', ref: op.ref, result: { ok: false, error } });
          },
        );
      }
    }
  }

  /** A peer's frame must never take the node down: a handler that throws closes that connection. */
  private guarded(conn: Conn, handle: (data: string) => void): (data: string) => void {
    return (data) => {
      try {
        handle(data);
      } catch (e) {
        this.log?.error({ err: e }, 'dist: frame handler failed; closing the connection');
        conn.close('internal_error');
      }
    };
  }

  /** Refuse a connection during the handshake: log, close, and process nothing more from it. */
  private reject(conn: Conn, reason: string): void {
    this.log?.warn({ reason }, 'dist: inbound connection refused');
    conn.onFrame = () => {};
    conn.close(reason);
  }

  private refuse(peer: Peer, conn: Conn, reason: string, log = true): void {
    if (log) this.log?.warn({ peer: peer.node, reason }, 'dist: connection refused');
    conn.onFrame = () => {};
    conn.close(reason);
    this.fail(peer, reason);
  }

  /** A connection that never came up. */
  private fail(peer: Peer, reason: string): void {
    if (reason === 'disconnect') this.unwant(peer.node); // the peer asked to part: do not redial it
    if (peer.state === 'up') return this.drop(peer, reason);
    if (this.peers.get(peer.node) !== peer) return;
    this.peers.delete(peer.node);
    peer.conn?.close(reason);
    for (const resolve of peer.waiters.splice(0)) resolve(false);
    const pending = peer.outbox;
    peer.outbox = [];
    for (const op of pending) this.unreachable(peer.node, op);
    this.lost(peer.node, reason);
    this.scheduleReconnect(peer.node);
  }

  /** Everything local that depends on `node` learns it is gone. */
  private lost(node: string, reason: string): void {
    this.rt.nodeDown(node);
    for (const [ref, p] of [...this.pendingSpawns]) {
      if (p.node !== node) continue;
      this.pendingSpawns.delete(ref);
      p.reject(new RuntimeError('nodedown', `${node}: ${reason}`));
    }
    this.releaseWritable(node);
    this.fireNodeMonitors(node, reason);
  }

  /** A live connection is gone: everything that depended on it learns now. */
  private drop(peer: Peer, reason: string): void {
    if (reason === 'disconnect') this.unwant(peer.node); // either side's explicit disconnect: do not redial
    if (this.peers.get(peer.node) !== peer) return;
    if (peer.state !== 'up') return this.fail(peer, reason);
    this.peers.delete(peer.node);
    const conn = peer.conn;
    peer.conn = undefined;
    conn?.close(reason);
    peer.outbox = [];
    this.log?.info({ peer: peer.node, reason }, 'dist: nodedown');
    this.lost(peer.node, reason);
    this.emit({ type: 'nodedown', node: peer.node, reason }, peer.hidden);
    this.scheduleReconnect(peer.node);
  }

  private fireNodeMonitors(node: string, reason: string): void {
    const set = this.nodeMonitors.get(node);
    if (set === undefined) return;
    this.nodeMonitors.delete(node);
    for (const pid of set) this.rt.send(pid, { type: 'nodedown', node, reason });
  }

  private emit(e: NodeEvent, hidden: boolean): void {
    for (const s of this.subscribers) {
      try {
        s(e);
      } catch (err) {
        // As the runtime's EventBus does: a broken subscriber must not take down whoever dropped the link (a
        // tick, a frame handler, a process's own send).
        this.subscribers.delete(s);
        this.log?.error({ err }, 'dist: a node event subscriber threw; it is unsubscribed');
      }
    }
    for (const [pid, w] of this.nodeWatchers) if (!hidden || w.hidden) this.rt.send(pid, e);
  }

  // ---- liveness and reconnects ------------------------------------------

  private armTick(): void {
    this.tickTimer = this.env.timers.set(this.config.tickMs, () => {
      if (this.stopped) return;
      this.tick();
      this.armTick();
    });
  }

  private tick(): void {
    const now = this.env.clock.now();
    const silentLimit = this.config.tickMs * this.config.timeoutTicks;
    for (const peer of [...this.peers.values()]) {
      if (peer.state !== 'up') continue;
      if (now - peer.lastRecv > silentLimit) {
        this.drop(peer, 'tick_timeout');
        continue;
      }
      if (now - peer.lastSent >= this.config.tickMs) this.enqueue(peer.node, { t: 'tick' });
      // The transport's drain fires only at zero bytes buffered; a slow link with
      // ticks in flight may never get there, so waiters are also checked per tick.
      this.checkWritable(peer);
    }
  }

  private want(node: string): void {
    if (!this.wanted.has(node)) this.wanted.set(node, { attempt: 0, timer: undefined });
  }

  private unwant(node: string): void {
    const w = this.wanted.get(node);
    if (w?.timer !== undefined) this.env.timers.clear(w.timer);
    this.wanted.delete(node);
  }

  // Exponential backoff with full jitter, so that a cluster that lost a node
  // does not redial it in lockstep.
  private scheduleReconnect(node: string): void {
    const w = this.wanted.get(node);
    if (w === undefined || this.stopped || w.timer !== undefined) return;
    const ceiling = Math.min(this.config.reconnectMaxMs, this.config.reconnectMinMs * 2 ** Math.min(w.attempt, 16));
    const delay = Math.round(this.config.reconnectMinMs / 2 + this.env.rng.next() * (ceiling - this.config.reconnectMinMs / 2));
    w.attempt++;
    w.timer = this.env.timers.set(delay, () => {
      w.timer = undefined;
      if (this.stopped || !this.wanted.has(node) || this.peers.has(node)) return;
      this.dial(node);
    });
  }
}
