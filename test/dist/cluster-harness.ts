// Test harness for the distribution layer: several nodes on ONE virtual env and
// one in-memory network, with verbs that read like the behaviour under test
// (addNodes, connect, partition, heal, crash, restart, tick). Time moves only
// through `tick`/`until`, and every frame any node puts on the wire is recorded,
// so a test can look at what crossed the network and inject raw frames.
import { VirtualEnv } from '../../runtime/adapters/virtual.js';
import type { DistConfigInput } from '../../runtime/dist/config.js';
import { PROTOCOL_VERSION } from '../../runtime/dist/frames.js';
import { MemoryNetwork } from '../../runtime/dist/memory.js';
import { Distribution, type NodeEvent } from '../../runtime/dist/node.js';
import type { Conn, Transport } from '../../runtime/dist/transport.js';
import type { Pid, ProcessContext, Runtime } from '../../runtime/index.js';
import { pino } from 'pino';

export const COOKIE = 'test-cookie-123';
export const TICK_MS = 100;
export const PORT = 4000;

export interface NodeSpec {
  /** Short name: `n1` becomes node `n1@h1:4000` on host `h1` (the digits pick the host). */
  readonly name: string;
  readonly host?: string;
  readonly cookie?: string;
  readonly hidden?: boolean;
  readonly creation?: number;
  /** Any other config field (tickMs and the cookie have the harness defaults). */
  readonly config?: Partial<DistConfigInput>;
}

/** A record a node logged (warn and above), with the short name of the node. */
export interface LogLine {
  readonly on: string;
  readonly msg: string;
  readonly [field: string]: unknown;
}

/** A node event as a subscriber saw it, with the virtual time it was seen. */
export interface SeenEvent {
  readonly at: number;
  /** The short name of the node that saw it. */
  readonly on: string;
  readonly event: NodeEvent;
}

/** One frame a node handed to one of its connections. */
export interface SentFrame {
  readonly at: number;
  /** Host of the sending node. */
  readonly host: string;
  /** The frame's text (pieces joined). */
  readonly data: string;
  /** Whether the sender handed it to the transport as pieces (Conn.send). */
  readonly pieces: boolean;
}

/** A connect attempt made by a node's transport. */
export interface Dial {
  readonly at: number;
  readonly host: string;
  readonly to: string;
}

interface TappedConn {
  readonly host: string;
  /** `host:port` dialled, for a connection this host opened; undefined when accepted. */
  readonly target: string | undefined;
  readonly conn: Conn;
  /** The transport's own send, bypassing the capture (for injected frames). */
  readonly rawSend: (data: string) => void;
}

export type Outcome<T> = { readonly at: number } & ({ readonly ok: true; readonly value: T } | { readonly ok: false; readonly error: unknown });

/** A promise under watch: `outcome` is set when it settles. */
export interface Tracked<T> {
  readonly outcome: Outcome<T> | undefined;
}

export interface ClusterNode {
  readonly name: string;
  readonly host: string;
  /** Full node name, `name@host:4000`. */
  readonly node: string;
  readonly dist: Distribution;
  readonly rt: Runtime;
}

/** A process that records what it receives (optionally registered, optionally trapping exits). */
export interface Collector {
  readonly pid: Pid;
  readonly received: unknown[];
}

export class Cluster {
  readonly env: VirtualEnv;
  readonly net: MemoryNetwork;
  readonly events: SeenEvent[] = [];
  readonly frames: SentFrame[] = [];
  readonly dials: Dial[] = [];
  /** What the nodes logged at warn and above, in order. */
  readonly logs: LogLine[] = [];
  private readonly current = new Map<string, ClusterNode>();
  private readonly specs = new Map<string, NodeSpec>();
  /** Every runtime ever started here, old incarnations included: time waits for all of them. */
  private readonly runtimes: Runtime[] = [];
  private readonly conns: TappedConn[] = [];
  readonly quiescable = { hasPendingWork: (): boolean => this.runtimes.some((r) => r.hasPendingWork()) };

  constructor(
    seed: string | number = 'cluster',
    /** Config every node gets unless its spec overrides it. */
    private readonly defaults: Partial<DistConfigInput> = {},
  ) {
    this.env = new VirtualEnv(seed);
    this.net = new MemoryNetwork(this.env);
  }

  /** Start nodes (each listening on its own host at port 4000). */
  async addNodes(...specs: (NodeSpec | string)[]): Promise<ClusterNode[]> {
    const out: ClusterNode[] = [];
    for (const s of specs) out.push(await this.start(typeof s === 'string' ? { name: s } : s));
    return out;
  }

  node(name: string): ClusterNode {
    const n = this.current.get(name);
    if (n === undefined) throw new Error(`no node ${name}`);
    return n;
  }

  dist(name: string): Distribution {
    return this.node(name).dist;
  }

  rt(name: string): Runtime {
    return this.node(name).rt;
  }

  /** Full node name of a short name (`n2` → `n2@h2:4000`). */
  nodeName(name: string): string {
    return this.node(name).node;
  }

  /** `a` connects to `b`; resolves with connect's answer once it is given (virtual time passes meanwhile). */
  connect(a: string, b: string): Promise<boolean> {
    return this.settled(this.dist(a).connect(this.nodeName(b)));
  }

  /** Cut the hosts of nodes `a` from those of `b` (both ways). */
  partition(a: readonly string[], b: readonly string[], opts: { oneWay?: boolean } = {}): void {
    this.net.partition(
      a.map((n) => this.hostOf(n)),
      b.map((n) => this.hostOf(n)),
      opts,
    );
  }

  heal(): void {
    this.net.heal();
  }

  /** The node's host vanishes; its old Distribution and runtime are stopped (nothing of it survives). */
  async crash(name: string): Promise<void> {
    const n = this.node(name);
    this.net.crash(n.host);
    await n.dist.stop();
    n.rt.stop();
    this.current.delete(name);
    await this.tick(0);
  }

  /** Start the node again on the same host and port with a new creation. */
  async restart(name: string, creation: number): Promise<ClusterNode> {
    const spec = this.specs.get(name);
    if (spec === undefined) throw new Error(`no node ${name} was ever started`);
    this.net.restart(spec.host ?? hostFor(name));
    return this.start({ ...spec, creation });
  }

  /** Let `ms` of virtual time pass. */
  tick(ms: number): Promise<void> {
    return this.env.advance(ms, this.quiescable);
  }

  /** Advance timer by timer until `cond()` holds; throws after `maxMs` of virtual time. */
  async until(cond: () => boolean, what: string, maxMs = 60_000): Promise<void> {
    const deadline = this.env.clock.now() + maxMs;
    await this.tick(0);
    while (!cond()) {
      const due = this.env.nextDue();
      if (due === undefined || due > deadline) throw new Error(`no ${what} after ${maxMs} ms of virtual time`);
      await this.tick(due - this.env.clock.now());
    }
  }

  /** Await `p` while virtual time passes (at most `maxMs`). */
  async settled<T>(p: Promise<T>, maxMs = 60_000): Promise<T> {
    const t = this.track(p);
    await this.until(() => t.outcome !== undefined, 'settled promise', maxMs);
    return p;
  }

  /** Watch `p`: its outcome, with the virtual time it settled at, once it has. */
  track<T>(p: Promise<T>): Tracked<T> {
    const t: { outcome: Outcome<T> | undefined } = { outcome: undefined };
    p.then(
      (value) => (t.outcome = { at: this.env.clock.now(), ok: true, value }),
      (error: unknown) => (t.outcome = { at: this.env.clock.now(), ok: false, error }),
    );
    return t;
  }

  /** Node events seen by `on` (optionally only of one type). */
  eventsOn(on: string, type?: NodeEvent['type']): SeenEvent[] {
    return this.events.filter((e) => e.on === on && (type === undefined || e.event.type === type));
  }

  /**
   * Put `data` on the wire of an established connection that node `from` opened
   * to node `to`, as if `from` had sent it (the harness does not record it as sent).
   */
  inject(from: string, to: string, data: string): void {
    const target = `${this.hostOf(to)}:${PORT}`;
    const host = this.hostOf(from);
    const open = this.conns.filter((c) => c.host === host && c.target === target && !isClosed(c.conn));
    const c = open[open.length - 1];
    if (c === undefined) throw new Error(`${from} has no open connection it dialled to ${to}`);
    c.rawSend(data);
  }

  /** A process on `name` that records every message (registered under `register` if given). */
  collector(name: string, opts: { register?: string; trapExit?: boolean } = {}): Collector {
    const received: unknown[] = [];
    const pid = this.rt(name).spawn(
      {
        init: (ctx) => {
          if (opts.trapExit === true) ctx.trapExit(true);
        },
        receive: (m) => {
          received.push(m);
        },
      },
      opts.register === undefined ? undefined : { name: opts.register },
    );
    return { pid, received };
  }

  /** Run `f` inside a fresh process on `name` (the process then idles and records what it receives). */
  inProcess(name: string, f: (ctx: ProcessContext) => void, opts: { trapExit?: boolean } = {}): Collector {
    const received: unknown[] = [];
    const pid = this.rt(name).spawn({
      init: (ctx) => {
        if (opts.trapExit === true) ctx.trapExit(true);
        f(ctx);
      },
      receive: (m) => {
        received.push(m);
      },
    });
    return { pid, received };
  }

  /** From now on, the exit reason of every process of node `name` that exits, by pid. */
  watchExits(name: string): Map<Pid, unknown> {
    const exits = new Map<Pid, unknown>();
    this.rt(name).subscribe((e) => {
      if (e.type === 'process_exited') exits.set(e.pid, e.reason);
    });
    return exits;
  }

  private hostOf(name: string): string {
    return this.specs.get(name)?.host ?? hostFor(name);
  }

  private async start(spec: NodeSpec): Promise<ClusterNode> {
    const host = spec.host ?? hostFor(spec.name);
    this.specs.set(spec.name, spec);
    const env = this.env;
    const dist = await Distribution.start(
      {
        node: `${spec.name}@${host}:${PORT}`,
        cookie: spec.cookie ?? COOKIE,
        tickMs: TICK_MS,
        ...this.defaults,
        ...(spec.hidden === undefined ? {} : { hidden: spec.hidden }),
        ...spec.config,
      },
      {
        transport: this.tap(this.net.transport(host), host),
        log: pino({ level: 'warn', base: null, timestamp: false }, { write: (line: string) => void this.logs.push({ on: spec.name, ...(JSON.parse(line) as { msg: string }) }) }),
        env,
        nonce: () => {
          let s = '';
          for (let i = 0; i < 32; i++) s += HEX[env.rng.int(0, 15)];
          return s;
        },
        creation: spec.creation ?? this.specs.size,
      },
    );
    const n: ClusterNode = { name: spec.name, host, node: dist.node, dist, rt: dist.rt };
    this.runtimes.push(dist.rt);
    this.current.set(spec.name, n);
    dist.subscribe((event) => this.events.push({ at: env.clock.now(), on: spec.name, event }));
    return n;
  }

  /** The node's transport, recording every frame it sends and every dial it makes. */
  private tap(t: Transport, host: string): Transport {
    const wrap = (conn: Conn, target: string | undefined): Conn => {
      const rawSend = conn.send.bind(conn);
      conn.send = (data: string | readonly string[]): void => {
        const pieces = typeof data !== 'string';
        this.frames.push({ at: this.env.clock.now(), host, data: pieces ? data.join('') : data, pieces });
        rawSend(data);
      };
      this.conns.push({ host, target, conn, rawSend });
      return conn;
    };
    return {
      listen: (h, port, onConn) => t.listen(h, port, (conn) => onConn(wrap(conn, undefined))),
      connect: (h, port) => {
        this.dials.push({ at: this.env.clock.now(), host, to: `${h}:${port}` });
        return t.connect(h, port).then((conn) => wrap(conn, `${h}:${port}`));
      },
    };
  }
}

const HEX = '0123456789abcdef';

function hostFor(name: string): string {
  const digits = /\d+$/.exec(name);
  return digits === null ? `host-${name}` : `h${digits[0]}`;
}

function isClosed(conn: Conn): boolean {
  const c = conn as Conn & { readonly closed?: boolean };
  return c.closed === true;
}

/** A raw batch frame, as a peer would put it on the wire. */
export function batch(ops: readonly unknown[]): string {
  return JSON.stringify({ v: PROTOCOL_VERSION, t: 'b', ops });
}
