// fast-check drives the simulator: `scheduleArb` generates whole schedules
// (seed, fault profile and a list of timed faults), so a failing one shrinks
// toward fewer, shorter, earlier faults, a quieter network and fewer clients.
// Its ranges are the generator's (SCHEDULE_LIMITS), so a schedule derived from
// a seed (generateSchedule) can be handed to fast-check as an example and
// shrunk too (shrinkSchedule).
import fc from 'fast-check';
import { type RunResult, runSchedule } from './cluster.js';
import { type Fault, KEEP_APPLIED_CHOICES, REGISTRY_LIMITS, type RegistryProfile, SCHEDULE_LIMITS, type Schedule, type Target, type UnsafeProfile, type WorkloadName, workloadOf } from './schedule.js';

const L = SCHEDULE_LIMITS;
const int = ([min, max]: readonly [number, number]): fc.Arbitrary<number> => fc.integer({ min, max });

const targetArb: fc.Arbitrary<Target> = fc.oneof(fc.integer({ min: 0, max: 4 }), fc.constant('leader' as const));
const targetsArb = (max: number): fc.Arbitrary<Target[]> => fc.array(targetArb, { minLength: 1, maxLength: max });
const atArb = fc.integer({ min: 0, max: L.faultAt[1] - 1 });
const durArb = int(L.durationMs);

export const faultArb: fc.Arbitrary<Fault> = fc.oneof(
  fc.record({
    at: atArb,
    type: fc.constant('crash' as const),
    nodes: targetsArb(5),
    downMs: int(L.downMs),
    mode: fc.constantFrom('now' as const, 'afterStep' as const, 'midEffects' as const),
    afterEffects: int(L.afterEffects),
  }),
  fc.record({ at: atArb, type: fc.constant('partition' as const), side: targetsArb(L.targets[1]), durationMs: durArb }),
  fc.record({
    at: atArb,
    type: fc.constant('cut' as const),
    links: fc.array(fc.tuple(targetArb, targetArb), { minLength: 1, maxLength: 3 }),
    durationMs: durArb,
  }),
  fc.record({ at: atArb, type: fc.constant('clockPause' as const), node: targetArb, durationMs: durArb }),
  fc.record({ at: atArb, type: fc.constant('freeze' as const), node: targetArb, durationMs: durArb }),
  fc.record({ at: atArb, type: fc.constant('slowDisk' as const), node: targetArb, durationMs: durArb, latencyMs: int(L.latencyMs) }),
  fc.record({ at: atArb, type: fc.constant('transfer' as const), to: targetArb }),
);

/** An unsafe profile as a record of constants, so fast-check can recognise (and keep) it while shrinking. */
function unsafeArb(u: UnsafeProfile): fc.Arbitrary<UnsafeProfile> {
  const model: Record<string, fc.Arbitrary<boolean>> = {};
  if (u.grantVoteWithoutLogCheck === true) model.grantVoteWithoutLogCheck = fc.constant(true);
  if (u.ackBeforePersist === true) model.ackBeforePersist = fc.constant(true);
  if (u.followerReadsWithoutLeader === true) model.followerReadsWithoutLeader = fc.constant(true);
  if (u.skipAttemptCheck === true) model.skipAttemptCheck = fc.constant(true);
  return fc.record(model);
}

const R = REGISTRY_LIMITS;

export const registryProfileArb: fc.Arbitrary<RegistryProfile> = fc.record({
  clients: int(R.clients),
  workers: int(R.workers),
  readers: int(R.readers),
  batchPermille: int(R.batchPermille),
  keyPermille: int(R.keyPermille),
  keys: int(R.keys),
  resubmitPermille: int(R.resubmitPermille),
  readPermille: int(R.readPermille),
  cancelPermille: int(R.cancelPermille),
  dupPermille: int(R.dupPermille),
  latePermille: int(R.latePermille),
  abandonPermille: int(R.abandonPermille),
  failPermille: int(R.failPermille),
  startDelayMaxMs: int(R.startDelayMaxMs),
  dispatchTimeoutMs: int(R.dispatchTimeoutMs),
  pollMs: int(R.pollMs),
  routerDupPermille: int(R.routerDupPermille),
  thinkMaxMs: int(R.thinkMaxMs),
  timeoutMs: int(R.timeoutMs),
});

export interface ScheduleArbOptions {
  readonly unsafe?: UnsafeProfile;
  /** At least this many faults (the arbitrary's minimum; shrinking never goes below it). Default 0. */
  readonly minFaults?: number;
  /** Default 'kv'. */
  readonly workload?: WorkloadName;
}

export function scheduleArb(opts: ScheduleArbOptions = {}): fc.Arbitrary<Schedule> {
  const u = opts.unsafe;
  const hasUnsafe =
    u !== undefined && (u.grantVoteWithoutLogCheck === true || u.ackBeforePersist === true || u.followerReadsWithoutLeader === true || u.skipAttemptCheck === true);
  const registry = opts.workload === 'registry';
  // fast-check shrinks a record's fields in this order: fewer faults first, then a smaller
  // cluster and workload, a quieter network, and the seed last (a new seed is a new run).
  const faults = fc.array(faultArb, { minLength: opts.minFaults ?? 0, maxLength: L.faults[1] });
  const nodes = fc.constantFrom(3 as const, 5 as const);
  const raft = fc.record({
    heartbeatTicks: int(L.heartbeatTicks),
    preVote: fc.boolean(),
    checkQuorum: fc.boolean(),
    snapshotEvery: int(registry ? R.snapshotEvery : L.snapshotEvery),
    snapshotChunkChars: int(registry ? R.snapshotChunkChars : L.snapshotChunkChars),
    maxEntriesPerAppend: int(registry ? R.maxEntriesPerAppend : L.maxEntriesPerAppend),
    maxInflightAppends: int(L.maxInflightAppends),
    keepAppliedEntries: fc.constantFrom(...KEEP_APPLIED_CHOICES),
  });
  const rest = {
    net: fc.record({
      lossPermille: int(L.lossPermille),
      dupPermille: int(L.dupPermille),
      delayMinMs: int(L.delayMinMs),
      delayMeanMs: int(L.delayMeanMs),
      tailPermille: int(L.tailPermille),
      tailMaxMs: int(L.tailMaxMs),
      fifo: fc.boolean(),
    }),
    raft,
    safetyMs: int(L.safetyMs),
    tickMs: int(L.tickMs),
    driftMs: int(L.driftMs),
    diskLatencyMs: int(L.diskLatencyMs),
    seed: fc.integer({ min: 0, max: 0xffffffff }),
  };
  if (registry) {
    const reg = { faults, nodes, workload: fc.constant('registry' as const), registry: registryProfileArb, ...rest };
    return hasUnsafe ? fc.record({ ...reg, unsafe: unsafeArb(u) }) : fc.record(reg);
  }
  const base = {
    faults,
    nodes,
    client: fc
      .record({
        clients: int(L.clients),
        keys: int(L.keys),
        readPermille: int(L.readPermille),
        casPermille: int(L.casPermille),
        thinkMaxMs: int(L.thinkMaxMs),
        timeoutMs: int(L.timeoutMs),
      })
      .filter((c) => c.readPermille + c.casPermille <= 1000),
    ...rest,
  };
  return hasUnsafe ? fc.record({ ...base, unsafe: unsafeArb(u) }) : fc.record(base);
}

/** What a property run reports about one schedule. */
export function failed(r: RunResult): boolean {
  return r.violations.length > 0;
}

/** Simulations one shrink may run before it settles for the smallest failure found so far. */
export const DEFAULT_SHRINK_RUNS = 400;

/**
 * The property "this schedule does not fail", with shrinking bounded: after
 * `maxRuns` simulations every further candidate counts as passing without
 * being run, so fast-check stops descending and reports the smallest failing
 * schedule it has (deterministically: no wall-clock limit).
 */
export function boundedProperty(arb: fc.Arbitrary<Schedule>, isFailure: (r: RunResult) => boolean, maxRuns: number): fc.IPropertyWithHooks<[Schedule]> {
  let runs = 0;
  let failures = 0;
  return fc.property(arb, (s) => {
    if (failures > 0 && runs >= maxRuns) return true;
    runs++;
    const bad = isFailure(runSchedule(s, { stopOnViolation: true }));
    if (bad) failures++;
    return !bad;
  });
}

export interface ShrinkResult {
  /** The smallest failing schedule fast-check found, or null when the schedule did not fail. */
  readonly schedule: Schedule | null;
  readonly result: RunResult | null;
  readonly shrinks: number;
}

/**
 * Shrink a failing schedule (e.g. one derived from a campaign seed) with
 * fast-check's shrinker: the schedule is run as an example of scheduleArb, and
 * fast-check reduces it while it keeps failing.
 */
export function shrinkSchedule(schedule: Schedule, opts: { isFailure?: (r: RunResult) => boolean; maxRuns?: number } = {}): ShrinkResult {
  const arb = scheduleArb({ ...(schedule.unsafe !== undefined ? { unsafe: schedule.unsafe } : {}), workload: workloadOf(schedule) });
  const out = fc.check(boundedProperty(arb, opts.isFailure ?? failed, opts.maxRuns ?? DEFAULT_SHRINK_RUNS), { examples: [[schedule]], numRuns: 1, seed: schedule.seed | 0 });
  if (!out.failed || out.counterexample === null) return { schedule: null, result: null, shrinks: 0 };
  const minimal = out.counterexample[0];
  return { schedule: minimal, result: runSchedule(minimal), shrinks: out.numShrinks };
}

/**
 * A reporter for fc.assert over scheduleArb: on failure it throws with the
 * shrunk schedule, its seed, how to replay it, and fast-check's own seed and
 * path (to re-run the whole property).
 */
export function scheduleReporter(details: fc.RunDetails<[Schedule]>): void {
  if (!details.failed) return;
  if (details.counterexample === null) throw new Error(`property failed without a counterexample: ${String(details.errorInstance)}`);
  const s = details.counterexample[0];
  throw new Error(
    `${describeFailure(s, runSchedule(s))}\nfast-check: seed=${details.seed} path=${JSON.stringify(details.counterexamplePath)} after ${details.numRuns} run(s) and ${details.numShrinks} shrink(s)`,
  );
}

/** A failure report: the seed, the shrunk schedule and how to replay it. */
export function describeFailure(schedule: Schedule, result: RunResult): string {
  const lines = [
    `simulation failed: seed=${schedule.seed} (${result.violations.length} violation(s))`,
    ...result.violations.slice(0, 10).map((v) => `  [${v.checker}] t=${v.time}ms ${v.message}`),
    `shrunk schedule (${schedule.faults.length} fault(s)):`,
    JSON.stringify(schedule),
    `replay: npm run sim -- --schedule '${JSON.stringify(schedule)}'`,
  ];
  return lines.join('\n');
}
