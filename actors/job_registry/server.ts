// job_registry: each node's front door to the registry. It turns requests
// (submit, worker reports, router commands, queries, event subscriptions) into
// commands for Raft, stamped with this node's wall clock and, for a submit
// without one, a fresh id; proposes them through the leader's raft_fsm; and
// answers reads either locally (any node, possibly a little behind) or
// linearizably (through the leader's ReadIndex).
//
// Forwarding: a node that is not the leader sends the request to the leader's
// job_registry (one network hop, however many commands it carries), which
// proposes them to its own raft_fsm with local calls. The leader is learnt from
// raft_fsm's `not_leader` answers; a hop count bounds the chase during an
// election. Nothing blocks the process: calls run as promises and the answer
// is sent with ctx.reply when they settle.
//
// Events: raft_fsm tells the handle when a batch of entries produced events;
// the handle's listener sends this process one coalesced wake-up, and each
// subscriber is then served from the events table after its last seq, so a
// subscriber sees every event once, in order, whether it joined from seq 0 or
// resumed after a crash.
//
// Retention: every pruneEveryMs the node proposes a prune to its own raft_fsm;
// only the leader's succeeds (the others answer not_leader and are ignored), so
// every member removes the same jobs at the same log index.
import { Type } from '@sinclair/typebox';
import { TypeCompiler } from '@sinclair/typebox/compiler';
import { type ProposeReply, RAFT_FSM, type ReadReply } from '../raft/fsm.js';
import type { NodeId } from '../raft/types.js';
import type { Dest, From, Name, Pid, ProcessContext, Ref, Rng, ServerBehaviour } from '../../runtime/index.js';
import { NoProc, RuntimeError, createLogger, isDownMessage, noreply, ok, reply, stop } from '../../runtime/index.js';
import type { RegistryHandle } from './handle.js';
import { checkBatchedCommand, checkCommand, registryLimits, taggedChecker } from './schema.js';
import type { BatchCommand, BatchedCommand, CommandResult, EntryResult, EventsPage, JobCommand, JobEvent, PruneCommand, QueryResult, RegistryCommand, RegistryQuery, SubmitCommand } from './types.js';

/** The name every node's job_registry is registered under. */
export const JOB_REGISTRY: Name = 'job_registry';

// ---------------------------------------------------------------------------
// Requests and replies

type WithoutAt<T> = T extends unknown ? Omit<T, 'at'> : never;

/** A submit as a caller sends it: `id` is made here when absent; `at` is always this node's clock. */
export type SubmitInput = Omit<SubmitCommand, 'c' | 'id' | 'at'> & { readonly id?: string };

/** A command as a caller sends it (the registry stamps `at`, and an id for a submit without one). */
export type CommandInput = ({ readonly c: 'submit' } & SubmitInput) | WithoutAt<JobCommand> | WithoutAt<PruneCommand>;

export type Consistency = 'linearizable' | 'local';

export type RegistryRequest =
  | { readonly type: 'submit'; readonly job: SubmitInput }
  | { readonly type: 'command'; readonly command: CommandInput }
  /** Many commands in one request (and one network hop): each gets its own reply, in order. */
  | { readonly type: 'batch'; readonly commands: readonly CommandInput[] }
  | { readonly type: 'read'; readonly query: RegistryQuery; readonly consistency?: Consistency }
  /**
   * Send `subscriber` every event after seq `after` as `job_events` messages, then every new one; at most
   * `window` pages unacknowledged at a time (default 8): the subscriber sends a SubscriptionAck for each page.
   */
  | { readonly type: 'subscribe'; readonly after: number; readonly subscriber: Pid; readonly window?: number }
  | { readonly type: 'unsubscribe'; readonly ref: Ref }
  | { readonly type: 'status' };

/** Why a request was not carried out. Stable codes (docs/job-lifecycle.md). */
export type RegistryError =
  | { readonly code: 'bad_request'; readonly field: string; readonly message: string }
  /** No leader is known (an election is on): retry shortly. Nothing was proposed. */
  | { readonly code: 'no_leader' }
  /** Not committed, certainly: safe to retry. */
  | { readonly code: 'not_committed'; readonly reason: string }
  /** May or may not have committed: retrying with the same id (or idempotency key) is safe, as submits are idempotent. */
  | { readonly code: 'unknown_outcome'; readonly reason: string }
  | { readonly code: 'stopping' }
  | { readonly code: 'query_failed'; readonly message: string }
  /** A linearizable read could not reach a leader. */
  | { readonly code: 'unavailable'; readonly reason: string };

export type CommandReply = { readonly type: 'ok'; readonly index: number; readonly result: CommandResult } | { readonly type: 'error'; readonly error: RegistryError };
/** A proposed entry's outcome (a batch entry's result holds one result per command). */
type EntryReply = { readonly type: 'ok'; readonly index: number; readonly result: EntryResult } | { readonly type: 'error'; readonly error: RegistryError };
export type BatchReply = { readonly type: 'ok'; readonly replies: readonly CommandReply[] } | { readonly type: 'error'; readonly error: RegistryError };
export type QueryReply = { readonly type: 'ok'; readonly index: number; readonly result: QueryResult } | { readonly type: 'error'; readonly error: RegistryError };
export type SubscribeReply = { readonly type: 'ok'; readonly ref: Ref } | { readonly type: 'error'; readonly error: RegistryError };

/**
 * What a subscriber sends the registry (a plain message, to the registry it
 * subscribed at) once it has handled the pages through `last`: credit for
 * more. Without it the registry stops after `window` pages and waits; nothing
 * is skipped, and the subscriber's mailbox stays bounded (as Erlang's
 * `{active, N}` bounds what a socket sends its owner).
 */
export type SubscriptionAck = { readonly type: 'job_events_ack'; readonly ref: Ref; readonly last: number };

/** What a subscriber receives. `last`: resume with after = last, and acknowledge with it. */
export type SubscriptionMessage =
  | { readonly type: 'job_events'; readonly ref: Ref; readonly events: readonly JobEvent[]; readonly last: number }
  /** Retention removed events the subscriber had not seen: re-read the jobs, then subscribe again from `oldest - 1`. The subscription is over. */
  | { readonly type: 'job_events_truncated'; readonly ref: Ref; readonly oldest: number };

export interface RegistryStatus {
  readonly node: string;
  readonly leaderHint: string | null;
  readonly subscribers: number;
  /** Subscribers with `window` pages unacknowledged: the registry waits for them. */
  readonly subscribersWaiting: number;
  readonly appliedIndex: number;
  readonly counters: Readonly<RegistryCounters>;
}

interface RegistryCounters {
  proposed: number;
  forwardedOut: number;
  forwardedIn: number;
  reads: number;
  eventsSent: number;
  pruned: number;
  malformed: number;
}

/** Between registries: a request handed to (what is believed to be) the leader's registry. */
type ForwardOp = { readonly k: 'propose'; readonly commands: readonly RegistryCommand[] } | { readonly k: 'read'; readonly query: RegistryQuery };
type Forward = { readonly type: 'forward'; readonly hops: number; readonly op: ForwardOp };

// ---------------------------------------------------------------------------
// Boundary: request shapes (the commands inside are checked by the machine's schema: checkBatchedCommand)

export const registryServerLimits = Object.freeze({ maxBatch: 10_000, maxHops: 2, maxWindow: 64 });

const Input = Type.Object({ c: Type.String() }, { additionalProperties: true });
const RequestT = Type.Union([
  Type.Object({ type: Type.Literal('submit'), job: Type.Object({}, { additionalProperties: true }) }),
  Type.Object({ type: Type.Literal('command'), command: Input }),
  Type.Object({ type: Type.Literal('batch'), commands: Type.Array(Input, { minItems: 1, maxItems: registryServerLimits.maxBatch }) }),
  Type.Object({ type: Type.Literal('read'), query: Type.Object({ q: Type.String() }, { additionalProperties: true }), consistency: Type.Optional(Type.Union([Type.Literal('linearizable'), Type.Literal('local')])) }),
  Type.Object({ type: Type.Literal('subscribe'), after: Type.Integer({ minimum: 0 }), subscriber: Type.String(), window: Type.Optional(Type.Integer({ minimum: 1, maximum: registryServerLimits.maxWindow })) }),
  Type.Object({ type: Type.Literal('unsubscribe'), ref: Type.String() }),
  Type.Object({ type: Type.Literal('status') }),
  Type.Object({
    type: Type.Literal('forward'),
    hops: Type.Integer({ minimum: 0 }),
    op: Type.Union([
      Type.Object({ k: Type.Literal('propose'), commands: Type.Array(Type.Unknown(), { minItems: 1, maxItems: registryServerLimits.maxBatch }) }),
      Type.Object({ k: Type.Literal('read'), query: Type.Unknown() }),
    ]),
  }),
]);
/** By `type`, so an error names the field of the request it is about. */
const checkRequest = taggedChecker<RegistryRequest | Forward>(RequestT, 'type');

// ---------------------------------------------------------------------------
// Arguments

export interface JobRegistryArgs {
  /** This node's registry machine, shared with its raft_fsm (whose stateMachine is handle.stateMachine). */
  readonly handle: RegistryHandle;
  /** The registered name of raft_fsm on every node. Default RAFT_FSM. */
  readonly fsm?: Name;
  /** The registered name of job_registry on every node. Default JOB_REGISTRY. */
  readonly name?: Name;
  /** Timeout of a call to raft_fsm or to another registry. Default 5000 ms. */
  readonly callTimeoutMs?: number;
  /** Terminal jobs (and events) older than this are removed. Default 30 days, as DistriQueue's gateway. */
  readonly retentionMs?: number;
  /** How often the node proposes a prune. Default 10 minutes. */
  readonly pruneEveryMs?: number;
  /** Most jobs (and most events) one prune removes; a prune that hit it is followed by another after 1 s. Default 10000. */
  readonly pruneBatch?: number;
  /** Commands per batch entry when a request carries several. Default 1000. */
  readonly commandsPerEntry?: number;
  /** Events per job_events message (whole entries: a page may run over by the rest of one). Default 1000. */
  readonly eventsPage?: number;
  readonly log?: { warn(obj: object, msg: string): void };
}

const DAY_MS = 24 * 3600 * 1000;
export const REGISTRY_DEFAULTS = Object.freeze({ callTimeoutMs: 5_000, retentionMs: 30 * DAY_MS, pruneEveryMs: 10 * 60 * 1000, pruneBatch: 10_000, eventsPage: 1_000, commandsPerEntry: 1_000, subscriptionWindow: 8 });
const PRUNE_AGAIN_MS = 1_000;

const PRUNE = Symbol('job_registry.prune');
const APPLIED = Symbol('job_registry.applied');

interface Subscription {
  readonly ref: Ref;
  readonly pid: Pid;
  readonly monitor: Ref;
  after: number;
  readonly window: number;
  /** The `last` of each page sent and not acknowledged yet, oldest first. */
  readonly unacked: number[];
}

const AckT = Type.Object({ type: Type.Literal('job_events_ack'), ref: Type.String(), last: Type.Integer({ minimum: 0 }) });
const ackCheck = TypeCompiler.Compile(AckT);

/**
 * A version 7 UUID (RFC 9562): the 48-bit Unix time in ms `at`, then 74 bits
 * from the injected random source (replayable under a virtual env). Ids made
 * here sort by creation time, so every member's unique index on jobs.id takes
 * them near its right edge instead of at random places. Measured on this table
 * layout with 100k rows (multi-row inserts of 64, 2-core VM): 5–7 µs a job
 * insert with v7 ids, 10–12 µs with random (v4) ids; the gap grows with the
 * table. Ids that clients bring (DistriQueue's gateway sends v4) are kept as given.
 */
export function uuidFrom(rng: Rng, at: number): string {
  const t = Math.max(0, Math.min(at, 2 ** 48 - 1)).toString(16).padStart(12, '0');
  const b: number[] = [];
  for (let i = 0; i < 10; i++) b.push(rng.int(0, 255));
  b[0] = (b[0]! & 0x0f) | 0x70;
  b[2] = (b[2]! & 0x3f) | 0x80;
  const h = b.map((x) => x.toString(16).padStart(2, '0')).join('');
  return `${t.slice(0, 8)}-${t.slice(8, 12)}-${h.slice(0, 4)}-${h.slice(4, 8)}-${h.slice(8)}`;
}

// ---------------------------------------------------------------------------
// The process state

export class RegistryServer {
  private readonly handle: RegistryHandle;
  private readonly fsm: Name;
  private readonly name: Name;
  private readonly self: NodeId;
  private readonly callTimeoutMs: number;
  private readonly retentionMs: number;
  private readonly pruneEveryMs: number;
  private readonly pruneBatch: number;
  private readonly eventsPage: number;
  private readonly commandsPerEntry: number;
  private readonly log: { warn(obj: object, msg: string): void };
  /** Where proposals go: null = ask the local fsm (which names the leader when it is not). */
  private leaderHint: NodeId | null = null;
  private readonly subs = new Map<Ref, Subscription>();
  private wakeQueued = false;
  private pruneTimer: Ref | null = null;
  private readonly counters: RegistryCounters = { proposed: 0, forwardedOut: 0, forwardedIn: 0, reads: 0, eventsSent: 0, pruned: 0, malformed: 0 };

  constructor(
    args: JobRegistryArgs,
    private readonly ctx: ProcessContext,
  ) {
    this.handle = args.handle;
    this.fsm = args.fsm ?? RAFT_FSM;
    this.name = args.name ?? JOB_REGISTRY;
    this.self = ctx.runtime.node as NodeId;
    this.callTimeoutMs = args.callTimeoutMs ?? REGISTRY_DEFAULTS.callTimeoutMs;
    this.retentionMs = args.retentionMs ?? REGISTRY_DEFAULTS.retentionMs;
    this.pruneEveryMs = args.pruneEveryMs ?? REGISTRY_DEFAULTS.pruneEveryMs;
    this.pruneBatch = args.pruneBatch ?? REGISTRY_DEFAULTS.pruneBatch;
    this.eventsPage = args.eventsPage ?? REGISTRY_DEFAULTS.eventsPage;
    this.commandsPerEntry = Math.min(args.commandsPerEntry ?? REGISTRY_DEFAULTS.commandsPerEntry, registryLimits.maxCommandsPerEntry);
    this.log = args.log ?? createLogger({ name: 'job_registry', level: 'warn' });
    const me = ctx.self;
    const rt = ctx.runtime;
    // Runs inside raft_fsm's process: only a coalesced wake-up is sent from there.
    this.handle.listen(() => {
      if (this.wakeQueued) return;
      this.wakeQueued = true;
      rt.send(me, APPLIED);
    });
    this.pruneTimer = ctx.sendAfter(this.pruneEveryMs, me, PRUNE);
  }

  // ---- calls ----

  /** Answer now (a value) or later (null: a promise replies when it settles). */
  onCall(raw: unknown, from: From): unknown {
    const checked = checkRequest(raw);
    if (!checked.ok) {
      this.counters.malformed++;
      return { type: 'error', error: { code: 'bad_request', field: checked.field, message: checked.message } };
    }
    const r = checked.value;
    switch (r.type) {
      case 'submit':
        return this.later(from, this.commands([{ ...r.job, c: 'submit' }]).then((x) => (x.type === 'ok' ? x.replies[0]! : x)));
      case 'command':
        return this.later(from, this.commands([r.command]).then((x) => (x.type === 'ok' ? x.replies[0]! : x)));
      case 'batch':
        return this.later(from, this.commands(r.commands));
      case 'read':
        this.counters.reads++;
        if (r.consistency === 'local') return this.localRead(r.query);
        return this.later(from, this.read(r.query, 0));
      case 'subscribe':
        return this.subscribe(r.subscriber, r.after, r.window ?? REGISTRY_DEFAULTS.subscriptionWindow);
      case 'unsubscribe':
        this.unsubscribe(r.ref);
        return { type: 'ok' };
      case 'status':
        return this.status();
      case 'forward':
        this.counters.forwardedIn++;
        if (r.op.k === 'propose') return this.later(from, this.propose(r.op.commands as RegistryCommand[], r.hops));
        return this.later(from, this.read(r.op.query as RegistryQuery, r.hops));
      default: {
        const never: never = r;
        throw new Error(`job_registry: unknown request ${JSON.stringify(never)}`);
      }
    }
  }

  private later(from: From, p: Promise<unknown>): null {
    p.then(
      (value) => this.ctx.reply(from, value),
      (err: unknown) => {
        // A bug in this module, not an outcome: tell the caller, and keep serving the others.
        this.log.warn({ err: String(err) }, 'job_registry: request failed');
        this.ctx.reply(from, { type: 'error', error: { code: 'unknown_outcome', reason: String(err) } } satisfies CommandReply);
      },
    );
    return null;
  }

  /**
   * Check and propose; a bad command is answered at once and proposes nothing. The time is this node's clock,
   * read once: a lone command carries it, a batch entry carries it once for all its commands (a time a client
   * put in a command is dropped, never used).
   */
  private async commands(inputs: readonly CommandInput[]): Promise<BatchReply> {
    const at = this.ctx.runtime.env.wall.epochMs();
    const out: (CommandReply | null)[] = [];
    const good: BatchedCommand[] = [];
    const where: number[] = [];
    for (let i = 0; i < inputs.length; i++) {
      const input = inputs[i]!;
      // An object with a string `c`: RequestT checked that much.
      const tag: string = input.c;
      if (tag === 'batch') {
        out.push({ type: 'error', error: { code: 'bad_request', field: inputs.length === 1 ? 'c' : `commands.${i}.c`, message: 'send several commands as a batch request, not a batch command' } });
        continue;
      }
      // Object.assign, not a spread, where a copy is needed: the schema's compiled check ran about 4× slower on the objects a spread builds.
      let command: unknown = input;
      if (tag === 'submit' && (input as { id?: unknown }).id === undefined) command = Object.assign({}, input, { id: uuidFrom(this.ctx.runtime.env.rng, at), at: undefined });
      else if ((input as { at?: unknown }).at !== undefined) command = Object.assign({}, input, { at: undefined });
      // A prune is not a batched command: checked with its time, as the entry of its own it will be.
      const checked = tag === 'prune' ? checkCommand(Object.assign({}, command, { at })) : checkBatchedCommand(command);
      if (!checked.ok) {
        out.push({ type: 'error', error: { code: 'bad_request', field: inputs.length === 1 ? checked.field : checked.field === "" ? `commands.${i}` : `commands.${i}.${checked.field}`, message: checked.message } });
        continue;
      }
      out.push(null);
      good.push(checked.value as BatchedCommand);
      where.push(i);
    }
    if (good.length === 1) {
      const r = (await this.propose([Object.assign({}, good[0], { at }) as RegistryCommand], 0))[0]!;
      // A single command is never a batch entry (callers' `batch` commands are refused above).
      out[where[0]!] = r.type === 'ok' && r.result.type === 'batch' ? { type: 'ok', index: r.index, result: r.result.results[0]! } : (r as CommandReply);
    } else if (good.length > 1) {
      // Several commands travel as batch entries: Raft's cost is per entry, not per command.
      const entries: RegistryCommand[] = [];
      for (let k = 0; k < good.length; k += this.commandsPerEntry) {
        entries.push({ c: 'batch', at, commands: good.slice(k, k + this.commandsPerEntry) });
      }
      const replies = await this.propose(entries, 0);
      for (let e = 0; e < entries.length; e++) {
        const r = replies[e]!;
        const base = e * this.commandsPerEntry;
        const count = (entries[e] as BatchCommand).commands.length;
        for (let j = 0; j < count; j++) {
          const pos = where[base + j]!;
          if (r.type !== 'ok') out[pos] = r;
          else if (r.result.type === 'batch') out[pos] = { type: 'ok', index: r.index, result: r.result.results[j]! };
          else out[pos] = { type: 'ok', index: r.index, result: r.result };
        }
      }
    }
    return { type: 'ok', replies: out as CommandReply[] };
  }

  /**
   * Propose on the leader: locally when this node leads (or does not know who
   * does), else through the leader's registry. Commands the local fsm refuses
   * as not_leader were not proposed, so they go on to the leader it names.
   */
  private async propose(cmds: readonly RegistryCommand[], hops: number): Promise<EntryReply[]> {
    const hint = this.leaderHint;
    if (hint !== null && hint !== this.self && hops === 0) return this.forwardPropose(hint, cmds, hops);
    this.counters.proposed += cmds.length;
    const replies = await Promise.all(cmds.map((command) => this.callFsm<ProposeReply<EntryResult>>({ type: 'propose', command })));
    const out: EntryReply[] = [];
    const redo: number[] = [];
    let leader: NodeId | null = null;
    for (let i = 0; i < replies.length; i++) {
      const r = replies[i]!;
      if (r.type === 'not_leader') {
        redo.push(i);
        leader = (r.leader as NodeId | null) ?? leader;
      } else {
        out[i] = proposeOutcome(r);
      }
    }
    if (redo.length === 0) {
      this.leaderHint = this.self;
      return out;
    }
    this.leaderHint = leader;
    if (leader === null || leader === this.self || hops >= registryServerLimits.maxHops) {
      for (const i of redo) out[i] = { type: 'error', error: { code: 'no_leader' } };
      return out;
    }
    const fwd = await this.forwardPropose(leader, redo.map((i) => cmds[i]!), hops);
    for (let j = 0; j < redo.length; j++) out[redo[j]!] = fwd[j]!;
    return out;
  }

  private async forwardPropose(leader: NodeId, cmds: readonly RegistryCommand[], hops: number): Promise<EntryReply[]> {
    this.counters.forwardedOut++;
    const req: Forward = { type: 'forward', hops: hops + 1, op: { k: 'propose', commands: cmds } };
    try {
      const r = await this.ctx.call<EntryReply[] | EntryReply>({ name: this.name, node: leader }, req, { timeout: this.callTimeoutMs });
      if (Array.isArray(r)) return r;
      return cmds.map(() => r);
    } catch (err) {
      // Ask the local fsm next time: the leader may have moved or died.
      this.leaderHint = null;
      const error: RegistryError =
        err instanceof NoProc ? { code: 'not_committed', reason: `no job_registry on ${leader}` } : { code: 'unknown_outcome', reason: errorReason(err) };
      return cmds.map(() => ({ type: 'error', error }));
    }
  }

  /**
   * A linearizable read, served by this node's raft_fsm: on a follower through ReadIndex on a follower (the
   * leader confirms an index, this node answers once it has applied through it), so the query runs here and
   * not on the leader. Forwarded only when this node cannot serve it (no leader known to it, or follower reads
   * off in its Raft config).
   */
  private async read(query: RegistryQuery, hops: number): Promise<QueryReply> {
    const r = await this.callFsm<ReadReply<QueryResult>>({ type: 'read', query });
    switch (r.type) {
      case 'ok':
        return { type: 'ok', index: r.index, result: r.result };
      case 'not_leader':
        this.leaderHint = (r.leader as NodeId | null) ?? null;
        if (r.leader === null || r.leader === this.self || hops >= registryServerLimits.maxHops) return { type: 'error', error: { code: 'no_leader' } };
        return this.forwardRead(r.leader as NodeId, query, hops);
      case 'rejected':
        return { type: 'error', error: { code: 'unavailable', reason: r.reason.type } };
      case 'query_failed':
        return { type: 'error', error: { code: 'query_failed', message: r.message } };
      case 'bad_request':
        return { type: 'error', error: { code: 'bad_request', field: 'query', message: r.reason } };
      case 'stopping':
        return { type: 'error', error: { code: 'stopping' } };
      default: {
        const never: never = r;
        throw new Error(`job_registry: unknown read reply ${JSON.stringify(never)}`);
      }
    }
  }

  private async forwardRead(leader: NodeId, query: RegistryQuery, hops: number): Promise<QueryReply> {
    this.counters.forwardedOut++;
    try {
      return await this.ctx.call<QueryReply>({ name: this.name, node: leader }, { type: 'forward', hops: hops + 1, op: { k: 'read', query } } satisfies Forward, {
        timeout: this.callTimeoutMs,
      });
    } catch (err) {
      this.leaderHint = null;
      return { type: 'error', error: { code: 'unavailable', reason: errorReason(err) } };
    }
  }

  /** Call the local raft_fsm; a failed call becomes the reply that says what is known. */
  private async callFsm<R extends ProposeReply<EntryResult> | ReadReply<QueryResult>>(req: { type: 'propose'; command: unknown } | { type: 'read'; query: unknown }): Promise<R> {
    try {
      return await this.ctx.call<R>(this.fsm, req, { timeout: this.callTimeoutMs });
    } catch (err) {
      if (req.type === 'read') return { type: 'rejected', reason: { type: errorReason(err) } } as unknown as R;
      // A propose that timed out may still commit; one to a dead or absent fsm did not reach it.
      const code = err instanceof NoProc ? 'absent' : 'unknown';
      return (code === 'absent' ? { type: 'rejected', reason: { type: 'fsm_absent' } } : { type: 'unknown', index: 0 }) as unknown as R;
    }
  }

  private localRead(query: RegistryQuery): QueryReply {
    const m = this.handle.machine();
    if (m === null) return { type: 'error', error: { code: 'unavailable', reason: 'raft_fsm has not started on this node' } };
    try {
      return { type: 'ok', index: m.appliedIndex, result: m.query(query) };
    } catch (err) {
      return { type: 'error', error: { code: 'query_failed', message: err instanceof Error ? err.message : String(err) } };
    }
  }

  // ---- subscriptions ----

  private subscribe(pid: Pid, after: number, window: number): SubscribeReply {
    const monitor = this.ctx.monitor(pid);
    const ref = this.ctx.runtime.makeRef();
    this.subs.set(ref, { ref, pid, monitor, after, window, unacked: [] });
    this.pump(this.subs.get(ref)!);
    return { type: 'ok', ref };
  }

  private unsubscribe(ref: Ref): void {
    const s = this.subs.get(ref);
    if (s === undefined) return;
    this.ctx.demonitor(s.monitor, { flush: true });
    this.subs.delete(ref);
  }

  /** Send a subscriber what it has not seen, a page at a time, until it is level with the table or out of credit. */
  private pump(s: Subscription): void {
    const m = this.handle.machine();
    if (m === null) return;
    while (s.unacked.length < s.window) {
      const page = m.query({ q: 'events', after: s.after, limit: this.eventsPage }) as EventsPage;
      if (page.type === 'truncated') {
        this.ctx.send(s.pid, { type: 'job_events_truncated', ref: s.ref, oldest: page.oldest } satisfies SubscriptionMessage);
        this.unsubscribe(s.ref);
        return;
      }
      if (page.events.length > 0) {
        this.ctx.send(s.pid, { type: 'job_events', ref: s.ref, events: page.events, last: page.last } satisfies SubscriptionMessage);
        this.counters.eventsSent += page.events.length;
        s.unacked.push(page.last);
      }
      s.after = page.last;
      if (page.events.length < this.eventsPage) return;
    }
  }

  /** A subscriber's credit: every page through `last` is handled. Unknown refs (a subscription that ended) are ignored. */
  onAck(ack: SubscriptionAck): void {
    const s = this.subs.get(ack.ref);
    if (s === undefined) return;
    let done = 0;
    while (done < s.unacked.length && s.unacked[done]! <= ack.last) done++;
    if (done === 0) return;
    s.unacked.splice(0, done);
    this.pump(s);
  }

  onApplied(): void {
    this.wakeQueued = false;
    for (const s of [...this.subs.values()]) this.pump(s);
  }

  onDown(ref: Ref): void {
    for (const s of this.subs.values()) {
      if (s.monitor === ref) {
        this.subs.delete(s.ref);
        return;
      }
    }
  }

  /** A message no one sends the registry on purpose: counted, for the status. */
  onStray(): void {
    this.counters.malformed++;
  }

  // ---- retention ----

  onPruneTimer(): void {
    const now = this.ctx.runtime.env.wall.epochMs();
    const command = { c: 'prune', at: now, before: now - this.retentionMs, limit: this.pruneBatch } satisfies PruneCommand;
    void this.callFsm<ProposeReply<EntryResult>>({ type: 'propose', command }).then((r) => {
      let again = this.pruneEveryMs;
      if (r.type === 'ok' && r.result.type === 'pruned') {
        this.counters.pruned += r.result.jobs;
        if (r.result.more) again = PRUNE_AGAIN_MS;
      }
      // not_leader and the rest: the leader's own timer does the work.
      this.pruneTimer = this.ctx.sendAfter(again, this.ctx.self, PRUNE);
    });
  }

  stopTimers(): void {
    if (this.pruneTimer !== null) this.ctx.cancelTimer(this.pruneTimer);
    this.pruneTimer = null;
    this.handle.listen(null);
  }

  status(): RegistryStatus {
    let waiting = 0;
    for (const s of this.subs.values()) if (s.unacked.length >= s.window) waiting++;
    return { node: this.self, leaderHint: this.leaderHint, subscribers: this.subs.size, subscribersWaiting: waiting, appliedIndex: this.handle.machine()?.appliedIndex ?? 0, counters: { ...this.counters } };
  }
}

function proposeOutcome(r: Exclude<ProposeReply<EntryResult>, { type: 'not_leader' }>): EntryReply {
  switch (r.type) {
    case 'ok':
      return { type: 'ok', index: r.index, result: r.result };
    case 'rejected':
      return { type: 'error', error: { code: 'not_committed', reason: r.reason.type } };
    case 'lost':
      return { type: 'error', error: { code: 'not_committed', reason: `another leader's entry was committed at index ${r.index}` } };
    case 'unknown':
      return { type: 'error', error: { code: 'unknown_outcome', reason: r.index === 0 ? 'raft_fsm did not answer in time' : `leadership changed before index ${r.index} committed` } };
    case 'bad_request':
      return { type: 'error', error: { code: 'bad_request', field: 'command', message: r.reason } };
    case 'stopping':
      return { type: 'error', error: { code: 'stopping' } };
    default: {
      const never: never = r;
      throw new Error(`job_registry: unknown propose reply ${JSON.stringify(never)}`);
    }
  }
}

function errorReason(err: unknown): string {
  if (err instanceof RuntimeError) return err.code;
  return err instanceof Error ? err.message : String(err);
}

/**
 * job_registry as a gen_server. Start it after raft_fsm, with the same handle
 * raft_fsm was given as its stateMachine factory:
 *   workerSpec('job_registry', jobRegistry, { handle }, { name: JOB_REGISTRY })
 */
export const jobRegistry: ServerBehaviour<RegistryServer, JobRegistryArgs, unknown, unknown, unknown, unknown> = {
  name: 'job_registry',

  init(args, ctx) {
    const name = args.name ?? JOB_REGISTRY;
    for (const [field, v] of Object.entries({ callTimeoutMs: args.callTimeoutMs, retentionMs: args.retentionMs, pruneEveryMs: args.pruneEveryMs, pruneBatch: args.pruneBatch, eventsPage: args.eventsPage, commandsPerEntry: args.commandsPerEntry })) {
      if (v !== undefined && !(Number.isSafeInteger(v) && v > 0)) {
        return stop({ type: 'error', name: 'JobRegistryConfigError', code: 'invalid_config', message: `${field} must be a positive integer, got ${JSON.stringify(v)}` });
      }
    }
    if (ctx.whereis(name) !== ctx.self) ctx.register(name);
    return ok(new RegistryServer(args, ctx));
  },

  handleCall(request, from, state) {
    const r = state.onCall(request, from);
    return r === null ? noreply(state) : reply(r, state);
  },

  handleCast(_msg, state) {
    return noreply(state);
  },

  handleInfo(msg, state) {
    if (msg === APPLIED) state.onApplied();
    else if (msg === PRUNE) state.onPruneTimer();
    else if (isDownMessage(msg)) state.onDown(msg.ref);
    else if (ackCheck.Check(msg)) state.onAck(msg as SubscriptionAck);
    else state.onStray();
    return noreply(state);
  },

  terminate(_reason, state) {
    state.stopTimers();
  },

  introspect: (state) => state.status(),
};

/** Where node `node`'s job_registry is. */
export function registryAt(node: string, name: Name = JOB_REGISTRY): Dest {
  return { name, node };
}
