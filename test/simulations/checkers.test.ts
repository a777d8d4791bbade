// Each checker on its own, fed hand-made traces: it must pass a correct one
// and name the violation in a broken one. The simulator's campaigns then show
// they stay quiet on the real core and (test/simulations/unsafe.test.ts) bite
// on a broken one.
import { describe, expect, it } from 'vitest';
import { MemoryDisk, MemoryStorage } from '../../actors/raft/storage.js';
import type { LogEntry, NodeId } from '../../actors/raft/types.js';
import { coreErrors } from '../../simulations/checkers/core-errors.js';
import { durability } from '../../simulations/checkers/durability.js';
import { electionSafety } from '../../simulations/checkers/election-safety.js';
import { leaderAppendOnly } from '../../simulations/checkers/leader-append-only.js';
import { leaderCompleteness } from '../../simulations/checkers/leader-completeness.js';
import { linearizability } from '../../simulations/checkers/linearizability.js';
import { liveness } from '../../simulations/checkers/liveness.js';
import { logMatching } from '../../simulations/checkers/log-matching.js';
import { stateMachineSafety } from '../../simulations/checkers/state-machine-safety.js';
import type { Checker, ClusterView, HistoryEvent, NodeView, TraceEvent } from '../../simulations/trace.js';

const cmd = (index: number, term: number, op = index): LogEntry => ({ index, term, kind: 'command', data: { f: 'write', key: 'k0', value: op, op } });
const noop = (index: number, term: number): LogEntry => ({ index, term, kind: 'noop', data: null });

function run(c: Checker, events: readonly TraceEvent[]): string[] {
  for (const e of events) {
    expect(c.on).toContain(e.type);
    c.observe(e);
  }
  return c.finish().map((v) => v.message);
}

function view(index: number, log: readonly LogEntry[], over: Partial<NodeView> = {}): NodeView {
  return { index, id: `n${index}` as NodeId, up: true, inc: 1, role: 'follower', term: 1, leader: null, commit: 0, applied: 0, snapshotIndex: 0, snapshotTerm: 0, log, ...over };
}

const role = (time: number, node: number, term: number, log: readonly LogEntry[] = []): TraceEvent => ({ type: 'role', time, node, inc: 1, term, role: 'leader', leader: `n${node}` as NodeId, log, snapshotIndex: 0 });

describe('election safety', () => {
  it('allows one leader per term, re-elections in later terms included', () => {
    expect(run(electionSafety(), [role(1, 0, 1), role(2, 1, 2), role(3, 0, 3)])).toEqual([]);
  });
  it('reports a second leader in one term', () => {
    expect(run(electionSafety(), [role(1, 0, 4), role(2, 2, 4)])).toEqual(['two leaders in term 4: n0 and n2']);
  });
});

describe('leader append-only', () => {
  it('allows a leader to append and to compact', () => {
    const c = leaderAppendOnly();
    const log = [noop(1, 1), cmd(2, 1)];
    expect(run(c, [role(1, 0, 1, log), { type: 'sample', time: 2, nodes: [view(0, [...log, cmd(3, 1)], { role: 'leader' })] }, { type: 'sample', time: 3, nodes: [view(0, [cmd(3, 1)], { role: 'leader', snapshotIndex: 2, snapshotTerm: 1 })] }])).toEqual([]);
  });
  it('reports a leader whose entry was overwritten during its term', () => {
    const c = leaderAppendOnly();
    const msgs = run(c, [role(1, 0, 1, [noop(1, 1), cmd(2, 1)]), { type: 'sample', time: 2, nodes: [view(0, [noop(1, 1), cmd(2, 1, 77)], { role: 'leader' })] }]);
    expect(msgs).toHaveLength(1);
    expect(msgs[0]).toContain('had 2/1/op2 and now has 1/op77');
  });
  it('does not compare across terms or incarnations', () => {
    const c = leaderAppendOnly();
    expect(run(c, [role(1, 0, 1, [noop(1, 1), cmd(2, 1)]), { type: 'sample', time: 2, nodes: [view(0, [noop(1, 1)], { role: 'leader', inc: 3 })] }])).toEqual([]);
  });
});

describe('log matching', () => {
  it('accepts logs that agree on a prefix and differ after it', () => {
    const a = view(0, [noop(1, 1), cmd(2, 1), cmd(3, 2)]);
    const b = view(1, [noop(1, 1), cmd(2, 1), cmd(3, 3, 99)]);
    expect(run(logMatching(), [{ type: 'sample', time: 1, nodes: [a, b] }])).toEqual([]);
  });
  it('reports logs that agree at an index but differ below it', () => {
    const a = view(0, [noop(1, 1), cmd(2, 1), cmd(3, 2)]);
    const b = view(1, [noop(1, 1), cmd(2, 1, 55), cmd(3, 2)]);
    const msgs = run(logMatching(), [{ type: 'sample', time: 1, nodes: [a, b] }]);
    expect(msgs[0]).toContain('agree on 3/2 but differ at 2');
  });
  it('reports two different entries made durable under one (index, term)', () => {
    const msgs = run(logMatching(), [
      { type: 'persist', time: 1, node: 0, inc: 1, entries: [cmd(5, 2, 10)], term: null },
      { type: 'persist', time: 2, node: 1, inc: 1, entries: [cmd(5, 2, 11)], term: null },
    ]);
    expect(msgs).toEqual(['two different entries at 5/2: op10 and op11 (n1)']);
  });
});

describe('leader completeness', () => {
  const apply = (time: number, node: number, term: number, entries: LogEntry[]): TraceEvent => ({ type: 'apply', time, node, inc: 1, term, entries });
  it('accepts a later leader that holds every committed entry', () => {
    const log = [noop(1, 1), cmd(2, 1)];
    expect(run(leaderCompleteness(), [apply(1, 0, 1, log), role(2, 1, 2, [...log, noop(3, 2)])])).toEqual([]);
  });
  it('reports a later leader missing a committed entry, even one committed after it won', () => {
    expect(run(leaderCompleteness(), [apply(1, 0, 1, [noop(1, 1), cmd(2, 1)]), role(2, 1, 2, [noop(1, 1), noop(2, 2)])])[0]).toContain('won term 2 without committed entry 2/1/op2');
    expect(run(leaderCompleteness(), [role(1, 1, 3, [noop(1, 1)]), apply(2, 0, 2, [noop(1, 1), cmd(2, 2)])])[0]).toContain('won term 3');
  });
  it('does not require an entry committed in the same or a later term', () => {
    expect(run(leaderCompleteness(), [role(1, 1, 2, [noop(1, 1)]), apply(2, 0, 2, [noop(1, 1), cmd(2, 2)])])).toEqual([]);
  });
});

describe('state machine safety', () => {
  const apply = (node: number, entries: LogEntry[]): TraceEvent => ({ type: 'apply', time: 1, node, inc: 1, term: 1, entries });
  it('accepts nodes applying the same entries, in order, each once', () => {
    expect(run(stateMachineSafety(), [apply(0, [noop(1, 1), cmd(2, 1)]), apply(1, [noop(1, 1)]), apply(1, [cmd(2, 1)])])).toEqual([]);
  });
  it('reports two nodes applying different entries at one index', () => {
    expect(run(stateMachineSafety(), [apply(0, [noop(1, 1), cmd(2, 1)]), apply(1, [noop(1, 1), cmd(2, 2, 9)])])).toEqual(['n1 applied 2/op9 at 2; n0 applied 1/op2']);
  });
  it('reports a skipped or repeated index, and allows a jump to an installed snapshot', () => {
    expect(run(stateMachineSafety(), [apply(0, [noop(1, 1), cmd(3, 1)])])).toEqual(['n0 applied 3 right after 1']);
    expect(run(stateMachineSafety(), [apply(0, [noop(1, 1)]), apply(0, [noop(1, 1)])])).toEqual(['n0 applied 1 right after 1']);
    const install: TraceEvent = { type: 'install', time: 1, node: 0, inc: 1, meta: { index: 5, term: 1, voters: [] }, state: '[]', keep: false };
    expect(run(stateMachineSafety(), [apply(0, [noop(1, 1)]), install, apply(0, [cmd(6, 1)])])).toEqual([]);
  });
  it('reports two different snapshots of the state machine at one index', () => {
    const snap = (node: number, state: string): TraceEvent => ({ type: 'snapshot', time: 1, node, inc: 1, index: 4, state });
    expect(run(stateMachineSafety(), [snap(0, '[["k0",1]]'), snap(1, '[["k0",2]]')])).toHaveLength(1);
  });
});

describe('durability', () => {
  const entry = cmd(1, 1, 42);
  const ack: TraceEvent = { type: 'ack', time: 5, node: 0, index: 1, term: 1, op: 42, data: JSON.stringify(entry.data) };
  const viewOf = (disks: MemoryDisk[]): ClusterView => ({ nodeIds: disks.map((_, i) => `n${i}` as NodeId), quorum: Math.floor(disks.length / 2) + 1, disks, leaderBoundMs: 3000 });
  const disksWith = (n: number, holding: number): MemoryDisk[] =>
    Array.from({ length: n }, (_, i) => {
      const d = new MemoryDisk();
      if (i < holding) new MemoryStorage(d).append([entry]);
      return d;
    });
  it('accepts an acknowledged entry on a majority of disks, or covered by a snapshot', () => {
    expect(run(durability(viewOf(disksWith(3, 2))), [ack])).toEqual([]);
    const disks = disksWith(3, 1);
    for (const d of disks.slice(1)) d.snapshot = { meta: { index: 3, term: 1, voters: [] }, data: '[]' };
    expect(run(durability(viewOf(disks)), [ack])).toEqual([]);
  });
  it('reports an entry acknowledged before a majority made it durable', () => {
    expect(run(durability(viewOf(disksWith(5, 2))), [ack])).toEqual(['op 42, acknowledged by n0 at 1/1, is durable on 2 of 5 disks when acknowledged (a majority is 3)']);
  });
  it('reports a majority copy lost later, when a node crashes', () => {
    const disks = disksWith(3, 2);
    const c = durability(viewOf(disks));
    c.observe(ack);
    disks[1]!.entries = [];
    c.observe({ type: 'crash', time: 9, node: 2, inc: 1, mode: 'now', lostEffects: 0 });
    expect(c.finish().map((v) => v.message)).toEqual(['op 42, acknowledged by n0 at 1/1, is durable on 1 of 3 disks as n2 crashes (a majority is 2)']);
  });
});

describe('linearizability (per key, over the client history)', () => {
  const h = (process: number, type: HistoryEvent['type'], f: HistoryEvent['f'], value: HistoryEvent['value'], time: number, key = 'k0', error?: string): TraceEvent => ({
    type: 'client',
    event: { process, type, f, key, value, time, ...(error !== undefined ? { error } : {}) },
  });
  it('accepts a linearizable history across keys, with failures and operations in doubt', () => {
    const c = linearizability();
    const msgs = run(c, [
      h(0, 'invoke', 'write', 1, 1),
      h(1, 'invoke', 'write', 2, 1, 'k1'),
      h(0, 'ok', 'write', 1, 2),
      h(1, 'info', 'write', 2, 3, 'k1', 'timeout'),
      h(0, 'invoke', 'cas', [1, 3], 4),
      h(0, 'fail', 'cas', [1, 3], 5, 'k0', 'not_leader'),
      h(0, 'invoke', 'read', null, 6),
      h(0, 'ok', 'read', 1, 7),
      { type: 'apply', time: 8, node: 0, inc: 1, term: 1, entries: [{ index: 2, term: 1, kind: 'command', data: { f: 'write', key: 'k1', value: 2, op: 2 } }] },
      h(2, 'invoke', 'read', null, 8, 'k1'),
      h(2, 'ok', 'read', 2, 9, 'k1'),
    ]);
    expect(msgs).toEqual([]);
    expect(c.inconclusive()).toEqual([]);
  });
  it('settles a write in doubt from the trace: never applied, it never happened; applied, it happened by then', () => {
    const inDoubt = [h(0, 'invoke', 'write', 5, 1), h(0, 'info', 'write', 5, 2, 'k0', 'timeout')];
    const apply: TraceEvent = { type: 'apply', time: 3, node: 1, inc: 1, term: 1, entries: [{ index: 1, term: 1, kind: 'command', data: { f: 'write', key: 'k0', value: 5, op: 5 } }] };
    const readNull = [h(1, 'invoke', 'read', null, 4), h(1, 'ok', 'read', null, 5)];
    const read5 = [h(1, 'invoke', 'read', null, 4), h(1, 'ok', 'read', 5, 5)];
    expect(run(linearizability(), [...inDoubt, ...read5])).toHaveLength(1);
    expect(run(linearizability(), [...inDoubt, apply, ...read5])).toEqual([]);
    expect(run(linearizability(), [...inDoubt, ...readNull])).toEqual([]);
    expect(run(linearizability(), [...inDoubt, apply, ...readNull])).toHaveLength(1);
  });
  it('reports a stale read', () => {
    const msgs = run(linearizability(), [h(0, 'invoke', 'write', 1, 1), h(0, 'ok', 'write', 1, 2), h(0, 'invoke', 'write', 2, 3), h(0, 'ok', 'write', 2, 4), h(1, 'invoke', 'read', null, 5), h(1, 'ok', 'read', 1, 6)]);
    expect(msgs).toHaveLength(1);
    expect(msgs[0]).toContain('key k0');
  });
  it('treats a cas that failed on a mismatch as having seen another value', () => {
    const msgs = run(linearizability(), [h(0, 'invoke', 'write', 1, 1), h(0, 'ok', 'write', 1, 2), h(0, 'invoke', 'cas', [1, 5], 3), h(0, 'fail', 'cas', [1, 5], 4, 'k0', 'cas_mismatch')]);
    expect(msgs).toHaveLength(1);
  });
});

describe('liveness', () => {
  const view3: ClusterView = { nodeIds: ['n0', 'n1', 'n2'] as NodeId[], quorum: 2, disks: [], leaderBoundMs: 3000 };
  const end = (over: Partial<Extract<TraceEvent, { type: 'end' }>> = {}): TraceEvent => ({
    type: 'end',
    time: 12_000,
    converged: true,
    pending: null,
    finalReadsDone: true,
    nodes: [0, 1, 2].map((index) => ({ index, applied: 9, state: '[["k0",4]]' })),
    ...over,
  });
  it('accepts a leader soon after healing and a converged cluster', () => {
    expect(run(liveness(view3), [{ type: 'heal', time: 10_000 }, { type: 'stableLeader', time: 10_300, node: 1, term: 4 }, end()])).toEqual([]);
  });
  it('reports a late leader, no convergence, diverging nodes and an unapplied acknowledged write', () => {
    expect(run(liveness(view3), [{ type: 'heal', time: 10_000 }, { type: 'stableLeader', time: 13_500, node: 1, term: 4 }, end()])[0]).toContain('3500ms after healing');
    expect(run(liveness(view3), [{ type: 'heal', time: 10_000 }, end({ converged: false, pending: 'no stable leader' })])).toHaveLength(2);
    const diverged = end({ nodes: [{ index: 0, applied: 9, state: 'a' }, { index: 1, applied: 9, state: 'b' }, { index: 2, applied: 9, state: 'a' }] });
    expect(run(liveness(view3), [{ type: 'heal', time: 10_000 }, { type: 'stableLeader', time: 10_100, node: 0, term: 2 }, diverged])).toHaveLength(1);
    const ack: TraceEvent = { type: 'ack', time: 50, node: 0, index: 12, term: 1, op: 3, data: '{}' };
    expect(run(liveness(view3), [ack, { type: 'heal', time: 10_000 }, { type: 'stableLeader', time: 10_100, node: 0, term: 2 }, end()])).toHaveLength(3);
  });
});

describe('core errors', () => {
  it('turns every throw of a core into a violation', () => {
    expect(run(coreErrors(), [{ type: 'coreError', time: 3, node: 1, error: 'RaftError(invariant_violated): x' }])).toEqual(['n1: RaftError(invariant_violated): x']);
  });
});
