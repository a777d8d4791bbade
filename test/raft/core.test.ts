// The pure Raft core, driven through a small in-memory cluster (harness.ts).
// Each test is a scenario: build a cluster, move time and messages, and assert
// exact terms, leaders, logs and what each node applied. The harness watches
// two safety properties throughout (one leader per term; no two nodes apply
// different entries at an index) and every test ends by checking them.
import fc from 'fast-check';
import { afterEach, describe, expect, it } from 'vitest';
import { type UnsafeSwitches, raftConfig, resolveRaftConfig } from '../../actors/raft/config.js';
import { type RaftEffect, RaftCore } from '../../actors/raft/core.js';
import { RaftError } from '../../actors/raft/errors.js';
import { ColdEntry } from '../../actors/raft/log.js';
import type { RaftMessage } from '../../actors/raft/messages.js';
import type { HardState, LogEntry, Term } from '../../actors/raft/types.js';
import { seededRng } from '../../runtime/index.js';
import { Cluster, type InFlight, and, from, nid, not, ofType, to } from './harness.js';

// ---- helpers ----

/** Effect kinds in order, sends tagged with their message type. */
const kinds = (effects: readonly RaftEffect[]): string[] => effects.map((e) => (e.type === 'send' ? `send:${e.msg.type}` : e.type));

const between = (a: string, b: string) => (m: InFlight) => (m.from === a && m.to === b) || (m.from === b && m.to === a);

/**
 * Write a log straight into a node's storage (as a previous life would have)
 * and restart it from it. Entry data is named after (term, index), so two logs
 * with the same entry agree on it, as log matching requires.
 */
function rebuild(h: Cluster, id: string, terms: readonly Term[], hardState: HardState): void {
  h.crash(id);
  const entries: LogEntry[] = terms.map((term, i) => ({ term, index: i + 1, kind: 'command', data: `t${term}i${i + 1}` }));
  h.node(id).storage.append(entries, hardState);
  h.restart(id);
}

/** Hand one message to a node directly and return the effects of that step. */
function hand(h: Cluster, toId: string, fromId: string, msg: RaftMessage): RaftEffect[] {
  return h.step(nid(toId), { type: 'message', from: nid(fromId), msg });
}

function replies(effects: readonly RaftEffect[]): RaftMessage[] {
  return effects.flatMap((e) => (e.type === 'send' ? [e.msg] : []));
}

const noop = (term: Term, index: number): LogEntry => ({ term, index, kind: 'noop', data: null });

let cluster: Cluster | undefined;
/** Every scenario's cluster is checked for safety violations when the test ends. */
function make(...args: ConstructorParameters<typeof Cluster>): Cluster {
  cluster = new Cluster(...args);
  return cluster;
}
afterEach(() => {
  if (cluster !== undefined) expect(cluster.violations).toEqual([]);
  cluster = undefined;
});

// ---------------------------------------------------------------------------

describe('config', () => {
  it('applies defaults and freezes the result', () => {
    const c = raftConfig();
    expect(c).toMatchObject({ electionTicks: 10, heartbeatTicks: 1, preVote: true, checkQuorum: true, followerReads: true, snapshotThresholdEntries: 0, keepAppliedEntries: 16 });
    expect(c.unsafe).toEqual({ grantVoteWithoutLogCheck: false, ackBeforePersist: false, followerReadsWithoutLeader: false });
    expect(Object.isFrozen(c)).toBe(true);
  });

  it('rejects an election timeout not above the heartbeat interval, and non-positive sizes, with the field named', () => {
    expect(resolveRaftConfig({ electionTicks: 3, heartbeatTicks: 3 })).toEqual({ ok: false, field: 'electionTicks', error: 'must be greater than heartbeatTicks' });
    expect(resolveRaftConfig({ maxEntriesPerAppend: 0 })).toMatchObject({ ok: false, field: 'maxEntriesPerAppend' });
    expect(resolveRaftConfig({ snapshotThresholdEntries: -1 })).toMatchObject({ ok: false, field: 'snapshotThresholdEntries' });
    expect(resolveRaftConfig({ keepAppliedEntries: -1 })).toMatchObject({ ok: false, field: 'keepAppliedEntries' });
    expect(resolveRaftConfig({ keepAppliedEntries: 2.5 })).toMatchObject({ ok: false, field: 'keepAppliedEntries' });
    expect(resolveRaftConfig({ keepAppliedEntries: 0 })).toMatchObject({ ok: true, config: { keepAppliedEntries: 0 } });
    expect(() => raftConfig({ heartbeatTicks: 1.5 })).toThrow(RaftError);
  });
});

describe('leader election', () => {
  /** Ticks until a lone core (in a 3-voter config) starts a pre-vote. */
  function ticksToFirstCampaign(seed: number): number {
    const core = new RaftCore({ id: nid('a'), config: raftConfig(), rng: seededRng(seed), bootstrapVoters: ['a', 'b', 'c'].map(nid) });
    for (let t = 1; t < 100; t++) {
      if (kinds(core.step({ type: 'tick' })).includes('send:preVote')) return t;
    }
    throw new Error('never campaigned');
  }

  it('draws each election timeout from the injected rng within [electionTicks, 2 × electionTicks)', () => {
    const seen = new Set<number>();
    for (let seed = 0; seed < 200; seed++) {
      const t = ticksToFirstCampaign(seed);
      expect(t).toBeGreaterThanOrEqual(10);
      expect(t).toBeLessThan(20);
      expect(ticksToFirstCampaign(seed)).toBe(t); // same seed, same timeout
      seen.add(t);
    }
    expect(seen.size).toBeGreaterThanOrEqual(8); // spread over the range, not one value
  });

  it('the node whose timeout fires first is elected; it appends a noop of its term, which commits everywhere', () => {
    const h = make({ timeouts: { n1: 12, n2: 17, n3: 19 } }).addNodes(['n1', 'n2', 'n3']);
    h.run(11);
    expect(h.leader()).toBeUndefined();
    h.run(1);
    expect(h.leader()).toBe('n1');
    for (const id of ['n1', 'n2', 'n3']) expect(h.status(id)).toMatchObject({ term: 1, leader: 'n1' });
    expect(h.logOf('n1')).toEqual([noop(1, 1)]);
    h.run(1); // a heartbeat carries the commit index to the followers
    for (const id of ['n1', 'n2', 'n3']) {
      expect(h.logOf(id)).toEqual([noop(1, 1)]);
      expect(h.status(id).commit).toBe(1);
      expect(h.node(id).sm.entries).toEqual([noop(1, 1)]);
    }
    expect([...h.leaders]).toEqual([[1, 'n1']]);
  });

  it('a vote is granted by a persist of (term, vote) that comes before the reply', () => {
    const h = make({ config: { preVote: false } }).addNodes(['n1', 'n2', 'n3']);
    h.campaign('n1');
    const req = h.queue.find(to('n2'))!;
    h.drop(to('n2'));
    const effects = hand(h, 'n2', 'n1', req.msg);
    expect(kinds(effects)).toEqual(['persist', 'send:voteResp']);
    expect(effects[0]).toEqual({ type: 'persist', hardState: { term: 1, vote: 'n1', commit: 0 } });
    expect(replies(effects)).toEqual([{ type: 'voteResp', term: 1, granted: true }]);
  });

  /** n1: longer log, older last term; n2: shorter, newer; n3: shortest. */
  function divergedCluster(): Cluster {
    const h = make({ config: { preVote: false } }).addNodes(['n1', 'n2', 'n3']);
    rebuild(h, 'n1', [1, 1, 1], { term: 2, vote: null, commit: 1 });
    rebuild(h, 'n2', [1, 2], { term: 2, vote: null, commit: 1 });
    rebuild(h, 'n3', [1], { term: 2, vote: null, commit: 1 });
    return h;
  }

  it('checks that the candidate log is up to date by last term first, then last index (§5.4.1)', () => {
    const h = divergedCluster();
    const vote = (lastIndex: number, lastTerm: Term): RaftMessage => ({ type: 'vote', term: 3, lastIndex, lastTerm, transfer: false });
    // n2 refuses n1: n1's log is longer but its last term (1) is older than n2's (2).
    expect(replies(hand(h, 'n2', 'n1', vote(3, 1)))).toEqual([{ type: 'voteResp', term: 3, granted: false }]);
    // n1 grants n2 in a new term: n2's last term wins although its log is shorter.
    expect(replies(hand(h, 'n1', 'n2', { ...vote(2, 2), term: 4 }))).toEqual([{ type: 'voteResp', term: 4, granted: true }]);
    // Equal last terms: the longer log wins; n1 refuses n3 (index 1 < 3).
    expect(replies(hand(h, 'n1', 'n3', { ...vote(1, 1), term: 5 }))).toEqual([{ type: 'voteResp', term: 5, granted: false }]);
  });

  it('the newer log wins the election and replaces the longer, older one', () => {
    const g = divergedCluster();
    g.elect('n2');
    expect(g.leader()).toBe('n2');
    expect(g.status('n2').term).toBe(3);
    g.run(1);
    expect(g.termsOf('n1')).toEqual([1, 2, 3]);
    expect(g.termsOf('n3')).toEqual([1, 2, 3]);
    expect(g.appliedCommands('n1')).toEqual(['t1i1', 't2i2']);
  });

  it('a candidate that loses a majority of votes steps back to follower in its term', () => {
    const h = make({ config: { preVote: false } }).addNodes(['n1', 'n2', 'n3']);
    rebuild(h, 'n1', [1], { term: 1, vote: null, commit: 1 });
    rebuild(h, 'n2', [1, 1], { term: 1, vote: null, commit: 1 });
    rebuild(h, 'n3', [1, 1], { term: 1, vote: null, commit: 1 });
    h.elect('n1');
    expect(h.status('n1')).toMatchObject({ role: 'follower', term: 2, vote: 'n1' });
    expect(h.leaders.size).toBe(0);
  });
});

describe('pre-vote and check-quorum', () => {
  it('a partitioned node pre-votes in vain and never bumps the term; after healing it rejoins the same leader and term', () => {
    const h = make({ timeouts: { n1: 10, n2: 15, n3: 11 } }).addNodes(['n1', 'n2', 'n3']);
    h.elect('n1').run(1);
    h.isolate('n3');
    h.run(100);
    expect(h.status('n3')).toMatchObject({ term: 1, role: 'preCandidate' });
    expect(h.sent.filter(and(from('n3'), ofType('preVote'))).length).toBeGreaterThanOrEqual(5);
    expect(h.sent.filter(and(from('n3'), ofType('vote')))).toEqual([]);
    h.heal().run(30);
    for (const id of ['n1', 'n2', 'n3']) expect(h.status(id)).toMatchObject({ term: 1, leader: 'n1' });
    expect([...h.leaders]).toEqual([[1, 'n1']]);
  });

  it('without pre-vote and check-quorum the same partition disrupts the healthy leader (why both are on by default)', () => {
    const h = make({ timeouts: { n1: 10, n2: 15, n3: 11 }, config: { preVote: false, checkQuorum: false } }).addNodes(['n1', 'n2', 'n3']);
    h.elect('n1').run(1);
    h.isolate('n3').run(100);
    expect(h.status('n3').term).toBeGreaterThan(5);
    h.heal().run(30);
    expect(h.status('n1').term).toBeGreaterThan(5);
    expect(h.leaders.size).toBeGreaterThan(1);
  });

  it('a leader that hears from no majority within an election timeout steps down', () => {
    const h = make({ timeouts: { n1: 10, n2: 15, n3: 19 } }).addNodes(['n1', 'n2', 'n3']);
    h.elect('n1').run(1); // the followers last answer at the leader's tick 1
    h.isolate('n1');
    h.run(9);
    expect(h.status('n1').role).toBe('leader');
    h.run(1); // tick 11: ten ticks without an answer
    expect(h.status('n1')).toMatchObject({ role: 'follower', term: 1, leader: null });
    // The majority side elects n2 once its own timeout fires.
    h.run(10);
    expect(h.leader()).toBe('n2');
    expect(h.status('n2').term).toBe(2);
  });

  it('followers that heard a live leader within the timeout refuse pre-votes and ignore higher-term votes (leader stickiness)', () => {
    const h = make().addNodes(['n1', 'n2', 'n3']);
    h.elect('n1').run(2);
    // A pre-vote from n3 while n1 is alive: refused by both, nobody's term moves.
    h.campaign('n3').deliver();
    expect(h.sent.filter(and(to('n3'), ofType('preVoteResp'))).map((m) => m.msg)).toEqual([
      { type: 'preVoteResp', term: 1, granted: false },
      { type: 'preVoteResp', term: 1, granted: false },
    ]);
    expect(h.status('n3').term).toBe(1);
    // A real vote request at a higher term (as from a node without pre-vote) is ignored, term kept.
    const vote: RaftMessage = { type: 'vote', term: 7, lastIndex: 1, lastTerm: 1, transfer: false };
    expect(hand(h, 'n2', 'n3', vote)).toEqual([]);
    expect(h.status('n2')).toMatchObject({ term: 1, leader: 'n1', vote: 'n1' });
    // Once n2 has not heard from a leader for an election timeout, it grants it.
    h.crash('n1');
    h.tick(10, ['n2']);
    h.drop();
    expect(replies(hand(h, 'n2', 'n3', vote))).toEqual([{ type: 'voteResp', term: 7, granted: true }]);
  });
});

describe('log replication', () => {
  it('keeps the data of only the last keepAppliedEntries applied commands; older ones are cold, and a follower far behind gets them from storage', () => {
    const h = make().addNodes(['n1', 'n2', 'n3'], { config: { keepAppliedEntries: 4 } });
    h.elect('n1').run(1);
    h.isolate('n3');
    for (let i = 0; i < 12; i++) h.propose('n1', { n: i, pad: 'x'.repeat(i) });
    h.run(3);
    const applied = h.status('n1').applied;
    expect(applied).toBe(13); // the leader's noop, then the 12 commands
    const raw = h.core('n1').entries();
    const cold = raw.filter((e) => e instanceof ColdEntry) as ColdEntry[];
    // Commands through applied − 4 are cold (the noop never is), each with its data's JSON size.
    expect(cold.map((e) => e.index)).toEqual([2, 3, 4, 5, 6, 7, 8, 9]);
    for (const e of cold) expect(e.chars).toBe(JSON.stringify({ n: e.index - 2, pad: 'x'.repeat(e.index - 2) }).length);
    expect(raw.filter((e) => !(e instanceof ColdEntry) && e.kind === 'command').map((e) => e.index)).toEqual([10, 11, 12, 13]);
    // n3 catches up: what it is sent carries the data, read back from n1's storage.
    const sentBefore = h.sent.length;
    h.heal().run(5);
    const appends = h.sent.slice(sentBefore).filter((m) => m.to === 'n3' && m.msg.type === 'append');
    const carried = appends.flatMap((m) => (m.msg.type === 'append' ? m.msg.entries : []));
    expect(carried.some((e) => e instanceof ColdEntry)).toBe(false);
    expect(carried.map((e) => e.index)).toEqual(expect.arrayContaining([2, 9, 13]));
    expect(h.appliedCommands('n3')).toEqual(Array.from({ length: 12 }, (_, i) => ({ n: i, pad: 'x'.repeat(i) })));
    expect(h.logOf('n3')).toEqual(h.logOf('n1'));
  });

  it('an entry goes cold only once it is durable too, whatever was applied (keepAppliedEntries 0)', () => {
    const h = make().addNodes(['n1', 'n2', 'n3'], { config: { keepAppliedEntries: 0 } });
    h.elect('n1').run(1);
    h.node('n1').holdPersistAcks = true;
    h.propose('n1', 'a', 'b');
    h.run(1); // the followers' acknowledgements commit and apply it on n1 before n1 hears its own write is durable
    expect(h.status('n1').applied).toBe(3);
    expect(h.core('n1').entries().filter((e) => e instanceof ColdEntry)).toEqual([]);
    h.node('n1').holdPersistAcks = false;
    h.ackPersist('n1');
    h.propose('n1', 'c');
    h.run(1);
    expect(h.core('n1').entries().filter((e) => e.kind === 'command' && !(e instanceof ColdEntry))).toEqual([]);
    expect(h.appliedCommands('n1')).toEqual(['a', 'b', 'c']);
  });

  it('group commit: a batch of proposals is ONE persist on the leader and ONE append per follower', () => {
    const h = make().addNodes(['n1', 'n2', 'n3']);
    h.elect('n1').run(1);
    const writesBefore = h.node('n2').storage.writes;
    const commands = Array.from({ length: 100 }, (_, i) => `c${i}`);
    const effects = h.step(nid('n1'), { type: 'propose', id: 7, commands });
    expect(kinds(effects)).toEqual(['persist', 'send:append', 'send:append', 'proposeResult']);
    const persist = effects[0]!;
    expect(persist.type === 'persist' && persist.entries?.map((e) => e.index)).toEqual(Array.from({ length: 100 }, (_, i) => i + 2));
    expect(effects[3]).toEqual({ type: 'proposeResult', id: 7, result: { type: 'accepted', firstIndex: 2, lastIndex: 101, term: 1 } });
    h.deliver();
    expect(h.node('n2').storage.writes - writesBefore).toBe(1);
    expect(h.status('n1').commit).toBe(101);
    h.run(1);
    for (const id of ['n1', 'n2', 'n3']) expect(h.appliedCommands(id)).toEqual(commands);
  });

  it('bounds an append by command size as well as count: large entries go out a few per message, never none', () => {
    const h = make({ config: { maxAppendChars: 1_000 } }).addNodes(['n1', 'n2', 'n3']);
    h.elect('n1').run(1);
    const big = (i: number): string => `${i}:${'x'.repeat(400)}`; // ~404 JSON characters each
    const effects = h.step(nid('n1'), { type: 'propose', id: 8, commands: Array.from({ length: 10 }, (_, i) => big(i)) });
    const appends = effects.filter((e) => e.type === 'send' && e.msg.type === 'append');
    // 2 entries fit under 1,000 characters: 5 pipelined appends per follower instead of 1.
    expect(appends).toHaveLength(10);
    for (const a of appends) expect(a.type === 'send' && a.msg.type === 'append' && a.msg.entries.length).toBe(2);
    // One entry larger than the bound still goes out alone.
    const huge = h.step(nid('n1'), { type: 'propose', id: 9, commands: ['y'.repeat(5_000)] });
    h.deliver();
    h.run(2);
    expect(h.status('n1').commit).toBe(12);
    expect(h.appliedCommands('n3')).toHaveLength(11);
    expect(kinds(huge)).toContain('persist');
  });

  it('a follower acknowledges an append only after the persist of its entries (persist precedes the send)', () => {
    const h = make().addNodes(['n1', 'n2', 'n3']);
    h.elect('n1').run(1);
    h.propose('n1', 'x');
    const app = h.queue.find(to('n2'))!;
    h.drop(to('n2'));
    const effects = hand(h, 'n2', 'n1', app.msg);
    expect(kinds(effects)).toEqual(['persist', 'send:appendResp']);
    expect(effects[0]).toMatchObject({ type: 'persist', entries: [{ index: 2, term: 1, kind: 'command', data: 'x' }] });
    expect(replies(effects)).toEqual([{ type: 'appendResp', term: 1, success: true, match: 2 }]);
  });

  it('the leader counts itself toward commit only after its own persistence is reported', () => {
    const h = make().addNodes(['n1', 'n2', 'n3']);
    h.elect('n1').run(1);
    h.isolate('n3'); // leader + n2 is the only majority, so the leader's own copy matters
    h.node('n1').holdPersistAcks = true;
    h.propose('n1', 'x');
    h.deliver();
    expect(h.status('n1').progress.n2!.match).toBe(2);
    expect(h.status('n1')).toMatchObject({ commit: 1, persisted: 1 });
    h.ackPersist('n1');
    expect(h.status('n1')).toMatchObject({ commit: 2, persisted: 2 });
    expect(h.appliedCommands('n1')).toEqual(['x']);
  });

  it('a single-node cluster commits only once its own write is durable', () => {
    const h = make().addNodes(['solo']);
    h.node('solo').holdPersistAcks = true;
    h.campaign('solo');
    expect(h.status('solo')).toMatchObject({ role: 'leader', term: 1, commit: 0 });
    h.ackPersist('solo');
    expect(h.status('solo').commit).toBe(1);
    h.propose('solo', 'a', 'b');
    expect(h.status('solo').commit).toBe(1);
    h.ackPersist('solo');
    expect(h.appliedCommands('solo')).toEqual(['a', 'b']);
  });

  it('a diverged follower is repaired in one rejected round trip: the hint skips its whole stale term', () => {
    const h = make({ timeouts: { n1: 19, n2: 10, n3: 19 } }).addNodes(['n1', 'n2', 'n3']);
    h.elect('n1').run(1);
    h.isolate('n1');
    for (let i = 0; i < 50; i++) h.propose('n1', `stale${i}`); // entries 2..51 of term 1, never committed
    h.run(20);
    expect(h.leader()).toBe('n2');
    for (let i = 0; i < 30; i++) h.propose('n2', `new${i}`);
    h.run(1);
    h.transfer('n2', 'n3').deliver(); // a later leader, whose first probe to n1 lands far up its log
    expect(h.leader()).toBe('n3');
    const nextForN1 = h.status('n3').progress.n1!.next;
    expect(nextForN1).toBeGreaterThan(30);
    const sentBefore = h.sent.length;
    h.heal().run(3);
    const rejections = h.sent.slice(sentBefore).filter((m) => m.from === 'n1' && m.msg.type === 'appendResp' && !m.msg.success);
    expect(rejections.length).toBe(1);
    expect(rejections[0]!.msg).toMatchObject({ hintTerm: 1 });
    expect(h.logOf('n1')).toEqual(h.logOf('n3'));
    expect(h.appliedCommands('n1')).toEqual(Array.from({ length: 30 }, (_, i) => `new${i}`));
  });

  it('heartbeats and stale or duplicated appends never truncate a follower log; only a real conflict does, from its first index', () => {
    const h = make().addNodes(['n1', 'n2', 'n3']);
    h.elect('n1').run(1);
    h.propose('n1', 'a', 'b');
    const first = h.queue.find(to('n2'))!; // append prev=1 [2,3]
    h.deliver({ filter: to('n2') }); // n2 holds 1..3; its acknowledgement is still in flight
    h.drop(from('n2'));
    h.propose('n1', 'c');
    h.deliver();
    h.run(1);
    expect(h.status('n2')).toMatchObject({ lastIndex: 4, commit: 4 });
    // A heartbeat: carries no entries, leaves the log alone.
    hand(h, 'n2', 'n1', { type: 'heartbeat', term: 1, commit: 2, readSeq: 0 });
    expect(h.status('n2').lastIndex).toBe(4);
    // The old append arrives again, late: every entry matches, nothing is cut.
    const effects = hand(h, 'n2', 'n1', first.msg);
    expect(h.status('n2').lastIndex).toBe(4);
    expect(replies(effects)).toEqual([{ type: 'appendResp', term: 1, success: true, match: 4 }]);
    expect(h.appliedCommands('n2')).toEqual(['a', 'b', 'c']);
  });

  it('a conflicting append truncates exactly from the first conflicting index', () => {
    const h = make({ config: { preVote: false } }).addNodes(['n1', 'n2', 'n3']);
    rebuild(h, 'n2', [1, 1, 2, 2, 2], { term: 3, vote: null, commit: 2 });
    const effects = hand(h, 'n2', 'n1', {
      type: 'append',
      term: 3,
      prevIndex: 2,
      prevTerm: 1,
      entries: [
        { term: 2, index: 3, kind: 'command', data: 'n2-3' },
        { term: 3, index: 4, kind: 'command', data: 'x' },
      ],
      commit: 2,
    });
    expect(h.termsOf('n2')).toEqual([1, 1, 2, 3]);
    // The persist starts at the first changed index: the shell replaces 4.. (and drops 5).
    expect(effects[0]).toMatchObject({ type: 'persist', entries: [{ index: 4, term: 3 }] });
    expect(h.node('n2').storage.load().entries.map((e) => e.term)).toEqual([1, 1, 2, 3]);
  });

  it('figure 8: an entry of an old term on a majority is not committed by counting replicas (§5.4.2)', () => {
    const ids = ['s1', 's2', 's3', 's4', 's5'];
    const h = make({ config: { preVote: false, checkQuorum: false, maxEntriesPerAppend: 1 } }).addNodes(ids);
    // (a) s1 leads term 1 and replicates index 2 (term 1) to s2 only.
    h.elect('s1').run(1);
    h.propose('s1', 'x');
    h.deliver({ filter: (m) => between('s1', 's2')(m) });
    h.drop();
    expect(h.termsOf('s2')).toEqual([1, 1]);
    // (b) s1 crashes; s5 wins term 2 with s3, s4 and appends its noop at index 2, nowhere else.
    h.crash('s1');
    h.campaign('s5').deliver({ filter: ofType('vote', 'voteResp') });
    h.drop();
    expect(h.status('s5')).toMatchObject({ role: 'leader', term: 2 });
    expect(h.termsOf('s5')).toEqual([1, 2]);
    // (c) s5 crashes; s1 restarts and wins term 3 (s3 and s4 voted in term 2, so it takes two rounds).
    h.crash('s5').restart('s1');
    h.campaign('s1').deliver({ filter: ofType('vote', 'voteResp') });
    h.campaign('s1').deliver({ filter: ofType('vote', 'voteResp') });
    expect(h.status('s1')).toMatchObject({ role: 'leader', term: 3 });
    expect(h.termsOf('s1')).toEqual([1, 1, 3]);
    // s1 brings s2 up to date and gives s3 index 2 (term 1) but not its own noop.
    h.deliver({ filter: between('s1', 's2') });
    h.deliver({ filter: between('s1', 's3'), max: 4 });
    h.drop();
    expect(h.termsOf('s3')).toEqual([1, 1]);
    // Index 2 is on s1, s2, s3 (a majority) but is of term 1: NOT committed.
    expect(h.status('s1').progress.s3!.match).toBe(2);
    expect(h.status('s1').commit).toBe(1);
    // (d) s1 crashes; s5 restarts and wins term 4 (s2 refuses it), overwriting index 2 everywhere.
    h.crash('s1').restart('s5');
    h.campaign('s5').deliver({ filter: ofType('vote', 'voteResp') });
    h.campaign('s5').deliver({ filter: ofType('vote', 'voteResp') });
    expect(h.status('s5')).toMatchObject({ role: 'leader', term: 4 });
    h.run(5);
    h.restart('s1').run(10);
    for (const id of ids) expect(h.termsOf(id)).toEqual([1, 2, 4]);
    // x was never applied anywhere; index 2 is s5's noop of term 2 on every node.
    for (const id of ids) expect(h.appliedCommands(id)).toEqual([]);
    expect(h.appliedAt.get(2)).toEqual(noop(2, 2));
  });

  it('bounds the uncommitted tail: proposals beyond maxUncommittedEntries are rejected with a typed reason', () => {
    const h = make({ config: { maxUncommittedEntries: 5 } }).addNodes(['n1', 'n2', 'n3']);
    h.elect('n1').run(1);
    h.isolate('n1');
    expect(h.propose('n1', 1, 2, 3, 4, 5).type).toBe('accepted');
    expect(h.propose('n1', 6)).toEqual({ type: 'rejected', reason: { type: 'too_many_uncommitted', limit: 5 } });
    expect(h.propose('n1')).toEqual({ type: 'rejected', reason: { type: 'empty_batch' } });
  });

  it('a follower rejects proposals with a hint naming the leader', () => {
    const h = make().addNodes(['n1', 'n2', 'n3']);
    expect(h.propose('n2', 'x')).toEqual({ type: 'rejected', reason: { type: 'not_leader', leader: null } });
    h.elect('n1').run(1);
    expect(h.propose('n2', 'x')).toEqual({ type: 'rejected', reason: { type: 'not_leader', leader: 'n1' } });
  });
});

describe('leadership transfer', () => {
  it('the leader stops taking proposals, brings the target up to date, then sends TimeoutNow; the target wins without pre-vote', () => {
    const h = make({ timeouts: { n1: 10, n2: 15, n3: 19 } }).addNodes(['n1', 'n2', 'n3']);
    h.elect('n1').run(1);
    h.cutLink('n1', 'n3');
    h.propose('n1', 'a', 'b');
    h.run(1);
    h.heal();
    expect(h.status('n1').progress.n3!.match).toBe(1);
    const mark = h.sent.length;
    h.transfer('n1', 'n3');
    expect(h.status('n1').transferee).toBe('n3');
    expect(h.propose('n1', 'c')).toEqual({ type: 'rejected', reason: { type: 'transfer_in_progress', to: 'n3' } });
    h.deliver();
    const after = h.sent.slice(mark);
    const timeoutNow = after.findIndex(ofType('timeoutNow'));
    const caughtUp = after.findIndex((m) => m.from === 'n3' && m.msg.type === 'appendResp' && m.msg.success && m.msg.match === 3);
    expect(caughtUp).toBeGreaterThanOrEqual(0);
    expect(timeoutNow).toBeGreaterThan(caughtUp);
    expect(after.filter(ofType('preVote'))).toEqual([]);
    expect(after.filter(ofType('vote')).map((m) => m.msg)).toContainEqual({ type: 'vote', term: 2, lastIndex: 3, lastTerm: 1, transfer: true });
    expect(h.leader()).toBe('n3');
    expect(h.status('n3').term).toBe(2);
    expect(h.status('n1')).toMatchObject({ role: 'follower', leader: 'n3', transferee: null });
    h.run(1);
    expect(h.appliedCommands('n3')).toEqual(['a', 'b']);
  });

  it('a transfer that does not complete within an election timeout is abandoned and proposals resume', () => {
    const h = make().addNodes(['n1', 'n2', 'n3']);
    h.elect('n1').run(1);
    h.crash('n3');
    h.propose('n1', 'a');
    h.transfer('n1', 'n3');
    h.run(10);
    expect(h.node('n1').events).toContainEqual({ type: 'transferFailed', to: 'n3', reason: { type: 'timeout' } });
    expect(h.status('n1')).toMatchObject({ role: 'leader', transferee: null });
    expect(h.propose('n1', 'b').type).toBe('accepted');
  });

  it('rejects a transfer to itself, to a non-voter, or from a follower', () => {
    const h = make().addNodes(['n1', 'n2', 'n3']);
    h.elect('n1').run(1);
    h.transfer('n1', 'n1').transfer('n1', 'n9').transfer('n2', 'n3');
    expect(h.node('n1').events.filter((e) => e.type === 'transferFailed')).toEqual([
      { type: 'transferFailed', to: 'n1', reason: { type: 'already_leader' } },
      { type: 'transferFailed', to: 'n9', reason: { type: 'not_a_voter' } },
    ]);
    expect(h.node('n2').events.filter((e) => e.type === 'transferFailed')).toEqual([
      { type: 'transferFailed', to: 'n3', reason: { type: 'not_leader', leader: 'n1' } },
    ]);
  });
});

describe('snapshots and log compaction', () => {
  const snapCfg = { snapshotThresholdEntries: 5, snapshotChunkChars: 64 };

  it('hints a snapshot every N applied entries; the shell compacts, the core drops the covered entries', () => {
    const h = make({ config: snapCfg }).addNodes(['n1', 'n2', 'n3']);
    h.elect('n1').run(1);
    for (let i = 0; i < 12; i++) h.propose('n1', `c${i}`); // indexes 2..13
    h.run(2);
    // The leader applied them one by one: hints at 5 and 10. The followers learnt
    // the commit index in one go and applied 2..13 at once: one hint at 13.
    const snapshots = { n1: 10, n2: 13, n3: 13 };
    for (const [id, at] of Object.entries(snapshots)) {
      expect(h.status(id)).toMatchObject({ commit: 13, applied: 13, snapshotIndex: at, lastIndex: 13 });
      expect(h.logOf(id).map((e) => e.index)).toEqual(Array.from({ length: 13 - at }, (_, i) => at + 1 + i));
      const stored = h.node(id).storage.load();
      expect(stored.snapshot?.meta).toEqual({ index: at, term: 1, voters: ['n1', 'n2', 'n3'] });
      expect(stored.entries.map((e) => e.index)).toEqual(h.logOf(id).map((e) => e.index));
    }
  });

  it('a follower behind the compacted log gets InstallSnapshot in chunks, reassembles it and installs it atomically', () => {
    const h = make({ config: snapCfg }).addNodes(['n1', 'n2', 'n3']);
    h.elect('n1').run(1);
    h.crash('n3');
    for (let i = 0; i < 20; i++) h.propose('n1', `c${i}`);
    h.run(2);
    h.propose('n1', 'tail');
    h.run(1);
    const leaderSnap = h.node('n1').storage.load().snapshot!;
    expect(leaderSnap.meta.index).toBe(20); // hints at 5, 10, 15, 20; the log keeps 21 (c19) and 22 (tail)
    const mark = h.sent.length;
    h.restart('n3').run(3);
    const chunks = h.sent.slice(mark).filter(and(to('n3'), ofType('snapshot')));
    const total = leaderSnap.data.length;
    expect(chunks.length).toBe(Math.ceil(total / 64));
    expect(chunks.map((m) => (m.msg.type === 'snapshot' ? [m.msg.offset, m.msg.data.length, m.msg.done] : []))).toEqual(
      chunks.map((_, i) => [i * 64, Math.min(64, total - i * 64), i === chunks.length - 1]),
    );
    expect(h.counts.get('installSnapshot')).toBe(1);
    expect(h.status('n3')).toMatchObject({ snapshotIndex: 20, commit: 22, applied: 22 });
    expect(h.logOf('n3').map((e) => e.data)).toEqual(['c19', 'tail']);
    expect(h.appliedCommands('n3')).toEqual(h.appliedCommands('n1'));
  });

  it('a lost chunk is sent again after a heartbeat interval; an out-of-order chunk is answered with the offset wanted', () => {
    const h = make({ config: snapCfg }).addNodes(['n1', 'n2', 'n3']);
    h.elect('n1').run(1);
    h.crash('n3');
    for (let i = 0; i < 20; i++) h.propose('n1', `c${i}`);
    h.run(2);
    h.restart('n3');
    // A heartbeat round: n3 answers, the leader finds it needs entries below its
    // first log index and sends the first chunk.
    h.tick(1, ['n1']).deliver({ filter: not(ofType('snapshot')) });
    const first = h.queue.find(and(to('n3'), ofType('snapshot')))!.msg;
    if (first.type !== 'snapshot') throw new Error('not a chunk');
    expect(first).toMatchObject({ offset: 0, done: false, meta: { index: 20, term: 1 } });
    h.drop(to('n3')); // lost
    h.tick(1, ['n1']);
    expect(h.queue.filter(and(to('n3'), ofType('snapshot')))).toEqual([]); // not yet: it may still be on its way
    h.tick(1, ['n1']);
    expect(h.queue.filter(and(to('n3'), ofType('snapshot'))).map((m) => m.msg)).toEqual([first]); // a whole interval without an answer
    h.deliver({ filter: and(to('n3'), ofType('snapshot')), max: 1 });
    // A chunk from further on (a duplicate, reordered) is not taken: n3 asks for 64.
    const effects = hand(h, 'n3', 'n1', { ...first, offset: 128, data: 'x' });
    expect(replies(effects)).toEqual([{ type: 'snapshotResp', term: 1, index: 20, installed: false, nextOffset: 64 }]);
    h.deliver();
    expect(h.counts.get('installSnapshot')).toBe(1);
    expect(h.status('n3').snapshotIndex).toBe(20);
    h.run(1);
    expect(h.appliedCommands('n3')).toEqual(h.appliedCommands('n1'));
  });

  it('a follower whose log conflicts with the snapshot drops its whole log, on disk too', () => {
    const h = make({ timeouts: { n1: 19, n2: 10, n3: 19 }, config: snapCfg }).addNodes(['n1', 'n2', 'n3']);
    h.elect('n1').run(1);
    h.isolate('n1');
    for (let i = 0; i < 40; i++) h.propose('n1', `stale${i}`); // 2..41, term 1
    h.run(20);
    expect(h.leader()).toBe('n2');
    for (let i = 0; i < 20; i++) h.propose('n2', `new${i}`);
    h.run(2);
    expect(h.status('n2').snapshotIndex).toBe(20); // n1's stale term-1 suffix runs to 41, past it
    h.heal().run(5);
    const install = h.node('n1').storage.load();
    expect(install.snapshot?.meta.term).toBe(2);
    expect(install.entries.every((e) => e.term === 2)).toBe(true);
    expect(h.appliedCommands('n1')).toEqual(Array.from({ length: 20 }, (_, i) => `new${i}`));
    // After a crash the node comes back with the snapshot and nothing of its old term-1 suffix.
    h.crash('n1').restart('n1');
    expect(h.termsOf('n1').every((t) => t === 2)).toBe(true);
  });

  it('a follower that already holds the snapshot point keeps the entries after it (trim, not replace)', () => {
    const h = make({ config: { preVote: false } }).addNodes(['n1', 'n2', 'n3']);
    rebuild(h, 'n2', [1, 1, 1, 1], { term: 1, vote: null, commit: 1 });
    const data = JSON.stringify({ index: 2, entries: [] });
    const effects = hand(h, 'n2', 'n1', { type: 'snapshot', term: 1, meta: { index: 2, term: 1, voters: ['n1', 'n2', 'n3'].map(nid) }, offset: 0, data, done: true });
    expect(kinds(effects)).toEqual(['installSnapshot', 'send:snapshotResp', 'leaderChanged']);
    expect(effects[0]).toMatchObject({ keepEntriesAfter: true });
    expect(h.status('n2')).toMatchObject({ snapshotIndex: 2, lastIndex: 4, commit: 2, applied: 2 });
    expect(h.node('n2').storage.load().entries.map((e) => e.index)).toEqual([3, 4]);
  });
});

describe('linearizable reads (ReadIndex)', () => {
  it('the leader confirms leadership with a heartbeat round, then the read is ready at the commit index', () => {
    const h = make().addNodes(['n1', 'n2', 'n3']);
    h.elect('n1').run(1);
    h.propose('n1', 'a');
    h.deliver();
    const rid = h.read('n1');
    expect(h.readResult('n1', rid)).toBeUndefined();
    expect(h.queue.filter(ofType('heartbeat')).map((m) => m.msg)).toEqual([
      { type: 'heartbeat', term: 1, commit: 2, readSeq: 1 },
      { type: 'heartbeat', term: 1, commit: 2, readSeq: 1 },
    ]);
    h.deliver({ filter: between('n1', 'n2') }); // one follower + the leader is a majority
    expect(h.readResult('n1', rid)).toEqual({ type: 'ready', index: 2 });
  });

  it('a read on a new leader waits until the leader has committed its noop', () => {
    const h = make().addNodes(['n1', 'n2', 'n3']);
    h.campaign('n1').deliver({ filter: ofType('preVote', 'preVoteResp', 'vote', 'voteResp') });
    expect(h.status('n1')).toMatchObject({ role: 'leader', commit: 0 });
    const rid = h.read('n1');
    expect(h.queue.filter(ofType('heartbeat'))).toEqual([]);
    h.deliver();
    expect(h.readResult('n1', rid)).toEqual({ type: 'ready', index: 1 });
  });

  it('a leader cut off from the majority never serves the read; it fails when the leader steps down', () => {
    const h = make().addNodes(['n1', 'n2', 'n3']);
    h.elect('n1').run(1);
    h.isolate('n1');
    const rid = h.read('n1');
    h.run(9);
    expect(h.readResult('n1', rid)).toBeUndefined();
    h.run(1);
    expect(h.readResult('n1', rid)).toEqual({ type: 'failed', reason: { type: 'not_leader', leader: null } });
  });

  it('without followerReads a follower answers not_leader with the leader it knows; the pending-read queue is bounded', () => {
    const h = make({ config: { maxPendingReads: 2, followerReads: false } }).addNodes(['n1', 'n2', 'n3']);
    h.elect('n1').run(1);
    expect(h.readResult('n2', h.read('n2'))).toEqual({ type: 'failed', reason: { type: 'not_leader', leader: 'n1' } });
    h.isolate('n1');
    h.read('n1');
    h.read('n1');
    expect(h.readResult('n1', h.read('n1'))).toEqual({ type: 'failed', reason: { type: 'too_many_pending_reads', limit: 2 } });
  });

  it('a follower serves a read at an index the leader confirmed, once it has applied through it', () => {
    const h = make().addNodes(['n1', 'n2', 'n3']);
    h.elect('n1').run(1);
    h.propose('n1', 'a');
    // The write is acknowledged (committed on n1 and n2) while n3 has not heard of the commit yet.
    h.deliver({ filter: (m) => m.to !== 'n3' });
    expect(h.status('n1').commit).toBe(2);
    const rid = h.read('n3');
    expect(h.readResult('n3', rid)).toBeUndefined();
    h.run(3);
    // Served at n3 at index 2 or later: the read sees the write acknowledged before it started.
    const r = h.readResult('n3', rid);
    expect(r?.type).toBe('ready');
    expect(r?.type === 'ready' && r.index).toBeGreaterThanOrEqual(2);
    expect(h.status('n3').applied).toBeGreaterThanOrEqual(2);
    expect(h.appliedCommands('n3')).toEqual(['a']);
  });

  it("a restarted follower never takes an answer meant for its previous incarnation's read", () => {
    const h = make().addNodes(['n1', 'n2', 'n3']);
    h.elect('n1').run(1);
    h.read('n2');
    // n1 confirms that read; its answer (index 1) stays in flight while n2 restarts.
    h.deliver({ filter: (m) => m.msg.type !== 'readIndexResp' });
    const old = h.queue.filter((m) => m.msg.type === 'readIndexResp');
    expect(old).toHaveLength(1);
    h.queue = h.queue.filter((m) => m.msg.type !== 'readIndexResp');
    h.crash('n2');
    h.restart('n2');
    h.propose('n1', 'w');
    h.deliver({ filter: (m) => m.to !== 'n2' });
    const written = h.status('n1').commit;
    expect(written).toBe(2);
    h.tick(1, ['n1']);
    h.deliver({ filter: (m) => m.msg.type === 'heartbeat' }); // n2 learns who leads
    const again = h.read('n2');
    h.queue.unshift(...old); // the old answer lands first
    h.run(3);
    const r = h.readResult('n2', again);
    expect(r?.type).toBe('ready');
    expect(r?.type === 'ready' && r.index).toBeGreaterThanOrEqual(written);
  });

  it('a follower read fails (not_leader) when the leader does not answer within an election timeout, or answers that it no longer leads', () => {
    const h = make().addNodes(['n1', 'n2', 'n3']);
    h.elect('n1').run(1);
    h.isolate('n1');
    const lost = h.read('n2');
    h.tick(1, ['n2']);
    expect(h.readResult('n2', lost)).toBeUndefined();
    // Failed by the election timeout at the latest (n2 gives up on its leader, or the answer is overdue).
    h.tick(40, ['n2']);
    expect(h.readResult('n2', lost)).toMatchObject({ type: 'failed', reason: { type: 'not_leader' } });
    // A lost answer while the leader is still heard from: the read expires after an election timeout.
    const k = make().addNodes(['n1', 'n2', 'n3']);
    k.elect('n1').run(1);
    const dropped = k.read('n2');
    for (let i = 0; i < 40 && k.readResult('n2', dropped) === undefined; i++) {
      k.tick(1);
      k.deliver({ filter: (m) => m.msg.type !== 'readIndexResp' });
      k.drop((m) => m.msg.type === 'readIndexResp');
    }
    expect(k.readResult('n2', dropped)).toEqual({ type: 'failed', reason: { type: 'not_leader', leader: 'n1' } });
    expect(k.status('n2')).toMatchObject({ role: 'follower', leader: 'n1' });
    // A leader that steps down answers the reads it was asked with no index.
    const g = make().addNodes(['n1', 'n2', 'n3']);
    g.elect('n1').run(1);
    const asked = g.read('n2');
    g.deliver({ filter: (m) => m.msg.type === 'readIndexReq' });
    g.isolate('n1');
    g.tick(60, ['n1']); // check-quorum: no majority heard, n1 steps down and answers n2 with no index
    g.heal();
    g.deliver({ filter: (m) => m.msg.type === 'readIndexResp' });
    expect(g.readResult('n2', asked)).toMatchObject({ type: 'failed', reason: { type: 'not_leader' } });
  });

  it('a single-node leader serves reads at once', () => {
    const h = make().addNodes(['solo']);
    h.campaign('solo');
    h.propose('solo', 'a');
    expect(h.readResult('solo', h.read('solo'))).toEqual({ type: 'ready', index: 2 });
  });
});

describe('membership changes (one server at a time)', () => {
  it('adds a voter: the config takes effect when appended, the new node catches up and can lead', () => {
    const h = make().addNodes(['n1', 'n2', 'n3']).addNodes(['n4'], { voters: [] });
    h.elect('n1').run(1);
    h.propose('n1', 'a', 'b');
    h.run(1);
    expect(h.changeMembership('n1', { type: 'addVoter', node: nid('n4') })).toEqual({ type: 'accepted', firstIndex: 4, lastIndex: 4, term: 1 });
    // In force on the leader before it commits: it now replicates to n4 and needs 3 of 4.
    expect(h.status('n1')).toMatchObject({ voters: ['n1', 'n2', 'n3', 'n4'], commit: 3 });
    expect(h.status('n1').progress.n4).toBeDefined();
    expect(h.status('n4').voters).toEqual([]);
    h.run(3);
    for (const id of ['n1', 'n2', 'n3', 'n4']) {
      expect(h.status(id)).toMatchObject({ voters: ['n1', 'n2', 'n3', 'n4'], commit: 4 });
      expect(h.appliedCommands(id)).toEqual(['a', 'b']);
    }
    h.transfer('n1', 'n4').deliver();
    expect(h.leader()).toBe('n4');
  });

  it('allows one change at a time: a second change before the first commits is refused', () => {
    const h = make().addNodes(['n1', 'n2', 'n3']).addNodes(['n4', 'n5'], { voters: [] });
    h.elect('n1').run(1);
    expect(h.changeMembership('n1', { type: 'addVoter', node: nid('n4') }).type).toBe('accepted');
    expect(h.changeMembership('n1', { type: 'addVoter', node: nid('n5') })).toEqual({ type: 'rejected', reason: { type: 'config_change_in_progress' } });
    h.run(2);
    expect(h.changeMembership('n1', { type: 'addVoter', node: nid('n5') }).type).toBe('accepted');
    expect(h.changeMembership('n2', { type: 'addVoter', node: nid('n5') })).toEqual({ type: 'rejected', reason: { type: 'not_leader', leader: 'n1' } });
  });

  it('refuses a change before the new leader has committed an entry of its term', () => {
    const h = make().addNodes(['n1', 'n2', 'n3']).addNodes(['n4'], { voters: [] });
    h.campaign('n1').deliver({ filter: ofType('preVote', 'preVoteResp', 'vote', 'voteResp') });
    expect(h.changeMembership('n1', { type: 'addVoter', node: nid('n4') })).toEqual({ type: 'rejected', reason: { type: 'config_change_in_progress' } });
  });

  it('rejects no-op and impossible changes with typed reasons', () => {
    const h = make().addNodes(['n1']);
    h.campaign('n1');
    expect(h.changeMembership('n1', { type: 'addVoter', node: nid('n1') })).toEqual({ type: 'rejected', reason: { type: 'already_voter', node: 'n1' } });
    expect(h.changeMembership('n1', { type: 'removeVoter', node: nid('n7') })).toEqual({ type: 'rejected', reason: { type: 'not_a_voter', node: 'n7' } });
    expect(h.changeMembership('n1', { type: 'removeVoter', node: nid('n1') })).toEqual({ type: 'rejected', reason: { type: 'last_voter', node: 'n1' } });
  });

  it('removes a follower: the leader stops replicating to it and commits with the smaller majority', () => {
    const h = make().addNodes(['n1', 'n2', 'n3']);
    h.elect('n1').run(1);
    h.changeMembership('n1', { type: 'removeVoter', node: nid('n3') });
    expect(h.status('n1').voters).toEqual(['n1', 'n2']);
    h.run(2);
    expect(h.status('n2')).toMatchObject({ voters: ['n1', 'n2'], commit: 2 });
    h.crash('n3');
    h.queue = [];
    h.propose('n1', 'a');
    expect(h.queue.filter(to('n3'))).toEqual([]);
    h.deliver();
    expect(h.status('n1').commit).toBe(3);
  });

  it('a removed follower is told the removal committed, then is no longer replicated to and never campaigns', () => {
    const h = make().addNodes(['n1', 'n2', 'n3']);
    h.elect('n1').run(1);
    h.changeMembership('n1', { type: 'removeVoter', node: nid('n3') });
    // Still replicated to (not counted) while it does not know.
    expect(h.status('n1').progress.n3).toMatchObject({ leavingAt: 2 });
    h.run(3);
    expect(h.status('n3')).toMatchObject({ voters: ['n1', 'n2'], commit: 2 });
    expect(h.status('n1').progress.n3).toBeUndefined();
    const mark = h.sent.length;
    h.propose('n1', 'a');
    h.run(40);
    expect(h.sent.slice(mark).filter(to('n3'))).toEqual([]);
    expect(h.sent.slice(mark).filter(and(from('n3'), ofType('preVote', 'vote')))).toEqual([]);
    expect(h.leader()).toBe('n1');
    expect(h.appliedCommands('n2')).toEqual(['a']);
  });

  it('a removed follower the removing leader could not tell is told by the next leader', () => {
    const h = make().addNodes(['n1', 'n2', 'n3', 'n4', 'n5']);
    h.elect('n1').run(1);
    h.partition(['n5'], ['n1', 'n2', 'n3', 'n4']);
    h.changeMembership('n1', { type: 'removeVoter', node: nid('n5') });
    h.run(3);
    expect(h.status('n2')).toMatchObject({ voters: ['n1', 'n2', 'n3', 'n4'], commit: 2 });
    expect(h.status('n5').voters).toEqual(['n1', 'n2', 'n3', 'n4', 'n5']);
    // The removing leader is gone before it could tell n5; only the next one can.
    h.crash('n1');
    h.heal();
    h.run(40);
    const next = h.leader();
    expect(next).toBeDefined();
    expect(next).not.toBe('n1');
    expect(h.status('n5')).toMatchObject({ voters: ['n1', 'n2', 'n3', 'n4'] });
    expect(h.status('n5').commit).toBeGreaterThanOrEqual(2);
    expect(h.status(next!).progress.n5).toBeUndefined();
    const mark = h.sent.length;
    h.run(40);
    expect(h.sent.slice(mark).filter(and(from('n5'), ofType('preVote', 'vote')))).toEqual([]);
  });

  it('a read waiting for a voter that a change removes is judged by the new voters (two voters shrunk to one)', () => {
    const h = make().addNodes(['n1', 'n2']);
    h.elect('n1').run(1);
    const r1 = h.read('n1'); // its heartbeat round waits for n2
    h.changeMembership('n1', { type: 'removeVoter', node: nid('n2') });
    h.run(3);
    expect(h.readResult('n1', r1)).toMatchObject({ type: 'ready' });
    const r2 = h.read('n1');
    h.run(1);
    expect(h.readResult('n1', r2)).toMatchObject({ type: 'ready' });
  });

  it("a late answer to a heartbeat sent before the tell does not end a removed node's replication untold", () => {
    const h = make().addNodes(['n1', 'n2', 'n3']);
    h.elect('n1').run(1);
    h.tick(1, ['n1']); // H1: commit 1
    const h1 = h.queue.filter((m) => m.to === 'n3' && m.msg.type === 'heartbeat');
    h.queue = h.queue.filter((m) => !(m.to === 'n3' && m.msg.type === 'heartbeat'));
    h.changeMembership('n1', { type: 'removeVoter', node: nid('n3') });
    h.deliver(); // n2 and n3 hold the config; it commits on n1 and n2
    expect(h.status('n1').commit).toBe(2);
    h.tick(1, ['n1']); // H2 tells n3 (commit 2) and is lost
    h.drop((m) => m.to === 'n3' && m.msg.type === 'heartbeat');
    h.queue.push(...h1); // H1 lands late: n3 answers with commit 1
    h.deliver();
    expect(h.status('n1').progress.n3).toMatchObject({ leavingAt: 2 });
    h.run(5);
    expect(h.status('n3').commit).toBeGreaterThanOrEqual(2);
    expect(h.status('n1').progress.n3).toBeUndefined();
    const mark = h.sent.length;
    h.run(40);
    expect(h.sent.slice(mark).filter(and(from('n3'), ofType('preVote', 'vote')))).toEqual([]);
  });

  it('a node re-added after it was told of its removal (the answer lost) stays a follower the leader replicates to', () => {
    const h = make().addNodes(['n1', 'n2', 'n3']);
    h.elect('n1').run(1);
    h.changeMembership('n1', { type: 'removeVoter', node: nid('n3') });
    h.deliver(); // the removal commits on n1 and n2; n3 has the entry but not the commit
    expect(h.status('n1').commit).toBe(2);
    h.partition(['n3'], ['n1', 'n2']);
    h.tick(1, ['n1']); // the heartbeat that tells n3 is lost
    expect(h.changeMembership('n1', { type: 'addVoter', node: nid('n3') }).type).toBe('accepted');
    h.heal();
    h.propose('n1', 'after');
    h.run(10);
    expect(h.status('n1').progress.n3).toBeDefined();
    expect(h.status('n3').voters).toEqual(['n1', 'n2', 'n3']);
    expect(h.appliedCommands('n3')).toEqual(['after']);
    h.transfer('n1', 'n3').deliver();
    expect(h.leader()).toBe('n3');
  });

  it('a removed node is refused a read index (it no longer gets the entries), and an answered read not applied in time fails', () => {
    const h = make().addNodes(['n1', 'n2', 'n3']);
    h.elect('n1').run(1);
    h.changeMembership('n1', { type: 'removeVoter', node: nid('n3') });
    h.run(5);
    const refused = h.read('n3');
    h.run(2);
    expect(h.readResult('n3', refused)).toMatchObject({ type: 'failed', reason: { type: 'not_leader' } });
    // n2 gets an index it cannot apply: the write reached n1 and n3, then n2 is cut off.
    const g = make().addNodes(['n1', 'n2', 'n3']);
    g.elect('n1').run(1);
    g.propose('n1', 'w');
    g.deliver({ filter: (m) => m.to !== 'n2' });
    const stuck = g.read('n2');
    g.deliver({ filter: (m) => m.msg.type === 'readIndexReq' });
    g.tick(1, ['n1']);
    g.deliver({ filter: (m) => m.to !== 'n2' || m.msg.type === 'readIndexResp' });
    expect(g.readResult('n2', stuck)).toBeUndefined();
    g.isolate('n2');
    g.tick(100, ['n2']);
    expect(g.readResult('n2', stuck)).toMatchObject({ type: 'failed', reason: { type: 'not_leader' } });
  });

  it('a removed follower that is down is dropped after two election timeouts; one re-added meanwhile stays', () => {
    const h = make().addNodes(['n1', 'n2', 'n3']);
    h.elect('n1').run(1);
    h.crash('n3');
    h.changeMembership('n1', { type: 'removeVoter', node: nid('n3') });
    h.run(2);
    expect(h.status('n1').progress.n3).toMatchObject({ leavingAt: 2 });
    h.run(40);
    expect(h.status('n1').progress.n3).toBeUndefined();
    const g = make().addNodes(['n1', 'n2', 'n3']);
    g.elect('n1').run(1);
    g.crash('n3');
    g.changeMembership('n1', { type: 'removeVoter', node: nid('n3') });
    g.run(2);
    expect(g.changeMembership('n1', { type: 'addVoter', node: nid('n3') }).type).toBe('accepted');
    expect(g.status('n1').progress.n3).toBeDefined();
    expect(g.status('n1').progress.n3?.leavingAt).toBeUndefined();
    g.run(40);
    expect(g.status('n1').progress.n3).toBeDefined();
  });

  it('removes the leader itself: it leads until the change commits, then steps down and never campaigns', () => {
    const h = make({ timeouts: { n1: 10, n2: 12, n3: 19 } }).addNodes(['n1', 'n2', 'n3']);
    h.elect('n1').run(1);
    h.changeMembership('n1', { type: 'removeVoter', node: nid('n1') });
    expect(h.status('n1')).toMatchObject({ role: 'leader', voters: ['n2', 'n3'] });
    h.propose('n1', 'a'); // still leading: index 3 goes to n2, n3, which alone make the majority
    h.deliver();
    // The change (index 2) commits on n2 and n3's acknowledgements, and n1 steps down right then.
    expect(h.status('n1')).toMatchObject({ role: 'follower', commit: 2, leader: null });
    expect(h.status('n1').lastIndex).toBe(3);
    const mark = h.sent.length;
    h.run(40);
    expect(h.sent.slice(mark).filter(and(from('n1'), ofType('preVote', 'vote')))).toEqual([]);
    expect(h.leader()).toBe('n2');
    expect(h.status('n2')).toMatchObject({ term: 2, voters: ['n2', 'n3'] });
    expect(h.appliedCommands('n3')).toEqual(['a']);
  });

  it('a follower adopts a config when it appends the entry, and drops it if the entry is truncated', () => {
    const h = make({ config: { preVote: false } }).addNodes(['n1', 'n2', 'n3']);
    const cfg: LogEntry = { term: 1, index: 1, kind: 'config', data: { voters: ['n1', 'n2'] } };
    hand(h, 'n3', 'n1', { type: 'append', term: 1, prevIndex: 0, prevTerm: 0, entries: [cfg], commit: 0 });
    expect(h.status('n3').voters).toEqual(['n1', 'n2']);
    hand(h, 'n3', 'n2', { type: 'append', term: 2, prevIndex: 0, prevTerm: 0, entries: [noop(2, 1)], commit: 0 });
    expect(h.status('n3').voters).toEqual(['n1', 'n2', 'n3']);
  });
});

describe('restart from persisted state', () => {
  it('a node rebuilt from (hard state, snapshot, entries) keeps its term, vote and log, and re-applies each index once', () => {
    const h = make({ config: { snapshotThresholdEntries: 4 } }).addNodes(['n1', 'n2', 'n3']);
    h.elect('n1').run(1);
    h.propose('n1', 'a', 'b', 'c', 'd', 'e');
    h.run(1);
    h.propose('n1', 'f');
    h.run(1);
    const before = h.status('n2');
    for (const id of ['n1', 'n2', 'n3']) h.crash(id);
    for (const id of ['n1', 'n2', 'n3']) h.restart(id);
    const after = h.status('n2');
    expect(after).toMatchObject({ role: 'follower', term: before.term, vote: before.vote, lastIndex: before.lastIndex, snapshotIndex: 6 });
    expect(after.applied).toBe(6); // from the snapshot; the rest is re-applied on the next step
    expect(h.appliedCommands('n2')).toEqual(['a', 'b', 'c', 'd', 'e']);
    h.run(30);
    const leader = h.leader()!;
    expect(h.status(leader).term).toBe(2);
    h.propose(leader, 'g');
    h.run(2);
    for (const id of ['n1', 'n2', 'n3']) expect(h.appliedCommands(id)).toEqual(['a', 'b', 'c', 'd', 'e', 'f', 'g']);
  });

  it('a vote cast before a crash is remembered: no second vote in the same term', () => {
    const h = make({ config: { preVote: false } }).addNodes(['n1', 'n2', 'n3']);
    h.campaign('n1');
    h.deliver({ filter: and(to('n2'), ofType('vote')) });
    h.crash('n2').restart('n2');
    expect(h.status('n2')).toMatchObject({ term: 1, vote: 'n1' });
    expect(replies(hand(h, 'n2', 'n3', { type: 'vote', term: 1, lastIndex: 0, lastTerm: 0, transfer: false }))).toEqual([
      { type: 'voteResp', term: 1, granted: false },
    ]);
  });

  it('refuses a persisted log that is not contiguous', () => {
    const entries: LogEntry[] = [noop(1, 1), noop(1, 3)];
    expect(
      () =>
        new RaftCore({
          id: nid('a'),
          config: raftConfig(),
          rng: seededRng(1),
          bootstrapVoters: [nid('a')],
          persisted: { hardState: { term: 1, vote: null, commit: 0 }, snapshot: null, entries },
        }),
    ).toThrow(expect.objectContaining({ code: 'corrupt_log' }));
  });
});

describe('unsafe test switches (they must break safety, so the checkers can be shown to bite)', () => {
  it('grantVoteWithoutLogCheck grants a vote to a candidate with a stale log', () => {
    for (const unsafe of [false, true]) {
      const h = new Cluster({ config: { preVote: false, unsafe: { grantVoteWithoutLogCheck: unsafe } } }).addNodes(['n1', 'n2', 'n3']);
      rebuild(h, 'n2', [1, 1], { term: 1, vote: null, commit: 0 });
      const r = replies(hand(h, 'n2', 'n1', { type: 'vote', term: 2, lastIndex: 0, lastTerm: 0, transfer: false }));
      expect(r).toEqual([{ type: 'voteResp', term: 2, granted: unsafe }]);
    }
  });

  it('ackBeforePersist sends the acknowledgement first and persists on the next tick; a crash in between loses a committed entry', () => {
    const h = new Cluster({ config: { unsafe: { ackBeforePersist: true } } }).addNodes(['n1', 'n2', 'n3']);
    h.elect('n1').run(1);
    h.propose('n1', 'x');
    const app = h.queue.find(to('n2'))!;
    h.drop(to('n2'));
    expect(kinds(hand(h, 'n2', 'n1', app.msg))).toEqual(['send:appendResp']);
    h.deliver();
    expect(h.appliedCommands('n1')).toEqual(['x']); // committed: n1 and n2 acknowledged it
    // Everyone crashes before the next tick: nobody wrote x.
    for (const id of ['n1', 'n2', 'n3']) h.crash(id).restart(id);
    h.run(30);
    h.propose(h.leader()!, 'y');
    h.run(2);
    expect(h.violations.length).toBeGreaterThan(0);
    expect(h.violations[0]).toMatch(/applied .* at 2, another node applied .*"x"/);
  });
});

// ---------------------------------------------------------------------------
// Random schedules
// ---------------------------------------------------------------------------

type Action =
  | { readonly t: 'tick'; readonly node: number }
  | { readonly t: 'tickAll' }
  | { readonly t: 'deliver'; readonly pick: number }
  | { readonly t: 'deliverMany' }
  | { readonly t: 'drop'; readonly pick: number }
  | { readonly t: 'duplicate'; readonly pick: number }
  | { readonly t: 'propose'; readonly node: number; readonly n: number }
  | { readonly t: 'read'; readonly node: number }
  | { readonly t: 'crash'; readonly node: number }
  | { readonly t: 'restart'; readonly node: number }
  | { readonly t: 'partition'; readonly mask: number }
  | { readonly t: 'heal' }
  | { readonly t: 'transfer'; readonly node: number; readonly target: number }
  | { readonly t: 'member'; readonly node: number; readonly target: number; readonly add: boolean };

const IDS = ['n1', 'n2', 'n3', 'n4', 'n5'];
/** -1 stands for "whoever leads now" (so client actions often reach a leader). */
const LEADER = -1;

const actionArb: fc.Arbitrary<Action> = (() => {
  const node = fc.nat({ max: IDS.length - 1 });
  const who = fc.oneof(node, fc.constant(LEADER));
  const pick = fc.nat();
  return fc.oneof(
    { weight: 15, arbitrary: fc.record({ t: fc.constant('tickAll' as const) }) },
    { weight: 15, arbitrary: fc.record({ t: fc.constant('tick' as const), node }) },
    { weight: 30, arbitrary: fc.record({ t: fc.constant('deliver' as const), pick }) },
    { weight: 3, arbitrary: fc.record({ t: fc.constant('deliverMany' as const) }) },
    { weight: 4, arbitrary: fc.record({ t: fc.constant('drop' as const), pick }) },
    { weight: 2, arbitrary: fc.record({ t: fc.constant('duplicate' as const), pick }) },
    { weight: 6, arbitrary: fc.record({ t: fc.constant('propose' as const), node: who, n: fc.integer({ min: 1, max: 4 }) }) },
    { weight: 2, arbitrary: fc.record({ t: fc.constant('read' as const), node: who }) },
    { weight: 2, arbitrary: fc.record({ t: fc.constant('crash' as const), node }) },
    { weight: 3, arbitrary: fc.record({ t: fc.constant('restart' as const), node }) },
    { weight: 2, arbitrary: fc.record({ t: fc.constant('partition' as const), mask: fc.nat({ max: 31 }) }) },
    { weight: 1, arbitrary: fc.record({ t: fc.constant('heal' as const) }) },
    { weight: 1, arbitrary: fc.record({ t: fc.constant('transfer' as const), node: who, target: node }) },
    { weight: 1, arbitrary: fc.record({ t: fc.constant('member' as const), node: who, target: node, add: fc.boolean() }) },
  );
})();

/** Play a schedule on `voters` founding members (the rest of IDS may join later). */
function play(seed: number, voters: number, actions: readonly Action[], unsafe: UnsafeSwitches = {}): Cluster {
  const h = new Cluster({
    seed,
    config: { electionTicks: 5, maxEntriesPerAppend: 3, maxInflightAppends: 4, snapshotThresholdEntries: 6, snapshotChunkChars: 100, unsafe },
  });
  h.addNodes(IDS.slice(0, voters));
  if (voters < IDS.length) h.addNodes(IDS.slice(voters), { voters: [] });
  const up = (i: number): boolean => h.node(IDS[i]!).core !== null;
  const pickFrom = (n: number): number => n % h.queue.length;
  let cmd = 0;
  for (const a0 of actions) {
    const a = 'node' in a0 && a0.node === LEADER ? { ...a0, node: Math.max(0, IDS.indexOf(h.leader() ?? 'n1')) } : a0;
    switch (a.t) {
      case 'tickAll':
        h.tick(1);
        break;
      case 'tick':
        if (up(a.node)) h.tick(1, [IDS[a.node]!]);
        break;
      case 'deliver':
        if (h.queue.length > 0) h.deliverAt(pickFrom(a.pick));
        break;
      case 'deliverMany':
        h.deliver({ max: 50 });
        break;
      case 'drop':
        if (h.queue.length > 0) h.queue.splice(pickFrom(a.pick), 1);
        break;
      case 'duplicate':
        if (h.queue.length > 0) h.queue.push(h.queue[pickFrom(a.pick)]!);
        break;
      case 'propose':
        if (up(a.node)) h.propose(IDS[a.node]!, ...Array.from({ length: a.n }, () => `c${++cmd}`));
        break;
      case 'read':
        if (up(a.node)) h.read(IDS[a.node]!);
        break;
      case 'crash':
        h.crash(IDS[a.node]!);
        break;
      case 'restart':
        h.restart(IDS[a.node]!);
        break;
      case 'partition':
        h.heal().partition(
          IDS.filter((_, i) => ((a.mask >> i) & 1) === 1),
          IDS.filter((_, i) => ((a.mask >> i) & 1) === 0),
        );
        break;
      case 'heal':
        h.heal();
        break;
      case 'transfer':
        if (up(a.node)) h.transfer(IDS[a.node]!, IDS[a.target]!);
        break;
      case 'member':
        if (up(a.node)) h.changeMembership(IDS[a.node]!, { type: a.add ? 'addVoter' : 'removeVoter', node: nid(IDS[a.target]!) });
        break;
    }
  }
  return h;
}

describe('random interleavings, drops, duplicates, partitions, crashes and config changes', () => {
  it('never elect two leaders in a term nor apply different entries at an index, and recover once healed', () => {
    fc.assert(
      fc.property(fc.integer(), fc.constantFrom(3, 5), fc.array(actionArb, { minLength: 100, maxLength: 500 }), (seed, voters, actions) => {
        const h = play(seed, voters, actions);
        expect(h.violations).toEqual([]);
        // Liveness: heal everything, restart everyone; a leader must emerge and commit.
        h.heal();
        for (const id of IDS) h.restart(id);
        h.run(60);
        const leader = h.leader();
        expect(leader).toBeDefined();
        expect(h.propose(leader!, 'final').type).toBe('accepted');
        h.run(10);
        for (const id of h.status(leader!).voters) expect(h.appliedCommands(id)).toContain('final');
        expect(h.violations).toEqual([]);
      }),
      { numRuns: 500 },
    );
  });

  it('with grantVoteWithoutLogCheck on, the same kind of schedules find violations (the checks bite)', () => {
    let broken = 0;
    fc.assert(
      fc.property(fc.integer(), fc.array(actionArb, { minLength: 200, maxLength: 500 }), (seed, actions) => {
        if (play(seed, 3, actions, { grantVoteWithoutLogCheck: true }).violations.length > 0) broken++;
      }),
      { numRuns: 300, seed: 20240601 },
    );
    expect(broken).toBeGreaterThan(0);
  });
});
