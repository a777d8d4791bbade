// The register linearizability search (simulations/linearizable.ts) on small
// hand-written histories: what it must accept, what it must refuse, and that
// its work is bounded.
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { type RegisterOp, type TimedOp, checkRegister, pruneUnseen } from '../../simulations/linearizable.js';

/** An operation over history positions [call, ret]; ret null = outcome unknown (info). */
const op = (o: RegisterOp, call: number, ret: number | null): TimedOp => ({ op: o, call, ret: ret ?? Infinity, label: JSON.stringify(o) });
const w = (value: number, call: number, ret: number | null): TimedOp => op({ kind: 'write', value }, call, ret);
const r = (value: number | null, call: number, ret: number): TimedOp => op({ kind: 'read', value }, call, ret);

describe('register linearizability', () => {
  it('accepts sequential writes and reads of the latest value', () => {
    expect(checkRegister([r(null, 0, 1), w(1, 2, 3), r(1, 4, 5), w(2, 6, 7), r(2, 8, 9)]).result).toBe('ok');
  });

  it('refuses a read of a value overwritten before the read began (a stale read)', () => {
    const res = checkRegister([w(1, 0, 1), w(2, 2, 3), r(1, 4, 5)]);
    expect(res.result).toBe('violation');
    if (res.result === 'violation') expect(res.detail).toContain('read');
  });

  it('accepts either order for concurrent writes, but not two contradicting reads after both', () => {
    expect(checkRegister([w(1, 0, 3), w(2, 1, 2), r(1, 4, 5)]).result).toBe('ok');
    expect(checkRegister([w(1, 0, 3), w(2, 1, 2), r(2, 4, 5)]).result).toBe('ok');
    expect(checkRegister([w(1, 0, 3), w(2, 1, 2), r(1, 4, 5), r(2, 6, 7)]).result).toBe('violation');
  });

  it('lets a write in doubt (info) take effect late, or never', () => {
    expect(checkRegister([w(1, 0, null), r(null, 1, 2), r(1, 3, 4)]).result).toBe('ok');
    expect(checkRegister([w(1, 0, null), r(null, 1, 2), r(null, 3, 4)]).result).toBe('ok');
    // ...but never before it was invoked.
    expect(checkRegister([r(1, 0, 1), w(1, 2, null)]).result).toBe('violation');
  });

  it('a value can be read only while it is the latest: no flip-flopping after it was seen gone', () => {
    expect(checkRegister([w(1, 0, null), r(1, 1, 2), r(null, 3, 4)]).result).toBe('violation');
  });

  it('models compare-and-set: success, a mismatch that saw another value, and one in doubt', () => {
    const cas = (from: number | null, to: number, call: number, ret: number | null): TimedOp =>
      op(ret === null ? { kind: 'casMaybe', from, to } : { kind: 'cas', from, to }, call, ret);
    const mismatch = (from: number | null, call: number, ret: number): TimedOp => op({ kind: 'casMismatch', from }, call, ret);
    expect(checkRegister([w(1, 0, 1), cas(1, 2, 2, 3), r(2, 4, 5)]).result).toBe('ok');
    expect(checkRegister([w(1, 0, 1), cas(3, 2, 2, 3)]).result).toBe('violation');
    expect(checkRegister([w(1, 0, 1), mismatch(1, 2, 3)]).result).toBe('violation');
    expect(checkRegister([w(1, 0, 1), mismatch(5, 2, 3), r(1, 4, 5)]).result).toBe('ok');
    expect(checkRegister([w(1, 0, 1), cas(1, 2, 2, null), r(1, 3, 4), r(2, 5, 6)]).result).toBe('ok');
    expect(checkRegister([w(1, 0, 1), cas(7, 2, 2, null), r(2, 3, 4)]).result).toBe('violation');
  });

  it('gives up with "unknown" past its budget instead of searching on', () => {
    // Many concurrent writes in doubt and a read that no order explains: the search must try many orders.
    const ops: TimedOp[] = [];
    for (let i = 0; i < 18; i++) ops.push(w(i + 1, i, null));
    ops.push(r(999, 100, 101));
    const res = checkRegister(ops, 1_000, null, false);
    expect(res.result).toBe('unknown');
    expect(res.steps).toBeGreaterThan(1_000);
    // Nobody saw those writes: pruned, the same history is decided at once.
    expect(checkRegister(ops, 1_000).result).toBe('violation');
  });

  it('drops writes in doubt that nobody saw, and keeps them while a cas mismatch could depend on them', () => {
    const unseen = w(7, 0, null);
    expect(pruneUnseen([w(1, 0, 1), unseen, r(1, 2, 3)])).toEqual([w(1, 0, 1), r(1, 2, 3)]);
    expect(pruneUnseen([w(1, 0, 1), w(7, 2, null), r(7, 3, 4)])).toHaveLength(3);
    const mismatch = op({ kind: 'casMismatch', from: 1 }, 3, 4);
    expect(pruneUnseen([w(1, 0, 1), w(7, 2, null), mismatch])).toHaveLength(3);
    // Without the write in doubt, the mismatch has no explanation: it must stay.
    expect(checkRegister([w(1, 0, 1), w(7, 2, null), mismatch]).result).toBe('ok');
  });

  it('pruning never changes a verdict (random small histories, both ways decided)', () => {
    const value = fc.integer({ min: 1, max: 4 });
    const opArb: fc.Arbitrary<RegisterOp> = fc.oneof(
      value.map((v): RegisterOp => ({ kind: 'write', value: v })),
      fc.option(value, { nil: null }).map((v): RegisterOp => ({ kind: 'read', value: v })),
      fc.tuple(fc.option(value, { nil: null }), value).map(([from, to]): RegisterOp => ({ kind: 'cas', from, to })),
      fc.tuple(fc.option(value, { nil: null }), value).map(([from, to]): RegisterOp => ({ kind: 'casMaybe', from, to })),
      fc.option(value, { nil: null }).map((from): RegisterOp => ({ kind: 'casMismatch', from })),
    );
    const timed = fc.tuple(opArb, fc.integer({ min: 0, max: 12 }), fc.integer({ min: 1, max: 6 })).map(([o, call, len]): TimedOp => {
      const open = o.kind === 'casMaybe' || (o.kind === 'write' && len === 6);
      return { op: o, call, ret: open ? Infinity : call + len, label: o.kind };
    });
    fc.assert(
      fc.property(fc.array(timed, { maxLength: 9 }), (ops) => {
        const pruned = checkRegister(ops, 50_000, null, true);
        const full = checkRegister(ops, 50_000, null, false);
        if (pruned.result !== 'unknown' && full.result !== 'unknown') expect(pruned.result).toBe(full.result);
      }),
      { numRuns: 3_000 },
    );
  });
});
