// The checkers bite: with a deliberately broken core (the test-only unsafe
// switches of actors/raft/config.ts), seed-derived campaigns find a violation
// within a bounded number of runs, and fast-check shrinks a failing schedule
// to a small one that still fails. A broken core may also throw (RaftError,
// or storage refusing its writes) or stall: those count as detected too
// (the core-errors and liveness checkers).
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { boundedProperty, failed, scheduleArb } from '../../simulations/arbitrary.js';
import { type RunSummary, runRange } from '../../simulations/campaign.js';
import { runSchedule } from '../../simulations/cluster.js';
import type { UnsafeProfile } from '../../simulations/schedule.js';

/** The first run (of at most `bound`) in which `isHit` holds, or null. */
function firstHit(unsafe: UnsafeProfile, bound: number, isHit: (r: RunSummary) => boolean, stopOnViolation: boolean): RunSummary | null {
  for (const r of runRange({ base: 1, from: 0, to: bound, unsafe, stopOnViolation })) if (isHit(r)) return r;
  return null;
}

const detected = (r: RunSummary): boolean => r.violations.length > 0;
/** Loss actually observed after crashes (not only predicted by the disk count at acknowledgement). */
const observedLoss = (r: RunSummary): boolean =>
  r.violations.some((v) => ['state-machine-safety', 'leader-completeness', 'log-matching', 'linearizability', 'election-safety'].includes(v.checker));

describe('the checkers bite', () => {
  it('grantVoteWithoutLogCheck: a stale node wins an election and a violation is found within 30 runs', () => {
    const hit = firstHit({ grantVoteWithoutLogCheck: true }, 30, detected, true);
    expect(hit, 'no violation in 30 runs').not.toBeNull();
    expect(hit!.violations.map((v) => v.checker)).not.toContain('simulator');
  });

  it('ackBeforePersist: an acknowledgement with no majority of durable copies is found within 10 runs', () => {
    const hit = firstHit({ ackBeforePersist: true }, 10, detected, true);
    expect(hit, 'no violation in 10 runs').not.toBeNull();
  });

  it('followerReadsWithoutLeader: a follower serving reads from what it has applied returns stale values, found within 20 runs', () => {
    const hit = firstHit({ followerReadsWithoutLeader: true }, 20, detected, true);
    expect(hit, 'no violation in 20 runs').not.toBeNull();
    expect(hit!.violations.map((v) => v.checker)).toContain('linearizability');
  });

  it('ackBeforePersist: crashes that land right after a step lose acknowledged data, seen within 80 runs', () => {
    const hit = firstHit({ ackBeforePersist: true }, 80, observedLoss, false);
    expect(hit, 'no observed loss in 80 runs').not.toBeNull();
  });

  it('fast-check shrinks a failing schedule to a small one that still fails, and it replays', () => {
    const arb = scheduleArb({ unsafe: { grantVoteWithoutLogCheck: true }, minFaults: 1 });
    const out = fc.check(boundedProperty(arb, failed, 120), { numRuns: 60, seed: 20_240_917 });
    expect(out.failed).toBe(true);
    const s = out.counterexample![0];
    expect(out.numShrinks).toBeGreaterThan(0);
    expect(s.faults.length).toBeLessThanOrEqual(6);
    expect(runSchedule(s).violations.length).toBeGreaterThan(0);
    expect(runSchedule(s, { digest: true }).digest).toBe(runSchedule(s, { digest: true }).digest);
  });
});
