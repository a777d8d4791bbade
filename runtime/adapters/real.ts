// The production env: the host's monotonic clock, host timers and an RNG seeded
// from the OS. This folder is the only place allowed to touch them (see the lint).
import { randomBytes } from 'node:crypto';
import { performance } from 'node:perf_hooks';
import type { Env, TimerHandle } from '../env.js';
import { seededRng } from '../rng.js';

export function realEnv(seed?: string | number): Env {
  return {
    clock: { now: () => performance.now() },
    timers: {
      set(ms: number, fn: () => void): TimerHandle {
        const t = setTimeout(fn, Math.max(0, Math.min(ms, 2_147_483_647)));
        // A pending runtime timer must not keep an otherwise finished process alive.
        t.unref();
        return t as unknown as TimerHandle;
      },
      clear(handle: TimerHandle): void {
        clearTimeout(handle as unknown as NodeJS.Timeout);
      },
    },
    rng: seededRng(seed ?? randomBytes(8).toString('hex')),
  };
}

/** Yield one host event-loop turn (used by drivers that wait for quiescence). */
export function hostTurn(): Promise<void> {
  return new Promise((resolve) => setImmediate(resolve));
}
