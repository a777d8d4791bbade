// The job registry as a replicated state machine (machine.ts over store.ts),
// driven the way raft_fsm drives it: committed LogEntry objects in index
// order, with noop and config entries in between. A small harness (Registry)
// gives the scenarios verbs (submit, dispatch, start, …, advance) and keeps the
// log, so a scenario can be replayed into a second machine or continued after
// a snapshot and the two compared.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import fc from 'fast-check';
import { afterAll, afterEach, describe, expect, it } from 'vitest';
import { RegistryMachine, RegistryQueryError } from '../../actors/job_registry/machine.js';
import { registryLimits } from '../../actors/job_registry/schema.js';
import type { CommandResult, EntryResult, EventsPage, Job, JobEvent, JobStatus, ListFilter, ListPage, QueryResult, RegistryQuery, RegistryStats } from '../../actors/job_registry/types.js';
import { QUERY_LIMITS } from '../../actors/job_registry/types.js';
import type { EntryKind, LogEntry } from '../../actors/raft/types.js';

// ---- harness ----

const T0 = 1_700_000_000_000;
const DAY = 24 * 3600 * 1000;

let open: RegistryMachine[] = [];
function machine(opts?: ConstructorParameters<typeof RegistryMachine>[0]): RegistryMachine {
  const m = new RegistryMachine(opts);
  open.push(m);
  return m;
}
afterEach(() => {
  for (const m of open) m.close();
  open = [];
});

// File-backed machines (store.ts: the tables in a scratch file) get files of their own here.
const fileDir = mkdtempSync(join(tmpdir(), 'dq-registry-machine-'));
let files = 0;
const fileStore = (): { file: string } => ({ file: join(fileDir, `m${++files}.db`) });
afterAll(() => rmSync(fileDir, { recursive: true, force: true }));

type Extra = Record<string, unknown>;

/** A machine and the log it has applied, with a virtual clock that stamps each command's `at`. */
class Registry {
  readonly log: LogEntry[] = [];
  now = T0;
  private index = 0;

  constructor(readonly m: RegistryMachine = machine()) {}

  /** Commit one entry: the machine applies it, as raft_fsm would. */
  entry(kind: EntryKind, data: unknown): EntryResult | null {
    const e: LogEntry = { term: 1, index: ++this.index, kind, data };
    this.log.push(e);
    return this.m.apply(e);
  }

  apply(data: unknown): CommandResult {
    const r = this.entry('command', data);
    if (r === null || r.type === 'batch') throw new Error(`a single command entry returned ${JSON.stringify(r)}`);
    return r;
  }

  /** Many commands in one entry (as job_registry proposes a burst): one result per command. */
  batch(commands: readonly unknown[]): readonly CommandResult[] {
    const r = this.entry('command', { c: 'batch', commands });
    if (r === null || r.type !== 'batch') throw new Error(`a batch entry returned ${JSON.stringify(r)}`);
    return r.results;
  }

  get lastIndex(): number {
    return this.index;
  }

  advance(ms: number): this {
    this.now += ms;
    return this;
  }

  submit(id: string, extra: Extra = {}): CommandResult {
    return this.apply({ c: 'submit', id, at: this.now, type: 'email', priority: 5, ...extra });
  }

  /** A job command at the job's current attempt (what a router or an up-to-date worker sends). */
  cmd(c: string, id: string, extra: Extra = {}): CommandResult {
    return this.apply({ c, id, at: this.now, attempt: this.get(id)?.attempt ?? 1, ...extra });
  }

  dispatch = (id: string, extra: Extra = {}) => this.cmd('dispatch', id, extra);
  redispatch = (id: string, extra: Extra = {}) => this.cmd('redispatch', id, extra);
  start = (id: string, worker = 'w1', extra: Extra = {}) => this.cmd('start', id, { worker, ...extra });
  progress = (id: string, progress: number, extra: Extra = {}) => this.cmd('progress', id, { progress, ...extra });
  complete = (id: string, extra: Extra = {}) => this.cmd('complete', id, extra);
  fail = (id: string, error = 'boom', extra: Extra = {}) => this.cmd('fail', id, { error, ...extra });
  retry = (id: string, runAt = this.now, extra: Extra = {}) => this.cmd('retry', id, { runAt, ...extra });
  dead = (id: string, extra: Extra = {}) => this.cmd('dead', id, extra);
  cancel = (id: string, extra: Extra = {}) => this.apply({ c: 'cancel', id, at: this.now, ...extra });
  prune = (before: number, limit = 1000) => this.apply({ c: 'prune', at: this.now, before, limit });

  /** Submit, dispatch and start `id` on `worker`, `queueMs` after submitting. */
  running(id: string, worker = 'w1', queueMs = 0, extra: Extra = {}): this {
    this.submit(id, extra);
    this.advance(queueMs);
    this.dispatch(id);
    this.start(id, worker);
    return this;
  }

  q(query: RegistryQuery): QueryResult {
    return this.m.query(query);
  }

  get(id: string): Job | null {
    return this.q({ q: 'get', id }) as Job | null;
  }

  list(filter: ListFilter = {}, extra: Partial<Extract<RegistryQuery, { q: 'list' }>> = {}): ListPage {
    return this.q({ q: 'list', filter, ...extra }) as ListPage;
  }

  ids(filter: ListFilter = {}, order: 'asc' | 'desc' = 'desc'): string[] {
    return this.list(filter, { order, limit: QUERY_LIMITS.maxListLimit }).jobs.map((j) => j.id);
  }

  events(after = 0, limit?: number): EventsPage {
    return this.q(limit === undefined ? { q: 'events', after } : { q: 'events', after, limit }) as EventsPage;
  }

  allEvents(): JobEvent[] {
    const page = this.events(0, QUERY_LIMITS.maxEventsLimit);
    if (page.type !== 'events') throw new Error('truncated');
    return [...page.events];
  }

  stats(windowMs?: number): RegistryStats {
    return this.q(windowMs === undefined ? { q: 'stats', now: this.now } : { q: 'stats', now: this.now, windowMs }) as RegistryStats;
  }

  /**
   * Everything a reader can see: every job (oldest first), the cursors of a walk two jobs a page (they carry
   * each job's ord, the tie-break between jobs created in the same millisecond), the event feed and the statistics.
   */
  view(): { jobs: readonly Job[]; cursors: readonly (string | null)[]; events: EventsPage; stats: RegistryStats } {
    const cursors: (string | null)[] = [];
    let cursor: string | undefined;
    do {
      const page = this.list({}, cursor === undefined ? { order: 'asc', limit: 2 } : { order: 'asc', limit: 2, cursor });
      cursors.push(page.next);
      cursor = page.next ?? undefined;
    } while (cursor !== undefined);
    return { jobs: this.list({}, { order: 'asc', limit: QUERY_LIMITS.maxListLimit }).jobs, cursors, events: this.events(0, QUERY_LIMITS.maxEventsLimit), stats: this.stats() };
  }
}

const rejected = (code: string, more: Extra = {}) => ({ type: 'rejected', reason: { code, ...more } });

// ---------------------------------------------------------------------------

describe('applying log entries', () => {
  it('a submit entry creates the job; noop and config entries return null but still advance the applied index', () => {
    const r = new Registry();
    expect(r.entry('noop', null)).toBeNull();
    expect(r.submit('a', { payload: { n: [1, 2, 3] }, metadata: { attempt: '1' } })).toEqual({ type: 'ok', id: 'a', status: 'pending', attempt: 1, changed: true, created: true });
    expect(r.entry('config', { voters: ['n1', 'n2'] })).toBeNull();
    expect(r.get('a')).toMatchObject({ id: 'a', type: 'email', priority: 5, payload: { n: [1, 2, 3] }, metadata: { attempt: '1' }, status: 'pending', createdAt: T0 });
    expect(r.m.appliedIndex).toBe(3);
    expect(r.stats().appliedIndex).toBe(3);
  });

  it('walks a job through its whole life, each command answering the status and attempt it left', () => {
    const r = new Registry();
    r.submit('a');
    expect(r.dispatch('a')).toEqual({ type: 'ok', id: 'a', status: 'dispatched', attempt: 1, changed: true });
    expect(r.start('a')).toMatchObject({ status: 'running', changed: true });
    expect(r.progress('a', 30)).toMatchObject({ status: 'running', changed: true });
    expect(r.fail('a')).toMatchObject({ status: 'failed', attempt: 1 });
    expect(r.retry('a')).toMatchObject({ status: 'pending', attempt: 2 });
    r.dispatch('a');
    r.start('a', 'w2');
    expect(r.complete('a', { result: { sum: 6 } })).toMatchObject({ status: 'completed', attempt: 2 });
    expect(r.get('a')).toMatchObject({ status: 'completed', attempt: 2, retries: 1, worker: 'w2', result: { sum: 6 }, progress: 100, error: 'boom' });
  });

  it.each<[string, unknown, string]>([
    ['a missing field', { c: 'submit', id: 'a', at: 1, priority: 5 }, 'type'],
    ['a priority out of 1..15', { c: 'submit', id: 'a', at: 1, type: 't', priority: 0 }, 'priority'],
    ['a metadata value that is not a string', { c: 'submit', id: 'a', at: 1, type: 't', priority: 5, metadata: { n: 1 } }, 'metadata.n'],
    ['a metadata key longer than maxMetadataKeyChars', { c: 'submit', id: 'a', at: 1, type: 't', priority: 5, metadata: { ['k'.repeat(registryLimits.maxMetadataKeyChars + 1)]: 'v' } }, `metadata.${'k'.repeat(registryLimits.maxMetadataKeyChars + 1)}`],
    ['an empty metadata key', { c: 'submit', id: 'a', at: 1, type: 't', priority: 5, metadata: { '': 'v' } }, 'metadata.'],
    ['a payload that is not an object', { c: 'submit', id: 'a', at: 1, type: 't', priority: 5, payload: [1] }, 'payload'],
    ['an unknown command', { c: 'explode', id: 'a' }, 'c'],
    ['no command tag', { id: 'a' }, 'c'],
    ['null', null, ''],
    ['an array', [{ c: 'submit' }], ''],
    ['a string', 'submit a', ''],
    ['attempt 0', { c: 'dispatch', id: 'a', at: 1, attempt: 0 }, 'attempt'],
    ['a fractional attempt', { c: 'dispatch', id: 'a', at: 1, attempt: 1.5 }, 'attempt'],
    ['progress over 100', { c: 'progress', id: 'a', at: 1, attempt: 1, progress: 101 }, 'progress'],
    ['a negative time', { c: 'fail', id: 'a', at: -1, attempt: 1, error: 'x' }, 'at'],
    ['a time beyond the safe integers', { c: 'submit', id: 'a', at: 2 ** 60, type: 't', priority: 5 }, 'at'],
    ['an empty id', { c: 'cancel', id: '', at: 1 }, 'id'],
    ['an id with a lone surrogate', { c: 'submit', id: 'a\ud800', at: 1, type: 't', priority: 5 }, 'id'],
    ['a prune limit of 0', { c: 'prune', at: 1, before: 1, limit: 0 }, 'limit'],
  ])('%s is applied as an invalid_command rejection naming the field, and changes nothing', (_what, data, field) => {
    const r = new Registry();
    r.submit('a');
    const before = r.view();
    const result = r.apply(data);
    expect(result).toMatchObject(rejected('invalid_command', { field }));
    if (result.type === 'rejected' && result.reason.code === 'invalid_command') expect(result.reason.message).not.toBe('');
    expect(r.view()).toEqual({ ...before, events: { ...before.events, appliedIndex: 2, last: 2 }, stats: { ...before.stats, appliedIndex: 2 } });
  });

  it('a payload or a result over the size limit is rejected as invalid_command, and changes nothing', () => {
    const r = new Registry();
    const big = 'x'.repeat(registryLimits.maxPayloadChars);
    expect(r.submit('a', { payload: { big } })).toMatchObject(rejected('invalid_command', { field: 'payload' }));
    expect(r.get('a')).toBeNull();
    // Just under the limit is fine: `{"big":"…"}` adds 10 characters.
    expect(r.submit('a', { payload: { big: big.slice(10) } })).toMatchObject({ type: 'ok', created: true });
    r.dispatch('a');
    r.start('a');
    expect(r.complete('a', { result: big })).toMatchObject(rejected('invalid_command', { field: 'result' }));
    expect(r.get('a')).toMatchObject({ status: 'running', result: null });
    expect(r.allEvents().map((e) => e.kind)).toEqual(['submitted', 'dispatched', 'started']);
  });

  it('rejections carry their typed reason: not_found, stale_attempt, illegal_transition, worker_mismatch, retries_exhausted (idempotency_conflict: see idempotency)', () => {
    const r = new Registry();
    expect(r.dispatch('nope')).toEqual(rejected('not_found', { id: 'nope' }));
    r.running('a', 'w1', 0, { maxRetries: 0 });
    expect(r.cmd('complete', 'a', { attempt: 2 })).toEqual(rejected('stale_attempt', { attempt: 2, current: 1 }));
    expect(r.dispatch('a')).toEqual(rejected('illegal_transition', { from: 'running', command: 'dispatch' }));
    expect(r.progress('a', 10, { worker: 'w2' })).toEqual(rejected('worker_mismatch', { worker: 'w2', current: 'w1' }));
    r.fail('a');
    expect(r.retry('a')).toEqual(rejected('retries_exhausted', { retries: 0, maxRetries: 0 }));
  });
});

describe('idempotency', () => {
  it('an idempotency key returns the first job, whatever id and body a later submit carries', () => {
    const r = new Registry();
    expect(r.submit('a', { idempotencyKey: 'k1', payload: { v: 1 } })).toMatchObject({ id: 'a', created: true });
    r.dispatch('a');
    expect(r.submit('b', { idempotencyKey: 'k1', type: 'other', priority: 15, payload: { v: 2 } })).toEqual({ type: 'ok', id: 'a', status: 'dispatched', attempt: 1, changed: false, created: false });
    expect(r.get('b')).toBeNull();
    expect(r.q({ q: 'byKey', key: 'k1' })).toMatchObject({ id: 'a', type: 'email', priority: 5, payload: { v: 1 } });
    expect(r.q({ q: 'byKey', key: 'k2' })).toBeNull();
    expect(r.stats().total).toBe(1);
  });

  it('resubmitting an id is idempotent: the first submit wins, and no event is emitted', () => {
    const r = new Registry();
    r.submit('a', { payload: { v: 1 } });
    expect(r.submit('a', { payload: { v: 2 } })).toEqual({ type: 'ok', id: 'a', status: 'pending', attempt: 1, changed: false, created: false });
    r.submit('b', { idempotencyKey: 'kb' });
    // A retry of a keyed submit may carry its key or leave it out.
    expect(r.submit('b', { idempotencyKey: 'kb', payload: { v: 3 } })).toMatchObject({ type: 'ok', id: 'b', changed: false, created: false });
    expect(r.submit('b', { payload: { v: 3 } })).toMatchObject({ type: 'ok', id: 'b', changed: false, created: false });
    expect(r.get('a')).toMatchObject({ payload: { v: 1 }, idempotencyKey: null });
    expect(r.allEvents()).toHaveLength(2);
  });

  it('an id submitted under another key (or none) is an idempotency_conflict: nothing changes, and the key stays free or with its job', () => {
    const r = new Registry();
    r.submit('a', { payload: { v: 1 } });
    r.submit('b', { idempotencyKey: 'kb' });
    r.submit('c', { idempotencyKey: 'kc' });
    expect(r.submit('a', { idempotencyKey: 'new' })).toEqual(rejected('idempotency_conflict', { id: 'a', key: 'new', jobKey: null }));
    expect(r.submit('b', { idempotencyKey: 'other' })).toEqual(rejected('idempotency_conflict', { id: 'b', key: 'other', jobKey: 'kb' }));
    // The key names job c, the id job b: neither answer would be the same job for the same key.
    expect(r.submit('b', { idempotencyKey: 'kc' })).toEqual(rejected('idempotency_conflict', { id: 'b', key: 'kc', jobKey: 'kb' }));
    expect(r.q({ q: 'byKey', key: 'new' })).toBeNull();
    expect(r.q({ q: 'byKey', key: 'kc' })).toMatchObject({ id: 'c' });
    expect(r.get('a')).toMatchObject({ idempotencyKey: null });
    expect(r.allEvents()).toHaveLength(3);
  });

  it('a key lives as long as its job: once retention removes the job, the key makes a new one', () => {
    const r = new Registry();
    r.submit('a', { idempotencyKey: 'k' });
    r.cancel('a');
    r.advance(DAY);
    expect(r.prune(r.now)).toMatchObject({ type: 'pruned', jobs: 1 });
    expect(r.submit('b', { idempotencyKey: 'k' })).toMatchObject({ id: 'b', created: true });
  });
});

describe('the event feed', () => {
  it('one event per transition that changed something, with seq = the log index; none for rejections or duplicates', () => {
    const r = new Registry();
    const changed: number[] = [];
    const track = (res: CommandResult) => {
      if (res.type === 'ok' && res.changed) changed.push(r.lastIndex);
    };
    track(r.submit('a'));
    r.entry('noop', null);
    track(r.submit('a')); // duplicate submit
    track(r.dispatch('a'));
    track(r.start('a'));
    track(r.start('a')); // duplicate start
    track(r.progress('a', 50));
    track(r.progress('a', 50)); // duplicate progress
    track(r.dispatch('a')); // illegal
    track(r.complete('a', { result: 7 }));
    track(r.complete('a')); // duplicate completion
    track(r.apply({ c: 'nonsense' }));
    const events = r.allEvents();
    expect(events.map((e) => e.seq)).toEqual(changed);
    expect(changed).toEqual([1, 4, 5, 7, 10]);
    expect(events).toEqual([
      { seq: 1, n: 0, at: T0, kind: 'submitted', jobId: 'a', status: 'pending', attempt: 1, worker: null, detail: null },
      { seq: 4, n: 0, at: T0, kind: 'dispatched', jobId: 'a', status: 'dispatched', attempt: 1, worker: null, detail: null },
      { seq: 5, n: 0, at: T0, kind: 'started', jobId: 'a', status: 'running', attempt: 1, worker: 'w1', detail: null },
      { seq: 7, n: 0, at: T0, kind: 'progress', jobId: 'a', status: 'running', attempt: 1, worker: 'w1', detail: { progress: 50 } },
      { seq: 10, n: 0, at: T0, kind: 'completed', jobId: 'a', status: 'completed', attempt: 1, worker: 'w1', detail: null },
    ]);
  });

  it.each([
    ['held in memory (write-behind)', {}],
    ['written at once', { writeBehindJobs: 0 }],
  ])('a timed-out failure reads back as timedOut, %s, from SQLite and from a snapshot', (_what, opts) => {
    const r = new Registry(machine(opts));
    r.running('t', 'w1', 10);
    r.fail('t', 'execution timeout', { timeout: true });
    r.running('p', 'w1', 10);
    r.fail('p', 'boom');
    expect(r.get('t')).toMatchObject({ status: 'failed', error: 'execution timeout', timedOut: true });
    expect(r.get('p')).toMatchObject({ status: 'failed', timedOut: false });
    // A list query reads the table (and first writes what is held back).
    expect(r.list({ status: 'failed' }, { order: 'asc' }).jobs.map((j) => [j.id, j.timedOut])).toEqual([
      ['t', true],
      ['p', false],
    ]);
    r.dead('t');
    const restored = machine();
    restored.restore(r.m.snapshot());
    expect(restored.query({ q: 'get', id: 't' })).toMatchObject({ status: 'dead', timedOut: true });
    expect(restored.query({ q: 'get', id: 'p' })).toMatchObject({ status: 'failed', timedOut: false });
  });

  it('each event kind carries its detail: error, the retry runAt, redispatch, reasons', () => {
    const r = new Registry();
    r.submit('a');
    r.dispatch('a');
    r.dispatch('a'); // the same dispatch proposed twice: unchanged, no event
    r.redispatch('a'); // attempt 2
    r.fail('a', 'timeout');
    r.retry('a', T0 + 5000);
    r.dispatch('a');
    r.fail('a', 'again');
    r.dead('a', { reason: 'gave up' });
    r.submit('b');
    r.cancel('b', { reason: 'user' });
    expect(r.allEvents().map((e) => [e.kind, e.attempt, e.detail])).toEqual([
      ['submitted', 1, null],
      ['dispatched', 1, null],
      ['dispatched', 2, { redispatch: true }],
      ['failed', 2, { error: 'timeout' }],
      ['retry_scheduled', 3, { runAt: T0 + 5000 }],
      ['dispatched', 3, null],
      ['failed', 3, { error: 'again' }],
      ['dead', 3, { reason: 'gave up' }],
      ['submitted', 1, null],
      ['cancelled', 1, { reason: 'user' }],
    ]);
  });

  it('pages with `after` and `limit`: a full page ends at its last event, a short one at the applied index so a reader skips the entries that made none', () => {
    const r = new Registry();
    for (const id of ['a', 'b', 'c', 'd', 'e']) r.submit(id); // seqs 1..5
    r.entry('noop', null); // 6
    r.dispatch('nope'); // 7: rejected, no event
    const p1 = r.events(0, 2);
    expect(p1).toMatchObject({ type: 'events', last: 2, appliedIndex: 7 });
    if (p1.type !== 'events') throw new Error('truncated');
    expect(p1.events.map((e) => e.seq)).toEqual([1, 2]);
    const p2 = r.events(p1.last, 2);
    expect(p2).toMatchObject({ last: 4 });
    const p3 = r.events(4, 2);
    expect(p3).toMatchObject({ type: 'events', last: 7, appliedIndex: 7 });
    if (p3.type !== 'events') throw new Error('truncated');
    expect(p3.events.map((e) => e.seq)).toEqual([5]);
    // Caught up: an empty page that keeps the reader where it is.
    expect(r.events(7)).toEqual({ type: 'events', events: [], last: 7, appliedIndex: 7 });
    expect(r.events(100)).toEqual({ type: 'events', events: [], last: 100, appliedIndex: 7 });
    // A new event is the first thing the reader sees next.
    r.submit('f');
    expect(r.events(p3.last)).toMatchObject({ events: [{ seq: 8, jobId: 'f' }], last: 8 });
  });

  it('the page limit defaults to 1000 and is clamped to 10000', () => {
    const r = new Registry();
    for (let i = 0; i < QUERY_LIMITS.defaultEventsLimit + 5; i++) r.submit(`j${i}`);
    const page = r.events(0);
    expect(page.type === 'events' && page.events.length).toBe(QUERY_LIMITS.defaultEventsLimit);
    const all = r.events(0, 10 ** 9);
    expect(all.type === 'events' && all.events.length).toBe(QUERY_LIMITS.defaultEventsLimit + 5);
  });

  it('after retention removed events a reader behind it is told `truncated`, with where the feed now starts', () => {
    const r = new Registry();
    r.submit('a'); // 1
    r.submit('b'); // 2
    r.advance(DAY);
    r.submit('c'); // 3
    expect(r.prune(T0 + 1)).toEqual({ type: 'pruned', jobs: 0, events: 2, more: false }); // 4: a pruned event
    expect(r.events(0)).toEqual({ type: 'truncated', oldest: 3, appliedIndex: 4 });
    expect(r.events(1)).toMatchObject({ type: 'truncated', oldest: 3 });
    // Resuming from oldest - 1 reads everything that is left.
    const rest = r.events(2);
    expect(rest.type === 'events' && rest.events.map((e) => [e.seq, e.kind])).toEqual([
      [3, 'submitted'],
      [4, 'pruned'],
    ]);
    expect(rest.type === 'events' && rest.events[1]).toMatchObject({ jobId: null, status: null, attempt: null, worker: null, detail: { jobs: 0, events: 2, before: T0 + 1 } });
  });
});

describe('retention', () => {
  /** Jobs in every status, the terminal ones finished at T0 + 10 … T0 + 60. */
  function mixed(): Registry {
    const r = new Registry();
    r.submit('p');
    r.submit('d');
    r.dispatch('d');
    r.running('r');
    r.running('f');
    r.fail('f');
    r.advance(10);
    r.running('c1');
    r.complete('c1');
    r.advance(10);
    r.running('x1');
    r.fail('x1');
    r.dead('x1', { reason: 'no' });
    r.advance(10);
    r.submit('k1');
    r.cancel('k1');
    r.advance(10);
    r.running('c2');
    r.complete('c2');
    r.advance(10);
    r.submit('k2');
    r.cancel('k2');
    r.advance(10);
    r.running('c3');
    r.complete('c3');
    return r;
  }

  it('removes only terminal jobs finished before `before`, oldest first, at most `limit` a command, saying whether more remain', () => {
    const r = mixed();
    expect(r.prune(T0 + 55, 2)).toEqual({ type: 'pruned', jobs: 2, events: 2, more: true });
    // Same createdAt: in the order submitted.
    expect(r.ids({}, 'asc')).toEqual(['p', 'd', 'r', 'f', 'k1', 'c2', 'k2', 'c3']);
    // The leader proposes prunes until `more` is false; `more` covers the events too.
    const removed: number[] = [];
    for (let more = true; more; ) {
      const res = r.prune(T0 + 55, 2);
      if (res.type !== 'pruned') throw new Error('not a prune result');
      removed.push(res.jobs);
      more = res.more;
    }
    expect(removed.slice(0, 3)).toEqual([2, 1, 0]);
    expect(r.ids({}, 'asc')).toEqual(['p', 'd', 'r', 'f', 'c3']);
    // Nothing left before `before`: no event, no change.
    const applied = r.lastIndex;
    expect(r.prune(T0 + 55, 2)).toEqual({ type: 'pruned', jobs: 0, events: 0, more: false });
    expect(r.events(applied)).toMatchObject({ type: 'events', events: [] });
    // Non-terminal jobs stay however old they are (a failed job is waiting for retry or dead).
    r.advance(365 * DAY);
    r.prune(r.now);
    expect(r.ids({}, 'asc')).toEqual(['p', 'd', 'r', 'f']);
  });

  it('keeps the statistics counters in step with the rows it removes', () => {
    const r = mixed();
    expect(r.stats()).toMatchObject({ total: 10, byStatus: { pending: 1, dispatched: 1, running: 1, failed: 1, completed: 3, dead: 1, cancelled: 2 }, byPriority: { '5': 10 } });
    r.prune(T0 + 1000);
    expect(r.stats()).toMatchObject({ total: 4, byStatus: { pending: 1, dispatched: 1, running: 1, failed: 1, completed: 0, dead: 0, cancelled: 0 }, byPriority: { '5': 4 } });
  });

  it('removes events older than `before` as a prefix of the feed, bounded by the same limit', () => {
    const r = new Registry();
    for (let i = 0; i < 5; i++) r.submit(`j${i}`); // at T0, seqs 1..5
    r.advance(100);
    r.submit('late'); // 6
    expect(r.prune(T0 + 1, 3)).toMatchObject({ events: 3, more: true });
    expect(r.events(0)).toMatchObject({ type: 'truncated', oldest: 4 });
    expect(r.prune(T0 + 1, 3)).toMatchObject({ events: 2, more: false });
    expect(r.events(0)).toMatchObject({ type: 'truncated', oldest: 6 });
    const kept = r.events(5);
    expect(kept.type === 'events' && kept.events.map((e) => e.kind)).toEqual(['submitted', 'pruned', 'pruned']);
  });
});

describe('list queries', () => {
  /** Ten jobs with known fields: createdAt T0 + i, type/priority/worker/status varied. */
  function catalogue(): Registry {
    const r = new Registry();
    const plan: [string, string, number, JobStatus, string | null][] = [
      ['j0', 'email', 1, 'pending', null],
      ['j1', 'email', 5, 'running', 'w1'],
      ['j2', 'resize', 10, 'completed', 'w2'],
      ['j3', 'resize', 15, 'running', 'w2'],
      ['j4', 'email', 5, 'failed', 'w1'],
      ['j5', 'report', 1, 'dispatched', null],
      ['j6', 'report', 10, 'cancelled', null],
      ['j7', 'email', 10, 'completed', 'w1'],
      ['j8', 'resize', 5, 'pending', null],
      ['j9', 'report', 15, 'dead', 'w2'],
    ];
    for (const [id, type, priority, status, worker] of plan) {
      r.submit(id, { type, priority });
      if (status === 'pending') {
        r.advance(1);
        continue;
      }
      if (status === 'cancelled') r.cancel(id);
      else r.dispatch(id);
      if (worker !== null) r.start(id, worker);
      if (status === 'completed') r.complete(id);
      if (status === 'failed' || status === 'dead') r.fail(id);
      if (status === 'dead') r.dead(id);
      r.advance(1);
    }
    return r;
  }

  it('lists newest first by default and oldest first with order asc', () => {
    const r = catalogue();
    expect(r.ids()).toEqual(['j9', 'j8', 'j7', 'j6', 'j5', 'j4', 'j3', 'j2', 'j1', 'j0']);
    expect(r.ids({}, 'asc')).toEqual(['j0', 'j1', 'j2', 'j3', 'j4', 'j5', 'j6', 'j7', 'j8', 'j9']);
  });

  it.each<[string, ListFilter, string[]]>([
    ['status', { status: 'running' }, ['j1', 'j3']],
    ['type', { type: 'report' }, ['j5', 'j6', 'j9']],
    ['priority', { priority: 10 }, ['j2', 'j6', 'j7']],
    ['worker', { worker: 'w2' }, ['j2', 'j3', 'j9']],
    ['createdFrom (inclusive)', { createdFrom: T0 + 7 }, ['j7', 'j8', 'j9']],
    ['createdTo (inclusive)', { createdTo: T0 + 2 }, ['j0', 'j1', 'j2']],
    ['a created range', { createdFrom: T0 + 3, createdTo: T0 + 5 }, ['j3', 'j4', 'j5']],
    ['several filters at once', { type: 'email', priority: 5, worker: 'w1' }, ['j1', 'j4']],
    ['a filter nothing matches', { status: 'completed', type: 'report' }, []],
  ])('filters by %s', (_what, filter, expected) => {
    const r = catalogue();
    expect(r.ids(filter, 'asc')).toEqual(expected);
    expect(r.ids(filter, 'desc')).toEqual([...expected].reverse());
  });

  it('the page limit defaults to 50 and is clamped to 1000', () => {
    const r = new Registry();
    for (let i = 0; i < QUERY_LIMITS.maxListLimit + 1; i++) r.submit(`j${i}`);
    expect(r.list().jobs).toHaveLength(QUERY_LIMITS.defaultListLimit);
    const page = r.list({}, { limit: 5000 });
    expect(page.jobs).toHaveLength(QUERY_LIMITS.maxListLimit);
    expect(page.next).not.toBeNull();
  });

  it('a cursor that this registry did not issue is an invalid_cursor query error', () => {
    const r = catalogue();
    for (const cursor of ['garbage', '', Buffer.from('[1]').toString('base64url'), Buffer.from('[1.5,"x"]').toString('base64url'), Buffer.from('{"a":1}').toString('base64url')]) {
      let err: unknown;
      try {
        r.list({}, { cursor });
      } catch (e) {
        err = e;
      }
      expect(err, cursor).toBeInstanceOf(RegistryQueryError);
      expect(err).toMatchObject({ code: 'invalid_cursor', field: 'cursor' });
    }
  });

  it('a query of the wrong shape is an invalid_query error naming the field', () => {
    const r = catalogue();
    expect(() => r.q({ q: 'list', limit: 0 })).toThrow(RegistryQueryError);
    expect(() => r.q({ q: 'list', limit: 0 })).toThrow(expect.objectContaining({ code: 'invalid_query', field: 'limit' }));
    expect(() => r.q({ q: 'list', filter: { status: 'lost' as JobStatus } })).toThrow(expect.objectContaining({ code: 'invalid_query', field: 'filter.status' }));
    expect(() => r.m.query({ q: 'drop table' })).toThrow(expect.objectContaining({ code: 'invalid_query', field: 'q' }));
    expect(() => r.m.query(null)).toThrow(expect.objectContaining({ code: 'invalid_query', field: '' }));
  });

  it('cursor pagination walks every matching job exactly once, in order, whatever the data, filter, page size and order', () => {
    const jobArb = fc.record({
      dt: fc.integer({ min: 0, max: 5 }), // few distinct times: many ties on createdAt, broken by id
      type: fc.constantFrom('a', 'b'),
      priority: fc.constantFrom(1, 5),
      to: fc.constantFrom<JobStatus>('pending', 'running', 'completed'),
      worker: fc.constantFrom('w1', 'w2'),
    });
    const filterArb = fc.record(
      {
        status: fc.constantFrom<JobStatus>('pending', 'running', 'completed'),
        type: fc.constantFrom('a', 'b'),
        priority: fc.constantFrom(1, 5),
        worker: fc.constantFrom('w1', 'w2'),
        createdFrom: fc.integer({ min: T0, max: T0 + 12 }),
        createdTo: fc.integer({ min: T0, max: T0 + 12 }),
      },
      { requiredKeys: [] },
    );
    fc.assert(
      fc.property(
        fc.array(jobArb, { maxLength: 40 }),
        filterArb,
        fc.integer({ min: 1, max: 7 }),
        fc.constantFrom<'asc' | 'desc'>('asc', 'desc'),
        (plan, filter, limit, order) => {
          const r = new Registry();
          const submitted = new Map<string, number>();
          plan.forEach((p, i) => {
            r.now = T0 + p.dt * 2;
            const id = `j${(i * 7919) % 1000}`; // ids not in creation order
            submitted.set(id, i);
            r.submit(id, { type: p.type, priority: p.priority });
            if (p.to !== 'pending') r.running(id, p.worker);
            if (p.to === 'completed') r.complete(id);
          });
          const all = r.list({}, { order: 'asc', limit: 1000 }).jobs;
          const matches = (j: Job): boolean =>
            (filter.status === undefined || j.status === filter.status) &&
            (filter.type === undefined || j.type === filter.type) &&
            (filter.priority === undefined || j.priority === filter.priority) &&
            (filter.worker === undefined || j.worker === filter.worker) &&
            (filter.createdFrom === undefined || j.createdAt >= filter.createdFrom) &&
            (filter.createdTo === undefined || j.createdAt <= filter.createdTo);
          // Ties on createdAt in the order submitted (not by id: the ids are not in that order).
          const byKey = (a: Job, b: Job): number => a.createdAt - b.createdAt || submitted.get(a.id)! - submitted.get(b.id)!;
          const expected = all.filter(matches).sort(byKey);
          if (order === 'desc') expected.reverse();
          const walked: string[] = [];
          let cursor: string | undefined;
          for (let pages = 0; ; pages++) {
            expect(pages).toBeLessThanOrEqual(expected.length + 1);
            const page = r.list(filter, cursor === undefined ? { limit, order } : { limit, order, cursor });
            expect(page.jobs.length).toBeLessThanOrEqual(limit);
            walked.push(...page.jobs.map((j) => j.id));
            if (page.next === null) break;
            cursor = page.next;
          }
          expect(walked).toEqual(expected.map((j) => j.id));
          for (const m of open) m.close();
          open = [];
        },
      ),
      { numRuns: 150 },
    );
  });
});

describe('work queries: due and overdue', () => {
  it('due lists pending jobs whose runAt has come, oldest first, bounded by limit', () => {
    const r = new Registry();
    r.submit('later', { runAt: T0 + 1000 });
    r.advance(1);
    r.submit('a');
    r.advance(1);
    r.submit('b');
    r.dispatch('b');
    r.advance(1);
    r.submit('c');
    const due = (now: number, limit?: number) => (r.q(limit === undefined ? { q: 'due', now } : { q: 'due', now, limit }) as Job[]).map((j) => j.id);
    expect(due(T0 + 3)).toEqual(['a', 'c']);
    expect(due(T0 + 3, 1)).toEqual(['a']);
    expect(due(T0 + 1000)).toEqual(['later', 'a', 'c']);
    expect(due(T0)).toEqual([]);
  });

  it('a retried job becomes due again at its backoff runAt', () => {
    const r = new Registry();
    r.running('a');
    r.fail('a');
    r.retry('a', T0 + 30_000);
    expect(r.q({ q: 'due', now: T0 + 29_999 })).toEqual([]);
    expect(r.q({ q: 'due', now: T0 + 30_000 })).toMatchObject([{ id: 'a', attempt: 2, status: 'pending' }]);
  });

  it('overdue lists dispatched jobs by dispatchedAt and running jobs by startedAt, strictly before `before`', () => {
    const r = new Registry();
    r.submit('d1');
    r.dispatch('d1');
    r.advance(100);
    r.running('r1');
    r.advance(100);
    r.submit('d2');
    r.dispatch('d2');
    r.running('r2');
    const overdue = (status: 'dispatched' | 'running', before: number) => (r.q({ q: 'overdue', status, before }) as Job[]).map((j) => j.id);
    expect(overdue('dispatched', T0 + 200)).toEqual(['d1']);
    expect(overdue('dispatched', T0 + 201)).toEqual(['d1', 'd2']);
    expect(overdue('running', T0 + 101)).toEqual(['r1']);
    expect(overdue('running', T0 + 100)).toEqual([]);
    // A re-dispatch restarts the dispatch clock.
    r.advance(1000);
    r.redispatch('d1');
    expect(overdue('dispatched', T0 + 1000)).toEqual(['d2']);
  });
});

describe('statistics', () => {
  it('counts jobs by status and priority, and measures queue and run times', () => {
    const r = new Registry();
    expect(r.stats()).toMatchObject({ total: 0, meanQueueMs: null, meanRunMs: null, throughputPerS: 0 });
    r.submit('a', { priority: 1 });
    r.advance(100);
    r.dispatch('a');
    r.start('a'); // queued 100 ms
    r.submit('b', { priority: 15 });
    r.advance(300);
    r.dispatch('b');
    r.start('b'); // queued 300 ms
    r.complete('a'); // ran 300 ms
    r.advance(200);
    r.fail('b'); // ran 200 ms
    r.submit('c', { priority: 15 });
    r.dispatch('c');
    r.complete('c'); // never started: counts in neither mean
    expect(r.stats()).toMatchObject({
      total: 3,
      byStatus: { pending: 0, dispatched: 0, running: 0, failed: 1, completed: 2, dead: 0, cancelled: 0 },
      byPriority: { '1': 1, '15': 2 },
      meanQueueMs: 200,
      meanRunMs: 250,
      appliedIndex: r.lastIndex,
    });
  });

  it('a retried job is measured once per attempt that starts and ends', () => {
    const r = new Registry();
    r.running('a', 'w1', 100);
    r.advance(50);
    r.fail('a');
    r.retry('a');
    r.dispatch('a');
    r.advance(50);
    r.start('a');
    r.advance(10);
    r.complete('a');
    // queue: 100 then 200 (from createdAt); run: 50 then 10
    expect(r.stats()).toMatchObject({ meanQueueMs: 150, meanRunMs: 30 });
  });

  it('throughput is the completions in the window before `now`, per second', () => {
    const r = new Registry();
    for (let i = 0; i < 6; i++) {
      r.running(`j${i}`);
      r.advance(10_000);
      r.complete(`j${i}`); // finished at T0 + 10 s, 20 s, … 60 s
    }
    r.running('f');
    r.fail('f');
    expect(r.stats()).toMatchObject({ windowMs: 60_000, throughputPerS: 0.1 }); // 6 in the default 60 s window
    expect(r.stats(25_000)).toMatchObject({ windowMs: 25_000, throughputPerS: 3 / 25 }); // 40, 50, 60 s
    // A `now` in the past counts only what had completed by then: 10, 20 and 30 s.
    expect(r.q({ q: 'stats', now: T0 + 30_000, windowMs: 60_000 })).toMatchObject({ throughputPerS: 3 / 60 });
    r.advance(120_000);
    expect(r.stats().throughputPerS).toBe(0);
  });
});

describe('snapshots', () => {
  /** A history with every kind of entry: transitions, rejections, noops, a prune. */
  function history(r: Registry): void {
    r.running('a', 'w1', 50, { idempotencyKey: 'ka', payload: { n: 1 }, metadata: { m: 'x' } });
    r.complete('a', { result: { ok: [1, 2] } });
    r.submit('b', { priority: 15, runAt: T0 + 10_000 });
    r.entry('noop', null);
    r.running('c', 'w2', 10);
    r.fail('c', 'execution timeout', { timeout: true });
    r.retry('c', T0 + 500);
    r.dispatch('nope');
    r.submit('d');
    r.cancel('d');
    r.advance(DAY);
    r.prune(T0 + 1, 2);
    r.running('e', 'w3', 5);
    r.progress('e', 60);
  }

  /** What comes after the snapshot: touches every live job, and a terminal one. */
  function continuation(r: Registry): void {
    r.dispatch('b');
    r.start('b', 'w1');
    r.complete('b');
    r.dispatch('c');
    r.redispatch('c');
    r.start('c', 'w2');
    r.progress('e', 90);
    r.fail('e', 'late');
    r.dead('e');
    r.complete('a'); // duplicate on a terminal job
    r.submit('z', { idempotencyKey: 'ka' });
    r.submit('f');
    r.advance(DAY);
    r.prune(r.now, 100);
  }

  it('restoring a snapshot into a fresh machine answers every query the same, then applies the rest of the log the same', () => {
    const a = new Registry();
    history(a);
    const image = a.m.snapshot();
    const b = new Registry();
    b.m.restore(image);
    b.now = a.now;
    expect(b.m.appliedIndex).toBe(a.m.appliedIndex);
    expect(b.view()).toEqual(a.view());
    expect(b.q({ q: 'byKey', key: 'ka' })).toEqual(a.q({ q: 'byKey', key: 'ka' }));
    expect(b.q({ q: 'due', now: a.now })).toEqual(a.q({ q: 'due', now: a.now }));
    // Continue both from the same point with the same entries.
    continuation(a);
    for (const e of a.log.filter((e) => e.index > b.m.appliedIndex)) b.m.apply(e);
    b.now = a.now;
    expect(b.view()).toEqual(a.view());
    expect(b.view().jobs.map((j) => [j.id, j.status, j.attempt])).toEqual([
      ['c', 'running', 3],
      ['f', 'pending', 1],
    ]);
  });

  it('a snapshot restored over a machine that had other state replaces all of it', () => {
    const a = new Registry();
    history(a);
    const b = new Registry();
    b.running('other');
    b.m.restore(a.m.snapshot());
    b.now = a.now;
    expect(b.view()).toEqual(a.view());
    expect(b.get('other')).toBeNull();
  });
});

describe('batches', () => {
  it('outside a batch every event is told as it is applied; in a batch, once at the end with all of them in order', () => {
    const told: number[][] = [];
    const r = new Registry(machine({ onEvents: (es) => told.push(es.map((e) => e.seq)) }));
    r.submit('a');
    r.dispatch('nope');
    expect(told).toEqual([[1]]);
    r.m.batch(() => {
      r.dispatch('a');
      r.dispatch('nope'); // rejected: no event
      r.start('a');
      r.entry('noop', null);
      r.submit('b');
      expect(told).toHaveLength(1); // nothing told mid-batch
    });
    expect(told).toEqual([[1], [3, 5, 7]]);
    r.m.batch(() => {
      r.dispatch('nope');
    });
    expect(told).toHaveLength(2); // a batch without events tells nothing
    r.submit('c');
    expect(told).toEqual([[1], [3, 5, 7], [9]]);
  });

  it.each([
    { where: 'in memory', store: undefined },
    { where: 'in a file', store: 'file' },
  ])('a batch that throws tells nothing, rolls its rows back, and rethrows (the owner crashes and rebuilds from the log): $where', ({ store }) => {
    const told: JobEvent[][] = [];
    const r = new Registry(machine({ onEvents: (es) => told.push([...es]), store: store === undefined ? undefined : fileStore() }));
    expect(() =>
      r.m.batch(() => {
        r.submit('a');
        r.submit('b');
        throw new Error('disk on fire');
      }),
    ).toThrow('disk on fire');
    expect(told).toEqual([]);
    expect(r.get('a')).toBeNull();
    expect(r.events(0)).toMatchObject({ events: [] });
  });
});

describe('telling readers', () => {
  it('onApplied is told once a committed batch (or a lone entry) made events, and builds no events for it; onEvents gets them', () => {
    let applied = 0;
    const told: JobEvent[][] = [];
    const quiet = machine({ onApplied: () => applied++ });
    const loud = machine({ onApplied: () => applied++, onEvents: (evs) => told.push([...evs]) });
    const entry = (index: number, data: unknown): LogEntry => ({ term: 1, index, kind: 'command', data });
    const sub = (id: string) => ({ c: 'submit', id, at: T0, type: 'email', priority: 5 });
    quiet.batch(() => {
      quiet.apply(entry(1, sub('a')));
      quiet.apply(entry(2, sub('b')));
    });
    expect(applied).toBe(1);
    quiet.batch(() => quiet.apply(entry(3, { c: 'dispatch', id: 'nope', at: T0, attempt: 1 }))); // rejected: no event
    expect(applied).toBe(1);
    quiet.apply(entry(4, sub('c')));
    expect(applied).toBe(2);
    loud.batch(() => {
      loud.apply(entry(1, sub('a')));
      loud.apply(entry(2, sub('b')));
    });
    expect(applied).toBe(3);
    expect(told.map((evs) => evs.map((e) => [e.seq, e.kind, e.jobId]))).toEqual([
      [
        [1, 'submitted', 'a'],
        [2, 'submitted', 'b'],
      ],
    ]);
    // Both wrote the same feed.
    expect(quiet.query({ q: 'events', after: 0 })).toMatchObject({ type: 'events', events: [{ jobId: 'a' }, { jobId: 'b' }, { jobId: 'c' }] });
  });
});

describe('batch entries', () => {
  it("a batch's time is that of every command in it without one of its own; a command's own time wins; neither is invalid", () => {
    const r = new Registry();
    const at = r.now;
    const res = r.entry('command', {
      c: 'batch',
      at: at + 7,
      commands: [
        { c: 'submit', id: 'a', type: 'email', priority: 5 },
        { c: 'submit', id: 'b', at: at + 3, type: 'email', priority: 5 },
        { c: 'dispatch', id: 'a', attempt: 1 },
      ],
    });
    expect(res).toMatchObject({ type: 'batch', results: [{ type: 'ok', created: true }, { type: 'ok', created: true }, { type: 'ok', status: 'dispatched' }] });
    expect(r.get('a')).toMatchObject({ createdAt: at + 7, dispatchedAt: at + 7 });
    expect(r.get('b')).toMatchObject({ createdAt: at + 3 });
    const none = r.entry('command', { c: 'batch', commands: [{ c: 'submit', id: 'c', type: 'email', priority: 5 }, { c: 'submit', id: 'd', at, type: 'email', priority: 5 }] });
    expect(none).toEqual({
      type: 'batch',
      results: [rejected('invalid_command', { field: 'commands.0.at', message: expect.any(String) }), { type: 'ok', id: 'd', status: 'pending', attempt: 1, changed: true, created: true }],
    });
    expect(r.get('c')).toBeNull();
    // A lone command still needs its own.
    expect(r.entry('command', { c: 'submit', id: 'e', type: 'email', priority: 5 })).toEqual(rejected('invalid_command', { field: 'at', message: expect.any(String) }));
  });

  it('applies each command of a batch entry in order, on its own: one result per command, a rejection does not stop the rest', () => {
    const r = new Registry();
    const at = r.now;
    const results = r.batch([
      { c: 'submit', id: 'a', at, type: 'email', priority: 5 },
      { c: 'dispatch', id: 'a', at, attempt: 1 },
      { c: 'dispatch', id: 'nope', at, attempt: 1 },
      { c: 'submit', id: 'b', at, type: 'email', priority: 99 },
      { c: 'start', id: 'a', at, attempt: 1, worker: 'w1' },
      { c: 'submit', id: 'a', at, type: 'email', priority: 5 },
    ]);
    expect(results).toEqual([
      { type: 'ok', id: 'a', status: 'pending', attempt: 1, changed: true, created: true },
      { type: 'ok', id: 'a', status: 'dispatched', attempt: 1, changed: true },
      rejected('not_found', { id: 'nope' }),
      rejected('invalid_command', { field: 'commands.3.priority', message: expect.any(String) }),
      { type: 'ok', id: 'a', status: 'running', attempt: 1, changed: true },
      { type: 'ok', id: 'a', status: 'running', attempt: 1, changed: false, created: false },
    ]);
    expect(r.get('a')).toMatchObject({ status: 'running', worker: 'w1' });
    expect(r.get('b')).toBeNull();
  });

  it("a batch entry's events share its seq and are numbered n = 0, 1, … in the order they happened", () => {
    const r = new Registry();
    r.submit('x'); // seq 1
    const at = r.now;
    r.batch([
      { c: 'submit', id: 'a', at, type: 't', priority: 5 },
      { c: 'dispatch', id: 'nope', at, attempt: 1 }, // no event
      { c: 'submit', id: 'b', at, type: 't', priority: 5 },
      { c: 'dispatch', id: 'a', at, attempt: 1 },
    ]); // seq 2
    r.submit('y'); // seq 3
    expect(r.allEvents().map((e) => [e.seq, e.n, e.kind, e.jobId])).toEqual([
      [1, 0, 'submitted', 'x'],
      [2, 0, 'submitted', 'a'],
      [2, 1, 'submitted', 'b'],
      [2, 2, 'dispatched', 'a'],
      [3, 0, 'submitted', 'y'],
    ]);
  });

  it('an event page never ends inside an entry: a page that would is completed with the rest of it, and `last` is that entry', () => {
    const r = new Registry();
    r.submit('x'); // seq 1
    const at = r.now;
    r.batch(['a', 'b', 'c', 'd'].map((id) => ({ c: 'submit', id, at, type: 't', priority: 5 }))); // seq 2, n 0..3
    r.submit('y'); // seq 3
    const p1 = r.events(0, 2);
    expect(p1.type === 'events' && p1.events.map((e) => [e.seq, e.n])).toEqual([
      [1, 0],
      [2, 0],
      [2, 1],
      [2, 2],
      [2, 3],
    ]);
    expect(p1).toMatchObject({ last: 2 });
    const p2 = r.events(2, 2);
    expect(p2).toMatchObject({ type: 'events', events: [{ seq: 3, n: 0 }], last: 3 });
  });

  it('refuses what a batch may not hold, naming the command: a prune, a nested batch, a non-object, an empty batch', () => {
    const r = new Registry();
    const results = r.batch([{ c: 'prune', at: 1, before: 1, limit: 1 }, { c: 'batch', commands: [{ c: 'cancel', id: 'a', at: 1 }] }, 'submit', { c: 'cancel', id: 'a', at: 1 }]);
    expect(results.map((x) => x.type === 'rejected' && x.reason)).toEqual([
      { code: 'invalid_command', field: 'commands.0.c', message: expect.any(String) },
      { code: 'invalid_command', field: 'commands.1.c', message: expect.any(String) },
      { code: 'invalid_command', field: 'commands.2', message: expect.any(String) },
      { code: 'not_found', id: 'a' },
    ]);
    expect(r.apply({ c: 'batch', commands: [] })).toMatchObject(rejected('invalid_command', { field: 'commands' }));
    expect(r.apply({ c: 'batch', commands: Array.from({ length: registryLimits.maxCommandsPerEntry + 1 }, () => ({})) })).toMatchObject(rejected('invalid_command', { field: 'commands' }));
  });

  it('retention removes events in whole entries, so the feed kept still starts at an entry', () => {
    const r = new Registry();
    const at = r.now;
    r.batch(['a', 'b', 'c'].map((id) => ({ c: 'submit', id, at, type: 't', priority: 5 }))); // seq 1, n 0..2
    r.advance(DAY);
    r.submit('d'); // seq 2
    expect(r.prune(T0 + 1, 2)).toMatchObject({ type: 'pruned', events: 3 });
    expect(r.events(0)).toMatchObject({ type: 'truncated', oldest: 2 });
    const rest = r.events(1);
    expect(rest.type === 'events' && rest.events.map((e) => [e.seq, e.n, e.kind])).toEqual([
      [2, 0, 'submitted'],
      [3, 0, 'pruned'],
    ]);
  });
});

describe('determinism', () => {
  const ids = ['a', 'b', 'c', 'd'];
  const submitArb = fc.record({ c: fc.constant('submit'), id: fc.constantFrom(...ids), type: fc.constantFrom('x', 'y'), priority: fc.integer({ min: 1, max: 15 }), idempotencyKey: fc.constantFrom('k1', 'k2', undefined), maxRetries: fc.integer({ min: 0, max: 2 }) });
  const jobCommandArb = fc.record({
    c: fc.constantFrom('dispatch', 'redispatch', 'start', 'progress', 'complete', 'fail', 'retry', 'dead', 'cancel'),
    id: fc.constantFrom(...ids),
    attempt: fc.integer({ min: 1, max: 4 }),
    worker: fc.constantFrom('w1', 'w2'),
    progress: fc.integer({ min: 0, max: 100 }),
    error: fc.constant('e'),
    runAt: fc.integer({ min: T0, max: T0 + 100_000 }),
    result: fc.jsonValue({ maxDepth: 2 }),
  });
  const entryArb: fc.Arbitrary<{ kind: EntryKind; data: Extra; dt: number }> = fc.record({
    kind: fc.constantFrom<EntryKind>('command', 'command', 'command', 'command', 'noop'),
    dt: fc.integer({ min: 0, max: 3_000 }),
    data: fc.oneof(
      { weight: 2, arbitrary: submitArb },
      { weight: 4, arbitrary: jobCommandArb },
      { weight: 1, arbitrary: fc.record({ c: fc.constant('prune'), before: fc.integer({ min: T0, max: T0 + 200_000 }), limit: fc.integer({ min: 1, max: 3 }) }) },
      { weight: 2, arbitrary: fc.record({ c: fc.constant('batch'), commands: fc.array(fc.oneof(submitArb, jobCommandArb, jobCommandArb), { minLength: 1, maxLength: 6 }) }) },
    ),
  });

  /**
   * Every command of an entry gets the entry's time: a batch's commands each their own (as batch entries were
   * logged before the sixth session) or, with `once`, the batch carries it for all of them (as job_registry
   * proposes them now).
   */
  const stamp = (data: Extra, at: number, once: boolean): Extra =>
    data.c !== 'batch' ? { ...data, at } : once ? { ...data, at, commands: data.commands } : { ...data, commands: (data.commands as Extra[]).map((c) => ({ ...c, at })) };

  it('machines that apply the same entries hold the same jobs, events and statistics, however batched, in memory or in a file, with or without a snapshot on the way', () => {
    fc.assert(
      fc.property(fc.array(entryArb, { minLength: 1, maxLength: 120 }), fc.nat(), fc.array(fc.integer({ min: 1, max: 9 }), { minLength: 1 }), (plan, cut, groups) => {
        let at = T0;
        const times = plan.map((p) => (at += p.dt));
        // Through JSON, as a log entry travels: undefined keys go, -0 becomes 0.
        const logOf = (once: (i: number) => boolean): LogEntry[] =>
          plan.map((p, i) => ({ term: 1, index: i + 1, kind: p.kind, data: p.kind === 'command' ? (JSON.parse(JSON.stringify(stamp(p.data, times[i]!, once(i)))) as unknown) : null }));
        const log = logOf((i) => i % 2 === 0);
        // The same commands with every batch's time the other way round (once for all, or on each command).
        const flipped = logOf((i) => i % 2 === 1);
        const one = new Registry();
        const two = new Registry();
        const three = new Registry();
        const split = cut % (log.length + 1);
        // Every batch written at once: what `one` holds back in memory must read the same, at any point.
        const five = new Registry(machine({ writeBehindJobs: 0 }));
        // As a follower applies: nobody reads the results, so none are built; the state must be the same.
        const six = new Registry();
        const seven = new Registry();
        const results1 = log.map((e, i) => {
          const r = one.m.apply(e);
          expect(five.m.apply(e)).toEqual(r);
          expect(six.m.apply(e, false)).toBeNull();
          expect(seven.m.apply(flipped[i]!)).toEqual(r);
          if (i % 7 === 0) {
            for (const id of ids) expect(one.m.query({ q: 'get', id })).toEqual(five.m.query({ q: 'get', id }));
            for (const key of ['k1', 'k2']) expect(one.m.query({ q: 'byKey', key })).toEqual(five.m.query({ q: 'byKey', key }));
          }
          if (i % 11 === 0) expect(one.m.query({ q: 'list', order: 'asc' })).toEqual(five.m.query({ q: 'list', order: 'asc' }));
          return r;
        });
        const results2: (EntryResult | null)[] = [];
        two.m.batch(() => {
          for (const e of log) results2.push(two.m.apply(e));
        });
        // Batches of random sizes: the events are cut into pieces differently (see store.ts, EVENT_KEY_N).
        // And its tables in a file, not in memory.
        const four = new Registry(machine({ store: fileStore() }));
        const results4: (EntryResult | null)[] = [];
        for (let i = 0, g = 0; i < log.length; g++) {
          const n = groups[g % groups.length]!;
          four.m.batch(() => {
            for (const e of log.slice(i, i + n)) results4.push(four.m.apply(e));
          });
          i += n;
        }
        for (const e of log.slice(0, split)) three.m.apply(e);
        // A memory machine's image restored into a file-backed one.
        const restored = new Registry(machine({ store: fileStore() }));
        restored.m.restore(three.m.snapshot());
        for (const e of log.slice(split)) restored.m.apply(e);
        expect(results2).toEqual(results1);
        expect(results4).toEqual(results1);
        for (const r of [one, two, four, five, six, seven, restored]) r.now = at;
        const view = one.view();
        expect(six.view()).toEqual(view);
        expect(seven.view()).toEqual(view);
        expect(two.view()).toEqual(view);
        expect(five.view()).toEqual(view);
        expect(four.view()).toEqual(view);
        expect(restored.view()).toEqual(view);
        for (const m of open) m.close();
        open = [];
      }),
      { numRuns: 150 },
    );
  });
});
