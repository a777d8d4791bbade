// `npm start`: for now a demonstration (the orchestrator node replaces it in later
// issues). First the runtime: boots a supervision tree on the real env, prints
// it, crashes a worker to show a restart, prints the tree again, and shuts down
// in order. Then the job registry on a 3-node in-process cluster
// (registry-demo.ts).
import { parseArgs } from 'node:util';
import {
  type Pid,
  Runtime,
  type ServerBehaviour,
  attachLogger,
  createLogger,
  noreply,
  ok,
  realEnv,
  reply,
  startChild,
  startSupervisor,
  stopServer,
  supervisionTree,
  supervisorSpec,
  whichChildren,
  workerSpec,
} from '../runtime/index.js';
import { formatTree } from './format.js';
import { runRegistryDemo } from './registry-demo.js';

const { values: opts } = parseArgs({
  options: {
    'log-level': { type: 'string', default: 'warn' },
    help: { type: 'boolean', short: 'h', default: false },
  },
});

if (opts.help) {
  console.log('usage: npm start [-- --log-level debug|info|warn|error]\nBoots a demo supervision tree on the DistriQueue runtime, shows a crash and restart, then runs jobs through a 3-node in-process registry cluster, and exits.');
  process.exit(0);
}

type CounterReq = { type: 'incr' } | { type: 'get' };
const counter: ServerBehaviour<number, number, CounterReq, number> = {
  name: 'counter',
  init: (n) => ok(n),
  handleCall: (req, _from, n) => (req.type === 'incr' ? reply(n + 1, n + 1) : reply(n, n)),
};

type EchoReq = { type: 'echo'; text: string };
const echo: ServerBehaviour<string, string, EchoReq, string> = {
  name: 'echo',
  init: (label) => ok(label),
  handleCall: (req, _from, label) => reply(`${label}: ${req.text}`, label),
};

const ticker: ServerBehaviour<number, number, never, unknown, never, { type: 'tick' }> = {
  name: 'ticker',
  init: (everyMs, ctx) => {
    ctx.sendAfter(everyMs, ctx.self, { type: 'tick' });
    return ok(everyMs);
  },
  handleInfo: (_msg, everyMs, ctx) => {
    ctx.sendAfter(everyMs, ctx.self, { type: 'tick' });
    return noreply(everyMs);
  },
};

async function main(): Promise<void> {
  const rt = new Runtime({ env: realEnv(), node: 'demo@localhost' });
  attachLogger(rt, createLogger({ level: opts['log-level'] }));

  const root = await startSupervisor(
    rt,
    { strategy: 'one_for_one', intensity: 3, period: 5000 },
    [
      workerSpec('counter', counter, 0, { name: 'counter' }),
      workerSpec('ticker', ticker, 1000, { name: 'ticker' }),
      supervisorSpec('pool_sup', { strategy: 'simple_one_for_one' }, [workerSpec('echo', echo, 'echo')], { name: 'pool_sup' }),
    ],
    { name: 'demo_sup' },
  );
  if (root.type !== 'ok') throw new Error(`demo_sup failed to start: ${JSON.stringify(root)}`);
  for (const label of ['echo-1', 'echo-2', 'echo-3']) await startChild(rt, 'pool_sup', label);

  console.log('DistriQueue runtime demo — supervision tree:\n');
  console.log(formatTree(supervisionTree(rt, root.pid)));

  await rt.call('counter', { type: 'incr' });
  const pool = await whichChildren(rt, 'pool_sup');
  console.log(`\ncounter = ${await rt.call<number>('counter', { type: 'get' })}; ${await rt.call<string>(pool[0]!.pid as Pid, { type: 'echo', text: 'hello' })}`);

  const before = rt.whereis('counter');
  rt.exit(before!, { type: 'custom', value: 'demo_crash' });
  // Wait for the supervisor to restart it: the restart report is the signal.
  await new Promise<void>((resolve) => {
    const off = rt.subscribe((e) => {
      if (e.type === 'supervisor_report' && e.kind === 'child_started' && e.childId === 'counter') {
        off();
        resolve();
      }
    });
  });
  console.log(`\ncrashed counter ${before}; its supervisor restarted it as ${rt.whereis('counter')} (state back to ${await rt.call<number>('counter', { type: 'get' })})\n`);
  console.log(formatTree(supervisionTree(rt, root.pid)));

  await stopServer(rt, root.pid, 'shutdown');
  console.log(`\nshut down in reverse start order; processes left: ${rt.processes().length}`);

  await runRegistryDemo(createLogger({ level: opts['log-level'] }));
}

main().catch((e: unknown) => {
  console.error(e);
  process.exit(1);
});
