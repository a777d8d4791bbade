// A core (or its storage, or the shell's contract with it) that throws is a
// failed run: the core only throws on programming errors and broken invariants.
// Under an unsafe switch, a throw is one way the simulator detects the break.
import type { Checker, TraceEvent, Violation } from '../trace.js';

export function coreErrors(): Checker {
  const out: Violation[] = [];
  return {
    name: 'core-errors',
    on: ['coreError'],
    observe(e: TraceEvent): void {
      if (e.type === 'coreError') out.push({ checker: 'core-errors', time: e.time, message: `n${e.node}: ${e.error}` });
    },
    failing: () => out.length > 0,
    finish: () => out,
  };
}
