// gen_server: callbacks, the call protocol and its typed errors, init outcomes,
// crash handling and termination.
import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import {
  CallTimeout,
  type ExitReason,
  type From,
  NoProc,
  type Pid,
  RuntimeError,
  ServerExited,
  type ServerBehaviour,
  type StartResult,
  ignore,
  noreply,
  ok,
  reply,
  startLinkServer,
  startServer,
  stop,
  stopReply,
  stopServer,
} from '../../runtime/index.js';
import { harness } from './harness.js';

type Req = { type: 'get' } | { type: 'add'; n: number } | { type: 'slow'; ms: number } | { type: 'crash' } | { type: 'bad' } | { type: 'stop_with_reply' };
type Cast = { type: 'set'; n: number } | { type: 'stop'; reason: ExitReason };
type Info = { type: 'ping'; from: Pid };

function counter(log: string[] = []): ServerBehaviour<number, number, Req, unknown, Cast, Info> {
  return {
    name: 'counter',
    init: (n) => {
      log.push(`init ${n}`);
      return ok(n);
    },
    async handleCall(req, from, s, ctx) {
      switch (req.type) {
        case 'get':
          return reply(s, s);
        case 'add':
          return reply(s + req.n, s + req.n);
        case 'slow':
          // Reply later, from a timer, like a server that delegates the work.
          await new Promise<void>((r) => ctx.runtime.env.timers.set(req.ms, r));
          ctx.reply(from, 'late');
          return noreply(s);
        case 'crash':
          throw new RangeError('crashed in call');
        case 'bad':
          return { type: 'nonsense' } as never;
        case 'stop_with_reply':
          return stopReply('normal', 'bye', s);
      }
    },
    handleCast(msg, s) {
      return msg.type === 'set' ? noreply(msg.n) : stop(msg.reason, s);
    },
    handleInfo(msg, s, ctx) {
      if (msg.type === 'ping') ctx.send(msg.from, { type: 'pong', state: s });
      return noreply(s);
    },
    terminate(reason) {
      log.push(`terminate ${JSON.stringify(reason)}`);
    },
  };
}

async function started(p: Promise<StartResult>): Promise<Pid> {
  const r = await p;
  if (r.type !== 'ok') throw new Error(`did not start: ${JSON.stringify(r)}`);
  return r.pid;
}

describe('gen_server calls and casts', () => {
  it('call returns the reply; cast and info change state; handleInfo gets plain messages', async () => {
    const h = harness();
    const pid = await started(startServer(h.rt, counter(), 1));
    expect(await h.rt.call(pid, { type: 'add', n: 2 })).toBe(3);
    h.rt.cast(pid, { type: 'set', n: 10 });
    expect(await h.rt.call(pid, { type: 'get' })).toBe(10);
    const c = h.collector();
    h.rt.send(pid, { type: 'ping', from: c.pid });
    await h.settle();
    expect(c.received).toEqual([{ type: 'pong', state: 10 }]);
  });

  it('a call that gets no reply in time fails with CallTimeout; the late reply is dropped, never given to the next call', async () => {
    const h = harness();
    const pid = await started(startServer(h.rt, counter(), 7));
    const slow = h.rt.call(pid, { type: 'slow', ms: 200 }, { timeout: 100 });
    const failed = slow.catch((e: unknown) => e);
    await h.advance(100);
    const err = await failed;
    expect(err).toBeInstanceOf(CallTimeout);
    expect((err as CallTimeout).code).toBe('call_timeout');
    const next = h.rt.call(pid, { type: 'get' }, { timeout: 1000 });
    await h.advance(300); // the late 'late' reply is sent during this window
    expect(await next).toBe(7);
  });

  it('the default call timeout is 5000 ms', async () => {
    const h = harness();
    const pid = await started(startServer(h.rt, counter(), 0));
    const r = h.rt.call(pid, { type: 'slow', ms: 60_000 }).catch((e: unknown) => e);
    await h.advance(4999);
    let settled = false;
    void r.then(() => (settled = true));
    await h.settle();
    expect(settled).toBe(false);
    await h.advance(1);
    expect(await r).toBeInstanceOf(CallTimeout);
  });

  it('a call to a dead pid or an unknown name fails with NoProc at once', async () => {
    const h = harness();
    const pid = await started(startServer(h.rt, counter(), 0));
    h.rt.exit(pid, 'kill');
    await h.settle();
    await expect(h.rt.call(pid, { type: 'get' })).rejects.toBeInstanceOf(NoProc);
    await expect(h.rt.call('nobody', { type: 'get' })).rejects.toBeInstanceOf(NoProc);
  });

  it('a server that exits during the call fails it with ServerExited(reason)', async () => {
    const h = harness();
    const pid = await started(startServer(h.rt, counter(), 0));
    const err = await h.rt.call(pid, { type: 'crash' }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(ServerExited);
    expect((err as ServerExited).reason).toMatchObject({ type: 'error', name: 'RangeError', message: 'crashed in call' });
  });

  it('a server killed while a call is in flight fails the call at once, not at its timeout', async () => {
    const h = harness();
    const pid = await started(startServer(h.rt, counter(), 0));
    const r = h.rt.call(pid, { type: 'slow', ms: 10_000 }, { timeout: 'infinity' }).catch((e: unknown) => e);
    await h.settle();
    h.rt.exit(pid, 'kill');
    await h.settle();
    const err = await r;
    expect(err).toBeInstanceOf(ServerExited);
    expect((err as ServerExited).reason).toBe('killed');
  });

  it('cast to a dead server or an unknown name is silently dropped', async () => {
    const h = harness();
    const pid = await started(startServer(h.rt, counter(), 0));
    h.rt.exit(pid, 'kill');
    await h.settle();
    expect(() => h.rt.cast(pid, { type: 'set', n: 1 })).not.toThrow();
    expect(() => h.rt.cast('nobody', { type: 'set', n: 1 })).not.toThrow();
  });

  it('a server calling itself fails with calling_self instead of deadlocking', async () => {
    const h = harness();
    let err: unknown;
    const selfCaller: ServerBehaviour<null, void, 'go', unknown> = {
      name: 'self_caller',
      init: () => ok(null),
      async handleCall(_r, _f, s, ctx) {
        err = await ctx.call(ctx.self, 'go').catch((e: unknown) => e);
        return reply('done', s);
      },
    };
    const pid = await started(startServer(h.rt, selfCaller, undefined));
    expect(await h.rt.call(pid, 'go')).toBe('done');
    expect((err as RuntimeError).code).toBe('calling_self');
  });

  it('calls between servers work from inside a process', async () => {
    const h = harness();
    const a = await started(startServer(h.rt, counter(), 5));
    const { value } = await h.inProcess(async (ctx) => ctx.call<number>(a, { type: 'add', n: 1 }));
    expect(value).toBe(6);
  });

  it('stop with a reply: terminate runs, then the caller gets the reply, then the server exits normally', async () => {
    const h = harness();
    const log: string[] = [];
    const pid = await started(startServer(h.rt, counter(log), 0));
    expect(await h.rt.call(pid, { type: 'stop_with_reply' })).toBe('bye');
    await h.settle();
    expect(log).toEqual(['init 0', 'terminate "normal"']);
    expect(h.exitReason(pid)).toBe('normal');
  });
});

describe('gen_server init', () => {
  it('init returning stop(reason) makes start return the error, and the server exits with that reason', async () => {
    const h = harness();
    const b: ServerBehaviour<null> = { name: 'refuser', init: () => stop({ type: 'custom', value: 'no' }) };
    const r = await startServer(h.rt, b, undefined);
    expect(r).toEqual({ type: 'error', error: { type: 'init_failed', reason: { type: 'custom', value: 'no' } } });
  });

  it('init returning ignore makes start return ignore and the process exits normally', async () => {
    const h = harness();
    const r = await startServer(h.rt, { name: 'ignorer', init: () => ignore() }, undefined);
    expect(r).toEqual({ type: 'ignore' });
    expect(h.events.filter((e) => e.type === 'process_exited').map((e) => e.type === 'process_exited' && e.reason)).toEqual(['normal']);
  });

  it('a throw or an unexpected return in init becomes the start error (bad_return_value for the latter)', async () => {
    const h = harness();
    const thrower = await startServer(h.rt, { name: 't', init: () => { throw new Error('init blew up'); } }, undefined);
    expect(thrower).toMatchObject({ type: 'error', error: { type: 'init_failed', reason: { type: 'error', message: 'init blew up' } } });
    const bad = await startServer(h.rt, { name: 'b', init: () => 42 as never }, undefined);
    expect(bad).toEqual({ type: 'error', error: { type: 'init_failed', reason: { type: 'bad_return_value', value: '42' } } });
  });

  it('a failed init does not send an exit signal to the linked starter (OTP 26)', async () => {
    const h = harness();
    const { pid: starter, value } = await h.inProcess((ctx) => startLinkServer(ctx, { name: 'x', init: () => stop('shutdown') }, undefined));
    await h.settle();
    expect(value.type).toBe('error');
    expect(h.alive(starter)).toBe(true);
  });

  it('a name is registered before init, and a second start with the name returns already_started', async () => {
    const h = harness();
    const pid = await started(startServer(h.rt, counter(), 0, { name: 'counter' }));
    expect(h.rt.whereis('counter')).toBe(pid);
    expect(await startServer(h.rt, counter(), 0, { name: 'counter' })).toEqual({ type: 'error', error: { type: 'already_started', pid } });
    expect(await h.rt.call('counter', { type: 'add', n: 4 })).toBe(4);
  });

  it('a start timeout kills an init that does not return in time', async () => {
    const h = harness();
    const slow: ServerBehaviour<null> = { name: 'slow', init: () => new Promise(() => {}) };
    const r = startServer(h.rt, slow, undefined, { timeout: 50 });
    await h.advance(50);
    expect(await r).toEqual({ type: 'error', error: { type: 'timeout' } });
    await h.settle();
    expect(h.rt.processes()).toEqual([]);
  });

  it('handleContinue from init runs before any message', async () => {
    const h = harness();
    const log: string[] = [];
    const b: ServerBehaviour<string[], void, 'log', string[]> = {
      name: 'cont',
      init: () => ok(['init'], 'warm-up'),
      handleContinue: (arg, s) => noreply([...s, `continue ${String(arg)}`]),
      handleCall: (_r, _f, s) => reply(s, s),
    };
    const pid = await started(startServer(h.rt, b, undefined));
    log.push(...(await h.rt.call<string[]>(pid, 'log')));
    expect(log).toEqual(['init', 'continue warm-up']);
  });
});

describe('gen_server failures and termination', () => {
  it('a throw in a callback becomes the exit reason, terminate runs, and a server_terminated report is emitted', async () => {
    const h = harness();
    const log: string[] = [];
    const pid = await started(startServer(h.rt, counter(log), 0));
    await h.rt.call(pid, { type: 'crash' }).catch(() => undefined);
    await h.settle();
    expect(h.exitReason(pid)).toMatchObject({ type: 'error', name: 'RangeError' });
    expect(log[1]).toMatch(/^terminate .*crashed in call/);
    const report = h.events.find((e) => e.type === 'server_terminated');
    expect(report).toMatchObject({ pid, behaviour: 'gen_server:counter', reason: { type: 'error', message: 'crashed in call' } });
    expect(report?.type === 'server_terminated' && report.lastMessage).toContain('crash');
  });

  it('an unexpected return from a callback becomes bad_return_value', async () => {
    const h = harness();
    const pid = await started(startServer(h.rt, counter(), 0));
    const err = await h.rt.call(pid, { type: 'bad' }).catch((e: unknown) => e);
    expect((err as ServerExited).reason).toEqual({ type: 'bad_return_value', value: '{"type":"nonsense"}' });
  });

  it('stop from handleCast runs terminate with the reason and exits with it', async () => {
    const h = harness();
    const log: string[] = [];
    const pid = await started(startServer(h.rt, counter(log), 0));
    h.rt.cast(pid, { type: 'stop', reason: { type: 'shutdown', detail: 'done' } });
    await h.settle();
    expect(log).toEqual(['init 0', 'terminate {"type":"shutdown","detail":"done"}']);
    expect(h.exitReason(pid)).toEqual({ type: 'shutdown', detail: 'done' });
    expect(h.events.some((e) => e.type === 'server_terminated')).toBe(false); // {shutdown,_} is not a crash
  });

  it('a throw in terminate replaces the exit reason', async () => {
    const h = harness();
    const b: ServerBehaviour<null, void, never, unknown, 'stop'> = {
      name: 'bad_terminate',
      init: () => ok(null),
      handleCast: (_m, s) => stop('normal', s),
      terminate: () => {
        throw new Error('terminate failed');
      },
    };
    const pid = await started(startServer(h.rt, b, undefined));
    h.rt.cast(pid, 'stop');
    await h.settle();
    expect(h.exitReason(pid)).toMatchObject({ type: 'error', message: 'terminate failed' });
  });

  it('terminate runs when the parent shuts a trapping server down, and not when the server does not trap', async () => {
    const h = harness();
    const log: string[] = [];
    const trapping: ServerBehaviour<null> = {
      name: 'trapping',
      init: (_a, ctx) => {
        ctx.trapExit(true);
        return ok(null);
      },
      terminate: (r) => void log.push(`trapping ${JSON.stringify(r)}`),
    };
    const plain: ServerBehaviour<null> = { name: 'plain', init: () => ok(null), terminate: () => void log.push('plain') };
    const { pid: parent, value } = await h.inProcess(async (ctx) => [await startLinkServer(ctx, trapping, undefined), await startLinkServer(ctx, plain, undefined)], {
      trapExit: true,
    });
    const [t, p] = value.map((r) => (r.type === 'ok' ? r.pid : undefined)) as [Pid, Pid];
    h.rt.exitFrom(parent, t, 'shutdown');
    h.rt.exitFrom(parent, p, 'shutdown');
    await h.settle();
    expect(log).toEqual(['trapping "shutdown"']);
    expect(h.exitReason(t)).toBe('shutdown');
    expect(h.exitReason(p)).toBe('shutdown');
  });

  it('a message with no handleInfo is reported as unhandled_info and dropped; the server lives on', async () => {
    const h = harness();
    const pid = await started(startServer(h.rt, { name: 'no_info', init: () => ok(0) }, undefined));
    h.rt.send(pid, { hello: 'world' });
    await h.settle();
    expect(h.alive(pid)).toBe(true);
    expect(h.events.find((e) => e.type === 'unhandled_info')).toMatchObject({ pid, message: '{"hello":"world"}' });
  });

  it('stopServer runs terminate and resolves once the server has exited', async () => {
    const h = harness();
    const log: string[] = [];
    const pid = await started(startServer(h.rt, counter(log), 0));
    await stopServer(h.rt, pid, 'shutdown');
    expect(h.alive(pid)).toBe(false);
    expect(log).toEqual(['init 0', 'terminate "shutdown"']);
    await expect(stopServer(h.rt, pid)).rejects.toBeInstanceOf(NoProc);
  });

  it('async callbacks are handled to completion, one at a time', async () => {
    const h = harness();
    const order: string[] = [];
    const b: ServerBehaviour<number, void, number, number> = {
      name: 'async',
      init: () => ok(0),
      async handleCall(n, _f, s, ctx) {
        order.push(`start ${n}`);
        await new Promise<void>((r) => ctx.runtime.env.timers.set(10, r));
        order.push(`end ${n}`);
        return reply(s + n, s + n);
      },
    };
    const pid = await started(startServer(h.rt, b, undefined));
    const calls = [1, 2, 3].map((n) => h.rt.call<number>(pid, n));
    await h.advance(100);
    expect(await Promise.all(calls)).toEqual([1, 3, 6]);
    expect(order).toEqual(['start 1', 'end 1', 'start 2', 'end 2', 'start 3', 'end 3']);
  });

  it('the From of a call can be kept and answered later with reply()', async () => {
    const h = harness();
    let pending: From | undefined;
    const b: ServerBehaviour<null, void, 'wait' | 'release', string> = {
      name: 'deferred',
      init: () => ok(null),
      handleCall(req, from, s, ctx) {
        if (req === 'wait') {
          pending = from;
          return noreply(s);
        }
        ctx.reply(pending!, 'released');
        return reply('ok', s);
      },
    };
    const pid = await started(startServer(h.rt, b, undefined));
    const waiting = h.rt.call(pid, 'wait');
    expect(await h.rt.call(pid, 'release')).toBe('ok');
    expect(await waiting).toBe('released');
  });
});

describe('gen_server start races', () => {
  it('a server killed during an async init makes start return init_failed with the kill reason instead of hanging', async () => {
    const h = harness();
    const slow: ServerBehaviour<null> = { name: 'slow_init', init: () => new Promise(() => {}) };
    const r = startServer(h.rt, slow, undefined, { name: 'slow' });
    await h.settle();
    h.rt.exit(h.rt.whereis('slow')!, 'kill');
    await h.settle();
    expect(await r).toEqual({ type: 'error', error: { type: 'init_failed', reason: 'killed' } });
  });
});

describe('gen_server input hygiene', () => {
  it('a plain message shaped like a call envelope but with no reply address goes to handleInfo, not a crash', async () => {
    const h = harness();
    const seen: unknown[] = [];
    const b: ServerBehaviour<null, void, never, unknown, never, unknown> = {
      name: 'hygiene',
      init: () => ok(null),
      handleInfo: (m, s) => {
        seen.push(m);
        return noreply(s);
      },
    };
    const pid = await started(startServer(h.rt, b, undefined));
    h.rt.send(pid, { type: '$call', request: 'x' });
    h.rt.send(pid, { type: '$call', from: 42, request: 'y' });
    await h.settle();
    expect(h.alive(pid)).toBe(true);
    expect(seen).toEqual([
      { type: '$call', request: 'x' },
      { type: '$call', from: 42, request: 'y' },
    ]);
  });
});

describe('a finished call keeps nothing of its answer', () => {
  it('once the caller lets go of a reply, it can be collected (the settled call still waits in its deadline queue)', () => {
    // In a child with --expose-gc. A settled call's slot stays in its timeout's queue for up to 1024 more calls;
    // it used to keep the caller's promise, and so the reply, alive: a job_registry leader held ≈ 20 MB of
    // proposal replies that way.
    const index = JSON.stringify(fileURLToPath(new URL('../../runtime/index.ts', import.meta.url)));
    const script = `
      import { Runtime, realEnv, startServer, ok, reply } from ${index};
      const rt = new Runtime({ env: realEnv() });
      const started = await startServer(rt, { init: () => ok(0), handleCall: (n, _f, s) => reply(Array.from({ length: 1000 }, (_, i) => ({ i, n })), s) }, undefined);
      const refs = [];
      // Calls in a function of their own, so no variable of this frame still holds the last reply.
      async function calls() {
        for (let n = 0; n < 20; n++) refs.push(new WeakRef(await rt.call(started.pid, n)));
      }
      await calls();
      for (let k = 0; k < 2; k++) {
        await new Promise((r) => setTimeout(r, 0));
        globalThis.gc();
      }
      console.log(refs.filter((r) => r.deref() !== undefined).length);
      rt.stop();
      process.exit(0);
    `;
    const r = spawnSync(process.execPath, ['--expose-gc', '--import', 'tsx', '--input-type=module', '-e', script], { encoding: 'utf8', timeout: 60_000 });
    expect(r.stderr).toBe('');
    expect(r.stdout.trim()).toBe('0');
  });
});
