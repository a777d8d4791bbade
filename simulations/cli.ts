// The simulator's command line (`npm run sim -- ...`):
//
//   --seed <s>                 run the schedule derived from seed s and check it (replays exactly)
//   --schedule <json|file>     run a given schedule (e.g. a shrunk one printed by a failure)
//   --history <file>           also write the run's client history (JSON lines, Jepsen style)
//   --trace <file>             also write the run's trace, one line per event
//   --shrink                   if the run fails, shrink its schedule with fast-check and print the smallest
//   --print-schedule           print the schedule (JSON) and exit without running it
//   --runs <n> [--seed <s>]    a campaign of n runs derived from s, on --workers threads (default: all cores)
//   --workload <kv|registry>   what the cluster replicates (default kv: the key-value register; registry: the
//                              job registry with clients, a router, workers and feed readers); with --seed or --runs
//   --unsafe <switch>          turn on an unsafe switch: the Raft core's (grantVoteWithoutLogCheck,
//                              ackBeforePersist) or the job registry's (skipAttemptCheck)
//
// A single run prints one JSON line and exits 0 when every checker passes, 127
// when a core threw, 128 on a liveness failure and 129 on any other
// violation (as TigerBeetle's VOPR does). A campaign prints one JSON line
// {"sim":"cluster","runs",...} and exits 1 if any run failed.
import { randomInt } from 'node:crypto';
import { readFileSync, writeFileSync, existsSync } from 'node:fs';
import { availableParallelism } from 'node:os';
import { parseArgs } from 'node:util';
import { Worker } from 'node:worker_threads';
import { describeFailure, shrinkSchedule } from './arbitrary.js';
import { type CampaignRange, type CampaignTotals, addRun, campaignLine, emptyTotals, runRange } from './campaign.js';
import { type RunResult, runSchedule } from './cluster.js';
import { type Schedule, type UnsafeProfile, WORKLOADS, type WorkloadName, faultCounts, generateSchedule, normalizeSeed, parseSchedule, workloadOf } from './schedule.js';
import type { WorkerReply, WorkerRequest } from './worker.js';

const usage = `usage:
  npm run sim -- --seed <s> [--workload kv|registry] [--history <file>] [--trace <file>] [--shrink] [--unsafe <switch>]
  npm run sim -- --schedule <json|file> [--history <file>] [--trace <file>] [--shrink]
  npm run sim -- --runs <n> [--seed <s>] [--workload kv|registry] [--workers <k>] [--unsafe <switch>]
switches: grantVoteWithoutLogCheck, ackBeforePersist, followerReadsWithoutLeader (Raft), skipAttemptCheck (job registry)`;

/** Runs handed to a worker at a time: small enough to balance the two cores, large enough to keep messages few. */
const RUNS_PER_CHUNK = 10;

function fail(message: string): never {
  process.stderr.write(`${message}\n${usage}\n`);
  process.exit(2);
}

function wallMs(start: bigint): number {
  return Number(process.hrtime.bigint() - start) / 1e6;
}

function parseUnsafe(names: readonly string[]): UnsafeProfile | undefined {
  if (names.length === 0) return undefined;
  const out: { grantVoteWithoutLogCheck?: boolean; ackBeforePersist?: boolean; followerReadsWithoutLeader?: boolean; skipAttemptCheck?: boolean } = {};
  for (const n of names) {
    if (n === 'grantVoteWithoutLogCheck') out.grantVoteWithoutLogCheck = true;
    else if (n === 'ackBeforePersist') out.ackBeforePersist = true;
    else if (n === 'followerReadsWithoutLeader') out.followerReadsWithoutLeader = true;
    else if (n === 'skipAttemptCheck') out.skipAttemptCheck = true;
    else fail(`unknown unsafe switch ${JSON.stringify(n)}`);
  }
  return out;
}

function parseWorkload(name: string | undefined): WorkloadName {
  if (name === undefined) return 'kv';
  const w = WORKLOADS.find((x) => x === name);
  return w ?? fail(`unknown workload ${JSON.stringify(name)} (one of: ${WORKLOADS.join(', ')})`);
}

/** The flags that replay a seed-derived run: its workload and unsafe switches. */
function replayFlags(workload: WorkloadName, unsafe: UnsafeProfile | undefined): string {
  const switches = (['grantVoteWithoutLogCheck', 'ackBeforePersist', 'followerReadsWithoutLeader', 'skipAttemptCheck'] as const).filter((k) => unsafe?.[k] === true);
  return `${workload === 'kv' ? '' : ` --workload ${workload}`}${switches.map((k) => ` --unsafe ${k}`).join('')}`;
}

function exitCode(r: RunResult): number {
  if (r.violations.length === 0) return 0;
  if (r.violations.some((v) => v.checker === 'core-errors')) return 127;
  if (r.violations.every((v) => v.checker === 'liveness')) return 128;
  return 129;
}

function loadSchedule(arg: string): Schedule {
  const text = arg.trimStart().startsWith('{') ? arg : existsSync(arg) ? readFileSync(arg, 'utf8') : fail(`--schedule: no such file ${arg}`);
  const parsed = parseSchedule(text);
  if (!parsed.ok) fail(`--schedule: ${parsed.error}`);
  return parsed.schedule;
}

// ---------------------------------------------------------------------------
// One run

function single(schedule: Schedule, opts: { history?: string; trace?: string; shrink: boolean; printSchedule: boolean }): never {
  if (opts.printSchedule) {
    process.stdout.write(`${JSON.stringify(schedule)}\n`);
    process.exit(0);
  }
  const start = process.hrtime.bigint();
  const r = runSchedule(schedule, { digest: true, history: opts.history !== undefined, trace: opts.trace !== undefined });
  const ms = wallMs(start);
  if (opts.history !== undefined) writeFileSync(opts.history, r.history!.map((h) => JSON.stringify(h)).join('\n') + (r.history!.length > 0 ? '\n' : ''));
  if (opts.trace !== undefined) writeFileSync(opts.trace, r.trace!.join('\n') + '\n');
  const out: Record<string, unknown> = {
    sim: 'cluster',
    workload: workloadOf(schedule),
    seed: schedule.seed,
    nodes: schedule.nodes,
    ...(schedule.unsafe !== undefined ? { unsafe: schedule.unsafe } : {}),
    ok: r.violations.length === 0,
    violations: r.violations,
    notes: r.notes,
    virtual_s: Number((r.stats.virtualMs / 1000).toFixed(3)),
    wall_ms: Math.round(ms),
    faults: r.stats.faults,
    fault_kinds: faultCounts(schedule),
    digest: r.digest,
    stats: r.stats,
  };
  if (r.violations.length > 0) {
    const replay = `npm run sim -- --seed ${schedule.seed}${replayFlags(workloadOf(schedule), schedule.unsafe)}`;
    process.stderr.write(`seed ${schedule.seed} FAILED (${r.violations.length} violation(s)); replay: ${replay}\n`);
    for (const v of r.violations) process.stderr.write(`  [${v.checker}] t=${v.time}ms ${v.message}\n`);
    if (opts.shrink) {
      process.stderr.write('shrinking with fast-check...\n');
      const s = shrinkSchedule(schedule);
      if (s.schedule !== null && s.result !== null) {
        process.stderr.write(`${describeFailure(s.schedule, s.result)}\n`);
        out.shrunk_schedule = s.schedule;
        out.shrinks = s.shrinks;
      }
    }
  }
  process.stdout.write(`${JSON.stringify(out)}\n`);
  process.exit(exitCode(r));
}

// ---------------------------------------------------------------------------
// A campaign

class Progress {
  private lastDraw = 0n;
  private lastPct = 0;
  private readonly tty = process.stderr.isTTY === true;
  constructor(
    private readonly total: number,
    private readonly start: bigint,
  ) {}

  draw(t: CampaignTotals, force = false): void {
    const now = process.hrtime.bigint();
    const pct = Math.floor((t.runs / this.total) * 100);
    if (this.tty) {
      if (!force && now - this.lastDraw < 150_000_000n) return;
      this.lastDraw = now;
      const width = 30;
      const filled = Math.round((t.runs / this.total) * width);
      const ms = Number(now - this.start) / 1e6;
      const rate = ms > 0 ? Math.round((t.runs / ms) * 60_000) : 0;
      const eta = t.runs > 0 ? Math.round(((this.total - t.runs) * ms) / t.runs / 1000) : 0;
      process.stderr.write(`\r[${'#'.repeat(filled)}${'.'.repeat(width - filled)}] ${t.runs}/${this.total} runs · ${t.failedRuns} failing · ${rate} runs/min · eta ${eta}s  `);
    } else if (pct >= this.lastPct + 10 || (force && pct !== this.lastPct)) {
      this.lastPct = pct - (pct % 10);
      process.stderr.write(`${t.runs}/${this.total} runs (${pct}%), ${t.failedRuns} failing\n`);
    }
  }

  done(): void {
    if (this.tty) process.stderr.write('\n');
  }
}

function startWorker(): Worker {
  const here = import.meta.url;
  if (here.endsWith('.ts')) {
    // Under tsx the worker needs tsx's loader before it can import TypeScript.
    const url = new URL('./worker.ts', here).href;
    const tsx = import.meta.resolve('tsx/esm/api');
    return new Worker(`import(${JSON.stringify(tsx)}).then((m) => { m.register(); return import(${JSON.stringify(url)}); });`, { eval: true });
  }
  return new Worker(new URL('./worker.js', here));
}

function reportFailure(
  r: { i: number; seed: number; violations: readonly { checker: string; time: number; message: string }[] },
  workload: WorkloadName,
  unsafe: UnsafeProfile | undefined,
  progress: Progress,
): void {
  const flags = replayFlags(workload, unsafe);
  process.stderr.write(`${process.stderr.isTTY === true ? '\r' : ''}run ${r.i} seed=${r.seed} FAILED: ${r.violations.map((v) => `[${v.checker}] ${v.message}`).join(' | ').slice(0, 400)}\n  replay: npm run sim -- --seed ${r.seed}${flags}   (add --shrink for a minimal schedule, --history/--trace to look inside)\n`);
  void progress;
}

async function campaign(runs: number, base: number, workers: number, unsafe: UnsafeProfile | undefined, workload: WorkloadName): Promise<never> {
  const start = process.hrtime.bigint();
  const totals = emptyTotals();
  const progress = new Progress(runs, start);
  process.stderr.write(`campaign: ${runs} ${workload} runs from seed ${base} on ${workers === 0 ? 'the main thread' : `${workers} worker thread(s)`}\n`);
  const onResult = (r: Parameters<typeof addRun>[1]): void => {
    addRun(totals, r);
    if (r.violations.length > 0) reportFailure(r, workload, unsafe, progress);
    progress.draw(totals);
  };
  if (workers === 0) {
    for (const r of runRange({ base, from: 0, to: runs, workload, ...(unsafe !== undefined ? { unsafe } : {}) })) onResult(r);
  } else {
    let next = 0;
    const nextRange = (): CampaignRange | null => {
      if (next >= runs) return null;
      const from = next;
      next = Math.min(runs, next + RUNS_PER_CHUNK);
      return { base, from, to: next, workload, ...(unsafe !== undefined ? { unsafe } : {}) };
    };
    await Promise.all(
      Array.from({ length: Math.min(workers, Math.ceil(runs / RUNS_PER_CHUNK)) }, async () => {
        const w = startWorker();
        await new Promise<void>((resolve, reject) => {
          const give = (): void => {
            const range = nextRange();
            if (range === null) {
              w.postMessage({ type: 'stop' } satisfies WorkerRequest);
              resolve();
              return;
            }
            w.postMessage({ type: 'range', range } satisfies WorkerRequest);
          };
          w.on('message', (m: WorkerReply) => {
            for (const r of m.results) onResult(r);
            if (m.done) give();
          });
          w.on('error', reject);
          give();
        });
        await w.terminate();
      }),
    );
  }
  progress.draw(totals, true);
  progress.done();
  process.stdout.write(`${JSON.stringify(campaignLine(totals, base, wallMs(start), workers, workload))}\n`);
  process.exit(totals.failedRuns > 0 ? 1 : 0);
}

// ---------------------------------------------------------------------------

async function main(): Promise<void> {
  let args;
  try {
    args = parseArgs({
      options: {
        seed: { type: 'string' },
        schedule: { type: 'string' },
        runs: { type: 'string' },
        workers: { type: 'string' },
        history: { type: 'string' },
        trace: { type: 'string' },
        unsafe: { type: 'string', multiple: true },
        workload: { type: 'string' },
        shrink: { type: 'boolean', default: false },
        'print-schedule': { type: 'boolean', default: false },
        help: { type: 'boolean', short: 'h', default: false },
      },
      strict: true,
      allowPositionals: false,
    }).values;
  } catch (e) {
    fail(e instanceof Error ? e.message : String(e));
  }
  if (args.help) {
    process.stdout.write(`${usage}\n`);
    process.exit(0);
  }
  const unsafe = parseUnsafe(args.unsafe ?? []);
  const workload = parseWorkload(args.workload);
  if (args.runs !== undefined) {
    const runs = Number(args.runs);
    if (!Number.isInteger(runs) || runs <= 0) fail('--runs must be a positive integer');
    if (args.schedule !== undefined || args.history !== undefined || args.trace !== undefined || args.shrink) fail('--runs does not take --schedule, --history, --trace or --shrink');
    const workers = args.workers === undefined ? availableParallelism() : Number(args.workers);
    if (!Number.isInteger(workers) || workers < 0) fail('--workers must be a non-negative integer');
    // No seed given: a fresh one from the OS, printed so the campaign can be repeated.
    const base = args.seed === undefined ? randomInt(0, 0xffffffff) : normalizeSeed(args.seed);
    await campaign(runs, base, workers, unsafe, workload);
  }
  const opts = {
    ...(args.history !== undefined ? { history: args.history } : {}),
    ...(args.trace !== undefined ? { trace: args.trace } : {}),
    shrink: args.shrink,
    printSchedule: args['print-schedule'],
  };
  if (args.schedule !== undefined) {
    if (args.seed !== undefined) fail('give --seed or --schedule, not both');
    if (args.workload !== undefined) fail('--schedule names its own workload');
    const s = loadSchedule(args.schedule);
    single(unsafe === undefined ? s : { ...s, unsafe: { ...s.unsafe, ...unsafe } }, opts);
  }
  if (args.seed !== undefined) single(generateSchedule(args.seed, unsafe, workload), opts);
  fail('nothing to do: give --seed, --schedule or --runs');
}

await main();
