// Raft benchmark: three member processes (test/bench/raft-node.ts) on loopback,
// ws + SQLite (WAL, synchronous=FULL) in a temp directory. This process joins
// as a hidden node and drives two kinds of proposers:
//   - local: the leader node's `raft_load` process proposes to its own raft_fsm
//     (as the job registry on the leader will): Raft's commit path alone;
//   - remote: this process calls the leader's raft_fsm over ws, as a gateway
//     would: the same plus one client round trip per proposal.
// Fields:
//   commits_per_s            local proposals acknowledged per second (committed on a majority,
//                            applied on the leader), `inflight` outstanding at all times
//   commit_p50/p99_ms        local propose call → acknowledgement, paced at ~1,000 proposals/s
//   remote_*                 the same from this process
//   failover_ms              `kill -9` of the leader's process → first proposal acknowledged
//                            under a new leader (probing both survivors every ~2 ms)
// Prints one JSON line; kills every child at the end.
import { type ChildProcess, spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { type FsmStatus, type ProposeReply, fsmAt } from '../../actors/raft/fsm.js';
import type { LoadRequest, LoadResult } from './raft-node.js';
import { realEnv } from '../../runtime/index.js';
import { Distribution } from '../../runtime/dist/node.js';
import { wsTransport } from '../../runtime/dist/ws.js';
import { freePort } from './ports.js';

const here = dirname(fileURLToPath(import.meta.url));
const cookie = 'raft-bench-cookie';
const tickMs = 20;
const inflight = 4_000;
const throughputMs = 4_000;
const pacedRate = 1_000;
const pacedMs = 5_000;
const remoteMs = 3_000;

const now = (): number => performance.now();
const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));
const quantile = (sorted: readonly number[], q: number): number => sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))] ?? NaN;
const round = (x: number, digits = 2): number => Number(x.toFixed(digits));

/** A command about the size of a job submission. */
const command = (n: number): unknown => ({ type: 'submit', id: `job-${n}`, jobType: 'email', priority: 'high', payload: { to: 'user@example.com', n } });

interface Member {
  readonly node: string;
  readonly child: ChildProcess;
  alive: boolean;
}

const dir = mkdtempSync(join(tmpdir(), 'dq-bench-raft-'));
const members: Member[] = [];
const killAll = (): void => {
  for (const m of members) if (m.alive && m.child.exitCode === null) m.child.kill('SIGKILL');
};
process.on('exit', () => {
  killAll();
  rmSync(dir, { recursive: true, force: true });
});

async function startMembers(): Promise<void> {
  const ports = [await freePort(), await freePort(), await freePort()];
  const names = ports.map((p, i) => `r${i + 1}@127.0.0.1:${p}`);
  await Promise.all(
    ports.map(async (port, i) => {
      const args = { name: `r${i + 1}`, port, members: names, dir, cookie, tickMs };
      const child = spawn(process.execPath, ['--import', 'tsx', join(here, 'raft-node.ts'), JSON.stringify(args)], { stdio: ['pipe', 'pipe', 'inherit'] });
      const m: Member = { node: names[i]!, child, alive: true };
      members.push(m);
      child.once('exit', () => (m.alive = false));
      await new Promise<void>((resolve, reject) => {
        child.once('exit', (code) => reject(new Error(`member r${i + 1} exited with ${code}`)));
        createInterface({ input: child.stdout! }).once('line', () => resolve());
      });
    }),
  );
}

await startMembers();
const dist = await Distribution.start({ node: 'bench@127.0.0.1:0', cookie, hidden: true, listen: false }, { transport: wsTransport(), env: realEnv() });
for (const m of members) if (!(await dist.connect(m.node))) throw new Error(`cannot reach ${m.node}`);
const rt = dist.rt;

const propose = (node: string, n: number, timeout = 10_000): Promise<ProposeReply> => rt.call<ProposeReply>(fsmAt(node), { type: 'propose', command: command(n) }, { timeout });

/** The leader: the member that acknowledges a proposal. */
async function findLeader(exclude?: string): Promise<{ node: string; term: number }> {
  const deadline = now() + 10_000;
  let n = 0;
  while (now() < deadline) {
    for (const m of members) {
      if (!m.alive || m.node === exclude) continue;
      const r = await propose(m.node, n++, 500).catch(() => null);
      if (r?.type === 'ok') return { node: m.node, term: r.term };
    }
    await sleep(20);
  }
  throw new Error('no leader within 10 s');
}

/** `inflight` proposals from this process, outstanding for `ms`. */
async function throughput(leader: string, ms: number): Promise<LoadResult> {
  let acked = 0;
  let failed = 0;
  let deposed = false;
  let seq = 0;
  const t0 = now();
  const stopAt = t0 + ms;
  const worker = async (): Promise<void> => {
    while (now() < stopAt && !deposed) {
      const r = await propose(leader, seq++).catch(() => null);
      if (r?.type === 'ok') acked++;
      else {
        failed++;
        if (r?.type === 'not_leader') deposed = true;
      }
    }
  };
  await Promise.all(Array.from({ length: inflight }, worker));
  return { acked, failed, deposed, elapsedMs: now() - t0, latenciesMs: [] };
}

/** Paced proposals from this process at `rate`/s for `ms`, with the latencies (ms) of the acknowledged ones. */
async function paced(leader: string, rate: number, ms: number): Promise<LoadResult> {
  const latenciesMs: number[] = [];
  const calls: Promise<void>[] = [];
  let acked = 0;
  let failed = 0;
  let deposed = false;
  const t0 = now();
  let issued = 0;
  while (now() - t0 < ms && !deposed) {
    const due = Math.floor(((now() - t0) * rate) / 1000);
    while (issued < due) {
      const s = now();
      issued++;
      calls.push(
        propose(leader, issued)
          .catch(() => null)
          .then((r) => {
            if (r?.type === 'ok') {
              acked++;
              latenciesMs.push(now() - s);
            } else {
              failed++;
              if (r?.type === 'not_leader') deposed = true;
            }
          }),
      );
    }
    await sleep(1);
  }
  await Promise.all(calls);
  return { acked, failed, deposed, elapsedMs: now() - t0, latenciesMs };
}

/** kill -9 the leader; time until a proposal is acknowledged under a new leader. */
async function failover(leader: { node: string; term: number }): Promise<number> {
  const victim = members.find((m) => m.node === leader.node)!;
  const survivors = members.filter((m) => m !== victim);
  const t0 = now();
  victim.child.kill('SIGKILL');
  victim.alive = false;
  let n = 1e9;
  while (now() - t0 < 30_000) {
    const replies = await Promise.all(survivors.map((m) => propose(m.node, n++, 200).catch(() => null)));
    if (replies.some((r) => r?.type === 'ok' && r.term > leader.term)) return now() - t0;
    await sleep(2);
  }
  throw new Error('no new leader within 30 s');
}

/** Run the leader node's own load generator (raft-node.ts). */
const local = (node: string, req: LoadRequest): Promise<LoadResult> =>
  rt.call<LoadResult>({ name: 'raft_load', node }, req, { timeout: req.ms + 60_000 });
const perS = (r: LoadResult): number => Math.round((r.acked / r.elapsedMs) * 1000);
const sorted = (xs: readonly number[]): number[] => [...xs].sort((a, b) => a - b);

/**
 * Run one phase against the current leader. If leadership moved during it (an
 * overloaded leader can miss its followers' election timeout), the phase is
 * run again against the new leader, at most twice more, and the move reported.
 */
async function phase(name: string, run: (leader: string) => Promise<LoadResult>): Promise<{ result: LoadResult; leader: { node: string; term: number } }> {
  for (let attempt = 1; ; attempt++) {
    const leader = await findLeader();
    const result = await run(leader.node);
    if (!result.deposed) {
      if (result.failed > 0) console.error(`raft bench: ${name}: ${result.failed} proposals not acknowledged`);
      return { result, leader };
    }
    console.error(`raft bench: ${name}: leadership moved during the run (attempt ${attempt})`);
    if (attempt === 3) throw new Error(`${name}: leadership kept moving`);
  }
}

try {
  // Warm-up: JIT, connections, SQLite pages.
  await phase('warm-up', (at) => local(at, { type: 'paced', rate: pacedRate, ms: 1_000 }));
  await phase('warm-up', (at) => local(at, { type: 'throughput', inflight, ms: 500 }));
  await phase('warm-up', (at) => paced(at, pacedRate, 500));

  // Latency first, on a log far below the first compaction (every 50k entries),
  // so no paced window contains one; the throughput runs below do.
  const lat = sorted((await phase('local paced', (at) => local(at, { type: 'paced', rate: pacedRate, ms: pacedMs }))).result.latenciesMs);
  const remoteLat = sorted((await phase('remote paced', (at) => paced(at, pacedRate, remoteMs))).result.latenciesMs);
  let batches = { avg: 0, perWrite: 0 };
  const tput = await phase('local throughput', async (at) => {
    const before = await rt.call<FsmStatus>(fsmAt(at), { type: 'status' });
    const r = await local(at, { type: 'throughput', inflight, ms: throughputMs });
    const after = await rt.call<FsmStatus>(fsmAt(at), { type: 'status' });
    const delta = (k: keyof FsmStatus['counters']): number => after.counters[k] - before.counters[k];
    batches = { avg: delta('proposals') / Math.max(1, delta('batches')), perWrite: delta('entriesWritten') / Math.max(1, delta('storageWrites')) };
    return r;
  });
  const remoteTput = await phase('remote throughput', (at) => throughput(at, remoteMs));
  const failoverMs = await failover(remoteTput.leader);

  console.log(
    JSON.stringify({
      bench: 'raft',
      commits_per_s: perS(tput.result),
      commit_p50_ms: round(quantile(lat, 0.5), 3),
      commit_p99_ms: round(quantile(lat, 0.99), 3),
      failover_ms: Math.round(failoverMs),
      remote_commits_per_s: perS(remoteTput.result),
      remote_commit_p50_ms: round(quantile(remoteLat, 0.5), 3),
      remote_commit_p99_ms: round(quantile(remoteLat, 0.99), 3),
      inflight,
      paced_per_s: pacedRate,
      // Group commit in the local throughput run: proposals per `propose` input, entries per leader fsync.
      avg_batch: round(batches.avg, 1),
      entries_per_write: round(batches.perWrite, 1),
    }),
  );
} finally {
  await dist.stop();
  killAll();
}
process.exit(0);
