// One member of the raft benchmark's cluster, run as its own process: a
// distributed node on loopback (ws) with a raft_fsm over SQLite in the given
// directory and a small counting state machine. Usage:
//   node --import tsx raft-node.ts '{"name":"r1","port":4101,"members":[…],"dir":"/tmp/…","cookie":"…","tickMs":20}'
// Prints {"ready": <node name>, "pid": <os pid>} once the fsm runs; exits when stdin closes.
// It also runs `raft_load`, a load generator the driver can call to propose from
// this node to its own fsm (local calls, as the job registry on the leader's
// node will), so the benchmark can tell Raft's cost from the client hop's.
import { RAFT_FSM, type ProposeReply, type StateMachine, fsmAt, raftFsm } from '../../actors/raft/fsm.js';
import { openStorage } from '../../actors/raft/open-storage.js';
import type { LogEntry, NodeId } from '../../actors/raft/types.js';
import { type ServerBehaviour, noreply, ok, startServer } from '../../runtime/index.js';
import { startBenchNode } from './bench-node.js';



/** Counts applied commands; a proposal's result is the count after it (so the driver sees a real result). */
class Counter implements StateMachine<number, null, number> {
  private n = 0;
  apply(entry: LogEntry): number {
    if (entry.kind === 'command') this.n++;
    return this.n;
  }
  query(): number {
    return this.n;
  }
  snapshot(): string {
    return String(this.n);
  }
  restore(data: string): void {
    this.n = Number(data);
  }
}

const { args, log, dist } = await startBenchNode('RAFT_NODE_LOG');

const started = await startServer(
  dist.rt,
  raftFsm,
  {
    voters: args.members as NodeId[],
    tickMs: args.tickMs,
    // Compaction on, as a node would run: snapshot every 50k applied entries.
    config: { snapshotThresholdEntries: 50_000 },
    storage: () => openStorage({ dir: args.dir, nodeId: args.name }),
    stateMachine: () => new Counter(),
    log,
  },
  { name: RAFT_FSM },
);
if (started.type !== 'ok') throw new Error(`raft_fsm did not start: ${JSON.stringify(started)}`);

// ---- raft_load: proposals from this node to its own fsm ----

export type LoadRequest = { readonly type: 'throughput'; readonly inflight: number; readonly ms: number } | { readonly type: 'paced'; readonly rate: number; readonly ms: number };
/** `deposed`: this node stopped leading during the run (the driver finds the leader again and repeats it). */
export type LoadResult = { readonly acked: number; readonly failed: number; readonly deposed: boolean; readonly elapsedMs: number; readonly latenciesMs: readonly number[] };

const now = (): number => performance.now();
const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));
const self = fsmAt(dist.node);
let seq = 0;
/** A command about the size of a job submission. */
const command = (n: number): unknown => ({ type: 'submit', id: `job-${args.name}-${n}`, jobType: 'email', priority: 'high', payload: { to: 'user@example.com', n } });

async function runLoad(req: LoadRequest): Promise<LoadResult> {
  let acked = 0;
  let failed = 0;
  let deposed = false;
  const latenciesMs: number[] = [];
  const propose = async (): Promise<void> => {
    const s = now();
    // A call that fails (timeout, the fsm gone) is an unacknowledged proposal, like a refusal.
    const r = await dist.rt.call<ProposeReply>(self, { type: 'propose', command: command(seq++) }, { timeout: 30_000 }).catch(() => null);
    if (r?.type === 'ok') {
      acked++;
      if (req.type === 'paced') latenciesMs.push(now() - s);
    } else {
      failed++;
      if (r?.type === 'not_leader') deposed = true;
    }
  };
  const t0 = now();
  if (req.type === 'throughput') {
    const stopAt = t0 + req.ms;
    await Promise.all(
      Array.from({ length: req.inflight }, async () => {
        while (now() < stopAt && !deposed) await propose();
      }),
    );
  } else {
    const calls: Promise<void>[] = [];
    let issued = 0;
    while (now() - t0 < req.ms && !deposed) {
      const due = Math.floor(((now() - t0) * req.rate) / 1000);
      for (; issued < due; issued++) calls.push(propose());
      await sleep(1);
    }
    await Promise.all(calls);
  }
  return { acked, failed, deposed, elapsedMs: now() - t0, latenciesMs };
}

const load: ServerBehaviour<null, void, LoadRequest, LoadResult> = {
  name: 'raft_load',
  init: () => ok(null),
  handleCall: (req, from, s, ctx) => {
    void runLoad(req).then((r) => ctx.reply(from, r));
    return noreply(s);
  },
};
await startServer(dist.rt, load, undefined, { name: 'raft_load' });

console.log(JSON.stringify({ ready: dist.node, pid: process.pid }));
process.stdin.on('end', () => process.exit(0));
process.stdin.resume();
