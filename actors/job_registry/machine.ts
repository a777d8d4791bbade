// The job registry as a replicated state machine: raft_fsm hands it every
// committed entry in log order (StateMachine.apply), and it validates the
// command (schema.ts), decides the transition (transitions.ts, pure), writes
// the rows and the event numbered by the entry's log index (store.ts), and
// keeps the running counters the statistics need. Every member applies the
// same entries to the same state and so holds the same tables and the same
// event feed; nothing here reads a clock (times come in the commands).
//
// raft_fsm owns the machine (it is the only writer, from inside its process);
// the job_registry process on the same node reads it directly for local,
// possibly stale reads, as Erlang processes read an ETS table another owns.
import type { StateMachine } from '../raft/fsm.js';
import type { LogEntry } from '../raft/types.js';
import { checkCommand, checkInBatch, checkQuery, registryLimits } from './schema.js';
import { CursorError, DEFAULT_MAX_CACHED_JOBS, DEFAULT_WRITE_BEHIND_JOBS, RegistryStore, type RegistryStoreOptions, decodeCursor } from './store.js';
import { type Decision, type RegistryUnsafe, decide, decideSubmit } from './transitions.js';
import type { BatchCommand, BatchedCommand, CommandResult, EntryResult, JobEvent, JobHead, RegistryCommand, JobStatus, PruneCommand, QueryResult, RegistryQuery, RegistryStats, SubmitCommand, JobId } from './types.js';
import { JOB_STATUSES, QUERY_LIMITS } from './types.js';

/** A query the registry refuses: a bad shape or cursor. raft_fsm reports it to the caller as `query_failed`. */
export class RegistryQueryError extends Error {
  readonly code: 'invalid_query' | 'invalid_cursor';
  readonly field: string;
  constructor(code: 'invalid_query' | 'invalid_cursor', field: string, message: string) {
    super(`${code}: ${field === '' ? '' : `${field}: `}${message}`);
    this.name = 'RegistryQueryError';
    this.code = code;
    this.field = field;
  }
}

export interface RegistryMachineOptions {
  /** Told of every event once it is applied (at the end of its batch, when the fsm batches). */
  readonly onEvents?: (events: readonly JobEvent[]) => void;
  /**
   * Told, without them, that events were applied (once a batch, or an entry applied on its own, is committed).
   * For a reader that reads the feed from the store anyway (the job_registry process): without onEvents, the
   * machine builds no event objects at all, only the rows.
   */
  readonly onApplied?: () => void;
  readonly unsafe?: RegistryUnsafe;
  /** Jobs whose SQLite writes may wait in memory across batches (store.ts, DEFAULT_WRITE_BEHIND_JOBS); 0: write every batch. */
  readonly writeBehindJobs?: number;
  /** Where the tables live: in memory (default) or a scratch file (store.ts, RegistryStoreOptions). */
  readonly store?: Pick<RegistryStoreOptions, 'file' | 'cacheMiB'>;
}

/** What the statistics keep besides the rows; saved in the snapshot. */
interface Counters {
  byStatus: Record<JobStatus, number>;
  byPriority: Record<string, number>;
  queueMsSum: number;
  queueN: number;
  runMsSum: number;
  runN: number;
  /** The last log index applied. */
  applied: number;
  /** The highest event seq retention removed (0: none): the feed holds every event after it. */
  eventsFloor: number;
}

const zeroCounters = (): Counters => ({
  byStatus: Object.fromEntries(JOB_STATUSES.map((s) => [s, 0])) as Record<JobStatus, number>,
  byPriority: {},
  queueMsSum: 0,
  queueN: 0,
  runMsSum: 0,
  runN: 0,
  applied: 0,
  eventsFloor: 0,
});

const COUNTERS_KEY = 'counters';
/** What commit returns when the entry's result is not wanted (apply then returns null: this never escapes). */
const UNREAD: CommandResult = Object.freeze({ type: 'ok', id: '' as JobId, status: 'pending', attempt: 0, changed: true });
const DEFAULT_THROUGHPUT_WINDOW_MS = 60_000;

export class RegistryMachine implements StateMachine<EntryResult | null, unknown, QueryResult> {
  private readonly store: RegistryStore;
  private counters = zeroCounters();
  private readonly unsafe: RegistryUnsafe;
  private readonly onEvents: ((events: readonly JobEvent[]) => void) | null;
  private readonly onApplied: (() => void) | null;
  /** Inside batch(): its applies are told of once, at its end. */
  private inBatch = false;
  /** Events were made since the last telling. */
  private madeEvents = false;
  /** Events applied in the current batch, told to onEvents once it is committed. */
  private batched: JobEvent[] | null = null;
  /** The next event's place within the entry being applied. */
  private eventN = 0;
  /** The entry being applied has a reader for its result (see apply). */
  private resultWanted = true;

  constructor(opts: RegistryMachineOptions = {}) {
    this.store = new RegistryStore({ ...opts.store, maxCachedJobs: DEFAULT_MAX_CACHED_JOBS, writeBehindJobs: opts.writeBehindJobs ?? DEFAULT_WRITE_BEHIND_JOBS });
    this.unsafe = opts.unsafe ?? {};
    this.onEvents = opts.onEvents ?? null;
    this.onApplied = opts.onApplied ?? null;
  }

  get appliedIndex(): number {
    return this.counters.applied;
  }

  // ---- StateMachine ----

  /**
   * `resultWanted` false (raft_fsm: nobody waits for this entry, as on a follower): the same changes, but no
   * result is built, and null is returned. A follower applies every lifecycle command the leader does; the
   * result objects it would build for nobody were a tenth of its allocations in the cluster benchmark.
   */
  apply(entry: LogEntry, resultWanted = true): EntryResult | null {
    // Inside batch() this joins its transaction; on its own, the entry is one.
    this.resultWanted = resultWanted;
    const result = this.store.transaction(() => this.applyEntry(entry));
    if (!this.inBatch) this.tellApplied();
    return resultWanted ? result : null;
  }

  private applyEntry(entry: LogEntry): EntryResult | null {
    this.counters.applied = entry.index;
    this.eventN = 0;
    if (entry.kind !== 'command') return null;
    const checked = checkCommand(entry.data);
    if (!checked.ok) return { type: 'rejected', reason: { code: 'invalid_command', field: checked.field, message: checked.message } };
    const c = checked.value;
    if (c.c !== 'batch') return this.applyOne(c, entry.index, c.at);
    if (!this.resultWanted) {
      for (let i = 0; i < c.commands.length; i++) this.applyBatched(c, i, entry.index);
      return null;
    }
    const results: CommandResult[] = [];
    for (let i = 0; i < c.commands.length; i++) results.push(this.applyBatched(c, i, entry.index));
    return { type: 'batch', results };
  }

  /** The i-th command of a batch, checked on its own (a bad one is rejected, naming its place) and applied at its time. */
  private applyBatched(b: BatchCommand, i: number, seq: number): CommandResult {
    const inner = checkInBatch(b.commands[i], b.at);
    if (!inner.ok) return invalid(inner.field === '' ? `commands.${i}` : `commands.${i}.${inner.field}`, inner.message);
    return this.applyOne(inner.value.command, seq, inner.value.at);
  }

  /** `at`: the command's time (its own, or its batch's). */
  private applyOne(c: Exclude<RegistryCommand, BatchCommand> | BatchedCommand, seq: number, at: number): CommandResult {
    switch (c.c) {
      case 'submit':
        return this.submit(c, seq, at);
      case 'prune':
        return this.prune(c, seq);
      default:
        return this.commit(decide(this.store.head(c.id), c, this.unsafe, at), seq, at, null);
    }
  }

  batch(applyAll: () => void): void {
    const events: JobEvent[] = [];
    this.batched = this.onEvents === null ? null : events;
    this.inBatch = true;
    try {
      this.store.transaction(applyAll);
    } finally {
      this.batched = null;
      this.inBatch = false;
    }
    // Only a committed batch is told (a throw above crashes the owner, which rebuilds from the log).
    if (events.length > 0 && this.onEvents !== null) this.onEvents(events);
    this.tellApplied();
  }

  private tellApplied(): void {
    if (!this.madeEvents) return;
    this.madeEvents = false;
    this.onApplied?.();
  }

  query(raw: unknown): QueryResult {
    const checked = checkQuery(raw);
    if (!checked.ok) throw new RegistryQueryError('invalid_query', checked.field, checked.message);
    return this.read(checked.value);
  }

  snapshot(): string {
    this.store.setMeta(COUNTERS_KEY, JSON.stringify(this.counters));
    return this.store.serialize().toString('base64');
  }

  restore(data: string): void {
    this.store.restore(Buffer.from(data, 'base64'));
    const saved = this.store.getMeta(COUNTERS_KEY);
    this.counters = saved === null ? zeroCounters() : (JSON.parse(saved) as Counters);
  }

  close(): void {
    this.store.close();
  }

  // ---- applying ----

  private submit(c: SubmitCommand | Extract<BatchedCommand, { c: 'submit' }>, index: number, at: number): CommandResult {
    const payload = JSON.stringify(c.payload ?? {});
    if (payload.length > registryLimits.maxPayloadChars) return invalid('payload', `larger than ${registryLimits.maxPayloadChars} JSON characters`);
    const existing = this.store.head(c.id) ?? (c.idempotencyKey === undefined ? null : this.store.headByKey(c.idempotencyKey));
    return this.commit(decideSubmit(existing, c, at), index, at, payload);
  }

  /** Write a decision: the row, the event (seq = the entry's index) and the counters. */
  private commit(d: Decision, seq: number, at: number, payload: string | null): CommandResult {
    switch (d.type) {
      case 'reject':
        return { type: 'rejected', reason: d.reason };
      case 'unchanged':
        return { type: 'ok', id: d.job.id, status: d.job.status, attempt: d.job.attempt, changed: false, ...(payload === null ? {} : { created: false }) };
      case 'insert': {
        const j = d.job;
        this.store.insert(j, payload ?? JSON.stringify(j.payload));
        this.count(j.status, j.priority, 1);
        this.emit(seq, at, d.event.kind, j.id, j.status, j.attempt, j.worker, d.event.detail);
        return this.resultWanted ? { type: 'ok', id: j.id, status: j.status, attempt: j.attempt, changed: true, created: true } : UNREAD;
      }
      case 'update': {
        const { before, job: j } = d;
        let result: string | null = null;
        if (j.result !== null) {
          result = JSON.stringify(j.result);
          if (result.length > registryLimits.maxPayloadChars) return invalid('result', `larger than ${registryLimits.maxPayloadChars} JSON characters`);
        }
        this.store.update(before, j, result);
        this.count(before.status, before.priority, -1);
        this.count(j.status, j.priority, 1);
        this.measure(before, j);
        this.emit(seq, at, d.event.kind, j.id, j.status, j.attempt, j.worker, d.event.detail);
        return this.resultWanted ? { type: 'ok', id: j.id, status: j.status, attempt: j.attempt, changed: true } : UNREAD;
      }
      default: {
        const never: never = d;
        throw new Error(`job_registry: unknown decision ${JSON.stringify(never)}`);
      }
    }
  }

  private prune(c: PruneCommand, seq: number): CommandResult {
    const jobs = this.store.pruneJobs(c.before, c.limit);
    for (const r of jobs.removed) this.count(r.status, r.priority, -1);
    const events = this.store.pruneEvents(c.before, c.limit);
    if (events.through > 0) this.counters.eventsFloor = events.through;
    if (jobs.removed.length > 0 || events.removed > 0) {
      this.emit(seq, c.at, 'pruned', null, null, null, null, { jobs: jobs.removed.length, events: events.removed, before: c.before });
    }
    return { type: 'pruned', jobs: jobs.removed.length, events: events.removed, more: jobs.more || events.more };
  }

  private count(status: JobStatus, priority: number, by: 1 | -1): void {
    const c = this.counters;
    c.byStatus[status] += by;
    const p = String(priority);
    const n = (c.byPriority[p] ?? 0) + by;
    if (n === 0) delete c.byPriority[p];
    else c.byPriority[p] = n;
  }

  /** Queue time when an attempt starts; run time when a started attempt ends. Clock skew between proposers is clamped. */
  private measure(before: JobHead, j: JobHead): void {
    const c = this.counters;
    if (before.startedAt === null && j.startedAt !== null) {
      c.queueMsSum += Math.max(0, j.startedAt - j.createdAt);
      c.queueN++;
    }
    if (before.finishedAt === null && j.finishedAt !== null && j.startedAt !== null && (j.status === 'completed' || j.status === 'failed')) {
      c.runMsSum += Math.max(0, j.finishedAt - j.startedAt);
      c.runN++;
    }
  }

  /**
   * The event is built here, as one literal: every event then shares one
   * hidden class (an object spread gave each its own, so reading one was a
   * property-lookup miss every time).
   */
  private emit(seq: number, at: number, kind: JobEvent['kind'], jobId: JobEvent['jobId'], status: JobEvent['status'], attempt: number | null, worker: string | null, detail: JobEvent['detail']): void {
    const n = this.eventN++;
    this.store.addEvent(seq, n, at, kind, jobId, status, attempt, worker, detail);
    this.madeEvents = true;
    if (this.onEvents === null) return;
    const e: JobEvent = { seq, n, at, kind, jobId, status, attempt, worker, detail };
    if (this.batched !== null) this.batched.push(e);
    else this.onEvents([e]);
  }

  // ---- reading ----

  private read(q: RegistryQuery): QueryResult {
    switch (q.q) {
      case 'get':
        return this.store.get(q.id);
      case 'byKey':
        return this.store.byKey(q.key);
      case 'list': {
        let cursor = null;
        if (q.cursor !== undefined) {
          try {
            cursor = decodeCursor(q.cursor);
          } catch (e) {
            if (e instanceof CursorError) throw new RegistryQueryError('invalid_cursor', 'cursor', e.message);
            throw e;
          }
        }
        return this.store.list(q.filter ?? {}, clampLimit(q.limit, QUERY_LIMITS.defaultListLimit, QUERY_LIMITS.maxListLimit), cursor, q.order ?? 'desc');
      }
      case 'stats':
        return this.stats(q.now, q.windowMs ?? DEFAULT_THROUGHPUT_WINDOW_MS);
      case 'events':
        return this.store.eventsPage(q.after, clampLimit(q.limit, QUERY_LIMITS.defaultEventsLimit, QUERY_LIMITS.maxEventsLimit), this.counters.eventsFloor, this.counters.applied);
      case 'due':
        return this.store.due(q.now, clampLimit(q.limit, QUERY_LIMITS.defaultListLimit, QUERY_LIMITS.maxListLimit));
      case 'overdue':
        return this.store.overdue(q.status, q.before, clampLimit(q.limit, QUERY_LIMITS.defaultListLimit, QUERY_LIMITS.maxListLimit));
      default: {
        const never: never = q;
        throw new Error(`job_registry: unknown query ${JSON.stringify(never)}`);
      }
    }
  }

  private stats(now: number, windowMs: number): RegistryStats {
    const c = this.counters;
    let total = 0;
    for (const s of JOB_STATUSES) total += c.byStatus[s];
    return {
      total,
      byStatus: { ...c.byStatus },
      byPriority: { ...c.byPriority },
      throughputPerS: (this.store.completedBetween(now - windowMs, now) * 1000) / windowMs,
      windowMs,
      meanQueueMs: c.queueN === 0 ? null : c.queueMsSum / c.queueN,
      meanRunMs: c.runN === 0 ? null : c.runMsSum / c.runN,
      appliedIndex: c.applied,
    };
  }
}

function invalid(field: string, message: string): CommandResult {
  return { type: 'rejected', reason: { code: 'invalid_command', field, message } };
}

function clampLimit(limit: number | undefined, dflt: number, max: number): number {
  return Math.min(limit ?? dflt, max);
}
