// The validation fast path for call traffic (frames.ts isCallTrafficBatch) must
// agree with the compiled schema: it may hand a frame on to the schema, but it
// must never accept one the schema rejects.
import { TypeCompiler } from '@sinclair/typebox/compiler';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { BatchT, PROTOCOL_VERSION, decodeFrame, isCallTrafficBatch } from '../../runtime/dist/frames.js';

const schema = TypeCompiler.Compile(BatchT);

// Values near the edges of each field: serials, names and pids of every length class, wrong types.
// Mostly valid values, so that whole batches pass often enough to compare the two checks.
const serialish = fc.oneof(
  { weight: 8, arbitrary: fc.nat() },
  { weight: 1, arbitrary: fc.constantFrom(-1, -0, 0.5, Number.MAX_SAFE_INTEGER, Number.MAX_SAFE_INTEGER + 1, NaN, '1', null) },
  { weight: 1, arbitrary: fc.jsonValue({ maxDepth: 1 }) },
);
const pidLike = fc.tuple(fc.string({ maxLength: 300 }), fc.nat(), fc.nat()).map(([n, c, s]) => `<${n}.${c}.${s}>`);
const dest = fc.oneof(
  { weight: 4, arbitrary: fc.string({ maxLength: 300 }) },
  { weight: 2, arbitrary: pidLike },
  { weight: 2, arbitrary: fc.constantFrom('', 'x'.repeat(255), 'x'.repeat(256), `<${'n'.repeat(590)}.1.1>`, `<${'n'.repeat(600)}.1.1>`, `<${'n'.repeat(300)}.1.x>`) },
  { weight: 1, arbitrary: fc.jsonValue({ maxDepth: 1 }) },
);
const op = fc.oneof(
  { weight: 5, arbitrary: fc.record({ t: fc.constant('call'), from: serialish, to: dest, ref: serialish, request: fc.jsonValue({ maxDepth: 2 }) }, { requiredKeys: ['t', 'from', 'to', 'ref'] }) },
  { weight: 5, arbitrary: fc.record({ t: fc.constant('reply'), ref: serialish, value: fc.jsonValue({ maxDepth: 2 }) }, { requiredKeys: ['t', 'ref'] }) },
  { weight: 1, arbitrary: fc.record({ t: fc.constantFrom('call', 'reply'), from: serialish, to: dest, ref: serialish }, { requiredKeys: [] }) },
  { weight: 1, arbitrary: fc.record({ t: fc.constantFrom('send', 'tick', 'down', 'nonsense'), ref: serialish, to: dest }, { requiredKeys: ['t'] }) },
  { weight: 1, arbitrary: fc.jsonValue({ maxDepth: 2 }) },
);
const frame = fc.record({
  v: fc.constant(PROTOCOL_VERSION),
  t: fc.constant('b'),
  ops: fc.oneof({ weight: 9, arbitrary: fc.array(op, { maxLength: 3 }) }, { weight: 1, arbitrary: fc.jsonValue({ maxDepth: 1 }) }),
});

describe('the validation fast path for call traffic', () => {
  it('never accepts a batch the schema rejects', () => {
    let accepted = 0;
    fc.assert(
      fc.property(frame, (f) => {
        // Through JSON, as frames arrive (no undefined, no -0 surprises beyond what JSON gives).
        const raw = JSON.parse(JSON.stringify(f)) as object;
        const fast = isCallTrafficBatch(raw);
        if (fast) accepted++;
        if (fast) expect(schema.Check(raw)).toBe(true);
      }),
      { numRuns: 5_000 },
    );
    expect(accepted).toBeGreaterThan(500); // the property compared something
  });

  it('takes well-formed calls and replies, and decodeFrame gives the same frame either way', () => {
    const good = fc.array(
      fc.oneof(
        fc.record({ t: fc.constant('call'), from: fc.nat(), to: fc.oneof(fc.string({ minLength: 1, maxLength: 255 }), pidLike.filter((p) => p.length <= 600)), ref: fc.nat(), request: fc.jsonValue({ maxDepth: 2 }) }),
        fc.record({ t: fc.constant('reply'), ref: fc.nat(), value: fc.jsonValue({ maxDepth: 2 }) }),
      ),
      { minLength: 1, maxLength: 5 },
    );
    fc.assert(
      fc.property(good, (ops) => {
        const data = JSON.stringify({ v: PROTOCOL_VERSION, t: 'b', ops });
        const raw = JSON.parse(data) as object;
        expect(isCallTrafficBatch(raw)).toBe(true);
        expect(schema.Check(raw)).toBe(true);
        expect(decodeFrame(data, 1 << 20)).toEqual({ ok: true, frame: raw });
      }),
      { numRuns: 1_000 },
    );
  });

  it('leaves a bad call to the schema, which names the reason', () => {
    const data = JSON.stringify({ v: PROTOCOL_VERSION, t: 'b', ops: [{ t: 'reply', ref: 1 }, { t: 'call', from: -1, to: 'echo', ref: 2 }] });
    const d = decodeFrame(data, 1 << 20);
    expect(d.ok).toBe(false);
    expect(d.ok ? '' : d.reason).toMatch(/^invalid_batch: \/ops\/1/);
  });
});
