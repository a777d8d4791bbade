// Restart intensity as OTP's add_restart: a pure sliding window over restart
// times. More than `intensity` restarts within `period` ms means give up.

export type RestartDecision =
  | { readonly type: 'ok'; readonly restarts: readonly number[] }
  | { readonly type: 'terminate'; readonly restarts: readonly number[] };

/**
 * Record a restart at `now`. `restarts` holds earlier restart times, newest first;
 * those more than `period` ms in the past fall out of the window (a restart
 * exactly `period` ago still counts, as OTP's `R >= Now - Period`).
 */
export function addRestart(restarts: readonly number[], now: number, intensity: number, period: number): RestartDecision {
  const window = [now, ...restarts.filter((t) => now - t <= period)];
  return window.length > intensity ? { type: 'terminate', restarts: window } : { type: 'ok', restarts: window };
}
