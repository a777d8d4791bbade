// Job registry benchmark: the replicated state machine (actors/job_registry)
// on one member, in this process, as raft_fsm drives it: committed LogEntry
// objects applied through RegistryMachine.apply inside machine.batch() (one
// SQLite transaction per batch of `applyBatch` entries).
// Fields:
//   apply_per_s         lifecycle commands (submit, dispatch, start, complete) applied per
//                       second on a fresh machine: N = 100,000 in pipelined order (a job's
//                       next command comes `pipelineLag` submits later, in a later batch,
//                       so a batch mixes every kind, as a busy member's would); median of
//                       `applyRuns` runs; the time includes a list query at the end, which
//                       writes the jobs the store still holds back (write-behind)
//   apply_per_s_at_1m   the same N applied to the machine that holds the 1M jobs below
//   cluster_jobs_per_s  full lifecycles per second through a 3-member cluster on loopback:
//                       3 processes (registry-node.ts: raft_fsm over SQLite + job_registry),
//                       this process a hidden node sending `batch` requests of whole
//                       lifecycles to the leader's job_registry (registry-cluster.ts), timed after
//                       10,000 untimed warm-up lifecycles (cluster_warmup_jobs);
//                       cluster_* fields give the batch shape, latency and failures, the CPU µs a
//                       lifecycle cost in each process (cluster_cpu_us_per_job: leader, followers,
//                       client), the minor page faults a lifecycle cost in each
//                       (cluster_faults_per_job) and each member's heap and RSS at the end (leader first)
//   list_p50/p99_ms     one `list` query (machine.query: checked, cursor decoded, a page of
//                       `pageSize`) over 1M stored jobs, filtered by random combinations
//                       of status, type, priority, worker and a created-at range, both
//                       orders, some following the cursor 1-3 pages; every page is a sample
//   list_slowest        the query shapes with the highest p99
//   load_*              loading the 1M jobs through apply (every command of each job's
//                       lifecycle, `loadBatch` entries a batch); rss_mb after it
//   tables_in           'file' or 'memory': where the machines keep their tables (see below)
// Prints one JSON line (progress goes to stderr). The data are generated from a
// fixed seed, so every run applies the same entries and asks the same queries.
// DQ_BENCH_REGISTRY_JOBS overrides the 1M (for a quick run while tuning). The machines keep their tables
// in scratch files (store.ts), as a long-running member should; DQ_BENCH_REGISTRY_DB=memory keeps them in
// memory instead (and REGISTRY_NODE_DB=memory the cluster members').
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { RegistryMachine } from '../../actors/job_registry/machine.js';
import type { JobId, JobStatus, ListFilter, ListPage, RegistryCommand, RegistryQuery } from '../../actors/job_registry/types.js';
import type { LogEntry } from '../../actors/raft/types.js';
import { type ClusterBenchResult, runClusterBench } from './registry-cluster.js';

const applyCommands = 100_000;
const applyBatch = 1_000;
const applyRuns = 3;
/**
 * A job's next command comes this many submits later (about 4 entries each in
 * steady state), so each command of a lifecycle lands in a later batch than
 * the one before: what a busy member sees, where a job's dispatch, start and
 * completion follow its submit by milliseconds to seconds.
 */
const pipelineLag = 300;
const listJobs = Number(process.env['DQ_BENCH_REGISTRY_JOBS'] ?? 1_000_000);
const loadBatch = 10_000;
const listQueries = 1_000;
const pageSize = 50;
const spanMs = 30 * 24 * 3600 * 1000;
/** Day 0 of the generated history (2025-01-01T00:00:00Z); the history ends spanMs later. */
const epoch = 1_735_689_600_000;

const now = (): number => performance.now();
const quantile = (sorted: readonly number[], q: number): number => sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))] ?? NaN;
const round = (x: number, digits = 2): number => Number(x.toFixed(digits));
const gc = (): void => (globalThis as { gc?: () => void }).gc?.();
const progress = (msg: string): void => void process.stderr.write(`registry bench: ${msg}\n`);

/** mulberry32: a small seeded PRNG, so every run generates the same jobs and queries. */
function rng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

function weighted<T>(r: () => number, table: readonly (readonly [T, number])[]): T {
  let x = r() * table.reduce((s, [, w]) => s + w, 0);
  for (const [v, w] of table) if ((x -= w) < 0) return v;
  return table[table.length - 1]![0];
}

const TYPES: readonly (readonly [string, number])[] = [
  ['email', 35],
  ['notification', 20],
  ['webhook', 15],
  ['sms', 10],
  ['report', 8],
  ['image_resize', 7],
  ['etl', 4],
  ['video_transcode', 1],
];
const PRIORITIES: readonly (readonly [number, number])[] = [
  [1, 30],
  [5, 45],
  [10, 20],
  [15, 5],
];
const WORKERS = Array.from({ length: 40 }, (_, i) => `worker-${String(i + 1).padStart(2, '0')}@10.0.${i >> 3}.${10 + (i & 7)}`);

/** A UUID v4's shape from the PRNG (ids are proposer-chosen UUIDs in production). */
function uuid(r: () => number): JobId {
  const hex = (n: number): string => {
    let s = '';
    for (let i = 0; i < n; i++) s += ((r() * 16) | 0).toString(16);
    return s;
  };
  return `${hex(8)}-${hex(4)}-4${hex(3)}-${'89ab'[(r() * 4) | 0]}${hex(3)}-${hex(12)}` as JobId;
}

/** Where a generated job's lifecycle ends. */
type Fate = 'completed' | 'retried_completed' | 'dead' | 'cancelled' | 'failed' | 'pending' | 'dispatched' | 'running';

/** Jobs of the last day are mostly in flight; older ones mostly finished (a few stuck). */
function fate(r: () => number, ageMs: number): Fate {
  if (ageMs < 24 * 3600 * 1000 && r() < 0.5) return weighted<Fate>(r, [['pending', 5], ['dispatched', 2], ['running', 5]]);
  return weighted<Fate>(r, [
    ['completed', 85],
    ['retried_completed', 4],
    ['dead', 3],
    ['cancelled', 3],
    ['failed', 1],
    ['pending', 1],
    ['dispatched', 1],
    ['running', 2],
  ]);
}

/** Every command of one job's lifecycle, the submit first, at increasing times from `at`. */
function lifecycle(r: () => number, id: JobId, at: number, f: Fate): RegistryCommand[] {
  const type = weighted(r, TYPES);
  const priority = weighted(r, PRIORITIES);
  const worker = WORKERS[(r() * WORKERS.length) | 0]!;
  const submit: RegistryCommand = {
    c: 'submit',
    id,
    at,
    type,
    priority,
    payload: { to: `user${(r() * 1e6) | 0}@example.com`, template: type, locale: 'en' },
    ...(r() < 0.3 ? { metadata: { tenant: `t${(r() * 50) | 0}` } } : {}),
    ...(r() < 0.1 ? { idempotencyKey: `key-${id}` } : {}),
  };
  const out: RegistryCommand[] = [submit];
  let t = at;
  let attempt = 1;
  const step = (ms: number): number => (t += 1 + ((r() * ms) | 0));
  const run = (): void => {
    out.push({ c: 'dispatch', id, at: step(200), attempt });
    out.push({ c: 'start', id, at: step(500), attempt, worker });
  };
  switch (f) {
    case 'pending':
      break;
    case 'dispatched':
      out.push({ c: 'dispatch', id, at: step(200), attempt });
      break;
    case 'running':
      run();
      if (r() < 0.5) out.push({ c: 'progress', id, at: step(5_000), attempt, worker, progress: (r() * 100) | 0 });
      break;
    case 'completed':
      run();
      out.push({ c: 'complete', id, at: step(30_000), attempt, worker, result: { ok: true } });
      break;
    case 'retried_completed':
      run();
      out.push({ c: 'fail', id, at: step(30_000), attempt, worker, error: 'ETIMEDOUT: upstream did not answer' });
      out.push({ c: 'retry', id, at: step(100), attempt, runAt: t + 5_000 });
      attempt++;
      run();
      out.push({ c: 'complete', id, at: step(30_000), attempt, worker, result: { ok: true } });
      break;
    case 'failed':
      run();
      out.push({ c: 'fail', id, at: step(30_000), attempt, worker, error: 'ECONNREFUSED: upstream refused the connection' });
      break;
    case 'dead':
      run();
      out.push({ c: 'fail', id, at: step(30_000), attempt, worker, error: 'invalid template' });
      out.push({ c: 'dead', id, at: step(100), attempt, reason: 'not retryable' });
      break;
    case 'cancelled':
      if (r() < 0.5) out.push({ c: 'dispatch', id, at: step(200), attempt });
      out.push({ c: 'cancel', id, at: step(60_000), reason: 'cancelled by user' });
      break;
  }
  return out;
}

/**
 * The commands of `jobs` lifecycles in pipelined log order: job i's submit at
 * step i, its k-th later command at step i + k·lag (then each step's commands
 * in job order). Yields batches of `batch` commands.
 */
function* pipelined(jobs: number, lag: number, batch: number, make: (i: number) => RegistryCommand[]): Generator<RegistryCommand[]> {
  const due = new Map<number, RegistryCommand[]>();
  let out: RegistryCommand[] = [];
  for (let step = 0; step < jobs || due.size > 0; step++) {
    if (step < jobs) {
      const cmds = make(step);
      out.push(cmds[0]!);
      for (let k = 1; k < cmds.length; k++) {
        const at = step + k * lag;
        const list = due.get(at);
        if (list === undefined) due.set(at, [cmds[k]!]);
        else list.push(cmds[k]!);
      }
    }
    const now = due.get(step);
    if (now !== undefined) {
      due.delete(step);
      for (const c of now) out.push(c);
    }
    if (out.length >= batch) {
      yield out;
      out = [];
    }
  }
  if (out.length > 0) yield out;
}

/**
 * A Raft log of its own for each machine: entries numbered from 1, term 1.
 * The commands go through JSON first, as every member's do (decoded from the
 * wire or from the log's storage): flat strings and the objects JSON.parse
 * builds, not the bench's concatenated ones.
 */
class Log {
  private index = 0;
  entries(cmds: readonly RegistryCommand[]): LogEntry[] {
    return (JSON.parse(JSON.stringify(cmds)) as RegistryCommand[]).map((data) => ({ term: 1, index: ++this.index, kind: 'command', data }));
  }
}

/** Apply `batches` of entries, each as one machine.batch (raft_fsm's apply effect); counts rejections. */
function applyAll(m: RegistryMachine, batches: readonly (readonly LogEntry[])[]): { ms: number; rejected: number } {
  let rejected = 0;
  const t0 = now();
  for (const entries of batches) {
    m.batch(() => {
      for (const e of entries) if (m.apply(e)?.type === 'rejected') rejected++;
    });
  }
  // Job writes the store still holds back (store.ts, write-behind) are made by the first read: timed too.
  m.query({ q: 'list', limit: 1 });
  return { ms: now() - t0, rejected };
}

/** `applyCommands` lifecycle commands (submit, dispatch, start, complete) of new jobs, as batches of entries. */
function lifecycleBatches(seed: number, log: Log, at0: number): LogEntry[][] {
  const r = rng(seed);
  const out: LogEntry[][] = [];
  for (const cmds of pipelined(applyCommands / 4, pipelineLag, applyBatch, (i) => lifecycle(r, uuid(r), at0 + i * 10, 'completed'))) out.push(log.entries(cmds));
  // pipelined() yields at least `applyBatch`; re-cut to exactly applyBatch entries a batch.
  const flat = out.flat();
  return Array.from({ length: Math.ceil(flat.length / applyBatch) }, (_, i) => flat.slice(i * applyBatch, (i + 1) * applyBatch));
}

function applyRate(m: RegistryMachine, batches: readonly (readonly LogEntry[])[]): number {
  gc();
  const { ms, rejected } = applyAll(m, batches);
  if (rejected > 0) throw new Error(`${rejected} lifecycle commands rejected`);
  return Math.round((applyCommands / ms) * 1000);
}

// ---------------------------------------------------------------------------
// apply_per_s: fresh machines

const fileDir = process.env['DQ_BENCH_REGISTRY_DB'] !== 'memory' ? mkdtempSync(join(tmpdir(), 'dq-bench-registry-db-')) : null;
if (fileDir !== null) process.on('exit', () => rmSync(fileDir, { recursive: true, force: true }));
let machines = 0;
/** A fresh machine: its tables in a file of its own, or with DQ_BENCH_REGISTRY_DB=memory in memory. */
function newMachine(): RegistryMachine {
  return new RegistryMachine(fileDir === null ? {} : { store: { file: join(fileDir, `m${++machines}.db`) } });
}

function singleNode(): number[] {
  // Warm-up (JIT, prepared statements) on a machine that is then dropped.
  const warm = newMachine();
  applyAll(warm, lifecycleBatches(1, new Log(), epoch));
  warm.close();
  const rates: number[] = [];
  for (let run = 0; run < applyRuns; run++) {
    const m = newMachine();
    const batches = lifecycleBatches(100 + run, new Log(), epoch);
    rates.push(applyRate(m, batches));
    m.close();
  }
  return rates;
}

// ---------------------------------------------------------------------------
// cluster_jobs_per_s

const clusterJobs = Number(process.env['DQ_BENCH_REGISTRY_CLUSTER_JOBS'] ?? 40_000);

/** Full job lifecycles per second through a 3-member cluster on loopback (4 commands each, batched). */
function clusterRun(): Promise<ClusterBenchResult> {
  // 8 in flight, not 4: over 6 interleaved rounds of 100k lifecycles, 8 gave 6–39 % more lifecycles/s and
  // less CPU per lifecycle (the processes sleep and wake less), for twice the batch latency; 16 gave no more.
  return runClusterBench({ jobs: clusterJobs, jobsPerBatch: 250, inflightBatches: 8 });
}

// ---------------------------------------------------------------------------
// list_*: 1M stored jobs

interface Loaded {
  readonly m: RegistryMachine;
  readonly log: Log;
  readonly commands: number;
  readonly ms: number;
  readonly byFate: Record<string, number>;
}

function load(jobs: number): Loaded {
  const m = newMachine();
  const log = new Log();
  const r = rng(7);
  const byFate: Record<string, number> = {};
  // Submissions in time order, evenly spread over spanMs, with random gaps.
  const gapMs = spanMs / jobs;
  let at = epoch;
  let commands = 0;
  let genMs = 0;
  const t0 = now();
  let g0 = now();
  for (const cmds of pipelined(jobs, pipelineLag, loadBatch, () => {
    at += 1 + Math.floor(r() * 2 * gapMs);
    const f = fate(r, epoch + spanMs - at);
    byFate[f] = (byFate[f] ?? 0) + 1;
    return lifecycle(r, uuid(r), at, f);
  })) {
    const entries = log.entries(cmds);
    genMs += now() - g0;
    let rejected = 0;
    m.batch(() => {
      for (const e of entries) if (m.apply(e)?.type === 'rejected') rejected++;
    });
    if (rejected > 0) throw new Error(`load: ${rejected} commands rejected`);
    commands += entries.length;
    if (commands % 500_000 < loadBatch) progress(`loaded ${commands} commands in ${Math.round(now() - t0)} ms`);
    g0 = now();
  }
  // Generating the commands is the bench's own work, not the machine's.
  return { m, log, commands, ms: now() - t0 - genMs, byFate };
}

type Shape = readonly ('status' | 'type' | 'priority' | 'worker' | 'range' | 'wide')[];

/** The filter combinations asked, with how often (the weights). */
const SHAPES: readonly (readonly [Shape, number])[] = [
  [[], 4],
  [['status'], 12],
  [['type'], 6],
  [['priority'], 4],
  [['worker'], 4],
  [['range'], 6],
  [['wide'], 3],
  [['status', 'type'], 10],
  [['status', 'priority'], 6],
  [['type', 'priority'], 5],
  [['status', 'range'], 8],
  [['type', 'range'], 4],
  [['status', 'worker'], 4],
  [['status', 'type', 'priority'], 6],
  [['status', 'type', 'range'], 5],
  [['status', 'type', 'priority', 'range'], 4],
  [['worker', 'range'], 3],
  [['priority', 'wide'], 3],
  [['status', 'type', 'wide'], 3],
];

const STATUSES: readonly (readonly [JobStatus, number])[] = [
  ['pending', 3],
  ['dispatched', 2],
  ['running', 3],
  ['failed', 2],
  ['completed', 3],
  ['dead', 2],
  ['cancelled', 1],
];

function filterFor(r: () => number, shape: Shape): ListFilter {
  const f: { -readonly [K in keyof ListFilter]: ListFilter[K] } = {};
  for (const s of shape) {
    switch (s) {
      case 'status':
        f.status = weighted(r, STATUSES);
        break;
      case 'type':
        // Uniform over types, so rare ones are asked as often as common ones.
        f.type = TYPES[(r() * TYPES.length) | 0]![0];
        break;
      case 'priority':
        f.priority = PRIORITIES[(r() * PRIORITIES.length) | 0]![0];
        break;
      case 'worker':
        f.worker = WORKERS[(r() * WORKERS.length) | 0]!;
        break;
      case 'range':
      case 'wide': {
        // range: an hour to a day; wide: a week to the whole month. Sometimes open-ended.
        const len = s === 'range' ? 3600_000 * (1 + r() * 23) : 24 * 3600_000 * (7 + r() * 23);
        const from = epoch + Math.floor(r() * Math.max(1, spanMs - len));
        const open = r();
        if (open > 0.15) f.createdFrom = from;
        if (open < 0.85) f.createdTo = Math.floor(from + len);
        break;
      }
    }
  }
  return f;
}

interface ShapeTimes {
  readonly ms: number[];
  rows: number;
}

function listBench(m: RegistryMachine): { all: number[]; byShape: Map<string, ShapeTimes>; pages: number } {
  const r = rng(42);
  const all: number[] = [];
  const byShape = new Map<string, ShapeTimes>();
  const time = (q: RegistryQuery, key: string): ListPage => {
    const t0 = now();
    const page = m.query(q) as ListPage;
    const ms = now() - t0;
    all.push(ms);
    let s = byShape.get(key);
    if (s === undefined) byShape.set(key, (s = { ms: [], rows: 0 }));
    s.ms.push(ms);
    s.rows += page.jobs.length;
    return page;
  };
  // Warm-up: one query of each shape and order (prepares every statement).
  for (const [shape] of SHAPES) for (const order of ['asc', 'desc'] as const) m.query({ q: 'list', filter: filterFor(r, shape), limit: pageSize, order });
  gc();
  for (let i = 0; i < listQueries; i++) {
    const shape = weighted(r, SHAPES);
    const order = r() < 0.75 ? 'desc' : 'asc';
    const key = `${shape.length === 0 ? 'none' : shape.join('+')}:${order}`;
    const filter = filterFor(r, shape);
    let page = time({ q: 'list', filter, limit: pageSize, order }, key);
    const follow = r() < 0.3 ? 1 + ((r() * 3) | 0) : 0;
    for (let p = 0; p < follow && page.next !== null; p++) page = time({ q: 'list', filter, limit: pageSize, order, cursor: page.next }, key);
  }
  return { all, byShape, pages: all.length };
}

// ---------------------------------------------------------------------------

const rates = singleNode();
progress(`apply on a fresh machine: ${rates.join(', ')} commands/s`);
const cluster = await clusterRun();
progress(`cluster: ${JSON.stringify(cluster)}`);

gc();
const rssBefore = process.memoryUsage().rss;
const loaded = load(listJobs);
gc();
const mem = process.memoryUsage();
progress(`loaded ${listJobs} jobs (${loaded.commands} commands) in ${Math.round(loaded.ms)} ms; rss ${Math.round(mem.rss / 2 ** 20)} MB; fates ${JSON.stringify(loaded.byFate)}`);

const list = listBench(loaded.m);
const sortedAll = [...list.all].sort((a, b) => a - b);
const shapes = [...list.byShape.entries()]
  .map(([shape, s]) => {
    const ms = [...s.ms].sort((a, b) => a - b);
    return { shape, n: ms.length, p50_ms: round(quantile(ms, 0.5), 3), p99_ms: round(quantile(ms, 0.99), 3), max_ms: round(ms[ms.length - 1]!, 3), rows_per_page: round(s.rows / ms.length, 1) };
  })
  .sort((a, b) => b.p99_ms - a.p99_ms);
for (const s of shapes) progress(`list ${s.shape}: n ${s.n}, p50 ${s.p50_ms} ms, p99 ${s.p99_ms} ms, max ${s.max_ms} ms, ${s.rows_per_page} rows/page`);

// Applying at 1M: the same lifecycles, now into big tables (deeper indexes).
const at1m = applyRate(loaded.m, lifecycleBatches(200, loaded.log, epoch + spanMs));
progress(`apply on the 1M-job machine: ${at1m} commands/s`);
loaded.m.close();

console.log(
  JSON.stringify({
    bench: 'registry',
    apply_per_s: quantile([...rates].sort((a, b) => a - b), 0.5),
    cluster_jobs_per_s: cluster.cluster_jobs_per_s,
    list_p99_ms: round(quantile(sortedAll, 0.99), 3),
    list_p50_ms: round(quantile(sortedAll, 0.5), 3),
    list_max_ms: round(sortedAll[sortedAll.length - 1]!, 3),
    apply_runs: rates,
    apply_batch: applyBatch,
    apply_per_s_at_1m: at1m,
    list_jobs: listJobs,
    list_pages: list.pages,
    list_page_size: pageSize,
    list_slowest: shapes.slice(0, 5).map((s) => ({ shape: s.shape, p99_ms: s.p99_ms, max_ms: s.max_ms })),
    load_commands: loaded.commands,
    load_s: round(loaded.ms / 1000, 1),
    load_commands_per_s: Math.round((loaded.commands / loaded.ms) * 1000),
    rss_mb: Math.round(mem.rss / 2 ** 20),
    rss_delta_mb: Math.round((mem.rss - rssBefore) / 2 ** 20),
    heap_mb: Math.round(mem.heapUsed / 2 ** 20),
    tables_in: fileDir === null ? 'memory' : 'file',
    cluster_commands_per_s: cluster.cluster_commands_per_s,
    cluster_batch_p50_ms: cluster.cluster_batch_p50_ms,
    cluster_batch_p99_ms: cluster.cluster_batch_p99_ms,
    cluster_failed_commands: cluster.cluster_failed_commands,
    cluster_failures: cluster.cluster_failures,
    cluster_jobs_per_batch: cluster.cluster_jobs_per_batch,
    cluster_inflight_batches: cluster.cluster_inflight_batches,
    cluster_cpu_us_per_job: cluster.cluster_cpu_us_per_job,
    cluster_faults_per_job: cluster.cluster_faults_per_job,
    cluster_heap_mb: cluster.cluster_heap_mb,
    cluster_rss_mb: cluster.cluster_rss_mb,
  }),
);
process.exit(0);
