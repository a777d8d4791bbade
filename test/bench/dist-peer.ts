// The far side of the dist benchmark, run as its own process: a distributed node
// with an echo server and a counting sink, and a bare ws server doing the same
// work for the raw baseline. Prints {"node":…, "rawPort":…} once ready.
// `--busy-wait-us N` (N > 0): the node spins before sleep (config busyWaitUs), and
// so does the bare ws server, with the same spinner and window.
import { WebSocketServer } from 'ws';
import { type ServerBehaviour, noreply, ok, realEnv, reply, startServer } from '../../runtime/index.js';
import { BusyWait } from '../../runtime/dist/busywait.js';
import { Distribution } from '../../runtime/dist/node.js';

const flag = process.argv.indexOf('--busy-wait-us');
const busyWaitUs = flag === -1 ? 0 : Number(process.argv[flag + 1]);
const cookie = 'bench-cookie'; // the same literal as dist.bench.ts
// No explicit transport: the default ws transport, built from the config (busyWaitUs included).
const dist = await Distribution.start({ node: 'peer@127.0.0.1:0', cookie, busyWaitUs }, { env: realEnv() });

const echo: ServerBehaviour<null, void, unknown, unknown> = { name: 'echo', init: () => ok(null), handleCall: (req, _f, s) => reply(req, s) };
await startServer(dist.rt, echo, undefined, { name: 'echo' });

// A plain process answering calls itself: the call path without gen_server.
dist.rt.spawn<{ type: string; from: { ref: never; pid: never }; request: unknown }>(
  { receive: (m, ctx) => ctx.reply(m.from, m.request) },
  { name: 'pecho' },
);

// The sink counts plain messages; a call {count: true} answers the count so far.
const sink: ServerBehaviour<number, void, 'count', number, never, unknown> = {
  name: 'sink',
  init: () => ok(0),
  handleCall: (_r, _f, n) => reply(n, n),
  handleInfo: (_m, n) => noreply(n + 1),
};
await startServer(dist.rt, sink, undefined, { name: 'sink' });

// Raw baseline: frames are JSON arrays of messages (counted) or a single request (echoed back).
const spin = busyWaitUs > 0 ? new BusyWait(busyWaitUs) : undefined;
const raw = new WebSocketServer({ host: '127.0.0.1', port: 0, perMessageDeflate: false });
await new Promise<void>((r) => raw.on('listening', () => r()));
raw.on('connection', (ws) => {
  let count = 0;
  ws.on('message', (data) => {
    spin?.touch();
    const m = JSON.parse(data.toString()) as unknown;
    if (Array.isArray(m)) count += m.length;
    else if ((m as { count?: boolean }).count === true) ws.send(JSON.stringify({ count }));
    else ws.send(JSON.stringify(m));
  });
});
const addr = raw.address();
console.log(JSON.stringify({ node: dist.node, rawPort: typeof addr === 'object' && addr !== null ? addr.port : 0 }));
process.stdin.on('end', () => process.exit(0));
process.stdin.resume();
