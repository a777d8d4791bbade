// The transport port's conformance suite: the same behaviours pinned against the
// WebSocket transport (real sockets on 127.0.0.1, real env) and the in-memory
// network (virtual env). Then what only one of them has: the memory network's
// fault controls and determinism; ws's frame limit and (mutual) TLS.
import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { connect as netConnect } from 'node:net';
import { join } from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { WebSocket, WebSocketServer } from 'ws';
import { realEnv } from '../../runtime/adapters/real.js';
import { VirtualEnv } from '../../runtime/adapters/virtual.js';
import { MemoryNetwork, connectTimeoutMs } from '../../runtime/dist/memory.js';
import type { Conn, Listener, Transport } from '../../runtime/dist/transport.js';
import { wsTransport } from '../../runtime/dist/ws.js';
import { Distribution } from '../../runtime/dist/node.js';
import { ok, reply, startServer } from '../../runtime/index.js';

// ---- harness ---------------------------------------------------------------

/** One network under test, with verbs that hide whether time is real or virtual. */
interface Net {
  readonly server: Transport;
  readonly client: Transport;
  /** Where the server transport listens and the client connects. */
  readonly host: string;
  /** Resolve once `cond()` holds: virtual time is advanced, real sockets are polled (bounded). */
  until(cond: () => boolean, what: string): Promise<void>;
  /** Await a transport promise, letting (virtual) time pass while it is pending. */
  settle<T>(p: Promise<T>): Promise<T>;
  /** Let what is in flight land, so a test can check that nothing more arrives. */
  quiet(): Promise<void>;
}

/** Bounded poll on real sockets: each step awaits a real 2 ms timer, at most `boundMs` in all. */
function realWaits(boundMs = 10_000): Pick<Net, 'until' | 'settle' | 'quiet'> {
  const env = realEnv();
  const pause = (ms: number): Promise<void> => new Promise((resolve) => env.timers.set(ms, resolve));
  const until = async (cond: () => boolean, what: string): Promise<void> => {
    const deadline = env.clock.now() + boundMs;
    while (!cond()) {
      if (env.clock.now() > deadline) throw new Error(`timed out waiting for ${what}`);
      await pause(2);
    }
  };
  return {
    until,
    settle: settleBy(until),
    quiet: () => pause(50),
  };
}

/** Wait, by whichever clock `until` polls, for a promise to settle; then hand it back. */
function settleBy(until: (cond: () => boolean, what: string) => Promise<void>): <T>(p: Promise<T>) => Promise<T> {
  return async <T>(p: Promise<T>): Promise<T> => {
    let done = false;
    p.then(
      () => (done = true),
      () => (done = true),
    );
    await until(() => done, 'a settled transport promise');
    return p;
  };
}

function virtualWaits(env: VirtualEnv, boundMs = 60_000): Pick<Net, 'until' | 'settle' | 'quiet'> {
  const until = async (cond: () => boolean, what: string): Promise<void> => {
    const deadline = env.clock.now() + boundMs;
    while (!cond()) {
      if (env.clock.now() > deadline) throw new Error(`no ${what} after ${boundMs} ms of virtual time`);
      await env.advance(1);
    }
  };
  return {
    until,
    settle: settleBy(until),
    quiet: () => env.advance(1_000),
  };
}

function wsNet(): Net {
  const t = wsTransport();
  return { server: t, client: t, host: '127.0.0.1', ...realWaits() };
}

function memoryNet(env = new VirtualEnv('conformance')): Net {
  const net = new MemoryNetwork(env);
  return { server: net.transport('server'), client: net.transport('client'), host: 'server', ...virtualWaits(env) };
}

/** A Conn with its owner's view: the frames and close reasons it was handed. */
interface Peer {
  readonly conn: Conn;
  readonly frames: string[];
  readonly closes: string[];
}

// Everything a test opens is closed after it, so real sockets never leak between tests.
let opened: (Conn | Listener)[] = [];
afterEach(async () => {
  for (const x of opened) {
    if ('port' in x) await x.close();
    else x.close('test_over');
  }
  opened = [];
});

function record(conn: Conn): Peer {
  opened.push(conn);
  const p: Peer = { conn, frames: [], closes: [] };
  conn.onFrame = (d) => p.frames.push(d);
  conn.onClose = (r) => p.closes.push(r);
  return p;
}

async function listen(net: Net, onConn: (c: Conn) => void, t: Transport = net.server): Promise<Listener> {
  const l = await net.settle(t.listen(net.host, 0, onConn));
  opened.push(l);
  return l;
}

/** A listener and one connection to it, both ends recorded. */
async function pair(net: Net): Promise<{ listener: Listener; client: Peer; server: Peer }> {
  const accepted: Peer[] = [];
  const listener = await listen(net, (c) => accepted.push(record(c)));
  const client = record(await net.settle(net.client.connect(net.host, listener.port)));
  await net.until(() => accepted.length === 1, 'the accepted connection');
  return { listener, client, server: accepted[0]! };
}

const seq = (n: number, tag = ''): string[] => Array.from({ length: n }, (_, i) => `${tag}${i}`);

// ---- conformance -----------------------------------------------------------

describe.each([
  { name: 'ws', make: wsNet },
  { name: 'memory', make: () => memoryNet() },
])('transport conformance: $name', ({ make }) => {
  it('connects and exchanges frames both ways', async () => {
    const net = make();
    const { client, server } = await pair(net);
    client.conn.send('ping');
    server.conn.send('pong');
    await net.until(() => server.frames.length === 1 && client.frames.length === 1, 'both frames');
    expect(server.frames).toEqual(['ping']);
    expect(client.frames).toEqual(['pong']);
  });

  it('keeps per-connection FIFO for 10,000 frames each way', async () => {
    const net = make();
    const { client, server } = await pair(net);
    for (const f of seq(10_000, 'c')) client.conn.send(f);
    for (const f of seq(10_000, 's')) server.conn.send(f);
    await net.until(() => server.frames.length === 10_000 && client.frames.length === 10_000, '10,000 frames each way');
    expect(server.frames).toEqual(seq(10_000, 'c'));
    expect(client.frames).toEqual(seq(10_000, 's'));
  });

  it('round-trips a 1 MiB frame intact', async () => {
    const net = make();
    const { client, server } = await pair(net);
    server.conn.onFrame = (d) => server.conn.send(d); // echo
    const big = 'abcdefghijklmnopqrstuvwxyz0123456789'.repeat(30_000).slice(0, 1 << 20);
    client.conn.send(big);
    await net.until(() => client.frames.length === 1, 'the echoed frame');
    expect(client.frames[0]!.length).toBe(1 << 20);
    expect(client.frames[0] === big).toBe(true);
  });

  it('a frame sent as pieces arrives as their concatenation (multi-byte UTF-8 included), in order with whole ones', async () => {
    const net = make();
    const { client, server } = await pair(net);
    // Pieces that split nowhere special, around characters of 2, 3 and 4 UTF-8 bytes, and empty ones.
    const pieces = ['{"a":"é', 'ü€', '', '😀"', ',"big":"', 'xyz'.repeat(40_000), '"}'];
    const whole = pieces.join('');
    client.conn.send('before');
    client.conn.send(pieces);
    client.conn.send('after');
    server.conn.send(['pong ', '→', ' ok']);
    await net.until(() => server.frames.length === 3 && client.frames.length === 1, 'the frames');
    expect(server.frames[0]).toBe('before');
    expect(server.frames[1] === whole).toBe(true);
    expect(server.frames[2]).toBe('after');
    expect(client.frames).toEqual(['pong → ok']);
  });

  it('close(reason) gives the peer that reason once and the closer its own onClose once', async () => {
    const net = make();
    const { client, server } = await pair(net);
    client.conn.send('last words');
    client.conn.close('shutdown: going away');
    client.conn.close('again'); // idempotent
    client.conn.send('after close'); // ignored, never throws
    await net.until(() => server.closes.length > 0 && client.closes.length > 0, 'both onClose calls');
    await net.quiet();
    expect(server.frames).toEqual(['last words']);
    expect(server.closes).toEqual(['shutdown: going away']);
    expect(client.closes).toEqual(['closed_locally']);
    server.conn.close('late'); // closing an end the peer already closed is a no-op
    await net.quiet();
    expect(server.closes).toEqual(['shutdown: going away']);
  });

  it('connect to a port with no listener rejects', async () => {
    const net = make();
    const listener = await listen(net, () => {});
    const port = listener.port;
    await listener.close();
    await expect(net.settle(net.client.connect(net.host, port))).rejects.toThrow(Error);
  });

  it('listener.close() stops new connections; established ones keep working', async () => {
    const net = make();
    const { listener, client, server } = await pair(net);
    await listener.close();
    await expect(net.settle(net.client.connect(net.host, listener.port))).rejects.toThrow(Error);
    client.conn.send('still here');
    await net.until(() => server.frames.length === 1, 'a frame on the old connection');
    expect(server.frames).toEqual(['still here']);
  });

  it('frames (and a close) that arrive before the owner sets its handlers are not lost', async () => {
    const net = make();
    const accepted: Conn[] = [];
    const listener = await listen(net, (c) => {
      opened.push(c);
      accepted.push(c);
      c.send('welcome'); // before the client's connect() has even resolved
    });
    const conn = await net.settle(net.client.connect(net.host, listener.port));
    await net.until(() => accepted.length === 1, 'the accepted connection');
    for (const f of seq(3, 'early')) conn.send(f);
    conn.close('bye');
    await net.quiet(); // everything has landed at the server, which has no handlers yet
    const server = accepted[0]!;
    const frames: string[] = [];
    const closes: string[] = [];
    server.onClose = (r) => closes.push(r);
    server.onFrame = (d) => frames.push(d);
    await net.until(() => closes.length === 1, 'the held close');
    expect(frames).toEqual(seq(3, 'early'));
    expect(closes).toEqual(['bye']);

    const client = record(await net.settle(net.client.connect(net.host, listener.port)));
    await net.until(() => client.frames.length === 1, 'the welcome frame');
    expect(client.frames).toEqual(['welcome']);
  });

  it('20 concurrent connections each keep their own order', async () => {
    const net = make();
    const accepted: Peer[] = [];
    const listener = await listen(net, (c) => accepted.push(record(c)));
    const clients = await net.settle(Promise.all(seq(20).map(() => net.client.connect(net.host, listener.port))));
    clients.forEach((c, i) => {
      record(c);
      for (const f of seq(500, `${i}:`)) c.send(f);
    });
    const total = (): number => accepted.reduce((n, p) => n + p.frames.length, 0);
    await net.until(() => accepted.length === 20 && total() === 20 * 500, 'every frame on every connection');
    const tags = accepted.map((p) => p.frames[0]!.split(':')[0]!);
    expect(new Set(tags)).toEqual(new Set(seq(20)));
    accepted.forEach((p, i) => expect(p.frames).toEqual(seq(500, `${tags[i]}:`)));
  });
});

// ---- memory network: faults and determinism --------------------------------

describe('memory network', () => {
  function world(seed: string | number = 'memory') {
    const env = new VirtualEnv(seed);
    const net = new MemoryNetwork(env);
    const waits = virtualWaits(env);
    /** Connect node `from` to a listener on node `to`, both ends recorded. */
    const connect = async (from: string, to: string): Promise<{ a: Peer; b: Peer; listener: Listener }> => {
      const accepted: Peer[] = [];
      const listener = await net.transport(to).listen(to, 0, (c) => accepted.push(record(c)));
      const a = record(await waits.settle(net.transport(from).connect(to, listener.port)));
      await waits.until(() => accepted.length === 1, 'accept');
      return { a, b: accepted[0]!, listener };
    };
    return { env, net, connect, ...waits };
  }

  it('delivers only through env timers, never inside send()', async () => {
    const w = world();
    const { a, b } = await w.connect('a', 'b');
    a.conn.send('x');
    expect(b.frames).toEqual([]);
    expect(a.conn.bufferedBytes()).toBe(1);
    await w.env.advance(1);
    expect(b.frames).toEqual(['x']);
    expect(a.conn.bufferedBytes()).toBe(0);
  });

  it('bufferedBytes counts UTF-8 bytes in flight and onDrain fires when they are all delivered', async () => {
    const w = world();
    const { a, b } = await w.connect('a', 'b');
    w.net.setLink('a', 'b', { delayMs: 10 });
    let drains = 0;
    a.conn.onDrain = () => drains++;
    a.conn.send('héllo'); // 6 bytes
    a.conn.send('abcd');
    expect(a.conn.bufferedBytes()).toBe(10);
    await w.env.advance(9);
    expect(drains).toBe(0);
    await w.env.advance(1);
    expect(b.frames).toEqual(['héllo', 'abcd']);
    expect(a.conn.bufferedBytes()).toBe(0);
    expect(drains).toBe(1);
  });

  it('a partition silently discards frames both ways; heal restores delivery of new frames only', async () => {
    const w = world();
    const { a, b } = await w.connect('a', 'b');
    w.net.partition(['a'], ['b']);
    a.conn.send('lost a→b');
    b.conn.send('lost b→a');
    await w.quiet();
    expect(b.frames).toEqual([]);
    expect(a.frames).toEqual([]);
    expect(a.closes).toEqual([]); // the connection stays up: a link that stops delivering
    w.net.heal();
    a.conn.send('after heal a→b');
    b.conn.send('after heal b→a');
    await w.quiet();
    expect(b.frames).toEqual(['after heal a→b']);
    expect(a.frames).toEqual(['after heal b→a']);
    expect(w.net.stats()).toMatchObject({ framesDropped: 2, framesDelivered: 2 });
  });

  it('frames in flight when a partition starts are lost too', async () => {
    const w = world();
    const { a, b } = await w.connect('a', 'b');
    w.net.setLink('a', 'b', { delayMs: 100 });
    a.conn.send('in flight');
    await w.env.advance(50);
    w.net.partition(['b'], ['a']);
    await w.quiet();
    expect(b.frames).toEqual([]);
  });

  it('a one-way partition drops A→B only', async () => {
    const w = world();
    const { a, b } = await w.connect('a', 'b');
    w.net.partition(['a'], ['b'], { oneWay: true });
    a.conn.send('dropped');
    b.conn.send('delivered');
    await w.quiet();
    expect(b.frames).toEqual([]);
    expect(a.frames).toEqual(['delivered']);
  });

  it('connect across a partition times out after 3000 ms; to an unbound port it is refused after the link delay', async () => {
    const w = world();
    const l = await w.net.transport('b').listen('b', 0, () => {});
    w.net.setLink('a', 'b', { delayMs: 40 });
    w.net.partition(['a'], ['b']);
    let start = w.env.clock.now();
    await expect(w.settle(w.net.transport('a').connect('b', l.port))).rejects.toThrow('connect_timeout');
    expect(w.env.clock.now() - start).toBe(connectTimeoutMs);
    w.net.heal();
    start = w.env.clock.now();
    await expect(w.settle(w.net.transport('a').connect('b', l.port + 1))).rejects.toThrow('connection_refused');
    expect(w.env.clock.now() - start).toBe(40);
  });

  it('a one-way partition either way breaks the handshake (it needs both directions)', async () => {
    const w = world();
    const l = await w.net.transport('b').listen('b', 0, () => {});
    w.net.partition(['b'], ['a'], { oneWay: true });
    await expect(w.settle(w.net.transport('a').connect('b', l.port))).rejects.toThrow('connect_timeout');
    w.net.heal();
    w.net.partition(['a'], ['b'], { oneWay: true });
    await expect(w.settle(w.net.transport('a').connect('b', l.port))).rejects.toThrow('connect_timeout');
  });

  it('crash closes peers with connection_reset after the link delay; the crashed end sees crashed; restart allows listening again', async () => {
    const w = world();
    const { a, b, listener } = await w.connect('a', 'b');
    w.net.setLink('a', 'b', { delayMs: 20 });
    b.conn.send('sent before the crash');
    w.net.crash('b');
    b.conn.send('ignored');
    await w.env.advance(0);
    expect(b.closes).toEqual(['crashed']);
    await w.env.advance(19);
    expect(a.closes).toEqual([]);
    await w.env.advance(1);
    expect(a.frames).toEqual(['sent before the crash']);
    expect(a.closes).toEqual(['connection_reset']);
    await expect(w.settle(w.net.transport('a').connect('b', listener.port))).rejects.toThrow('connection_refused');
    await expect(w.net.transport('b').listen('b', 0, () => {})).rejects.toThrow('crashed');
    w.net.restart('b');
    const again = await w.net.transport('b').listen('b', listener.port, () => {});
    expect(again.port).toBe(listener.port);
    await w.quiet();
    expect(a.closes).toEqual(['connection_reset']);
    expect(b.closes).toEqual(['crashed']);
  });

  it('jitter varies delays but keeps FIFO', async () => {
    const w = world('jitter');
    const { a, b } = await w.connect('a', 'b');
    w.net.setLink('a', 'b', { delayMs: 5, jitterMs: 50 });
    const arrivals: number[] = [];
    b.conn.onFrame = (d) => {
      b.frames.push(d);
      arrivals.push(w.env.clock.now());
    };
    for (let i = 0; i < 1_000; i++) {
      a.conn.send(String(i));
      if (i % 10 === 0) await w.env.advance(3);
    }
    await w.until(() => b.frames.length === 1_000, 'all frames');
    expect(b.frames).toEqual(seq(1_000));
    expect(new Set(arrivals.slice(1).map((t, i) => t - arrivals[i]!)).size).toBeGreaterThan(3);
  });

  it('the same seed gives the same delivery timeline; another seed another one', async () => {
    const timeline = async (seed: number): Promise<string[]> => {
      const w = world(seed);
      const log: string[] = [];
      const links = await Promise.all([w.connect('a', 'b'), w.connect('c', 'b')]);
      w.net.setLink('a', 'b', { delayMs: 2, jitterMs: 30 });
      w.net.setLink('c', 'b', { delayMs: 1, jitterMs: 60 });
      links.forEach(({ a, b }, n) => {
        a.conn.onFrame = (d) => log.push(`${w.env.clock.now()} ${n} reply ${d}`);
        b.conn.onFrame = (d) => {
          log.push(`${w.env.clock.now()} ${n} ${d}`);
          b.conn.send(d);
        };
      });
      for (let i = 0; i < 200; i++) {
        links[i % 2]!.a.conn.send(String(i));
        await w.env.advance(w.env.rng.int(0, 4));
      }
      await w.quiet();
      return log;
    };
    const one = await timeline(1);
    expect(one.length).toBe(400);
    expect(await timeline(1)).toEqual(one);
    expect(await timeline(2)).not.toEqual(one);
  });
});

// ---- ws only: frame limit and TLS ------------------------------------------

describe('ws transport', () => {
  it('a frame over maxFrameBytes closes that connection; the server keeps accepting', async () => {
    const client = wsTransport(); // the default limit: the sender does not stop the big frame
    const net: Net = { server: wsTransport({ maxFrameBytes: 1024 }), client, host: '127.0.0.1', ...realWaits() };
    const accepted: Peer[] = [];
    const listener = await listen(net, (c) => accepted.push(record(c)));
    const first = record(await net.settle(client.connect(net.host, listener.port)));
    first.conn.send('x'.repeat(1025));
    await net.until(() => first.closes.length === 1 && accepted[0]?.closes.length === 1, 'both ends closed');
    expect(accepted[0]!.frames).toEqual([]);
    expect(accepted[0]!.closes[0]).toMatch(/^error:/);

    const second = record(await net.settle(client.connect(net.host, listener.port)));
    second.conn.send('y'.repeat(1024)); // exactly the limit is accepted
    await net.until(() => accepted[1]?.frames.length === 1, 'a frame at the limit on a new connection');
    expect(second.closes).toEqual([]);
  });

  it('bufferedBytes follows the socket when the peer stops reading (ws bufferedAmount), and onDrain fires once it has caught up', async () => {
    const net = wsNet();
    // A bare ws server that stops reading its socket: the kernel's buffers fill, then ws queues in user space.
    const server = new WebSocketServer({ port: 0, host: '127.0.0.1', perMessageDeflate: false });
    await new Promise((r) => server.once('listening', r));
    let sock: import('node:net').Socket | undefined;
    let received = 0;
    server.on('connection', (ws, req) => {
      sock = req.socket;
      sock.pause();
      ws.on('message', () => received++);
    });
    try {
      const client = record(await net.settle(net.client.connect('127.0.0.1', (server.address() as import('node:net').AddressInfo).port)));
      let drains = 0;
      client.conn.onDrain = () => drains++;
      await net.until(() => sock !== undefined, 'the server side');
      const frame = 'z'.repeat(64 * 1024);
      let sent = 0;
      while (client.conn.bufferedBytes() < 4 * 1024 * 1024 && sent < 2_000) {
        client.conn.send(frame);
        sent++;
        if (sent % 16 === 0) await net.quiet(); // let the socket write what the kernel takes
      }
      expect(client.conn.bufferedBytes()).toBeGreaterThanOrEqual(4 * 1024 * 1024);
      // (A host whose kernel buffers took a whole burst during a pause may have drained once while filling.)
      const before = drains;
      sock!.resume();
      await net.until(() => received === sent && drains === before + 1, 'every frame read and the drain');
      expect(client.conn.bufferedBytes()).toBe(0);
    } finally {
      // The server's close waits for its connections to end.
      for (const ws of server.clients) ws.terminate();
      await new Promise((r) => server.close(r));
    }
  });

  it('a close reason over 120 bytes reaches the peer cut at a character boundary', async () => {
    const net = wsNet();
    const { client, server } = await pair(net);
    client.conn.close('é'.repeat(100)); // 200 bytes of UTF-8
    await net.until(() => server.closes.length === 1, 'the close');
    expect(server.closes).toEqual(['é'.repeat(60)]);
  });

  it('a peer that resets the TCP connection ends in one onClose, never a throw', async () => {
    const net = wsNet();
    const accepted: Peer[] = [];
    const listener = await listen(net, (c) => accepted.push(record(c)));
    const raw = netConnect(listener.port, '127.0.0.1');
    raw.write(
      'GET / HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n' +
        'Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n',
    );
    await net.until(() => accepted.length === 1, 'the upgraded connection');
    raw.resetAndDestroy();
    await net.until(() => accepted[0]!.closes.length === 1, 'onClose after the reset');
    await net.quiet();
    expect(accepted[0]!.closes).toHaveLength(1);
    expect(accepted[0]!.closes[0]).toMatch(/^(error:|closed:)/);
    const next = record(await net.settle(net.client.connect(net.host, listener.port)));
    next.conn.send('still accepting');
    await net.until(() => accepted[1]?.frames.length === 1, 'a frame on a new connection');
  });

  it('a binary frame closes the connection: text frames only', async () => {
    const net = wsNet();
    const accepted: Peer[] = [];
    const listener = await listen(net, (c) => accepted.push(record(c)));
    const raw = new WebSocket(`ws://127.0.0.1:${listener.port}/`);
    const rawCloses: string[] = [];
    raw.on('close', (code, reason) => rawCloses.push(`${code} ${reason.toString()}`));
    raw.on('open', () => raw.send(Buffer.from([1, 2, 3])));
    await net.until(() => accepted[0]?.closes.length === 1 && rawCloses.length === 1, 'both ends closed');
    expect(accepted[0]!.frames).toEqual([]);
    expect(accepted[0]!.closes).toEqual(['binary_frame_unsupported']);
    expect(rawCloses).toEqual(['1003 binary_frame_unsupported']);
  });

  describe('TLS', () => {
    let dir = '';
    const files = (name: string) => ({ cert: join(dir, `${name}.crt.pem`), key: join(dir, `${name}.key.pem`) });
    const selfSigned = (name: string): void => {
      const { cert, key } = files(name);
      // The SAN lets the client verify the server by the address it dials.
      execFileSync(
        'openssl',
        ['req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-days', '1', '-subj', '/CN=localhost', '-addext', 'subjectAltName=DNS:localhost,IP:127.0.0.1', '-keyout', key, '-out', cert],
        { stdio: 'ignore' },
      );
    };
    beforeAll(() => {
      dir = mkdtempSync(join(tmpdir(), 'dq-tls-'));
      selfSigned('node');
      selfSigned('stranger');
    });
    afterAll(() => rmSync(dir, { recursive: true, force: true }));

    const node = () => ({ certFile: files('node').cert, keyFile: files('node').key });

    it('a wss round trip works with caFile (mutual TLS)', async () => {
      const t = wsTransport({ tls: { ...node(), caFile: files('node').cert } });
      const net: Net = { server: t, client: t, host: '127.0.0.1', ...realWaits() };
      const { client, server } = await pair(net);
      client.conn.send('secret ping');
      server.conn.send('secret pong');
      await net.until(() => server.frames.length === 1 && client.frames.length === 1, 'both frames');
      expect(server.frames).toEqual(['secret ping']);
      expect(client.frames).toEqual(['secret pong']);
    });

    it('Distribution.start builds a wss transport from the config: two nodes call each other over mutual TLS, and a plain ws client is turned away', async () => {
      const tls = { ...node(), caFile: files('node').cert };
      const start = (name: string): Promise<Distribution> => Distribution.start({ node: `${name}@127.0.0.1:0`, cookie: 'tls-cookie-123', tls }, { env: realEnv() });
      const [a, b] = [await start('tlsa'), await start('tlsb')];
      try {
        await startServer(b.rt, { name: 'echo', init: () => ok(null), handleCall: (req: unknown, _from, s) => reply(req, s) }, undefined, { name: 'echo' });
        expect(await a.connect(b.node)).toBe(true);
        expect(await a.rt.call({ name: 'echo', node: b.node }, 'over wss', { timeout: 5_000 })).toBe('over wss');
        await expect(wsTransport().connect('127.0.0.1', Number(b.node.split(':').at(-1)))).rejects.toThrow(Error);
      } finally {
        await a.stop();
        await b.stop();
      }
    });

    it('a client without the CA fails to connect', async () => {
      const server = wsTransport({ tls: { ...node(), caFile: files('node').cert } });
      const l = await server.listen('127.0.0.1', 0, (c) => record(c));
      opened.push(l);
      await expect(wsTransport({ tls: node() }).connect('127.0.0.1', l.port)).rejects.toThrow(/self[- ]signed/);
      await expect(wsTransport().connect('127.0.0.1', l.port)).rejects.toThrow(Error);
    });

    it('with caFile the server refuses a client certificate the CA did not sign', async () => {
      const server = wsTransport({ tls: { ...node(), caFile: files('node').cert } });
      const l = await server.listen('127.0.0.1', 0, (c) => record(c));
      opened.push(l);
      const stranger = wsTransport({ tls: { certFile: files('stranger').cert, keyFile: files('stranger').key, caFile: files('node').cert } });
      await expect(stranger.connect('127.0.0.1', l.port)).rejects.toThrow(Error);
    });
  });
});
