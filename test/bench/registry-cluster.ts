// The cluster half of the registry benchmark: three member processes
// (registry-node.ts) on loopback, ws + SQLite (WAL, synchronous=FULL). This
// process joins as a hidden node, as a gateway would, and sends `batch`
// requests to the leader's job_registry: each batch carries whole lifecycles
// (submit, dispatch, start, complete for `jobsPerBatch` jobs, in that order,
// which the log keeps), with `inflightBatches` outstanding at all times.
// A lifecycle counts once its `complete` is acknowledged (committed on a
// majority and applied on the leader). First `warmupJobs` lifecycles run the
// same way untimed (the JIT compiles the hot paths, the heaps and SQLite's
// caches grow: one-time costs, not the steady state the figures are about).
// Each member reports its CPU time when the warm-up ends (on SIGUSR2) and when
// it exits, so the result also says what a lifecycle cost in CPU in each
// process (from process.cpuUsage(), not a profiler: with four
// processes on two cores, a profiler's wall-clock samples charge a process for
// time it spent descheduled), and what each member holds in memory at the end.
import { type ChildProcess, spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import type { BatchReply, CommandInput } from '../../actors/job_registry/server.js';
import { registryAt } from '../../actors/job_registry/server.js';
import { type FsmStatus, fsmAt } from '../../actors/raft/fsm.js';
import { realEnv } from '../../runtime/index.js';
import { Distribution } from '../../runtime/dist/node.js';
import { wsTransport } from '../../runtime/dist/ws.js';
import { freePort } from './ports.js';

const here = dirname(fileURLToPath(import.meta.url));
const now = (): number => performance.now();
const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

export interface ClusterBenchOptions {
  /** Full lifecycles to run (4 commands each). */
  readonly jobs: number;
  readonly jobsPerBatch: number;
  readonly inflightBatches: number;
  /** Lifecycles run before the timed ones, not counted (default 10,000). */
  readonly warmupJobs?: number;
}

export interface ClusterBenchResult {
  readonly cluster_jobs_per_s: number;
  readonly cluster_commands_per_s: number;
  readonly cluster_batch_p50_ms: number;
  readonly cluster_batch_p99_ms: number;
  readonly cluster_failed_commands: number;
  /** Failed commands by error or rejection code. */
  readonly cluster_failures: Readonly<Record<string, number>>;
  readonly cluster_jobs_per_batch: number;
  readonly cluster_inflight_batches: number;
  readonly cluster_warmup_jobs: number;
  /**
   * CPU µs per completed lifecycle, by process: the leader, the two followers and this client, over the timed
   * part (a member's from the end of the warm-up to its exit: its idle ticks after the run included, small).
   */
  readonly cluster_cpu_us_per_job: { readonly leader: number; readonly followers: readonly number[]; readonly client: number };
  /** Each member at the end (leader first): JS heap after a full GC, and resident set, in MB. */
  readonly cluster_heap_mb: readonly number[];
  /**
   * Minor page faults per completed lifecycle, by process. Each makes the kernel zero a fresh page, which on
   * this VM costs several µs: a process that returns memory to the OS and takes it back pays this repeatedly.
   */
  readonly cluster_faults_per_job: { readonly leader: number; readonly followers: readonly number[]; readonly client: number };
  readonly cluster_rss_mb: readonly number[];
}

/** What a member prints: `ready` once serving, `mark` on SIGUSR2, `exit` when its stdin closes (registry-node.ts). */
interface MemberReport {
  readonly ready?: string;
  readonly mark?: string;
  readonly exit?: string;
  readonly cpu_us: number;
  readonly faults: number;
  readonly heap_mb?: number;
  readonly rss_mb?: number;
}

const lifecycle = (ids: readonly string[]): CommandInput[] => [
  ...ids.map((id): CommandInput => ({ c: 'submit', id, type: 'email', priority: 10, payload: { to: 'user@example.com', template: 'welcome' } })),
  ...ids.map((id): CommandInput => ({ c: 'dispatch', id, attempt: 1 })),
  ...ids.map((id): CommandInput => ({ c: 'start', id, attempt: 1, worker: 'bench-worker-1' })),
  ...ids.map((id): CommandInput => ({ c: 'complete', id, attempt: 1, worker: 'bench-worker-1', result: { ok: true } })),
];

export async function runClusterBench(opts: ClusterBenchOptions): Promise<ClusterBenchResult> {
  const cookie = 'registry-bench-cookie';
  const dir = mkdtempSync(join(tmpdir(), 'dq-bench-registry-'));
  const children: ChildProcess[] = [];
  const ready: MemberReport[] = [];
  const exits: Promise<MemberReport | null>[] = [];
  const marks: ((r: MemberReport) => void)[] = [];
  const cleanup = (): void => {
    for (const c of children) if (c.exitCode === null) c.kill('SIGKILL');
    rmSync(dir, { recursive: true, force: true });
  };
  /** Close the members' stdin (they report and exit cleanly, writing any profile), then kill what is left. */
  const stopMembers = async (): Promise<(MemberReport | null)[]> => {
    for (const c of children) c.stdin?.end();
    const reports = await Promise.race([Promise.all(exits), sleep(3_000).then(() => exits.map(() => null))]);
    await Promise.race([Promise.all(children.map((c) => (c.exitCode === null ? new Promise((r) => c.once('exit', r)) : null))), sleep(3_000)]);
    return reports;
  };
  process.on('exit', cleanup);
  try {
    const ports = [await freePort(), await freePort(), await freePort()];
    const names = ports.map((p, i) => `g${i + 1}@127.0.0.1:${p}`);
    await Promise.all(
      ports.map(async (port, i) => {
        const args = { name: `g${i + 1}`, port, members: names, dir, cookie, tickMs: 20 };
        // REGISTRY_NODE_PROF=dir: each member writes a CPU profile there when it exits.
        const prof = process.env.REGISTRY_NODE_PROF;
        // --expose-gc: the member's exit report gives its heap after a full GC.
        // REGISTRY_NODE_FLAGS: extra node/V8 flags for the members (space-separated), for tuning experiments.
        const extra = (process.env.REGISTRY_NODE_FLAGS ?? '').split(' ').filter((f) => f !== '');
        const flags = ['--expose-gc', ...extra, ...(prof === undefined ? [] : ['--cpu-prof', `--cpu-prof-dir=${prof}`])];
        const child = spawn(process.execPath, [...flags, '--import', 'tsx', join(here, 'registry-node.ts'), JSON.stringify(args)], { stdio: ['pipe', 'pipe', 'inherit'] });
        children[i] = child;
        const lines = createInterface({ input: child.stdout! });
        exits[i] = new Promise((resolve) => {
          lines.on('line', (l) => {
            const r = JSON.parse(l) as MemberReport;
            if (r.exit !== undefined) resolve(r);
            if (r.mark !== undefined) marks[i]?.(r);
          });
          child.once('exit', () => resolve(null));
        });
        await new Promise<void>((resolve, reject) => {
          child.once('exit', (code) => reject(new Error(`member g${i + 1} exited with ${code}`)));
          lines.once('line', (l) => {
            ready[i] = JSON.parse(l) as MemberReport;
            resolve();
          });
        });
      }),
    );
    const dist = await Distribution.start({ node: 'regbench@127.0.0.1:0', cookie, hidden: true, listen: false }, { transport: wsTransport(), env: realEnv() });
    for (const n of names) if (!(await dist.connect(n))) throw new Error(`cannot reach ${n}`);
    const rt = dist.rt;
    const batch = (node: string, commands: readonly CommandInput[]): Promise<BatchReply> => rt.call<BatchReply>(registryAt(node), { type: 'batch', commands }, { timeout: 60_000 });

    // The leader: the member whose raft_fsm says so (after a first committed submit).
    let leader: string | null = null;
    const deadline = now() + 15_000;
    while (leader === null && now() < deadline) {
      const r = await batch(names[0]!, [{ c: 'submit', id: 'warmup', type: 'email', priority: 1 }]).catch(() => null);
      if (r?.type === 'ok' && r.replies[0]?.type === 'ok') {
        for (const n of names) {
          const st = await rt.call<FsmStatus>(fsmAt(n), { type: 'status' }, { timeout: 5_000 });
          if (st.role === 'leader') leader = n;
        }
      } else {
        await sleep(50);
      }
    }
    if (leader === null) throw new Error('no leader within 15 s');
    let failed = 0;
    const errors = new Map<string, number>();
    const fail = (why: string, n: number): void => {
      failed += n;
      errors.set(why, (errors.get(why) ?? 0) + n);
    };

    /** `count` lifecycles of jobs named `<prefix>-<n>`, `inflightBatches` batches outstanding; returns the completed ones. */
    const drive = async (count: number, prefix: string, latencies: number[]): Promise<number> => {
      let next = 0;
      let done = 0;
      await Promise.all(
        Array.from({ length: opts.inflightBatches }, async () => {
          while (next < count) {
            const ids: string[] = [];
            for (let k = 0; k < opts.jobsPerBatch && next < count; k++) ids.push(`${prefix}-${next++}`);
            const s = now();
            const r = await batch(leader, lifecycle(ids)).catch((e: unknown) => String(e));
            latencies.push(now() - s);
            if (typeof r === 'string' || r.type !== 'ok') {
              fail(typeof r === 'string' ? r : r.error.code, ids.length * 4);
              continue;
            }
            for (const x of r.replies) {
              if (x.type !== 'ok') fail(x.error.code, 1);
              else if (x.result.type !== 'ok') fail(x.result.type === 'rejected' ? x.result.reason.code : x.result.type, 1);
            }
            const completes = r.replies.slice(3 * ids.length);
            done += completes.filter((x) => x.type === 'ok' && x.result.type === 'ok' && x.result.status === 'completed').length;
          }
        }),
      );
      return done;
    };

    const warmupJobs = opts.warmupJobs ?? 10_000;
    await drive(warmupJobs, 'warm', []);
    // Each member's CPU and faults as the timed part begins.
    const marked = await Promise.all(
      children.map(
        (c, i) =>
          new Promise<MemberReport>((resolve) => {
            marks[i] = resolve;
            c.kill('SIGUSR2');
          }),
      ),
    );
    const latencies: number[] = [];
    const cpu0 = process.cpuUsage();
    const faults0 = process.resourceUsage().minorPageFault;
    const t0 = now();
    const doneJobs = await drive(opts.jobs, 'job', latencies);
    const elapsedS = (now() - t0) / 1000;
    const clientCpu = process.cpuUsage(cpu0);
    const clientFaults = process.resourceUsage().minorPageFault - faults0;
    latencies.sort((a, b) => a - b);
    const q = (p: number): number => latencies[Math.min(latencies.length - 1, Math.floor(p * latencies.length))] ?? NaN;
    await dist.stop();
    const reports = await stopMembers();
    const perJob = (us: number): number => Math.round((us / Math.max(1, doneJobs)) * 10) / 10;
    const leaderAt = names.indexOf(leader);
    const order = [leaderAt, ...names.map((_, i) => i).filter((i) => i !== leaderAt)];
    const memberCpu = (i: number): number => {
      const r = reports[i];
      return r === null || r === undefined ? NaN : perJob(r.cpu_us - marked[i]!.cpu_us);
    };
    const memberFaults = (i: number): number => {
      const r = reports[i];
      return r === null || r === undefined ? NaN : perJob(r.faults - marked[i]!.faults);
    };
    return {
      cluster_jobs_per_s: Math.round(doneJobs / elapsedS),
      cluster_commands_per_s: Math.round((doneJobs * 4) / elapsedS),
      cluster_batch_p50_ms: Number(q(0.5).toFixed(2)),
      cluster_batch_p99_ms: Number(q(0.99).toFixed(2)),
      cluster_failed_commands: failed,
      cluster_failures: Object.fromEntries(errors),
      cluster_jobs_per_batch: opts.jobsPerBatch,
      cluster_inflight_batches: opts.inflightBatches,
      cluster_warmup_jobs: warmupJobs,
      cluster_cpu_us_per_job: { leader: memberCpu(leaderAt), followers: order.slice(1).map(memberCpu), client: perJob(clientCpu.user + clientCpu.system) },
      cluster_faults_per_job: { leader: memberFaults(leaderAt), followers: order.slice(1).map(memberFaults), client: perJob(clientFaults) },
      cluster_heap_mb: order.map((i) => reports[i]?.heap_mb ?? NaN),
      cluster_rss_mb: order.map((i) => reports[i]?.rss_mb ?? NaN),
    };
  } finally {
    cleanup();
    process.off('exit', cleanup);
  }
}

// Run alone: `node --import tsx test/bench/registry-cluster.ts [jobs] [jobsPerBatch] [inflight]`.
if (process.argv[1] !== undefined && fileURLToPath(import.meta.url) === process.argv[1]) {
  const [jobs, per, inflight] = process.argv.slice(2).map(Number);
  console.log(JSON.stringify(await runClusterBench({ jobs: jobs || 25_000, jobsPerBatch: per || 250, inflightBatches: inflight || 8 })));
  process.exit(0);
}
