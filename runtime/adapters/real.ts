// The production env: the host's monotonic clock, host timers and an RNG seeded
// from the OS. This folder is the only place allowed to touch them (see the lint).
import { randomBytes } from 'node:crypto';
import { performance } from 'node:perf_hooks';
import type { Env, TimerHandle } from '../env.js';
import { seededRng } from '../rng.js';

const MAX_HOST_TIMER_MS = 2_147_483_647;

export function realEnv(seed?: string | number): Env {
  return {
    clock: { now: () => performance.now() },
    wall: { epochMs: () => Date.now() },
    timers: {
      set(ms: number, fn: () => void): TimerHandle {
        // Host timers cap at 2^31-1 ms (~24.8 days); longer ones are chained.
        const slot: { t: NodeJS.Timeout | undefined } = { t: undefined };
        const arm = (left: number): void => {
          const step = Math.max(0, Math.min(left, MAX_HOST_TIMER_MS));
          slot.t = setTimeout(() => (left > MAX_HOST_TIMER_MS ? arm(left - MAX_HOST_TIMER_MS) : fn()), step);
          // A pending runtime timer must not keep an otherwise finished process alive.
          slot.t.unref();
        };
        arm(ms);
        return slot as unknown as TimerHandle;
      },
      clear(handle: TimerHandle): void {
        clearTimeout((handle as unknown as { t: NodeJS.Timeout | undefined }).t);
      },
    },
    rng: seededRng(seed ?? randomBytes(8).toString('hex')),
  };
}

/** Yield one host event-loop turn (used by drivers that wait for quiescence). */
export function hostTurn(): Promise<void> {
  return new Promise((resolve) => setImmediate(resolve));
}

/**
 * Keep the host process alive until the returned function is called. Runtime
 * timers are unref()ed, so a process whose only pending work is runtime timers
 * (e.g. nodes linked by the in-memory transport) would otherwise exit mid-run.
 */
export function keepAlive(): () => void {
  const t = setInterval(() => {}, 1 << 30);
  return () => clearInterval(t);
}

/**
 * The host loop as the ws transport's busy wait (runtime/dist/busywait.ts)
 * drives it: the monotonic clock, and a turn deferred with setImmediate. A
 * pending (ref'd) immediate makes libuv poll I/O with timeout 0, so the
 * process does not sleep; the chain ends by itself, so nothing here keeps an
 * idle process alive.
 */
export const hostSpin: { now(): number; defer(fn: () => void): void } = {
  now: () => performance.now(),
  defer: (fn) => void setImmediate(fn),
};
