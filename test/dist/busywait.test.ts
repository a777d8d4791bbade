// Spin before sleep (busyWaitUs): the spinner's chain, driven turn by turn on a
// fake host; then the ws transport and two nodes with it on, over real sockets:
// traffic starts it, it ends by itself after the window and when the last
// connection closes, and calls work with it on. No timing is asserted.
import { afterEach, describe, expect, it } from 'vitest';
import { realEnv } from '../../runtime/adapters/real.js';
import { BusyWait, type SpinHost } from '../../runtime/dist/busywait.js';
import { Distribution } from '../../runtime/dist/node.js';
import type { Conn, Listener } from '../../runtime/dist/transport.js';
import { wsTransport } from '../../runtime/dist/ws.js';
import { type ServerBehaviour, ok, reply, startServer } from '../../runtime/index.js';
import { COOKIE } from './cluster-harness.js';

/** A host whose clock moves only when told and whose turns run only when told. */
function fakeHost(): SpinHost & { advance(ms: number): void; turn(): void; readonly pending: number } {
  let t = 0;
  const queue: (() => void)[] = [];
  return {
    now: () => t,
    defer: (fn) => void queue.push(fn),
    advance: (ms) => void (t += ms),
    turn: () => queue.shift()?.(),
    get pending() {
      return queue.length;
    },
  };
}

describe('the busy-wait spinner', () => {
  it('runs one chain however many frames touch it, and ends a window after the last activity', () => {
    const host = fakeHost();
    const spin = new BusyWait(500, host); // 0.5 ms
    expect(spin.spinning).toBe(false);
    spin.touch();
    spin.touch();
    spin.touch();
    expect(host.pending).toBe(1);
    // The touches after the first are noted at the first turn (t = 0.125 ms): the window runs from there.
    for (let i = 0; i < 4; i++) {
      host.advance(0.125);
      host.turn();
      expect([spin.spinning, host.pending]).toEqual([true, 1]);
    }
    host.advance(0.125); // t = 0.625: 0.5 ms since the last activity noted
    host.turn();
    expect([spin.spinning, host.pending, spin.turns]).toEqual([false, 0, 5]);
  });

  it('a frame during the window restarts it from the turn that notices the frame', () => {
    const host = fakeHost();
    const spin = new BusyWait(500, host);
    spin.touch();
    host.advance(0.4);
    spin.touch();
    host.turn(); // notes the activity at t = 0.4
    host.advance(0.4);
    host.turn(); // t = 0.8: 0.4 since the last activity
    expect(spin.spinning).toBe(true);
    host.advance(0.1);
    host.turn();
    expect([spin.spinning, host.pending]).toEqual([false, 0]);
    spin.touch(); // a later frame starts a new chain
    expect([spin.spinning, host.pending]).toEqual([true, 1]);
  });

  it('stop() ends the chain at its next turn, unless a frame comes first', () => {
    const host = fakeHost();
    const spin = new BusyWait(10_000, host);
    spin.touch();
    spin.stop();
    host.turn();
    expect([spin.spinning, host.pending]).toEqual([false, 0]);
    spin.touch();
    spin.stop();
    spin.touch(); // a new connection's frame before the turn: keep spinning
    host.turn();
    expect([spin.spinning, host.pending]).toEqual([true, 1]);
  });
});

describe('busyWaitUs on the ws transport (real sockets)', () => {
  const env = realEnv();
  const pause = (ms: number): Promise<void> => new Promise((resolve) => env.timers.set(ms, resolve));
  const until = async (cond: () => boolean, what: string): Promise<void> => {
    const deadline = env.clock.now() + 10_000;
    while (!cond()) {
      if (env.clock.now() > deadline) throw new Error(`timed out waiting for ${what}`);
      await pause(2);
    }
  };
  let opened: (Conn | Listener | Distribution)[] = [];
  afterEach(async () => {
    for (const x of opened) {
      if (x instanceof Distribution) await x.stop();
      else if ('port' in x) await x.close();
      else x.close('test_over');
    }
    opened = [];
  });

  it('rejects a window out of range', () => {
    expect(() => wsTransport({ busyWaitUs: -1 })).toThrow(/busyWaitUs/);
    expect(() => wsTransport({ busyWaitUs: 1.5 })).toThrow(/busyWaitUs/);
    expect(() => wsTransport({ busyWaitUs: 10_001 })).toThrow(/busyWaitUs/);
    expect(wsTransport().busyWait).toBeUndefined();
  });

  it('spins after frames, goes idle after the window with the connection still open, and stops when the last connection closes', async () => {
    const t = wsTransport({ busyWaitUs: 1_000 });
    const spin = t.busyWait!;
    let server: Conn | undefined;
    const listener = await t.listen('127.0.0.1', 0, (c) => {
      server = c;
      opened.push(c);
      c.onFrame = (d) => c.send(`echo:${d}`);
    });
    opened.push(listener);
    const client = await t.connect('127.0.0.1', listener.port);
    opened.push(client);
    const got: string[] = [];
    client.onFrame = (d) => void got.push(d);
    client.send('1');
    expect(spin.spinning).toBe(true); // started by the send itself
    await until(() => got.length === 1, 'the echo');
    expect(got).toEqual(['echo:1']);

    // No traffic: the chain ends by itself, and the event loop stays idle (no turn spun).
    await until(() => !spin.spinning, 'the spinner to stop after its window');
    const turns = spin.turns;
    expect(turns).toBeGreaterThan(0);
    await pause(20);
    expect([spin.spinning, spin.turns]).toEqual([false, turns]);

    // Traffic again, then both ends close: the chain ends and stays ended.
    client.send('2');
    await until(() => got.length === 2, 'the second echo');
    client.close('done');
    server!.close('done');
    await until(() => !spin.spinning, 'the spinner to stop once the connections closed');
    const after = spin.turns;
    await pause(20);
    expect([spin.spinning, spin.turns]).toEqual([false, after]);
  });

  it('two nodes with busyWaitUs in their config answer calls, and the spinner rests once they stop', async () => {
    const echo: ServerBehaviour<null, void, unknown, unknown> = { name: 'echo', init: () => ok(null), handleCall: (req, _f, s) => reply(req, s) };
    const sources = { env: {}, readFile: () => '' };
    // The default transport, built from the config.
    const a = await Distribution.start({ node: 'a@127.0.0.1:0', cookie: COOKIE, busyWaitUs: 500 }, { env: realEnv(), sources });
    opened.push(a);
    expect(a.config.busyWaitUs).toBe(500);
    // An explicit transport, so the test can see its spinner.
    const t = wsTransport({ busyWaitUs: 500 });
    const b = await Distribution.start({ node: 'b@127.0.0.1:0', cookie: COOKIE }, { env: realEnv(), sources, transport: t });
    opened.push(b);
    await startServer(a.rt, echo, undefined, { name: 'echo' });
    expect(await b.connect(a.node)).toBe(true);
    for (let i = 0; i < 50; i++) expect(await b.rt.call({ name: 'echo', node: a.node }, i)).toBe(i);
    expect(t.busyWait!.turns).toBeGreaterThan(0);
    await b.stop();
    await a.stop();
    await until(() => !t.busyWait!.spinning, 'the spinner to stop');
  });
});
