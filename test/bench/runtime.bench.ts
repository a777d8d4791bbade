// Runtime benchmark: our processes against raw nact, in the same process.
// Prints one JSON line. Figures for reference (Erlang/OTP 25, this machine):
// 13.7M msgs/s, 2.9M ping-pong rt/s, 0.85M gen_server calls/s, 446k spawns/s, 2.7 KB/process.
import nact from 'nact';
import { Runtime, ok, realEnv, reply, startServer, type ServerBehaviour } from '../../runtime/index.js';

const gc = (globalThis as { gc?: () => void }).gc;
const now = (): number => performance.now();
const rate = (n: number, ms: number): number => Math.round((n / ms) * 1000);
const turn = (): Promise<void> => new Promise((r) => setImmediate(r));

/** Best of `runs` (the first run warms the JIT). */
async function best(runs: number, f: () => Promise<number>): Promise<number> {
  let b = 0;
  for (let i = 0; i < runs; i++) b = Math.max(b, await f());
  return b;
}

async function ourSend(rt: Runtime, n: number): Promise<number> {
  let done!: () => void;
  const finished = new Promise<void>((r) => (done = r));
  let count = 0;
  const sink = rt.spawn({
    receive() {
      if (++count === n) done();
    },
  });
  const t0 = now();
  // Bursts from a producer process, as a busy process would send them.
  const producer = rt.spawn<number>({
    receive(k, ctx) {
      for (let i = 0; i < 100_000; i++) ctx.send(sink, i);
      if (k > 1) ctx.send(ctx.self, k - 1);
    },
  });
  rt.send(producer, n / 100_000);
  await finished;
  const ms = now() - t0;
  rt.exit(sink, 'kill');
  rt.exit(producer, 'kill');
  return rate(n, ms);
}

async function nactSend(n: number): Promise<number> {
  const sys = nact.start();
  let done!: () => void;
  const finished = new Promise<void>((r) => (done = r));
  let count = 0;
  const sink = nact.spawnStateless(sys, () => {
    if (++count === n) done();
  });
  const t0 = now();
  for (let i = 0; i < n; i++) nact.dispatch(sink, i);
  await finished;
  const ms = now() - t0;
  nact.stop(sys);
  return rate(n, ms);
}

async function ourPingPong(rt: Runtime, n: number): Promise<number> {
  let done!: () => void;
  const finished = new Promise<void>((r) => (done = r));
  let left = n;
  const b = rt.spawn<{ from: string }>({ receive: (m, ctx) => ctx.send(m.from, 0) });
  const a = rt.spawn<number>({
    receive(_m, ctx) {
      if (--left === 0) done();
      else ctx.send(b, { from: ctx.self });
    },
  });
  const t0 = now();
  rt.send(b, { from: a });
  await finished;
  const ms = now() - t0;
  rt.exit(a, 'kill');
  rt.exit(b, 'kill');
  return rate(n, ms);
}

async function nactPingPong(n: number): Promise<number> {
  const sys = nact.start();
  let done!: () => void;
  const finished = new Promise<void>((r) => (done = r));
  let left = n;
  const b = nact.spawnStateless(sys, (m: { from: ReturnType<typeof nact.spawn> }) => nact.dispatch(m.from, 0));
  const a = nact.spawnStateless(sys, () => {
    if (--left === 0) done();
    else nact.dispatch(b, { from: a });
  });
  const t0 = now();
  nact.dispatch(b, { from: a });
  await finished;
  const ms = now() - t0;
  nact.stop(sys);
  return rate(n, ms);
}

const echo: ServerBehaviour<number, void, number, number> = {
  name: 'echo',
  init: () => ok(0),
  handleCall: (req, _from, s) => reply(req, s + 1),
};

async function ourCalls(rt: Runtime, n: number): Promise<number> {
  const started = await startServer(rt, echo, undefined);
  if (started.type !== 'ok') throw new Error('echo server did not start');
  const t0 = now();
  for (let i = 0; i < n; i++) await rt.call(started.pid, i);
  const ms = now() - t0;
  rt.exit(started.pid, 'kill');
  return rate(n, ms);
}

async function ourSpawn(rt: Runtime, n: number): Promise<number> {
  const body = { receive() {} };
  const pids = new Array<string>(n);
  const t0 = now();
  for (let i = 0; i < n; i++) pids[i] = rt.spawn(body);
  const ms = now() - t0;
  for (const p of pids) rt.exit(p as never, 'kill');
  await turn();
  return rate(n, ms);
}

async function nactSpawn(n: number): Promise<number> {
  const sys = nact.start();
  const f = (): void => {};
  const t0 = now();
  for (let i = 0; i < n; i++) nact.spawnStateless(sys, f, `p${i}`);
  const ms = now() - t0;
  nact.stop(sys);
  await turn();
  return rate(n, ms);
}

async function bytesPerIdleProcess(n: number): Promise<number> {
  if (gc === undefined) return -1;
  const rt = new Runtime({ env: realEnv(1) });
  const body = { receive() {} };
  await turn();
  gc();
  gc();
  const before = process.memoryUsage().heapUsed;
  const pids: string[] = [];
  for (let i = 0; i < n; i++) pids.push(rt.spawn(body));
  await turn();
  gc();
  gc();
  const after = process.memoryUsage().heapUsed;
  // Keep the pids (as a caller would) but do not count the array holding them.
  const pidArray = pids.length * 8;
  return Math.round((after - before - pidArray) / n);
}

async function main(): Promise<void> {
  const rt = new Runtime({ env: realEnv(1) });
  const SEND = 5_000_000;
  const RAW_SEND = 1_000_000;
  const PP = 200_000;
  const CALLS = 200_000;
  const SPAWN = 100_000;
  // Ours and raw nact alternate, each keeping its best run, so that a noisy
  // moment on the machine does not favour either side.
  let send = 0;
  let nactRaw = 0;
  let pp = 0;
  let nactPp = 0;
  let spawns = 0;
  let nactSpawns = 0;
  for (let i = 0; i < 5; i++) {
    gc?.();
    send = Math.max(send, await ourSend(rt, SEND));
    gc?.();
    nactRaw = Math.max(nactRaw, await nactSend(RAW_SEND));
    gc?.();
    pp = Math.max(pp, await ourPingPong(rt, PP));
    gc?.();
    nactPp = Math.max(nactPp, await nactPingPong(PP));
    gc?.();
    spawns = Math.max(spawns, await ourSpawn(rt, SPAWN));
    gc?.();
    nactSpawns = Math.max(nactSpawns, await nactSpawn(SPAWN));
  }
  const calls = await best(5, () => ourCalls(rt, CALLS));
  const bytes = await bytesPerIdleProcess(100_000);
  console.log(
    JSON.stringify({
      bench: 'runtime',
      send_msgs_per_s: send,
      nact_raw_msgs_per_s: nactRaw,
      send_vs_nact: +(send / nactRaw).toFixed(2),
      pingpong_rt_per_s: pp,
      nact_raw_pingpong_rt_per_s: nactPp,
      pingpong_vs_nact: +(pp / nactPp).toFixed(3),
      call_rt_per_s: calls,
      spawn_per_s: spawns,
      nact_raw_spawn_per_s: nactSpawns,
      bytes_per_idle_process: bytes,
      erlang_reference: { send_msgs_per_s: 13_700_000, pingpong_rt_per_s: 2_900_000, call_rt_per_s: 850_000, spawn_per_s: 446_000, bytes_per_idle_process: 2700 },
    }),
  );
  process.exit(0);
}

void main();
