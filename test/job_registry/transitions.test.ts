// The job lifecycle's pure core (transitions.ts), decision by decision: the
// whole (status × command) table, attempt fencing, duplicate reports, retries
// and re-dispatches, worker checks, and a property over random command
// sequences that (attempt, STATUS_RANK) never goes back and a terminal status
// is final. docs/job-lifecycle.md has the same table; keep them in agreement.
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { type Decision, SUBMIT_DEFAULTS, decide, decideSubmit } from '../../actors/job_registry/transitions.js';
import type { Job, JobCommand, JobHead, JobId, JobStatus, SubmitCommand } from '../../actors/job_registry/types.js';
import { JOB_STATUSES, STATUS_RANK, isTerminal } from '../../actors/job_registry/types.js';

// ---- fixtures ----

const ID = 'job-1' as JobId;
const T0 = 1_000_000;
/** When the command under test is proposed. */
const AT = T0 + 5_000;
/** The fixtures' current attempt: 2, so a stale attempt can be one lower as well as one higher. */
const CURRENT = 2;

type JobCommandName = JobCommand['c'];
const JOB_COMMANDS: readonly JobCommandName[] = ['dispatch', 'redispatch', 'start', 'progress', 'complete', 'fail', 'retry', 'dead', 'cancel'];

const submitCmd = (over: Partial<SubmitCommand> = {}): SubmitCommand => ({ c: 'submit', id: ID, at: T0, type: 'email', priority: 5, ...over });

function head(job: Job): JobHead {
  const { payload: _p, metadata: _m, ...h } = job;
  return h;
}

function inserted(d: Decision): Job {
  if (d.type !== 'insert') throw new Error(`expected an insert, got ${d.type}`);
  return d.job;
}

/** A job as it stands in `status` at attempt CURRENT, frozen so that a decision that mutated it would throw. */
function jobIn(status: JobStatus, over: Partial<JobHead> = {}): JobHead {
  const fresh: JobHead = { ...head(inserted(decideSubmit(null, submitCmd()))), attempt: CURRENT, retries: 1 };
  const dispatched = { ...fresh, status, dispatchedAt: T0 + 100, updatedAt: T0 + 100 };
  const started = { ...dispatched, worker: 'w1', progress: 0, startedAt: T0 + 200, updatedAt: T0 + 200 };
  const byStatus: Record<JobStatus, JobHead> = {
    pending: fresh,
    dispatched,
    running: started,
    failed: { ...started, error: 'boom', finishedAt: T0 + 300, updatedAt: T0 + 300 },
    completed: { ...started, progress: 100, result: { ok: true }, finishedAt: T0 + 300, updatedAt: T0 + 300 },
    dead: { ...started, error: 'boom', finishedAt: T0 + 300, updatedAt: T0 + 300 },
    cancelled: { ...fresh, status, finishedAt: T0 + 300, updatedAt: T0 + 300 },
  };
  return Object.freeze({ ...byStatus[status], ...over });
}

/** The command `name` for ID at `attempt`, as a worker w1 or the router would propose it. */
function command(name: JobCommandName, attempt: number | undefined = CURRENT, over: Record<string, unknown> = {}): JobCommand {
  const base = { id: ID, at: AT };
  const a = attempt ?? CURRENT;
  switch (name) {
    case 'dispatch':
    case 'redispatch':
      return { ...base, c: name, attempt: a, ...over };
    case 'start':
      return { ...base, c: name, attempt: a, worker: 'w1', ...over };
    case 'progress':
      return { ...base, c: name, attempt: a, worker: 'w1', progress: 40, ...over };
    case 'complete':
      return { ...base, c: name, attempt: a, worker: 'w1', result: { sum: 6 }, ...over };
    case 'fail':
      return { ...base, c: name, attempt: a, worker: 'w1', error: 'disk full', ...over };
    case 'retry':
      return { ...base, c: name, attempt: a, runAt: AT + 2_000, ...over };
    case 'dead':
      return { ...base, c: name, attempt: a, reason: 'no more retries', ...over };
    case 'cancel':
      return attempt === undefined ? { ...base, c: name, ...over } : { ...base, c: name, attempt, ...over };
  }
}

function updated(d: Decision): { before: JobHead; job: JobHead; kind: string; detail: unknown } {
  if (d.type !== 'update') throw new Error(`expected an update, got ${JSON.stringify(d)}`);
  return { before: d.before, job: d.job, kind: d.event.kind, detail: d.event.detail };
}

/** Every field but the ones named is the same in `a` and `b`. */
function expectOnlyChanged(a: JobHead, b: JobHead, fields: readonly (keyof JobHead)[]): void {
  const strip = (j: JobHead): Partial<JobHead> => Object.fromEntries(Object.entries(j).filter(([k]) => !fields.includes(k as keyof JobHead)));
  expect(strip(b)).toEqual(strip(a));
}

// ---- the table ----

type Outcome = { readonly to: JobStatus; readonly attempt: 0 | 1; readonly event: string } | 'unchanged';

/**
 * What each command (as `command()` builds it) does from each status; a
 * missing cell is an illegal_transition. The same table is in docs/job-lifecycle.md.
 */
const TABLE: Readonly<Record<JobStatus, Partial<Record<JobCommandName, Outcome>>>> = {
  pending: {
    dispatch: { to: 'dispatched', attempt: 0, event: 'dispatched' },
    cancel: { to: 'cancelled', attempt: 0, event: 'cancelled' },
  },
  dispatched: {
    dispatch: 'unchanged',
    redispatch: { to: 'dispatched', attempt: 1, event: 'dispatched' },
    start: { to: 'running', attempt: 0, event: 'started' },
    complete: { to: 'completed', attempt: 0, event: 'completed' },
    fail: { to: 'failed', attempt: 0, event: 'failed' },
    cancel: { to: 'cancelled', attempt: 0, event: 'cancelled' },
  },
  running: {
    start: 'unchanged',
    progress: { to: 'running', attempt: 0, event: 'progress' },
    complete: { to: 'completed', attempt: 0, event: 'completed' },
    fail: { to: 'failed', attempt: 0, event: 'failed' },
    cancel: { to: 'cancelled', attempt: 0, event: 'cancelled' },
  },
  failed: {
    fail: 'unchanged',
    retry: { to: 'pending', attempt: 1, event: 'retry_scheduled' },
    dead: { to: 'dead', attempt: 0, event: 'dead' },
    cancel: { to: 'cancelled', attempt: 0, event: 'cancelled' },
  },
  completed: { complete: 'unchanged' },
  dead: { dead: 'unchanged' },
  cancelled: { cancel: 'unchanged' },
};

const cells = JOB_STATUSES.flatMap((from) => JOB_COMMANDS.map((c) => ({ from, c, outcome: TABLE[from][c] ?? ('illegal' as const) })));
const legal = cells.flatMap(({ from, c, outcome }) => (typeof outcome === 'object' ? [{ from, c, ...outcome }] : []));
const duplicates = cells.filter((x) => x.outcome === 'unchanged');
const illegalCells = cells.filter((x) => x.outcome === 'illegal');

describe('the lifecycle table', () => {
  it('covers every (status, command) pair: 14 transitions, 6 duplicates, 43 illegal', () => {
    expect([legal.length, duplicates.length, illegalCells.length]).toEqual([14, 6, 43]);
  });

  it.each(legal)('$c moves a $from job to $to (attempt +$attempt, event $event)', ({ from, c, to, attempt, event }) => {
    const job = jobIn(from);
    const u = updated(decide(job, command(c)));
    expect(u.before).toBe(job);
    expect(u.job.status).toBe(to);
    expect(u.job.attempt).toBe(job.attempt + attempt);
    expect(u.kind).toBe(event);
    expect(u.job.updatedAt).toBe(AT);
    expect(u.job.id).toBe(ID);
  });

  it.each(duplicates)('a repeated $c on a $from job changes nothing and reports the job as it is', ({ from, c }) => {
    const job = jobIn(from);
    expect(decide(job, command(c))).toEqual({ type: 'unchanged', job });
  });

  it.each(illegalCells)('$c on a $from job is an illegal_transition and changes nothing', ({ from, c }) => {
    const job = jobIn(from);
    expect(decide(job, command(c))).toEqual({ type: 'reject', reason: { code: 'illegal_transition', from, command: c } });
  });

  it('a command for a job that does not exist is not_found', () => {
    for (const c of JOB_COMMANDS) expect(decide(null, command(c))).toEqual({ type: 'reject', reason: { code: 'not_found', id: ID } });
  });
});

describe('what each transition writes', () => {
  it('submit creates a pending job at attempt 1 with the defaults, runnable at `at` unless runAt says later', () => {
    const j = inserted(decideSubmit(null, submitCmd()));
    expect(j).toEqual({
      id: ID,
      type: 'email',
      priority: 5,
      payload: {},
      status: 'pending',
      attempt: 1,
      retries: 0,
      maxRetries: SUBMIT_DEFAULTS.maxRetries,
      timeoutS: SUBMIT_DEFAULTS.timeoutS,
      worker: null,
      progress: null,
      result: null,
      error: null,
      timedOut: false,
      idempotencyKey: null,
      metadata: {},
      parentId: null,
      createdAt: T0,
      updatedAt: T0,
      runAt: T0,
      dispatchedAt: null,
      startedAt: null,
      finishedAt: null,
    });
    const full = decideSubmit(
      null,
      submitCmd({ payload: { n: [1, 2] }, maxRetries: 0, timeoutS: 30, metadata: { attempt: '1' }, parentId: 'p', idempotencyKey: 'k', runAt: T0 + 60_000 }),
    );
    expect(full).toMatchObject({ type: 'insert', event: { kind: 'submitted', detail: null } });
    expect(inserted(full)).toMatchObject({ payload: { n: [1, 2] }, maxRetries: 0, timeoutS: 30, metadata: { attempt: '1' }, parentId: 'p', idempotencyKey: 'k', runAt: T0 + 60_000 });
  });

  it('submit for a job that already exists returns that job unchanged, whatever the new submit carries', () => {
    const existing = jobIn('running');
    expect(decideSubmit(existing, submitCmd({ type: 'other', priority: 15 }))).toEqual({ type: 'unchanged', job: existing });
  });

  it('dispatch stamps dispatchedAt and keeps the attempt', () => {
    const p = jobIn('pending');
    const u = updated(decide(p, command('dispatch')));
    expectOnlyChanged(p, u.job, ['status', 'dispatchedAt', 'updatedAt']);
    expect(u.job).toMatchObject({ status: 'dispatched', dispatchedAt: AT, attempt: CURRENT });
    expect(u.detail).toBeNull();
  });

  it('start records the worker, progress 0 and startedAt', () => {
    const d = jobIn('dispatched');
    const u = updated(decide(d, command('start', CURRENT, { worker: 'w9' })));
    expectOnlyChanged(d, u.job, ['status', 'worker', 'progress', 'startedAt', 'updatedAt']);
    expect(u.job).toMatchObject({ status: 'running', worker: 'w9', progress: 0, startedAt: AT });
  });

  it('progress records the percentage in the job and in the event', () => {
    const r = jobIn('running');
    const u = updated(decide(r, command('progress', CURRENT, { progress: 75 })));
    expectOnlyChanged(r, u.job, ['progress', 'updatedAt']);
    expect(u.detail).toEqual({ progress: 75 });
    // The same percentage again is a duplicate report.
    expect(decide(u.job, command('progress', CURRENT, { progress: 75 }))).toEqual({ type: 'unchanged', job: u.job });
  });

  it('complete records the result, progress 100 and finishedAt; from dispatched it takes the reporting worker', () => {
    const r = jobIn('running');
    const u = updated(decide(r, command('complete')));
    expectOnlyChanged(r, u.job, ['status', 'progress', 'result', 'finishedAt', 'updatedAt']);
    expect(u.job).toMatchObject({ status: 'completed', worker: 'w1', progress: 100, result: { sum: 6 }, finishedAt: AT });
    // A worker that never reported `running` (a legacy worker) completes a dispatched job directly.
    const fromDispatched = updated(decide(jobIn('dispatched'), command('complete', CURRENT, { worker: 'w7', result: undefined })));
    expect(fromDispatched.job).toMatchObject({ status: 'completed', worker: 'w7', result: null, startedAt: null });
    const anonymous = updated(decide(jobIn('dispatched'), command('complete', CURRENT, { worker: undefined })));
    expect(anonymous.job.worker).toBeNull();
  });

  it('fail records the error in the job and in the event', () => {
    const r = jobIn('running');
    const u = updated(decide(r, command('fail')));
    expectOnlyChanged(r, u.job, ['status', 'error', 'finishedAt', 'updatedAt']);
    expect(u.job).toMatchObject({ status: 'failed', error: 'disk full', finishedAt: AT });
    expect(u.detail).toEqual({ error: 'disk full' });
  });

  it('fail with timeout marks the job timed out (the wire shows TIMEOUT); the mark stays through retry and dead, and the next plain failure clears it', () => {
    const r = jobIn('running');
    const t = updated(decide(r, command('fail', CURRENT, { error: 'execution timeout', timeout: true })));
    expectOnlyChanged(r, t.job, ['status', 'error', 'timedOut', 'finishedAt', 'updatedAt']);
    expect(t.job).toMatchObject({ status: 'failed', error: 'execution timeout', timedOut: true });
    expect(t.detail).toEqual({ error: 'execution timeout', timeout: true });
    // A duplicate report, with or without the flag, changes nothing: the first failure stands.
    expect(decide(t.job, command('fail', CURRENT, { error: 'other' })).type).toBe('unchanged');
    expect(updated(decide(t.job, command('dead'))).job.timedOut).toBe(true);
    const retried = updated(decide(t.job, command('retry', CURRENT, { runAt: AT }))).job;
    expect(retried).toMatchObject({ status: 'pending', timedOut: true, error: 'execution timeout' });
    const again = { ...retried, status: 'running' as const, attempt: CURRENT + 1, startedAt: AT, worker: 'w1' };
    const plain = updated(decide(again, command('fail', CURRENT + 1, { worker: 'w1', timeout: false })));
    expect(plain.job).toMatchObject({ status: 'failed', error: 'disk full', timedOut: false });
    expect(plain.detail).toEqual({ error: 'disk full' });
  });

  it('retry starts a new attempt: pending, attempt + 1, retries + 1, not before runAt, with the last attempt forgotten', () => {
    const f = jobIn('failed');
    const u = updated(decide(f, command('retry', CURRENT, { runAt: AT + 30_000 })));
    expect(u.job).toEqual({
      ...f,
      status: 'pending',
      attempt: CURRENT + 1,
      retries: f.retries + 1,
      runAt: AT + 30_000,
      worker: null,
      progress: null,
      result: null,
      dispatchedAt: null,
      startedAt: null,
      finishedAt: null,
      updatedAt: AT,
    });
    expect(u.job.error).toBe('boom'); // the last failure stays readable until the next one
    expect(u.detail).toEqual({ runAt: AT + 30_000 });
  });

  it('dead keeps the last error unless a reason is given', () => {
    const f = jobIn('failed');
    expect(updated(decide(f, command('dead', CURRENT, { reason: undefined }))).job).toMatchObject({ status: 'dead', error: 'boom', finishedAt: AT });
    const withReason = updated(decide(f, command('dead')));
    expect(withReason.job.error).toBe('no more retries');
    expect(withReason.detail).toEqual({ reason: 'no more retries' });
  });

  it('cancel stamps finishedAt and keeps the reason in the event only', () => {
    const r = jobIn('running');
    const u = updated(decide(r, command('cancel', undefined, { reason: 'user asked' })));
    expectOnlyChanged(r, u.job, ['status', 'finishedAt', 'updatedAt']);
    expect(u.detail).toEqual({ reason: 'user asked' });
    expect(updated(decide(r, command('cancel', undefined))).detail).toBeNull();
  });
});

describe('fencing by attempt', () => {
  const stale = JOB_STATUSES.flatMap((from) => JOB_COMMANDS.flatMap((c) => [CURRENT - 1, CURRENT + 1].map((attempt) => ({ from, c, attempt }))));

  it.each(stale)('$c naming attempt $attempt of a $from job at attempt 2 is stale_attempt', ({ from, c, attempt }) => {
    expect(decide(jobIn(from), command(c, attempt))).toEqual({ type: 'reject', reason: { code: 'stale_attempt', attempt, current: CURRENT } });
  });

  it('a worker that lost its job to a re-dispatch is fenced out: its start, progress and completion are stale', () => {
    const d = jobIn('dispatched');
    const re = updated(decide(d, command('redispatch')));
    expect(re.job).toMatchObject({ status: 'dispatched', attempt: CURRENT + 1, dispatchedAt: AT });
    expect(re.detail).toEqual({ redispatch: true });
    for (const c of ['start', 'progress', 'complete', 'fail'] as const) {
      expect(decide(re.job, command(c, CURRENT))).toMatchObject({ type: 'reject', reason: { code: 'stale_attempt', attempt: CURRENT, current: CURRENT + 1 } });
    }
    // The new attempt goes ahead.
    expect(updated(decide(re.job, command('start', CURRENT + 1, { worker: 'w2' }))).job).toMatchObject({ status: 'running', worker: 'w2', attempt: CURRENT + 1 });
  });

  it('the previous attempt of a retried job cannot report any more', () => {
    const retried = updated(decide(jobIn('failed'), command('retry'))).job;
    expect(decide(retried, command('complete', CURRENT))).toMatchObject({ reason: { code: 'stale_attempt' } });
    expect(decide(retried, command('retry', CURRENT))).toMatchObject({ reason: { code: 'stale_attempt' } }); // a repeated retry proposal
  });

  it('cancel without an attempt cancels whatever attempt is current; with one, it must be the current one', () => {
    for (const from of JOB_STATUSES.filter((s) => !isTerminal(s))) {
      expect(updated(decide(jobIn(from), command('cancel', undefined))).job.status).toBe('cancelled');
      expect(updated(decide(jobIn(from), command('cancel', CURRENT))).job.status).toBe('cancelled');
      expect(decide(jobIn(from), command('cancel', CURRENT + 1))).toMatchObject({ reason: { code: 'stale_attempt' } });
    }
  });

  it('with the unsafe skipAttemptCheck switch a stale report is applied (what the simulator must catch)', () => {
    const re = updated(decide(jobIn('dispatched'), command('redispatch'))).job;
    expect(updated(decide(re, command('complete', CURRENT), { skipAttemptCheck: true })).job.status).toBe('completed');
  });
});

describe('worker checks', () => {
  it.each(['start', 'progress', 'complete', 'fail'] as const)('%s from another worker than the one running the attempt is worker_mismatch', (c) => {
    expect(decide(jobIn('running'), command(c, CURRENT, { worker: 'w2' }))).toEqual({ type: 'reject', reason: { code: 'worker_mismatch', worker: 'w2', current: 'w1' } });
  });

  it.each(['progress', 'complete', 'fail'] as const)('%s that names no worker is accepted from whoever sends it', (c) => {
    expect(decide(jobIn('running'), command(c, CURRENT, { worker: undefined })).type).toBe('update');
  });

  it('a report on a dispatched job names no running worker yet, so any worker may complete or fail it', () => {
    expect(updated(decide(jobIn('dispatched'), command('fail', CURRENT, { worker: 'w5' }))).job.worker).toBe('w5');
  });

  it('a duplicate completion from another worker is still a duplicate: the terminal status is final', () => {
    const done = jobIn('completed');
    expect(decide(done, command('complete', CURRENT, { worker: 'w2', result: 'other' }))).toEqual({ type: 'unchanged', job: done });
  });
});

describe('retries', () => {
  it('each retry raises the attempt and the retry count; at maxRetries a retry is retries_exhausted and dead is the way out', () => {
    let job: JobHead = head(inserted(decideSubmit(null, submitCmd({ maxRetries: 2 }))));
    const step = (c: JobCommandName, over: Record<string, unknown> = {}): void => {
      job = updated(decide(job, command(c, job.attempt, over))).job;
    };
    const seen: [number, number][] = [];
    for (let i = 0; i < 3; i++) {
      step('dispatch');
      step('start');
      step('fail');
      seen.push([job.attempt, job.retries]);
      if (i < 2) step('retry');
    }
    expect(seen).toEqual([
      [1, 0],
      [2, 1],
      [3, 2],
    ]);
    expect(decide(job, command('retry', job.attempt))).toEqual({ type: 'reject', reason: { code: 'retries_exhausted', retries: 2, maxRetries: 2 } });
    step('dead');
    expect(job).toMatchObject({ status: 'dead', attempt: 3, retries: 2 });
  });

  it('a job submitted with maxRetries 0 cannot be retried at all', () => {
    const f = jobIn('failed', { retries: 0, maxRetries: 0 });
    expect(decide(f, command('retry'))).toMatchObject({ reason: { code: 'retries_exhausted', retries: 0, maxRetries: 0 } });
  });

  it('a re-dispatch is a new attempt but not a retry: the retry count stays', () => {
    const u = updated(decide(jobIn('dispatched'), command('redispatch')));
    expect([u.job.attempt, u.job.retries]).toEqual([CURRENT + 1, 1]);
  });

  it('a dispatch proposed twice (its first answer lost) is one dispatch; a repeated re-dispatch names the old attempt and is stale', () => {
    const d = updated(decide(jobIn('pending'), command('dispatch'))).job;
    expect(decide(d, command('dispatch'))).toEqual({ type: 'unchanged', job: d });
    const re = updated(decide(d, command('redispatch'))).job;
    expect(decide(re, command('redispatch', CURRENT))).toMatchObject({ type: 'reject', reason: { code: 'stale_attempt' } });
  });
});

// ---- the property ----

/** A command shape drawn at random; the attempt is the current one, or an offset from it. */
interface Draw {
  readonly c: JobCommandName;
  readonly attempt: 'current' | 'none' | number;
  readonly worker: 'w1' | 'w2' | undefined;
  readonly progress: number;
}

const drawArb: fc.Arbitrary<Draw> = fc.record({
  c: fc.constantFrom(...JOB_COMMANDS),
  attempt: fc.oneof({ weight: 8, arbitrary: fc.constant('current' as const) }, { weight: 1, arbitrary: fc.constant('none' as const) }, { weight: 2, arbitrary: fc.integer({ min: -2, max: 2 }) }),
  worker: fc.constantFrom('w1' as const, 'w2' as const, undefined),
  progress: fc.constantFrom(0, 10, 50, 100),
});

function toCommand(d: Draw, job: JobHead, at: number): JobCommand {
  const attempt = d.attempt === 'current' ? job.attempt : d.attempt === 'none' ? undefined : Math.max(1, job.attempt + d.attempt);
  const a = attempt ?? job.attempt;
  const base = { id: ID, at };
  switch (d.c) {
    case 'start':
      return { ...base, c: 'start', attempt: a, worker: d.worker ?? 'w1' };
    case 'progress':
      return { ...base, c: 'progress', attempt: a, worker: d.worker, progress: d.progress };
    case 'complete':
      return { ...base, c: 'complete', attempt: a, worker: d.worker, result: d.progress };
    case 'fail':
      return { ...base, c: 'fail', attempt: a, worker: d.worker, error: 'e' };
    case 'retry':
      return { ...base, c: 'retry', attempt: a, runAt: at + 10 };
    case 'cancel':
      return attempt === undefined ? { ...base, c: 'cancel' } : { ...base, c: 'cancel', attempt };
    default:
      return { ...base, c: d.c, attempt: a };
  }
}

describe('properties', () => {
  it('over random command sequences (attempt, rank) never decreases, a terminal status is final, and a rejection or duplicate changes nothing', () => {
    fc.assert(
      fc.property(fc.integer({ min: 0, max: 3 }), fc.array(drawArb, { minLength: 1, maxLength: 60 }), (maxRetries, draws) => {
        let job: JobHead = Object.freeze(head(inserted(decideSubmit(null, submitCmd({ maxRetries })))));
        let at = T0;
        const order = (j: JobHead): [number, number] => [j.attempt, STATUS_RANK[j.status]];
        for (const draw of draws) {
          const c = toCommand(draw, job, ++at);
          const d = decide(job, c);
          if (c.attempt !== undefined && c.attempt !== job.attempt) expect(d).toMatchObject({ type: 'reject', reason: { code: 'stale_attempt' } });
          if (isTerminal(job.status)) expect(d.type).not.toBe('update');
          if (d.type === 'unchanged') expect(d.job).toBe(job);
          if (d.type !== 'update') continue; // job is frozen: a decision that mutated it would have thrown
          expect(d.before).toBe(job);
          const [a0, r0] = order(job);
          const [a1, r1] = order(d.job);
          expect(a1 > a0 || (a1 === a0 && r1 >= r0)).toBe(true);
          expect(a1 - a0).toBeLessThanOrEqual(1);
          expect(d.job.retries).toBeLessThanOrEqual(d.job.maxRetries);
          expect([d.job.id, d.job.createdAt, d.job.type, d.job.priority]).toEqual([job.id, job.createdAt, job.type, job.priority]);
          job = Object.freeze(d.job);
        }
      }),
    );
  });
});
