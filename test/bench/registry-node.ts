// One member of the registry benchmark's cluster, run as its own process: a
// distributed node on loopback (ws) with a raft_fsm over SQLite in the given
// directory, applying to the job registry's machine, and the node's
// job_registry process. Usage:
//   node --import tsx registry-node.ts '{"name":"g1","port":4101,"members":[…],"dir":"/tmp/…","cookie":"…","tickMs":20}'
// Prints {"ready": <node name>, "pid": <os pid>, "cpu_us": <CPU so far>, "faults": <minor page faults so far>}
// once both run; on SIGUSR2 prints {"mark": <node name>, "cpu_us", "faults"} (the benchmark marks the end of its
// warm-up so); when stdin closes, prints {"exit": <node name>, "cpu_us", "faults", "heap_mb", "rss_mb"} (the heap
// after a full GC when run with --expose-gc) and exits.
import { join } from 'node:path';
import { RegistryHandle } from '../../actors/job_registry/handle.js';
import { JOB_REGISTRY, jobRegistry } from '../../actors/job_registry/server.js';
import { RAFT_FSM, raftFsm } from '../../actors/raft/fsm.js';
import { openStorage } from '../../actors/raft/open-storage.js';
import type { NodeId } from '../../actors/raft/types.js';
import { startServer } from '../../runtime/index.js';
import { startBenchNode } from './bench-node.js';


const { args, log, dist } = await startBenchNode('REGISTRY_NODE_LOG');

// REGISTRY_NODE_DB=memory: the registry's tables in memory instead of a scratch file in the member's directory.
const inMemory = process.env.REGISTRY_NODE_DB === 'memory';
const handle = new RegistryHandle(inMemory ? {} : { store: { file: join(args.dir, `${args.name}-registry.db`) } });
const fsm = await startServer(
  dist.rt,
  raftFsm,
  {
    voters: args.members as NodeId[],
    tickMs: args.tickMs,
    // No compaction during the run: a snapshot of the registry is a copy of its whole database.
    storage: () => openStorage({ dir: args.dir, nodeId: args.name }),
    stateMachine: handle.stateMachine,
    log,
  },
  { name: RAFT_FSM },
);
if (fsm.type !== 'ok') throw new Error(`raft_fsm did not start: ${JSON.stringify(fsm)}`);
const reg = await startServer(dist.rt, jobRegistry, { handle, log }, { name: JOB_REGISTRY });
if (reg.type !== 'ok') throw new Error(`job_registry did not start: ${JSON.stringify(reg)}`);

const cpuUs = (): number => {
  const c = process.cpuUsage();
  return c.user + c.system;
};
// Minor page faults: on this VM each costs several µs (the kernel zeroes a fresh page), so they are reported.
const faults = (): number => process.resourceUsage().minorPageFault;
console.log(JSON.stringify({ ready: dist.node, pid: process.pid, cpu_us: cpuUs(), faults: faults() }));
process.on('SIGUSR2', () => console.log(JSON.stringify({ mark: dist.node, cpu_us: cpuUs(), faults: faults() })));
process.stdin.on('end', () => {
  (globalThis as { gc?: () => void }).gc?.();
  const m = process.memoryUsage();
  process.stdout.write(`${JSON.stringify({ exit: dist.node, cpu_us: cpuUs(), faults: faults(), heap_mb: Math.round(m.heapUsed / 1e6), rss_mb: Math.round(m.rss / 1e6) })}\n`, () => process.exit(0));
});
process.stdin.resume();
