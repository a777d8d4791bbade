// Processes, sending, ordering, registry: the kernel's basic contract.
import { describe, expect, it } from 'vitest';
import { RuntimeError, type Pid, type ProcessContext } from '../../runtime/index.js';
import { harness } from './harness.js';

describe('processes', () => {
  it('spawn returns a pid; init runs before the first message; self is the pid', async () => {
    const h = harness();
    const log: string[] = [];
    let selfSeen: Pid | undefined;
    const pid = h.rt.spawn<string>({
      init: (ctx) => {
        selfSeen = ctx.self;
        log.push('init');
      },
      receive: (m) => {
        log.push(m);
      },
    });
    h.rt.send(pid, 'hello');
    await h.settle();
    expect(pid).toMatch(/^<nonode@nohost\.0\.\d+>$/);
    expect(selfSeen).toBe(pid);
    expect(log).toEqual(['init', 'hello']);
  });

  it('every process is a nact actor: a process is woken by nact, not run inline by send', async () => {
    const h = harness();
    const log: string[] = [];
    const pid = h.rt.spawn<string>({ receive: (m) => void log.push(m) });
    h.rt.send(pid, 'a');
    expect(log).toEqual([]); // delivery happens in a later nact dispatch
    await h.settle();
    expect(log).toEqual(['a']);
  });

  it('sends to a registered name; to an unknown name throws not_registered; to a dead pid is dropped', async () => {
    const h = harness();
    const c = h.collector({ name: 'sink' });
    h.rt.send('sink', 1);
    expect(() => h.rt.send('nobody', 1)).toThrow(RuntimeError);
    try {
      h.rt.send('nobody', 1);
    } catch (e) {
      expect((e as RuntimeError).code).toBe('not_registered');
    }
    await h.settle();
    h.rt.exit(c.pid, 'kill');
    await h.settle();
    expect(() => h.rt.send(c.pid, 2)).not.toThrow();
    expect(c.received).toEqual([1]);
  });

  it('preserves per-pair order between two processes', async () => {
    const h = harness({ batch: 3 });
    const sink = h.collector();
    const producer = h.rt.spawn<number>({
      receive: (n, ctx) => {
        for (let i = 0; i < n; i++) ctx.send(sink.pid, i);
      },
    });
    h.rt.send(producer, 50);
    await h.settle();
    expect(sink.received).toEqual(Array.from({ length: 50 }, (_, i) => i));
  });

  it('handles one message at a time, to completion, even when the handler is async', async () => {
    const h = harness();
    const log: string[] = [];
    let inFlight = 0;
    let maxInFlight = 0;
    const pid = h.rt.spawn<number>({
      receive: async (n, ctx) => {
        inFlight++;
        maxInFlight = Math.max(maxInFlight, inFlight);
        log.push(`start ${n}`);
        await new Promise<void>((r) => ctx.runtime.env.timers.set(10 - n, r));
        log.push(`end ${n}`);
        inFlight--;
      },
    });
    for (let i = 0; i < 3; i++) h.rt.send(pid, i);
    await h.advance(100);
    expect(maxInFlight).toBe(1);
    expect(log).toEqual(['start 0', 'end 0', 'start 1', 'end 1', 'start 2', 'end 2']);
  });

  it('a busy process yields to nact after `batch` messages, so others still run', async () => {
    const h = harness({ batch: 4 });
    const order: string[] = [];
    const a = h.rt.spawn<number>({ receive: (n) => void order.push(`a${n}`) });
    const b = h.rt.spawn<number>({ receive: (n) => void order.push(`b${n}`) });
    for (let i = 0; i < 8; i++) h.rt.send(a, i);
    for (let i = 0; i < 8; i++) h.rt.send(b, i);
    await h.settle();
    // a's first batch, then b's first batch, then the rest: interleaved by batch.
    expect(order.slice(0, 8)).toEqual(['a0', 'a1', 'a2', 'a3', 'b0', 'b1', 'b2', 'b3']);
    expect(order).toHaveLength(16);
  });

  it('a throwing handler ends the process with the error as its reason, and it is reported', async () => {
    const h = harness();
    const pid = h.rt.spawn({
      receive: () => {
        throw new TypeError('boom');
      },
    });
    h.rt.send(pid, 'x');
    await h.settle();
    expect(h.alive(pid)).toBe(false);
    expect(h.exitReason(pid)).toMatchObject({ type: 'error', name: 'TypeError', message: 'boom' });
  });

  it('exit/1 inside a handler ends the process at once with that reason', async () => {
    const h = harness();
    let after = false;
    const pid = h.rt.spawn({
      receive: (_m, ctx) => {
        ctx.exit({ type: 'custom', value: 'done' });
        after = true;
      },
    });
    h.rt.send(pid, 'x');
    await h.settle();
    expect(after).toBe(false);
    expect(h.exitReason(pid)).toEqual({ type: 'custom', value: 'done' });
  });

  it('a killed process in an async handler is dead at once; its context refuses further work', async () => {
    const h = harness();
    let ctxRef: ProcessContext | undefined;
    let resume!: () => void;
    const sink = h.collector();
    const pid = h.rt.spawn({
      receive: async (_m, ctx) => {
        ctxRef = ctx;
        await new Promise<void>((r) => (resume = r));
        ctx.send(sink.pid, 'after-death');
      },
    });
    h.rt.send(pid, 'go');
    await h.settle();
    h.rt.exit(pid, 'kill');
    await h.settle();
    expect(h.alive(pid)).toBe(false);
    expect(h.exitReason(pid)).toBe('killed');
    resume();
    await h.settle();
    expect(sink.received).toEqual([]);
    expect(() => ctxRef!.spawn({ receive: () => {} })).toThrow(/exited/);
  });
});

describe('registry', () => {
  it('register, whereis, unregister', async () => {
    const h = harness();
    const pid = h.idle();
    h.rt.register('svc', pid);
    expect(h.rt.whereis('svc')).toBe(pid);
    expect(h.rt.registered()).toEqual(['svc']);
    h.rt.unregister('svc');
    expect(h.rt.whereis('svc')).toBeUndefined();
  });

  it('rejects a taken name, a second name, a dead pid, an invalid name and unregistering an unknown name, with typed errors', async () => {
    const h = harness();
    const a = h.idle();
    const b = h.idle();
    h.rt.register('svc', a);
    const code = (f: () => void): string | undefined => {
      try {
        f();
      } catch (e) {
        return (e as RuntimeError).code;
      }
      return undefined;
    };
    expect(code(() => h.rt.register('svc', b))).toBe('name_taken');
    expect(code(() => h.rt.register('other', a))).toBe('already_registered');
    expect(code(() => h.rt.register('', b))).toBe('invalid_name');
    expect(code(() => h.rt.register('<fake>', b))).toBe('invalid_name');
    expect(code(() => h.rt.unregister('nope'))).toBe('not_registered');
    h.rt.exit(b, 'kill');
    await h.settle();
    expect(code(() => h.rt.register('late', b))).toBe('noproc');
  });

  it('frees a name when its process exits', async () => {
    const h = harness();
    const a = h.idle();
    h.rt.register('svc', a);
    h.rt.exit(a, 'kill');
    await h.settle();
    expect(h.rt.whereis('svc')).toBeUndefined();
    const b = h.idle();
    h.rt.register('svc', b);
    expect(h.rt.whereis('svc')).toBe(b);
  });

  it('a process can register itself, and spawn can register atomically', async () => {
    const h = harness();
    const a = h.rt.spawn({ init: (ctx) => ctx.register('me'), receive: () => {} });
    const b = h.rt.spawn({ receive: () => {} }, { name: 'named' });
    expect(h.rt.whereis('named')).toBe(b);
    await h.settle();
    expect(h.rt.whereis('me')).toBe(a);
    expect(() => h.rt.spawn({ receive: () => {} }, { name: 'named' })).toThrow(/already registered/);
  });
});

describe('exits that race with async handlers', () => {
  it('a fatal signal to itself before the first await ends the process at once, even if the promise never settles', async () => {
    const h = harness();
    const pid = h.rt.spawn({
      receive: async (_m, ctx) => {
        ctx.exit(ctx.self, 'shutdown');
        await new Promise(() => {});
      },
    });
    h.rt.send(pid, 'go');
    await h.settle();
    expect(h.exitReason(pid)).toBe('shutdown');
  });

  it('a dead process’s leftover async code cannot unregister names or trap exits', async () => {
    const h = harness();
    let resume!: () => void;
    let err: unknown;
    const pid = h.rt.spawn({
      receive: async (_m, ctx) => {
        await new Promise<void>((r) => (resume = r));
        try {
          ctx.unregister('svc');
        } catch (e) {
          err = e;
        }
      },
    });
    h.rt.send(pid, 'go');
    await h.settle();
    h.rt.exit(pid, 'kill');
    await h.settle();
    const other = h.idle();
    h.rt.register('svc', other);
    resume();
    await h.settle();
    expect((err as { code?: string }).code).toBe('dead_process');
    expect(h.rt.whereis('svc')).toBe(other);
  });
});
