// job_registry on a 3-node cluster: the dist cluster harness (one virtual clock,
// the in-memory network), on each node a raft_fsm over MemoryStorage (its disk
// survives a crash) and a job_registry sharing its RegistryHandle. Time moves
// only through the harness.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it, onTestFinished } from 'vitest';
import { RegistryHandle } from '../../actors/job_registry/handle.js';
import {
  type BatchReply,
  type CommandReply,
  JOB_REGISTRY,
  type QueryReply,
  type RegistryStatus,
  type SubscriptionAck,
  type SubscriptionMessage,
  jobRegistry,
  registryAt,
  uuidFrom,
} from '../../actors/job_registry/server.js';
import type { EventsPage, Job, JobEvent, ListPage } from '../../actors/job_registry/types.js';
import { RAFT_FSM, type FsmView, raftFsm } from '../../actors/raft/fsm.js';
import { MemoryDisk, MemoryStorage } from '../../actors/raft/storage.js';
import type { NodeId } from '../../actors/raft/types.js';
import { type Ref, type Runtime, startServer } from '../../runtime/index.js';
import { seededRng } from '../../runtime/rng.js';
import { Cluster } from '../dist/cluster-harness.js';
import { agreedLeader } from '../raft/agreed-leader.js';

const NAMES = ['n1', 'n2', 'n3'] as const;
const quiet = { warn: () => {}, info: () => {} };

interface Member {
  readonly name: string;
  readonly disk: MemoryDisk;
  handle: RegistryHandle;
}

class RegistryCluster {
  readonly c: Cluster;
  readonly members = new Map<string, Member>();
  private creation = 100;

  constructor(
    seed: string,
    private readonly registryArgs: { retentionMs?: number; pruneEveryMs?: number; pruneBatch?: number; eventsPage?: number } = {},
    /** Keep each member's tables in a file in this directory (store.ts) instead of memory. */
    private readonly tablesDir: string | null = null,
  ) {
    this.c = new Cluster(seed);
  }

  private handle(name: string): RegistryHandle {
    return new RegistryHandle(this.tablesDir === null ? {} : { store: { file: join(this.tablesDir, `${name}-registry.db`) } });
  }

  async start(): Promise<void> {
    await this.c.addNodes(...NAMES);
    for (const a of NAMES) for (const b of NAMES) if (a < b) await this.c.connect(a, b);
    for (const n of NAMES) await this.startMember(n);
  }

  private voters(): NodeId[] {
    return NAMES.map((n) => this.c.nodeName(n) as NodeId);
  }

  async startMember(name: string): Promise<void> {
    const m: Member = this.members.get(name) ?? { name, disk: new MemoryDisk(), handle: this.handle(name) };
    // After a crash the old handle is dropped, not closed, as a dead process's would be.
    m.handle = this.handle(name);
    this.members.set(name, m);
    const rt = this.rt(name);
    const fsm = await this.c.settled(
      startServer(rt, raftFsm, { voters: this.voters(), tickMs: 20, storage: () => new MemoryStorage(m.disk), stateMachine: m.handle.stateMachine, log: quiet }, { name: RAFT_FSM }),
    );
    if (fsm.type !== 'ok') throw new Error(`raft_fsm on ${name}: ${JSON.stringify(fsm)}`);
    const reg = await this.c.settled(startServer(rt, jobRegistry, { handle: m.handle, log: quiet, ...this.registryArgs }, { name: JOB_REGISTRY }));
    if (reg.type !== 'ok') throw new Error(`job_registry on ${name}: ${JSON.stringify(reg)}`);
  }

  rt(name: string): Runtime {
    return this.c.rt(name);
  }

  view(name: string): FsmView | undefined {
    try {
      return this.rt(name).processInfo(RAFT_FSM)?.info as FsmView | undefined;
    } catch {
      return undefined;
    }
  }

  async leader(among: readonly string[] = NAMES): Promise<string> {
    let found = '';
    await this.c.until(() => {
      const id = agreedLeader(among.map((n) => this.view(n)));
      if (id === null) return false;
      found = among.find((n) => this.c.nodeName(n) === id)!;
      return true;
    }, 'a leader');
    return found;
  }

  /** Call node `at`'s job_registry from a process on node `from` (default: the same node). */
  call<R>(at: string, request: unknown, from = at): Promise<R> {
    return this.c.settled(this.rt(from).call<R>(registryAt(this.c.nodeName(at)), request, { timeout: 20_000 }));
  }

  submit(at: string, job: object): Promise<CommandReply> {
    return this.call(at, { type: 'submit', job });
  }

  command(at: string, command: object): Promise<CommandReply> {
    return this.call(at, { type: 'command', command });
  }

  local<T>(at: string, query: object): Promise<T> {
    return this.call<QueryReply>(at, { type: 'read', query, consistency: 'local' }).then((r) => {
      if (r.type !== 'ok') throw new Error(`local read on ${at}: ${JSON.stringify(r)}`);
      return r.result as T;
    });
  }

  /** Every job on `at`, oldest first (local read). */
  async jobs(at: string): Promise<Job[]> {
    const page = await this.local<ListPage>(at, { q: 'list', limit: 1000, order: 'asc' });
    return [...page.jobs];
  }

  async events(at: string): Promise<JobEvent[]> {
    const page = await this.local<EventsPage>(at, { q: 'events', after: 0, limit: 10_000 });
    if (page.type !== 'events') throw new Error('truncated');
    return [...page.events];
  }

  /** Wait until every member applied at least `index`. */
  async applied(index: number, among: readonly string[] = NAMES): Promise<void> {
    await this.c.until(() => among.every((n) => (this.members.get(n)?.handle.machine()?.appliedIndex ?? 0) >= index), `applied ${index}`);
  }

  async crash(name: string): Promise<void> {
    await this.c.crash(name);
  }

  async rejoin(name: string): Promise<void> {
    await this.c.restart(name, ++this.creation);
    for (const other of NAMES) if (other !== name && this.view(other) !== undefined) await this.c.connect(name, other);
    await this.startMember(name);
  }
}

const okResult = (r: CommandReply) => {
  if (r.type !== 'ok') throw new Error(`expected ok, got ${JSON.stringify(r)}`);
  return r;
};

let cluster: RegistryCluster | null = null;
afterEach(() => {
  for (const m of cluster?.members.values() ?? []) m.handle.close();
  cluster = null;
});

async function started(seed: string, args = {}, tablesDir: string | null = null): Promise<{ rc: RegistryCluster; leader: string; followers: string[] }> {
  const rc = new RegistryCluster(seed, args, tablesDir);
  cluster = rc;
  await rc.start();
  const leader = await rc.leader();
  return { rc, leader, followers: NAMES.filter((n) => n !== leader) };
}

describe('uuidFrom', () => {
  it('makes v7 UUIDs: the time first, so ids made later sort later; the rest from the seeded source', () => {
    const rng = seededRng(7);
    const at = Date.UTC(2026, 10, 22, 21, 0, 0);
    const ids = [0, 0, 1, 2, 1000, 86_400_000].map((dt) => uuidFrom(rng, at + dt));
    for (const id of ids) expect(id).toMatch(/^[0-9a-f]{8}-[0-9a-f]{4}-7[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/);
    expect(parseInt(ids[0]!.replace(/-/g, '').slice(0, 12), 16)).toBe(at);
    expect(ids[0]).not.toBe(ids[1]);
    expect(ids.slice(1)).toEqual([...ids.slice(1)].sort());
    expect(uuidFrom(seededRng(7), at)).toBe(ids[0]); // replayable
  });
});

describe('job_registry: proposing through any node', () => {
  it('a submit on a follower is forwarded to the leader, committed, and readable on every node; a linearizable read is served by the follower', async () => {
    const { rc, followers } = await started('fwd');
    const r = okResult(await rc.submit(followers[0]!, { type: 'calc', priority: 10, payload: { n: 1 } }));
    expect(r.result).toMatchObject({ type: 'ok', status: 'pending', attempt: 1, changed: true, created: true });
    const id = (r.result as { id: string }).id;
    expect(id).toMatch(/^[0-9a-f]{8}-[0-9a-f]{4}-7[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/);
    await rc.applied(r.index);
    for (const n of NAMES) {
      const job = await rc.local<Job | null>(n, { q: 'get', id });
      expect(job).toMatchObject({ id, type: 'calc', priority: 10, payload: { n: 1 }, status: 'pending' });
    }
    // A linearizable read from the other follower is served there (ReadIndex on a follower), not forwarded.
    const before = ((await rc.call<RegistryStatus>(followers[1]!, { type: 'status' })) as RegistryStatus).counters.forwardedOut;
    const lin = await rc.call<QueryReply>(followers[1]!, { type: 'read', query: { q: 'get', id } });
    expect(lin).toMatchObject({ type: 'ok', result: { id, status: 'pending' } });
    expect(((await rc.call<RegistryStatus>(followers[1]!, { type: 'status' })) as RegistryStatus).counters.forwardedOut).toBe(before);
    const st = (await rc.call<RegistryStatus>(followers[0]!, { type: 'status' })) as RegistryStatus;
    expect(st.counters.forwardedOut).toBeGreaterThan(0);
  });

  it('the same idempotency key yields one job, whichever node is asked and whatever the later body says', async () => {
    const { rc, leader, followers } = await started('idem');
    const a = okResult(await rc.submit(followers[0]!, { type: 'email', priority: 5, idempotencyKey: 'order-42' }));
    const b = okResult(await rc.submit(leader, { type: 'sms', priority: 1, idempotencyKey: 'order-42' }));
    const c = okResult(await rc.submit(followers[1]!, { id: 'explicit-id', type: 'email', priority: 5, idempotencyKey: 'order-42' }));
    expect(a.result).toMatchObject({ created: true });
    for (const r of [b, c]) expect(r.result).toMatchObject({ type: 'ok', id: (a.result as { id: string }).id, created: false, changed: false });
    await rc.applied(c.index);
    for (const n of NAMES) expect((await rc.jobs(n)).map((j) => j.type)).toEqual(['email']);
  });

  it('a batch runs a whole lifecycle in one entry, and a stale worker report is fenced out', async () => {
    const { rc, followers } = await started('batch');
    const id = 'job-1';
    const batch = await rc.call<BatchReply>(followers[0]!, {
      type: 'batch',
      commands: [
        { c: 'submit', id, type: 'calc', priority: 5 },
        { c: 'dispatch', id, attempt: 1 },
        { c: 'redispatch', id, attempt: 1 }, // after a dispatch timeout: attempt 2
        { c: 'start', id, attempt: 1, worker: 'w-old' }, // the lost attempt
        { c: 'start', id, attempt: 2, worker: 'w-new' },
        { c: 'complete', id, attempt: 2, worker: 'w-new', result: { sum: 6 } },
        { c: 'complete', id, attempt: 2, worker: 'w-new', result: { sum: 6 } }, // duplicate report
        { c: 'cancel', id },
      ],
    });
    if (batch.type !== 'ok') throw new Error(JSON.stringify(batch));
    const results = batch.replies.map((r) => (r.type === 'ok' ? r.result : r.error));
    expect(results).toEqual([
      { type: 'ok', id, status: 'pending', attempt: 1, changed: true, created: true },
      { type: 'ok', id, status: 'dispatched', attempt: 1, changed: true },
      { type: 'ok', id, status: 'dispatched', attempt: 2, changed: true },
      { type: 'rejected', reason: { code: 'stale_attempt', attempt: 1, current: 2 } },
      { type: 'ok', id, status: 'running', attempt: 2, changed: true },
      { type: 'ok', id, status: 'completed', attempt: 2, changed: true },
      { type: 'ok', id, status: 'completed', attempt: 2, changed: false },
      { type: 'rejected', reason: { code: 'illegal_transition', from: 'completed', command: 'cancel' } },
    ]);
    // The batch travelled as ONE log entry, applied in order.
    const indexes = new Set(batch.replies.map((r) => (r.type === 'ok' ? r.index : 0)));
    expect(indexes.size).toBe(1);
    const [index] = [...indexes] as [number];
    await rc.applied(index);
    // One event per change, numbered (log index, place in the entry), identical on every node.
    const feeds = await Promise.all(NAMES.map((n) => rc.events(n)));
    expect(feeds[0]!.map((e) => [e.seq, e.n, e.kind, e.attempt])).toEqual([
      [index, 0, 'submitted', 1],
      [index, 1, 'dispatched', 1],
      [index, 2, 'dispatched', 2],
      [index, 3, 'started', 2],
      [index, 4, 'completed', 2],
    ]);
    expect(feeds[1]).toEqual(feeds[0]);
    expect(feeds[2]).toEqual(feeds[0]);
    const job = await rc.local<Job>(followers[1]!, { q: 'get', id });
    expect(job).toMatchObject({ status: 'completed', attempt: 2, worker: 'w-new', result: { sum: 6 } });
  });

  it("a batch goes as one entry timed once by the node's clock; a time a client put in a command is dropped", async () => {
    const { rc, leader } = await started('batch-time');
    const batch = await rc.call<BatchReply>(leader, {
      type: 'batch',
      commands: [
        { c: 'submit', id: 't-1', type: 'calc', priority: 5, at: 1 },
        { c: 'dispatch', id: 't-1', attempt: 1, at: 2 },
      ],
    });
    if (batch.type !== 'ok' || batch.replies[0]!.type !== 'ok') throw new Error(JSON.stringify(batch));
    const index = batch.replies[0]!.index;
    await rc.applied(index);
    const job = await rc.local<Job>(leader, { q: 'get', id: 't-1' });
    expect(job.createdAt).toBeGreaterThan(1_000_000_000_000);
    expect(job.dispatchedAt).toBe(job.createdAt);
  });

  it('a malformed request or command is refused with the field named, and the registry keeps serving', async () => {
    const { rc, followers } = await started('bad');
    const n = followers[0]!;
    expect(await rc.call<CommandReply>(n, { type: 'nope' })).toMatchObject({ type: 'error', error: { code: 'bad_request' } });
    expect(await rc.submit(n, { type: 'calc', priority: 99 })).toMatchObject({ type: 'error', error: { code: 'bad_request', field: 'priority' } });
    expect(await rc.command(n, { c: 'start', id: 'x', attempt: 0, worker: 'w' })).toMatchObject({ type: 'error', error: { code: 'bad_request', field: 'attempt' } });
    const batch = await rc.call<BatchReply>(n, { type: 'batch', commands: [{ c: 'submit', type: 'ok', priority: 1 }, { c: 'submit', type: '', priority: 1 }] });
    expect(batch).toMatchObject({ type: 'ok', replies: [{ type: 'ok' }, { type: 'error', error: { code: 'bad_request', field: 'commands.1.type' } }] });
    expect(await rc.call<QueryReply>(n, { type: 'read', query: { q: 'list', cursor: 'garbage!' }, consistency: 'local' })).toMatchObject({
      type: 'error',
      error: { code: 'query_failed' },
    });
    expect(okResult(await rc.submit(n, { type: 'calc', priority: 1 })).result).toMatchObject({ created: true });
  });
});

describe('job_registry: failures', () => {
  it.each([
    { where: 'in memory', files: false },
    { where: 'in files, rebuilt over the crashed member\'s file', files: true },
  ])('acknowledged submits survive the leader crashing; proposals in the election are refused or in doubt, and a retry with the same id is safe (tables $where)', async ({ files }) => {
    const dir = files ? mkdtempSync(join(tmpdir(), 'dq-registry-server-')) : null;
    onTestFinished(() => {
      if (dir !== null) rmSync(dir, { recursive: true, force: true });
    });
    const { rc, leader, followers } = await started('crash', {}, dir);
    const acked: string[] = [];
    for (let i = 0; i < 5; i++) {
      const r = okResult(await rc.submit(followers[0]!, { id: `before-${i}`, type: 't', priority: 1 }));
      acked.push((r.result as { id: string }).id);
    }
    await rc.crash(leader);
    // Retry each submit (same id) until it is acknowledged: in doubt or refused is never "lost".
    for (let i = 0; i < 5; i++) {
      const id = `during-${i}`;
      for (let attempt = 0; ; attempt++) {
        const r = await rc.submit(followers[1]!, { id, type: 't', priority: 1 });
        if (r.type === 'ok') {
          acked.push(id);
          break;
        }
        expect(['no_leader', 'unknown_outcome', 'not_committed']).toContain(r.error.code);
        expect(attempt).toBeLessThan(50);
        await rc.c.tick(200);
      }
    }
    await rc.rejoin(leader);
    const newLeader = await rc.leader();
    const last = okResult(await rc.submit(newLeader, { id: 'after', type: 't', priority: 1 }));
    acked.push('after');
    await rc.applied(last.index);
    for (const n of NAMES) {
      const ids = (await rc.jobs(n)).map((j) => j.id);
      expect(new Set(ids)).toEqual(new Set(acked));
    }
  });
});

describe('job_registry: the event feed', () => {
  it('a subscriber gets every event once and in order, from the start and live, and can resume from any seq', async () => {
    const { rc, followers } = await started('feed', { eventsPage: 3 });
    const n = followers[0]!;
    for (let i = 0; i < 4; i++) okResult(await rc.submit(n, { id: `j${i}`, type: 't', priority: 1 }));
    const sub = rc.c.collector(n);
    const r = await rc.call<{ type: 'ok'; ref: string }>(n, { type: 'subscribe', after: 0, subscriber: sub.pid });
    expect(r.type).toBe('ok');
    for (let i = 0; i < 4; i++) okResult(await rc.command(followers[1]!, { c: 'dispatch', id: `j${i}`, attempt: 1 }));
    const last = okResult(await rc.command(n, { c: 'cancel', id: 'j0' }));
    await rc.applied(last.index);
    await rc.c.tick(50);
    const got = (sub.received as SubscriptionMessage[]).flatMap((m) => (m.type === 'job_events' ? m.events : []));
    const all = await rc.events(n);
    expect(got).toEqual(all);
    expect(all).toHaveLength(9);
    // Resume from the middle: exactly the rest.
    const mid = all[4]!.seq;
    const sub2 = rc.c.collector(followers[1]!);
    await rc.call(followers[1]!, { type: 'subscribe', after: mid, subscriber: sub2.pid });
    await rc.c.tick(50);
    const rest = (sub2.received as SubscriptionMessage[]).flatMap((m) => (m.type === 'job_events' ? m.events : []));
    expect(rest).toEqual(all.slice(5));
    // A subscriber that exits is forgotten.
    rc.rt(n).exit(sub.pid, 'kill');
    await rc.c.tick(50);
    expect(((await rc.call<RegistryStatus>(n, { type: 'status' })) as RegistryStatus).subscribers).toBe(0);
  });

  it('a subscriber that does not acknowledge gets at most `window` pages; each ack lets more flow, with no gap or repeat', async () => {
    const { rc, followers } = await started('flow', { eventsPage: 2 });
    const n = followers[0]!;
    let index = 0;
    for (let i = 0; i < 10; i++) index = okResult(await rc.submit(n, { id: `f${i}`, type: 't', priority: 1 })).index; // 10 entries, an event each
    await rc.applied(index);
    const sub = rc.c.collector(n);
    const r = await rc.call<{ type: 'ok'; ref: Ref }>(n, { type: 'subscribe', after: 0, subscriber: sub.pid, window: 2 });
    // The subscriber's credit: a plain message to the registry it subscribed at.
    const ack = (last: number): void => rc.rt(n).send(JOB_REGISTRY, { type: 'job_events_ack', ref: r.ref, last } satisfies SubscriptionAck);
    const pages = (): Extract<SubscriptionMessage, { type: 'job_events' }>[] => (sub.received as SubscriptionMessage[]).filter((m) => m.type === 'job_events');
    const waiting = async (): Promise<number> => ((await rc.call<RegistryStatus>(n, { type: 'status' })) as RegistryStatus).subscribersWaiting;
    await rc.c.tick(50);
    expect(pages()).toHaveLength(2);
    expect(await waiting()).toBe(1);
    // A stale or repeated ack gives no credit; acking the first page gives one more.
    ack(0);
    await rc.c.tick(50);
    expect(pages()).toHaveLength(2);
    ack(pages()[0]!.last);
    await rc.c.tick(50);
    expect(pages()).toHaveLength(3);
    // Acknowledging as pages come drains the rest.
    for (let k = 0; k < 10 && pages().length < 5; k++) {
      ack(pages()[pages().length - 1]!.last);
      await rc.c.tick(50);
    }
    expect(pages().flatMap((p) => p.events)).toEqual(await rc.events(n));
    expect(await waiting()).toBe(1); // out of credit, though level with the table
    ack(pages()[pages().length - 1]!.last);
    await rc.c.tick(50);
    expect(await waiting()).toBe(0);
    // A subscribe asking for more credit than the bound is refused, naming the field.
    expect(await rc.call(n, { type: 'subscribe', after: 0, subscriber: sub.pid, window: 65 })).toMatchObject({ type: 'error', error: { code: 'bad_request', field: 'window' } });
  });

  it('by default every node proposes prunes of what finished more than 30 days before its clock', async () => {
    const { rc } = await started('retention-default', { pruneEveryMs: 1_000 });
    await rc.c.tick(3_500);
    const prunes = rc.members
      .get('n1')!
      .disk.entries.filter((e) => e.kind === 'command' && e.data.includes('"prune"'))
      .map((e) => JSON.parse(e.data) as { c: string; before: number; at: number });
    // One a second from the leader (the others' proposals answer not_leader and are dropped).
    expect(prunes.length).toBeGreaterThanOrEqual(3);
    for (const p of prunes) expect(p.at - p.before).toBe(30 * 24 * 3600 * 1000);
  });

  it('retention removes old terminal jobs on every node by one committed prune; a subscriber behind it is told the feed was truncated', async () => {
    // Seconds stand in for days: the virtual clock drives Raft ticks too.
    const { rc, followers } = await started('retention', { retentionMs: 5_000, pruneEveryMs: 1_000 });
    const n = followers[0]!;
    okResult(await rc.submit(n, { id: 'old-done', type: 't', priority: 1 }));
    okResult(await rc.command(n, { c: 'cancel', id: 'old-done' }));
    okResult(await rc.submit(n, { id: 'old-live', type: 't', priority: 1 }));
    // Twice the retention passes; the prune timers fire every second.
    await rc.c.tick(10_000);
    const fresh = okResult(await rc.submit(n, { id: 'new', type: 't', priority: 1 }));
    await rc.applied(fresh.index);
    for (const name of NAMES) expect((await rc.jobs(name)).map((j) => j.id).sort()).toEqual(['new', 'old-live']);
    const sub = rc.c.collector(n);
    await rc.call(n, { type: 'subscribe', after: 0, subscriber: sub.pid });
    await rc.c.tick(10);
    expect(sub.received[0]).toMatchObject({ type: 'job_events_truncated' });
    const stats = await rc.local<{ byStatus: Record<string, number> }>(followers[1]!, { q: 'stats', now: 0 });
    expect(stats.byStatus).toMatchObject({ pending: 2, cancelled: 0 });
  });
});
