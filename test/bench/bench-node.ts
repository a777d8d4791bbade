// What every member process of a cluster benchmark starts with (raft-node.ts,
// registry-node.ts): its arguments, a logger and a distributed node on loopback
// (ws) that dials the members listed before it (gossip completes the mesh).
import { type Logger, createLogger, realEnv } from '../../runtime/index.js';
import { Distribution } from '../../runtime/dist/node.js';
import { wsTransport } from '../../runtime/dist/ws.js';

/** The JSON the driver passes as the first argument. */
export interface BenchNodeArgs {
  readonly name: string;
  readonly port: number;
  /** Every member's full node name, this one included. */
  readonly members: readonly string[];
  readonly dir: string;
  readonly cookie: string;
  readonly tickMs: number;
}

/** `logEnv`: the environment variable that sets the log level (default warn). */
export async function startBenchNode(logEnv: string): Promise<{ args: BenchNodeArgs; log: Logger; dist: Distribution }> {
  const args = JSON.parse(process.argv[2] ?? '{}') as BenchNodeArgs;
  const log = createLogger({ name: args.name, level: process.env[logEnv] ?? 'warn' });
  const dist = await Distribution.start({ node: `${args.name}@127.0.0.1:${args.port}`, cookie: args.cookie }, { transport: wsTransport(), env: realEnv(), log });
  // Redialled until the earlier members listen.
  for (const m of args.members.slice(0, args.members.indexOf(dist.node))) void dist.connect(m);
  return { args, log, dist };
}
