// The in-memory network for tests and simulations: nodes named by host, links
// with delay and jitter, partitions, crashes. It owns only in-flight frames and
// the address table; every delivery is an env timer, so under a VirtualEnv the
// seed decides the whole timeline and nothing is ever delivered inside send().
import type { Env } from '../env.js';
import type { Conn, Listener, Transport } from './transport.js';
import { ConnInbox, InboxConn } from './inbox.js';

export interface LinkOptions {
  readonly delayMs?: number;
  /** Extra delay drawn uniformly from [0, jitterMs] (integer ms) per frame; FIFO still holds. */
  readonly jitterMs?: number;
}

export interface NetworkStats {
  readonly framesSent: number;
  readonly framesDelivered: number;
  /** Lost to a partition, or arriving at a connection already closed on that side. */
  readonly framesDropped: number;
}

/** A connect whose handshake is lost (partition) gives up after this much env time. */
export const connectTimeoutMs = 3_000;
const firstPort = 10_000;
const defaultLink: Required<LinkOptions> = { delayMs: 1, jitterMs: 0 };

const noop = (): void => {};

function netError(message: string, code: string): Error {
  return Object.assign(new Error(message), { code });
}

type Wire = { kind: 'frame'; data: string; bytes: number } | { kind: 'close'; reason: string };

/** One direction of a connection: what its sender has put on the wire and is not yet delivered. */
class Outbound {
  private queue: Wire[] = [];
  private head = 0;
  /** Delivery time of the last frame queued: a later one never lands before it. */
  lastAt = -Infinity;
  bytes = 0;

  push(w: Wire): void {
    this.queue.push(w);
    if (w.kind === 'frame') this.bytes += w.bytes;
  }

  shift(): Wire {
    const w = this.queue[this.head++]!;
    if (this.head === this.queue.length) {
      this.queue = [];
      this.head = 0;
    }
    if (w.kind === 'frame') this.bytes -= w.bytes;
    return w;
  }
}

class MemConn extends InboxConn implements Conn {
  readonly out = new Outbound();
  peer!: MemConn;
  onDrain: () => void = noop;

  constructor(
    private readonly fabric: Fabric,
    /** The node this end lives on (partitions, links and crashes are per node). */
    readonly node: string,
  ) {
    super(
      new ConnInbox((fn) => {
        fabric.env.timers.set(0, fn);
      }),
    );
  }

  get closed(): boolean {
    return this.inbox.closed;
  }

  send(frame: string | readonly string[]): void {
    if (this.inbox.closed) return;
    const data = typeof frame === 'string' ? frame : frame.join('');
    this.fabric.transmit(this, { kind: 'frame', data, bytes: Buffer.byteLength(data) });
  }

  bufferedBytes(): number {
    return this.out.bytes;
  }

  close(reason: string): void {
    this.end('closed_locally', reason, true);
  }

  /** This end goes away: the owner hears `own`, the peer hears `toPeer` after what is in flight. */
  end(own: string, toPeer: string, dropHeld: boolean): void {
    if (this.inbox.closed) return;
    this.inbox.close(own, dropHeld);
    this.fabric.conns.delete(this);
    this.fabric.transmit(this, { kind: 'close', reason: toPeer });
  }

  /** Called by the fabric when a frame from the peer lands. False if it was dropped. */
  receive(data: string): boolean {
    if (this.inbox.closed) return false;
    if (!this.inbox.frame(data)) this.end('unclaimed_frames_overflow', 'unclaimed_frames_overflow', false);
    return true;
  }

  /** Called by the fabric when the peer's close lands (after every frame it sent before it). */
  peerClosed(reason: string): void {
    if (this.inbox.closed) return;
    this.inbox.close(reason, false);
    this.fabric.conns.delete(this);
  }
}

interface Registration {
  readonly node: string;
  readonly onConn: (conn: Conn) => void;
}

/** The network's state, shared by every node's transport and its connections. */
class Fabric {
  readonly links = new Map<string, Required<LinkOptions>>();
  /** Directed cuts: a frame from a node in `from` to a node in `to` is lost. */
  cuts: { from: ReadonlySet<string>; to: ReadonlySet<string> }[] = [];
  readonly listeners = new Map<string, Registration>();
  readonly crashed = new Set<string>();
  /** Connection ends not yet closed on their own side. */
  readonly conns = new Set<MemConn>();
  nextPort = firstPort;
  framesSent = 0;
  framesDelivered = 0;
  framesDropped = 0;

  constructor(
    readonly env: Env,
    readonly defaults: Required<LinkOptions>,
  ) {}

  blocked(from: string, to: string): boolean {
    return this.cuts.some((c) => c.from.has(from) && c.to.has(to));
  }

  link(a: string, b: string): Required<LinkOptions> {
    return this.links.get(linkKey(a, b)) ?? this.defaults;
  }

  /** One frame's delay on a→b: the link's base delay plus a draw from the seeded rng. */
  delay(from: string, to: string): number {
    const { delayMs, jitterMs } = this.link(from, to);
    return jitterMs > 0 ? delayMs + this.env.rng.int(0, jitterMs) : delayMs;
  }

  transmit(sender: MemConn, wire: Wire): void {
    const from = sender.node;
    const to = sender.peer.node;
    if (wire.kind === 'frame') this.framesSent++;
    if (this.blocked(from, to)) {
      if (wire.kind === 'frame') this.framesDropped++;
      return;
    }
    const now = this.env.clock.now();
    // FIFO under jitter: a frame never lands before the one sent ahead of it.
    const at = Math.max(sender.out.lastAt, now + this.delay(from, to));
    sender.out.lastAt = at;
    sender.out.push(wire);
    // Each timer delivers the head of the queue, not "its" frame: even an env
    // whose timers could fire out of order cannot reorder the connection.
    this.env.timers.set(at - now, () => this.arrive(sender));
  }

  private arrive(sender: MemConn): void {
    const wire = sender.out.shift();
    const receiver = sender.peer;
    // A partition that started while the frame was in flight loses it too.
    const lost = this.blocked(sender.node, receiver.node);
    if (wire.kind === 'close') {
      if (!lost) receiver.peerClosed(wire.reason);
      return;
    }
    if (!lost && receiver.receive(wire.data)) this.framesDelivered++;
    else this.framesDropped++;
    if (sender.out.bytes === 0 && !sender.closed) sender.onDrain();
  }

  listen(node: string, host: string, port: number, onConn: (conn: Conn) => void): Promise<Listener> {
    if (this.crashed.has(node)) return Promise.reject(netError('crashed', 'ECRASHED'));
    let bound = port;
    if (bound === 0) {
      do bound = this.nextPort++;
      while (this.listeners.has(`${host}:${bound}`));
    } else if (this.listeners.has(`${host}:${bound}`)) {
      return Promise.reject(netError('address_in_use', 'EADDRINUSE'));
    }
    const addr = `${host}:${bound}`;
    const reg: Registration = { node, onConn };
    this.listeners.set(addr, reg);
    return Promise.resolve({
      port: bound,
      // Stops accepting; established connections stay up (as with ws).
      close: async (): Promise<void> => {
        if (this.listeners.get(addr) === reg) this.listeners.delete(addr);
      },
    });
  }

  /**
   * The handshake is one trip to the listener: after the link delay the server
   * accepts (onConn) and connect() resolves, or the address refuses. If the
   * handshake is lost in either direction (partition), connect() times out.
   */
  connect(node: string, host: string, port: number): Promise<Conn> {
    if (this.crashed.has(node)) return Promise.reject(netError('crashed', 'ECRASHED'));
    const addr = `${host}:${port}`;
    return new Promise<Conn>((resolve, reject) => {
      let settled = false;
      const timeout = this.env.timers.set(connectTimeoutMs, () => {
        if (settled) return;
        settled = true;
        reject(netError('connect_timeout', 'ETIMEDOUT'));
      });
      const settle = (): boolean => {
        if (settled) return false;
        settled = true;
        this.env.timers.clear(timeout);
        return true;
      };
      const target = this.listeners.get(addr)?.node ?? host;
      if (this.blocked(node, target)) return; // the SYN is lost
      this.env.timers.set(this.delay(node, target), () => {
        if (settled) return;
        const reg = this.listeners.get(addr);
        const server = reg?.node ?? host;
        if (this.blocked(node, server) || this.blocked(server, node)) return;
        if (this.crashed.has(node)) {
          if (settle()) reject(netError('crashed', 'ECRASHED'));
          return;
        }
        if (!settle()) return;
        if (reg === undefined) {
          reject(netError('connection_refused', 'ECONNREFUSED'));
          return;
        }
        const client = new MemConn(this, node);
        const accepted = new MemConn(this, reg.node);
        client.peer = accepted;
        accepted.peer = client;
        this.conns.add(client);
        this.conns.add(accepted);
        reg.onConn(accepted);
        resolve(client);
      });
    });
  }

  crash(node: string): void {
    this.crashed.add(node);
    for (const [addr, reg] of this.listeners) if (reg.node === node) this.listeners.delete(addr);
    // The OS resets the killed process's connections: the peer hears it after what is already in flight.
    for (const conn of [...this.conns]) if (conn.node === node) conn.end('crashed', 'connection_reset', true);
  }
}

function linkKey(a: string, b: string): string {
  return a <= b ? `${a}\u0000${b}` : `${b}\u0000${a}`;
}

function checkLink(opts: LinkOptions): void {
  for (const v of [opts.delayMs, opts.jitterMs]) {
    if (v !== undefined && !(Number.isFinite(v) && v >= 0)) throw new RangeError(`link delays must be finite and >= 0, got ${v}`);
  }
}

export class MemoryNetwork {
  private readonly fabric: Fabric;

  /** `defaults` is the link every pair of nodes has until setLink (1 ms, no jitter). */
  constructor(env: Env, defaults: LinkOptions = {}) {
    checkLink(defaults);
    this.fabric = new Fabric(env, { ...defaultLink, ...defaults });
  }

  /** The transport of node `host`: its connections live on that node. */
  transport(host: string): Transport {
    const fabric = this.fabric;
    return {
      listen: (listenHost, port, onConn) => fabric.listen(host, listenHost, port, onConn),
      connect: (toHost, port) => fabric.connect(host, toHost, port),
    };
  }

  /** Set the (symmetric) link between nodes a and b; applies to frames sent from now on. */
  setLink(a: string, b: string, opts: LinkOptions): void {
    checkLink(opts);
    const cur = this.fabric.link(a, b);
    this.fabric.links.set(linkKey(a, b), { delayMs: opts.delayMs ?? cur.delayMs, jitterMs: opts.jitterMs ?? cur.jitterMs });
  }

  /**
   * Cut groupA from groupB (both ways unless oneWay, then A→B only). Frames
   * across the cut, including those in flight, are silently lost: the
   * connections stay open, as TCP links that stop delivering.
   */
  partition(groupA: readonly string[], groupB: readonly string[], opts: { oneWay?: boolean } = {}): void {
    const a = new Set(groupA);
    const b = new Set(groupB);
    this.fabric.cuts.push({ from: a, to: b });
    if (!opts.oneWay) this.fabric.cuts.push({ from: b, to: a });
  }

  /**
   * Reset every open connection between nodes a and b, as a TCP RST would (a
   * middlebox dropping the flow, a NAT entry expiring): both ends hear
   * 'connection_reset' at once, and frames still in flight are lost. The nodes
   * stay up and may connect again.
   */
  reset(a: string, b: string): void {
    for (const conn of [...this.fabric.conns]) {
      const peer = conn.peer.node;
      if ((conn.node === a && peer === b) || (conn.node === b && peer === a)) conn.end('connection_reset', 'connection_reset', true);
    }
  }

  /** Remove every partition. Frames lost meanwhile stay lost. */
  heal(): void {
    this.fabric.cuts = [];
  }

  /**
   * The node vanishes: its listeners stop accepting, its own connections report
   * 'crashed' (and ignore sends), and each peer hears 'connection_reset' after
   * the link delay.
   */
  crash(host: string): void {
    this.fabric.crash(host);
  }

  /** Let a crashed node listen and connect again (its old connections stay closed). */
  restart(host: string): void {
    this.fabric.crashed.delete(host);
  }

  stats(): NetworkStats {
    const f = this.fabric;
    return { framesSent: f.framesSent, framesDelivered: f.framesDelivered, framesDropped: f.framesDropped };
  }
}
