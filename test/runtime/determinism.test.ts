// Determinism: with the virtual env, a seed decides the whole run. Two runs of a
// randomized scenario (a supervision tree under random crashes, calls, casts and
// timers) with the same seed produce identical event traces.
import { describe, expect, it } from 'vitest';
import {
  type Pid,
  type RuntimeEvent,
  type ServerBehaviour,
  noreply,
  ok,
  reply,
  startSupervisor,
  supervisorSpec,
  whichChildren,
  workerSpec,
} from '../../runtime/index.js';
import { harness } from './harness.js';

type Req = { type: 'bump' } | { type: 'read' };
type Cast = { type: 'tell'; to: Pid; n: number };
type Info = { type: 'tick' } | { type: 'told'; n: number };

const worker: ServerBehaviour<number, number, Req, number, Cast, Info> = {
  name: 'det_worker',
  init: (n, ctx) => {
    ctx.sendAfter(25 + n * 7, ctx.self, { type: 'tick' });
    return ok(n);
  },
  handleCall: (req, _f, s) => (req.type === 'bump' ? reply(s + 1, s + 1) : reply(s, s)),
  handleCast(msg, s, ctx) {
    ctx.send(msg.to, { type: 'told', n: msg.n });
    return noreply(s);
  },
  handleInfo(msg, s, ctx) {
    if (msg.type === 'tick') {
      ctx.sendAfter(40, ctx.self, { type: 'tick' });
      return noreply(s + 1);
    }
    return noreply(msg.type === 'told' ? s + msg.n : s);
  },
};

async function runScenario(seed: number): Promise<string[]> {
  const h = harness({ seed });
  const rng = h.env.rng;
  const r = await startSupervisor(h.rt, { strategy: 'one_for_one', intensity: 20, period: 1000 }, [
    workerSpec('w1', worker, 1),
    workerSpec('w2', worker, 2),
    supervisorSpec('inner', { strategy: 'rest_for_one', intensity: 20, period: 1000 }, [workerSpec('w3', worker, 3), workerSpec('w4', worker, 4, { restart: 'transient' })]),
  ]);
  if (r.type !== 'ok') throw new Error('root did not start');
  const workers = async (): Promise<Pid[]> => {
    const top = await whichChildren(h.rt, r.pid);
    const inner = top.find((c) => c.id === 'inner')?.pid;
    const innerKids = inner !== undefined && inner !== 'restarting' ? await whichChildren(h.rt, inner) : [];
    return [...top, ...innerKids].filter((c) => c.type === 'worker' && typeof c.pid === 'string' && c.pid !== 'restarting').map((c) => c.pid as Pid);
  };
  for (let step = 0; step < 40 && h.alive(r.pid); step++) {
    await h.advance(rng.int(0, 60));
    const ws = await workers();
    if (ws.length === 0) continue;
    const target = ws[rng.int(0, ws.length - 1)]!;
    switch (rng.int(0, 3)) {
      case 0:
        h.rt.exit(target, rng.next() < 0.5 ? 'kill' : { type: 'custom', value: `crash${step}` });
        break;
      case 1:
        await h.rt.call(target, { type: 'bump' }).catch(() => undefined);
        break;
      case 2:
        h.rt.cast(target, { type: 'tell', to: ws[rng.int(0, ws.length - 1)]!, n: rng.int(1, 9) });
        break;
      default:
        h.rt.send(target, { type: 'told', n: 1 });
    }
  }
  await h.advance(500);
  return h.events.map((e: RuntimeEvent) => JSON.stringify(e));
}

describe('determinism', () => {
  it('two runs with the same seed produce identical event traces', async () => {
    const a = await runScenario(42);
    const b = await runScenario(42);
    expect(a.length).toBeGreaterThan(50);
    expect(b).toEqual(a);
    // The scenario really exercised failures and restarts.
    expect(a.some((e) => e.includes('"child_terminated"'))).toBe(true);
  });

  it('a different seed produces a different trace (the seed decides the run)', async () => {
    const a = await runScenario(1);
    const b = await runScenario(2);
    expect(b).not.toEqual(a);
  });
});
