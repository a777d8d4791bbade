// The injected environment: seeded randomness, the virtual clock's timer order,
// the real adapter, and the mailbox ring buffer the kernel relies on.
import { describe, expect, it } from 'vitest';
import { Runtime, VirtualEnv, realEnv, seededRng } from '../../runtime/index.js';
import { Mailbox } from '../../runtime/mailbox.js';

describe('seeded rng', () => {
  it('the same seed gives the same sequence; another seed another one; values are in range', () => {
    const a = seededRng('s1');
    const b = seededRng('s1');
    const c = seededRng('s2');
    const xs = Array.from({ length: 100 }, () => a.next());
    expect(Array.from({ length: 100 }, () => b.next())).toEqual(xs);
    expect(Array.from({ length: 100 }, () => c.next())).not.toEqual(xs);
    expect(xs.every((x) => x >= 0 && x < 1)).toBe(true);
    const ints = Array.from({ length: 1000 }, () => a.int(3, 5));
    expect(new Set(ints)).toEqual(new Set([3, 4, 5]));
  });
});

describe('virtual env', () => {
  it('fires timers in (due time, creation) order and moves the clock only when advanced', async () => {
    const env = new VirtualEnv(1);
    const fired: string[] = [];
    env.timers.set(20, () => fired.push('b@20'));
    env.timers.set(10, () => fired.push('a@10'));
    env.timers.set(20, () => fired.push('c@20'));
    const cancelled = env.timers.set(15, () => fired.push('never'));
    env.timers.clear(cancelled);
    expect(env.clock.now()).toBe(0);
    await env.advance(19);
    expect(fired).toEqual(['a@10']);
    expect(env.clock.now()).toBe(19);
    await env.advance(1);
    expect(fired).toEqual(['a@10', 'b@20', 'c@20']);
  });

  it('a timer set by a timer callback fires within the same advance when due', async () => {
    const env = new VirtualEnv(1);
    const times: number[] = [];
    env.timers.set(5, () => {
      times.push(env.clock.now());
      env.timers.set(5, () => times.push(env.clock.now()));
    });
    await env.runUntilIdle();
    expect(times).toEqual([5, 10]);
  });
});

describe('real env', () => {
  it('drives a runtime with host timers', async () => {
    const rt = new Runtime({ env: realEnv() });
    const got = new Promise<unknown>((resolve) => {
      const pid = rt.spawn({ receive: (m) => resolve(m) });
      rt.sendAfter(1, pid, 'tick');
    });
    expect(await got).toBe('tick');
    rt.stop();
  });
});

describe('mailbox', () => {
  it('is FIFO across growth and wrap-around, and retain keeps order', () => {
    const m = new Mailbox();
    const out: unknown[] = [];
    for (let i = 0; i < 5; i++) m.push(i);
    out.push(m.shift(), m.shift());
    for (let i = 5; i < 40; i++) m.push(i);
    while (m.size > 0) out.push(m.shift());
    expect(out).toEqual(Array.from({ length: 40 }, (_, i) => i));
    for (let i = 0; i < 10; i++) m.push(i);
    m.retain((x) => (x as number) % 2 === 0);
    expect(m.toArray()).toEqual([0, 2, 4, 6, 8]);
  });
});
