// Links, exit signals, monitors and timers.
import { describe, expect, it } from 'vitest';
import type { DownMessage, ExitMessage, Ref } from '../../runtime/index.js';
import { harness, ofType } from './harness.js';

describe('links and exit signals', () => {
  it('an abnormal exit kills a linked process with the same reason', async () => {
    const h = harness();
    const a = h.idle();
    const b = h.idle({ link: a });
    await h.settle();
    h.rt.exit(a, { type: 'custom', value: 'boom' });
    await h.settle();
    expect(h.exitReason(a)).toEqual({ type: 'custom', value: 'boom' });
    expect(h.exitReason(b)).toEqual({ type: 'custom', value: 'boom' });
  });

  it('propagates along a chain of links', async () => {
    const h = harness();
    const a = h.idle();
    const b = h.idle({ link: a });
    const c = h.idle({ link: b });
    await h.settle();
    h.rt.exit(a, 'shutdown');
    await h.settle();
    expect([a, b, c].map((p) => h.exitReason(p))).toEqual(['shutdown', 'shutdown', 'shutdown']);
  });

  it('a normal exit kills nobody', async () => {
    const h = harness();
    const a = h.rt.spawn({ receive: (_m, ctx) => ctx.exit('normal') });
    const b = h.idle({ link: a });
    await h.settle();
    h.rt.send(a, 'stop');
    await h.settle();
    expect(h.alive(a)).toBe(false);
    expect(h.alive(b)).toBe(true);
  });

  it('a trapping process receives {type: EXIT, from, reason} instead of dying', async () => {
    const h = harness();
    const trap = h.collector({ trapExit: true });
    const linker = h.rt.spawn({ init: (ctx) => ctx.link(trap.pid), receive: () => {} });
    await h.settle();
    h.rt.exit(linker, 'shutdown');
    await h.settle();
    expect(h.alive(trap.pid)).toBe(true);
    expect(ofType<ExitMessage>(trap.received, 'EXIT')).toEqual([{ type: 'EXIT', from: linker, reason: 'shutdown' }]);
  });

  it('exit(pid, kill) cannot be trapped, and linked processes see killed', async () => {
    const h = harness();
    const watcher = h.collector({ trapExit: true });
    const victim = h.rt.spawn({
      init: (ctx) => {
        ctx.trapExit(true);
        ctx.link(watcher.pid);
      },
      receive: () => {},
    });
    await h.settle();
    h.rt.exit(victim, 'kill');
    await h.settle();
    expect(h.exitReason(victim)).toBe('killed');
    expect(h.alive(watcher.pid)).toBe(true);
    expect(watcher.received).toEqual([{ type: 'EXIT', from: victim, reason: 'killed' }]);
  });

  it('linking to a dead process delivers noproc: EXIT when trapping, death otherwise', async () => {
    const h = harness();
    const dead = h.idle();
    h.rt.exit(dead, 'kill');
    await h.settle();
    const trap = h.rt.spawn({
      init: (ctx) => {
        ctx.trapExit(true);
        ctx.link(dead);
      },
      receive: () => {},
    });
    const notTrapping = h.rt.spawn({ init: (ctx) => ctx.link(dead), receive: () => {} });
    const got: unknown[] = [];
    const trap2 = h.rt.spawn({
      init: (ctx) => {
        ctx.trapExit(true);
        ctx.link(dead);
      },
      receive: (m) => void got.push(m),
    });
    await h.settle();
    expect(h.alive(trap)).toBe(true);
    expect(got).toEqual([{ type: 'EXIT', from: dead, reason: 'noproc' }]);
    expect(h.alive(trap2)).toBe(true);
    expect(h.exitReason(notTrapping)).toBe('noproc');
  });

  it('exit(pid, normal) is ignored by a non-trapping process, but exit(self, normal) ends the caller', async () => {
    const h = harness();
    const a = h.idle();
    h.rt.exit(a, 'normal');
    const b = h.rt.spawn({ receive: (_m, ctx) => ctx.exit(ctx.self, 'normal') });
    h.rt.send(b, 'go');
    await h.settle();
    expect(h.alive(a)).toBe(true);
    expect(h.exitReason(b)).toBe('normal');
  });

  it('unlink stops propagation', async () => {
    const h = harness();
    const a = h.idle();
    const b = h.rt.spawn<string>({
      init: (ctx) => ctx.link(a),
      receive: (_m, ctx) => ctx.unlink(a),
    });
    await h.settle();
    h.rt.send(b, 'unlink');
    await h.settle();
    h.rt.exit(a, 'shutdown');
    await h.settle();
    expect(h.alive(b)).toBe(true);
    expect(h.rt.processInfo(b)?.links).toEqual([]);
  });

  it('a fatal signal ends the receiver before it handles messages already queued', async () => {
    const h = harness();
    const seen: string[] = [];
    const b = h.rt.spawn<string>({ receive: (m) => void seen.push(m) });
    h.rt.send(b, 'one');
    h.rt.exit(b, 'shutdown');
    await h.settle();
    expect(seen).toEqual([]);
    expect(h.exitReason(b)).toBe('shutdown');
  });

  it('a trapped EXIT keeps its order with the sender’s earlier messages', async () => {
    const h = harness();
    const c = h.collector({ trapExit: true });
    await h.settle();
    h.rt.send(c.pid, 'before');
    h.rt.exit(c.pid, 'shutdown');
    h.rt.send(c.pid, 'after');
    await h.settle();
    expect(c.received).toEqual(['before', { type: 'EXIT', from: h.rt.externalPid, reason: 'shutdown' }, 'after']);
  });
});

describe('monitors', () => {
  it('monitor returns a ref; DOWN carries the exit reason', async () => {
    const h = harness();
    const target = h.idle();
    const got: unknown[] = [];
    const watcher = h.rt.spawn({ init: (ctx) => void got.push(ctx.monitor(target)), receive: (m) => void got.push(m) });
    await h.settle();
    expect(h.rt.processInfo(watcher)?.monitors).toEqual([target]);
    expect(h.rt.processInfo(target)?.monitoredBy).toEqual([watcher]);
    h.rt.exit(target, { type: 'custom', value: 'bye' });
    await h.settle();
    const [ref, down] = got as [Ref, DownMessage];
    expect(ref).toMatch(/^#Ref</);
    expect(down).toEqual({ type: 'DOWN', ref, pid: target, reason: { type: 'custom', value: 'bye' } });
    expect(h.rt.processInfo(watcher)?.monitors).toEqual([]);
  });

  it('monitoring a dead pid delivers DOWN with noproc', async () => {
    const h = harness();
    const dead = h.idle();
    h.rt.exit(dead, 'kill');
    await h.settle();
    const got: unknown[] = [];
    h.rt.spawn({ init: (ctx) => void got.push(ctx.monitor(dead)), receive: (m) => void got.push(m) });
    await h.settle();
    expect(got[1]).toEqual({ type: 'DOWN', ref: got[0], pid: dead, reason: 'noproc' });
  });

  it('monitoring an unregistered name delivers DOWN noproc naming it; a registered name monitors its process', async () => {
    const h = harness();
    const got: unknown[] = [];
    const t = h.idle();
    h.rt.register('svc', t);
    h.rt.spawn({
      init: (ctx) => {
        ctx.monitor('ghost');
        ctx.monitor('svc');
      },
      receive: (m) => void got.push(m),
    });
    await h.settle();
    h.rt.exit(t, 'shutdown');
    await h.settle();
    expect(got).toMatchObject([
      { type: 'DOWN', pid: 'ghost', reason: 'noproc' },
      { type: 'DOWN', pid: t, reason: 'shutdown' },
    ]);
  });

  it('demonitor with flush removes a DOWN already in the mailbox; without flush it stays', async () => {
    const h = harness();
    const t1 = h.idle();
    const t2 = h.idle();
    const got: unknown[] = [];
    let refs: Ref[] = [];
    let gate!: () => void;
    const w = h.rt.spawn<string>({
      init: (ctx) => {
        refs = [ctx.monitor(t1), ctx.monitor(t2)];
      },
      receive: async (m, ctx) => {
        if (m === 'wait') {
          await new Promise<void>((r) => (gate = r));
          ctx.demonitor(refs[0]!, { flush: true });
          ctx.demonitor(refs[1]!);
          return;
        }
        got.push(m);
      },
    });
    await h.settle();
    h.rt.send(w, 'wait');
    await h.settle();
    h.rt.exit(t1, 'shutdown');
    h.rt.exit(t2, 'shutdown');
    await h.settle(); // both DOWNs are now queued behind the suspended handler
    expect(h.rt.processInfo(w)?.mailboxLen).toBe(2);
    gate();
    await h.settle();
    expect(got).toEqual([{ type: 'DOWN', ref: refs[1], pid: t2, reason: 'shutdown' }]);
  });

  it('demonitor before the exit means no DOWN at all', async () => {
    const h = harness();
    const t = h.idle();
    const got: unknown[] = [];
    const w = h.rt.spawn<string>({
      init: (ctx) => {
        const ref = ctx.monitor(t);
        ctx.demonitor(ref);
      },
      receive: (m) => void got.push(m),
    });
    await h.settle();
    h.rt.exit(t, 'shutdown');
    await h.settle();
    expect(got).toEqual([]);
    expect(h.rt.processInfo(w)?.monitors).toEqual([]);
  });
});

describe('timers', () => {
  it('sendAfter delivers after the virtual delay, not before', async () => {
    const h = harness();
    const c = h.collector();
    h.rt.sendAfter(100, c.pid, 'tick');
    await h.advance(99);
    expect(c.received).toEqual([]);
    await h.advance(1);
    expect(c.received).toEqual(['tick']);
  });

  it('cancelTimer returns the time left, or false once fired', async () => {
    const h = harness();
    const c = h.collector();
    const t1 = h.rt.sendAfter(100, c.pid, 'a');
    const t2 = h.rt.sendAfter(50, c.pid, 'b');
    await h.advance(30);
    expect(h.rt.cancelTimer(t1)).toBe(70);
    await h.advance(100);
    expect(h.rt.cancelTimer(t2)).toBe(false);
    expect(h.rt.cancelTimer(t1)).toBe(false);
    expect(c.received).toEqual(['b']);
  });

  it('a timer to a pid is cancelled when that process exits; to a name it resolves at fire time', async () => {
    const h = harness();
    const c = h.collector();
    const ref = h.rt.sendAfter(100, c.pid, 'x');
    h.rt.exit(c.pid, 'kill');
    await h.settle();
    expect(h.rt.cancelTimer(ref)).toBe(false);
    h.rt.sendAfter(50, 'later', 'hello');
    const late = h.collector({ name: 'later' });
    await h.advance(60);
    expect(late.received).toEqual(['hello']);
  });

  it('timers set from inside a process go through the injected clock', async () => {
    const h = harness();
    const c = h.collector();
    h.rt.spawn({ init: (ctx) => void ctx.sendAfter(1000, c.pid, 'later'), receive: () => {} });
    await h.advance(999);
    expect(c.received).toEqual([]);
    await h.advance(1);
    expect(c.received).toEqual(['later']);
    expect(h.env.clock.now()).toBe(1000);
  });
});


describe('resources a process owns (ctx.own)', () => {
  /** A resource that records its closes in `log` under `name`, or throws when closed. */
  const resource = (log: string[], name: string, fails = false) => ({
    close(): void {
      log.push(name);
      if (fails) throw new Error(`${name} would not close`);
    },
  });
  /** A process that owns `resources`, in that order, and waits. */
  const owner = (h: ReturnType<typeof harness>, ...resources: { close(): void }[]) =>
    h.rt.spawn({
      init: (ctx) => {
        for (const r of resources) ctx.own(r);
      },
      receive: () => {},
    });

  it('are closed when the process is killed (no terminate runs), newest first, before links and monitors hear of it', async () => {
    const h = harness();
    const log: string[] = [];
    const victim = owner(h, resource(log, 'file'), resource(log, 'socket'));
    const seen: string[] = [];
    const watcher = h.rt.spawn({
      init: (ctx) => {
        ctx.trapExit(true);
        ctx.link(victim);
        ctx.monitor(victim);
      },
      // What the watcher sees of the death, with what was closed by then.
      receive: (m) => {
        seen.push(`${(m as { type: string }).type} after ${log.join('+')}`);
      },
    });
    await h.settle();
    h.rt.exit(victim, 'kill');
    await h.settle();
    expect(h.alive(watcher)).toBe(true);
    expect(log).toEqual(['socket', 'file']);
    expect(seen).toEqual(['EXIT after socket+file', 'DOWN after socket+file']);
  });

  it('are closed at a normal exit and at a crash, not if disowned first, and a late own closes at once', async () => {
    const h = harness();
    const log: string[] = [];
    const kept = resource(log, 'kept');
    let late: (() => void) | undefined;
    const p = h.rt.spawn({
      init: (ctx) => {
        ctx.own(resource(log, 'a'));
        ctx.own(kept);
        expect(ctx.disown(kept)).toBe(true);
        expect(ctx.disown(kept)).toBe(false);
        late = () => ctx.own(resource(log, 'late'));
      },
      receive: (m) => {
        throw new Error(String(m));
      },
    });
    await h.settle();
    h.rt.send(p, 'crash');
    await h.settle();
    expect(h.exitReason(p)).toMatchObject({ type: 'error', message: 'crash' });
    expect(log).toEqual(['a']);
    late!();
    expect(log).toEqual(['a', 'late']);
    const q = h.rt.spawn({ init: (ctx) => ctx.own(resource(log, 'b')), receive: (_m, ctx) => ctx.exit('normal') });
    await h.settle();
    h.rt.send(q, 'stop');
    await h.settle();
    expect(log).toEqual(['a', 'late', 'b']);
  });

  it('a close that throws is reported and stops neither the death nor the other closes', async () => {
    const h = harness();
    const log: string[] = [];
    const p = owner(h, resource(log, 'first'), resource(log, 'broken', true));
    await h.settle();
    h.rt.exit(p, 'kill');
    await h.settle();
    expect(h.alive(p)).toBe(false);
    expect(log).toEqual(['broken', 'first']);
    expect(h.events.filter((e) => e.type === 'resource_close_failed')).toMatchObject([{ pid: p, error: 'Error: broken would not close' }]);
  });
});
