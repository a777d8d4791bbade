// raft_fsm on the runtime: three Distribution nodes in one process on the
// in-memory network and ONE virtual clock (test/dist/cluster-harness.ts), each
// with a raft_fsm over real storage in a temp directory (n1 in SQLite, the
// others in log files: both engines run under the same tests) and a small
// key-value state machine. Time moves only through the harness.
import { appendFileSync, existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import {
  type FsmStatus,
  type FsmView,
  type MembershipReply,
  type ProposeReply,
  RAFT_FSM,
  type ReadReply,
  type StateMachine,
  type TransferReply,
  coalesce,
  fsmAt,
  raftFsm,
} from '../../actors/raft/fsm.js';
import type { RaftEffect } from '../../actors/raft/core.js';
import type { RaftConfigInput } from '../../actors/raft/config.js';
import { LogFileStorage } from '../../actors/raft/logfile.js';
import { SqliteStorage } from '../../actors/raft/storage.js';
import type { RaftStorage } from '../../actors/raft/types.js';
import type { LogEntry, NodeId } from '../../actors/raft/types.js';
import { type Pid, type Runtime, startServer, stopServer } from '../../runtime/index.js';
import { Cluster } from '../dist/cluster-harness.js';
import { agreedLeader } from './agreed-leader.js';

// ---------------------------------------------------------------------------
// A key-value state machine

type KvCommand = { readonly op: 'set'; readonly key: string; readonly value: number };
type KvQuery = { readonly key: string };

class Kv implements StateMachine<number | null, KvQuery, number | null> {
  readonly map = new Map<string, number>();
  /** Indexes of the command entries applied, in order. */
  readonly applied: number[] = [];
  apply(entry: LogEntry): number | null {
    if (entry.kind !== 'command') return null;
    const c = entry.data as KvCommand;
    const prev = this.map.get(c.key) ?? null;
    this.map.set(c.key, c.value);
    this.applied.push(entry.index);
    return prev;
  }
  query(q: KvQuery): number | null {
    return this.map.get(q.key) ?? null;
  }
  snapshot(): string {
    return JSON.stringify([...this.map]);
  }
  restore(data: string): void {
    this.map.clear();
    for (const [k, v] of JSON.parse(data) as [string, number][]) this.map.set(k, v);
  }
}

const set = (key: string, value: number): KvCommand => ({ op: 'set', key, value });

// ---------------------------------------------------------------------------
// The harness: a Raft cluster on the dist cluster harness

const NAMES = ['n1', 'n2', 'n3'] as const;
const TICK_MS = 20;

interface Member {
  readonly name: string;
  readonly id: NodeId;
  kv: Kv;
  storage: RaftStorage | null;
  pid: Pid | null;
}

/** What a member's storage holds durably, as seen by the writes that returned. */
interface Durable {
  term: number;
  vote: string | null;
  lastIndex: number;
}

class RaftCluster {
  readonly c: Cluster;
  /** By member name: updated after each storage write returns. */
  readonly durable = new Map<string, Durable>();
  readonly dir = mkdtempSync(join(tmpdir(), 'dq-raft-fsm-'));
  readonly members = new Map<string, Member>();
  readonly warnings: { member: string; reason: string }[] = [];
  private creation = 100;

  constructor(
    seed: string,
    private readonly config: RaftConfigInput = {},
  ) {
    this.c = new Cluster(seed);
  }

  /** Start the nodes (mesh-connected) and a raft_fsm on each, with `voters` as the founding set. */
  async start(names: readonly string[], voters: readonly string[] = names): Promise<void> {
    for (const n of names) if (!this.hasNode(n)) await this.c.addNodes(n);
    for (const n of names) for (const m of names) if (n < m) await this.c.connect(n, m);
    const ids = voters.map((v) => this.c.nodeName(v) as NodeId);
    for (const n of names) await this.startFsm(n, ids);
  }

  private hasNode(n: string): boolean {
    try {
      this.c.node(n);
      return true;
    } catch {
      return false;
    }
  }

  async startFsm(name: string, voters: readonly NodeId[]): Promise<void> {
    const id = this.c.nodeName(name) as NodeId;
    const member: Member = this.members.get(name) ?? { name, id, kv: new Kv(), storage: null, pid: null };
    this.members.set(name, member);
    const r = await this.c.settled(
      startServer(
        this.rt(name),
        raftFsm,
        {
          voters,
          tickMs: TICK_MS,
          config: this.config,
          storage: () => this.openStorage(member),
          stateMachine: () => (member.kv = new Kv()),
          log: { warn: (o) => this.warnings.push({ member: name, reason: String((o as { reason?: unknown }).reason) }), info: () => {} },
        },
        { name: RAFT_FSM },
      ),
    );
    if (r.type !== 'ok') throw new Error(`raft_fsm on ${name} did not start: ${JSON.stringify(r)}`);
    member.pid = r.pid;
  }

  /** Where a member's log is: n1's in SQLite, the others' in log files (the default engine), so both run here. */
  logPath(name: string): string {
    return join(this.dir, name === 'n1' ? `${name}.sqlite` : `${name}.log`);
  }

  /** The member's storage, with every write that returns recorded in `durable`. */
  private openStorage(member: Member): RaftStorage {
    const path = this.logPath(member.name);
    const s: RaftStorage = path.endsWith('.sqlite') ? new SqliteStorage(path) : new LogFileStorage(path);
    const p = s.load();
    const d: Durable = {
      term: p.hardState.term,
      vote: p.hardState.vote,
      lastIndex: p.entries.at(-1)?.index ?? p.snapshot?.meta.index ?? 0,
    };
    this.durable.set(member.name, d);
    const append = s.append.bind(s);
    s.append = (entries, hs) => {
      append(entries, hs);
      if (entries.length > 0) d.lastIndex = entries.at(-1)!.index;
      if (hs !== undefined) Object.assign(d, { term: hs.term, vote: hs.vote });
    };
    const setHardState = s.setHardState.bind(s);
    s.setHardState = (hs) => {
      setHardState(hs);
      Object.assign(d, { term: hs.term, vote: hs.vote });
    };
    const install = s.installSnapshot.bind(s);
    s.installSnapshot = (snap) => {
      install(snap);
      d.lastIndex = snap.meta.index;
    };
    member.storage = s;
    return s;
  }

  rt(name: string): Runtime {
    return this.c.rt(name);
  }

  id(name: string): NodeId {
    return this.members.get(name)!.id;
  }

  nameOf(id: NodeId | null): string {
    for (const m of this.members.values()) if (m.id === id) return m.name;
    throw new Error(`no member ${String(id)}`);
  }

  /** The fsm's cheap view (ProcessInfo.info), or undefined if it is not running. */
  view(name: string): FsmView | undefined {
    if (!this.hasNode(name)) return undefined;
    return this.rt(name).processInfo(RAFT_FSM)?.info as FsmView | undefined;
  }

  /** Wait until exactly one of `among` leads and the others follow it in its term; returns its name. */
  async leader(among: readonly string[] = [...this.members.keys()]): Promise<string> {
    let found = '';
    await this.c.until(() => {
      const id = agreedLeader(among.map((n) => this.view(n)));
      if (id === null) return false;
      found = this.nameOf(id);
      return true;
    }, 'a leader');
    return found;
  }

  /** Call the fsm of `at` from node `from` (a local call when they are the same node). */
  call<R>(from: string, at: string, request: unknown, timeout = 5_000): Promise<R> {
    return this.c.settled(this.rt(from).call<R>(fsmAt(this.id(at)), request, { timeout }));
  }

  propose(at: string, command: KvCommand, from = at): Promise<ProposeReply<number | null>> {
    return this.call(from, at, { type: 'propose', command });
  }

  read(at: string, key: string, from = at): Promise<ReadReply<number | null>> {
    return this.call(from, at, { type: 'read', query: { key } });
  }

  status(at: string): Promise<FsmStatus> {
    return this.call(at, at, { type: 'status' });
  }

  /** The node's machine goes away: network, runtime and (as the OS would) its open database. */
  async crash(name: string): Promise<void> {
    await this.c.crash(name);
    const m = this.members.get(name)!;
    m.storage?.close();
    m.storage = null;
    m.pid = null;
  }

  async restartNode(name: string): Promise<void> {
    await this.c.restart(name, ++this.creation);
  }

  /** Restart a crashed member's node, reconnect it and start its fsm over its old files. */
  async rejoin(name: string, voters: readonly string[] = NAMES): Promise<void> {
    await this.restartNode(name);
    for (const other of this.members.keys()) if (other !== name && this.view(other) !== undefined) await this.c.connect(name, other);
    await this.startFsm(
      name,
      voters.map((v) => this.c.nodeName(v) as NodeId),
    );
  }

  /**
   * From now on, check every Raft message a member hands to the network, at the
   * moment it hands it over: a granted vote only once that vote is on disk, an
   * append acknowledgement only once the entries it acknowledges are.
   */
  watchAcknowledgements(): { readonly checked: { votes: number; acks: number }; readonly violations: string[] } {
    const out = { checked: { votes: 0, acks: 0 }, violations: [] as string[] };
    for (const name of this.members.keys()) {
      const dist = this.c.dist(name);
      const sendName = dist.sendName.bind(dist);
      dist.sendName = (to, msg) => {
        const env = msg as { type?: unknown; from?: string; to?: string; msg?: { type: string; term: number; granted?: boolean; success?: boolean; match?: number } };
        const m = env.msg;
        const d = this.durable.get(name)!;
        if (env.type === 'raft' && m !== undefined) {
          if (m.type === 'voteResp' && m.granted === true) {
            out.checked.votes++;
            if (d.term !== m.term || d.vote !== env.to) out.violations.push(`${name} granted ${env.to} term ${m.term}; on disk: term ${d.term}, vote ${d.vote}`);
          }
          if (m.type === 'appendResp' && m.success === true) {
            out.checked.acks++;
            if (d.lastIndex < m.match!) out.violations.push(`${name} acknowledged ${m.match}; on disk through ${d.lastIndex}`);
          }
        }
        sendName(to, msg);
      };
    }
    return out;
  }

  close(): void {
    for (const m of this.members.values()) m.storage?.close();
    rmSync(this.dir, { recursive: true, force: true });
  }
}

let cluster: RaftCluster | null = null;
afterEach(() => {
  cluster?.close();
  cluster = null;
});

async function threeNodes(seed: string, config: RaftConfigInput = {}): Promise<{ rc: RaftCluster; leader: string; followers: string[] }> {
  const rc = new RaftCluster(seed, config);
  cluster = rc;
  await rc.start(NAMES);
  const leader = await rc.leader();
  return { rc, leader, followers: NAMES.filter((n) => n !== leader) };
}

// ---------------------------------------------------------------------------

describe('raft_fsm: election, proposals and group commit', () => {
  it('elects one leader, acknowledges proposals after commit, batches them, and every member applies the same log', async () => {
    const { rc, leader, followers } = await threeNodes('fsm-elect');
    const first = await rc.propose(leader, set('a', 1));
    expect(first).toMatchObject({ type: 'ok', result: null });

    // 40 concurrent proposals: 20 local to the leader, 20 from a follower's node over the network.
    const rt = rc.rt(leader);
    const remote = rc.rt(followers[0]!);
    const calls: Promise<ProposeReply>[] = [];
    for (let i = 0; i < 20; i++) calls.push(rt.call<ProposeReply>(fsmAt(rc.id(leader)), { type: 'propose', command: set(`k${i}`, i) }));
    for (let i = 20; i < 40; i++) calls.push(remote.call<ProposeReply>(fsmAt(rc.id(leader)), { type: 'propose', command: set(`k${i}`, i) }));
    const before = (await rc.status(leader)).counters;
    const replies = await rc.c.settled(Promise.all(calls));
    const indexes = replies.map((r) => (r.type === 'ok' ? r.index : -1));
    expect(indexes.every((i) => i > 0)).toBe(true);
    expect(new Set(indexes).size).toBe(40);
    const after = (await rc.status(leader)).counters;
    // Group commit: 40 proposals in far fewer propose inputs and storage writes (here 2 and a handful).
    expect(after.proposals - before.proposals).toBe(40);
    expect(after.batches - before.batches).toBeLessThanOrEqual(4);
    expect(after.storageWrites - before.storageWrites).toBeLessThan(20);
    expect(after.largestBatch).toBeGreaterThanOrEqual(10);

    // Every member applies the same commands at the same indexes.
    const top = Math.max(...indexes);
    await rc.c.until(() => NAMES.every((n) => (rc.view(n)?.applied ?? 0) >= top), 'all applied');
    const logs = NAMES.map((n) => rc.members.get(n)!.kv.applied.join(','));
    expect(new Set(logs).size).toBe(1);
    for (const n of NAMES) expect(rc.members.get(n)!.kv.map.get('k39')).toBe(39);
  });

  it('a follower answers not_leader with the leader as hint (proposals and membership), and serves reads itself', async () => {
    const { rc, leader, followers } = await threeNodes('fsm-hint');
    const f = followers[0]!;
    expect(await rc.propose(f, set('x', 1))).toEqual({ type: 'not_leader', leader: rc.id(leader) });
    expect(await rc.call<MembershipReply>(f, f, { type: 'removeVoter', node: rc.id(leader) })).toEqual({ type: 'not_leader', leader: rc.id(leader) });
    // Following the hint works.
    expect(await rc.propose(leader, set('x', 1), f)).toMatchObject({ type: 'ok' });
    // A read at a follower (ReadIndex confirmed by the leader) sees the write acknowledged before it.
    for (const g of followers) expect(await rc.read(g, 'x')).toMatchObject({ type: 'ok', result: 1 });
  });

  it('rejects a malformed request with bad_request, and the fsm keeps running', async () => {
    const { rc, leader } = await threeNodes('fsm-badreq');
    expect(await rc.call(leader, leader, { type: 'propose' })).toMatchObject({ type: 'bad_request' });
    expect(await rc.call(leader, leader, { type: 'propose', command: undefined })).toMatchObject({ type: 'bad_request' });
    expect(await rc.call(leader, leader, 'hello')).toMatchObject({ type: 'bad_request' });
    expect(await rc.propose(leader, set('y', 2))).toMatchObject({ type: 'ok' });
  });
});

describe('raft_fsm: durability and failures', () => {
  it('a write acknowledged before all three nodes stop is back after they restart from the same SQLite files', async () => {
    const { rc, leader } = await threeNodes('fsm-durable');
    for (let i = 0; i < 5; i++) expect(await rc.propose(leader, set(`d${i}`, 100 + i))).toMatchObject({ type: 'ok' });
    const last = await rc.propose(leader, set('last', 7));
    expect(last.type).toBe('ok');

    for (const n of NAMES) await rc.crash(n);
    for (const n of NAMES) await rc.restartNode(n);
    await rc.start(NAMES);
    const newLeader = await rc.leader();
    const r = await rc.read(newLeader, 'last');
    expect(r).toMatchObject({ type: 'ok', result: 7 });
    // Every member replays its log into a fresh state machine.
    await rc.c.until(() => NAMES.every((n) => rc.members.get(n)!.kv.map.get('last') === 7), 'all replayed');
    for (const n of NAMES) expect(rc.members.get(n)!.kv.map.get('d4')).toBe(104);
    expect(await rc.propose(newLeader, set('after', 1))).toMatchObject({ type: 'ok' });
  });

  it("after the leader's node crashes, the other two elect a new leader that commits", async () => {
    const { rc, leader, followers } = await threeNodes('fsm-crash');
    expect(await rc.propose(leader, set('before', 1))).toMatchObject({ type: 'ok' });
    const oldTerm = rc.view(leader)!.term;
    const crashedAt = rc.c.env.clock.now();
    await rc.crash(leader);
    const next = await rc.leader(followers);
    expect(rc.view(next)!.term).toBeGreaterThan(oldTerm);
    const r = await rc.propose(next, set('after', 2));
    expect(r).toMatchObject({ type: 'ok' });
    // Election timeout [200, 400) ms plus the rounds: well within a second of virtual time.
    expect(rc.c.env.clock.now() - crashedAt).toBeLessThan(1_000);
    expect(await rc.read(next, 'before')).toMatchObject({ type: 'ok', result: 1 });
  });

  it('a raft_fsm killed outright (no terminate) still closes its storage, so a restart on the same node reopens its log', async () => {
    const { rc, leader } = await threeNodes('fsm-killed');
    const victim = NAMES.find((n) => n !== leader && n !== 'n1')!;
    expect(await rc.propose(leader, set('before', 1))).toMatchObject({ type: 'ok' });
    await rc.c.until(() => rc.members.get(victim)!.kv.map.get('before') === 1, 'applied on the member');
    const m = rc.members.get(victim)!;
    const old = m.storage!;
    expect(existsSync(`${rc.logPath(victim)}.lock.owner`)).toBe(true);
    rc.rt(victim).exit(m.pid!, 'kill');
    await rc.c.until(() => rc.view(victim) === undefined, 'the fsm is gone');
    // Closed by its owner's death: the file descriptor and the lock are released.
    expect(() => old.load()).toThrow(expect.objectContaining({ code: 'closed' }));
    expect(existsSync(`${rc.logPath(victim)}.lock.owner`)).toBe(false);
    expect(await rc.propose(leader, set('while_down', 2))).toMatchObject({ type: 'ok' });
    await rc.startFsm(
      victim,
      NAMES.map((n) => rc.c.nodeName(n) as NodeId),
    );
    await rc.c.until(() => rc.members.get(victim)!.kv.map.get('while_down') === 2, 'caught up after the restart');
    expect(rc.members.get(victim)!.kv.map.get('before')).toBe(1);
  });

  it('a member whose log file ends in a write torn by a crash cuts it off, says so, and rejoins', async () => {
    const { rc, leader } = await threeNodes('fsm-torn');
    const torn = NAMES.find((n) => n !== leader && n !== 'n1')!;
    expect(await rc.propose(leader, set('before', 1))).toMatchObject({ type: 'ok' });
    await rc.c.until(() => rc.members.get(torn)!.kv.map.get('before') === 1, 'applied on the member');
    await rc.crash(torn);
    // What a crash in the middle of a write leaves: a record head promising more bytes than came.
    const head = Buffer.alloc(8);
    head.writeUInt32LE(1_000, 0);
    appendFileSync(rc.logPath(torn), Buffer.concat([head, Buffer.from('\u0001123 4 command {"partial')]));
    expect(await rc.propose(leader, set('while_down', 2))).toMatchObject({ type: 'ok' });
    await rc.rejoin(torn);
    expect(rc.warnings.filter((w) => w.member === torn).map((w) => w.reason)).toEqual([expect.stringMatching(/does not fit in the file/)]);
    await rc.c.until(() => rc.members.get(torn)!.kv.map.get('while_down') === 2, 'caught up after the repair');
    expect(rc.members.get(torn)!.kv.map.get('before')).toBe(1);
  });

  it('drops malformed Raft messages from the network, counts and logs them, and keeps serving', async () => {
    const { rc, leader, followers } = await threeNodes('fsm-malformed');
    const f = followers[0]!;
    const pid = rc.rt(f).whereis(RAFT_FSM);
    expect(pid).toBeDefined();
    const to = fsmAt(rc.id(f));
    const from = rc.rt(leader);
    const base = { type: 'raft', from: rc.id(leader), to: rc.id(f) };
    from.send(to, 'garbage');
    from.send(to, { ...base, msg: { type: 'append', term: 'x' } });
    // Well-typed but inconsistent: entries not contiguous after prevIndex.
    from.send(to, { ...base, msg: { type: 'append', term: 99, prevIndex: 0, prevTerm: 0, commit: 0, entries: [{ term: 1, index: 5, kind: 'noop', data: null }] } });
    // Addressed to another member.
    from.send(to, { ...base, to: rc.id(leader), msg: { type: 'timeoutNow', term: 99 } });
    // Shaped like the runtime's own envelopes, without being them.
    from.send(to, { type: '$cast', msg: 'hello' });
    from.send(to, { type: '$call', request: { type: 'status' } });
    await rc.c.tick(10);
    expect(rc.rt(f).whereis(RAFT_FSM)).toBe(pid);
    expect(rc.view(f)!.counters.malformed).toBe(6);
    expect(rc.warnings.filter((w) => w.member === f).map((w) => w.reason)).toEqual([
      expect.stringContaining('invalid_envelope'),
      expect.stringContaining('invalid_envelope'),
      expect.stringContaining('invalid_append'),
      expect.stringContaining('misaddressed'),
      expect.stringContaining('cast'),
      // gen_server hands a call-shaped message with no reply address to handleInfo: an invalid envelope here.
      expect.stringContaining('invalid_envelope'),
    ]);
    // Nothing changed: same leader, same term, and writes still commit everywhere.
    expect(rc.view(f)!.leader).toBe(rc.id(leader));
    const r = await rc.propose(leader, set('still', 1));
    expect(r.type).toBe('ok');
    await rc.c.until(() => rc.members.get(f)!.kv.map.get('still') === 1, 'follower applied');
  });
});

describe('raft_fsm: effect order', () => {
  it('hands a granted vote or an append acknowledgement to the network only after it is durable', async () => {
    const rc = new RaftCluster('fsm-order');
    cluster = rc;
    await rc.start(NAMES);
    const watch = rc.watchAcknowledgements();
    await rc.c.tick(1); // nothing elected yet at time 0: the first election is watched too
    let leader = await rc.leader();
    for (let round = 0; round < 2; round++) {
      const writes = Array.from({ length: 30 }, (_, i) => rc.rt(leader).call<ProposeReply>(fsmAt(rc.id(leader)), { type: 'propose', command: set(`o${i}`, round) }));
      expect((await rc.c.settled(Promise.all(writes))).every((r) => r.type === 'ok')).toBe(true);
      // Depose the leader by cutting it off; the others elect a new one.
      const others = NAMES.filter((n) => n !== leader);
      rc.c.partition([leader], others);
      leader = await rc.leader(others);
      rc.c.heal();
      await rc.leader();
    }
    expect(watch.violations).toEqual([]);
    expect(watch.checked.votes).toBeGreaterThanOrEqual(3);
    expect(watch.checked.acks).toBeGreaterThanOrEqual(4);
  });
});

describe('raft_fsm: snapshots', () => {
  it('compacts on the core\'s hint and brings a member that was down back through InstallSnapshot', async () => {
    const { rc, leader, followers } = await threeNodes('fsm-snapshot', { snapshotThresholdEntries: 8 });
    const down = followers[0]!;
    expect(await rc.propose(leader, set('s', 0))).toMatchObject({ type: 'ok' });
    await rc.crash(down);
    for (let i = 1; i <= 30; i++) expect(await rc.propose(leader, set('s', i))).toMatchObject({ type: 'ok' });
    const st = await rc.status(leader);
    expect(st.snapshotIndex).toBeGreaterThan(rc.durable.get(down)!.lastIndex);
    await rc.rejoin(down);
    await rc.c.until(() => rc.members.get(down)!.kv.map.get('s') === 30, 'the member that was down caught up');
    // It got the snapshot (its log now starts past what it had), and keeps following.
    expect((await rc.status(down)).snapshotIndex).toBeGreaterThan(0);
    expect(await rc.propose(leader, set('s', 31))).toMatchObject({ type: 'ok' });
    await rc.c.until(() => rc.members.get(down)!.kv.map.get('s') === 31, 'follows after the snapshot');
  });
});

describe('raft_fsm: a snapshot the state machine cannot take', () => {
  it('is logged and counted, the log stays uncompacted, the member keeps serving, and the next hint tries again', async () => {
    const { rc, leader } = await threeNodes('fsm-snapshot-fails', { snapshotThresholdEntries: 4 });
    const kv = rc.members.get(leader)!.kv;
    const take = kv.snapshot.bind(kv);
    let failing = true;
    kv.snapshot = () => {
      if (failing) throw new RangeError('Invalid string length');
      return take();
    };
    for (let i = 1; i <= 12; i++) expect(await rc.propose(leader, set('f', i))).toMatchObject({ type: 'ok' });
    const st = await rc.status(leader);
    expect(st.counters.snapshotFailures).toBeGreaterThanOrEqual(2); // asked again after each threshold
    expect(st.snapshotIndex).toBe(0);
    expect(rc.warnings.filter((w) => w.member === leader && w.reason === 'snapshot_failed').length).toBe(st.counters.snapshotFailures);
    expect(await rc.read(leader, 'f')).toMatchObject({ type: 'ok', result: 12 });
    // Once the state machine can serialise itself again, the next hint compacts.
    failing = false;
    for (let i = 13; i <= 20; i++) expect(await rc.propose(leader, set('f', i))).toMatchObject({ type: 'ok' });
    expect((await rc.status(leader)).snapshotIndex).toBeGreaterThan(12);
  });
});

describe('raft_fsm: linearizable reads', () => {
  it('a read after an acknowledged write sees it; a deposed leader never serves a stale read', async () => {
    const { rc, leader, followers } = await threeNodes('fsm-read');
    expect(await rc.propose(leader, set('x', 1))).toMatchObject({ type: 'ok' });
    expect(await rc.read(leader, 'x')).toMatchObject({ type: 'ok', result: 1 });
    // From another node, over the network.
    expect(await rc.read(leader, 'x', followers[0]!)).toMatchObject({ type: 'ok', result: 1 });

    // Cut the leader off. A read it takes now cannot be confirmed by a majority.
    rc.c.partition([leader], followers);
    const stale = rc.c.track(rc.rt(leader).call<ReadReply>(fsmAt(rc.id(leader)), { type: 'read', query: { key: 'x' } }, { timeout: 10_000 }));
    const next = await rc.leader(followers);
    expect(await rc.propose(next, set('x', 2))).toMatchObject({ type: 'ok' });
    expect(await rc.read(next, 'x')).toMatchObject({ type: 'ok', result: 2 });
    await rc.c.until(() => stale.outcome !== undefined, 'the old leader answers');
    // Check-quorum made it step down: the read fails rather than return x = 1.
    expect(stale.outcome).toMatchObject({ ok: true, value: { type: 'not_leader' } });

    rc.c.heal();
    await rc.c.until(() => rc.members.get(leader)!.kv.map.get('x') === 2, 'old leader catches up');
    await rc.leader();
  });
});

describe('raft_fsm: leadership transfer and membership', () => {
  it('a graceful stop of the leader hands leadership over before the process exits', async () => {
    const { rc, leader, followers } = await threeNodes('fsm-graceful');
    expect(await rc.propose(leader, set('g', 1))).toMatchObject({ type: 'ok' });
    const term = rc.view(leader)!.term;
    const t0 = rc.c.env.clock.now();
    await rc.c.settled(stopServer(rc.rt(leader), RAFT_FSM, 'shutdown'));
    expect(rc.rt(leader).whereis(RAFT_FSM)).toBeUndefined();
    rc.members.get(leader)!.storage = null; // closed by terminate
    const next = await rc.leader(followers);
    // A transfer (TimeoutNow), not an election timeout: one term up, sooner than the shortest timeout (200 ms).
    expect(rc.view(next)!.term).toBe(term + 1);
    expect(rc.c.env.clock.now() - t0).toBeLessThan(10 * TICK_MS);
    expect(await rc.propose(next, set('g', 2))).toMatchObject({ type: 'ok', result: 1 });
  });

  it('transferLeadership moves leadership to the member asked for', async () => {
    const { rc, leader, followers } = await threeNodes('fsm-transfer');
    const to = followers[1]!;
    const r = await rc.call<TransferReply>(leader, leader, { type: 'transferLeadership', to: rc.id(to) });
    expect(r).toMatchObject({ type: 'ok', leader: rc.id(to) });
    expect(await rc.leader()).toBe(to);
    const bad = await rc.call<TransferReply>(to, to, { type: 'transferLeadership', to: 'nobody@h9:1' });
    expect(bad).toEqual({ type: 'failed', reason: { type: 'not_a_voter' } });
  });

  it('adds a fourth voter that catches up, then removes it', async () => {
    const { rc, leader } = await threeNodes('fsm-members');
    expect(await rc.propose(leader, set('m', 1))).toMatchObject({ type: 'ok' });
    await rc.c.addNodes('n4');
    for (const n of NAMES) await rc.c.connect('n4', n);
    await rc.startFsm('n4', []); // a joiner learns its config from the leader's log
    const n4 = rc.c.nodeName('n4') as NodeId;
    const added = await rc.call<MembershipReply>(leader, leader, { type: 'addVoter', node: n4 });
    expect(added).toMatchObject({ type: 'ok', result: null });
    await rc.c.until(() => rc.members.get('n4')!.kv.map.get('m') === 1, 'n4 caught up');
    expect(rc.view(leader)!.voters).toHaveLength(4);
    expect(await rc.propose(leader, set('m', 2))).toMatchObject({ type: 'ok' });
    const removed = await rc.call<MembershipReply>(leader, leader, { type: 'removeVoter', node: n4 });
    expect(removed).toMatchObject({ type: 'ok' });
    expect(rc.view(leader)!.voters).toHaveLength(3);
  });
});

describe('coalesce (group commit on disk)', () => {
  const e = (index: number, term = 1): LogEntry => ({ index, term, kind: 'command', data: index });
  const send: RaftEffect = { type: 'send', to: 'n2' as NodeId, msg: { type: 'heartbeatResp', term: 1, readSeq: 0 } };

  it('merges the persists of several steps into one write ahead of their sends, later entries replacing earlier ones', () => {
    const out = coalesce([
      { type: 'persist', hardState: { term: 1, vote: null, commit: 0 }, entries: [e(1), e(2), e(3)] },
      send,
      { type: 'persist', entries: [e(3, 2), e(4, 2)] },
      { type: 'apply', entries: [e(1)] },
      { type: 'persist', hardState: { term: 2, vote: null, commit: 1 } },
    ]);
    expect(out.map((x) => x.type)).toEqual(['persist', 'send', 'apply']);
    const p = out[0] as Extract<RaftEffect, { type: 'persist' }>;
    expect(p.entries!.map((x) => `${x.index}/${x.term}`)).toEqual(['1/1', '2/1', '3/2', '4/2']);
    expect(p.hardState).toEqual({ term: 2, vote: null, commit: 1 });
  });

  it('keeps installSnapshot as a barrier', () => {
    const snap: RaftEffect = { type: 'installSnapshot', snapshot: { meta: { index: 10, term: 1, voters: [] }, data: '' }, keepEntriesAfter: false };
    const out = coalesce([{ type: 'persist', entries: [e(1)] }, { type: 'apply', entries: [e(1)] }, snap, { type: 'persist', entries: [e(11)] }, send]);
    expect(out.map((x) => x.type)).toEqual(['persist', 'apply', 'installSnapshot', 'persist', 'send']);
  });
});
