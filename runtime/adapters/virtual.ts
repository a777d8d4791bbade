// The virtual env: a clock that moves only when the driver advances it, timers
// kept in a heap ordered by (due time, creation order), and a seeded RNG. With it,
// a run is a deterministic discrete-event simulation: host event-loop turns are
// used only to let nact deliver what is already scheduled, never to pass time.
import type { Env, Rng, TimerHandle } from '../env.js';
import { seededRng } from '../rng.js';
import { hostTurn } from './real.js';

interface VTimer {
  due: number;
  seq: number;
  fn: (() => void) | null;
}

/** Anything whose in-flight work the driver must wait for (the Runtime is one). */
export interface Quiescable {
  /** True while deliveries are scheduled that have not run yet. */
  hasPendingWork(): boolean;
}

export class VirtualEnv implements Env {
  private nowMs = 0;
  private seq = 0;
  private heap: VTimer[] = [];
  readonly rng: Rng;
  readonly clock = { now: (): number => this.nowMs };
  /** Virtual wall time: a fixed epoch (default 2026-01-01T00:00:00Z) plus the virtual clock. */
  readonly wall = { epochMs: (): number => this.epochBaseMs + this.nowMs };
  readonly timers = {
    set: (ms: number, fn: () => void): TimerHandle => {
      const t: VTimer = { due: this.nowMs + Math.max(0, ms), seq: this.seq++, fn };
      this.push(t);
      return t as unknown as TimerHandle;
    },
    clear: (handle: TimerHandle): void => {
      // Lazy deletion: a cleared timer stays in the heap with no callback.
      (handle as unknown as VTimer).fn = null;
    },
  };

  constructor(
    seed: string | number = 0,
    private readonly epochBaseMs = Date.UTC(2026, 0, 1),
  ) {
    this.rng = seededRng(seed);
  }

  /** Due time of the earliest live timer, or undefined when none is pending. */
  nextDue(): number | undefined {
    while (this.heap.length > 0 && this.heap[0]!.fn === null) this.pop();
    return this.heap[0]?.due;
  }

  /** Move the clock to `t` (never backwards) and fire every timer due by then, one at a time. */
  private fireNext(limit: number): boolean {
    const due = this.nextDue();
    if (due === undefined || due > limit) return false;
    const t = this.pop()!;
    this.nowMs = Math.max(this.nowMs, t.due);
    const fn = t.fn!;
    t.fn = null;
    fn();
    return true;
  }

  /**
   * Run the system until virtual time `ms` from now: let nact deliver everything
   * scheduled, fire the next timer, repeat. Each timer fires with the system
   * quiescent, so the interleaving depends only on the seed and the program.
   */
  async advance(ms: number, system?: Quiescable): Promise<void> {
    const limit = this.nowMs + ms;
    await settle(system);
    while (this.fireNext(limit)) await settle(system);
    this.nowMs = limit;
  }

  /** Advance until no timer is pending or `maxMs` of virtual time has passed. */
  async runUntilIdle(system?: Quiescable, maxMs = 3_600_000): Promise<void> {
    const limit = this.nowMs + maxMs;
    await settle(system);
    while (this.fireNext(limit)) await settle(system);
  }

  private push(t: VTimer): void {
    const h = this.heap;
    h.push(t);
    let i = h.length - 1;
    while (i > 0) {
      const p = (i - 1) >> 1;
      if (!before(h[i]!, h[p]!)) break;
      [h[i], h[p]] = [h[p]!, h[i]!];
      i = p;
    }
  }

  private pop(): VTimer | undefined {
    const h = this.heap;
    const top = h[0];
    const last = h.pop();
    if (h.length > 0 && last !== undefined) {
      h[0] = last;
      let i = 0;
      for (;;) {
        const l = 2 * i + 1;
        const r = l + 1;
        let m = i;
        if (l < h.length && before(h[l]!, h[m]!)) m = l;
        if (r < h.length && before(h[r]!, h[m]!)) m = r;
        if (m === i) break;
        [h[i], h[m]] = [h[m]!, h[i]!];
        i = m;
      }
    }
    return top;
  }
}

function before(a: VTimer, b: VTimer): boolean {
  return a.due < b.due || (a.due === b.due && a.seq < b.seq);
}

/**
 * Give nact host turns until nothing is scheduled. A bounded loop: a system that
 * never quiesces (a process that messages itself forever) is a bug in the test.
 */
export async function settle(system?: Quiescable, maxTurns = 1_000_000): Promise<void> {
  // Two turns at least: one for nact's dispatch, one for promise continuations it triggers.
  await hostTurn();
  await hostTurn();
  for (let i = 0; system?.hasPendingWork() && i < maxTurns; i++) await hostTurn();
}
