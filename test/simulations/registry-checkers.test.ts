// Each job registry checker on its own, fed hand-made traces: it must pass a
// correct one and name the violation in a broken one. The registry campaigns
// (registry.test.ts) then show they stay quiet on the real registry and that
// fencing bites on a broken one.
import { describe, expect, it } from 'vitest';
import type { CommandResult, EntryResult, Job, JobEvent, JobId, JobStatus, RegistryCommand, RegistryQuery } from '../../actors/job_registry/types.js';
import { registryAcknowledged } from '../../simulations/checkers/registry-acknowledged.js';
import { registryConvergence } from '../../simulations/checkers/registry-convergence.js';
import { registryFeed } from '../../simulations/checkers/registry-feed.js';
import { registryFencing } from '../../simulations/checkers/registry-fencing.js';
import { registryIdempotency } from '../../simulations/checkers/registry-idempotency.js';
import { registryMonotonic } from '../../simulations/checkers/registry-monotonic.js';
import type { Checker, JobApplied, JobHistoryEvent, RegistryNodeDump, TraceEvent } from '../../simulations/trace.js';

// ---- fixtures ----

function run(c: Checker, events: readonly TraceEvent[]): string[] {
  for (const e of events) {
    expect(c.on).toContain(e.type);
    c.observe(e);
  }
  return c.finish().map((v) => v.message);
}

function job(id: string, status: JobStatus, attempt = 1, over: Partial<Job> = {}): Job {
  return {
    id: id as JobId,
    type: 'email',
    priority: 5,
    payload: {},
    status,
    attempt,
    retries: attempt - 1,
    maxRetries: 3,
    timeoutS: 1,
    worker: status === 'running' || status === 'completed' ? 'w0' : null,
    progress: null,
    result: null,
    error: null,
    timedOut: false,
    idempotencyKey: null,
    metadata: {},
    parentId: null,
    createdAt: 0,
    updatedAt: 0,
    runAt: 0,
    dispatchedAt: null,
    startedAt: null,
    finishedAt: null,
    ...over,
  };
}

const ok = (j: Job, changed = true, created?: boolean): CommandResult => ({ type: 'ok', id: j.id, status: j.status, attempt: j.attempt, changed, ...(created === undefined ? {} : { created }) });
const rejected = (code: 'stale_attempt' | 'illegal_transition'): CommandResult =>
  code === 'stale_attempt' ? { type: 'rejected', reason: { code, attempt: 1, current: 2 } } : { type: 'rejected', reason: { code, from: 'completed', command: 'start' } };

function ev(seq: number, j: Job, kind: JobEvent['kind'], n = 0): JobEvent {
  return { seq, n, at: seq, kind, jobId: j.id, status: j.status, attempt: j.attempt, worker: j.worker, detail: null };
}

function apply(node: number, index: number, items: JobApplied[], events: JobEvent[] = []): TraceEvent {
  return { type: 'jobApply', time: index, node, inc: 1, index, term: 1, batch: items.length > 1, items, events };
}

const item = (command: JobApplied['command'], result: CommandResult | null, before: Job | null, after: Job | null): JobApplied => ({ command, result, before, after });

function client(process: number, type: JobHistoryEvent['type'], f: JobHistoryEvent['f'], key: string, value: RegistryCommand | RegistryQuery | EntryResult | Job | null, time: number, actor = 'c0'): TraceEvent {
  return { type: 'jobClient', event: { process, actor, type, f, key, value: value as JobHistoryEvent['value'], time, node: 0 } };
}

const submit = (id: string, key?: string): RegistryCommand => ({ c: 'submit', id, at: 0, type: 'email', priority: 5, ...(key === undefined ? {} : { idempotencyKey: key }) });
const dump = (index: number, jobs: Job[], feed: JobEvent[] = [], applied = 10): RegistryNodeDump => ({ index, up: true, applied, jobs, feed });
const final = (nodes: RegistryNodeDump[]): TraceEvent => ({ type: 'registryFinal', time: 100, nodes });
const end = (converged = true): TraceEvent => ({ type: 'end', time: 101, converged, pending: null, finalReadsDone: true, nodes: [] });

// ---- the checkers ----

describe('registry-fencing: a report for a stale attempt never changes a job', () => {
  const d2 = job('j1', 'dispatched', 2);
  it('accepts a current report that changes the job, and a stale one refused with the job unchanged', () => {
    const r2 = job('j1', 'running', 2);
    expect(
      run(registryFencing(), [
        apply(0, 5, [item({ c: 'start', id: 'j1', at: 5, attempt: 2, worker: 'w0' }, ok(r2), d2, r2)], [ev(5, r2, 'started')]),
        apply(0, 6, [item({ c: 'complete', id: 'j1', at: 6, attempt: 1 }, rejected('stale_attempt'), r2, r2)]),
        apply(0, 7, [item({ c: 'cancel', id: 'j1', at: 7 }, ok(job('j1', 'cancelled', 2)), r2, job('j1', 'cancelled', 2))]),
      ]),
    ).toEqual([]);
  });
  it('reports a stale start that moved the job, naming the node, index and attempts', () => {
    const r2 = job('j1', 'running', 2);
    const msgs = run(registryFencing(), [apply(3, 9, [item({ c: 'start', id: 'j1', at: 9, attempt: 1, worker: 'w1' }, ok(r2), d2, r2)], [ev(9, r2, 'started')])]);
    expect(msgs).toEqual(['n3 applied start j1 for attempt 1 @9 while the job was dispatched/2: ok, job now running/2 (changed), event started']);
  });
  it('reports a stale report accepted as a duplicate, even though the job did not change', () => {
    const r2 = job('j1', 'running', 2);
    expect(run(registryFencing(), [apply(0, 9, [item({ c: 'start', id: 'j1', at: 9, attempt: 1, worker: 'w0' }, ok(r2, false), r2, r2)])])).toHaveLength(1);
  });
  it('judges each command of a batch entry on its own', () => {
    const other = job('j2', 'dispatched', 1);
    const msgs = run(registryFencing(), [
      apply(0, 9, [item({ c: 'dispatch', id: 'j2', at: 9, attempt: 1 }, ok(other, false), other, other), item({ c: 'fail', id: 'j1', at: 9, attempt: 3, error: 'x' }, ok(job('j1', 'failed', 2)), d2, job('j1', 'failed', 2))]),
    ]);
    expect(msgs).toHaveLength(1);
    expect(msgs[0]).toContain('fail j1 for attempt 3');
  });
});

describe('registry-monotonic: at most one terminal state, never backwards', () => {
  it('accepts a lifecycle through a retry (attempt up, status back to pending)', () => {
    const f1 = job('j1', 'failed', 1);
    const p2 = job('j1', 'pending', 2);
    const c2 = job('j1', 'completed', 2);
    expect(
      run(registryMonotonic(), [
        apply(0, 3, [item({ c: 'retry', id: 'j1', at: 3, attempt: 1, runAt: 4 }, ok(p2), f1, p2)]),
        apply(0, 4, [item({ c: 'complete', id: 'j1', at: 4, attempt: 2 }, ok(c2), p2, c2)]),
        apply(1, 4, [item({ c: 'complete', id: 'j1', at: 4, attempt: 2 }, ok(c2), p2, c2)]),
        apply(0, 5, [item({ c: 'cancel', id: 'j1', at: 5 }, rejected('illegal_transition'), c2, c2)]),
      ]),
    ).toEqual([]);
  });
  it('reports a job moved backwards, a terminal job changed, and two terminal states across nodes', () => {
    const r1 = job('j1', 'running', 1);
    const d1 = job('j1', 'dispatched', 1);
    expect(run(registryMonotonic(), [apply(0, 3, [item({ c: 'dispatch', id: 'j1', at: 3, attempt: 1 }, ok(d1), r1, d1)])])[0]).toContain('moved j1 backwards @3 (dispatch): running/1 -> dispatched/1');
    const done = job('j1', 'completed', 1);
    expect(run(registryMonotonic(), [apply(0, 3, [item({ c: 'cancel', id: 'j1', at: 3 }, ok(job('j1', 'cancelled')), done, job('j1', 'cancelled'))])])[0]).toContain('after it was completed/1');
    const msgs = run(registryMonotonic(), [
      apply(0, 4, [item({ c: 'complete', id: 'j1', at: 4, attempt: 1 }, ok(done), r1, done)]),
      apply(1, 4, [item({ c: 'cancel', id: 'j1', at: 4 }, ok(job('j1', 'cancelled')), r1, job('j1', 'cancelled'))]),
    ]);
    expect(msgs).toEqual(['j1 reached two terminal states: completed/1 (@4 on n0) and cancelled/1 (@4 on n1)']);
  });
  it('reports a read that shows an earlier state than a read that had finished before it began', () => {
    const get: RegistryQuery = { q: 'get', id: 'j1' };
    const msgs = run(registryMonotonic(), [
      client(1, 'invoke', 'get', 'j1', get, 10),
      client(1, 'ok', 'get', 'j1', job('j1', 'running', 2), 12),
      client(2, 'invoke', 'get', 'j1', get, 11),
      client(2, 'ok', 'get', 'j1', job('j1', 'dispatched', 2), 13), // concurrent with the first: fine
      client(3, 'invoke', 'get', 'j1', get, 14),
      client(3, 'ok', 'get', 'j1', job('j1', 'dispatched', 2), 15),
    ]);
    expect(msgs).toEqual(['c0 read j1 as dispatched/2 (t=14..15) after c0 had read it as running/2 (done t=12)']);
  });
});

describe('registry-idempotency: a key never yields two jobs', () => {
  it('accepts one creation per key, seen on several nodes, and later submits resolving to it', () => {
    const j1 = job('j1', 'pending', 1, { idempotencyKey: 'k' });
    const create = item(submit('j1', 'k') as JobApplied['command'], ok(j1, true, true), null, j1);
    const again = item(submit('j2', 'k') as JobApplied['command'], ok(j1, false, false), j1, j1);
    expect(run(registryIdempotency(), [apply(0, 2, [create]), apply(1, 2, [create]), apply(0, 3, [again]), final([dump(0, [j1]), dump(1, [j1])])])).toEqual([]);
  });
  it('reports a second job created under a key, a submit resolved elsewhere, and a node holding two', () => {
    const j1 = job('j1', 'pending', 1, { idempotencyKey: 'k' });
    const j2 = job('j2', 'pending', 1, { idempotencyKey: 'k' });
    const msgs = run(registryIdempotency(), [
      apply(0, 2, [item(submit('j1', 'k') as JobApplied['command'], ok(j1, true, true), null, j1)]),
      apply(0, 3, [item(submit('j2', 'k') as JobApplied['command'], ok(j2, true, true), null, j2)]),
      apply(0, 4, [item(submit('j3', 'k') as JobApplied['command'], ok(j2, false, false), j2, j2)]),
      final([dump(0, [j1, j2])]),
    ]);
    expect(msgs).toEqual([
      'key k yielded two jobs: j1 (created @2 on n0) and j2 (created @3 on n0)',
      'n0 resolved submit j3 with key k @4 to j2, but the key names j1',
      'n0 holds two jobs with key k: j1 and j2',
    ]);
  });
  it('reports a submit answered with its own id when that job does not hold its key (an idempotency_conflict let through)', () => {
    const j0 = job('j0', 'pending', 1);
    const j1 = job('j1', 'pending', 1, { idempotencyKey: 'k' });
    const msgs = run(registryIdempotency(), [
      apply(0, 2, [item(submit('j0') as JobApplied['command'], ok(j0, true, true), null, j0)]),
      apply(0, 3, [item(submit('j0', 'k0') as JobApplied['command'], ok(j0, false, false), j0, j0)]),
      apply(0, 4, [item(submit('j1', 'k') as JobApplied['command'], ok(j1, true, true), null, j1)]),
      apply(0, 5, [item(submit('j0', 'k') as JobApplied['command'], ok(j0, false, false), j0, j0)]),
      final([dump(0, [j0, j1])]),
    ]);
    expect(msgs).toEqual(['n0 resolved submit j0 with key k0 @3 to j0, but the key names no job', 'n0 resolved submit j0 with key k @5 to j0, but the key names j1']);
  });
});

describe('registry-acknowledged: every acknowledged submission exists', () => {
  const j1 = job('j1', 'pending');
  const acked = [client(1, 'invoke', 'submit', 'j1', submit('j1'), 1), client(1, 'ok', 'submit', 'j1', ok(j1, true, true), 3)];
  it('accepts an acknowledged job read back, listed at the end and held by every node', () => {
    const msgs = run(registryAcknowledged(), [
      ...acked,
      client(2, 'invoke', 'get', 'j1', { q: 'get', id: 'j1' }, 4),
      client(2, 'ok', 'get', 'j1', j1, 5),
      client(3, 'invoke', 'list', '', { q: 'list' }, 50, 'final'),
      client(3, 'ok', 'list', '', { jobs: [j1], next: null } as unknown as Job, 51, 'final'),
      final([dump(0, [j1]), dump(1, [j1])]),
      end(),
    ]);
    expect(msgs).toEqual([]);
  });
  it('counts the submits of a batch entry, and a read that began before the acknowledgement may miss the job', () => {
    const batch: RegistryCommand = { c: 'batch', commands: [submit('j1') as Extract<RegistryCommand, { c: 'submit' }>, submit('j2') as Extract<RegistryCommand, { c: 'submit' }>] };
    const res: EntryResult = { type: 'batch', results: [ok(j1, true, true), ok(job('j2', 'pending'), true, true)] };
    const msgs = run(registryAcknowledged(), [
      client(2, 'invoke', 'get', 'j2', { q: 'get', id: 'j2' }, 1),
      client(1, 'invoke', 'batch', '', batch, 1),
      client(1, 'ok', 'batch', '', res, 3),
      client(2, 'ok', 'get', 'j2', null, 4),
      final([dump(0, [j1])]),
      end(),
    ]);
    expect(msgs).toEqual(['job j2 (acknowledged to c0 for submit j2 at t=3) is missing on n0 at the end (1 job(s), applied 10)']);
  });
  it('reports a get after the acknowledgement that finds nothing, and a final list without the job', () => {
    const msgs = run(registryAcknowledged(), [
      ...acked,
      client(2, 'invoke', 'get', 'j1', { q: 'get', id: 'j1' }, 4),
      client(2, 'ok', 'get', 'j1', null, 5),
      client(3, 'invoke', 'list', '', { q: 'list' }, 50, 'final'),
      client(3, 'ok', 'list', '', { jobs: [], next: null } as unknown as Job, 51, 'final'),
      final([dump(0, [j1])]),
      end(),
    ]);
    expect(msgs).toEqual([
      'get j1 by c0 (n0, t=4..5) found nothing, though the job was acknowledged to c0 for submit j1 at t=3',
      'job j1 (acknowledged to c0 for submit j1 at t=3) is missing from the final list read through the leader from t=50',
    ]);
  });
});

describe('registry-feed: the same sequence from any node, no gaps, no duplicates', () => {
  const p1 = job('j1', 'pending');
  const d1 = job('j1', 'dispatched');
  const p2 = job('j2', 'pending');
  const history = [
    apply(0, 1, [item(submit('j1') as JobApplied['command'], ok(p1, true, true), null, p1)], [ev(1, p1, 'submitted')]),
    apply(0, 2, [item({ c: 'start', id: 'j1', at: 2, attempt: 1, worker: 'w' }, rejected('illegal_transition'), p1, p1)]),
    apply(0, 3, [item({ c: 'dispatch', id: 'j1', at: 3, attempt: 1 }, ok(d1), p1, d1), item(submit('j2') as JobApplied['command'], ok(p2, true, true), null, p2)], [ev(3, d1, 'dispatched', 0), ev(3, p2, 'submitted', 1)]),
  ];
  const page = (reader: number, node: number, after: number, last: number, events: JobEvent[]): TraceEvent => ({ type: 'feedPage', time: 10, reader, node, after, last, events });
  it('accepts pages from different nodes that follow one another, and whole feeds at the end', () => {
    const msgs = run(registryFeed(), [
      ...history,
      page(0, 1, 0, 1, [ev(1, p1, 'submitted')]),
      page(0, 2, 1, 1, []), // a node still behind: nothing new, the cursor stays
      page(0, 0, 1, 3, [ev(3, d1, 'dispatched', 0), ev(3, p2, 'submitted', 1)]),
      final([dump(0, [d1, p2], [ev(1, p1, 'submitted'), ev(3, d1, 'dispatched', 0), ev(3, p2, 'submitted', 1)], 3), dump(1, [p1], [ev(1, p1, 'submitted')], 2)]),
    ]);
    expect(msgs).toEqual([]);
  });
  it('reports a gap, a duplicate across pages, a transition without its event and two nodes disagreeing', () => {
    const msgs = run(registryFeed(), [
      ...history,
      apply(1, 3, [item({ c: 'dispatch', id: 'j1', at: 3, attempt: 1 }, ok(d1), p1, d1), item(submit('j2') as JobApplied['command'], ok(p2, true, true), null, p2)], [ev(3, d1, 'dispatched', 0)]),
      page(0, 1, 0, 3, [ev(1, p1, 'submitted'), ev(3, d1, 'dispatched', 0)]),
      page(1, 1, 0, 1, [ev(1, p1, 'submitted')]),
      page(1, 1, 0, 1, [ev(1, p1, 'submitted')]),
    ]);
    expect(msgs).toEqual([
      'n1 @3: 2 command(s) changed a job but 1 event(s) were made (dispatched)',
      expect.stringContaining('entry 3: n1 made'),
      expect.stringContaining('page from n1 after 0 to 3: gap: 1 event(s) of entry 3 missing'),
      'reader r1 asked n1 for events after 0, but its last page ended at 1',
    ]);
  });
});

describe('registry-convergence: every node ends with the same jobs, as the history left them', () => {
  const c1 = job('j1', 'completed');
  const history = [apply(0, 1, [item(submit('j1') as JobApplied['command'], ok(job('j1', 'pending'), true, true), null, job('j1', 'pending'))]), apply(1, 2, [item({ c: 'complete', id: 'j1', at: 2, attempt: 1 }, ok(c1), job('j1', 'pending'), c1)])];
  it('accepts identical nodes that hold every job as last left', () => {
    expect(run(registryConvergence(), [...history, final([dump(0, [c1]), dump(1, [c1])]), end()])).toEqual([]);
  });
  it('says nothing when the run did not converge (liveness reports that)', () => {
    expect(run(registryConvergence(), [...history, final([dump(0, [c1]), dump(1, [])]), end(false)])).toEqual([]);
  });
  it('reports a node that differs, and a node whose job is not as the last command left it', () => {
    const msgs = run(registryConvergence(), [...history, final([dump(0, [c1]), dump(1, [job('j1', 'pending')])]), end()]);
    expect(msgs[0]).toContain('j1 differs: n1 has');
    expect(msgs[1]).toContain('n1 ends with');
    expect(msgs[1]).toContain('the last command on j1 (@2 on n1) left');
  });
});
