// The bounded campaign `npm test` runs: a few hundred whole-cluster schedules
// (each ≥ 10 s of virtual time, a safety phase under faults then a liveness
// phase), half generated and shrunk by fast-check, half derived from seeds the
// way `npm run sim -- --runs` derives them. Longer campaigns: `npm run sim --
// --runs 20000`.
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { boundedProperty, failed, scheduleArb, scheduleReporter } from '../../simulations/arbitrary.js';
import { addRun, emptyTotals, runRange } from '../../simulations/campaign.js';

const PROPERTY_RUNS = 150;
const SEED_RUNS = 150;

describe('bounded campaign', () => {
  it('fast-check: no generated schedule breaks a checker (a failure prints its seed and shrunk schedule)', () => {
    fc.assert(boundedProperty(scheduleArb(), failed, 300), { numRuns: PROPERTY_RUNS, reporter: scheduleReporter });
  });

  it('no seed-derived schedule breaks a checker, and runs are long and faulty enough to mean something', () => {
    const totals = emptyTotals();
    for (const r of runRange({ base: 20_240_917, from: 0, to: SEED_RUNS })) addRun(totals, r);
    const failures = totals.failures.map((f) => `run ${f.i} seed ${f.seed} (npm run sim -- --seed ${f.seed}): ${f.violations.map((v) => `[${v.checker}] ${v.message}`).join('; ')}`);
    expect(failures).toEqual([]);
    expect(totals.runs).toBe(SEED_RUNS);
    expect(totals.virtualMs / totals.runs).toBeGreaterThanOrEqual(10_000);
    expect(totals.faults / totals.runs).toBeGreaterThan(4);
  });
});
