// The simulator's trace: what a run reports, event by event, to its checkers.
// Checkers watch and never steer (TigerBeetle's state checker): each one is fed
// every event in order through observe(), keeps what it needs, and returns its
// violations from finish(). The client-visible part of the trace is the
// history (Jepsen style), which is also what `--history` writes.
import type { CommandResult, EntryResult, Job, JobCommand, JobEvent, PruneCommand, QueryResult, RegistryCommand, RegistryQuery, SubmitCommand } from '../actors/job_registry/types.js';
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

/** What the job registry workload's actors do (simulations/registry-workload.ts). */
export type JobOpName =
  | RegistryCommand['c']
  /** Reads: get, and the router's work lists (due, overdue, list of failed jobs), the feed readers' pages, the final list. */
  | RegistryQuery['q'];

/**
 * One line of the job registry workload's history. Its actors run several
 * operations at once, so each operation is its own Jepsen process: `process`
 * is the operation's id and pairs an invoke with its completion. `actor` says
 * who: c<i> a client, router, w<i> a worker, r<i> a feed reader, final the
 * liveness phase's reader. `key`: the job id ('' when none). `value`: on
 * invoke the command or query, on ok the result.
 */
export interface JobHistoryEvent {
  readonly process: number;
  readonly actor: string;
  readonly type: 'invoke' | 'ok' | 'fail' | 'info';
  readonly f: JobOpName;
  readonly key: string;
  readonly value: RegistryCommand | RegistryQuery | EntryResult | QueryResult;
  readonly time: number;
  /** The node it was sent to. */
  readonly node: number;
  readonly error?: string;
}

/** One command of an applied registry entry (see the `jobApply` trace event). */
export interface JobApplied {
  /** null: not a valid command (it was rejected as invalid_command). */
  readonly command: SubmitCommand | JobCommand | PruneCommand | null;
  readonly result: CommandResult | null;
  /** The job the command names, just before its entry was applied. */
  readonly before: Job | null;
  /** The same job (for a submit, the job it resolved to) just after its entry was applied. */
  readonly after: Job | null;
}

/** A line of `--history`: the KV workload's or the registry workload's. */
export type HistoryLine = HistoryEvent | JobHistoryEvent;

/** One node's whole registry at the end of a run, as local reads return it. */
export interface RegistryNodeDump {
  readonly index: number;
  readonly up: boolean;
  readonly applied: number;
  /** Every job, in (createdAt, id) order. */
  readonly jobs: readonly Job[];
  /** The whole event feed, in seq order. */
  readonly feed: readonly JobEvent[];
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
  /**
   * The node took a snapshot of its state machine. `state` here, in `install`
   * and in `restart` is the machine's fingerprint (SimMachine.fingerprint: the
   * key-value map's JSON, the registry's statistics); equal states have equal ones.
   */
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
  /**
   * Registry workload: one command entry applied on one node. `items`: one per
   * command it carried (one, or a batch entry's several), each with the job it
   * names as the node's state machine returned it just before the entry and
   * just after it (for a submit: the job its id or key already named, and the
   * job it resolved to). `events`: the feed events the entry made, in order.
   */
  | {
      readonly type: 'jobApply';
      readonly time: number;
      readonly node: number;
      readonly inc: number;
      readonly index: number;
      readonly term: Term;
      /** A batch entry (several commands), or a single command. */
      readonly batch: boolean;
      readonly items: readonly JobApplied[];
      readonly events: readonly JobEvent[];
    }
  /** Registry workload: an operation of an actor (the registry's history line). */
  | { readonly type: 'jobClient'; readonly event: JobHistoryEvent }
  /** Registry workload: a feed reader got one page of `events { after }` from node `node` (a local read). */
  | { readonly type: 'feedPage'; readonly time: number; readonly reader: number; readonly node: number; readonly after: number; readonly events: readonly JobEvent[]; readonly last: number }
  /** Registry workload: every node's jobs and feed, read locally at the end of the run (just before `end`). */
  | { readonly type: 'registryFinal'; readonly time: number; readonly nodes: readonly RegistryNodeDump[] }
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
      /** `state`: the node's whole state in canonical form (SimMachine.state). */
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

/** Entries are immutable: each one's id is computed once (a registry command's is its JSON, and logs are compared at every sample). */
const entryIds = new WeakMap<LogEntry, string>();

/** The identity of a log entry beyond (index, term): its command's op id (key-value), its JSON (registry), or its kind. */
export function entryId(e: LogEntry): string {
  if (e.kind !== 'command') return e.kind;
  const known = entryIds.get(e);
  if (known !== undefined) return known;
  const d = e.data as { op?: unknown } | null;
  const id = d !== null && typeof d === 'object' && typeof d.op === 'number' ? `op${d.op}` : JSON.stringify(e.data);
  entryIds.set(e, id);
  return id;
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
    case 'jobApply': {
      const items = e.items.map((x) => {
        const r = x.result;
        const res = r === null ? '-' : r.type === 'ok' ? `ok ${r.status}/${r.attempt}${r.changed ? '' : ' same'}` : r.type === 'rejected' ? `rejected ${r.reason.code}` : `pruned ${r.jobs}`;
        const c = x.command;
        return `${c === null ? 'invalid' : `${c.c} ${'id' in c ? c.id : '-'}${'attempt' in c && c.attempt !== undefined ? `/${c.attempt}` : ''}`} ${res}`;
      });
      return `${e.time} n${e.node} job @${e.index}${e.batch ? ' batch' : ''} ${items.join('; ')} events=${e.events.length}`;
    }
    case 'jobClient': {
      const h = e.event;
      return `${h.time} ${h.actor} #${h.process} ${h.type} ${h.f} ${h.key} n${h.node}${h.error === undefined ? '' : ` (${h.error})`}`;
    }
    case 'feedPage':
      return `${e.time} r${e.reader} feed n${e.node} after ${e.after}: ${e.events.length} event(s) last ${e.last}`;
    case 'registryFinal':
      return `${e.time} registry final ${e.nodes.map((n) => `n${n.index}:${n.jobs.length}/${n.feed.length}`).join(' ')}`;
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
