// The distribution layer across real processes: three node processes on
// loopback form a mesh, call, monitor and link each other; one is killed with
// SIGKILL (everything that depended on it learns within the liveness bound),
// restarted on its port (it rejoins), frozen with SIGSTOP (the others time it
// out); a node with another cookie cannot join; and a fuzzer throws hostile
// frames at a listening socket. The test process drives the nodes as a hidden
// node (fixtures/cluster.ts); the nodes are fixtures/node-proc.ts.
import { randomBytes } from 'node:crypto';
import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { PROTOCOL_VERSION } from '../../runtime/dist/frames.js';
import type { ExitReason } from '../../runtime/types.js';
import { Driver, NodeProc, type Snapshot, killAll, onTestClock } from './fixtures/cluster.js';
import { deeplyNested, postHandshakeFrame, preHandshakeFrame, wrongCookieHandshake } from './fixtures/fuzz-frames.js';
import type { FixtureEvent } from './fixtures/protocol.js';
import { rawSession } from './fixtures/raw-peer.js';
import { eventually, now } from './fixtures/wait.js';

/** Unique per run, so names never collide with another run on the same host. */
const tag = randomBytes(3).toString('hex');
const COOKIE = `cluster-cookie-${tag}`;
const TICK_MS = 250;
/** The node's default timeoutTicks: a peer silent this long is disconnected. */
const LIVENESS_MS = TICK_MS * 4;
/** The liveness bound plus margin for process scheduling on a loaded 2-core machine. */
const DETECT_BOUND_MS = 3_000;
/** Redials back off up to reconnectMaxMs (5 s): a node that comes back may wait that long for its peers. */
const REJOIN_BOUND_MS = 12_000;

let driver: Driver;
/** A second hidden driver holding the other cookie, to command the node that has it. */
let otherDriver: Driver | undefined;

beforeAll(async () => {
  driver = await Driver.start(`drv-${tag}`, COOKIE);
});

afterAll(async () => {
  await killAll();
  await driver?.stop();
  await otherDriver?.stop();
});

// ---- reading what a node recorded -------------------------------------------

type Kind = FixtureEvent['kind'];
type EventOf<K extends Kind> = Extract<FixtureEvent, { kind: K }>;

function eventsOf<K extends Kind>(snap: Snapshot, kind: K, pred: (e: EventOf<K>) => boolean = () => true): EventOf<K>[] {
  return snap.events.filter((e): e is EventOf<K> => e.kind === kind && pred(e as EventOf<K>));
}

function one<K extends Kind>(snap: Snapshot, kind: K, pred: (e: EventOf<K>) => boolean): EventOf<K> {
  const found = eventsOf(snap, kind, pred);
  if (found.length !== 1) throw new Error(`expected one ${kind} event, found ${found.length}: ${JSON.stringify(snap.events)}`);
  return found[0]!;
}

// ---- the cluster ------------------------------------------------------------

describe('a cluster of three node processes', () => {
  let n1: NodeProc;
  let n2: NodeProc;
  let n3: NodeProc;
  /** The echo pid of the n2 that was killed. */
  let deadEcho: string | undefined;
  const others = (me: NodeProc): string[] => [n1, n2, n3].filter((p) => p !== me).map((p) => p.node).sort();

  beforeAll(async () => {
    [n1, n2, n3] = await Promise.all(['n1', 'n2', 'n3'].map((n) => NodeProc.start({ name: `${n}-${tag}`, cookie: COOKIE, tickMs: TICK_MS })));
  });

  /** Poll every node until each lists exactly the other two as visible peers. */
  async function meshFormed(): Promise<void> {
    for (const p of [n1, n2, n3]) {
      await eventually(
        () => driver.ctl(p.node, { op: 'nodes' }),
        (r) => JSON.stringify(r.visible) === JSON.stringify(others(p)),
        `${p.node} to list ${others(p).join(', ')}`,
        REJOIN_BOUND_MS,
      );
    }
  }

  it('connecting n1 and n3 to n2 forms the full mesh, and the hidden test node is in no visible list', async () => {
    expect(await driver.ctl(n1.node, { op: 'connect', node: n2.node })).toBe(true);
    expect(await driver.ctl(n3.node, { op: 'connect', node: n2.node })).toBe(true);
    await meshFormed(); // n1 and n3 meet through n2's gossip
    for (const p of [n1, n2, n3]) {
      const r = await driver.ctl(p.node, { op: 'nodes' });
      expect(r.visible).toEqual(others(p));
      expect(r.visible).not.toContain(driver.node);
      expect(r.hidden).toEqual([driver.node]);
      expect(p.strayStdout()).toEqual([]);
    }
  });

  it('a call from n1 reaches the echo server on n3 and returns its reply', async () => {
    const request = { hello: 'n3', n: [1, 2, 3], nested: { ok: true } };
    const { id } = await driver.ctl(n1.node, { op: 'call', target: { name: 'echo', node: n3.node }, request, timeout: 5_000 });
    const snap = await eventually(() => driver.snapshot(n1.node), (s) => eventsOf(s, 'call', (e) => e.id === id).length === 1, 'the call to complete');
    expect(one(snap, 'call', (e) => e.id === id).outcome).toEqual({ ok: true, value: request });
    expect(await driver.echo(n3.node, 'direct')).toBe('direct');
  });

  it('a monitor from n1 and a link from n3 on a process of n2 deliver its exit reason; a missing name is noproc', async () => {
    const victim = await driver.ctl(n2.node, { op: 'spawn' });
    const mon = await driver.ctl(n1.node, { op: 'monitor', target: victim });
    const link = await driver.ctl(n3.node, { op: 'link', target: victim });
    const missing = await driver.ctl(n1.node, { op: 'monitor', target: { name: 'nobody', node: n2.node } });
    expect([mon.synced, link.synced, missing.synced]).toEqual([true, true, true]);

    const reason: ExitReason = { type: 'custom', value: `boom-${tag}` };
    await driver.ctl(n2.node, { op: 'exit', pid: victim, reason });
    const s1 = await eventually(() => driver.snapshot(n1.node), (s) => eventsOf(s, 'down').length >= 2, 'the DOWNs on n1');
    const s3 = await eventually(() => driver.snapshot(n3.node), (s) => eventsOf(s, 'exit', (e) => e.id === link.id).length === 1, 'the EXIT on n3');
    expect(one(s1, 'down', (e) => e.id === mon.id)).toMatchObject({ pid: victim, reason });
    expect(one(s1, 'down', (e) => e.id === missing.id)).toMatchObject({ pid: 'nobody', reason: 'noproc' });
    expect(one(s3, 'exit', (e) => e.id === link.id)).toMatchObject({ from: victim, reason });
  });

  it('kill -9 of n2: n1 and n3 see nodedown, DOWN and EXIT noconnection, and NodeDown for calls in flight, within the liveness bound', async () => {
    const echo2 = await driver.ctl(n2.node, { op: 'whereis', name: 'echo' });
    expect(echo2).toMatch(/^</);
    deadEcho = echo2!;
    const setup = async (p: NodeProc, monitorTarget: string | { name: string; node: string }) => {
      const mon = await driver.ctl(p.node, { op: 'monitor', target: monitorTarget });
      const link = await driver.ctl(p.node, { op: 'link', target: echo2! });
      expect([mon.synced, link.synced]).toEqual([true, true]);
      const call = await driver.ctl(p.node, { op: 'call', target: { name: 'echo', node: n2.node }, request: { sleep: 30_000 }, timeout: 60_000 });
      return { node: p.node, mon: mon.id, link: link.id, call: call.id };
    };
    const watchers = [await setup(n1, { name: 'echo', node: n2.node }), await setup(n3, echo2!)];
    // Both calls are in flight: n2's echo holds them.
    await eventually(() => driver.snapshot(n2.node), (s) => eventsOf(s, 'echo_sleep').length === 2, "both calls to reach n2's echo");

    const killedAt = now();
    n2.kill();
    const complete = (w: (typeof watchers)[number]) => (s: Snapshot) =>
      eventsOf(s, 'nodedown', (e) => e.node === n2.node).length > 0 &&
      eventsOf(s, 'down', (e) => e.id === w.mon).length > 0 &&
      eventsOf(s, 'exit', (e) => e.id === w.link).length > 0 &&
      eventsOf(s, 'call', (e) => e.id === w.call).length > 0;
    const snaps = await Promise.all(watchers.map((w) => eventually(() => driver.snapshot(w.node), complete(w), `${w.node} to record n2's death`, DETECT_BOUND_MS)));
    const observedMs = now() - killedAt;
    expect(observedMs).toBeLessThan(DETECT_BOUND_MS);
    expect(await n2.exited).toEqual({ code: null, signal: 'SIGKILL' });

    watchers.forEach((w, i) => {
      const s = snaps[i]!;
      const down = one(s, 'nodedown', (e) => e.node === n2.node);
      const mon = one(s, 'down', (e) => e.id === w.mon);
      const link = one(s, 'exit', (e) => e.id === w.link);
      const call = one(s, 'call', (e) => e.id === w.call);
      expect(mon.reason).toBe('noconnection');
      expect(link).toMatchObject({ from: echo2, reason: 'noconnection' });
      expect(call.outcome).toEqual({ ok: false, error: 'NodeDown', code: 'nodedown' });
      // On the node's own clock, all of it happened together, and (on ours) well inside the bound.
      for (const e of [mon, link, call]) expect(Math.abs(e.at - down.at)).toBeLessThan(LIVENESS_MS);
      const detectedMs = onTestClock(s, down.at) - killedAt;
      expect(detectedMs).toBeLessThan(DETECT_BOUND_MS);
      console.info(`[timing] ${w.node}: nodedown (${down.reason}) ${detectedMs.toFixed(0)} ms after kill -9; all observed by ${observedMs.toFixed(0)} ms`);
    });
    // n1 and n3 stay connected to each other.
    expect((await driver.ctl(n1.node, { op: 'nodes' })).visible).toEqual([n3.node]);
    expect((await driver.ctl(n3.node, { op: 'nodes' })).visible).toEqual([n1.node]);
  });

  it('n2 restarted on the same port rejoins: nodeup on n1 and n3, calls work again, and pids of the old incarnation are noproc', async () => {
    const staleEcho = deadEcho!; // the killed incarnation's echo
    const startedAt = now();
    n2 = await NodeProc.start({ name: `n2-${tag}`, cookie: COOKIE, tickMs: TICK_MS, port: n2.port });
    expect(n2.node).toBe(`n2-${tag}@127.0.0.1:${n2.port}`);
    const upAgain = (s: Snapshot) => {
      const lastDown = eventsOf(s, 'nodedown', (e) => e.node === n2.node).at(-1)!;
      return eventsOf(s, 'nodeup', (e) => e.node === n2.node && e.at > lastDown.at).length > 0;
    };
    await Promise.all([n1, n3].map((p) => eventually(() => driver.snapshot(p.node), upAgain, `${p.node} to see n2 up again`, REJOIN_BOUND_MS)));
    console.info(`[timing] n2 restarted and rejoined n1 and n3 ${(now() - startedAt).toFixed(0)} ms after the restart began`);
    await meshFormed();

    const { id } = await driver.ctl(n1.node, { op: 'call', target: { name: 'echo', node: n2.node }, request: 'again', timeout: 5_000 });
    const s = await eventually(() => driver.snapshot(n1.node), (x) => eventsOf(x, 'call', (e) => e.id === id).length === 1, 'the call to the new n2');
    expect(one(s, 'call', (e) => e.id === id).outcome).toEqual({ ok: true, value: 'again' });

    // The new incarnation has an echo at the same serial, under a new creation: the old pid names nothing.
    const newEcho = await driver.ctl(n2.node, { op: 'whereis', name: 'echo' });
    expect(newEcho).not.toBe(staleEcho);
    const stale = await driver.ctl(n1.node, { op: 'monitor', target: staleEcho });
    const s1 = await eventually(() => driver.snapshot(n1.node), (x) => eventsOf(x, 'down', (e) => e.id === stale.id).length === 1, 'the DOWN for the stale pid');
    expect(one(s1, 'down', (e) => e.id === stale.id)).toMatchObject({ pid: staleEcho, reason: 'noproc' });
  });

  it('n2 frozen with SIGSTOP is timed out by n1 and n3 (tick_timeout, no socket close) and rejoins after SIGCONT', async () => {
    const before = (p: NodeProc) => driver.snapshot(p.node).then((s) => eventsOf(s, 'nodedown', (e) => e.node === n2.node).length);
    const downs = { [n1.node]: await before(n1), [n3.node]: await before(n3) };
    const ups = async (p: NodeProc) => eventsOf(await driver.snapshot(p.node), 'nodeup', (e) => e.node === n2.node).length;
    const upsBefore = { [n1.node]: await ups(n1), [n3.node]: await ups(n3) };
    const frozenAt = now();
    n2.freeze();
    try {
      const snaps = await Promise.all(
        [n1, n3].map((p) =>
          eventually(() => driver.snapshot(p.node), (s) => eventsOf(s, 'nodedown', (e) => e.node === n2.node).length > downs[p.node]!, `${p.node} to time n2 out`, DETECT_BOUND_MS),
        ),
      );
      for (const s of snaps) {
        const down = eventsOf(s, 'nodedown', (e) => e.node === n2.node).at(-1)!;
        expect(down.reason).toBe('tick_timeout');
        const detectedMs = onTestClock(s, down.at) - frozenAt;
        // Not before the peer has been silent for the liveness bound, less what had already passed since
        // its last tick when it froze (ticks go out every one or two tick periods).
        expect(detectedMs).toBeGreaterThan(LIVENESS_MS - 2 * TICK_MS - 100);
        expect(detectedMs).toBeLessThan(DETECT_BOUND_MS);
        console.info(`[timing] frozen n2 timed out after ${detectedMs.toFixed(0)} ms (bound ${LIVENESS_MS} ms + one tick)`);
      }
    } finally {
      n2.thaw();
    }
    await Promise.all(
      [n1, n3].map((p) => eventually(() => ups(p), (n) => n > upsBefore[p.node]!, `${p.node} to see n2 up after SIGCONT`, REJOIN_BOUND_MS)),
    );
    await meshFormed();
    expect(await driver.echo(n2.node, 'thawed')).toBe('thawed');
  });

  it('a node with another cookie cannot join: connect is refused both ways and the mesh is unchanged', async () => {
    const otherCookie = `other-cookie-${tag}`;
    otherDriver = await Driver.start(`drv2-${tag}`, otherCookie);
    const n4 = await NodeProc.start({ name: `n4-${tag}`, cookie: otherCookie, tickMs: TICK_MS });
    expect(await otherDriver.ctl(n4.node, { op: 'connect', node: n2.node })).toBe(false);
    expect(await driver.ctl(n2.node, { op: 'connect', node: n4.node })).toBe(false);
    expect((await driver.ctl(n2.node, { op: 'nodes' })).visible).toEqual(others(n2));
    expect(await otherDriver.ctl(n4.node, { op: 'nodes' })).toEqual({ visible: [], hidden: [otherDriver.node] });
    // Our driver holds the mesh's cookie: n4 will not talk to it either.
    await expect(driver.echo(n4.node, 'hi', 2_000)).rejects.toMatchObject({ code: 'nodedown' });
    await n4.stop();
    expect((await driver.ctl(n2.node, { op: 'nodes' })).visible).toEqual(others(n2));
  });
});

// ---- hostile input ----------------------------------------------------------

describe('hostile input on a listening socket', () => {
  const limits = { maxFrameBytes: 65_536, wsMaxPayload: 131_072 };
  const handshakeTimeoutMs = 500;
  let target: NodeProc;

  beforeAll(async () => {
    target = await NodeProc.start({ name: `fz-${tag}`, cookie: COOKIE, tickMs: TICK_MS, handshakeTimeoutMs, ...limits });
    expect(await driver.echo(target.node, 'ready')).toBe('ready');
  });

  /** The node survived and still serves a well-behaved peer. */
  async function stillServes(node: NodeProc, probe: unknown): Promise<void> {
    let reply: unknown;
    try {
      reply = await driver.echo(node.node, probe, 3_000);
    } catch (e) {
      await eventually(async () => node.alive(), (alive) => !alive, 'the node to exit', 1_000).catch(() => undefined);
      throw new Error(`${node.node} no longer answers (${String(e)}); alive: ${node.alive()}; stderr:\n${node.stderr().slice(-3_000)}`);
    }
    expect(reply).toEqual(probe);
    expect(node.alive()).toBe(true);
  }

  it('never crashes and closes every connection that sends malformed or unexpected frames (fuzz)', async () => {
    let run = 0;
    /** How the node ended each connection (close code and reason tag), for the summary line. */
    const endings = new Map<string, number>();
    const peerNames = (n: number) => `fzp${n}-${tag}@127.0.0.1:1`;
    await fc.assert(
      fc.asyncProperty(
        fc.oneof(
          { weight: 3, arbitrary: fc.record({ authenticated: fc.constant(false), frames: fc.array(preHandshakeFrame(target.node, limits), { minLength: 1, maxLength: 3 }) }) },
          { weight: 1, arbitrary: fc.record({ authenticated: fc.constant(false), frames: wrongCookieHandshake }) },
          { weight: 1, arbitrary: fc.record({ authenticated: fc.constant(true), frames: fc.array(postHandshakeFrame(limits), { minLength: 1, maxLength: 2 }) }) },
        ),
        async ({ authenticated, frames }) => {
          const i = ++run;
          const outcome = await rawSession(target.port, frames, {
            closeBoundMs: handshakeTimeoutMs + 2_000,
            ...(authenticated ? { authenticate: { cookie: COOKIE, name: peerNames(i), target: target.node } } : {}),
          });
          expect(outcome.type).not.toBe('open');
          const ending = outcome.type === 'closed' ? `${outcome.code} ${outcome.reason.split(':')[0]}` : outcome.type;
          endings.set(ending, (endings.get(ending) ?? 0) + 1);
          await stillServes(target, { run: i });
        },
      ),
      // The node under test is stateful: after a failure, shrinking would only replay against a dead node.
      { numRuns: 200, endOnFailure: true, interruptAfterTimeLimit: 25_000 },
    );
    expect(target.strayStdout()).toEqual([]);
    // The time limit keeps a loaded CI machine inside the test's timeout; a floor keeps it a fuzz (200 runs take
    // ≈ 2.7 s here, so fewer than 50 means the machine was some forty times slower than this one).
    expect(run).toBeGreaterThanOrEqual(50);
    console.info(`[fuzz] ${run} runs; connections ended by: ${JSON.stringify(Object.fromEntries([...endings].sort((a, b) => b[1] - a[1])))}`);
  }, 40_000);
});

// Defects these tests found in runtime/dist and runtime/kernel.ts: each test states the behaviour it
// expects and has a node (or two) of its own, so one crash cannot hide another.
describe('defects found across processes', () => {
  const nodes = new Map<string, NodeProc>();
  const fresh = (name: string): NodeProc => nodes.get(name)!;

  beforeAll(async () => {
    const started = await Promise.all([
      NodeProc.start({ name: `deepv-${tag}`, cookie: COOKIE, tickMs: TICK_MS }),
      NodeProc.start({ name: `deepc-${tag}`, cookie: COOKIE, tickMs: TICK_MS }),
      // The socket's limit (bytes) is the node's own: the fixture's default.
      NodeProc.start({ name: `biga-${tag}`, cookie: COOKIE, tickMs: TICK_MS, maxFrameBytes: 65_536 }),
      NodeProc.start({ name: `bigb-${tag}`, cookie: COOKIE, tickMs: TICK_MS, maxFrameBytes: 65_536 }),
      NodeProc.start({ name: `deleg-${tag}`, cookie: COOKIE, tickMs: TICK_MS }),
    ]);
    for (const p of started) nodes.set(p.options.name.slice(0, p.options.name.lastIndexOf('-')), p);
  });

  /** Give a crash a moment to surface, then require the node alive and serving. */
  async function survives(node: NodeProc): Promise<void> {
    await eventually(async () => node.alive(), (alive) => !alive, 'a crash, if there is one', 300).catch(() => undefined);
    expect(node.alive(), `the node died:\n${node.stderr().slice(-2_000)}`).toBe(true);
    expect(await driver.echo(node.node, 'still here')).toBe('still here');
  }

  it('a first frame whose "v" is a 10,000-deep nested array is refused, and the node survives', async () => {
    const node = fresh('deepv');
    const outcome = await rawSession(node.port, [{ kind: 'text', data: deeplyNested(10_000, 'v') }], { closeBoundMs: 3_000 });
    expect(outcome.type).toBe('closed');
    await survives(node);
  });

  it("a peer's call whose request is a 20,000-deep nested array loses only its reply (JSON cannot encode it); node and connection survive", async () => {
    const node = fresh('deepc');
    const peer = `deepcp-${tag}@127.0.0.1:1`;
    const nest = `${'['.repeat(20_000)}${']'.repeat(20_000)}`;
    const call = `{"v":${PROTOCOL_VERSION},"t":"b","ops":[{"t":"call","from":1,"to":"echo","ref":1,"request":${nest}}]}`;
    const outcome = await rawSession(node.port, [{ kind: 'text', data: call }], { closeBoundMs: 500, authenticate: { cookie: COOKIE, name: peer, target: node.node } });
    expect(outcome.type).toBe('open'); // the frame was valid: the node keeps the connection
    await survives(node);
  });

  it('a message whose UTF-8 encoding exceeds maxFrameBytes fails alone (ServerExited: MessageNotSendable), and the connection stays up', async () => {
    const [a, b] = [fresh('biga'), fresh('bigb')];
    expect(await driver.ctl(a.node, { op: 'connect', node: b.node })).toBe(true);
    // 30,000 '€' are 30,000 UTF-16 code units (under the limit if counted as string length) but 90,000 bytes on the wire.
    const target = { name: 'echo', node: b.node };
    const { id } = await driver.ctl(a.node, { op: 'call', target, request: null, timeout: 5_000, pad: { text: '€', times: 30_000 } });
    const s = await eventually(() => driver.snapshot(a.node), (x) => eventsOf(x, 'call', (e) => e.id === id).length === 1, 'the call to end');
    expect(eventsOf(s, 'nodedown', (e) => e.node === b.node)).toEqual([]);
    expect(one(s, 'call', (e) => e.id === id).outcome).toEqual({ ok: false, error: 'ServerExited', code: 'server_exited' });
    expect((await driver.ctl(a.node, { op: 'nodes' })).visible).toEqual([b.node]);
  });

  it('a remote call answered by a worker process (not the server) leaves no monitor behind on the server', async () => {
    const node = fresh('deleg');
    const before = await driver.ctl(node.node, { op: 'stats' });
    for (let i = 0; i < 50; i++) expect(await driver.echo(node.node, { delegate: true, i })).toEqual({ delegate: true, i });
    const after = await driver.ctl(node.node, { op: 'stats' });
    expect(after.processes).toBe(before.processes); // the workers are gone…
    expect(after.remoteWatched).toBe(before.remoteWatched); // …and so should the calls' monitors be
  });
});
