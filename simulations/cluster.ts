// The deterministic whole-cluster simulator: 3 or 5 members, each the real
// RaftCore over a MemoryStorage on a MemoryDisk, run by a minimal shell that
// honours the effect order contract (a persist is durable before any later
// effect of its step runs), with a workload's state machine and actors
// (simulations/workload.ts: the key-value register or the job registry), a
// network and a fault injector, all driven by one event queue ordered by
// (virtual time, sequence) and one seeded Rng. Nothing reads a clock or host
// randomness, so a schedule replays exactly.
//
// A run has two phases (TigerBeetle's VOPR): a safety phase under the
// schedule's faults, then a liveness phase in which everything heals and the
// cluster must elect a leader, commit a barrier, converge on every node and
// serve the workload's final reads within a bound. Checkers
// (simulations/checkers/) watch the trace and never steer.
import { type ProposeResult, type RaftEffect, type RaftInput, type ReadResult, type RequestId, RaftCore } from '../actors/raft/core.js';
import { type RaftConfig, type UnsafeSwitches, raftConfig } from '../actors/raft/config.js';
import type { RaftMessage } from '../actors/raft/messages.js';
import { MemoryDisk, MemoryStorage, type StoredEntry, hydrateAppend, hydrateEntries } from '../actors/raft/storage.js';
import type { LogEntry, NodeId, RaftStorage, Snapshot, SnapshotMeta, Term } from '../actors/raft/types.js';
import type { Rng } from '../runtime/env.js';
import { seededRng } from '../runtime/rng.js';
import { EventQueue } from './event-queue.js';
import { KvWorkload } from './kv-workload.js';
import { RegistryWorkload } from './registry-workload.js';
import { CONVERGENCE_BOUND_MS, ELECTION_TICKS, type Fault, LEADER_BOUND_MS, type Schedule, type Target } from './schedule.js';
import { type Checker, type ClusterView, type HistoryLine, type NodeView, TraceDigest, type TraceEvent, type TraceEventType, type Violation, traceLine } from './trace.js';
import type { ClientOp, Reply, SimMachine, Workload, WorkloadHost } from './workload.js';

// ---------------------------------------------------------------------------
// Bounds

/** Inputs waiting while a node is blocked (slow disk, frozen); beyond it they are dropped. */
const MAX_MAILBOX_LEN = 4096;
/** A run that schedules more events than this is stopped and reported (a livelock or a storm). */
const MAX_EVENTS_PER_RUN = 600_000;
/** How often the checkers get a sample of every node. */
const SAMPLE_EVERY_MS = 100;
/** How often the liveness phase looks at the cluster. */
const LIVENESS_EVERY_MS = 20;
/** A crashed core is restarted this long after it threw (a supervisor's restart). */
const RESTART_AFTER_ERROR_MS = 100;
/** The liveness phase re-proposes its barrier if it is not committed after this long. */
const BARRIER_RETRY_MS = 300;
/** Keep at most this many violations per checker. */
const MAX_VIOLATIONS_PER_CHECKER = 5;

// ---------------------------------------------------------------------------
// Types

type NodeInput =
  | RaftInput
  | { readonly type: 'clientPropose'; readonly ops: ClientOp[] }
  | { readonly type: 'clientRead'; readonly op: ClientOp }
  /** Served from the state machine as it is, without the core (a possibly stale local read). */
  | { readonly type: 'localRead'; readonly op: ClientOp };

type PersistEffect = Extract<RaftEffect, { type: 'persist' | 'installSnapshot' }>;

interface SimNode {
  readonly index: number;
  readonly id: NodeId;
  readonly disk: MemoryDisk;
  readonly tickEveryMs: number;
  storage: MemoryStorage | null;
  core: RaftCore | null;
  up: boolean;
  inc: number;
  /** The current step's effects, while they run (or wait on a persist). */
  running: { readonly effects: RaftEffect[]; pos: number; readonly isTick: boolean } | null;
  /** A persist (or snapshot install) in flight on a slow disk; the step's later effects wait for it. */
  inflight: PersistEffect | null;
  mailbox: NodeInput[];
  tickQueued: boolean;
  /** Follow-ups of the shell's own (persisted, snapshotTaken): they run before the mailbox. */
  local: RaftInput[];
  frozenUntil: number;
  clockPausedUntil: number;
  slowDiskUntil: number;
  slowDiskLatencyMs: number;
  armed: { readonly mode: 'afterStep' | 'midEffects'; readonly afterEffects: number; readonly downMs: number } | null;
  /** The workload's state machine of the current (or, while down, the last) incarnation; null before the first boot. */
  sm: SimMachine | null;
  applied: number;
  nextRequest: RequestId;
  proposals: Map<RequestId, ClientOp[]>;
  reads: Map<RequestId, ClientOp>;
  /** index → the client operation proposed there, with the term it was appended in. */
  pending: Map<number, { readonly term: Term; readonly op: ClientOp }>;
}

type SimEvent =
  | { readonly k: 'tick'; readonly node: number }
  | { readonly k: 'deliver'; readonly from: number; readonly to: number; readonly msg: RaftMessage }
  | { readonly k: 'persistDone'; readonly node: number; readonly inc: number }
  | { readonly k: 'unfreeze'; readonly node: number }
  | { readonly k: 'restart'; readonly node: number; readonly inc: number }
  | { readonly k: 'fault'; readonly fault: Fault }
  | { readonly k: 'uncut'; readonly links: readonly number[] }
  /** A workload's timer, or a message between its actors arriving. */
  | { readonly k: 'timer'; readonly fire: () => void }
  | { readonly k: 'clientRequest'; readonly op: ClientOp }
  | { readonly k: 'clientReply'; readonly op: ClientOp; readonly reply: Reply }
  | { readonly k: 'clientTimeout'; readonly op: ClientOp }
  | { readonly k: 'sample' }
  | { readonly k: 'heal' }
  | { readonly k: 'liveness' };

export interface RunOptions {
  /** Keep the client history in the result (for --history). */
  readonly history?: boolean;
  /** Keep every trace line in the result (for --trace). */
  readonly trace?: boolean;
  /** Compute the trace digest (replay identity). */
  readonly digest?: boolean;
  /** Stop at the first violation a checker reports as it goes (shrinking and detection only need to know it fails). */
  readonly stopOnViolation?: boolean;
  /** Replace the default checkers (tests of the checkers themselves). */
  readonly checkers?: (view: ClusterView) => Checker[];
}

export interface RunStats {
  readonly virtualMs: number;
  readonly events: number;
  readonly faults: number;
  readonly crashes: number;
  readonly messages: { readonly sent: number; readonly dropped: number; readonly duplicated: number; readonly delivered: number };
  readonly ops: { readonly invoke: number; readonly ok: number; readonly fail: number; readonly info: number };
  readonly elections: number;
  readonly maxTerm: number;
  readonly maxCommit: number;
  readonly snapshots: number;
  readonly installs: number;
  readonly mailboxDrops: number;
  readonly converged: boolean;
}

export interface RunResult {
  readonly seed: number;
  readonly violations: readonly Violation[];
  /** What a checker could not decide (never a violation), e.g. a linearizability search past its budget. */
  readonly notes: readonly string[];
  readonly stats: RunStats;
  readonly digest: string | null;
  readonly history: readonly HistoryLine[] | null;
  readonly trace: readonly string[] | null;
}

const nid = (i: number): NodeId => `n${i}` as NodeId;

function errorText(e: unknown): string {
  if (e instanceof Error) return `${e.name}${'code' in e && typeof e.code === 'string' ? `(${e.code})` : ''}: ${e.message}`;
  return String(e);
}

// ---------------------------------------------------------------------------
// The simulator

export class Simulation {
  readonly schedule: Schedule;
  private readonly rng: Rng;
  private readonly q = new EventQueue<SimEvent>();
  private now = 0;
  private readonly n: number;
  private readonly nodes: SimNode[];
  private readonly config: RaftConfig;
  /** cut[from * n + to] > 0: the link drops everything. Counts, so overlapping partitions compose. */
  private readonly cut: Int32Array;
  /** FIFO links: the latest delivery time scheduled per link. */
  private readonly lastDelivery: Float64Array;
  private readonly checkers: Checker[];
  /** The checkers observing each event type. */
  private readonly observers = new Map<TraceEventType, Checker[]>();
  private readonly digest: TraceDigest | null;
  private readonly traceLines: string[] | null;
  private readonly history: HistoryLine[] | null;
  private readonly stopOnViolation: boolean;
  private readonly workload: Workload;
  private nextOp = 1;
  private phase: 'safety' | 'liveness' | 'done' = 'safety';

  // liveness phase
  private healAt = 0;
  private stableLeaderSeen = false;
  private barrier: { op: ClientOp; proposedAt: number } | null = null;
  private barrierCommitted: { index: number; term: Term } | null = null;
  private converged = false;

  // statistics
  private events = 0;
  private faults = 0;
  private crashes = 0;
  private sent = 0;
  private dropped = 0;
  private duplicated = 0;
  private delivered = 0;
  private readonly ops = { invoke: 0, ok: 0, fail: 0, info: 0 };
  private elections = 0;
  private maxTerm = 0;
  private maxCommit = 0;
  private snapshots = 0;
  private installs = 0;
  private mailboxDrops = 0;
  private readonly extraViolations: Violation[] = [];

  constructor(schedule: Schedule, opts: RunOptions = {}) {
    this.schedule = schedule;
    this.rng = seededRng(`run:${schedule.seed}`);
    this.n = schedule.nodes;
    const r = schedule.raft;
    this.config = raftConfig({
      electionTicks: ELECTION_TICKS,
      heartbeatTicks: r.heartbeatTicks,
      preVote: r.preVote,
      checkQuorum: r.checkQuorum,
      maxEntriesPerAppend: r.maxEntriesPerAppend,
      maxInflightAppends: r.maxInflightAppends,
      snapshotChunkChars: r.snapshotChunkChars,
      snapshotThresholdEntries: r.snapshotEvery,
      ...(r.keepAppliedEntries === undefined ? {} : { keepAppliedEntries: r.keepAppliedEntries }),
      ...raftUnsafe(schedule),
    });
    this.cut = new Int32Array(this.n * this.n);
    this.lastDelivery = new Float64Array(this.n * this.n);
    this.nodes = [];
    for (let i = 0; i < this.n; i++) {
      const drift = schedule.driftMs === 0 ? 0 : this.rng.int(-schedule.driftMs, schedule.driftMs);
      this.nodes.push({
        index: i,
        id: nid(i),
        disk: new MemoryDisk(),
        tickEveryMs: Math.max(1, schedule.tickMs + drift),
        storage: null,
        core: null,
        up: false,
        inc: 0,
        running: null,
        inflight: null,
        mailbox: [],
        tickQueued: false,
        local: [],
        frozenUntil: 0,
        clockPausedUntil: 0,
        slowDiskUntil: 0,
        slowDiskLatencyMs: 0,
        armed: null,
        sm: null,
        applied: 0,
        nextRequest: 1,
        proposals: new Map(),
        reads: new Map(),
        pending: new Map(),
      });
    }
    this.workload = schedule.workload === 'registry' ? new RegistryWorkload(this.host(), schedule) : new KvWorkload(this.host(), schedule);
    const view: ClusterView = {
      nodeIds: this.nodes.map((x) => x.id),
      quorum: Math.floor(this.n / 2) + 1,
      disks: this.nodes.map((x) => x.disk),
      leaderBoundMs: LEADER_BOUND_MS,
    };
    this.checkers = opts.checkers === undefined ? this.workload.checkers(view) : opts.checkers(view);
    for (const c of this.checkers) {
      for (const t of c.on) {
        const list = this.observers.get(t);
        if (list === undefined) this.observers.set(t, [c]);
        else list.push(c);
      }
    }
    this.digest = opts.digest === true || opts.trace === true ? new TraceDigest() : null;
    this.traceLines = opts.trace === true ? [] : null;
    this.history = opts.history === true ? [] : null;
    this.stopOnViolation = opts.stopOnViolation === true;
  }

  run(): RunResult {
    const s = this.schedule;
    for (const node of this.nodes) {
      this.boot(node);
      this.q.push(this.rng.int(0, node.tickEveryMs - 1), { k: 'tick', node: node.index });
    }
    for (const f of s.faults) if (f.at < s.safetyMs) this.q.push(f.at, { k: 'fault', fault: f });
    this.workload.start();
    this.q.push(SAMPLE_EVERY_MS, { k: 'sample' });
    this.q.push(s.safetyMs, { k: 'heal' });

    try {
      while (this.phase !== 'done') {
        const ev = this.q.pop();
        if (ev === undefined) break;
        this.now = ev.time;
        this.handle(ev.item);
        if (this.stopOnViolation && this.checkers.some((c) => c.failing())) break;
        if (++this.events > MAX_EVENTS_PER_RUN) {
          this.extraViolations.push({ checker: 'simulator', time: this.now, message: `event budget exceeded (${MAX_EVENTS_PER_RUN} events): a message storm or a livelock` });
          this.finish(false, 'event budget exceeded');
          break;
        }
      }
    } finally {
      // The registry's machines are in-memory SQLite databases: free them now, not at some later GC.
      for (const node of this.nodes) node.sm?.close();
    }
    return this.result();
  }

  /** What the workload may use of the simulator. */
  private host(): WorkloadHost {
    return {
      rng: this.rng,
      nodes: this.n,
      now: () => this.now,
      phase: () => this.phase,
      nextOpId: () => this.nextOp++,
      request: (op, timeoutMs) => {
        if (this.phase === 'safety' && this.chance(this.schedule.net.lossPermille)) this.dropped++;
        else this.q.push(this.now + this.delay(), { k: 'clientRequest', op });
        this.q.push(this.now + timeoutMs, { k: 'clientTimeout', op });
      },
      at: (at, fire) => this.q.push(at, { k: 'timer', fire }),
      message: (deliver) => {
        if (this.phase === 'safety' && this.chance(this.schedule.net.lossPermille)) this.dropped++;
        else this.q.push(this.now + this.delay(), { k: 'timer', fire: deliver });
      },
      delay: () => this.delay(),
      chance: (permille) => this.chance(permille),
      emit: (e) => this.emit(e),
      history: (h) => {
        this.ops[h.type]++;
        this.history?.push(h);
      },
    };
  }

  // ---- trace ----

  private emit(e: TraceEvent): void {
    const observers = this.observers.get(e.type);
    if (observers !== undefined) for (const c of observers) c.observe(e);
    if (this.digest !== null) {
      const line = traceLine(e);
      this.digest.add(line);
      this.traceLines?.push(line);
    }
  }

  // ---- the event loop ----

  private handle(ev: SimEvent): void {
    switch (ev.k) {
      case 'tick': {
        const node = this.nodes[ev.node]!;
        this.q.push(this.now + node.tickEveryMs, ev);
        if (node.up && this.now >= node.clockPausedUntil) this.input(node, { type: 'tick' });
        break;
      }
      case 'deliver': {
        const to = this.nodes[ev.to]!;
        if (this.cut[ev.from * this.n + ev.to]! > 0 || !to.up) {
          this.dropped++;
          break;
        }
        this.delivered++;
        this.input(to, { type: 'message', from: nid(ev.from), msg: ev.msg });
        break;
      }
      case 'persistDone': {
        const node = this.nodes[ev.node]!;
        if (!node.up || node.inc !== ev.inc || node.inflight === null) break;
        const e = node.inflight;
        node.inflight = null;
        if (!this.write(node, e)) break;
        this.runEffects(node);
        this.drain(node);
        break;
      }
      case 'unfreeze':
        this.drain(this.nodes[ev.node]!);
        break;
      case 'restart': {
        const node = this.nodes[ev.node]!;
        if (!node.up && node.inc === ev.inc) this.boot(node);
        break;
      }
      case 'fault':
        this.fault(ev.fault);
        break;
      case 'uncut':
        if (this.phase === 'safety') for (const l of ev.links) this.cut[l]!--;
        break;
      case 'timer':
        ev.fire();
        break;
      case 'clientRequest': {
        const node = this.nodes[ev.op.node]!;
        if (!node.up) break;
        const req = ev.op.req;
        this.input(node, req.type === 'propose' ? { type: 'clientPropose', ops: [ev.op] } : req.type === 'read' ? { type: 'clientRead', op: ev.op } : { type: 'localRead', op: ev.op });
        break;
      }
      case 'clientReply':
        if (!ev.op.barrier) this.workload.onReply(ev.op, ev.reply);
        break;
      case 'clientTimeout':
        if (!ev.op.barrier) this.workload.onTimeout(ev.op);
        break;
      case 'sample':
        this.sample();
        this.q.push(this.now + SAMPLE_EVERY_MS, ev);
        break;
      case 'heal':
        this.heal();
        break;
      case 'liveness':
        this.livenessStep();
        if (this.phase === 'liveness') this.q.push(this.now + LIVENESS_EVERY_MS, ev);
        break;
      default: {
        const never: never = ev;
        throw new Error(`unknown event ${JSON.stringify(never)}`);
      }
    }
  }

  // ---- one node's shell ----

  /** What a process loses when it dies: everything but its disk. */
  private forgetVolatile(node: SimNode): void {
    node.inc++;
    node.running = null;
    node.inflight = null;
    node.mailbox = [];
    node.local = [];
    node.tickQueued = false;
    node.armed = null;
    node.proposals.clear();
    node.reads.clear();
    node.pending.clear();
  }

  private boot(node: SimNode): void {
    this.forgetVolatile(node);
    const storage = new MemoryStorage(node.disk);
    try {
      const persisted = storage.load();
      node.core = new RaftCore({ id: node.id, config: this.config, rng: seededRng(this.rng.int(0, 0xffffffff)), bootstrapVoters: this.nodes.map((x) => x.id), persisted });
      // The shell restores the state machine from the snapshot before the first step.
      this.replaceMachine(node, this.workload.machine(node.index, node.inc, persisted.snapshot?.data ?? null));
      node.applied = persisted.snapshot?.meta.index ?? 0;
    } catch (e) {
      storage.close();
      node.core = null;
      this.emit({ type: 'coreError', time: this.now, node: node.index, error: `restart: ${errorText(e)}` });
      return;
    }
    node.storage = storage;
    node.up = true;
    this.emit({ type: 'restart', time: this.now, node: node.index, inc: node.inc, snapshotIndex: node.applied, state: node.sm!.fingerprint() });
  }

  private replaceMachine(node: SimNode, sm: SimMachine): void {
    node.sm?.close();
    node.sm = sm;
  }

  private crash(node: SimNode, mode: string, downMs: number | null): void {
    if (!node.up) return;
    const r = node.running;
    const lost = (r === null ? 0 : r.effects.length - r.pos) + (node.inflight === null ? 0 : 1);
    this.crashes++;
    this.emit({ type: 'crash', time: this.now, node: node.index, inc: node.inc, mode, lostEffects: lost });
    node.up = false;
    node.core = null;
    node.storage?.close();
    node.storage = null;
    this.forgetVolatile(node);
    node.frozenUntil = 0;
    if (downMs !== null) this.q.push(this.now + downMs, { k: 'restart', node: node.index, inc: node.inc });
  }

  private coreError(node: SimNode, e: unknown): void {
    this.emit({ type: 'coreError', time: this.now, node: node.index, error: errorText(e) });
    this.crash(node, 'error', RESTART_AFTER_ERROR_MS);
  }

  private blocked(node: SimNode): boolean {
    return node.inflight !== null || this.now < node.frozenUntil;
  }

  private input(node: SimNode, inp: NodeInput): void {
    if (!node.up) return;
    if (this.blocked(node)) {
      this.enqueue(node, inp);
      return;
    }
    this.process(node, inp);
    this.drain(node);
  }

  private enqueue(node: SimNode, inp: NodeInput): void {
    if (inp.type === 'tick') {
      // A timer that fires while the process is blocked is delivered once.
      if (node.tickQueued) return;
      node.tickQueued = true;
    }
    if (inp.type === 'clientPropose') {
      // Group commit: proposals that arrive while the disk is busy go out as one batch.
      const last = node.mailbox[node.mailbox.length - 1];
      if (last?.type === 'clientPropose') {
        last.ops.push(...inp.ops);
        return;
      }
    }
    if (node.mailbox.length >= MAX_MAILBOX_LEN) {
      this.mailboxDrops++;
      if (inp.type === 'tick') node.tickQueued = false;
      return;
    }
    node.mailbox.push(inp.type === 'clientPropose' ? { type: 'clientPropose', ops: [...inp.ops] } : inp);
  }

  private drain(node: SimNode): void {
    while (node.up && !this.blocked(node)) {
      const next = node.local.length > 0 ? node.local.shift() : node.mailbox.shift();
      if (next === undefined) return;
      if (next.type === 'tick') node.tickQueued = false;
      this.process(node, next);
    }
  }

  private process(node: SimNode, inp: NodeInput): void {
    let input: RaftInput;
    if (inp.type === 'clientPropose') {
      const id = node.nextRequest++;
      node.proposals.set(id, inp.ops);
      input = { type: 'propose', id, commands: inp.ops.map(proposed) };
    } else if (inp.type === 'clientRead') {
      const id = node.nextRequest++;
      node.reads.set(id, inp.op);
      input = { type: 'readIndex', id };
    } else if (inp.type === 'localRead') {
      this.reply(inp.op, this.serve(node, inp.op));
      return;
    } else {
      input = inp;
    }
    let effects: RaftEffect[];
    try {
      effects = node.core!.step(input);
    } catch (e) {
      this.coreError(node, e);
      return;
    }
    node.running = { effects, pos: 0, isTick: input.type === 'tick' };
    this.runEffects(node);
  }

  private diskLatency(node: SimNode): number {
    return this.now < node.slowDiskUntil ? node.slowDiskLatencyMs : this.phase === 'safety' ? this.schedule.diskLatencyMs : 0;
  }

  /** Run the current step's effects in order, stopping at a persist that takes time (the rest wait for it). */
  private runEffects(node: SimNode): void {
    const r = node.running;
    if (r === null) return;
    while (r.pos < r.effects.length) {
      const armed = node.armed;
      if (armed?.mode === 'midEffects' && r.effects.length >= 2 && r.pos >= Math.min(armed.afterEffects, r.effects.length - 1)) {
        this.crash(node, 'midEffects', armed.downMs);
        return;
      }
      const e = r.effects[r.pos++]!;
      switch (e.type) {
        case 'persist':
        case 'installSnapshot': {
          const latency = this.diskLatency(node);
          if (latency > 0) {
            node.inflight = e;
            this.q.push(this.now + latency, { k: 'persistDone', node: node.index, inc: node.inc });
            return;
          }
          if (!this.write(node, e)) return;
          break;
        }
        case 'send': {
          // Entries the core keeps cold (applied, on disk: log.ts) are read back for a follower that far behind.
          let msg: RaftMessage;
          try {
            msg = hydrateAppend(e.msg, this.reader(node));
          } catch (err) {
            this.coreError(node, err);
            return;
          }
          this.send(node.index, Number(e.to.slice(1)), msg);
          break;
        }
        case 'apply':
          if (!this.apply(node, e.entries)) return;
          break;
        case 'takeSnapshot':
          if (!this.takeSnapshot(node, e.meta)) return;
          break;
        case 'proposeResult':
          this.onProposeResult(node, e.id, e.result);
          break;
        case 'readResult':
          this.onReadResult(node, e.id, e.result);
          break;
        case 'transferFailed':
          break;
        case 'leaderChanged': {
          if (e.term > this.maxTerm) this.maxTerm = e.term;
          if (e.role === 'leader') {
            this.elections++;
            const st = node.core!.status();
            this.emit({ type: 'role', time: this.now, node: node.index, inc: node.inc, term: e.term, role: e.role, leader: e.leader, log: this.logOf(node), snapshotIndex: st.snapshotIndex });
          } else {
            this.emit({ type: 'role', time: this.now, node: node.index, inc: node.inc, term: e.term, role: e.role, leader: e.leader });
          }
          break;
        }
        default: {
          const never: never = e;
          throw new Error(`unknown effect ${JSON.stringify(never)}`);
        }
      }
      if (!node.up) return;
    }
    node.running = null;
    // Crash right after a step that was not a tick: under ackBeforePersist its
    // acknowledgements are out and its persist waits for the next tick.
    if (node.armed?.mode === 'afterStep' && !r.isTick) this.crash(node, 'afterStep', node.armed.downMs);
  }

  /** Make a persist or a snapshot install durable. False if storage (or the core's request) was refused. */
  private write(node: SimNode, e: PersistEffect): boolean {
    const storage = node.storage!;
    try {
      if (e.type === 'persist') {
        const entries = e.entries ?? [];
        if (entries.length > 0) storage.append(entries, e.hardState);
        else if (e.hardState !== undefined) storage.setHardState(e.hardState);
        this.emit({ type: 'persist', time: this.now, node: node.index, inc: node.inc, entries, term: e.hardState?.term ?? null });
        const last = entries[entries.length - 1];
        if (last !== undefined) node.local.push({ type: 'persisted', index: last.index, term: last.term });
      } else {
        if (e.keepEntriesAfter) storage.saveSnapshot(e.snapshot);
        else storage.installSnapshot(e.snapshot);
        this.replaceMachine(node, this.workload.machine(node.index, node.inc, e.snapshot.data));
        node.applied = e.snapshot.meta.index;
        // Proposals the snapshot covers: their outcome is unknown here (the client times out).
        for (const i of [...node.pending.keys()]) if (i <= e.snapshot.meta.index) node.pending.delete(i);
        this.installs++;
        this.emit({ type: 'install', time: this.now, node: node.index, inc: node.inc, meta: e.snapshot.meta, state: node.sm!.fingerprint(), keep: e.keepEntriesAfter });
      }
    } catch (err) {
      this.coreError(node, err);
      return false;
    }
    return true;
  }

  private takeSnapshot(node: SimNode, meta: SnapshotMeta): boolean {
    if (node.applied !== meta.index) {
      this.coreError(node, new Error(`takeSnapshot at ${meta.index} but the state machine applied ${node.applied}`));
      return false;
    }
    let snapshot: Snapshot;
    try {
      snapshot = { meta, data: node.sm!.snapshot() };
      node.storage!.saveSnapshot(snapshot);
    } catch (err) {
      this.coreError(node, err);
      return false;
    }
    this.snapshots++;
    this.emit({ type: 'snapshot', time: this.now, node: node.index, inc: node.inc, index: meta.index, state: node.sm!.fingerprint() });
    node.local.push({ type: 'snapshotTaken', snapshot });
    return true;
  }

  /** Apply committed entries; false if the state machine threw (the node crashed). */
  private apply(node: SimNode, entries: readonly LogEntry[]): boolean {
    let results: readonly unknown[];
    try {
      results = node.sm!.apply(entries);
    } catch (err) {
      this.coreError(node, err);
      return false;
    }
    const replies: { op: ClientOp; reply: Reply; entry: LogEntry }[] = [];
    entries.forEach((e, k) => {
      node.applied = e.index;
      const p = node.pending.get(e.index);
      if (p === undefined) return;
      node.pending.delete(e.index);
      const mine = p.term === e.term && this.workload.isMine(p.op, e.data);
      const reply: Reply = !mine
        ? { type: 'fail', error: 'superseded', leader: null }
        : p.op.barrier === true
          ? { type: 'ok', value: null }
          : this.workload.applied(p.op, results[k]);
      replies.push({ op: p.op, reply, entry: e });
    });
    if (node.applied > this.maxCommit) this.maxCommit = node.applied;
    this.emit({ type: 'apply', time: this.now, node: node.index, inc: node.inc, term: node.core!.status().term, entries });
    for (const { op, reply, entry } of replies) {
      if (reply.type === 'ok' && op.barrier !== true) {
        this.emit({ type: 'ack', time: this.now, node: node.index, index: entry.index, term: entry.term, op: op.id, data: JSON.stringify(entry.data) });
      }
      if (op.barrier === true && reply.type === 'ok' && this.barrierCommitted === null) this.barrierCommitted = { index: entry.index, term: entry.term };
      this.reply(op, reply);
    }
    return true;
  }

  private onProposeResult(node: SimNode, id: RequestId, result: ProposeResult): void {
    const ops = node.proposals.get(id);
    if (ops === undefined) return;
    node.proposals.delete(id);
    if (result.type === 'accepted') {
      ops.forEach((op, k) => node.pending.set(result.firstIndex + k, { term: result.term, op }));
      return;
    }
    const leader = result.reason.type === 'not_leader' ? hintOf(result.reason.leader) : null;
    for (const op of ops) this.reply(op, { type: 'fail', error: result.reason.type, leader });
  }

  private onReadResult(node: SimNode, id: RequestId, result: ReadResult): void {
    const op = node.reads.get(id);
    if (op === undefined) return;
    node.reads.delete(id);
    if (result.type === 'failed') {
      this.reply(op, { type: 'fail', error: result.reason.type, leader: result.reason.type === 'not_leader' ? hintOf(result.reason.leader) : null });
      return;
    }
    if (node.applied < result.index) {
      this.coreError(node, new Error(`read ready at ${result.index} but the state machine applied only ${node.applied}`));
      return;
    }
    this.reply(op, this.serve(node, op));
  }

  /** A read the state machine refuses (a query it cannot answer) is answered as a failure, not a crash. */
  private serve(node: SimNode, op: ClientOp): Reply {
    try {
      return this.workload.serve(node.sm!, op);
    } catch (e) {
      return { type: 'fail', error: `query_failed: ${errorText(e)}`, leader: null };
    }
  }

  // ---- the network ----

  private chance(permille: number): boolean {
    return permille > 0 && this.rng.next() * 1000 < permille;
  }

  private delay(): number {
    const net = this.schedule.net;
    if (this.phase === 'safety' && this.chance(net.tailPermille)) return this.rng.int(net.delayMinMs, Math.max(net.delayMinMs, net.tailMaxMs));
    const extra = net.delayMeanMs === 0 ? 0 : Math.min(10 * net.delayMeanMs, Math.floor(-net.delayMeanMs * Math.log(1 - this.rng.next())));
    return Math.max(1, net.delayMinMs + extra);
  }

  private send(from: number, to: number, msg: RaftMessage): void {
    this.sent++;
    const link = from * this.n + to;
    const faulty = this.phase === 'safety';
    if (this.cut[link]! > 0 || (faulty && this.chance(this.schedule.net.lossPermille))) {
      this.dropped++;
      return;
    }
    let at = this.now + this.delay();
    if (this.schedule.net.fifo) {
      if (at < this.lastDelivery[link]!) at = this.lastDelivery[link]!;
      this.lastDelivery[link] = at;
    }
    this.q.push(at, { k: 'deliver', from, to, msg });
    if (faulty && this.chance(this.schedule.net.dupPermille)) {
      this.duplicated++;
      this.q.push(this.now + this.delay(), { k: 'deliver', from, to, msg });
    }
  }

  // ---- faults ----

  private leaderIndex(): number | null {
    let best: { i: number; term: number } | null = null;
    for (const node of this.nodes) {
      if (node.core === null) continue;
      const s = node.core.status();
      if (s.role === 'leader' && (best === null || s.term > best.term)) best = { i: node.index, term: s.term };
    }
    return best?.i ?? null;
  }

  /** A target's node index, or null when it names a node this cluster does not have. */
  private resolve(t: Target): number | null {
    if (t === 'leader') return this.leaderIndex() ?? this.rng.int(0, this.n - 1);
    return t >= 0 && t < this.n ? t : null;
  }

  private resolveAll(ts: readonly Target[]): number[] {
    const out: number[] = [];
    for (const t of ts) {
      const i = this.resolve(t);
      if (i !== null && !out.includes(i)) out.push(i);
    }
    return out;
  }

  private fault(f: Fault): void {
    let text: string;
    switch (f.type) {
      case 'crash': {
        const hit = this.resolveAll(f.nodes);
        for (const i of hit) {
          const node = this.nodes[i]!;
          if (!node.up) continue;
          if (f.mode === 'now') this.crash(node, 'now', f.downMs);
          else node.armed = { mode: f.mode, afterEffects: f.afterEffects, downMs: f.downMs };
        }
        text = `crash ${f.mode} [${hit.map((i) => `n${i}`).join(',')}] for ${f.downMs}ms`;
        break;
      }
      case 'partition': {
        const side = this.resolveAll(f.side);
        const links: number[] = [];
        for (const a of side) for (let b = 0; b < this.n; b++) if (!side.includes(b)) links.push(a * this.n + b, b * this.n + a);
        for (const l of links) this.cut[l]!++;
        this.q.push(this.now + f.durationMs, { k: 'uncut', links });
        text = `partition [${side.map((i) => `n${i}`).join(',')}] | rest for ${f.durationMs}ms`;
        break;
      }
      case 'cut': {
        const links: number[] = [];
        const names: string[] = [];
        for (const [a, b] of f.links) {
          const from = this.resolve(a);
          const to = this.resolve(b);
          if (from === null || to === null || from === to) continue;
          links.push(from * this.n + to);
          names.push(`n${from}>n${to}`);
        }
        for (const l of links) this.cut[l]!++;
        this.q.push(this.now + f.durationMs, { k: 'uncut', links });
        text = `cut ${names.join(' ')} for ${f.durationMs}ms`;
        break;
      }
      case 'clockPause': {
        const i = this.resolve(f.node);
        if (i !== null) this.nodes[i]!.clockPausedUntil = Math.max(this.nodes[i]!.clockPausedUntil, this.now + f.durationMs);
        text = `clock pause n${i ?? '?'} for ${f.durationMs}ms`;
        break;
      }
      case 'freeze': {
        const i = this.resolve(f.node);
        if (i !== null && this.nodes[i]!.up) {
          const node = this.nodes[i]!;
          node.frozenUntil = Math.max(node.frozenUntil, this.now + f.durationMs);
          this.q.push(node.frozenUntil, { k: 'unfreeze', node: i });
        }
        text = `freeze n${i ?? '?'} for ${f.durationMs}ms`;
        break;
      }
      case 'slowDisk': {
        const i = this.resolve(f.node);
        if (i !== null) {
          const node = this.nodes[i]!;
          node.slowDiskUntil = Math.max(node.slowDiskUntil, this.now + f.durationMs);
          node.slowDiskLatencyMs = f.latencyMs;
        }
        text = `slow disk n${i ?? '?'} ${f.latencyMs}ms/write for ${f.durationMs}ms`;
        break;
      }
      case 'transfer': {
        const from = this.leaderIndex();
        const to = this.resolve(f.to);
        if (from !== null && to !== null && to !== from) this.input(this.nodes[from]!, { type: 'transferLeadership', to: nid(to) });
        text = `transfer leadership n${from ?? '-'} -> n${to ?? '?'}`;
        break;
      }
      default: {
        const never: never = f;
        throw new Error(`unknown fault ${JSON.stringify(never)}`);
      }
    }
    this.faults++;
    this.emit({ type: 'fault', time: this.now, fault: text });
  }

  // ---- clients ----

  /** Answer a client over the (lossy, in the safety phase) network. */
  private reply(op: ClientOp, reply: Reply): void {
    if (op.barrier === true) return; // the barrier is watched through apply
    if (this.phase === 'safety' && this.chance(this.schedule.net.lossPermille)) {
      this.dropped++;
      return;
    }
    this.q.push(this.now + this.delay(), { k: 'clientReply', op, reply });
  }

  // ---- samples ----

  /**
   * Entries read back in place of cold ones (log.ts), by the disk row they come from: each row is decoded
   * once per run, however often it is sent or sampled and across its node's restarts (a shell would read
   * it every time; the checkers sample every node's whole log).
   */
  private readonly thawed = new WeakMap<StoredEntry, LogEntry>();

  /** A node's storage as hydrateEntries reads it (storage.ts), through the memo above. */
  private reader(node: SimNode): Pick<RaftStorage, 'entries'> {
    return {
      entries: (lo, hi) => {
        const rows = node.disk.entries;
        const base = rows[0]?.index ?? 0;
        const out: LogEntry[] = [];
        for (let i = lo; i <= hi; i++) {
          const row = rows[i - base];
          let e = row === undefined ? undefined : this.thawed.get(row);
          if (e === undefined) {
            e = node.storage!.entries(i, i)[0]!;
            if (row !== undefined) this.thawed.set(row, e);
          }
          out.push(e);
        }
        return out;
      },
    };
  }

  /** A node's log as the checkers see it: every entry with its data, cold ones read back from its disk. */
  private logOf(node: SimNode): LogEntry[] {
    return [...hydrateEntries(node.core!.entries(), this.reader(node))];
  }

  private views(): NodeView[] {
    return this.nodes.map((node): NodeView => {
      const core = node.core;
      if (core === null || !node.up) {
        return { index: node.index, id: node.id, up: false, inc: node.inc, role: null, term: 0, leader: null, commit: 0, applied: node.applied, snapshotIndex: 0, snapshotTerm: 0, log: [] };
      }
      const s = core.status();
      return {
        index: node.index,
        id: node.id,
        up: true,
        inc: node.inc,
        role: s.role,
        term: s.term,
        leader: s.leader,
        commit: s.commit,
        applied: s.applied,
        snapshotIndex: s.snapshotIndex,
        snapshotTerm: s.snapshotTerm,
        log: this.logOf(node),
      };
    });
  }

  private sample(): void {
    this.emit({ type: 'sample', time: this.now, nodes: this.views() });
  }

  // ---- the liveness phase ----

  private heal(): void {
    this.phase = 'liveness';
    this.healAt = this.now;
    this.cut.fill(0);
    for (const node of this.nodes) {
      node.armed = null;
      node.clockPausedUntil = 0;
      node.slowDiskUntil = 0;
      if (node.up) {
        node.frozenUntil = 0;
        this.drain(node);
      } else {
        this.boot(node);
      }
    }
    this.workload.onHeal();
    this.emit({ type: 'heal', time: this.now });
    this.q.push(this.now + LIVENESS_EVERY_MS, { k: 'liveness' });
  }

  /** The node every node agrees leads the current term, if there is one. */
  private stableLeader(): { node: SimNode; term: Term; commit: number; lastIndex: number } | null {
    let leader: { node: SimNode; term: Term; commit: number; lastIndex: number } | null = null;
    for (const node of this.nodes) {
      if (node.core === null) return null;
      const s = node.core.status();
      if (s.role === 'leader') {
        if (leader !== null) return null;
        leader = { node, term: s.term, commit: s.commit, lastIndex: s.lastIndex };
      }
    }
    if (leader === null) return null;
    for (const node of this.nodes) {
      const s = node.core!.status();
      if (s.term !== leader.term || s.leader !== leader.node.id) return null;
    }
    return leader;
  }

  private livenessStep(): void {
    const leader = this.stableLeader();
    if (leader !== null && !this.stableLeaderSeen) {
      this.stableLeaderSeen = true;
      this.emit({ type: 'stableLeader', time: this.now, node: leader.node.index, term: leader.term });
    }
    if (leader !== null && this.barrierCommitted === null && (this.barrier === null || this.now - this.barrier.proposedAt >= BARRIER_RETRY_MS)) {
      const id = this.nextOp++;
      const op: ClientOp = { id, node: leader.node.index, req: { type: 'propose', command: this.workload.barrier(id) }, done: false, barrier: true };
      this.barrier = { op, proposedAt: this.now };
      this.input(leader.node, { type: 'clientPropose', ops: [op] });
    }
    // Quiet: the barrier is committed, the leader has nothing uncommitted and every node applied all of it.
    const quiet =
      leader !== null &&
      this.barrierCommitted !== null &&
      leader.commit >= this.barrierCommitted.index &&
      leader.commit === leader.lastIndex &&
      this.nodes.every((x) => x.up && x.applied === leader.commit);
    if (quiet) this.converged = true;
    if (this.converged && leader !== null) this.workload.finalReads(leader.node.index);
    // The end state is compared across nodes, so the run ends only at a quiet moment after the final reads.
    const done = quiet && this.workload.finalReadsDone();
    if (done) this.finish(true, null);
    else if (this.now - this.healAt >= CONVERGENCE_BOUND_MS) this.finish(false, this.pendingReason(leader));
  }

  private pendingReason(leader: ReturnType<Simulation['stableLeader']>): string {
    if (leader === null) {
      const views = this.nodes.map((x) => {
        if (x.core === null) return `n${x.index}: down`;
        const s = x.core.status();
        return `n${x.index}: ${s.role} t${s.term} leader=${s.leader ?? '-'}`;
      });
      return `no stable leader (${views.join('; ')})`;
    }
    if (this.barrierCommitted === null) return `barrier not committed (leader n${leader.node.index} t${leader.term} commit ${leader.commit} last ${leader.lastIndex})`;
    if (!this.converged) {
      return `not converged: leader n${leader.node.index} commit ${leader.commit} last ${leader.lastIndex}; applied ${this.nodes.map((x) => `n${x.index}=${x.applied}`).join(' ')}`;
    }
    if (!this.workload.finalReadsDone()) return `final reads: ${this.workload.finalReadsPending()}`;
    return `not quiet after the final reads: leader n${leader.node.index} commit ${leader.commit} last ${leader.lastIndex}; applied ${this.nodes.map((x) => `n${x.index}=${x.applied}`).join(' ')}`;
  }

  private finish(converged: boolean, pending: string | null): void {
    this.sample();
    const machines: { index: number; up: boolean; applied: number; machine: SimMachine }[] = [];
    for (const x of this.nodes) if (x.sm !== null) machines.push({ index: x.index, up: x.up, applied: x.applied, machine: x.sm });
    this.workload.finish(machines);
    this.emit({
      type: 'end',
      time: this.now,
      converged,
      pending,
      finalReadsDone: this.workload.finalReadsDone(),
      nodes: this.nodes.map((x) => ({ index: x.index, applied: x.applied, state: x.sm?.state() ?? '' })),
    });
    this.phase = 'done';
  }

  private result(): RunResult {
    const violations: Violation[] = [...this.extraViolations];
    const notes: string[] = [];
    for (const c of this.checkers) {
      const vs = c.finish();
      violations.push(...vs.slice(0, MAX_VIOLATIONS_PER_CHECKER));
      if (vs.length > MAX_VIOLATIONS_PER_CHECKER) {
        violations.push({ checker: c.name, time: vs[MAX_VIOLATIONS_PER_CHECKER]!.time, message: `... and ${vs.length - MAX_VIOLATIONS_PER_CHECKER} more` });
      }
      if (c.notes !== undefined) notes.push(...c.notes());
    }
    return {
      seed: this.schedule.seed,
      violations,
      notes,
      stats: {
        virtualMs: this.now,
        events: this.events,
        faults: this.faults,
        crashes: this.crashes,
        messages: { sent: this.sent, dropped: this.dropped, duplicated: this.duplicated, delivered: this.delivered },
        ops: { ...this.ops },
        elections: this.elections,
        maxTerm: this.maxTerm,
        maxCommit: this.maxCommit,
        snapshots: this.snapshots,
        installs: this.installs,
        mailboxDrops: this.mailboxDrops,
        converged: this.converged,
      },
      digest: this.digest?.value ?? null,
      history: this.history,
      trace: this.traceLines,
    };
  }
}

function proposed(op: ClientOp): unknown {
  if (op.req.type !== 'propose') throw new Error(`op ${op.id} is a ${op.req.type}, not a proposal`);
  return op.req.command;
}

/** A node id's index in this simulator (n<i>), as clients keep their leader hint. */
function hintOf(leader: NodeId | null): number | null {
  return leader === null ? null : Number(leader.slice(1));
}

/** The Raft core's unsafe switches of a schedule (the registry's own switch goes to the registry). */
function raftUnsafe(s: Schedule): { unsafe?: UnsafeSwitches } {
  const u = s.unsafe;
  if (u === undefined) return {};
  const out: { grantVoteWithoutLogCheck?: boolean; ackBeforePersist?: boolean; followerReadsWithoutLeader?: boolean } = {};
  if (u.grantVoteWithoutLogCheck === true) out.grantVoteWithoutLogCheck = true;
  if (u.ackBeforePersist === true) out.ackBeforePersist = true;
  if (u.followerReadsWithoutLeader === true) out.followerReadsWithoutLeader = true;
  return { unsafe: out };
}

/** Run one schedule to the end and check it. */
export function runSchedule(schedule: Schedule, opts: RunOptions = {}): RunResult {
  return new Simulation(schedule, opts).run();
}
