// The job registry's vocabulary: a job's record and status, the commands that
// travel in the Raft log, what applying one returns, the events it emits and
// the queries it answers. Commands and queries cross the network, so their
// shapes are TypeBox schemas (commands.ts validates them once, at apply); the
// rest are plain types.

declare const jobIdBrand: unique symbol;
/** A job's id: chosen by whoever proposes the submit (a UUID in production), never by the state machine. */
export type JobId = string & { readonly [jobIdBrand]: true };

/**
 * A job's lifecycle (docs/job-lifecycle.md):
 *   pending → dispatched → running → completed
 *                        ↘ failed → (retry: attempt + 1) pending … | dead
 *   any non-terminal → cancelled
 * `redispatch`: `dispatched` → `dispatched` with a new attempt, after a dispatch timeout.
 */
export type JobStatus = 'pending' | 'dispatched' | 'running' | 'failed' | 'completed' | 'dead' | 'cancelled';

export const JOB_STATUSES: readonly JobStatus[] = Object.freeze(['pending', 'dispatched', 'running', 'failed', 'completed', 'dead', 'cancelled']);

export type TerminalStatus = Extract<JobStatus, 'completed' | 'dead' | 'cancelled'>;

export function isTerminal(s: JobStatus): s is TerminalStatus {
  return s === 'completed' || s === 'dead' || s === 'cancelled';
}

/**
 * A status's place within one attempt. With the attempt number it orders every
 * state a job passes through: (attempt, rank) never decreases (a retry raises
 * the attempt and starts again at `pending`), and a terminal status is final.
 */
export const STATUS_RANK: Readonly<Record<JobStatus, number>> = Object.freeze({
  pending: 0,
  dispatched: 1,
  running: 2,
  failed: 3,
  completed: 4,
  dead: 4,
  cancelled: 4,
});

/** Priorities are DistriQueue's integers 1..15 (LOW 1, MEDIUM 5, HIGH 10, CRITICAL 15). */
export const MIN_PRIORITY = 1;
export const MAX_PRIORITY = 15;

export type JsonObject = { readonly [k: string]: unknown };

/** One job as every member stores it. Times are epoch milliseconds taken from the commands, never from a clock. */
export interface Job {
  readonly id: JobId;
  readonly type: string;
  readonly priority: number;
  readonly payload: JsonObject;
  readonly status: JobStatus;
  /** The current attempt, from 1. Every status-changing command names it; a stale one changes nothing. */
  readonly attempt: number;
  /** Retries scheduled so far (DistriQueue's retry_count). */
  readonly retries: number;
  readonly maxRetries: number;
  /** Execution timeout in seconds (DistriQueue's execution_timeout). */
  readonly timeoutS: number;
  readonly worker: string | null;
  /** 0..100 while running, from progress reports. */
  readonly progress: number | null;
  readonly result: unknown;
  /** The last failure's error (kept through a retry, as DistriQueue's error_message is, until the next failure). */
  readonly error: string | null;
  /**
   * The last failure was an execution timeout (a `fail` with `timeout: true`): the
   * wire shows a failed or dead job so as TIMEOUT. Kept and replaced with `error`.
   */
  readonly timedOut: boolean;
  readonly idempotencyKey: string | null;
  readonly metadata: { readonly [k: string]: string };
  readonly parentId: string | null;
  readonly createdAt: number;
  readonly updatedAt: number;
  /** Not dispatched before this time (a retry's backoff, or a scheduled submit). */
  readonly runAt: number;
  readonly dispatchedAt: number | null;
  readonly startedAt: number | null;
  readonly finishedAt: number | null;
}

/** A job without its payload and metadata: what the transitions read and change. */
export type JobHead = Omit<Job, 'payload' | 'metadata'>;

// ---------------------------------------------------------------------------
// Commands (the static types; the schemas are in commands.ts)

interface Base {
  /** A plain string on the way in (commands come off the network); the job's JobId once stored. */
  readonly id: string;
  /** The proposer's clock when it proposed: the only time the state machine uses. */
  readonly at: number;
}

export interface SubmitCommand extends Base {
  readonly c: 'submit';
  readonly type: string;
  readonly priority: number;
  readonly payload?: JsonObject;
  readonly maxRetries?: number;
  readonly timeoutS?: number;
  readonly metadata?: { readonly [k: string]: string };
  readonly parentId?: string;
  /** The same key always yields the same job (the first submit's), whatever the later submits carry. */
  readonly idempotencyKey?: string;
  /** Not before this time (default: `at`). */
  readonly runAt?: number;
}

/** pending → dispatched (same attempt). On a job already dispatched in this attempt: a duplicate, unchanged. */
export interface DispatchCommand extends Base {
  readonly c: 'dispatch';
  readonly attempt: number;
}

/**
 * dispatched → dispatched with attempt + 1: the router gave up on the message
 * (dispatch timeout) and sends the job again; the new attempt fences the old
 * one out. A repeat names the old attempt and is stale, so it never stacks.
 */
export interface RedispatchCommand extends Base {
  readonly c: 'redispatch';
  readonly attempt: number;
}

export interface StartCommand extends Base {
  readonly c: 'start';
  readonly attempt: number;
  readonly worker: string;
}

export interface ProgressCommand extends Base {
  readonly c: 'progress';
  readonly attempt: number;
  readonly worker?: string;
  readonly progress: number;
}

export interface CompleteCommand extends Base {
  readonly c: 'complete';
  readonly attempt: number;
  readonly worker?: string;
  readonly result?: unknown;
}

export interface FailCommand extends Base {
  readonly c: 'fail';
  readonly attempt: number;
  readonly worker?: string;
  readonly error: string;
  /** true: the attempt ran past its execution timeout (the router's sweep proposes this; DistriQueue's TIMEOUT). */
  readonly timeout?: boolean;
}

/** failed → pending with attempt + 1, not before `runAt` (the router's backoff). */
export interface RetryCommand extends Base {
  readonly c: 'retry';
  readonly attempt: number;
  readonly runAt: number;
}

/** failed → dead (dead-lettered). */
export interface DeadCommand extends Base {
  readonly c: 'dead';
  readonly attempt: number;
  readonly reason?: string;
}

/** Any non-terminal status → cancelled. `attempt`, when given, must be the current one. */
export interface CancelCommand extends Base {
  readonly c: 'cancel';
  readonly attempt?: number;
  readonly reason?: string;
}

/** Retention: remove up to `limit` terminal jobs finished before `before`, and events older than it. */
export interface PruneCommand {
  readonly c: 'prune';
  readonly at: number;
  readonly before: number;
  readonly limit: number;
}

export type JobCommand = DispatchCommand | RedispatchCommand | StartCommand | ProgressCommand | CompleteCommand | FailCommand | RetryCommand | DeadCommand | CancelCommand;

/**
 * Many job commands in ONE log entry, applied in order, each on its own (one
 * may be rejected while the next applies). Raft's cost is per entry, so this is
 * how a burst of submits and reports reaches tens of thousands per second.
 */
/**
 * A command inside a batch entry: its time is the batch's `at`, unless it carries its own (batch entries logged
 * before the sixth session did; job_registry now never sends one).
 */
export type BatchedCommand = SubmitCommand | JobCommand extends infer T ? (T extends unknown ? Omit<T, 'at'> & { readonly at?: number } : never) : never;

export interface BatchCommand {
  readonly c: 'batch';
  /**
   * When the batch was proposed: the time of each command in it that has none of its own. Once per entry,
   * not once per command: a 13-digit time is a heap number, ≈ 4× dearer to serialise than the rest of a
   * dispatch command, and every member serialises or parses each entry (docs/job-lifecycle.md, Batch entries).
   */
  readonly at?: number;
  readonly commands: readonly BatchedCommand[];
}

export type RegistryCommand = SubmitCommand | JobCommand | PruneCommand | BatchCommand;
export type CommandName = RegistryCommand['c'];

// ---------------------------------------------------------------------------
// Results

/** Why a command changed nothing. Stable codes: docs/job-lifecycle.md lists them; never reuse a retired one. */
export type Rejection =
  | { readonly code: 'invalid_command'; readonly field: string; readonly message: string }
  | { readonly code: 'not_found'; readonly id: string }
  /** The command names another attempt than the job's current one (a worker or router that lost the job). */
  | { readonly code: 'stale_attempt'; readonly attempt: number; readonly current: number }
  /** The job's status does not allow this command (e.g. a late `start` after `complete`). */
  | { readonly code: 'illegal_transition'; readonly from: JobStatus; readonly command: CommandName }
  /** Another worker already started this attempt. */
  | { readonly code: 'worker_mismatch'; readonly worker: string; readonly current: string | null }
  | { readonly code: 'retries_exhausted'; readonly retries: number; readonly maxRetries: number }
  /** A submit whose id names a job submitted under another idempotency key (`jobKey`; null: none). */
  | { readonly code: 'idempotency_conflict'; readonly id: string; readonly key: string; readonly jobKey: string | null };

export type RejectionCode = Rejection['code'];

export type CommandResult =
  | {
      readonly type: 'ok';
      readonly id: JobId;
      readonly status: JobStatus;
      readonly attempt: number;
      /** false: the command repeated what was already applied (a duplicate report, an idempotent submit). */
      readonly changed: boolean;
      /** submit only: false when the id or idempotency key already named a job. */
      readonly created?: boolean;
    }
  | { readonly type: 'pruned'; readonly jobs: number; readonly events: number; readonly more: boolean }
  | { readonly type: 'rejected'; readonly reason: Rejection };

/** What applying an entry returns: a batch entry gives one result per command, in order. */
export type EntryResult = CommandResult | { readonly type: 'batch'; readonly results: readonly CommandResult[] };

// ---------------------------------------------------------------------------
// Events: one per applied transition, numbered by the Raft log index

export type EventKind = 'submitted' | 'dispatched' | 'started' | 'progress' | 'completed' | 'failed' | 'retry_scheduled' | 'dead' | 'cancelled' | 'pruned';

export interface JobEvent {
  /** The log index of the entry that made it: never decreasing, the same on every member. */
  readonly seq: number;
  /**
   * Its place among the events of that entry (0 for a single command; a batch
   * entry's events count up). The feed is ordered by (seq, n), and an entry's
   * events are applied and served together, so resuming after a seq is exact.
   */
  readonly n: number;
  readonly at: number;
  readonly kind: EventKind;
  /** null for `pruned`. */
  readonly jobId: JobId | null;
  readonly status: JobStatus | null;
  readonly attempt: number | null;
  readonly worker: string | null;
  /** Kind-specific detail: progress, error, the retry's runAt, the number pruned. */
  readonly detail: JsonObject | null;
}

// ---------------------------------------------------------------------------
// Queries

export interface ListFilter {
  readonly status?: JobStatus;
  readonly type?: string;
  readonly priority?: number;
  readonly worker?: string;
  /** Inclusive bounds on createdAt. */
  readonly createdFrom?: number;
  readonly createdTo?: number;
}

export type RegistryQuery =
  | { readonly q: 'get'; readonly id: string }
  | { readonly q: 'byKey'; readonly key: string }
  | { readonly q: 'list'; readonly filter?: ListFilter; readonly limit?: number; readonly cursor?: string; readonly order?: 'asc' | 'desc' }
  | { readonly q: 'stats'; readonly now: number; readonly windowMs?: number }
  | { readonly q: 'events'; readonly after: number; readonly limit?: number }
  /** Pending jobs whose runAt has come, oldest first (the router's work list; RabbitMQ orders by priority). */
  | { readonly q: 'due'; readonly now: number; readonly limit?: number }
  /** Dispatched or running jobs whose clock started before `before` (dispatch and execution timeouts). */
  | { readonly q: 'overdue'; readonly status: 'dispatched' | 'running'; readonly before: number; readonly limit?: number };

export interface ListPage {
  readonly jobs: readonly Job[];
  /** Pass back as `cursor` for the next page; null at the end. */
  readonly next: string | null;
}

export interface RegistryStats {
  readonly total: number;
  readonly byStatus: Readonly<Record<JobStatus, number>>;
  readonly byPriority: Readonly<Record<string, number>>;
  /** Jobs completed in the last `windowMs` before `now`, per second. */
  readonly throughputPerS: number;
  readonly windowMs: number;
  /** Mean of startedAt − createdAt over every start applied (ms); null before the first. */
  readonly meanQueueMs: number | null;
  /** Mean of finishedAt − startedAt over every completion or failure of a started job (ms); null before the first. */
  readonly meanRunMs: number | null;
  /** The last log index applied: the sequence number the next event will exceed. */
  readonly appliedIndex: number;
}

export type EventsPage =
  | { readonly type: 'events'; readonly events: readonly JobEvent[]; readonly last: number; readonly appliedIndex: number }
  /** `after` is older than what retention kept: resume from `oldest - 1` after re-reading the jobs. */
  | { readonly type: 'truncated'; readonly oldest: number; readonly appliedIndex: number };

export type QueryResult = Job | null | ListPage | RegistryStats | EventsPage | readonly Job[];

export const QUERY_LIMITS = Object.freeze({ defaultListLimit: 50, maxListLimit: 1000, defaultEventsLimit: 1000, maxEventsLimit: 10_000 });
