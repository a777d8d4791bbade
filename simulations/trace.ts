// The simulator's trace: what a run reports, event by event, to its checkers.
// Checkers watch and never steer (TigerBeetle's state checker): each one is fed
// every event in order through observe(), keeps what it needs, and returns its
// violations from finish(). The client-visible part of the trace is the
// history (Jepsen style), which is also what `--history` writes.
import type { Role } from '../actors/raft/core.js';
import type { LogEntry, NodeId, SnapshotMeta, Term } from '../actors/raft/types.js';
import type { MemoryDisk } from '../actors/raft/storage.js';

export type OpFunction = 'read' | 'write' | 'cas';
export type OpValue = number | null | readonly [number | null, number];

/**
 * One line of the client-visible history. `value`: a write's value; a cas's
 * [expected, new]; a read's result (null on invoke). `time` is virtual ms.
 * `error` (fail and info only) says why: not_leader, cas_mismatch, superseded,
 * timeout, too_many_pending_reads, ...
 */
export interface HistoryEvent {
  readonly process: number;
  readonly type: 'invoke' | 'ok' | 'fail' | 'info';
  readonly f: OpFunction;
  readonly key: string;
  readonly value: OpValue;
  readonly time: number;
  readonly error?: string;
}

/** What a sample shows of one node. */
export interface NodeView {
  readonly index: number;
  readonly id: NodeId;
  readonly up: boolean;
  /** Incarnation: bumped by every crash and restart. */
  readonly inc: number;
  readonly role: Role | null;
  readonly term: Term;
  readonly leader: NodeId | null;
  readonly commit: number;
  readonly applied: number;
  readonly snapshotIndex: number;
  readonly snapshotTerm: Term;
  /** The in-memory log after the snapshot (empty when down). */
  readonly log: readonly LogEntry[];
}

export type TraceEvent =
  /** A fault from the schedule fired (targets resolved to node indexes). */
  | { readonly type: 'fault'; readonly time: number; readonly fault: string }
  /** leaderChanged: the node's view of (term, role, leader). */
  | { readonly type: 'role'; readonly time: number; readonly node: number; readonly inc: number; readonly term: Term; readonly role: Role; readonly leader: NodeId | null; readonly log?: readonly LogEntry[]; readonly snapshotIndex?: number }
  /** A persist became durable. */
  | { readonly type: 'persist'; readonly time: number; readonly node: number; readonly inc: number; readonly entries: readonly LogEntry[]; readonly term: Term | null }
  /** Committed entries applied to the node's state machine; `term` is the node's current term. */
  | { readonly type: 'apply'; readonly time: number; readonly node: number; readonly inc: number; readonly term: Term; readonly entries: readonly LogEntry[] }
  /** The node took a snapshot of its state machine (state: canonical JSON of the map). */
  | { readonly type: 'snapshot'; readonly time: number; readonly node: number; readonly inc: number; readonly index: number; readonly state: string }
  /** The node installed a snapshot from the leader. */
  | { readonly type: 'install'; readonly time: number; readonly node: number; readonly inc: number; readonly meta: SnapshotMeta; readonly state: string; readonly keep: boolean }
  | { readonly type: 'crash'; readonly time: number; readonly node: number; readonly inc: number; readonly mode: string; readonly lostEffects: number }
  | { readonly type: 'restart'; readonly time: number; readonly node: number; readonly inc: number; readonly snapshotIndex: number; readonly state: string }
  /** A core (or its storage) threw. Always a violation; under an unsafe switch, a detection. */
  | { readonly type: 'coreError'; readonly time: number; readonly node: number; readonly error: string }
  /** A write or cas took effect and the node answered the client `ok`. `data` is the command's JSON, as storage keeps it. */
  | { readonly type: 'ack'; readonly time: number; readonly node: number; readonly index: number; readonly term: Term; readonly op: number; readonly data: string }
  | { readonly type: 'client'; readonly event: HistoryEvent }
  /** Every live node, every sampleMs of virtual time, and once at the end. */
  | { readonly type: 'sample'; readonly time: number; readonly nodes: readonly NodeView[] }
  /** The safety phase is over: faults healed, every node up, the network clean. */
  | { readonly type: 'heal'; readonly time: number }
  /** Liveness phase: the first time one leader was known by every node. */
  | { readonly type: 'stableLeader'; readonly time: number; readonly node: number; readonly term: Term }
  /**
   * The end of the run. `converged`: a barrier entry committed and every node
   * applied the leader's whole log; `pending` says what was missing if not.
   */
  | {
      readonly type: 'end';
      readonly time: number;
      readonly converged: boolean;
      readonly pending: string | null;
      readonly finalReadsDone: boolean;
      readonly nodes: readonly { readonly index: number; readonly applied: number; readonly state: string }[];
    };

export type TraceEventType = TraceEvent['type'];

export interface Violation {
  readonly checker: string;
  readonly time: number;
  readonly message: string;
}

/** What every checker may know about the cluster besides the trace. */
export interface ClusterView {
  readonly nodeIds: readonly NodeId[];
  readonly quorum: number;
  /** Each node's simulated disk: what survives a crash. A live, read-only view. */
  readonly disks: readonly MemoryDisk[];
  readonly leaderBoundMs: number;
}

export interface Checker {
  readonly name: string;
  /** The event types it observes (the simulator hands it no others). */
  readonly on: readonly TraceEventType[];
  observe(e: TraceEvent): void;
  /** Has it already seen a violation? (Checkers that judge only at the end say false until then.) */
  failing(): boolean;
  finish(): Violation[];
  /** After finish(): what it could not decide (e.g. a search past its budget). Never a violation. */
  notes?(): string[];
}

/** The identity of a log entry beyond (index, term): its command's op id, or its kind. */
export function entryId(e: LogEntry): string {
  if (e.kind === 'command') {
    const d = e.data as { op?: unknown } | null;
    return d !== null && typeof d === 'object' && typeof d.op === 'number' ? `op${d.op}` : JSON.stringify(e.data);
  }
  return e.kind;
}

/** One short line per event, for the trace digest (replay identity) and `--trace`. */
export function traceLine(e: TraceEvent): string {
  switch (e.type) {
    case 'fault':
      return `${e.time} fault ${e.fault}`;
    case 'role':
      return `${e.time} n${e.node} role ${e.role} t${e.term} leader=${e.leader ?? '-'}`;
    case 'persist':
      return `${e.time} n${e.node} persist ${e.entries.length === 0 ? '-' : `${e.entries[0]!.index}..${e.entries[e.entries.length - 1]!.index}`} t${e.term ?? '-'}`;
    case 'apply':
      return `${e.time} n${e.node} apply ${e.entries[0]?.index ?? '-'}..${e.entries[e.entries.length - 1]?.index ?? '-'} t${e.term}`;
    case 'snapshot':
      return `${e.time} n${e.node} snapshot ${e.index}`;
    case 'install':
      return `${e.time} n${e.node} install ${e.meta.index}/${e.meta.term} keep=${e.keep}`;
    case 'crash':
      return `${e.time} n${e.node} crash ${e.mode} lost=${e.lostEffects}`;
    case 'restart':
      return `${e.time} n${e.node} restart snap=${e.snapshotIndex}`;
    case 'coreError':
      return `${e.time} n${e.node} ERROR ${e.error}`;
    case 'ack':
      return `${e.time} n${e.node} ack op${e.op} @${e.index}/${e.term}`;
    case 'client': {
      const h = e.event;
      return `${h.time} p${h.process} ${h.type} ${h.f} ${h.key} ${JSON.stringify(h.value)}${h.error === undefined ? '' : ` (${h.error})`}`;
    }
    case 'sample':
      return `${e.time} sample ${e.nodes.map((n) => (n.up ? `${n.role?.[0] ?? '?'}${n.term}/${n.commit}/${n.applied}/${n.snapshotIndex + n.log.length}` : 'down')).join(' ')}`;
    case 'heal':
      return `${e.time} heal`;
    case 'stableLeader':
      return `${e.time} stable leader n${e.node} t${e.term}`;
    case 'end':
      return `${e.time} end converged=${e.converged} reads=${e.finalReadsDone}${e.pending === null ? '' : ` pending: ${e.pending}`}`;
  }
}

/** FNV-1a over the trace lines: two runs with the same digest produced the same trace. */
export class TraceDigest {
  private h = 0x811c9dc5;
  private n = 0;
  add(line: string): void {
    let h = this.h;
    for (let i = 0; i < line.length; i++) {
      h ^= line.charCodeAt(i);
      h = Math.imul(h, 0x01000193);
    }
    h ^= 10;
    this.h = Math.imul(h, 0x01000193);
    this.n++;
  }
  get value(): string {
    return `${(this.h >>> 0).toString(16).padStart(8, '0')}:${this.n}`;
  }
}
