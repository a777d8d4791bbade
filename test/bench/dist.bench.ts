// Distribution benchmark: our remote send and remote call between two node
// processes on loopback, against bare ws between the same two processes in the
// same run; then the round trips again with both processes spinning before sleep
// (busyWaitUs, BEAM's +sbwt), ours and bare ws alike. Prints one JSON line.
import { type ChildProcess, spawn } from 'node:child_process';
import { dirname, join } from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { WebSocket } from 'ws';
import { realEnv } from '../../runtime/index.js';
import { BusyWait } from '../../runtime/dist/busywait.js';
import { Distribution } from '../../runtime/dist/node.js';

const here = dirname(fileURLToPath(import.meta.url));
const now = (): number => performance.now();
const rate = (n: number, ms: number): number => Math.round((n / ms) * 1000);
const pct = (sorted: number[], p: number): number => +sorted[Math.floor(sorted.length * p)]!.toFixed(3);

/**
 * The spin window for the busy-wait section. It must outlast the longest quiet gap
 * a side sees mid-conversation: for the caller, a whole round trip (≈ 0.1 ms when
 * both sides spin, p99 ≈ 0.3–0.4 ms); 1 ms covers that with room for a descheduled
 * turn on a shared 2-core VM, and costs at most 1 ms of CPU after the last frame.
 */
const busyWaitUs = 1_000;

/** One peer process and our node connected to it, both with the same busyWaitUs (0: off). */
interface Session {
  readonly peer: ChildProcess;
  readonly peerNode: string;
  readonly rawPort: number;
  readonly dist: Distribution;
  /** Spins the bench side of the bare ws loops like the transport does (undefined when off). */
  readonly spin: BusyWait | undefined;
}

async function open(busyUs: number): Promise<Session> {
  const args = ['--import', 'tsx', join(here, 'dist-peer.ts'), ...(busyUs > 0 ? ['--busy-wait-us', String(busyUs)] : [])];
  const peer = spawn(process.execPath, args, { stdio: ['pipe', 'pipe', 'inherit'] });
  const info = await new Promise<{ node: string; rawPort: number }>((resolve) => {
    createInterface({ input: peer.stdout! }).once('line', (l) => resolve(JSON.parse(l) as { node: string; rawPort: number }));
  });
  // The default transport, built from the config (so busyWaitUs reaches it as in production).
  const dist = await Distribution.start({ node: 'bench@127.0.0.1:0', cookie: 'bench-cookie', busyWaitUs: busyUs }, { env: realEnv() });
  if (!(await dist.connect(info.node))) throw new Error('could not connect to the peer node');
  return { peer, peerNode: info.node, rawPort: info.rawPort, dist, spin: busyUs > 0 ? new BusyWait(busyUs) : undefined };
}

async function close(s: Session): Promise<void> {
  await s.dist.stop();
  const exited = new Promise((r) => s.peer.once('exit', r));
  s.peer.stdin!.end();
  await exited;
}

async function remoteSend(s: Session, n: number): Promise<number> {
  const { rt } = s.dist;
  const sink = { name: 'sink', node: s.peerNode };
  const base = await rt.call<number>(sink, 'count');
  const burst = 10_000;
  const t0 = now();
  await new Promise<void>((resolve) => {
    const producer = rt.spawn<number>({
      receive(left, ctx) {
        for (let i = 0; i < burst; i++) ctx.send(sink, i);
        if (left > burst) {
          // Yield so the frames go out, and respect back-pressure.
          void s.dist.whenWritable(s.peerNode).then(() => ctx.send(ctx.self, left - burst));
        } else {
          resolve();
        }
      },
    });
    rt.send(producer, n);
  });
  while ((await rt.call<number>(sink, 'count')) < base + n);
  return rate(n, now() - t0);
}

async function rawConnect(s: Session): Promise<WebSocket> {
  const ws = new WebSocket(`ws://127.0.0.1:${s.rawPort}/`, { perMessageDeflate: false });
  await new Promise((r) => ws.once('open', r));
  return ws;
}

async function rawBatched(s: Session, n: number): Promise<number> {
  const ws = await rawConnect(s);
  const batch = Array.from({ length: 100 }, (_, i) => ({ t: 'send', to: 'sink', msg: i }));
  const t0 = now();
  for (let sent = 0; sent < n; sent += 100) {
    ws.send(JSON.stringify(batch));
    if (ws.bufferedAmount > 8 * 1024 * 1024) await new Promise((r) => setImmediate(r));
  }
  const counted = await new Promise<number>((resolve) => {
    ws.on('message', (d) => resolve((JSON.parse(d.toString()) as { count: number }).count));
    ws.send(JSON.stringify({ count: true }));
  });
  const ms = now() - t0;
  ws.close();
  if (counted !== n) throw new Error(`raw sink counted ${counted}, expected ${n}`);
  return rate(n, ms);
}

interface Loop {
  readonly perS: number;
  readonly p50: number;
  readonly p99: number;
}

/** `n` sequential steps, timed one by one. */
async function timedLoop(n: number, step: (i: number) => Promise<unknown>): Promise<Loop> {
  const lat: number[] = [];
  const t0 = now();
  for (let i = 0; i < n; i++) {
    const t = now();
    await step(i);
    lat.push(now() - t);
  }
  const ms = now() - t0;
  lat.sort((a, b) => a - b);
  return { perS: rate(n, ms), p50: pct(lat, 0.5), p99: pct(lat, 0.99) };
}

/** Sequential request/reply over bare ws; with `s.spin`, touched on every frame as the transport does. */
async function rawRoundTrips(s: Session, n: number): Promise<Loop> {
  const ws = await rawConnect(s);
  let pending: ((v: unknown) => void) | undefined;
  ws.on('message', (d) => {
    s.spin?.touch();
    pending?.(JSON.parse(d.toString()));
  });
  const loop = await timedLoop(
    n,
    (i) =>
      new Promise((r) => {
        pending = r;
        ws.send(JSON.stringify({ req: i }));
        s.spin?.touch();
      }),
  );
  ws.close();
  return loop;
}

function sequentialCalls(s: Session, n: number): Promise<Loop> {
  const echo = { name: 'echo', node: s.peerNode };
  return timedLoop(n, (i) => s.dist.rt.call(echo, i));
}

async function inflightCalls(s: Session, n: number, inflight: number): Promise<number> {
  const echo = { name: 'echo', node: s.peerNode };
  let next = 0;
  const t0 = now();
  const worker = async (): Promise<void> => {
    while (next < n) {
      next++;
      await s.dist.rt.call(echo, next);
    }
  };
  await Promise.all(Array.from({ length: inflight }, worker));
  return rate(n, now() - t0);
}

const faster = (a: Loop, b: Loop): Loop => (b.perS > a.perS ? b : a);

// Part 1, no busy wait. Warm up both paths, then measure (best of 3 for throughput figures).
const plain = await open(0);
await sequentialCalls(plain, 2000);
await rawRoundTrips(plain, 2000);
let send = 0;
let rawB = 0;
for (let i = 0; i < 3; i++) {
  send = Math.max(send, await remoteSend(plain, 1_000_000));
  rawB = Math.max(rawB, await rawBatched(plain, 1_000_000));
}
const seq = await sequentialCalls(plain, 20_000);
const rawRt = faster(await rawRoundTrips(plain, 20_000), await rawRoundTrips(plain, 20_000));
const seq2 = await sequentialCalls(plain, 20_000);
const inflight = Math.max(await inflightCalls(plain, 100_000, 100), await inflightCalls(plain, 100_000, 100));
const best = faster(seq, seq2);
await close(plain);

// Part 2: a fresh peer and node, both with busyWaitUs; the bare ws loop spins the same way on both sides.
const busy = await open(busyWaitUs);
await sequentialCalls(busy, 2000);
await rawRoundTrips(busy, 2000);
const bSeq = await sequentialCalls(busy, 20_000);
const bRaw = faster(await rawRoundTrips(busy, 20_000), await rawRoundTrips(busy, 20_000));
const bSeq2 = await sequentialCalls(busy, 20_000);
const bBest = faster(bSeq, bSeq2);
await close(busy);

console.log(
  JSON.stringify({
    bench: 'dist',
    remote_send_msgs_per_s: send,
    raw_ws_batched_msgs_per_s: rawB,
    send_vs_raw: +(send / rawB).toFixed(2),
    remote_call_rt_per_s: best.perS,
    raw_ws_rt_per_s: rawRt.perS,
    call_vs_raw: +(best.perS / rawRt.perS).toFixed(2),
    remote_call_inflight100_per_s: inflight,
    remote_call_p50_ms: best.p50,
    remote_call_p99_ms: best.p99,
    raw_ws_rt_p50_ms: rawRt.p50,
    busy_wait_us: busyWaitUs,
    remote_call_rt_busy_per_s: bBest.perS,
    remote_call_busy_p50_ms: bBest.p50,
    remote_call_busy_p99_ms: bBest.p99,
    raw_ws_rt_busy_per_s: bRaw.perS,
    call_vs_raw_busy: +(bBest.perS / bRaw.perS).toFixed(2),
    call_busy_vs_raw: +(bBest.perS / rawRt.perS).toFixed(2),
    reference: { erlang_dist_msgs_per_s: 250_000, erlang_remote_calls_per_s: 12_000 },
  }),
);
process.exit(0);
