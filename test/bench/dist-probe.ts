// A diagnostic for the sequential-call gap of the dist benchmark (docs/distribution.md, Benchmark): N
// sequential round trips in one mode, with the CPU each side spent per round trip. Not a benchmark of its
// own (no target); run it alone:
//   node --import tsx test/bench/dist-probe.ts <mode> [calls]
// Modes, all but `hot` between this process and a dist-peer.ts child over loopback:
//   ours      rt.call to the peer's `echo` gen_server
//   pecho     rt.call to the peer's `pecho`, a plain process that answers itself (no gen_server)
//   raw       bare ws: `{"req":i}` echoed by the peer's raw server
//   rawframe  bare ws, sending the JSON our call frames have (same server)
//   hot       ours and raw without sockets: two nodes in this process over a transport that hands each
//             frame over with setImmediate, against the same hops with only JSON work
// Prints one JSON line: round trips per second, µs of wall time and of CPU (this process; the peer's from
// /proc/<pid>/stat) per round trip.
import { type ChildProcess, spawn } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { WebSocket } from 'ws';
import { type ServerBehaviour, ok, realEnv, reply, startServer } from '../../runtime/index.js';
import { ConnInbox, InboxConn } from '../../runtime/dist/inbox.js';
import { Distribution } from '../../runtime/dist/node.js';
import type { Conn, Listener, Transport } from '../../runtime/dist/transport.js';

const here = dirname(fileURLToPath(import.meta.url));
const mode = process.argv[2] ?? 'ours';
const calls = Number(process.argv[3] ?? 30_000);
const warmup = 3_000;
const cookie = 'bench-cookie'; // dist-peer.ts's

/** CPU µs of another process so far (utime + stime, in clock ticks of 10 ms). */
function cpuOf(pid: number): number {
  const fields = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1]!.split(' ');
  return (Number(fields[11]) + Number(fields[12])) * 10_000;
}

interface Figures {
  readonly per_s: number;
  readonly wall_us: number;
  readonly cpu_us: number;
  readonly peer_cpu_us?: number;
}

async function measure(loop: (n: number) => Promise<void>, peer?: ChildProcess): Promise<Figures> {
  await loop(warmup);
  const c0 = process.cpuUsage();
  const p0 = peer?.pid === undefined ? 0 : cpuOf(peer.pid);
  const t0 = performance.now();
  await loop(calls);
  const ms = performance.now() - t0;
  const c = process.cpuUsage(c0);
  const peerCpu = peer?.pid === undefined ? undefined : (cpuOf(peer.pid) - p0) / calls;
  return {
    per_s: Math.round((calls / ms) * 1000),
    wall_us: Number(((ms * 1000) / calls).toFixed(1)),
    cpu_us: Number(((c.user + c.system) / calls).toFixed(1)),
    ...(peerCpu === undefined ? {} : { peer_cpu_us: Number(peerCpu.toFixed(1)) }),
  };
}

/** Sequential request/reply over one bare ws connection; `frame(i)` is what each request says. */
async function wsLoop(port: number, frame: (i: number) => unknown): Promise<{ loop: (n: number) => Promise<void>; close: () => void }> {
  const ws = new WebSocket(`ws://127.0.0.1:${port}/`, { perMessageDeflate: false });
  await new Promise((r) => ws.once('open', r));
  let pending: ((v: unknown) => void) | undefined;
  ws.on('message', (d) => pending?.(JSON.parse(d.toString())));
  let i = 0;
  const loop = async (n: number): Promise<void> => {
    for (let k = 0; k < n; k++) {
      await new Promise((r) => {
        pending = r;
        ws.send(JSON.stringify(frame(i++)));
      });
    }
  };
  return { loop, close: () => ws.close() };
}

/** A Conn pair in this process: each frame is handed to the other end in a setImmediate, as a socket read would be. */
class ImmediateConn extends InboxConn implements Conn {
  other!: ImmediateConn;
  onDrain: () => void = () => {};
  constructor() {
    super(new ConnInbox(queueMicrotask));
  }
  send(frame: string | readonly string[]): void {
    const to = this.other;
    const data = typeof frame === 'string' ? frame : frame.join('');
    setImmediate(() => to.inbox.frame(data));
  }
  bufferedBytes(): number {
    return 0;
  }
  close(reason: string): void {
    this.inbox.close('closed_locally', true);
    const to = this.other;
    setImmediate(() => to.inbox.close(reason, false));
  }
}

function immediateTransport(): Transport {
  const listeners = new Map<number, (c: Conn) => void>();
  let nextPort = 1;
  return {
    async listen(_host, port, onConn): Promise<Listener> {
      const p = port === 0 ? nextPort++ : port;
      listeners.set(p, onConn);
      return { port: p, close: async () => void listeners.delete(p) };
    },
    async connect(_host, port): Promise<Conn> {
      const onConn = listeners.get(port);
      if (onConn === undefined) throw new Error(`nothing listens on ${port}`);
      const a = new ImmediateConn();
      const b = new ImmediateConn();
      a.other = b;
      b.other = a;
      onConn(b);
      return a;
    },
  };
}

async function hot(): Promise<Record<string, Figures>> {
  const transport = immediateTransport();
  const a = await Distribution.start({ node: 'a@127.0.0.1:0', cookie }, { env: realEnv(), transport });
  const b = await Distribution.start({ node: 'b@127.0.0.1:0', cookie }, { env: realEnv(), transport });
  if (!(await a.connect(b.node))) throw new Error('the in-process nodes did not connect');
  const echo: ServerBehaviour<null, void, unknown, unknown> = { name: 'echo', init: () => ok(null), handleCall: (req, _f, s) => reply(req, s) };
  await startServer(b.rt, echo, undefined, { name: 'echo' });
  const dest = { name: 'echo', node: b.node };
  const ours = async (n: number): Promise<void> => {
    for (let i = 0; i < n; i++) await a.rt.call(dest, i);
  };
  // The same two hops, with only the JSON work of a bare echo.
  let pending: ((v: unknown) => void) | undefined;
  const clientGets = (d: string): void => pending?.(JSON.parse(d));
  const serverGets = (d: string): void => {
    const text = JSON.stringify(JSON.parse(d));
    setImmediate(() => clientGets(text));
  };
  const raw = async (n: number): Promise<void> => {
    for (let i = 0; i < n; i++) {
      await new Promise((r) => {
        pending = r;
        const text = JSON.stringify({ req: i });
        setImmediate(() => serverGets(text));
      });
    }
  };
  const out = { ours: await measure(ours), raw: await measure(raw) };
  await a.stop();
  await b.stop();
  return out;
}

async function overLoopback(): Promise<Figures> {
  const peer = spawn(process.execPath, ['--import', 'tsx', join(here, 'dist-peer.ts')], { stdio: ['pipe', 'pipe', 'inherit'] });
  try {
    const info = await new Promise<{ node: string; rawPort: number }>((resolve) => {
      createInterface({ input: peer.stdout! }).once('line', (l) => resolve(JSON.parse(l) as { node: string; rawPort: number }));
    });
    if (mode === 'raw' || mode === 'rawframe') {
      const frame = mode === 'raw' ? (i: number) => ({ req: i }) : (i: number) => ({ v: 2, t: 'b', ops: [{ t: 'call', from: 3, to: 'echo', ref: 100_000 + i, request: i }] });
      const ws = await wsLoop(info.rawPort, frame);
      const f = await measure(ws.loop, peer);
      ws.close();
      return f;
    }
    const dist = await Distribution.start({ node: 'probe@127.0.0.1:0', cookie }, { env: realEnv() });
    if (!(await dist.connect(info.node))) throw new Error('could not connect to the peer node');
    const dest = { name: mode === 'pecho' ? 'pecho' : 'echo', node: info.node };
    const f = await measure(async (n) => {
      for (let i = 0; i < n; i++) await dist.rt.call(dest, i);
    }, peer);
    await dist.stop();
    return f;
  } finally {
    peer.stdin!.end();
  }
}

if (!['ours', 'pecho', 'raw', 'rawframe', 'hot'].includes(mode)) {
  console.error(`unknown mode ${mode}: ours, pecho, raw, rawframe or hot`);
  process.exit(2);
}
const figures = mode === 'hot' ? await hot() : await overLoopback();
console.log(JSON.stringify({ probe: 'dist', mode, calls, ...figures }));
process.exit(0);
