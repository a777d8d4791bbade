// LogFileStorage against a model: MemoryStorage, which keeps the same rules in
// memory. Random runs of appends (overlapping, conflicting, refused), hard
// states, compactions and installs, reopenings, and appends torn by a "crash"
// (the file cut anywhere inside the bytes that append wrote, which is what a
// crash before its fdatasync returned can leave): after every step both must
// hold the same hard state, snapshot and entries, and refuse the same writes with
// the same code. A torn append must read back as if it never happened.
// fast-check prints the seed and path of a failing run; rerun with them.
import { mkdtempSync, rmSync, statSync, truncateSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import fc from 'fast-check';
import { afterAll, describe, expect, it } from 'vitest';
import { LogFileStorage } from '../../actors/raft/logfile.js';
import { MemoryStorage, RaftStorageError } from '../../actors/raft/storage.js';
import type { HardState, LogEntry, NodeId, RaftStorage, Snapshot } from '../../actors/raft/types.js';

type Op =
  | { readonly t: 'append'; readonly from: number; readonly n: number; readonly termUp: number; readonly hs: boolean; readonly big: boolean }
  | { readonly t: 'hardState'; readonly term: number; readonly vote: string | null }
  | { readonly t: 'compact'; readonly back: number }
  | { readonly t: 'install'; readonly ahead: number; readonly termUp: number }
  | { readonly t: 'reopen' }
  | { readonly t: 'torn'; readonly n: number; readonly cut: number };

const opArb: fc.Arbitrary<Op> = fc.oneof(
  {
    weight: 6,
    arbitrary: fc.record({
      t: fc.constant('append' as const),
      // Mostly right after the end; some overlapping (conflict truncation), a few past it (refused: a gap).
      from: fc.oneof({ weight: 5, arbitrary: fc.constant(0) }, { weight: 3, arbitrary: fc.integer({ min: -3, max: -1 }) }, { weight: 1, arbitrary: fc.integer({ min: 1, max: 2 }) }),
      n: fc.integer({ min: 0, max: 5 }),
      // Mostly the same term or the next; now and then a lower one (refused when it would decrease).
      termUp: fc.oneof({ weight: 8, arbitrary: fc.integer({ min: 0, max: 1 }) }, { weight: 1, arbitrary: fc.constant(-1) }),
      hs: fc.boolean(),
      big: fc.boolean(),
    }),
  },
  { weight: 2, arbitrary: fc.record({ t: fc.constant('hardState' as const), term: fc.integer({ min: 0, max: 9 }), vote: fc.constantFrom(null, 'n1', 'n2') }) },
  { weight: 1, arbitrary: fc.record({ t: fc.constant('compact' as const), back: fc.integer({ min: -1, max: 4 }) }) },
  { weight: 1, arbitrary: fc.record({ t: fc.constant('install' as const), ahead: fc.integer({ min: -2, max: 4 }), termUp: fc.integer({ min: 0, max: 1 }) }) },
  { weight: 2, arbitrary: fc.record({ t: fc.constant('reopen' as const) }) },
  { weight: 2, arbitrary: fc.record({ t: fc.constant('torn' as const), n: fc.integer({ min: 1, max: 3 }), cut: fc.double({ min: 0, max: 1, noNaN: true, maxExcluded: true }) }) },
);

/** The code a write was refused with, or 'ok'. */
function outcome(f: () => void): string {
  try {
    f();
    return 'ok';
  } catch (e) {
    if (e instanceof RaftStorageError) return e.code;
    throw e;
  }
}

const dirs: string[] = [];
afterAll(() => {
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
});

describe('LogFileStorage behaves as the model under random writes, reopenings and torn appends', () => {
  it('holds the same state and refuses the same writes at every step', () => {
    const dir = mkdtempSync(join(tmpdir(), 'dq-logfile-prop-'));
    dirs.push(dir);
    let run = 0;
    fc.assert(
      fc.property(fc.array(opArb, { minLength: 10, maxLength: 40 }), (ops) => {
        const file = join(dir, `run-${run++}.log`);
        const model = new MemoryStorage();
        let real: RaftStorage = new LogFileStorage(file);
        try {
          let term = 1;
          for (const op of ops) {
            const view = model.load();
            const first = (view.snapshot?.meta.index ?? 0) + 1;
            const last = view.entries.at(-1)?.index ?? first - 1;
            const lastTerm = view.entries.at(-1)?.term ?? view.snapshot?.meta.term ?? 0;
            const entries = (from: number, n: number, t: number, big: boolean): LogEntry[] =>
              Array.from({ length: n }, (_, i) => ({ index: from + i, term: t, kind: 'command', data: { op: 'set', k: `${from + i}`, pad: big ? 'é'.repeat(3_000) : '' } }));
            switch (op.t) {
              case 'append': {
                term = Math.max(0, term + op.termUp);
                const batch = entries(last + 1 + op.from, op.n, term, op.big);
                const hs: HardState | undefined = op.hs ? { term, vote: 'n1' as NodeId, commit: Math.max(0, last) } : undefined;
                if (batch.length === 0 && hs === undefined) break;
                expect(outcome(() => real.append(batch, hs)), JSON.stringify(op)).toBe(outcome(() => model.append(batch, hs)));
                break;
              }
              case 'hardState': {
                const hs: HardState = { term: op.term, vote: op.vote as NodeId | null, commit: last };
                expect(outcome(() => real.setHardState(hs))).toBe(outcome(() => model.setHardState(hs)));
                break;
              }
              case 'compact': {
                const at = last - op.back;
                const t = view.entries.find((e) => e.index === at)?.term ?? lastTerm;
                const snap: Snapshot = { meta: { index: at, term: t, voters: ['n1', 'n2', 'n3'] as NodeId[] }, data: `kv@${at}` };
                expect(outcome(() => real.saveSnapshot(snap))).toBe(outcome(() => model.saveSnapshot(snap)));
                break;
              }
              case 'install': {
                const at = last + op.ahead;
                term += op.termUp;
                const snap: Snapshot = { meta: { index: at, term: Math.max(lastTerm, term), voters: ['n1', 'n2'] as NodeId[] }, data: `leader@${at}` };
                expect(outcome(() => real.installSnapshot(snap))).toBe(outcome(() => model.installSnapshot(snap)));
                break;
              }
              case 'reopen':
                real.close();
                real = new LogFileStorage(file);
                expect((real as LogFileStorage).repaired).toBeNull();
                break;
              case 'torn': {
                // The append reaches the file, but the crash comes before it is whole: the model never sees it.
                const before = statSync(file).size;
                const batch = entries(last + 1, op.n, Math.max(term, lastTerm), false);
                real.append(batch, { term: Math.max(term, lastTerm), vote: 'n2' as NodeId, commit: last });
                const after = statSync(file).size;
                real.close();
                truncateSync(file, before + Math.floor(op.cut * (after - before)));
                real = new LogFileStorage(file);
                expect((real as LogFileStorage).repaired?.droppedBytes).toBe(Math.floor(op.cut * (after - before)) || undefined);
                break;
              }
            }
            expect(real.load()).toEqual(model.load());
          }
          // And a last reopening reads back the same.
          real.close();
          real = new LogFileStorage(file);
          const end = model.load();
          expect(real.load()).toEqual(end);
          if (end.entries.length > 0) {
            const lo = end.entries[0]!.index;
            const hi = end.entries.at(-1)!.index;
            expect(real.entries(lo, hi)).toEqual(model.entries(lo, hi));
          }
        } finally {
          real.close();
          rmSync(file, { force: true });
        }
      }),
      { numRuns: 80, seed: 20_261_123 },
    );
  });
});
