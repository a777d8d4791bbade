// Campaigns: many runs whose schedules derive from one campaign seed (run i
// uses campaignRunSeed(seed, i)), so a campaign is itself reproducible and any
// failing run replays alone with `--seed <its seed>` (and its `--workload`).
// Runs can be split across worker threads (simulations/worker.ts) in any way
// without changing results.
import { runSchedule } from './cluster.js';
import { type UnsafeProfile, type WorkloadName, campaignRunSeed, generateSchedule } from './schedule.js';
import type { Violation } from './trace.js';

/** What one campaign run reports back (small: it crosses a thread boundary). */
export interface RunSummary {
  readonly i: number;
  readonly seed: number;
  readonly virtualMs: number;
  readonly faults: number;
  readonly events: number;
  readonly violations: readonly Violation[];
  /** The run had checks a checker could not decide (e.g. linearizability past its budget). */
  readonly undecided: boolean;
}

export interface CampaignRange {
  readonly base: number;
  readonly from: number;
  readonly to: number;
  readonly unsafe?: UnsafeProfile;
  /** Stop each run at its first violation (detection only). */
  readonly stopOnViolation?: boolean;
  /** Default 'kv'. */
  readonly workload?: WorkloadName;
}

/** Keep the first few violations of a run; the run replays for the rest. */
const VIOLATIONS_KEPT = 5;

export function runOne(base: number, i: number, unsafe?: UnsafeProfile, stopOnViolation = false, workload: WorkloadName = 'kv'): RunSummary {
  const seed = campaignRunSeed(base, i);
  const r = runSchedule(generateSchedule(seed, unsafe, workload), { stopOnViolation });
  return { i, seed, virtualMs: r.stats.virtualMs, faults: r.stats.faults, events: r.stats.events, violations: r.violations.slice(0, VIOLATIONS_KEPT), undecided: r.notes.length > 0 };
}

export function* runRange(range: CampaignRange): Generator<RunSummary> {
  for (let i = range.from; i < range.to; i++) yield runOne(range.base, i, range.unsafe, range.stopOnViolation === true, range.workload ?? 'kv');
}

export interface CampaignTotals {
  runs: number;
  failedRuns: number;
  virtualMs: number;
  faults: number;
  undecidedRuns: number;
  readonly failures: RunSummary[];
}

export function emptyTotals(): CampaignTotals {
  return { runs: 0, failedRuns: 0, virtualMs: 0, faults: 0, undecidedRuns: 0, failures: [] };
}

export function addRun(t: CampaignTotals, r: RunSummary): void {
  t.runs++;
  t.virtualMs += r.virtualMs;
  t.faults += r.faults;
  if (r.undecided) t.undecidedRuns++;
  if (r.violations.length > 0) {
    t.failedRuns++;
    t.failures.push(r);
  }
}

/** The campaign line the CLI prints (`runs_per_min` from the caller's wall time). */
export function campaignLine(t: CampaignTotals, seed: number, wallMs: number, workers: number, workload: WorkloadName = 'kv'): Record<string, unknown> {
  const failing = [...t.failures].sort((a, b) => a.i - b.i);
  return {
    sim: 'cluster',
    workload,
    runs: t.runs,
    violations: t.failedRuns,
    runs_per_min: wallMs > 0 ? Math.round((t.runs / wallMs) * 60_000) : 0,
    virtual_s_per_run: t.runs > 0 ? Number((t.virtualMs / t.runs / 1000).toFixed(2)) : 0,
    faults_per_run: t.runs > 0 ? Number((t.faults / t.runs).toFixed(2)) : 0,
    undecided_runs: t.undecidedRuns,
    seed,
    workers,
    failing_seeds: failing.slice(0, 20).map((r) => r.seed),
  };
}
