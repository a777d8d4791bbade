// Spin before sleep: the BEAM scheduler busy wait (`+sbwt`) for the ws transport.
// After a frame goes out or comes in, the process keeps polling I/O for a short
// window instead of sleeping in epoll, because on an idle core (a VM above all)
// waking a sleeping process costs tens of µs, more than the whole rest of a
// loopback round trip. The cost: up to one core busy for the window after each
// frame, i.e. continuously under steady traffic. Off (0) by default.
import { hostSpin } from '../adapters/real.js';

/** What the spinner needs from the host (the real one: adapters/real.ts); injected so a test can drive it turn by turn. */
export interface SpinHost {
  /** Monotonic milliseconds, sub-millisecond resolution. */
  now(): number;
  /** Run `fn` on the next event-loop turn, after I/O has been polled (without blocking). */
  defer(fn: () => void): void;
}

/** The largest window: past ~10 ms the spin burns far more CPU than the tens of µs of wake-up it saves. */
export const maxBusyWaitUs = 10_000;

/**
 * One per transport (not per connection). `touch()` is the per-frame cost: a flag
 * store while the chain runs; the chain reads the clock once per turn and stops
 * `windowUs` after the last turn that saw a touch (so up to one turn late).
 */
export class BusyWait {
  private readonly windowMs: number;
  /** A turn is deferred: the chain is alive. */
  private scheduled = false;
  private touched = false;
  private lastActiveMs = 0;
  /** Event-loop turns spun since construction (for tests and benchmarks). */
  turns = 0;

  constructor(
    windowUs: number,
    private readonly host: SpinHost = hostSpin,
  ) {
    this.windowMs = windowUs / 1000;
  }

  /** True while the chain runs (until its next turn after a `stop()`). */
  get spinning(): boolean {
    return this.scheduled;
  }

  /** A frame was sent or received: keep (or start) spinning for another window. */
  touch(): void {
    if (this.scheduled) {
      this.touched = true;
      return;
    }
    this.scheduled = true;
    this.touched = false;
    this.lastActiveMs = this.host.now();
    this.host.defer(this.turn);
  }

  /** No connection is left to wait for: end the chain at its next turn unless a frame comes first. */
  stop(): void {
    this.touched = false;
    this.lastActiveMs = -Infinity;
  }

  private readonly turn = (): void => {
    this.turns++;
    const now = this.host.now();
    if (this.touched) {
      this.touched = false;
      this.lastActiveMs = now;
    } else if (now - this.lastActiveMs >= this.windowMs) {
      this.scheduled = false;
      return;
    }
    this.host.defer(this.turn);
  };
}
