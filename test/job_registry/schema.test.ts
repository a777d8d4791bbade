// The registry's boundary (schema.ts) under fuzz. A log entry is applied on
// every member, so a command that made checkCommand or apply throw would crash
// every member on the same index: random JSON, random values and valid
// commands with random damage must come back as a result, never as a throw.
// Whatever is accepted must read back exactly as written, on a live machine
// and on one restored from its snapshot. A failing run prints its seed; re-run
// with fc.assert(..., { seed, path }).
import fc from 'fast-check';
import { afterEach, describe, expect, it } from 'vitest';
import { RegistryMachine, RegistryQueryError } from '../../actors/job_registry/machine.js';
import { checkCommand, checkQuery } from '../../actors/job_registry/schema.js';
import type { CommandResult, EntryResult, Job, ListPage } from '../../actors/job_registry/types.js';
import { QUERY_LIMITS } from '../../actors/job_registry/types.js';
import type { LogEntry } from '../../actors/raft/types.js';

const T0 = 1_700_000_000_000;
const COMMAND_NAMES = ['submit', 'dispatch', 'start', 'progress', 'complete', 'fail', 'retry', 'dead', 'cancel', 'prune', 'batch'] as const;
const FIELDS = ['c', 'id', 'at', 'type', 'priority', 'payload', 'maxRetries', 'timeoutS', 'metadata', 'parentId', 'idempotencyKey', 'runAt', 'attempt', 'worker', 'progress', 'result', 'error', 'timeout', 'reason', 'before', 'limit', 'commands'];

let machines: RegistryMachine[] = [];
function machine(): RegistryMachine {
  const m = new RegistryMachine();
  machines.push(m);
  return m;
}
function closeAll(): void {
  for (const m of machines) m.close();
  machines = [];
}
afterEach(closeAll);

// ---- arbitraries ----

type Obj = Record<string, unknown>;

/** Any UTF-16 code units, lone surrogates included (JSON.parse makes them from `\ud800` escapes). */
const codeUnits = fc.array(fc.integer({ min: 0, max: 0xffff }), { maxLength: 6 }).map((us) => String.fromCharCode(...us));
const text = fc.oneof(fc.string({ minLength: 1, maxLength: 8 }), codeUnits);
/** Mostly the ids the seeded jobs have, so commands reach the transitions. */
const jobId = fc.oneof({ weight: 4, arbitrary: fc.constantFrom('j1', 'j2', 'j3', 'j4') }, { weight: 1, arbitrary: fc.string({ minLength: 1, maxLength: 8 }) });
const time = fc.integer({ min: T0, max: T0 + 1_000_000 });
const attempt = fc.integer({ min: 1, max: 3 });
const worker = fc.constantFrom('w1', 'w2');
const json = fc.jsonValue({ maxDepth: 3 });

const validSingle: fc.Arbitrary<Obj> = fc.oneof(
  fc.record(
    {
      c: fc.constant('submit'),
      id: jobId,
      at: time,
      type: fc.string({ minLength: 1, maxLength: 10 }),
      priority: fc.integer({ min: 1, max: 15 }),
      payload: fc.dictionary(fc.string({ maxLength: 5 }), json, { maxKeys: 4 }),
      maxRetries: fc.integer({ min: 0, max: 5 }),
      timeoutS: fc.integer({ min: 1, max: 3600 }),
      metadata: fc.dictionary(fc.string({ minLength: 1, maxLength: 5 }), fc.string({ maxLength: 5 }), { maxKeys: 3 }),
      parentId: fc.string({ minLength: 1, maxLength: 5 }),
      idempotencyKey: fc.constantFrom('k1', 'k2', 'k3'),
      runAt: time,
    },
    { requiredKeys: ['c', 'id', 'at', 'type', 'priority'] },
  ),
  fc.record({ c: fc.constant('dispatch'), id: jobId, at: time, attempt }),
  fc.record({ c: fc.constant('start'), id: jobId, at: time, attempt, worker }),
  fc.record({ c: fc.constant('progress'), id: jobId, at: time, attempt, worker, progress: fc.double({ min: 0, max: 100, noNaN: true }) }, { requiredKeys: ['c', 'id', 'at', 'attempt', 'progress'] }),
  fc.record({ c: fc.constant('complete'), id: jobId, at: time, attempt, worker, result: json }, { requiredKeys: ['c', 'id', 'at', 'attempt'] }),
  fc.record({ c: fc.constant('fail'), id: jobId, at: time, attempt, worker, error: fc.string({ maxLength: 20 }), timeout: fc.boolean() }, { requiredKeys: ['c', 'id', 'at', 'attempt', 'error'] }),
  fc.record({ c: fc.constant('retry'), id: jobId, at: time, attempt, runAt: time }),
  fc.record({ c: fc.constant('dead'), id: jobId, at: time, attempt, reason: fc.string({ maxLength: 20 }) }, { requiredKeys: ['c', 'id', 'at', 'attempt'] }),
  fc.record({ c: fc.constant('cancel'), id: jobId, at: time, attempt, reason: fc.string({ maxLength: 20 }) }, { requiredKeys: ['c', 'id', 'at'] }),
  fc.record({ c: fc.constant('prune'), at: time, before: time, limit: fc.integer({ min: 1, max: 5 }) }),
);

/** A single command, or a batch entry of job commands (whose own commands the schema leaves to apply). */
const validCommand: fc.Arbitrary<Obj> = fc.oneof(
  { weight: 5, arbitrary: validSingle },
  { weight: 1, arbitrary: fc.record({ c: fc.constant('batch'), commands: fc.array(validSingle.filter((x) => x.c !== 'prune'), { minLength: 1, maxLength: 5 }) }) },
);

/** Values that sit on or across a boundary of some field's schema. */
const edgeValue = fc.constantFrom<unknown>(NaN, Infinity, -Infinity, -0, 0, -1, 0.5, 1e308, 2 ** 53, 2 ** 53 - 1, 101, 16, '', '1', 'x'.repeat(5000), null, true, [], {}, [1, 'a'], { c: 'submit' });

type Mutation = { readonly kind: 'delete'; readonly pick: number } | { readonly kind: 'set'; readonly key: string; readonly value: unknown } | { readonly kind: 'retag'; readonly c: string };

const mutation: fc.Arbitrary<Mutation> = fc.oneof(
  fc.record({ kind: fc.constant('delete' as const), pick: fc.nat() }),
  fc.record({
    kind: fc.constant('set' as const),
    key: fc.oneof({ weight: 4, arbitrary: fc.constantFrom(...FIELDS) }, { weight: 1, arbitrary: fc.constantFrom('__proto__', 'constructor', 'toString') }, { weight: 1, arbitrary: fc.string() }),
    value: fc.oneof(json, fc.anything(), codeUnits, edgeValue),
  }),
  fc.record({ kind: fc.constant('retag' as const), c: fc.oneof(fc.constantFrom(...COMMAND_NAMES), fc.constantFrom('toString', '__proto__', 'constructor', 'hasOwnProperty')) }),
);

/** `cmd` with `ms` applied, as own properties (so `__proto__` is a key, not a prototype). */
function damage(cmd: Obj, ms: readonly Mutation[]): Obj {
  const o: Obj = { ...cmd };
  const put = (k: string, value: unknown) => Object.defineProperty(o, k, { value, enumerable: true, writable: true, configurable: true });
  for (const m of ms) {
    if (m.kind === 'delete') {
      const keys = Object.keys(o);
      if (keys.length > 0) delete o[keys[m.pick % keys.length]!];
    } else if (m.kind === 'set') put(m.key, m.value);
    else put('c', m.c);
  }
  return o;
}

const damagedSingle: fc.Arbitrary<Obj> = fc.tuple(validSingle, fc.array(mutation, { minLength: 1, maxLength: 3 })).map(([c, ms]) => damage(c, ms));
/** A damaged command, or a batch entry holding damaged commands (and anything else). */
const damagedCommand: fc.Arbitrary<Obj> = fc.oneof(
  { weight: 4, arbitrary: damagedSingle },
  { weight: 1, arbitrary: fc.record({ c: fc.constant('batch'), commands: fc.array(fc.oneof(validSingle, damagedSingle, fc.jsonValue(), fc.anything()), { minLength: 1, maxLength: 5 }) }) },
);
const anyEntryData: fc.Arbitrary<unknown> = fc.oneof({ weight: 3, arbitrary: validCommand }, { weight: 3, arbitrary: damagedCommand }, { weight: 1, arbitrary: fc.jsonValue() }, { weight: 1, arbitrary: fc.anything() });

// ---- helpers ----

/** A machine with j1 pending, j2 running on w1, j3 failed and j4 completed, all at attempt 1. */
function seeded(): { m: RegistryMachine; next: () => number } {
  const m = machine();
  let index = 0;
  const apply = (data: unknown) => m.apply({ term: 1, index: ++index, kind: 'command', data });
  for (const id of ['j1', 'j2', 'j3', 'j4']) apply({ c: 'submit', id, at: T0, type: 't', priority: 5, idempotencyKey: `seed-${id}` });
  for (const id of ['j2', 'j3', 'j4']) {
    apply({ c: 'dispatch', id, at: T0, attempt: 1 });
    apply({ c: 'start', id, at: T0, attempt: 1, worker: 'w1' });
  }
  apply({ c: 'fail', id: 'j3', at: T0, attempt: 1, error: 'e' });
  apply({ c: 'complete', id: 'j4', at: T0, attempt: 1 });
  return { m, next: () => ++index };
}

/** A result of the right shape; the results of every command it holds (one for a single command). */
function expectResult(r: EntryResult | null): readonly CommandResult[] {
  expect(r).not.toBeNull();
  const each = r!.type === 'batch' ? r!.results : [r!];
  for (const x of each) {
    expect(['ok', 'pruned', 'rejected']).toContain(x.type);
    if (x.type === 'rejected') expect(typeof x.reason.code).toBe('string');
  }
  return each;
}

function allJobs(m: RegistryMachine): readonly Job[] {
  return (m.query({ q: 'list', order: 'asc', limit: QUERY_LIMITS.maxListLimit }) as ListPage).jobs;
}

function view(m: RegistryMachine): unknown {
  return { jobs: allJobs(m), events: m.query({ q: 'events', after: 0, limit: QUERY_LIMITS.maxEventsLimit }), stats: m.query({ q: 'stats', now: T0 }) };
}

// ---------------------------------------------------------------------------

describe('checkCommand', () => {
  it('never throws on random JSON or random values, and names a field when it refuses', () => {
    fc.assert(
      fc.property(fc.oneof(fc.jsonValue(), fc.anything()), (x) => {
        const r = checkCommand(x);
        if (!r.ok) {
          expect(typeof r.field).toBe('string');
          expect(r.message).not.toBe('');
        }
      }),
      { numRuns: 500 },
    );
  });

  it('accepts every well-formed command of every kind, as the same object', () => {
    fc.assert(
      fc.property(validCommand, (c) => {
        const r = checkCommand(c);
        expect(r).toEqual({ ok: true, value: c });
      }),
      { numRuns: 500 },
    );
  });

  it('never throws on a damaged command; a command it accepts still has a known tag and every field of its kind', () => {
    fc.assert(
      fc.property(damagedCommand, (c) => {
        const r = checkCommand(c);
        if (!r.ok) return;
        const v = r.value;
        expect(COMMAND_NAMES).toContain(v.c);
        if (v.c === 'batch') expect(Array.isArray(v.commands)).toBe(true);
        else expect(Number.isSafeInteger(v.at)).toBe(true);
        if (v.c !== 'batch' && v.c !== 'prune') expect(typeof v.id).toBe('string');
      }),
      { numRuns: 1000 },
    );
  });

  it('refuses strings that are not well-formed UTF-16 in the fields SQLite stores as text', () => {
    for (const [field, base] of [
      ['id', { c: 'cancel', id: 'j', at: 1 }],
      ['type', { c: 'submit', id: 'j', at: 1, type: 't', priority: 5 }],
      ['idempotencyKey', { c: 'submit', id: 'j', at: 1, type: 't', priority: 5 }],
      ['parentId', { c: 'submit', id: 'j', at: 1, type: 't', priority: 5 }],
      ['worker', { c: 'start', id: 'j', at: 1, attempt: 1, worker: 'w' }],
      ['error', { c: 'fail', id: 'j', at: 1, attempt: 1, error: 'e' }],
      ['reason', { c: 'dead', id: 'j', at: 1, attempt: 1 }],
    ] as const) {
      expect(checkCommand({ ...base, [field]: 'ok' }).ok).toBe(true);
      expect(checkCommand({ ...base, [field]: 'ok \ud83d\ude00 pair' }).ok).toBe(true);
      for (const bad of ['\ud800', 'a\udc00', '\udfff\ud800']) expect(checkCommand({ ...base, [field]: bad }), `${field} ${JSON.stringify(bad)}`).toMatchObject({ ok: false, field });
    }
  });
});

describe('apply under fuzz', () => {
  it('never throws on random entries; what it accepts reads back exactly, and a restored snapshot holds the same and continues the same', () => {
    fc.assert(
      fc.property(fc.array(anyEntryData, { minLength: 1, maxLength: 25 }), fc.array(validCommand, { maxLength: 10 }), (datas, after) => {
        const { m, next } = seeded();
        for (const data of datas) {
          for (const result of expectResult(m.apply({ term: 2, index: next(), kind: 'command', data }))) {
            if (result.type === 'ok') expect((m.query({ q: 'get', id: result.id }) as Job | null)?.id).toBe(result.id);
          }
        }
        const copy = machine();
        copy.restore(m.snapshot());
        expect(view(copy)).toEqual(view(m));
        for (const data of after) {
          const e: LogEntry = { term: 2, index: next(), kind: 'command', data };
          expect(copy.apply(e)).toEqual(m.apply(e));
        }
        expect(view(copy)).toEqual(view(m));
        closeAll();
      }),
      { numRuns: 100 },
    );
  });

  it('a job submitted under any string id and key either reads back with exactly them, live and after a snapshot, or is refused naming the field', () => {
    const anyText = fc.oneof(codeUnits, fc.string({ unit: 'binary', minLength: 1, maxLength: 6 }));
    fc.assert(
      fc.property(anyText, anyText, anyText, (id, key, w) => {
        const m = machine();
        let index = 0;
        const apply = (target: RegistryMachine, data: Obj) => target.apply({ term: 1, index: ++index, kind: 'command', data });
        const submitted = apply(m, { c: 'submit', id, at: T0, type: 't', priority: 5, idempotencyKey: key });
        if (submitted?.type === 'batch') throw new Error('a single submit gave a batch result');
        if (submitted?.type === 'rejected') {
          expect(submitted.reason).toMatchObject({ code: 'invalid_command' });
          expect(['id', 'idempotencyKey']).toContain((submitted.reason as { field: string }).field);
          return;
        }
        expect(submitted).toMatchObject({ type: 'ok', id, created: true });
        apply(m, { c: 'dispatch', id, at: T0, attempt: 1 });
        const copy = machine();
        copy.restore(m.snapshot());
        const start = { c: 'start', id, at: T0 + 1, attempt: 1, worker: w };
        const e: LogEntry = { term: 1, index: ++index, kind: 'command', data: start };
        expect(copy.apply(e)).toEqual(m.apply(e));
        for (const target of [m, copy]) {
          expect(target.query({ q: 'get', id })).toMatchObject({ id, idempotencyKey: key });
          expect(target.query({ q: 'byKey', key })).toMatchObject({ id });
        }
        expect(view(copy)).toEqual(view(m));
        closeAll();
      }),
      { numRuns: 150 },
    );
  });

  it('never throws on a damaged command aimed at a job in any status', () => {
    fc.assert(
      fc.property(damagedCommand, (data) => {
        const { m, next } = seeded();
        expectResult(m.apply({ term: 2, index: next(), kind: 'command', data }));
        closeAll();
      }),
      { numRuns: 200 },
    );
  });
});

describe('checkQuery and query', () => {
  const validQuery: fc.Arbitrary<Obj> = fc.oneof(
    fc.record({ q: fc.constant('get'), id: fc.oneof(jobId, text) }),
    fc.record({ q: fc.constant('byKey'), key: text }),
    fc.record(
      {
        q: fc.constant('list'),
        filter: fc.record({ status: fc.constantFrom('pending', 'running', 'failed'), type: fc.string(), priority: fc.integer(), worker: worker, createdFrom: time, createdTo: time }, { requiredKeys: [] }),
        limit: fc.integer({ min: 1, max: 5000 }),
        cursor: fc.oneof(fc.string(), fc.constant(Buffer.from(JSON.stringify([T0, 'j2'])).toString('base64url'))),
        order: fc.constantFrom('asc', 'desc'),
      },
      { requiredKeys: ['q'] },
    ),
    fc.record({ q: fc.constant('stats'), now: time, windowMs: fc.integer({ min: 1, max: 10 ** 9 }) }, { requiredKeys: ['q', 'now'] }),
    fc.record({ q: fc.constant('events'), after: fc.nat(), limit: fc.integer({ min: 1, max: 10 ** 6 }) }, { requiredKeys: ['q', 'after'] }),
    fc.record({ q: fc.constant('due'), now: time, limit: fc.integer({ min: 1, max: 5000 }) }, { requiredKeys: ['q', 'now'] }),
    fc.record({ q: fc.constant('overdue'), status: fc.constantFrom('dispatched', 'running'), before: time, limit: fc.nat() }, { requiredKeys: ['q', 'status', 'before'] }),
  );

  it('a query either answers or throws a RegistryQueryError, whatever it is made of', () => {
    const { m } = seeded();
    const damagedQuery = fc.tuple(validQuery, fc.array(mutation, { maxLength: 2 })).map(([q, ms]) => damage(q, ms.map((x) => (x.kind === 'retag' ? { kind: 'set' as const, key: 'q', value: x.c } : x))));
    fc.assert(
      fc.property(fc.oneof(validQuery, damagedQuery, fc.jsonValue(), fc.anything()), (q) => {
        const checked = checkQuery(q);
        try {
          m.query(q);
        } catch (e) {
          expect(e).toBeInstanceOf(RegistryQueryError);
          if (!checked.ok) expect(e).toMatchObject({ code: 'invalid_query', field: checked.field });
          else expect(e).toMatchObject({ code: 'invalid_cursor' });
        }
      }),
      { numRuns: 1000 },
    );
  });
});
