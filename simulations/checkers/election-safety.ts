// Election safety (Raft §5.2): at most one leader per term, over the whole run,
// across crashes and restarts.
import type { Checker, TraceEvent, Violation } from '../trace.js';

export function electionSafety(): Checker {
  const leaders = new Map<number, number>();
  const out: Violation[] = [];
  return {
    name: 'election-safety',
    on: ['role'],
    observe(e: TraceEvent): void {
      if (e.type !== 'role' || e.role !== 'leader') return;
      const prev = leaders.get(e.term);
      if (prev === undefined) leaders.set(e.term, e.node);
      else if (prev !== e.node) out.push({ checker: 'election-safety', time: e.time, message: `two leaders in term ${e.term}: n${prev} and n${e.node}` });
    },
    failing: () => out.length > 0,
    finish: () => out,
  };
}
