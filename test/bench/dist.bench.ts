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

/** `n` sequential steps, each one's latency (ms) pushed to `lat`; returns the steps per second. */
async function timedBlock(n: number, step: (i: number) => Promise<unknown>, lat: number[]): Promise<number> {
  const t0 = now();
  for (let i = 0; i < n; i++) {
    const t = now();
    await step(i);
    lat.push(now() - t);
  }
  return rate(n, now() - t0);
}

/** Sequential request/reply over one bare ws connection; with `s.spin`, touched on every frame as the transport does. */
async function rawRoundTripper(s: Session): Promise<{ readonly step: (i: number) => Promise<unknown>; readonly close: () => void }> {
  const ws = await rawConnect(s);
  let pending: ((v: unknown) => void) | undefined;
  ws.on('message', (d) => {
    s.spin?.touch();
    pending?.(JSON.parse(d.toString()));
  });
  return {
    step: (i) =>
      new Promise((r) => {
        pending = r;
        ws.send(JSON.stringify({ req: i }));
        s.spin?.touch();
      }),
    close: () => ws.close(),
  };
}

const median = (xs: readonly number[]): number => {
  const sorted = [...xs].sort((a, b) => a - b);
  const mid = sorted.length >> 1;
  return sorted.length % 2 === 1 ? sorted[mid]! : Math.round((sorted[mid - 1]! + sorted[mid]!) / 2);
};

/** Blocks of the sequential loops: so many, of so many round trips each. */
const rtBlocks = 8;
const rtBlockSize = 5_000;

/**
 * Sequential calls against the same loop on bare ws: `rtBlocks` pairs of blocks of `rtBlockSize`, one block of
 * each side a pair, in ABBA order (calls first in pairs 0 and 3 of every four, raw first in pairs 1 and 2), so
 * that both loops see the same moments of the VM: the speed at
 * which it wakes a sleeping process changes from minute to minute and sets most of a round trip's time. Each
 * side's rate is the median of its blocks; percentiles are over all of a side's round trips.
 */
async function sequentialRoundTrips(s: Session): Promise<{ readonly calls: Loop; readonly raw: Loop }> {
  const echo = { name: 'echo', node: s.peerNode };
  const call = (i: number): Promise<unknown> => s.dist.rt.call(echo, i);
  const raw = await rawRoundTripper(s);
  // Warm-up: both paths compiled and their caches filled before anything is timed.
  await timedBlock(2_000, call, []);
  await timedBlock(2_000, raw.step, []);
  const rates = { calls: [] as number[], raw: [] as number[] };
  const lat = { calls: [] as number[], raw: [] as number[] };
  for (let b = 0; b < rtBlocks; b++) {
    const order = b % 4 === 0 || b % 4 === 3 ? (['calls', 'raw'] as const) : (['raw', 'calls'] as const);
    for (const side of order) rates[side].push(await timedBlock(rtBlockSize, side === 'calls' ? call : raw.step, lat[side]));
  }
  raw.close();
  const loop = (side: 'calls' | 'raw'): Loop => {
    const sorted = lat[side].sort((a, b) => a - b);
    return { perS: median(rates[side]), p50: pct(sorted, 0.5), p99: pct(sorted, 0.99) };
  };
  return { calls: loop('calls'), raw: loop('raw') };
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

// Part 1, no busy wait. Warm up both paths, then measure (best of 3 for throughput figures).
const plain = await open(0);
let send = 0;
let rawB = 0;
for (let i = 0; i < 3; i++) {
  send = Math.max(send, await remoteSend(plain, 1_000_000));
  rawB = Math.max(rawB, await rawBatched(plain, 1_000_000));
}
const { calls: best, raw: rawRt } = await sequentialRoundTrips(plain);
const inflight = Math.max(await inflightCalls(plain, 100_000, 100), await inflightCalls(plain, 100_000, 100));
await close(plain);

// Part 2: a fresh peer and node, both with busyWaitUs; the bare ws loop spins the same way on both sides.
const busy = await open(busyWaitUs);
const { calls: bBest, raw: bRaw } = await sequentialRoundTrips(busy);
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
    rt_blocks: rtBlocks,
    rt_block_size: rtBlockSize,
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
