// The job state machine's pure core: given a job as stored (or null) and a
// validated command, decide what changes. No I/O, no clock: the command's `at`
// is the only time used, so every member decides the same thing for the same
// log entry. The store (store.ts) writes what is decided; the machine
// (machine.ts) numbers the event with the entry's log index.
//
// Fencing: every command that changes a job's status names the attempt it is
// about. A command for another attempt (a worker that lost its job to a
// re-dispatch, a router that stopped leading) is rejected and changes nothing,
// and a terminal status is final, so no late or duplicated report can complete
// a job twice or bring a cancelled one back.
import type { BatchedCommand, CommandName, EventKind, Job, JobCommand, JobHead, JobId, JsonObject, Rejection, SubmitCommand } from './types.js';
import { isTerminal } from './types.js';

/** Test switches that break the registry on purpose, to prove the simulator's checkers catch it. Never set in production. */
export interface RegistryUnsafe {
  /** Apply status changes whatever attempt they name. */
  readonly skipAttemptCheck?: boolean;
}

export type Decision =
  | { readonly type: 'reject'; readonly reason: Rejection }
  /** Already so: a duplicate report or an idempotent submit. Nothing is written and no event is emitted. */
  | { readonly type: 'unchanged'; readonly job: JobHead }
  | { readonly type: 'insert'; readonly job: Job; readonly event: EventDraft }
  | { readonly type: 'update'; readonly before: JobHead; readonly job: JobHead; readonly event: EventDraft };

export interface EventDraft {
  readonly kind: EventKind;
  readonly detail: JsonObject | null;
}

export const SUBMIT_DEFAULTS = Object.freeze({ maxRetries: 3, timeoutS: 300 });

/** A command's time: its own `at`, which a command outside a batch always has (a missing one is a bug here). */
function timeOf(c: { readonly at?: number }): number {
  if (c.at === undefined) throw new Error('job_registry: a command without a time');
  return c.at;
}

/**
 * A submit: `existing` is the job the command's id or idempotency key already names, if any (the id's first).
 * `at`: the command's time (a batched command takes its batch's).
 */
export function decideSubmit(existing: JobHead | null, c: SubmitCommand | Extract<BatchedCommand, { c: 'submit' }>, at: number = timeOf(c)): Decision {
  if (existing !== null) {
    // The id names a job submitted under another key (or none): not a retry of that submit, and answering with
    // that job would give this key a job that does not hold it.
    if (existing.id === c.id && c.idempotencyKey !== undefined && existing.idempotencyKey !== c.idempotencyKey) {
      return { type: 'reject', reason: { code: 'idempotency_conflict', id: c.id, key: c.idempotencyKey, jobKey: existing.idempotencyKey } };
    }
    return { type: 'unchanged', job: existing };
  }
  const job: Job = {
    id: c.id as JobId,
    type: c.type,
    priority: c.priority,
    payload: c.payload ?? {},
    status: 'pending',
    attempt: 1,
    retries: 0,
    maxRetries: c.maxRetries ?? SUBMIT_DEFAULTS.maxRetries,
    timeoutS: c.timeoutS ?? SUBMIT_DEFAULTS.timeoutS,
    worker: null,
    progress: null,
    result: null,
    error: null,
    timedOut: false,
    idempotencyKey: c.idempotencyKey ?? null,
    metadata: c.metadata ?? {},
    parentId: c.parentId ?? null,
    createdAt: at,
    updatedAt: at,
    runAt: c.runAt ?? at,
    dispatchedAt: null,
    startedAt: null,
    finishedAt: null,
  };
  return { type: 'insert', job, event: { kind: 'submitted', detail: null } };
}

const illegal = (job: JobHead, command: CommandName): Decision => ({ type: 'reject', reason: { code: 'illegal_transition', from: job.status, command } });

/** A worker named by a report must be the one that started the attempt (when one did). */
function workerClash(job: JobHead, worker: string | undefined): Decision | null {
  if (worker === undefined || job.worker === null || job.worker === worker) return null;
  return { type: 'reject', reason: { code: 'worker_mismatch', worker, current: job.worker } };
}

function update(before: JobHead, job: JobHead, kind: EventKind, detail: JsonObject | null = null): Decision {
  return { type: 'update', before, job, event: { kind, detail } };
}

/** Any command on an existing job. `job` is null when the id names none. `at`: as for decideSubmit. */
export function decide(job: JobHead | null, c: JobCommand | Exclude<BatchedCommand, { c: 'submit' }>, unsafe: RegistryUnsafe = {}, at: number = timeOf(c)): Decision {
  if (job === null) return { type: 'reject', reason: { code: 'not_found', id: c.id } };
  if (c.attempt !== undefined && c.attempt !== job.attempt && unsafe.skipAttemptCheck !== true) {
    return { type: 'reject', reason: { code: 'stale_attempt', attempt: c.attempt, current: job.attempt } };
  }
  switch (c.c) {
    case 'dispatch':
      if (job.status === 'pending') return update(job, { ...job, status: 'dispatched', dispatchedAt: at, updatedAt: at }, 'dispatched');
      // The router proposed it again (its first answer was lost): the same dispatch, not a new attempt.
      if (job.status === 'dispatched') return { type: 'unchanged', job };
      return illegal(job, c.c);
    case 'redispatch':
      // After a dispatch timeout: the message may be lost, so a new attempt fences the old one out.
      if (job.status === 'dispatched') return update(job, { ...job, attempt: job.attempt + 1, dispatchedAt: at, updatedAt: at }, 'dispatched', { redispatch: true });
      return illegal(job, c.c);
    case 'start':
      if (job.status === 'dispatched') return update(job, { ...job, status: 'running', worker: c.worker, progress: 0, startedAt: at, updatedAt: at }, 'started');
      if (job.status === 'running') return workerClash(job, c.worker) ?? { type: 'unchanged', job };
      return illegal(job, c.c);
    case 'progress': {
      if (job.status !== 'running') return illegal(job, c.c);
      const clash = workerClash(job, c.worker);
      if (clash !== null) return clash;
      if (job.progress === c.progress) return { type: 'unchanged', job };
      return update(job, { ...job, progress: c.progress, updatedAt: at }, 'progress', { progress: c.progress });
    }
    case 'complete': {
      if (job.status === 'completed') return { type: 'unchanged', job };
      if (job.status !== 'dispatched' && job.status !== 'running') return illegal(job, c.c);
      const clash = workerClash(job, c.worker);
      if (clash !== null) return clash;
      return update(job, { ...job, status: 'completed', worker: job.worker ?? c.worker ?? null, progress: 100, result: c.result ?? null, finishedAt: at, updatedAt: at }, 'completed');
    }
    case 'fail': {
      if (job.status === 'failed') return { type: 'unchanged', job };
      if (job.status !== 'dispatched' && job.status !== 'running') return illegal(job, c.c);
      const clash = workerClash(job, c.worker);
      if (clash !== null) return clash;
      const timedOut = c.timeout === true;
      return update(job, { ...job, status: 'failed', worker: job.worker ?? c.worker ?? null, error: c.error, timedOut, finishedAt: at, updatedAt: at }, 'failed', timedOut ? { error: c.error, timeout: true } : { error: c.error });
    }
    case 'retry':
      if (job.status !== 'failed') return illegal(job, c.c);
      if (job.retries >= job.maxRetries) return { type: 'reject', reason: { code: 'retries_exhausted', retries: job.retries, maxRetries: job.maxRetries } };
      return update(
        job,
        {
          ...job,
          status: 'pending',
          attempt: job.attempt + 1,
          retries: job.retries + 1,
          runAt: c.runAt,
          worker: null,
          progress: null,
          result: null,
          dispatchedAt: null,
          startedAt: null,
          finishedAt: null,
          updatedAt: at,
        },
        'retry_scheduled',
        { runAt: c.runAt },
      );
    case 'dead':
      if (job.status === 'dead') return { type: 'unchanged', job };
      if (job.status !== 'failed') return illegal(job, c.c);
      return update(job, { ...job, status: 'dead', error: c.reason ?? job.error, finishedAt: at, updatedAt: at }, 'dead', c.reason === undefined ? null : { reason: c.reason });
    case 'cancel':
      if (job.status === 'cancelled') return { type: 'unchanged', job };
      if (isTerminal(job.status)) return illegal(job, c.c);
      return update(job, { ...job, status: 'cancelled', finishedAt: at, updatedAt: at }, 'cancelled', c.reason === undefined ? null : { reason: c.reason });
    default: {
      const never: never = c;
      throw new Error(`job_registry: unknown command ${JSON.stringify(never)}`);
    }
  }
}
