// A tiny deterministic cluster for the Raft core: several RaftCores, one
// in-memory storage each, and a network that is a FIFO list of messages the
// test delivers, drops, duplicates or partitions. It is a minimal shell: it
// runs each step's effects in order (persist before send), reports
// persistence back with `persisted`, and keeps a small state machine (the
// list of applied entries) so tests can assert exactly what each node applied.
//
// It also watches two safety properties as it goes and records a violation
// instead of throwing (the unsafe switches must be observable):
//   - at most one leader per term;
//   - no two nodes apply different entries at one index, and each node applies
//     each index exactly once, in order, per run.
import {
  type MembershipChange,
  type ProposeResult,
  type RaftEffect,
  type RaftInput,
  type RaftStatus,
  type ReadResult,
  type RequestId,
  RaftCore,
} from '../../actors/raft/core.js';
import { type RaftConfigInput, raftConfig } from '../../actors/raft/config.js';
import type { RaftMessage } from '../../actors/raft/messages.js';
import type { Command, Index, LogEntry, NodeId, Snapshot, Term } from '../../actors/raft/types.js';
import { type Rng, seededRng } from '../../runtime/index.js';
import { MemoryStorage } from './memory-storage.js';
import { hydrateAppend, hydrateEntries } from '../../actors/raft/storage.js';

export const nid = (s: string): NodeId => s as NodeId;

export interface InFlight {
  readonly from: NodeId;
  readonly to: NodeId;
  readonly msg: RaftMessage;
}

/** What a node's state machine holds: every entry applied, in order (from its snapshot on). */
interface StateMachine {
  index: Index;
  entries: LogEntry[];
}

export interface SimNode {
  readonly id: NodeId;
  core: RaftCore | null;
  readonly storage: MemoryStorage;
  readonly config: RaftConfigInput;
  readonly bootstrapVoters: readonly NodeId[];
  sm: StateMachine;
  /** proposeResult / readResult / transferFailed / leaderChanged effects, in order. */
  readonly events: RaftEffect[];
  /** While true, `persisted` reports wait in `heldAcks` until ackPersist(). */
  holdPersistAcks: boolean;
  heldAcks: RaftInput[];
  /** Take a snapshot whenever the core hints (takeSnapshot). */
  autoSnapshot: boolean;
  restarts: number;
}

export type MessageFilter = (m: InFlight) => boolean;

export interface ClusterOptions {
  readonly seed?: string | number;
  readonly config?: RaftConfigInput;
  /**
   * Fixed election timeouts (ticks) per node, instead of seeded random ones, so
   * a scenario can say who times out first. Nodes not listed use the seed.
   */
  readonly timeouts?: Readonly<Record<string, number>>;
}

/** An Rng whose int() always answers `ticks` (clamped to the range asked): a fixed election timeout. */
function fixedRng(ticks: number): Rng {
  return { next: () => 0, int: (lo, hi) => Math.max(lo, Math.min(hi, ticks)) };
}

const entryKey = (e: LogEntry): string => `${e.term}/${e.kind}/${JSON.stringify(e.data)}`;

export class Cluster {
  readonly nodes = new Map<NodeId, SimNode>();
  /** Messages in flight, oldest first. */
  queue: InFlight[] = [];
  /** Every message ever sent, in order (delivered or not). */
  readonly sent: InFlight[] = [];
  readonly violations: string[] = [];
  /** term → the node that led it. */
  readonly leaders = new Map<Term, NodeId>();
  /** index → the entry first applied there, by any node. */
  readonly appliedAt = new Map<Index, LogEntry>();
  /** How many effects of each type ran, all nodes together. */
  readonly counts = new Map<string, number>();
  private readonly cut = new Set<string>();
  private readonly seed: string | number;
  private readonly timeouts: Readonly<Record<string, number>>;
  private readonly baseConfig: RaftConfigInput;
  private nextRequest = 1;
  private readonly local: { id: NodeId; input: RaftInput }[] = [];

  constructor(opts: ClusterOptions = {}) {
    this.seed = opts.seed ?? 1;
    this.timeouts = opts.timeouts ?? {};
    this.baseConfig = opts.config ?? {};
  }

  // ---- building ----

  /** Founding members (voters = these ids unless given), or joiners with `voters: []`. */
  addNodes(ids: readonly string[], opts: { voters?: readonly string[]; config?: RaftConfigInput } = {}): this {
    const voters = (opts.voters ?? ids).map(nid);
    for (const s of ids) {
      const id = nid(s);
      const node: SimNode = {
        id,
        core: null,
        storage: new MemoryStorage(),
        config: { ...this.baseConfig, ...opts.config },
        bootstrapVoters: voters,
        sm: { index: 0, entries: [] },
        events: [],
        holdPersistAcks: false,
        heldAcks: [],
        autoSnapshot: true,
        restarts: 0,
      };
      this.nodes.set(id, node);
      this.boot(node);
    }
    return this;
  }

  private boot(node: SimNode): void {
    const persisted = node.storage.load();
    node.core = new RaftCore({
      id: node.id,
      config: raftConfig(node.config),
      rng: this.timeouts[node.id] !== undefined ? fixedRng(this.timeouts[node.id]!) : seededRng(`${this.seed}:${node.id}:${node.restarts}`),
      bootstrapVoters: node.bootstrapVoters,
      persisted,
    });
    // The shell restores the state machine from the snapshot before the first step.
    node.sm = persisted.snapshot === null ? { index: 0, entries: [] } : this.restoreSm(persisted.snapshot);
  }

  node(id: string): SimNode {
    const n = this.nodes.get(nid(id));
    if (n === undefined) throw new Error(`no node ${id}`);
    return n;
  }

  core(id: string): RaftCore {
    const c = this.node(id).core;
    if (c === null) throw new Error(`${id} is down`);
    return c;
  }

  status(id: string): RaftStatus {
    return this.core(id).status();
  }

  live(): SimNode[] {
    return [...this.nodes.values()].filter((n) => n.core !== null);
  }

  // ---- running the shell ----

  /** Step one node and run its effects in order; then run the local follow-ups (persisted, snapshotTaken). */
  step(id: NodeId, input: RaftInput): RaftEffect[] {
    const node = this.nodes.get(id)!;
    if (node.core === null) return [];
    const effects = node.core.step(input);
    this.runEffects(node, effects);
    while (this.local.length > 0) {
      const next = this.local.shift()!;
      const n = this.nodes.get(next.id)!;
      if (n.core !== null) this.runEffects(n, n.core.step(next.input));
    }
    return effects;
  }

  private runEffects(node: SimNode, effects: readonly RaftEffect[]): void {
    for (const e of effects) {
      const key = e.type === 'send' ? `send:${e.msg.type}` : e.type;
      this.counts.set(key, (this.counts.get(key) ?? 0) + 1);
      switch (e.type) {
        case 'persist': {
          if (e.entries !== undefined) node.storage.append(e.entries, e.hardState);
          else if (e.hardState !== undefined) node.storage.setHardState(e.hardState);
          const last = e.entries?.[e.entries.length - 1];
          if (last !== undefined) {
            const ack: RaftInput = { type: 'persisted', index: last.index, term: last.term };
            if (node.holdPersistAcks) node.heldAcks.push(ack);
            else this.local.push({ id: node.id, input: ack });
          }
          break;
        }
        case 'installSnapshot':
          if (e.keepEntriesAfter) node.storage.saveSnapshot(e.snapshot);
          else node.storage.installSnapshot(e.snapshot);
          node.sm = this.restoreSm(e.snapshot);
          break;
        case 'send': {
          // As a shell does: what the core keeps cold is read back from storage (storage.ts).
          const m: InFlight = { from: node.id, to: e.to, msg: hydrateAppend(e.msg, node.storage) };
          this.queue.push(m);
          this.sent.push(m);
          break;
        }
        case 'apply':
          this.apply(node, e.entries);
          break;
        case 'takeSnapshot':
          if (node.autoSnapshot) {
            if (node.sm.index !== e.meta.index) this.violations.push(`${node.id}: snapshot hint at ${e.meta.index}, applied ${node.sm.index}`);
            const snapshot: Snapshot = { meta: e.meta, data: JSON.stringify(node.sm) };
            node.storage.saveSnapshot(snapshot);
            this.local.push({ id: node.id, input: { type: 'snapshotTaken', snapshot } });
          }
          break;
        case 'leaderChanged':
          node.events.push(e);
          if (e.role === 'leader') {
            const prev = this.leaders.get(e.term);
            if (prev !== undefined && prev !== node.id) this.violations.push(`two leaders in term ${e.term}: ${prev} and ${node.id}`);
            else this.leaders.set(e.term, node.id);
          }
          break;
        case 'proposeResult':
        case 'readResult':
        case 'transferFailed':
          node.events.push(e);
          break;
        default: {
          const never: never = e;
          throw new Error(`unknown effect ${JSON.stringify(never)}`);
        }
      }
    }
  }

  private apply(node: SimNode, entries: readonly LogEntry[]): void {
    for (const e of entries) {
      if (e.index !== node.sm.index + 1) {
        this.violations.push(`${node.id} applied ${e.index} after ${node.sm.index}`);
      }
      const first = this.appliedAt.get(e.index);
      if (first === undefined) this.appliedAt.set(e.index, e);
      else if (entryKey(first) !== entryKey(e)) {
        this.violations.push(`${node.id} applied ${entryKey(e)} at ${e.index}, another node applied ${entryKey(first)}`);
      }
      node.sm.entries.push(e);
      node.sm.index = e.index;
    }
  }

  private restoreSm(s: Snapshot): StateMachine {
    const sm = JSON.parse(s.data) as StateMachine;
    return { index: sm.index, entries: sm.entries };
  }

  // ---- verbs ----

  /** Tick every live node (or only `only`) n times; nothing is delivered. */
  tick(n = 1, only?: readonly string[]): this {
    const ids = only?.map(nid) ?? this.live().map((x) => x.id);
    for (let i = 0; i < n; i++) for (const id of ids) this.step(id, { type: 'tick' });
    return this;
  }

  private linkUp(from: NodeId, to: NodeId): boolean {
    return !this.cut.has(`${from}>${to}`);
  }

  /** `n` rounds of: tick every live node once, then deliver everything. */
  run(n: number): this {
    for (let i = 0; i < n; i++) {
      this.tick(1);
      this.deliver();
    }
    return this;
  }

  /** Deliver one message (by position in the queue); returns false if it was lost to a partition or a dead node. */
  deliverAt(i: number): boolean {
    const [m] = this.queue.splice(i, 1);
    if (m === undefined) return false;
    const dest = this.nodes.get(m.to);
    if (!this.linkUp(m.from, m.to) || dest === undefined || dest.core === null) return false;
    this.step(m.to, { type: 'message', from: m.from, msg: m.msg });
    return true;
  }

  /** Deliver messages in order, including those they cause, until none is left (or `max` deliveries). */
  deliver(opts: { filter?: MessageFilter; max?: number } = {}): number {
    let count = 0;
    const max = opts.max ?? 100_000;
    for (;;) {
      const i = opts.filter === undefined ? (this.queue.length > 0 ? 0 : -1) : this.queue.findIndex(opts.filter);
      if (i < 0 || count >= max) return count;
      this.deliverAt(i);
      count++;
    }
  }

  /** Drop in-flight messages (all, or those matching). Returns how many. */
  drop(filter: MessageFilter = () => true): number {
    const before = this.queue.length;
    this.queue = this.queue.filter((m) => !filter(m));
    return before - this.queue.length;
  }

  /** Cut every link between the groups (both ways); links inside a group stay up. */
  partition(...groups: readonly (readonly string[])[]): this {
    for (const [i, a] of groups.entries()) {
      for (const [j, b] of groups.entries()) {
        if (i === j) continue;
        for (const x of a) for (const y of b) this.cut.add(`${x}>${y}`);
      }
    }
    return this;
  }

  /** Cut one direction only. */
  cutLink(from: string, to: string): this {
    this.cut.add(`${from}>${to}`);
    return this;
  }

  isolate(id: string): this {
    const others = [...this.nodes.keys()].filter((x) => x !== id);
    return this.partition([id], others);
  }

  heal(): this {
    this.cut.clear();
    return this;
  }

  /** Lose everything not persisted: the core, held acks, its in-memory state machine. */
  crash(id: string): this {
    const node = this.node(id);
    node.core = null;
    node.heldAcks = [];
    return this;
  }

  restart(id: string): this {
    const node = this.node(id);
    if (node.core !== null) return this;
    node.restarts++;
    this.boot(node);
    return this;
  }

  /** Release `persisted` reports held back with holdPersistAcks. */
  ackPersist(id: string): this {
    const node = this.node(id);
    const acks = node.heldAcks;
    node.heldAcks = [];
    for (const a of acks) this.step(node.id, a);
    return this;
  }

  propose(id: string, ...commands: Command[]): ProposeResult {
    const rid = this.nextRequest++;
    this.step(nid(id), { type: 'propose', id: rid, commands });
    return this.resultOf(id, rid);
  }

  changeMembership(id: string, change: MembershipChange): ProposeResult {
    const rid = this.nextRequest++;
    this.step(nid(id), { type: 'changeMembership', id: rid, change });
    return this.resultOf(id, rid);
  }

  private resultOf(id: string, rid: RequestId): ProposeResult {
    for (const e of this.node(id).events) if (e.type === 'proposeResult' && e.id === rid) return e.result;
    throw new Error(`no result for request ${rid}`);
  }

  /** Start a ReadIndex; its result is found later with readResult(id, rid). */
  read(id: string): RequestId {
    const rid = this.nextRequest++;
    this.step(nid(id), { type: 'readIndex', id: rid });
    return rid;
  }

  readResult(id: string, rid: RequestId): ReadResult | undefined {
    for (const e of this.node(id).events) if (e.type === 'readResult' && e.id === rid) return e.result;
    return undefined;
  }

  campaign(id: string): this {
    this.step(nid(id), { type: 'campaign' });
    return this;
  }

  transfer(id: string, to: string): this {
    this.step(nid(id), { type: 'transferLeadership', to: nid(to) });
    return this;
  }

  /** `campaign(id)` and deliver everything: the usual way a test picks its leader. */
  elect(id: string): this {
    this.campaign(id);
    this.deliver();
    return this;
  }

  // ---- looking ----

  /** The live node that is leader of the highest term, if any. */
  leader(): NodeId | undefined {
    let best: RaftStatus | undefined;
    for (const n of this.live()) {
      const s = n.core!.status();
      if (s.role === 'leader' && (best === undefined || s.term > best.term)) best = s;
    }
    return best?.id;
  }

  /** The node's whole log as (index, term, kind, data), snapshot excluded. */
  /** The log after the snapshot, entries the core keeps cold (log.ts) read back from the node's storage. */
  logOf(id: string): LogEntry[] {
    return [...hydrateEntries(this.core(id).entries(), this.node(id).storage)];
  }

  /** Terms of the log after the snapshot, for compact assertions. */
  termsOf(id: string): Term[] {
    return this.logOf(id).map((e) => e.term);
  }

  /** Commands the node's state machine applied, in order. */
  appliedCommands(id: string): Command[] {
    return this.node(id).sm.entries.filter((e) => e.kind === 'command').map((e) => e.data);
  }

  messages(filter: MessageFilter = () => true): InFlight[] {
    return this.queue.filter(filter);
  }
}

/** Filters for deliver/drop. */
export const to = (id: string): MessageFilter => (m) => m.to === id;
export const from = (id: string): MessageFilter => (m) => m.from === id;
export const ofType = (...types: RaftMessage['type'][]): MessageFilter => (m) => types.includes(m.msg.type);
export const and = (...fs: MessageFilter[]): MessageFilter => (m) => fs.every((f) => f(m));
export const not = (f: MessageFilter): MessageFilter => (m) => !f(m);
