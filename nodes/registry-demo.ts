// The second half of `npm start` until the orchestrator node exists: three
// orchestrator nodes in this one process, linked by the in-memory transport
// (no port, no server), each with a raft_fsm over SQLite in a temp directory and
// a job_registry. It submits jobs through a follower, walks them through their
// lifecycles as a router and workers would (one fails and is retried, one is
// cancelled, a stale worker report is fenced out), then prints what every node
// holds and the event feed, and shuts down.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { RegistryHandle } from '../actors/job_registry/handle.js';
import { type BatchReply, type CommandReply, JOB_REGISTRY, type QueryReply, jobRegistry, registryAt } from '../actors/job_registry/server.js';
import type { EventsPage, Job, ListPage, RegistryStats } from '../actors/job_registry/types.js';
import { type FsmView, RAFT_FSM, raftFsm } from '../actors/raft/fsm.js';
import { openStorage } from '../actors/raft/open-storage.js';
import type { NodeId } from '../actors/raft/types.js';
import { MemoryNetwork } from '../runtime/dist/memory.js';
import { Distribution } from '../runtime/dist/node.js';
import { type Logger, type Runtime, keepAlive, realEnv, startServer, stopServer } from '../runtime/index.js';

const COOKIE = 'registry-demo-cookie';
const NAMES = ['orch1', 'orch2', 'orch3'] as const;

interface Member {
  readonly dist: Distribution;
  readonly handle: RegistryHandle;
}

const pause = (rt: Runtime, ms: number): Promise<void> => new Promise((resolve) => rt.env.timers.set(ms, resolve));

export async function runRegistryDemo(log: Logger): Promise<void> {
  const env = realEnv();
  const net = new MemoryNetwork(env);
  const dir = mkdtempSync(join(tmpdir(), 'dq-demo-'));
  const nodeNames = NAMES.map((n) => `${n}@${n}:4369`);
  const members: Member[] = [];
  // The in-memory transport runs on runtime timers only, which never hold the process open.
  const release = keepAlive();
  try {
    for (const [i, name] of NAMES.entries()) {
      const dist = await Distribution.start({ node: nodeNames[i]!, cookie: COOKIE }, { transport: net.transport(name), env, log });
      // The registry's tables in a scratch file beside the Raft log, as a long-running member keeps them.
      members.push({ dist, handle: new RegistryHandle({ store: { file: join(dir, `${name}-registry.db`) } }) });
    }
    for (const m of members) for (const other of nodeNames) if (other !== m.dist.node) await m.dist.connect(other);
    for (const [i, m] of members.entries()) {
      const fsm = await startServer(
        m.dist.rt,
        raftFsm,
        { voters: nodeNames as NodeId[], storage: () => openStorage({ dir, nodeId: NAMES[i]! }), stateMachine: m.handle.stateMachine, log },
        { name: RAFT_FSM },
      );
      if (fsm.type !== 'ok') throw new Error(`raft_fsm on ${NAMES[i]}: ${JSON.stringify(fsm)}`);
      const reg = await startServer(m.dist.rt, jobRegistry, { handle: m.handle, log }, { name: JOB_REGISTRY });
      if (reg.type !== 'ok') throw new Error(`job_registry on ${NAMES[i]}: ${JSON.stringify(reg)}`);
    }
    const rt0 = members[0]!.dist.rt;
    let leader = '';
    while (leader === '') {
      await pause(rt0, 50);
      const view = rt0.processInfo(RAFT_FSM)?.info as FsmView | undefined;
      if (view?.leader != null) leader = view.leader;
    }
    const follower = members.find((m) => m.dist.node !== leader)!;
    const rt = follower.dist.rt;
    const ask = <R>(request: unknown): Promise<R> => rt.call<R>(registryAt(follower.dist.node), request, { timeout: 10_000 });
    console.log(`\nDistriQueue job registry demo — 3 orchestrator nodes, leader ${leader}; asking ${follower.dist.node}\n`);

    const submit = await ask<BatchReply>({
      type: 'batch',
      commands: [
        { c: 'submit', id: 'report-1', type: 'report', priority: 10, payload: { month: '2026-10' } },
        { c: 'submit', id: 'email-1', type: 'email', priority: 5, payload: { to: 'ada@example.com' }, idempotencyKey: 'signup-ada' },
        { c: 'submit', id: 'resize-1', type: 'resize', priority: 1, payload: { image: 'cat.png' }, maxRetries: 1 },
        { c: 'submit', id: 'email-2', type: 'email', priority: 5, payload: { to: 'ada@example.com' }, idempotencyKey: 'signup-ada' },
      ],
    });
    const show = (label: string, r: CommandReply): void => {
      const text = r.type === 'error' ? `error ${r.error.code}` : r.result.type === 'rejected' ? `rejected: ${r.result.reason.code}` : JSON.stringify(r.result);
      console.log(`  ${label.padEnd(44)} → ${text}`);
    };
    if (submit.type !== 'ok') throw new Error(JSON.stringify(submit));
    show('submit report-1', submit.replies[0]!);
    show('submit email-1 (key signup-ada)', submit.replies[1]!);
    show('submit resize-1 (maxRetries 1)', submit.replies[2]!);
    show('submit email-2 (same key: the same job)', submit.replies[3]!);

    const steps: [string, object][] = [
      ['dispatch report-1', { c: 'dispatch', id: 'report-1', attempt: 1 }],
      ['worker w1 starts report-1', { c: 'start', id: 'report-1', attempt: 1, worker: 'w1' }],
      ['w1 completes report-1', { c: 'complete', id: 'report-1', attempt: 1, worker: 'w1', result: { rows: 42 } }],
      ['w1 reports report-1 completed again', { c: 'complete', id: 'report-1', attempt: 1, worker: 'w1', result: { rows: 42 } }],
      ['dispatch resize-1', { c: 'dispatch', id: 'resize-1', attempt: 1 }],
      ['dispatch resize-1 again (first answer lost)', { c: 'dispatch', id: 'resize-1', attempt: 1 }],
      ['re-dispatch resize-1 (dispatch timeout)', { c: 'redispatch', id: 'resize-1', attempt: 1 }],
      ['late worker w2 starts attempt 1', { c: 'start', id: 'resize-1', attempt: 1, worker: 'w2' }],
      ['worker w3 starts attempt 2', { c: 'start', id: 'resize-1', attempt: 2, worker: 'w3' }],
      ['w3 fails resize-1', { c: 'fail', id: 'resize-1', attempt: 2, worker: 'w3', error: 'out of memory' }],
      ['router schedules a retry', { c: 'retry', id: 'resize-1', attempt: 2, runAt: 0 }],
      ['dispatch, w3 starts, fails again', { c: 'dispatch', id: 'resize-1', attempt: 3 }],
      ['', { c: 'start', id: 'resize-1', attempt: 3, worker: 'w3' }],
      ['', { c: 'fail', id: 'resize-1', attempt: 3, worker: 'w3', error: 'out of memory' }],
      ['router retries past maxRetries', { c: 'retry', id: 'resize-1', attempt: 3, runAt: 0 }],
      ['router dead-letters resize-1', { c: 'dead', id: 'resize-1', attempt: 3, reason: 'retries exhausted' }],
      ['client cancels email-1', { c: 'cancel', id: 'email-1' }],
      ['late worker report: email-1 running', { c: 'start', id: 'email-1', attempt: 1, worker: 'w1' }],
    ];
    for (const [label, command] of steps) {
      const r = await ask<CommandReply>({ type: 'command', command });
      if (label !== '') show(label, r);
    }

    const last = await ask<QueryReply>({ type: 'read', query: { q: 'stats', now: env.wall.epochMs() } });
    if (last.type !== 'ok') throw new Error(JSON.stringify(last));
    // Every node applies the same entries: wait until each has applied the last one, then read locally.
    while (!members.every((m) => (m.handle.machine()?.appliedIndex ?? 0) >= last.index)) await pause(rt, 20);
    console.log('\njobs, as each node holds them (local reads):');
    for (const m of members) {
      const page = m.handle.machine()!.query({ q: 'list', order: 'asc' }) as ListPage;
      console.log(`  ${m.dist.node.padEnd(18)} ${page.jobs.map((j: Job) => `${j.id}:${j.status}#${j.attempt}`).join('  ')}`);
    }
    const feed = follower.handle.machine()!.query({ q: 'events', after: 0 }) as EventsPage;
    if (feed.type === 'events') {
      console.log(`\nevent feed (seq.n kind job attempt), ${feed.events.length} events:`);
      console.log(`  ${feed.events.map((e) => `${e.seq}.${e.n} ${e.kind} ${e.jobId ?? ''}#${e.attempt ?? ''}`).join('\n  ')}`);
    }
    const stats = last.result as RegistryStats;
    console.log(`\nstatistics: ${JSON.stringify({ total: stats.total, byStatus: stats.byStatus, byPriority: stats.byPriority })}`);
  } finally {
    for (const m of members) {
      await stopServer(m.dist.rt, JOB_REGISTRY, 'shutdown').catch(() => {});
      await stopServer(m.dist.rt, RAFT_FSM, 'shutdown').catch(() => {});
    }
    for (const m of members) await m.dist.stop();
    for (const m of members) m.handle.close();
    rmSync(dir, { recursive: true, force: true });
    release();
  }
  console.log('\ncluster stopped; state directory removed');
}
