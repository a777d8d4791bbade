// The runtime's one window onto the outside world: clock, timers and randomness.
// Production passes the real adapter (runtime/adapters/real.ts); tests and
// simulations pass the virtual one (runtime/adapters/virtual.ts). Nothing else in
// the code base reads the wall clock, schedules a host timer or draws host
// randomness (the lint enforces it), so a virtual env makes a run replayable.

/** Monotonic milliseconds. Never wall-clock time: it must not jump backwards. */
export interface Clock {
  now(): number;
}

/**
 * Wall-clock time: epoch milliseconds, for timestamps people read (a job's
 * createdAt). It may jump (NTP); never measure an interval with it.
 */
export interface WallClock {
  epochMs(): number;
}

/** An opaque handle for a scheduled host callback. */
export interface TimerHandle {
  readonly __timerHandle: true;
}

export interface Timers {
  /** Run `fn` once after `ms` milliseconds of this env's clock. */
  set(ms: number, fn: () => void): TimerHandle;
  clear(handle: TimerHandle): void;
}

/** A seeded source of randomness; `next()` is uniform in [0, 1). */
export interface Rng {
  next(): number;
  /** Uniform integer in [lo, hi] (inclusive). */
  int(lo: number, hi: number): number;
}

export interface Env {
  readonly clock: Clock;
  readonly wall: WallClock;
  readonly timers: Timers;
  readonly rng: Rng;
}
