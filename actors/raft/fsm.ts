// raft_fsm: the process shell around the pure Raft core (core.ts). It owns the
// member's storage, its state machine and its timer; it turns its clock into
// `tick` inputs, network messages and client calls into the other inputs, and
// runs the core's effects through ONE exhaustive switch (runEffect), in the
// order the core's EFFECT ORDER CONTRACT requires: persist (durable: the
// storage methods are synchronous and return once fsynced) before any send.
//
// Group commit. Nothing is run per message: every handler steps the core and
// queues the effects, and proposals and reads are queued too; one FLUSH
// message to itself, sent at the first queued item, runs them at the end of
// what is in the mailbox. The flush turns every queued proposal into ONE
// `propose` input and every queued read into ONE `readIndex` input, and writes
// all the persist effects queued since the last flush in ONE storage
// transaction (coalesce()), so a burst costs one fsync on the leader and one on
// each follower, not one per proposal or per append.
//
// Addressing: a member's NodeId is its distribution node name; the fsm of
// member X is { name, node: X } (`name` is the same on every member). Messages
// travel as wire.ts envelopes and are validated there on receipt; a malformed
// one is dropped, counted and logged.
import type { ExitReason, From, Name, ProcessContext, RemoteName, Rng, ServerBehaviour } from '../../runtime/index.js';
import { createLogger, isDownMessage, isExitMessage, isNormalExit, noreply, ok, reply, stop } from '../../runtime/index.js';
import { type RaftConfig, type RaftConfigInput, resolveRaftConfig } from './config.js';
import {
  type ProposeRejection,
  type RaftEffect,
  type RaftInput,
  type RaftStatus,
  type ReadFailure,
  type RequestId,
  type Role,
  type TransferFailure,
  RaftCore,
} from './core.js';
import { hydrateAppend } from './storage.js';
import type { Command, Index, LogEntry, NodeId, RaftStorage, Snapshot, Term } from './types.js';
import { appendEnvelopeJson, decodeEnvelope, decodeRequest, envelope, looksLikeEnvelope } from './wire.js';

export type { FsmRequest } from './wire.js';

/** The name every member's fsm is registered under, unless RaftFsmArgs.name says otherwise. */
export const RAFT_FSM: Name = 'raft_fsm';

// ---------------------------------------------------------------------------
// Ports and arguments

/**
 * The replicated state machine. `apply` sees every committed entry exactly
 * once per run, in index order (kinds `command`, `noop` and `config`: ignore
 * what you do not need); it must be deterministic and must not throw for a bad
 * command (return an error result instead: a throw crashes the fsm, and every
 * member would crash on the same entry). `query` is read-only; a throw there is
 * reported to the caller only. Results and query answers cross the network, so
 * they must be JSON values.
 */
export interface StateMachine<R = unknown, Q = unknown, QR = unknown> {
  /**
   * Apply a committed entry. `resultWanted` is false when nobody waits for the result (a follower's entries, a
   * leader's entries proposed before it led): a machine may then skip building it (the state must change
   * the same way), and the fsm ignores what it returns.
   */
  apply(entry: LogEntry, resultWanted: boolean): R;
  query(query: Q): QR;
  /** The whole state as a string, at the last applied index. */
  snapshot(): string;
  /** Replace the whole state with a snapshot's. */
  restore(data: string): void;
  /**
   * Optional: run `applyAll` (every apply of one batch of committed entries)
   * as one unit, e.g. one SQLite transaction instead of one per entry. It must
   * call `applyAll` exactly once; a throw crashes the fsm like a throw in apply.
   */
  batch?(applyAll: () => void): void;
}

/** What the fsm logs through (a pino Logger fits). */
export interface FsmLog {
  warn(obj: object, msg: string): void;
  info(obj: object, msg: string): void;
}

export interface RaftFsmArgs {
  /** This member's id; default: the runtime's node name. */
  readonly id?: NodeId;
  /** The founding voter set (the same on every founding member); [] for a node that joins later. */
  readonly voters: readonly NodeId[];
  /** Opens this member's storage (SqliteStorage in production); called once per start, closed in terminate. */
  readonly storage: () => RaftStorage;
  /** A fresh, empty state machine; called once per start (the log is replayed into it). */
  readonly stateMachine: () => StateMachine;
  /** Core settings, over FSM_RAFT_DEFAULTS. */
  readonly config?: RaftConfigInput;
  /** Length of one core tick. Default 20 ms (with FSM_RAFT_DEFAULTS: heartbeat 60 ms, election timeout [300, 600) ms). */
  readonly tickMs?: number;
  /** The registered name of the fsm on every member. Default RAFT_FSM. */
  readonly name?: Name;
  /** Most proposals turned into one `propose` input; more queued flush early. Default 4096. */
  readonly maxBatch?: number;
  /** Hand leadership over in terminate on a normal shutdown. Default true. */
  readonly transferOnStop?: boolean;
  /** Default: a pino logger at warn on stderr (malformed messages, unexpected EXITs); leader changes are info. */
  readonly log?: FsmLog;
  /** Draws election timeouts; default the runtime env's rng. */
  readonly rng?: Rng;
}

/**
 * The fsm's defaults for the core's timing, under RaftFsmArgs.config. A
 * heartbeat round is also the core's "no acknowledgement, resend from match"
 * timer for a pipelining follower, so it must outlast a follower's slowest
 * batch write (tens of ms for thousands of entries on a busy disk); the
 * election timeout stays several heartbeats above it and well under a second.
 */
export const FSM_RAFT_DEFAULTS: RaftConfigInput = Object.freeze({ heartbeatTicks: 3, electionTicks: 15 });

// ---------------------------------------------------------------------------
// Replies

export type NotLeader = { readonly type: 'not_leader'; readonly leader: NodeId | null };
/** The fsm is shutting down (answered while it hands leadership over). */
export type Stopping = { readonly type: 'stopping' };
export type BadRequest = { readonly type: 'bad_request'; readonly reason: string };

export type ProposeReply<R = unknown> =
  /** Committed on a majority and applied here; `result` is what the state machine returned. */
  | { readonly type: 'ok'; readonly index: Index; readonly term: Term; readonly result: R }
  | NotLeader
  | { readonly type: 'rejected'; readonly reason: Exclude<ProposeRejection, { type: 'not_leader' }> }
  /** Another leader's entry was committed at its index: NOT committed, safe to retry. */
  | { readonly type: 'lost'; readonly index: Index }
  /**
   * Outcome unknown: it may or may not commit. This member stopped leading and
   * its copy was replaced by a new leader's entries, or a snapshot from the
   * leader overtook it. (A call that times out or fails with NodeDown /
   * ServerExited is unknown in the same way.)
   */
  | { readonly type: 'unknown'; readonly index: Index }
  | BadRequest
  | Stopping;

export type MembershipReply = ProposeReply<null>;

export type ReadReply<QR = unknown> =
  /** Linearizable: reflects every write acknowledged before the read was asked. */
  | { readonly type: 'ok'; readonly index: Index; readonly result: QR }
  | NotLeader
  | { readonly type: 'rejected'; readonly reason: Exclude<ReadFailure, { type: 'not_leader' }> }
  | { readonly type: 'query_failed'; readonly message: string }
  | BadRequest
  | Stopping;

export type TransferReply =
  /** A leader other than this member is known: `leader` (normally the one asked for). */
  | { readonly type: 'ok'; readonly leader: NodeId; readonly term: Term }
  | { readonly type: 'failed'; readonly reason: TransferFailure }
  | BadRequest
  | Stopping;

export interface FsmCounters {
  readonly ticks: number;
  /** Commands proposed, and the `propose` inputs they went into. */
  readonly proposals: number;
  readonly batches: number;
  readonly largestBatch: number;
  readonly reads: number;
  readonly readBatches: number;
  /** Storage transactions (each one fsync) and the entries they wrote. */
  readonly storageWrites: number;
  readonly entriesWritten: number;
  readonly applied: number;
  readonly messagesIn: number;
  readonly messagesOut: number;
  /** Network messages dropped because they failed validation or were misaddressed. */
  readonly malformed: number;
  /** Snapshots the state machine could not take (the log then stays uncompacted until the next hint). */
  readonly snapshotFailures: number;
}

export interface FsmStatus extends RaftStatus {
  readonly tickMs: number;
  readonly waitingProposals: number;
  readonly counters: FsmCounters;
}

/** The cheap view processes() shows (ProcessInfo.info). */
export interface FsmView {
  readonly id: NodeId;
  readonly role: Role;
  readonly term: Term;
  readonly leader: NodeId | null;
  readonly commit: Index;
  readonly applied: Index;
  readonly lastIndex: Index;
  readonly voters: readonly NodeId[];
  readonly counters: FsmCounters;
}

// ---------------------------------------------------------------------------
// Messages to self. Never sent over the network, they are compared by
// identity, so nothing a peer sends can be mistaken for them.

const TICK: object = Object.freeze({ type: 'raft_fsm:tick' });
const FLUSH: object = Object.freeze({ type: 'raft_fsm:flush' });

// ---------------------------------------------------------------------------
// Coalescing persists (group commit on disk)

type PersistEffect = Extract<RaftEffect, { type: 'persist' }>;

/** Two persists as one write: `b`'s entries replace `a`'s from b's first index on; b's hard state wins. */
function mergePersist(a: PersistEffect, b: PersistEffect): PersistEffect {
  const hardState = b.hardState ?? a.hardState;
  let entries = a.entries;
  const be = b.entries;
  if (be !== undefined && be.length > 0) {
    if (entries === undefined || entries.length === 0) entries = be;
    else {
      const base = entries[0]!.index;
      const first = be[0]!.index;
      entries = (first <= base ? [] : entries.slice(0, first - base)).concat(be);
    }
  }
  return { type: 'persist', ...(hardState === undefined ? {} : { hardState }), ...(entries === undefined ? {} : { entries }) };
}

/**
 * Reorder the effects of several steps (each in contract order) so that each
 * run between installSnapshot effects does ONE merged persist first, then its
 * other effects in their original order. This only moves writes earlier and
 * sends, applies and replies later, which the contract allows: nothing is
 * sent or applied before the write that preceded it, and an installSnapshot
 * stays a barrier (earlier writes and applies happen before it, later ones
 * after it).
 */
export function coalesce(effects: readonly RaftEffect[]): RaftEffect[] {
  const out: RaftEffect[] = [];
  let persist: PersistEffect | null = null;
  let rest: RaftEffect[] = [];
  const cut = (): void => {
    if (persist !== null) out.push(persist);
    for (const e of rest) out.push(e);
    persist = null;
    rest = [];
  };
  for (const e of effects) {
    if (e.type === 'persist') persist = persist === null ? e : mergePersist(persist, e);
    else if (e.type === 'installSnapshot') {
      cut();
      out.push(e);
    } else rest.push(e);
  }
  cut();
  return out;
}

// ---------------------------------------------------------------------------
// The shell

interface Waiter {
  readonly from: From;
  readonly term: Term;
  readonly membership: boolean;
}

interface QueuedRead {
  readonly from: From;
  readonly query: unknown;
}

const STOPPING: Stopping = { type: 'stopping' };


function zeroCounters(): { -readonly [K in keyof FsmCounters]: number } {
  return {
    ticks: 0,
    proposals: 0,
    batches: 0,
    largestBatch: 0,
    reads: 0,
    readBatches: 0,
    storageWrites: 0,
    entriesWritten: 0,
    applied: 0,
    messagesIn: 0,
    messagesOut: 0,
    malformed: 0,
    snapshotFailures: 0,
  };
}

/** The fsm's state: mutable, owned by its process (the core updates in place too). */
export class FsmState {
  readonly id: NodeId;
  readonly name: Name;
  readonly tickMs: number;
  private readonly maxBatch: number;
  private readonly electionTicks: number;
  private readonly transferOnStop: boolean;
  private readonly log: FsmLog;
  private readonly core: RaftCore;
  private readonly storage: RaftStorage;
  private readonly sm: StateMachine;
  private readonly counters = zeroCounters();

  /** Effects stepped but not yet run, in step order. */
  private ready: RaftEffect[] = [];
  private flushPending = false;
  private proposals: { from: From; command: Command }[] = [];
  private reads: QueuedRead[] = [];
  private nextId: RequestId = 1;
  /** Propose / changeMembership inputs waiting for their proposeResult. */
  private readonly batches = new Map<RequestId, { readonly froms: readonly From[]; readonly membership: boolean }>();
  /** Accepted entries waiting to be applied, by index (two leaders' entries may share an index). */
  private readonly waiting = new Map<Index, Waiter[]>();
  /** At least the highest index in `waiting` (0 when empty): most writes need no look at it. */
  private maxWaiting: Index = 0;
  private readonly readBatches = new Map<RequestId, readonly QueuedRead[]>();
  private transfers: { readonly from: From; readonly to: NodeId }[] = [];
  private tickRef: ReturnType<ProcessContext['sendAfter']> | null = null;
  /** While terminate hands leadership over: called when it is done. */
  private handOverDone: (() => void) | null = null;
  private ctx: ProcessContext;

  constructor(args: RaftFsmArgs, ctx: ProcessContext, opts: { readonly tickMs: number; readonly maxBatch: number; readonly config: RaftConfig }) {
    this.ctx = ctx;
    this.id = args.id ?? (ctx.runtime.node as NodeId);
    this.name = args.name ?? RAFT_FSM;
    this.tickMs = opts.tickMs;
    this.maxBatch = opts.maxBatch;
    this.electionTicks = opts.config.electionTicks;
    this.transferOnStop = args.transferOnStop ?? true;
    this.log = args.log ?? createLogger({ name: 'raft_fsm', level: 'warn' });
    this.storage = args.storage();
    // Closed at death even when the fsm is killed (no terminate): its log's lock is then free for the restart.
    ctx.own(this.storage);
    const repaired = this.storage.repaired;
    // A crash tore the last append (never acknowledged, so nothing is lost); an operator should still hear of it.
    if (repaired !== undefined && repaired !== null) this.log.warn({ member: this.id, ...repaired }, 'raft_fsm: storage cut off a torn last write');
    try {
      const persisted = this.storage.load();
      this.sm = args.stateMachine();
      // The core expects the state machine at the snapshot before its first step.
      if (persisted.snapshot !== null) this.sm.restore(persisted.snapshot.data);
      const rng = args.rng ?? ctx.runtime.env.rng;
      this.core = new RaftCore({ id: this.id, config: opts.config, rng, bootstrapVoters: args.voters, persisted });
    } catch (e) {
      this.storage.close();
      throw e;
    }
  }

  // ---- inputs --------------------------------------------------------------

  startTicking(ctx: ProcessContext): void {
    this.tickRef = ctx.sendAfter(this.tickMs, ctx.self, TICK);
  }

  onTick(ctx: ProcessContext): void {
    this.tickRef = ctx.sendAfter(this.tickMs, ctx.self, TICK);
    this.counters.ticks++;
    this.step({ type: 'tick' });
    this.schedule(ctx);
  }

  /** A message from the network (or junk): validate, then step. */
  onNetwork(msg: unknown, ctx: ProcessContext): void {
    const d = decodeEnvelope(msg);
    if (!d.ok) return this.malformed(d.reason, msg);
    if (d.envelope.to !== this.id) return this.malformed(`misaddressed: to ${d.envelope.to}`, msg);
    this.counters.messagesIn++;
    this.step({ type: 'message', from: d.envelope.from, msg: d.envelope.msg });
    this.schedule(ctx);
  }

  malformed(reason: string, msg: unknown): void {
    this.counters.malformed++;
    const kind = looksLikeEnvelope(msg) ? 'malformed raft message dropped' : 'unexpected message dropped';
    this.log.warn({ member: this.id, reason, count: this.counters.malformed }, `raft_fsm: ${kind}`);
  }

  /** An EXIT or DOWN: the fsm links to and monitors nothing, so one is only logged. */
  ignored(msg: unknown): void {
    this.log.warn({ member: this.id, message: msg }, 'raft_fsm: unexpected EXIT/DOWN ignored');
  }

  onCall(request: unknown, from: From, ctx: ProcessContext): { readonly reply: unknown } | null {
    // (A call-shaped message without a reply address never gets here: gen_server routes it to handleInfo.)
    const d = decodeRequest(request);
    if (!d.ok) return { reply: { type: 'bad_request', reason: d.reason } satisfies BadRequest };
    const r = d.request;
    switch (r.type) {
      case 'status':
        return { reply: this.status() };
      case 'propose':
        this.proposals.push({ from, command: r.command });
        if (this.proposals.length >= this.maxBatch) {
          // A full batch goes to the core and to disk now, so one dispatch of a
          // long mailbox never piles several batches into one giant write.
          this.stepProposals();
          this.drain();
        }
        this.schedule(ctx);
        return null;
      case 'read':
        this.reads.push({ from, query: r.query });
        this.schedule(ctx);
        return null;
      case 'transferLeadership':
        this.transfers.push({ from, to: r.to });
        this.step({ type: 'transferLeadership', to: r.to });
        this.schedule(ctx);
        return null;
      case 'addVoter':
      case 'removeVoter': {
        const id = this.nextId++;
        this.batches.set(id, { froms: [from], membership: true });
        this.step({ type: 'changeMembership', id, change: { type: r.type, node: r.node } });
        this.schedule(ctx);
        return null;
      }
      default:
        return assertNeverRequest(r);
    }
  }

  /** The FLUSH message: queued proposals and reads into the core, then run everything. */
  onFlush(): void {
    this.flushPending = false;
    this.stepProposals();
    this.stepReads();
    this.drain();
  }

  private schedule(ctx: ProcessContext): void {
    if (this.handOverDone !== null) {
      // Handing over (terminate): no mailbox to come back to; run at once.
      this.stepProposals();
      this.stepReads();
      this.drain();
      return;
    }
    if (this.flushPending) return;
    this.flushPending = true;
    ctx.send(ctx.self, FLUSH);
  }

  private stepProposals(): void {
    const queued = this.proposals;
    if (queued.length === 0) return;
    this.proposals = [];
    const id = this.nextId++;
    const froms: From[] = new Array<From>(queued.length);
    const commands: Command[] = new Array<Command>(queued.length);
    for (let i = 0; i < queued.length; i++) {
      froms[i] = queued[i]!.from;
      commands[i] = queued[i]!.command;
    }
    this.counters.proposals += queued.length;
    this.counters.batches++;
    if (queued.length > this.counters.largestBatch) this.counters.largestBatch = queued.length;
    this.batches.set(id, { froms, membership: false });
    this.step({ type: 'propose', id, commands });
  }

  private stepReads(): void {
    const queued = this.reads;
    if (queued.length === 0) return;
    this.reads = [];
    const id = this.nextId++;
    this.counters.reads += queued.length;
    this.counters.readBatches++;
    this.readBatches.set(id, queued);
    this.step({ type: 'readIndex', id });
  }

  private step(input: RaftInput): void {
    const effects = this.core.step(input);
    for (let i = 0; i < effects.length; i++) this.ready.push(effects[i]!);
  }

  // ---- running effects -------------------------------------------------------

  /** Run every queued effect, and whatever the follow-up inputs (persisted, snapshotTaken) produce. */
  private drain(): void {
    while (this.ready.length > 0) {
      const batch = coalesce(this.ready);
      this.ready = [];
      for (const e of batch) this.runEffect(e);
    }
  }

  /** THE effect interpreter: one exhaustive switch. Effects arrive in contract order (see coalesce). */
  private runEffect(e: RaftEffect): void {
    switch (e.type) {
      case 'persist': {
        // Synchronous and durable (fsync) when it returns: only then does anything after it run.
        const entries = e.entries;
        if (entries !== undefined && entries.length > 0) {
          this.storage.append(entries, e.hardState);
          this.counters.entriesWritten += entries.length;
        } else if (e.hardState !== undefined) {
          this.storage.setHardState(e.hardState);
        }
        this.counters.storageWrites++;
        if (entries !== undefined && entries.length > 0 && entries[0]!.index <= this.maxWaiting) this.replaced(entries);
        const last = entries?.[entries.length - 1];
        // A leader counts its own copy toward commit only now.
        if (last !== undefined) this.step({ type: 'persisted', index: last.index, term: last.term });
        return;
      }
      case 'installSnapshot':
        if (e.keepEntriesAfter) this.storage.saveSnapshot(e.snapshot);
        else this.storage.installSnapshot(e.snapshot);
        this.counters.storageWrites++;
        this.sm.restore(e.snapshot.data);
        this.overtaken(e.snapshot.meta.index);
        return;
      case 'send': {
        this.counters.messagesOut++;
        // Entries the core keeps cold (applied, on disk: log.ts) are read back for a follower that far behind.
        const msg = hydrateAppend(e.msg, this.storage);
        const env = envelope(this.id, e.to, msg);
        // New entries go to every follower: their text is made once (entry-text.ts), not once per frame.
        const json = msg.type === 'append' && msg.entries.length > 0 ? appendEnvelopeJson(this.id, e.to, msg) : undefined;
        if (json === undefined) this.ctx.send(this.address(e.to), env);
        else this.ctx.runtime.sendEncoded(this.address(e.to), env, json);
        return;
      }
      case 'apply': {
        const entries = e.entries;
        if (this.sm.batch === undefined) for (const entry of entries) this.applyEntry(entry);
        else this.sm.batch(() => {
          for (const entry of entries) this.applyEntry(entry);
        });
        return;
      }
      case 'takeSnapshot': {
        // The state machine is exactly at meta.index here: the applies before this effect reached it.
        let data: string;
        try {
          data = this.sm.snapshot();
        } catch (err) {
          // The state is intact; only its image failed (e.g. one past V8's string limit). Crashing would restart
          // into the same state and fail the same way, so the log stays uncompacted and the core asks again
          // snapshotThresholdEntries later.
          this.counters.snapshotFailures++;
          this.log.warn({ member: this.id, reason: 'snapshot_failed', index: e.meta.index, err: String(err) }, 'raft_fsm: snapshot failed; the log is not compacted');
          return;
        }
        const snapshot: Snapshot = { meta: e.meta, data };
        this.storage.saveSnapshot(snapshot);
        this.counters.storageWrites++;
        this.step({ type: 'snapshotTaken', snapshot });
        return;
      }
      case 'proposeResult': {
        const b = this.batches.get(e.id);
        if (b === undefined) return;
        this.batches.delete(e.id);
        const r = e.result;
        if (r.type === 'accepted') {
          for (let i = 0; i < b.froms.length; i++) this.wait(r.firstIndex + i, { from: b.froms[i]!, term: r.term, membership: b.membership });
        } else {
          const answer: ProposeReply = r.reason.type === 'not_leader' ? { type: 'not_leader', leader: r.reason.leader } : { type: 'rejected', reason: r.reason };
          for (const from of b.froms) this.ctx.reply(from, answer);
        }
        return;
      }
      case 'readResult': {
        const batch = this.readBatches.get(e.id);
        if (batch === undefined) return;
        this.readBatches.delete(e.id);
        const r = e.result;
        if (r.type === 'ready') {
          // Applied through r.index: the state machine reflects every write acknowledged before the read.
          for (const q of batch) this.ctx.reply(q.from, this.query(r.index, q.query));
        } else {
          const answer: ReadReply = r.reason.type === 'not_leader' ? { type: 'not_leader', leader: r.reason.leader } : { type: 'rejected', reason: r.reason };
          for (const q of batch) this.ctx.reply(q.from, answer);
        }
        return;
      }
      case 'transferFailed': {
        const answer: TransferReply = { type: 'failed', reason: e.reason };
        this.transfers = this.transfers.filter((t) => (t.to === e.to ? (this.ctx.reply(t.from, answer), false) : true));
        this.handOverDone?.();
        return;
      }
      case 'leaderChanged':
        this.log.info({ member: this.id, term: e.term, role: e.role, leader: e.leader }, 'raft_fsm: leader changed');
        if (e.leader !== null && e.leader !== this.id && this.transfers.length > 0) {
          const answer: TransferReply = { type: 'ok', leader: e.leader, term: e.term };
          for (const t of this.transfers) this.ctx.reply(t.from, answer);
          this.transfers = [];
        }
        // Handing over: once we are no longer leader, our part (including our vote) is done.
        if (e.role !== 'leader') this.handOverDone?.();
        return;
      default: {
        const never: never = e;
        throw new Error(`raft_fsm: unknown effect ${JSON.stringify(never)}`);
      }
    }
  }

  private address(to: NodeId): RemoteName {
    return { name: this.name, node: to };
  }

  private wait(index: Index, w: Waiter): void {
    if (index > this.maxWaiting) this.maxWaiting = index;
    const list = this.waiting.get(index);
    if (list === undefined) this.waiting.set(index, [w]);
    else list.push(w);
  }

  private applyEntry(entry: LogEntry): void {
    const list = this.waiting.get(entry.index);
    const result = this.sm.apply(entry, list !== undefined);
    this.counters.applied++;
    if (list === undefined) return;
    this.waiting.delete(entry.index);
    if (this.waiting.size === 0) this.maxWaiting = 0;
    for (const w of list) {
      // Same index and term: the very entry we appended (Log Matching). Otherwise another leader's.
      let answer: ProposeReply;
      if (entry.term !== w.term) answer = { type: 'lost', index: entry.index };
      else answer = { type: 'ok', index: entry.index, term: entry.term, result: w.membership ? null : result };
      this.ctx.reply(w.from, answer);
    }
  }

  /**
   * A write replaced our log from entries[0].index on (a deposed leader taking
   * a new leader's entries). A waiting entry no longer in it is not known to be
   * lost (another member may still hold it and lead), but this member can no
   * longer tell: its caller gets `unknown` now rather than wait for an index
   * the new log may never reach.
   */
  private replaced(entries: readonly LogEntry[]): void {
    const first = entries[0]!.index;
    for (const [i, list] of this.waiting) {
      if (i < first) continue;
      const now = entries[i - first];
      const kept = list.filter((w) => {
        if (now !== undefined && now.term === w.term) return true; // the same entry (Log Matching)
        this.ctx.reply(w.from, { type: 'unknown', index: i } satisfies ProposeReply);
        return false;
      });
      if (kept.length === 0) this.waiting.delete(i);
      else this.waiting.set(i, kept);
    }
    if (this.waiting.size === 0) this.maxWaiting = 0;
  }

  /** A snapshot from the leader replaced the log through `index`: what waited there cannot be told apart. */
  private overtaken(index: Index): void {
    for (const [i, list] of this.waiting) {
      if (i > index) continue;
      this.waiting.delete(i);
      for (const w of list) this.ctx.reply(w.from, { type: 'unknown', index: i } satisfies ProposeReply);
    }
  }

  private query(index: Index, q: unknown): ReadReply {
    try {
      return { type: 'ok', index, result: this.sm.query(q) };
    } catch (err) {
      // Read-only: the state is untouched, so the failure is the caller's to see, not the fsm's.
      return { type: 'query_failed', message: err instanceof Error ? err.message : String(err) };
    }
  }

  // ---- views ---------------------------------------------------------------

  status(): FsmStatus {
    let waiting = 0;
    for (const list of this.waiting.values()) waiting += list.length;
    return { ...this.core.status(), tickMs: this.tickMs, waitingProposals: waiting, counters: { ...this.counters } };
  }

  view(): FsmView {
    const s = this.core.status();
    return {
      id: s.id,
      role: s.role,
      term: s.term,
      leader: s.leader,
      commit: s.commit,
      applied: s.applied,
      lastIndex: s.lastIndex,
      voters: s.voters,
      counters: { ...this.counters },
    };
  }

  // ---- shutdown --------------------------------------------------------------

  /**
   * terminate: on a normal shutdown, a leader hands over first (bounded), then
   * the storage is closed. Runs with the process suspended in terminate, so
   * its mailbox is no longer read: the fsm lends its registered name to a
   * short-lived pump process that feeds Raft traffic and ticks back in here.
   */
  async terminate(reason: ExitReason, ctx: ProcessContext): Promise<void> {
    this.ctx = ctx;
    try {
      if (this.tickRef !== null) ctx.cancelTimer(this.tickRef);
      this.tickRef = null;
      // After a crash the queued effects are dropped: nothing of them was sent,
      // and the next incarnation starts from what is on disk.
      if (!isNormalExit(reason)) return;
      for (const p of this.proposals) ctx.reply(p.from, STOPPING);
      for (const r of this.reads) ctx.reply(r.from, STOPPING);
      this.proposals = [];
      this.reads = [];
      // Bring disk and core level first (persist before send still holds).
      this.drain();
      if (this.transferOnStop) await this.handOver(ctx);
    } finally {
      this.storage.close();
    }
  }

  private async handOver(ctx: ProcessContext): Promise<void> {
    const st = this.core.status();
    if (st.role !== 'leader') return;
    // The most up-to-date follower: it needs the fewest entries before TimeoutNow.
    let target: NodeId | null = null;
    let best = -1;
    for (const v of st.voters) {
      const pr = st.progress[v];
      if (v !== this.id && pr !== undefined && pr.match > best) {
        best = pr.match;
        target = v;
      }
    }
    // Peers reach us by name only; without it there is no one to hand over to.
    if (target === null || ctx.whereis(this.name) !== ctx.self) return;
    const to = target;
    // The core gives up after electionTicks ticks (transferFailed); this is a backstop.
    const maxTicks = 2 * this.electionTicks + 2;
    await new Promise<void>((resolve) => {
      let ticks = 0;
      let pump: ReturnType<ProcessContext['spawn']> | null = null;
      this.handOverDone = () => {
        this.handOverDone = null;
        if (pump !== null) ctx.exit(pump, 'kill');
        resolve();
      };
      ctx.unregister(this.name);
      pump = ctx.spawn<unknown>(
        {
          behaviour: 'raft_fsm:handover',
          init: (p) => void p.sendAfter(this.tickMs, p.self, TICK),
          receive: (m, p) => {
            if (this.handOverDone === null) return;
            if (m === TICK) {
              if (++ticks > maxTicks) return this.handOverDone();
              p.sendAfter(this.tickMs, p.self, TICK);
              this.counters.ticks++;
              this.step({ type: 'tick' });
              this.schedule(p);
            } else if (isCallEnvelope(m)) {
              p.reply(m.from, STOPPING);
            } else {
              this.onNetwork(m, p);
            }
          },
        },
        { name: this.name },
      );
      this.log.info({ member: this.id, to }, 'raft_fsm: handing leadership over before stopping');
      this.step({ type: 'transferLeadership', to });
      this.drain();
    });
  }
}

function isFrom(f: unknown): f is From {
  return typeof f === 'object' && f !== null && typeof (f as { pid?: unknown }).pid === 'string' && typeof (f as { ref?: unknown }).ref === 'string';
}

function isCallEnvelope(m: unknown): m is { type: '$call'; from: From } {
  return typeof m === 'object' && m !== null && (m as { type?: unknown }).type === '$call' && isFrom((m as { from?: unknown }).from);
}

function assertNeverRequest(r: never): never {
  throw new Error(`raft_fsm: unknown request ${JSON.stringify(r)}`);
}

// ---------------------------------------------------------------------------
// The behaviour

function invalid(field: string, error: string): ExitReason {
  return { type: 'error', name: 'RaftFsmConfigError', code: 'invalid_config', message: `${field} ${error}` };
}

const isPositiveInt = (n: unknown): n is number => typeof n === 'number' && Number.isSafeInteger(n) && n > 0;

/**
 * raft_fsm as a gen_server. Start it with startServer/startLinkServer (or
 * workerSpec) under its name, e.g.
 *   workerSpec('raft_fsm', raftFsm, args, { name: RAFT_FSM })
 * It traps exits so that its supervisor's shutdown runs terminate (hand-over).
 */
export const raftFsm: ServerBehaviour<FsmState, RaftFsmArgs, unknown, unknown, unknown, unknown> = {
  name: 'raft_fsm',

  init(args, ctx) {
    const tickMs = args.tickMs ?? 20;
    if (!isPositiveInt(tickMs)) return stop(invalid('tickMs', `must be a positive integer, got ${JSON.stringify(tickMs)}`));
    const maxBatch = args.maxBatch ?? 4096;
    if (!isPositiveInt(maxBatch)) return stop(invalid('maxBatch', `must be a positive integer, got ${JSON.stringify(maxBatch)}`));
    const cfg = resolveRaftConfig({ ...FSM_RAFT_DEFAULTS, ...args.config });
    if (!cfg.ok) return stop(invalid(cfg.field, cfg.error));
    ctx.trapExit(true);
    // Peers address this fsm as { name, node }: hold the name (startServer may already have registered it).
    const name = args.name ?? RAFT_FSM;
    if (ctx.whereis(name) !== ctx.self) ctx.register(name);
    const state = new FsmState(args, ctx, { tickMs, maxBatch, config: cfg.config });
    state.startTicking(ctx);
    return ok(state);
  },

  handleCall(request, from, state, ctx) {
    const r = state.onCall(request, from, ctx);
    return r === null ? noreply(state) : reply(r.reply, state);
  },

  // Nothing is cast to the fsm; a cast from the network is junk like any other.
  handleCast(msg, state) {
    state.malformed('a cast', msg);
    return noreply(state);
  },

  handleInfo(msg, state, ctx) {
    if (msg === FLUSH) state.onFlush();
    else if (msg === TICK) state.onTick(ctx);
    else if (isExitMessage(msg) || isDownMessage(msg)) state.ignored(msg);
    else state.onNetwork(msg, ctx);
    return noreply(state);
  },

  terminate(reason, state, ctx) {
    return state.terminate(reason, ctx);
  },

  introspect: (state) => state.view(),
};

// ---------------------------------------------------------------------------
// Client side

/** Where member `node`'s fsm is. */
export function fsmAt(node: NodeId | string, name: Name = RAFT_FSM): RemoteName {
  return { name, node };
}
