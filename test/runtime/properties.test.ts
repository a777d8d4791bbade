// Properties (fast-check): for any crash schedule, supervisors follow the
// intensity/period rule and their strategy; for any interleaving, per-pair
// message order holds. A failure prints the seed and the shrunk counterexample;
// re-run with `fc.assert(..., { seed, path })`.
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  type ChildSpec,
  type Pid,
  type ServerBehaviour,
  type Strategy,
  ok,
  startLinkServer,
  startSupervisor,
  whichChildren,
} from '../../runtime/index.js';
import { harness } from './harness.js';

/** A worker that traps exits and records its own start and terminate. */
function recordingWorker(id: string, log: string[]): ChildSpec {
  const b: ServerBehaviour<null> = {
    name: id,
    init: (_a, ctx) => {
      ctx.trapExit(true);
      log.push(`start ${id}`);
      return ok(null);
    },
    terminate: () => void log.push(`stop ${id}`),
  };
  return { id, start: (parent) => startLinkServer(parent, b, undefined) };
}

async function childPid(h: ReturnType<typeof harness>, sup: Pid, id: string): Promise<Pid> {
  const c = (await whichChildren(h.rt, sup)).find((x) => x.id === id);
  return c!.pid as Pid;
}

/** The pure model of OTP's rule: restart times within the period, newest first. */
function modelSurvival(crashTimes: number[], intensity: number, period: number): { survivedCrashes: number; alive: boolean } {
  let window: number[] = [];
  for (let i = 0; i < crashTimes.length; i++) {
    const t = crashTimes[i]!;
    window = [t, ...window.filter((x) => t - x <= period)];
    if (window.length > intensity) return { survivedCrashes: i, alive: false };
  }
  return { survivedCrashes: crashTimes.length, alive: true };
}

describe('supervisor properties', () => {
  it('one_for_one: survival and restarts follow the intensity/period rule for any crash schedule', async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.integer({ min: 0, max: 4 }),
        fc.integer({ min: 50, max: 2000 }),
        fc.array(fc.record({ delay: fc.integer({ min: 0, max: 800 }), child: fc.integer({ min: 0, max: 2 }) }), { maxLength: 12 }),
        async (intensity, period, crashes) => {
          const h = harness();
          const log: string[] = [];
          const ids = ['a', 'b', 'c'];
          const r = await startSupervisor(h.rt, { strategy: 'one_for_one', intensity, period }, ids.map((id) => recordingWorker(id, log)));
          if (r.type !== 'ok') throw new Error('supervisor did not start');
          log.length = 0;
          const times: number[] = [];
          const crashed: string[] = [];
          for (const c of crashes) {
            await h.advance(c.delay);
            if (!h.alive(r.pid)) break;
            const id = ids[c.child]!;
            const pid = await childPid(h, r.pid, id);
            const others = await Promise.all(ids.filter((x) => x !== id).map((x) => childPid(h, r.pid, x)));
            times.push(h.env.clock.now());
            crashed.push(id);
            h.rt.exit(pid, 'kill'); // the workers trap exits, so only kill crashes them
            await h.settle();
            if (h.alive(r.pid)) {
              // one_for_one: the siblings are untouched
              const after = await Promise.all(ids.filter((x) => x !== id).map((x) => childPid(h, r.pid, x)));
              expect(after).toEqual(others);
            }
          }
          const model = modelSurvival(times, intensity, period);
          expect(h.alive(r.pid)).toBe(model.alive);
          // Each survived crash restarted exactly the crashed child, in crash order.
          const restarts = log.filter((l) => l.startsWith('start')).map((l) => l.slice(6));
          expect(restarts).toEqual(crashed.slice(0, model.survivedCrashes));
          if (!model.alive) {
            expect(h.exitReason(r.pid)).toBe('shutdown');
            expect(h.events.some((e) => e.type === 'supervisor_report' && e.kind === 'shutdown' && e.reason === 'reached_max_restart_intensity')).toBe(true);
          }
        },
      ),
      { numRuns: 60 },
    );
  });

  it('one_for_all / rest_for_one / one_for_one: who is stopped (in reverse order) and restarted (in order) matches the strategy', async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.constantFrom<Strategy>('one_for_one', 'one_for_all', 'rest_for_one'),
        fc.integer({ min: 1, max: 5 }),
        fc.nat(),
        async (strategy, k, pick) => {
          const h = harness();
          const log: string[] = [];
          const ids = Array.from({ length: k }, (_, i) => `w${i}`);
          const crashIdx = pick % k;
          const r = await startSupervisor(h.rt, { strategy, intensity: 10, period: 1000 }, ids.map((id) => recordingWorker(id, log)));
          if (r.type !== 'ok') throw new Error('supervisor did not start');
          expect(log).toEqual(ids.map((id) => `start ${id}`));
          log.length = 0;
          const victim = await childPid(h, r.pid, ids[crashIdx]!);
          h.rt.exit(victim, 'kill');
          await h.settle();
          const affected = strategy === 'one_for_one' ? [crashIdx] : strategy === 'one_for_all' ? ids.map((_, i) => i) : ids.map((_, i) => i).filter((i) => i >= crashIdx);
          const stoppedSiblings = affected.filter((i) => i !== crashIdx).reverse().map((i) => `stop ${ids[i]}`);
          const restarted = affected.map((i) => `start ${ids[i]}`);
          expect(log).toEqual([...stoppedSiblings, ...restarted]);
        },
      ),
      { numRuns: 80 },
    );
  });
});

describe('message order property', () => {
  it('for any interleaving of senders and any batch size, each sender’s messages arrive in order', async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.integer({ min: 1, max: 8 }),
        fc.array(fc.integer({ min: 0, max: 3 }), { minLength: 1, maxLength: 200 }),
        async (batch, schedule) => {
          const h = harness({ batch });
          const got: [number, number][] = [];
          const sink = h.rt.spawn<[number, number]>({ receive: (m) => void got.push(m) });
          const senders = [0, 1, 2, 3].map((k) => {
            let seq = 0;
            return h.rt.spawn<'go'>({ receive: (_m, ctx) => ctx.send(sink, [k, seq++]) });
          });
          for (const k of schedule) h.rt.send(senders[k]!, 'go');
          await h.settle();
          expect(got).toHaveLength(schedule.length);
          for (let k = 0; k < 4; k++) {
            const seqs = got.filter(([s]) => s === k).map(([, n]) => n);
            expect(seqs).toEqual(seqs.map((_, i) => i));
          }
        },
      ),
      { numRuns: 100 },
    );
  });
});
