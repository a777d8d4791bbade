// A simulation schedule: everything one run depends on, as plain JSON. The seed
// drives the per-message and per-operation randomness of the run (loss, delay,
// duplication, client operations, election timeouts); the rest of the schedule
// is the fault profile and the list of timed faults. `generateSchedule(seed)`
// derives a whole schedule from a seed (swarm testing: each seed picks its own
// "weather"); fast-check generates schedules directly (simulations/arbitrary.ts)
// so that it can shrink a failing one. Both produce values in the same ranges
// (SCHEDULE_LIMITS), so fast-check can also shrink a seed-derived schedule.
//
// A schedule names its workload (simulations/workload.ts). A key-value
// schedule has no `workload` field (schedules printed before there was a
// choice replay unchanged) and a `client` profile; a job registry schedule has
// `workload: 'registry'` and a `registry` profile. Both share the fault
// profile, which a seed derives the same way for either workload.
import { Type, type Static } from '@sinclair/typebox';
import { Value } from '@sinclair/typebox/value';
import { seededRng } from '../runtime/rng.js';
import type { Rng } from '../runtime/env.js';

/** Probabilities are integers in parts per thousand (typed ratios, not bare floats). */
export type Permille = number;

/** A fault's target: a node by index, or whichever node leads when the fault fires. */
export type Target = number | 'leader';

export type CrashMode =
  /** Crash at once: a persist in flight is lost, with every effect after it. */
  | 'now'
  /** Crash right after the node's next step that sent something, before any later input (e.g. before the next tick's persist). */
  | 'afterStep'
  /** Crash in the middle of the node's next step with at least two effects, after `afterEffects` of them ran. */
  | 'midEffects';

export type Fault =
  | { readonly at: number; readonly type: 'crash'; readonly nodes: readonly Target[]; readonly downMs: number; readonly mode: CrashMode; readonly afterEffects: number }
  /** Symmetric partition: `side` against everyone else. */
  | { readonly at: number; readonly type: 'partition'; readonly side: readonly Target[]; readonly durationMs: number }
  /** Asymmetric partition: each [from, to] link drops everything in that direction only. */
  | { readonly at: number; readonly type: 'cut'; readonly links: readonly (readonly [Target, Target])[]; readonly durationMs: number }
  /** The node's clock stops: no ticks; it still handles messages. */
  | { readonly at: number; readonly type: 'clockPause'; readonly node: Target; readonly durationMs: number }
  /** The whole process stops (a GC pause, SIGSTOP): inputs wait in its mailbox. */
  | { readonly at: number; readonly type: 'freeze'; readonly node: Target; readonly durationMs: number }
  /** Each persist takes `latencyMs`; later effects of the step wait for it (the effect order contract). */
  | { readonly at: number; readonly type: 'slowDisk'; readonly node: Target; readonly durationMs: number; readonly latencyMs: number }
  /** The leader is asked to hand leadership to `to` (graceful shutdown); nothing happens if it is `to` or there is none. */
  | { readonly at: number; readonly type: 'transfer'; readonly to: Target };

export type FaultType = Fault['type'];

export interface NetProfile {
  readonly lossPermille: Permille;
  readonly dupPermille: Permille;
  /** Every message takes at least this long. */
  readonly delayMinMs: number;
  /** Plus an exponentially distributed extra delay with this mean. */
  readonly delayMeanMs: number;
  /** Chance that a message takes a long path instead, uniform in [delayMinMs, tailMaxMs]. */
  readonly tailPermille: Permille;
  readonly tailMaxMs: number;
  /** Per-link FIFO (a TCP-like transport). When false, messages on one link overtake each other too. */
  readonly fifo: boolean;
}

export interface RaftProfile {
  readonly heartbeatTicks: number;
  readonly preVote: boolean;
  readonly checkQuorum: boolean;
  /** snapshotThresholdEntries; 0 = no snapshots. */
  readonly snapshotEvery: number;
  readonly snapshotChunkChars: number;
  readonly maxEntriesPerAppend: number;
  readonly maxInflightAppends: number;
  /** keepAppliedEntries (applied entries kept with their data; older ones are read back from disk to send). Default 16. */
  readonly keepAppliedEntries?: number;
}

/** keepAppliedEntries a schedule runs with: none kept, a few, the default, and all (never cold). */
export const KEEP_APPLIED_CHOICES = [0, 1, 4, 16, 1_000_000] as const;

export interface ClientProfile {
  readonly clients: number;
  readonly keys: number;
  readonly readPermille: Permille;
  readonly casPermille: Permille;
  /** A client waits uniform [0, thinkMaxMs] between operations. */
  readonly thinkMaxMs: number;
  /** A client gives up after this long and records `info` (outcome unknown). */
  readonly timeoutMs: number;
}

/**
 * The job registry workload's actors (simulations/registry-workload.ts).
 * Clients submit (some with idempotency keys from a pool every client shares),
 * re-submit what failed or timed out, cancel and read; one router dispatches
 * due jobs, re-dispatches stuck ones and retries or buries failed ones;
 * workers report start, progress and the outcome with duplicates, delays and
 * late repeats; feed readers follow the event feed from random nodes.
 */
export interface RegistryProfile {
  readonly clients: number;
  /** A client waits uniform [0, thinkMaxMs] between operations. */
  readonly thinkMaxMs: number;
  /** Every actor gives up on a request after this long (outcome unknown). */
  readonly timeoutMs: number;
  /** Submits that carry an idempotency key, drawn from a pool of `keys` keys shared by every client. */
  readonly keyPermille: Permille;
  readonly keys: number;
  /** A submit that failed or timed out is sent again with the same job id and key. */
  readonly resubmitPermille: Permille;
  /** Client operations that read a job it knows (get, linearizable). */
  readonly readPermille: Permille;
  /** Client operations that cancel a job it knows. The rest submit. */
  readonly cancelPermille: Permille;
  readonly workers: number;
  /** A worker sends a report twice. */
  readonly dupPermille: Permille;
  /** A worker sends a report again much later, after the job has usually moved on (out of order, often stale). */
  readonly latePermille: Permille;
  /** A worker drops an assignment without a word, before or after starting it (a worker crash). */
  readonly abandonPermille: Permille;
  /** An attempt ends in fail rather than complete. */
  readonly failPermille: Permille;
  /** A worker starts uniform [0, startDelayMaxMs] after the assignment reaches it. */
  readonly startDelayMaxMs: number;
  /** The router re-dispatches a job dispatched this long ago and not started (its attempt is fenced out). */
  readonly dispatchTimeoutMs: number;
  /** The router reads one of its work lists this often. */
  readonly pollMs: number;
  /** The router proposes a command twice (a retry after a reply it did not get). */
  readonly routerDupPermille: Permille;
  /** Readers that follow the event feed with local reads from random nodes. */
  readonly readers: number;
  /** Batch entries (several commands in one log entry): a client submits 2-4 jobs at once; the router sends a poll's commands together. */
  readonly batchPermille: Permille;
}

export interface UnsafeProfile {
  readonly grantVoteWithoutLogCheck?: boolean;
  readonly ackBeforePersist?: boolean;
  readonly followerReadsWithoutLeader?: boolean;
  /** Job registry (actors/job_registry/transitions.ts RegistryUnsafe): apply status changes whatever attempt they name. */
  readonly skipAttemptCheck?: boolean;
}

export type WorkloadName = 'kv' | 'registry';
export const WORKLOADS: readonly WorkloadName[] = Object.freeze(['kv', 'registry']);

interface ScheduleBase {
  readonly seed: number;
  readonly nodes: 3 | 5;
  /** Length of the safety phase (faults on). The liveness phase follows. */
  readonly safetyMs: number;
  readonly tickMs: number;
  /** Per-node clock drift: node i ticks every tickMs + d, d uniform in [-driftMs, driftMs] (drawn per node). */
  readonly driftMs: number;
  readonly diskLatencyMs: number;
  readonly net: NetProfile;
  readonly raft: RaftProfile;
  readonly faults: readonly Fault[];
  readonly unsafe?: UnsafeProfile;
}

/** The key-value workload (simulations/kv-workload.ts): no `workload` field, or 'kv'. */
export interface KvSchedule extends ScheduleBase {
  readonly workload?: 'kv';
  readonly client: ClientProfile;
}

/** The job registry workload (simulations/registry-workload.ts). */
export interface RegistrySchedule extends ScheduleBase {
  readonly workload: 'registry';
  readonly registry: RegistryProfile;
}

export type Schedule = KvSchedule | RegistrySchedule;

export function workloadOf(s: Schedule): WorkloadName {
  return s.workload ?? 'kv';
}

/** The ranges both generators respect. */
export const SCHEDULE_LIMITS = {
  safetyMs: [10_000, 12_000],
  tickMs: [10, 10],
  driftMs: [0, 1],
  diskLatencyMs: [0, 2],
  lossPermille: [0, 150],
  dupPermille: [0, 50],
  delayMinMs: [1, 4],
  delayMeanMs: [0, 12],
  tailPermille: [0, 40],
  tailMaxMs: [20, 400],
  heartbeatTicks: [1, 3],
  snapshotEvery: [0, 64],
  snapshotChunkChars: [16, 512],
  maxEntriesPerAppend: [1, 64],
  maxInflightAppends: [1, 16],
  clients: [1, 6],
  keys: [1, 4],
  readPermille: [0, 600],
  casPermille: [0, 400],
  thinkMaxMs: [0, 120],
  timeoutMs: [200, 1500],
  faults: [0, 40],
  faultAt: [0, 12_000],
  downMs: [20, 3000],
  durationMs: [20, 3000],
  afterEffects: [1, 6],
  latencyMs: [3, 120],
  targets: [1, 3],
} as const;

/**
 * The registry workload's ranges. Its state machine is an SQLite database whose
 * snapshot is a page image (64 KiB empty, hundreds of KiB later): snapshots
 * come less often and travel in bigger chunks than the key-value map's. Its
 * actors commit tens of entries a second, so a follower cut off for a few
 * seconds is hundreds of entries behind when the faults heal: appends carry at
 * least 4 entries, or catching up one entry per round trip would outlast the
 * convergence bound (the key-value workload covers the one-entry pipeline).
 */
export const REGISTRY_LIMITS = {
  clients: [1, 3],
  thinkMaxMs: [50, 400],
  timeoutMs: [300, 1500],
  keyPermille: [0, 800],
  keys: [1, 8],
  resubmitPermille: [0, 1000],
  readPermille: [0, 400],
  cancelPermille: [0, 200],
  workers: [1, 4],
  dupPermille: [0, 300],
  latePermille: [0, 200],
  abandonPermille: [0, 150],
  failPermille: [0, 600],
  startDelayMaxMs: [0, 1000],
  dispatchTimeoutMs: [150, 1000],
  pollMs: [20, 200],
  routerDupPermille: [0, 100],
  readers: [0, 2],
  batchPermille: [0, 1000],
  snapshotEvery: [0, 256],
  snapshotChunkChars: [4096, 1 << 20],
  maxEntriesPerAppend: [4, 64],
} as const;

/** The fixed settings every run shares. */
export const ELECTION_TICKS = 10;
/** After healing, a stable leader must be elected within this (virtual ms). */
export const LEADER_BOUND_MS = 3_000;
/** After healing, the cluster must converge (barrier committed and applied everywhere, final reads served) within this. */
export const CONVERGENCE_BOUND_MS = 8_000;

// ---------------------------------------------------------------------------
// Seeds

/** A run seed is a uint32. Decimal strings are taken as is; any other text is hashed. */
export function normalizeSeed(s: string | number): number {
  if (typeof s === 'number') return s >>> 0;
  if (/^\d+$/.test(s) && Number(s) <= 0xffffffff) return Number(s);
  return seededRng(s).int(0, 0xffffffff);
}

/** The seed of run `i` of a campaign: a pure function of the campaign seed and i. */
export function campaignRunSeed(base: number, i: number): number {
  return seededRng(`campaign:${base}:${i}`).int(0, 0xffffffff);
}

// ---------------------------------------------------------------------------
// Generation from a seed (swarm testing)

const pick = <T>(rng: Rng, xs: readonly T[]): T => xs[rng.int(0, xs.length - 1)]!;
const chance = (rng: Rng, permille: number): boolean => rng.int(0, 999) < permille;
const inRange = (rng: Rng, [lo, hi]: readonly [number, number]): number => rng.int(lo, hi);

function targets(rng: Rng, n: number, max: number): Target[] {
  const out: Target[] = [];
  const k = rng.int(1, max);
  for (let i = 0; i < k; i++) {
    const t: Target = chance(rng, 250) ? 'leader' : rng.int(0, n - 1);
    if (!out.includes(t)) out.push(t);
  }
  return out;
}

/**
 * Derive a whole schedule from a seed. Each seed first picks its weather (which
 * fault kinds are on, how often, how lossy the network is), then the faults.
 * A registry schedule has the same weather and faults as the key-value one of
 * the same seed; its own settings come from a second stream (`registry:<seed>`),
 * so adding them changed no key-value schedule.
 */
export function generateSchedule(seedInput: string | number, unsafe?: UnsafeProfile, workload?: 'kv'): KvSchedule;
export function generateSchedule(seedInput: string | number, unsafe: UnsafeProfile | undefined, workload: 'registry'): RegistrySchedule;
export function generateSchedule(seedInput: string | number, unsafe?: UnsafeProfile, workload?: WorkloadName): Schedule;
export function generateSchedule(seedInput: string | number, unsafe?: UnsafeProfile, workload: WorkloadName = 'kv'): Schedule {
  const kv = generateKvSchedule(seedInput, unsafe);
  if (workload === 'kv') return kv;
  const wr = seededRng(`registry:${kv.seed}`);
  const { client: _client, ...base } = kv;
  return {
    ...base,
    workload: 'registry',
    raft: {
      ...kv.raft,
      snapshotEvery: chance(wr, 500) ? 0 : wr.int(32, REGISTRY_LIMITS.snapshotEvery[1]),
      snapshotChunkChars: pick(wr, [4096, 65536, 1 << 20]),
      maxEntriesPerAppend: Math.max(REGISTRY_LIMITS.maxEntriesPerAppend[0], kv.raft.maxEntriesPerAppend),
    },
    registry: generateRegistryProfile(wr),
  };
}

function generateRegistryProfile(rng: Rng): RegistryProfile {
  const R = REGISTRY_LIMITS;
  return {
    clients: inRange(rng, R.clients),
    thinkMaxMs: inRange(rng, R.thinkMaxMs),
    timeoutMs: inRange(rng, R.timeoutMs),
    keyPermille: pick(rng, [0, 200, 500, 800]),
    keys: inRange(rng, R.keys),
    resubmitPermille: pick(rng, [0, 500, 1000]),
    readPermille: inRange(rng, R.readPermille),
    cancelPermille: pick(rng, [0, 50, 200]),
    workers: inRange(rng, R.workers),
    dupPermille: pick(rng, [0, 50, 300]),
    latePermille: pick(rng, [0, 50, 200]),
    abandonPermille: pick(rng, [0, 20, 150]),
    failPermille: pick(rng, [0, 200, 600]),
    startDelayMaxMs: pick(rng, [50, 300, 1000]),
    dispatchTimeoutMs: inRange(rng, R.dispatchTimeoutMs),
    pollMs: inRange(rng, R.pollMs),
    routerDupPermille: pick(rng, [0, 0, 20, 100]),
    readers: inRange(rng, R.readers),
    batchPermille: pick(rng, [0, 200, 1000]),
  };
}

function generateKvSchedule(seedInput: string | number, unsafe?: UnsafeProfile): KvSchedule {
  const seed = normalizeSeed(seedInput);
  const rng = seededRng(`schedule:${seed}`);
  const L = SCHEDULE_LIMITS;
  const nodes: 3 | 5 = chance(rng, 600) ? 3 : 5;
  const minority = Math.floor(nodes / 2);
  const safetyMs = inRange(rng, L.safetyMs);
  const calm = chance(rng, 100); // a few runs with a quiet network, so faults are the only weather
  const net: NetProfile = {
    lossPermille: calm ? 0 : pick(rng, [0, 5, 20, 50, 100, 150]),
    dupPermille: calm ? 0 : pick(rng, [0, 0, 5, 20, 50]),
    delayMinMs: inRange(rng, L.delayMinMs),
    delayMeanMs: inRange(rng, L.delayMeanMs),
    tailPermille: calm ? 0 : pick(rng, [0, 5, 20, 40]),
    tailMaxMs: inRange(rng, L.tailMaxMs),
    fifo: chance(rng, 500),
  };
  const raft: RaftProfile = {
    heartbeatTicks: inRange(rng, L.heartbeatTicks),
    preVote: chance(rng, 850),
    checkQuorum: chance(rng, 850),
    snapshotEvery: chance(rng, 500) ? 0 : rng.int(8, 64),
    snapshotChunkChars: pick(rng, [16, 64, 512]),
    maxEntriesPerAppend: pick(rng, [1, 4, 16, 64]),
    maxInflightAppends: pick(rng, [1, 4, 16]),
    // A stream of its own, so adding it left every earlier seed's schedule as it was.
    keepAppliedEntries: pick(seededRng(`keep:${seed}`), KEEP_APPLIED_CHOICES),
  };
  const readPermille = rng.int(100, 600);
  const client: ClientProfile = {
    clients: inRange(rng, L.clients),
    keys: inRange(rng, L.keys),
    readPermille,
    casPermille: rng.int(0, Math.min(400, 1000 - readPermille)),
    thinkMaxMs: inRange(rng, L.thinkMaxMs),
    timeoutMs: inRange(rng, L.timeoutMs),
  };

  // Swarm: how many faults of each kind this seed gets (0 = kind off).
  const counts: Record<FaultType, number> = {
    crash: chance(rng, 750) ? rng.int(1, 8) : 0,
    partition: chance(rng, 650) ? rng.int(1, 6) : 0,
    cut: chance(rng, 450) ? rng.int(1, 5) : 0,
    clockPause: chance(rng, 400) ? rng.int(1, 4) : 0,
    freeze: chance(rng, 400) ? rng.int(1, 4) : 0,
    slowDisk: chance(rng, 450) ? rng.int(1, 5) : 0,
    transfer: chance(rng, 300) ? rng.int(1, 4) : 0,
  };
  const faults: Fault[] = [];
  const at = (): number => rng.int(0, safetyMs - 1);
  const dur = (): number => (chance(rng, 700) ? rng.int(20, 800) : rng.int(800, L.durationMs[1]));
  for (let i = 0; i < counts.crash; i++) {
    // Mostly one node, sometimes a minority, rarely the whole cluster (a power failure).
    const whole = chance(rng, 80);
    const nodesHit: Target[] = whole ? Array.from({ length: nodes }, (_, k) => k) : targets(rng, nodes, Math.min(L.targets[1], minority));
    const mode: CrashMode = pick(rng, ['now', 'now', 'afterStep', 'afterStep', 'midEffects']);
    faults.push({ at: at(), type: 'crash', nodes: nodesHit, downMs: chance(rng, 600) ? rng.int(20, 500) : rng.int(500, L.downMs[1]), mode, afterEffects: inRange(rng, L.afterEffects) });
  }
  for (let i = 0; i < counts.partition; i++) {
    faults.push({ at: at(), type: 'partition', side: targets(rng, nodes, Math.min(L.targets[1], minority)), durationMs: dur() });
  }
  for (let i = 0; i < counts.cut; i++) {
    const links: [Target, Target][] = [];
    const k = rng.int(1, 3);
    for (let j = 0; j < k; j++) {
      const from: Target = chance(rng, 300) ? 'leader' : rng.int(0, nodes - 1);
      let to = rng.int(0, nodes - 1);
      if (to === from) to = (to + 1) % nodes;
      links.push(chance(rng, 500) ? [from, to] : [to, from]);
    }
    faults.push({ at: at(), type: 'cut', links, durationMs: dur() });
  }
  for (let i = 0; i < counts.clockPause; i++) faults.push({ at: at(), type: 'clockPause', node: targets(rng, nodes, 1)[0]!, durationMs: dur() });
  for (let i = 0; i < counts.freeze; i++) faults.push({ at: at(), type: 'freeze', node: targets(rng, nodes, 1)[0]!, durationMs: rng.int(20, 1500) });
  for (let i = 0; i < counts.slowDisk; i++) {
    faults.push({ at: at(), type: 'slowDisk', node: targets(rng, nodes, 1)[0]!, durationMs: dur(), latencyMs: inRange(rng, L.latencyMs) });
  }
  for (let i = 0; i < counts.transfer; i++) faults.push({ at: at(), type: 'transfer', to: rng.int(0, nodes - 1) });
  faults.sort((a, b) => a.at - b.at);
  return {
    seed,
    nodes,
    safetyMs,
    tickMs: 10,
    driftMs: inRange(rng, L.driftMs),
    diskLatencyMs: pick(rng, [0, 0, 1, 2]),
    net,
    raft,
    client,
    faults: faults.slice(0, L.faults[1]),
    ...normalUnsafe(unsafe),
  };
}

/** Only the switches that are on, and no `unsafe` key at all when none is (so schedules compare and shrink cleanly). */
function normalUnsafe(u: UnsafeProfile | undefined): { unsafe?: UnsafeProfile } {
  const out: { grantVoteWithoutLogCheck?: boolean; ackBeforePersist?: boolean; followerReadsWithoutLeader?: boolean; skipAttemptCheck?: boolean } = {};
  if (u?.grantVoteWithoutLogCheck === true) out.grantVoteWithoutLogCheck = true;
  if (u?.ackBeforePersist === true) out.ackBeforePersist = true;
  if (u?.followerReadsWithoutLeader === true) out.followerReadsWithoutLeader = true;
  if (u?.skipAttemptCheck === true) out.skipAttemptCheck = true;
  return Object.keys(out).length === 0 ? {} : { unsafe: out };
}

// ---------------------------------------------------------------------------
// Validation of a schedule read from a file or the command line

const Int = (lo: number, hi: number) => Type.Integer({ minimum: lo, maximum: hi });
const TargetSchema = Type.Union([Int(0, 4), Type.Literal('leader')]);
const FaultSchema = Type.Union([
  Type.Object({
    at: Int(0, 1e9),
    type: Type.Literal('crash'),
    nodes: Type.Array(TargetSchema, { minItems: 1, maxItems: 5 }),
    downMs: Int(0, 1e9),
    mode: Type.Union([Type.Literal('now'), Type.Literal('afterStep'), Type.Literal('midEffects')]),
    afterEffects: Int(0, 1000),
  }),
  Type.Object({ at: Int(0, 1e9), type: Type.Literal('partition'), side: Type.Array(TargetSchema, { minItems: 1, maxItems: 5 }), durationMs: Int(0, 1e9) }),
  Type.Object({
    at: Int(0, 1e9),
    type: Type.Literal('cut'),
    links: Type.Array(Type.Tuple([TargetSchema, TargetSchema]), { minItems: 1, maxItems: 20 }),
    durationMs: Int(0, 1e9),
  }),
  Type.Object({ at: Int(0, 1e9), type: Type.Literal('clockPause'), node: TargetSchema, durationMs: Int(0, 1e9) }),
  Type.Object({ at: Int(0, 1e9), type: Type.Literal('freeze'), node: TargetSchema, durationMs: Int(0, 1e9) }),
  Type.Object({ at: Int(0, 1e9), type: Type.Literal('slowDisk'), node: TargetSchema, durationMs: Int(0, 1e9), latencyMs: Int(0, 1e6) }),
  Type.Object({ at: Int(0, 1e9), type: Type.Literal('transfer'), to: TargetSchema }),
]);

const baseFields = {
  seed: Int(0, 0xffffffff),
  nodes: Type.Union([Type.Literal(3), Type.Literal(5)]),
  safetyMs: Int(1, 1e8),
  tickMs: Int(1, 1000),
  driftMs: Int(0, 100),
  diskLatencyMs: Int(0, 1e6),
  net: Type.Object({
    lossPermille: Int(0, 1000),
    dupPermille: Int(0, 1000),
    delayMinMs: Int(0, 1e6),
    delayMeanMs: Int(0, 1e6),
    tailPermille: Int(0, 1000),
    tailMaxMs: Int(0, 1e6),
    fifo: Type.Boolean(),
  }),
  raft: Type.Object({
    heartbeatTicks: Int(1, ELECTION_TICKS - 1),
    preVote: Type.Boolean(),
    checkQuorum: Type.Boolean(),
    snapshotEvery: Int(0, 1e6),
    snapshotChunkChars: Int(1, 1e9),
    maxEntriesPerAppend: Int(1, 1e6),
    maxInflightAppends: Int(1, 1e6),
    keepAppliedEntries: Type.Optional(Int(0, 1e9)),
  }),
  faults: Type.Array(FaultSchema, { maxItems: 10_000 }),
  unsafe: Type.Optional(
    Type.Object({
      grantVoteWithoutLogCheck: Type.Optional(Type.Boolean()),
      ackBeforePersist: Type.Optional(Type.Boolean()),
      followerReadsWithoutLeader: Type.Optional(Type.Boolean()),
      skipAttemptCheck: Type.Optional(Type.Boolean()),
    }),
  ),
};

export const KvScheduleSchema = Type.Object({
  ...baseFields,
  workload: Type.Optional(Type.Literal('kv')),
  client: Type.Object({
    clients: Int(0, 100),
    keys: Int(1, 100),
    readPermille: Int(0, 1000),
    casPermille: Int(0, 1000),
    thinkMaxMs: Int(0, 1e6),
    timeoutMs: Int(1, 1e8),
  }),
});

export const RegistryScheduleSchema = Type.Object({
  ...baseFields,
  workload: Type.Literal('registry'),
  registry: Type.Object({
    clients: Int(0, 100),
    thinkMaxMs: Int(0, 1e6),
    timeoutMs: Int(1, 1e8),
    keyPermille: Int(0, 1000),
    keys: Int(1, 1000),
    resubmitPermille: Int(0, 1000),
    readPermille: Int(0, 1000),
    cancelPermille: Int(0, 1000),
    workers: Int(1, 100),
    dupPermille: Int(0, 1000),
    latePermille: Int(0, 1000),
    abandonPermille: Int(0, 1000),
    failPermille: Int(0, 1000),
    startDelayMaxMs: Int(0, 1e6),
    dispatchTimeoutMs: Int(1, 1e8),
    pollMs: Int(1, 1e6),
    routerDupPermille: Int(0, 1000),
    readers: Int(0, 100),
    batchPermille: Int(0, 1000),
  }),
});

// Compile-time check: whatever the schemas accept is a Schedule.
const _kvSchemaFits = (x: Static<typeof KvScheduleSchema>): KvSchedule => x;
const _registrySchemaFits = (x: Static<typeof RegistryScheduleSchema>): RegistrySchedule => x;
void _kvSchemaFits;
void _registrySchemaFits;

export type ParseScheduleResult = { readonly ok: true; readonly schedule: Schedule } | { readonly ok: false; readonly error: string };

/** Validate untrusted JSON (a file, a command-line argument) as a schedule. */
export function parseSchedule(text: string): ParseScheduleResult {
  let v: unknown;
  try {
    v = JSON.parse(text);
  } catch (e) {
    return { ok: false, error: `not JSON: ${e instanceof Error ? e.message : String(e)}` };
  }
  // The workload field picks the schema, so an error names the field, not "expected a union".
  if (v !== null && typeof v === 'object' && (v as { workload?: unknown }).workload === 'registry') {
    if (!Value.Check(RegistryScheduleSchema, v)) return { ok: false, error: firstError(RegistryScheduleSchema, v) };
    if (v.registry.readPermille + v.registry.cancelPermille > 1000) return { ok: false, error: '/registry: readPermille + cancelPermille must be at most 1000' };
    return { ok: true, schedule: v };
  }
  if (!Value.Check(KvScheduleSchema, v)) return { ok: false, error: firstError(KvScheduleSchema, v) };
  if (v.client.readPermille + v.client.casPermille > 1000) return { ok: false, error: '/client: readPermille + casPermille must be at most 1000' };
  return { ok: true, schedule: v };
}

function firstError(schema: typeof KvScheduleSchema | typeof RegistryScheduleSchema, v: unknown): string {
  const first = Value.Errors(schema, v).First();
  return first === undefined ? 'not a schedule' : `${first.path || '/'}: ${first.message}`;
}

/** How many faults of each kind a schedule holds (for summaries). */
export function faultCounts(s: Schedule): Record<FaultType, number> {
  const out: Record<FaultType, number> = { crash: 0, partition: 0, cut: 0, clockPause: 0, freeze: 0, slowDisk: 0, transfer: 0 };
  for (const f of s.faults) if (f.at < s.safetyMs) out[f.type]++;
  return out;
}
