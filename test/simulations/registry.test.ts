// The job registry in the whole-cluster simulator (simulations/registry-workload.ts):
// a bounded campaign of seed-derived runs and of fast-check-generated ones
// (each ≥ 10 s of virtual time under faults, then a liveness phase) breaks no
// checker; a seed replays to the same digest; a registry schedule survives
// JSON and lies in the ranges fast-check shrinks in; and a registry with its
// attempt check switched off (RegistryUnsafe.skipAttemptCheck) is caught by
// the fencing checker within a few seeds, and shrinks. Longer campaigns:
// `npm run sim -- --workload registry --runs 500`.
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { boundedProperty, failed, scheduleArb, scheduleReporter } from '../../simulations/arbitrary.js';
import { type RunSummary, runRange } from '../../simulations/campaign.js';
import { registryCheckers } from '../../simulations/checkers/index.js';
import { runSchedule } from '../../simulations/cluster.js';
import { campaignRunSeed, generateSchedule, parseSchedule } from '../../simulations/schedule.js';
import type { Checker, JobHistoryEvent, TraceEvent } from '../../simulations/trace.js';

const SEED_RUNS = 24;
const PROPERTY_RUNS = 3;

/** Counts what the runs exercise, from node 0's applies (a checker that never fails: it only watches). */
function coverage(): { checker: Checker; seen: Map<string, number> } {
  const seen = new Map<string, number>();
  const count = (k: string): void => {
    seen.set(k, (seen.get(k) ?? 0) + 1);
  };
  const observe = (e: TraceEvent): void => {
    if (e.type === 'feedPage') count('feed page');
    if (e.type === 'jobClient' && e.event.type === 'invoke' && e.event.f === 'submit' && (e.event.value as { idempotencyKey?: string }).idempotencyKey !== undefined) count('keyed submit');
    if (e.type !== 'jobApply' || e.node !== 0) return;
    if (e.batch) count('batch entry');
    for (const x of e.items) {
      const r = x.result;
      const c = x.command?.c ?? 'invalid';
      if (r?.type === 'rejected') count(r.reason.code);
      if (r?.type === 'ok') count(`${c} ${r.changed ? 'changed' : 'unchanged'}`);
      if (r?.type === 'ok' && x.command?.c === 'submit' && r.id !== x.command.id) count('key resolved to another id');
      if (c === 'redispatch' && x.before !== null && x.after !== null && x.after.attempt > x.before.attempt) count('re-dispatch');
    }
  };
  return { checker: { name: 'coverage', on: ['jobApply', 'feedPage', 'jobClient'], observe, failing: () => false, finish: () => [] }, seen };
}

describe('job registry workload: bounded campaign', () => {
  it('no seed-derived registry schedule breaks a checker, and the runs exercise what the checkers judge', () => {
    const base = 20_240_917;
    const { checker, seen } = coverage();
    const failures: string[] = [];
    let virtualMs = 0;
    let faults = 0;
    for (let i = 0; i < SEED_RUNS; i++) {
      // What `npm run sim -- --runs N --workload registry --seed 20240917` runs, plus a coverage counter.
      const seed = campaignRunSeed(base, i);
      const r = runSchedule(generateSchedule(seed, undefined, 'registry'), { checkers: (view) => [...registryCheckers(view), checker] });
      if (r.violations.length > 0) failures.push(`run ${i} seed ${seed} (npm run sim -- --seed ${seed} --workload registry): ${r.violations.map((v) => `[${v.checker}] ${v.message}`).join('; ')}`);
      virtualMs += r.stats.virtualMs;
      faults += r.stats.faults;
    }
    expect(failures).toEqual([]);
    expect(virtualMs / SEED_RUNS).toBeGreaterThanOrEqual(10_000);
    expect(faults / SEED_RUNS).toBeGreaterThan(4);
    const exercised = [
      'keyed submit',
      'submit changed',
      'submit unchanged', // a re-sent submit, or a key that already names a job
      'key resolved to another id', // a fresh id under a key that names a job: the key's job answers
      'idempotency_conflict', // a known id under another key
      'stale_attempt',
      'illegal_transition',
      'worker_mismatch',
      'start unchanged',
      'progress unchanged',
      'complete unchanged',
      're-dispatch',
      'retry changed',
      'dead changed',
      'cancel changed',
      'batch entry',
      'feed page',
    ];
    for (const k of exercised) expect(seen.get(k) ?? 0, k).toBeGreaterThan(0);
  });

  it('fast-check: no generated registry schedule breaks a checker (a failure prints its seed and shrunk schedule)', () => {
    fc.assert(boundedProperty(scheduleArb({ workload: 'registry' }), failed, 40), { numRuns: PROPERTY_RUNS, seed: 20_240_917, reporter: scheduleReporter });
  });

  it('the history names every kind of actor and ends with the final list', () => {
    const r = runSchedule(generateSchedule(29, undefined, 'registry'), { history: true });
    expect(r.violations).toEqual([]);
    const h = r.history as readonly JobHistoryEvent[];
    expect(new Set(h.map((x) => x.actor.replace(/\d+$/, '')))).toEqual(new Set(['c', 'final', 'r', 'router', 'w']));
    const open = new Set<number>();
    for (const x of h) {
      if (x.type === 'invoke') open.add(x.process);
      else expect(open.delete(x.process), `completion of #${x.process} without its invoke`).toBe(true);
    }
    expect(h.filter((x) => x.actor === 'final' && x.type === 'ok').length).toBeGreaterThan(0);
  });
});

describe('job registry workload: replay', () => {
  it('the same seed gives the same digest, history and stats', () => {
    const s = generateSchedule(41, undefined, 'registry');
    const a = runSchedule(s, { digest: true, history: true });
    const b = runSchedule(s, { digest: true, history: true });
    expect(a.violations).toEqual([]);
    expect(a.digest).not.toBeNull();
    expect(b.digest).toBe(a.digest);
    expect(b.history).toEqual(a.history);
    expect(b.stats).toEqual(a.stats);
    expect(runSchedule(generateSchedule(41), { digest: true }).digest).not.toBe(a.digest);
  });

  it('a registry schedule survives JSON and validation, shares the weather of its seed, and lies in the ranges fast-check shrinks in', () => {
    const s = generateSchedule(99, { skipAttemptCheck: true }, 'registry');
    expect(parseSchedule(JSON.stringify(s))).toEqual({ ok: true, schedule: s });
    const kv = generateSchedule(99);
    expect(s.faults).toEqual(kv.faults);
    expect(s.net).toEqual(kv.net);
    expect('client' in s).toBe(false);
    const arb = scheduleArb({ workload: 'registry', unsafe: { skipAttemptCheck: true } });
    for (let seed = 0; seed < 50; seed++) expect(arb.canShrinkWithoutContext(generateSchedule(seed, { skipAttemptCheck: true }, 'registry'))).toBe(true);
    const bad = { ...s, registry: { ...s.registry, readPermille: 900, cancelPermille: 200 } };
    expect(parseSchedule(JSON.stringify(bad))).toEqual({ ok: false, error: '/registry: readPermille + cancelPermille must be at most 1000' });
    const r = parseSchedule(JSON.stringify({ ...s, registry: { ...s.registry, workers: 0 } }));
    expect(r.ok).toBe(false);
    if (!r.ok) expect(r.error).toContain('/registry/workers');
  });
});

describe('job registry workload: the checkers bite', () => {
  it('skipAttemptCheck: a stale report changes a job, and registry-fencing says so within 10 seeds', () => {
    let hit: RunSummary | null = null;
    for (const r of runRange({ base: 1, from: 0, to: 10, unsafe: { skipAttemptCheck: true }, stopOnViolation: true, workload: 'registry' })) {
      if (r.violations.length > 0) {
        hit = r;
        break;
      }
    }
    expect(hit, 'no violation in 10 runs').not.toBeNull();
    expect(hit!.violations.map((v) => v.checker)).toContain('registry-fencing');
    expect(hit!.violations[0]!.message).toMatch(/for attempt \d+ @\d+ while the job was \w+\/\d+/);
  });

  it('fast-check shrinks a failing registry schedule to one without faults that still fails, and it replays', () => {
    const arb = scheduleArb({ workload: 'registry', unsafe: { skipAttemptCheck: true } });
    const out = fc.check(boundedProperty(arb, failed, 12), { numRuns: 10, seed: 20_240_917 });
    expect(out.failed).toBe(true);
    const s = out.counterexample![0];
    expect(out.numShrinks).toBeGreaterThan(0);
    expect(s.faults.length).toBeLessThanOrEqual(3);
    const r = runSchedule(s, { stopOnViolation: true, digest: true });
    expect(r.violations.map((v) => v.checker)).toContain('registry-fencing');
    expect(runSchedule(s, { stopOnViolation: true, digest: true }).digest).toBe(r.digest);
  });
});
