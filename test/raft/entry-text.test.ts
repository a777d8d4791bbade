// The leader's one-text-per-entry path: the weak cache of entries' JSON text
// (entry-text.ts) and the append envelope built from those texts (wire.ts),
// which must parse to exactly what serialising the envelope parses to, and
// must pass the receiver's validation. A failing property prints its seed;
// re-run with fc.assert(..., { seed, path }).
import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { EntryTextCache } from '../../actors/raft/entry-text.js';
import type { AppendRequest } from '../../actors/raft/messages.js';
import type { LogEntry, NodeId } from '../../actors/raft/types.js';
import { type RaftEnvelope, appendEnvelopeJson, decodeEnvelope, envelope } from '../../actors/raft/wire.js';

const entry = (index: number, data: unknown, term = 1): LogEntry => ({ term, index, kind: 'command', data });

describe('EntryTextCache', () => {
  it('makes each entry\'s text once, and returns it again for the same entry object', () => {
    const cache = new EntryTextCache();
    const data = { c: 'submit', id: 'a', n: [1, 2] };
    let reads = 0;
    const counted = { toJSON: () => (reads++, data) };
    const e = entry(1, counted);
    expect(cache.textOf(e)).toBe(JSON.stringify(data));
    expect(cache.textOf(e)).toBe(JSON.stringify(data));
    expect(reads).toBe(1);
    // Another object with equal data is another entry.
    expect(cache.textOf(entry(1, counted))).toBe(JSON.stringify(data));
    expect(reads).toBe(2);
  });

  it('knows a length without making the text again; remember() takes a text read from storage', () => {
    const cache = new EntryTextCache();
    let reads = 0;
    const data = { pad: 'y'.repeat(60) };
    const first = entry(1, { toJSON: () => (reads++, data) });
    expect(cache.lengthOf(first)).toBe(JSON.stringify(data).length);
    expect(cache.lengthOf(first)).toBe(JSON.stringify(data).length);
    expect(reads).toBe(1);
    const stored = entry(9, { from: 'storage' });
    cache.remember(stored, '{"from":"storage"}');
    expect(cache.textOf(stored)).toBe('{"from":"storage"}');
    expect(cache.lengthOf(stored)).toBe(18);
    expect(cache.lengthOf(entry(10, undefined))).toBeUndefined();
  });

  it('has no text for data JSON cannot carry, and caches nothing for it', () => {
    const cache = new EntryTextCache();
    let reads = 0;
    const none = entry(1, { toJSON: () => (reads++, undefined) });
    expect(cache.textOf(none)).toBeUndefined();
    expect(cache.textOf(none)).toBeUndefined();
    expect(reads).toBe(2);
    expect(() => cache.textOf(entry(2, { n: 1n }))).toThrow();
  });

  it('keeps no entry alive: once nothing else holds an entry, it and its text can be collected', () => {
    // In a child with --expose-gc: a full collection must clear a WeakRef to an entry whose text was made
    // and remembered (a cache that held its entries strongly kept ≈ 300 of the benchmark's, 40 MB a member).
    const script = `
      import { EntryTextCache } from ${JSON.stringify(fileURLToPath(new URL('../../actors/raft/entry-text.ts', import.meta.url)))};
      const cache = new EntryTextCache();
      // In a function of its own, so no variable of this frame still holds the last entry.
      function fill() {
        const refs = [];
        for (let i = 0; i < 50; i++) {
          const e = { term: 1, index: i + 1, kind: 'command', data: { pad: 'x'.repeat(10_000), i } };
          cache.textOf(e);
          cache.remember({ ...e }, '{}');
          refs.push(new WeakRef(e));
        }
        return refs;
      }
      const refs = fill();
      for (let k = 0; k < 2; k++) {
        await new Promise((r) => setTimeout(r, 0));
        globalThis.gc();
      }
      console.log(refs.filter((r) => r.deref() !== undefined).length, cache.textOf({ term: 1, index: 1, kind: 'command', data: 1 }));
    `;
    const r = spawnSync(process.execPath, ['--expose-gc', '--import', 'tsx', '--input-type=module', '-e', script], { encoding: 'utf8', timeout: 60_000 });
    expect(r.stderr).toBe('');
    expect(r.stdout.trim()).toBe('0 1');
  });
});

describe('appendEnvelopeJson', () => {
  const id = fc.constantFrom('n1@h1:4000', 'n2@h2:4000', 'a "quoted" node\\name') as fc.Arbitrary<NodeId>;
  const entryArb = fc.record({
    kind: fc.constantFrom('command', 'noop', 'config'),
    data: fc.jsonValue({ maxDepth: 3 }),
    termStep: fc.nat({ max: 2 }),
  });
  const appendArb = fc.record({
    from: id,
    to: id,
    term: fc.integer({ min: 1, max: 2 ** 40 }),
    prevIndex: fc.nat({ max: 2 ** 40 }),
    prevTerm: fc.nat({ max: 5 }),
    entries: fc.array(entryArb, { minLength: 1, maxLength: 6 }),
    commit: fc.nat({ max: 2 ** 40 }),
  });

  type AppendInput = typeof appendArb extends fc.Arbitrary<infer T> ? T : never;

  function build(a: AppendInput): RaftEnvelope & { msg: AppendRequest } {
    let term = a.prevTerm;
    const entries = a.entries.map((x, i): LogEntry => {
      term += x.termStep;
      const data = x.kind === 'noop' ? null : x.kind === 'config' ? { voters: ['n1@h1:4000'] } : x.data;
      return { term, index: a.prevIndex + 1 + i, kind: x.kind, data } as LogEntry;
    });
    const msg: AppendRequest = { type: 'append', term: Math.max(a.term, term), prevIndex: a.prevIndex, prevTerm: a.prevTerm, entries, commit: a.commit };
    return envelope(a.from, a.to, msg) as RaftEnvelope & { msg: AppendRequest };
  }

  it('parses to what the serialised envelope parses to, and the receiver accepts it', () => {
    fc.assert(
      fc.property(appendArb, (a) => {
        const env = build(a);
        const json = appendEnvelopeJson(env.from, env.to, env.msg);
        expect(json).toBeDefined();
        const parsed = JSON.parse(json!.join('')) as unknown;
        expect(parsed).toEqual(JSON.parse(JSON.stringify(env)));
        expect(decodeEnvelope(parsed)).toMatchObject({ ok: true });
      }),
      { numRuns: 300 },
    );
  });

  it('gives up (undefined) when an entry has no JSON text, so the caller sends the envelope as a value', () => {
    const msg: AppendRequest = { type: 'append', term: 1, prevIndex: 0, prevTerm: 0, entries: [entry(1, { ok: 1 }), entry(2, undefined)], commit: 0 };
    expect(appendEnvelopeJson('a' as NodeId, 'b' as NodeId, msg)).toBeUndefined();
    const big: AppendRequest = { ...msg, entries: [entry(1, { n: 1n })] };
    expect(appendEnvelopeJson('a' as NodeId, 'b' as NodeId, big)).toBeUndefined();
  });
});
