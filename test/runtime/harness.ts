// Test harness: a runtime on the virtual env, with verbs that read like the
// behaviour under test. Time passes only through `advance`; `settle` lets nact
// deliver everything already scheduled.
import {
  type Dest,
  type ExitReason,
  type Pid,
  type ProcessContext,
  Runtime,
  type RuntimeEvent,
  VirtualEnv,
  settle,
} from '../../runtime/index.js';

export interface Harness {
  readonly env: VirtualEnv;
  readonly rt: Runtime;
  /** Every runtime event, in order. */
  readonly events: RuntimeEvent[];
  settle(): Promise<void>;
  advance(ms: number): Promise<void>;
  /** A process that records every message it receives (and can trap exits). */
  collector(opts?: { trapExit?: boolean; name?: string }): { pid: Pid; received: unknown[] };
  /** A process that does nothing until told; `link` links it to `to` at start. */
  idle(opts?: { trapExit?: boolean; link?: Pid }): Pid;
  /** Reason with which `pid` exited, from the event log. */
  exitReason(pid: Pid): ExitReason | undefined;
  alive(pid: Pid): boolean;
  /** Run `f` inside a fresh process (its ctx), resolving with f's result. */
  inProcess<T>(f: (ctx: ProcessContext) => T | Promise<T>, opts?: { trapExit?: boolean }): Promise<{ pid: Pid; value: T }>;
}

export function harness(opts: { seed?: string | number; batch?: number } = {}): Harness {
  const env = new VirtualEnv(opts.seed ?? 0);
  const rt = new Runtime({ env, ...(opts.batch === undefined ? {} : { batch: opts.batch }) });
  const events: RuntimeEvent[] = [];
  rt.subscribe((e) => events.push(e));
  const h: Harness = {
    env,
    rt,
    events,
    settle: () => settle(rt),
    advance: (ms) => env.advance(ms, rt),
    collector(o = {}) {
      const received: unknown[] = [];
      const pid = rt.spawn(
        {
          init: (ctx) => {
            if (o.trapExit === true) ctx.trapExit(true);
          },
          receive: (m) => {
            received.push(m);
          },
        },
        o.name === undefined ? undefined : { name: o.name },
      );
      return { pid, received };
    },
    idle(o = {}) {
      return rt.spawn({
        init: (ctx) => {
          if (o.trapExit === true) ctx.trapExit(true);
          if (o.link !== undefined) ctx.link(o.link);
        },
        receive: () => {},
      });
    },
    exitReason(pid) {
      for (const e of events) if (e.type === 'process_exited' && e.pid === pid) return e.reason;
      return undefined;
    },
    alive: (pid) => rt.isAlive(pid),
    async inProcess(f, o = {}) {
      let resolve!: (v: unknown) => void;
      let reject!: (e: unknown) => void;
      const done = new Promise<unknown>((res, rej) => {
        resolve = res;
        reject = rej;
      });
      const pid = rt.spawn({
        init: async (ctx) => {
          if (o.trapExit === true) ctx.trapExit(true);
          try {
            resolve(await f(ctx));
          } catch (e) {
            reject(e);
            throw e;
          }
        },
        receive: () => {},
      });
      const value = (await done) as Awaited<ReturnType<typeof f>>;
      return { pid, value };
    },
  };
  return h;
}

/** Messages of a given `type` tag from a collector's list. */
export function ofType<T extends { type: string }>(received: unknown[], type: T['type']): T[] {
  return received.filter((m): m is T => typeof m === 'object' && m !== null && (m as { type?: unknown }).type === type);
}

export function sendAll(rt: Runtime, dest: Dest, msgs: unknown[]): void {
  for (const m of msgs) rt.send(dest, m);
}
