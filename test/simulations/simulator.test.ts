// The simulator itself: a schedule replays exactly; the seed decides the whole
// weather (swarm); each fault kind takes effect the way the fault model says;
// schedules from files are validated; and the client history has the
// documented Jepsen-style shape.
import { describe, expect, it } from 'vitest';
import { scheduleArb } from '../../simulations/arbitrary.js';
import { runSchedule } from '../../simulations/cluster.js';
import { type Fault, type KvSchedule, faultCounts, generateSchedule, normalizeSeed, parseSchedule } from '../../simulations/schedule.js';

/** A quiet 3-node schedule with the given faults, for scenarios. */
function quiet(faults: Fault[], over: Partial<KvSchedule> = {}): KvSchedule {
  return {
    seed: 7,
    nodes: 3,
    safetyMs: 10_000,
    tickMs: 10,
    driftMs: 0,
    diskLatencyMs: 0,
    net: { lossPermille: 0, dupPermille: 0, delayMinMs: 1, delayMeanMs: 2, tailPermille: 0, tailMaxMs: 20, fifo: true },
    raft: { heartbeatTicks: 2, preVote: true, checkQuorum: true, snapshotEvery: 0, snapshotChunkChars: 64, maxEntriesPerAppend: 16, maxInflightAppends: 4 },
    client: { clients: 3, keys: 2, readPermille: 300, casPermille: 200, thinkMaxMs: 20, timeoutMs: 500 },
    faults,
    ...over,
  };
}

describe('replay', () => {
  it('the same schedule gives the same trace and the same history, run after run', () => {
    const s = generateSchedule(1234);
    const a = runSchedule(s, { digest: true, history: true });
    const b = runSchedule(s, { digest: true, history: true });
    expect(a.digest).not.toBeNull();
    expect(b.digest).toBe(a.digest);
    expect(b.history).toEqual(a.history);
    expect(b.stats).toEqual(a.stats);
  });

  it('a different seed gives a different run', () => {
    expect(runSchedule(generateSchedule(1), { digest: true }).digest).not.toBe(runSchedule(generateSchedule(2), { digest: true }).digest);
  });

  it('a schedule survives JSON and validation unchanged (what --schedule replays)', () => {
    const s = generateSchedule(99, { ackBeforePersist: true });
    const parsed = parseSchedule(JSON.stringify(s));
    expect(parsed).toEqual({ ok: true, schedule: s });
  });

  it('refuses a malformed schedule with the path of the first error', () => {
    const bad = { ...generateSchedule(5), nodes: 4 };
    const r = parseSchedule(JSON.stringify(bad));
    expect(r.ok).toBe(false);
    if (!r.ok) expect(r.error).toContain('/nodes');
    expect(parseSchedule('{').ok).toBe(false);
    const mix = { ...generateSchedule(5), client: { ...generateSchedule(5).client, readPermille: 900, casPermille: 200 } };
    expect(parseSchedule(JSON.stringify(mix))).toEqual({ ok: false, error: '/client: readPermille + casPermille must be at most 1000' });
  });

  it('normalises seeds: decimal strings are themselves, other text is hashed', () => {
    expect(normalizeSeed('42')).toBe(42);
    expect(normalizeSeed(42)).toBe(42);
    expect(normalizeSeed('nightly')).toBe(normalizeSeed('nightly'));
    expect(normalizeSeed('nightly')).not.toBe(normalizeSeed('weekly'));
  });
});

describe('swarm: the seed picks the weather', () => {
  const schedules = Array.from({ length: 300 }, (_, i) => generateSchedule(i));

  it('every fault kind is on in some seeds and off in others, and runs are ≥ 10 s of virtual time', () => {
    const kinds = ['crash', 'partition', 'cut', 'clockPause', 'freeze', 'slowDisk', 'transfer'] as const;
    for (const k of kinds) {
      const on = schedules.filter((s) => faultCounts(s)[k] > 0).length;
      expect(on, k).toBeGreaterThan(30);
      expect(on, k).toBeLessThan(290);
    }
    expect(schedules.every((s) => s.safetyMs >= 10_000)).toBe(true);
    expect(new Set(schedules.map((s) => s.nodes))).toEqual(new Set([3, 5]));
    expect(new Set(schedules.map((s) => s.net.lossPermille)).size).toBeGreaterThan(3);
    expect(schedules.some((s) => s.faults.some((f) => f.type === 'crash' && f.nodes.length === s.nodes))).toBe(true);
  });

  it('seed-derived schedules lie in the ranges fast-check generates, so fast-check can shrink them', () => {
    const arb = scheduleArb();
    for (const s of schedules.slice(0, 100)) expect(arb.canShrinkWithoutContext(s)).toBe(true);
    const unsafe = scheduleArb({ unsafe: { ackBeforePersist: true } });
    expect(unsafe.canShrinkWithoutContext(generateSchedule(3, { ackBeforePersist: true }))).toBe(true);
  });
});

describe('the fault model', () => {
  it('a crash loses a persist still in flight on a slow disk, and every effect after it', () => {
    // Slow disks everywhere, and the leader crashes at once, several times.
    const faults: Fault[] = [{ at: 0, type: 'slowDisk', node: 'leader', durationMs: 9_000, latencyMs: 40 }];
    for (let t = 1_000; t < 9_000; t += 700) faults.push({ at: t, type: 'crash', nodes: [0, 1, 2], downMs: 100, mode: 'now', afterEffects: 1 });
    for (let i = 0; i < 3; i++) faults.push({ at: 0, type: 'slowDisk', node: i, durationMs: 9_000, latencyMs: 40 });
    const r = runSchedule(quiet(faults), { trace: true });
    const lost = r.trace!.filter((l) => / crash now lost=[1-9]/.test(l));
    expect(lost.length).toBeGreaterThan(0);
    expect(r.violations).toEqual([]);
  });

  it('crashes can land right after a step (before the next tick) or between the effects of one step', () => {
    const faults: Fault[] = [];
    for (let t = 500; t < 9_000; t += 900) {
      faults.push({ at: t, type: 'crash', nodes: ['leader'], downMs: 150, mode: 'afterStep', afterEffects: 1 });
      faults.push({ at: t + 400, type: 'crash', nodes: [1], downMs: 150, mode: 'midEffects', afterEffects: 2 });
    }
    const r = runSchedule(quiet(faults), { trace: true });
    expect(r.trace!.some((l) => l.includes(' crash afterStep'))).toBe(true);
    expect(r.trace!.some((l) => /crash midEffects lost=[1-9]/.test(l))).toBe(true);
    expect(r.violations).toEqual([]);
  });

  it('partitions (symmetric and one-way), clock pauses, freezes and a leadership transfer fire, heal, and the cluster converges', () => {
    const faults: Fault[] = [
      { at: 1_000, type: 'partition', side: ['leader'], durationMs: 1_500 },
      { at: 3_000, type: 'cut', links: [['leader', 1], [2, 'leader']], durationMs: 1_500 },
      { at: 5_000, type: 'clockPause', node: 'leader', durationMs: 800 },
      { at: 6_500, type: 'freeze', node: 'leader', durationMs: 800 },
      { at: 7_500, type: 'transfer', to: 0 },
      { at: 8_000, type: 'partition', side: [0], durationMs: 5_000 },
    ];
    const r = runSchedule(quiet(faults), { trace: true });
    const faultLines = r.trace!.filter((l) => l.includes(' fault '));
    expect(faultLines.map((l) => l.split(' ')[2])).toEqual(['partition', 'cut', 'clock', 'freeze', 'transfer', 'partition']);
    expect(r.stats.elections).toBeGreaterThan(1);
    expect(r.stats.converged).toBe(true);
    expect(r.violations).toEqual([]);
  });

  it('message loss, duplication and long delays show in the run', () => {
    const r = runSchedule(quiet([], { net: { lossPermille: 100, dupPermille: 50, delayMinMs: 1, delayMeanMs: 5, tailPermille: 40, tailMaxMs: 300, fifo: false } }));
    expect(r.stats.messages.dropped).toBeGreaterThan(r.stats.messages.sent / 20);
    expect(r.stats.messages.duplicated).toBeGreaterThan(0);
    expect(r.violations).toEqual([]);
  });
});

describe('the client history', () => {
  it('is Jepsen-style: one invoke then one completion per process, in time order, with the documented fields', () => {
    const r = runSchedule(generateSchedule(31), { history: true });
    const h = r.history!;
    expect(h.length).toBeGreaterThan(50);
    const open = new Map<number, string>();
    let last = 0;
    for (const e of h) {
      expect(Object.keys(e).sort()).toEqual(expect.arrayContaining(['f', 'key', 'process', 'time', 'type', 'value']));
      expect(['read', 'write', 'cas']).toContain(e.f);
      expect(e.time).toBeGreaterThanOrEqual(last);
      last = e.time;
      if (e.type === 'invoke') {
        expect(open.has(e.process)).toBe(false);
        open.set(e.process, e.f);
      } else {
        expect(open.get(e.process)).toBe(e.f);
        open.delete(e.process);
        if (e.type !== 'ok') expect(typeof e.error).toBe('string');
      }
    }
    // The liveness phase reads every key through the leader.
    const keys = generateSchedule(31).client.keys;
    expect(h.filter((e) => e.type === 'ok' && e.f === 'read' && e.time >= generateSchedule(31).safetyMs).length).toBeGreaterThanOrEqual(keys);
  });
});
