// Log matching (Raft §5.3): an (index, term) pair names one entry everywhere,
// and two logs that share an entry share every entry before it.
//   - every entry that becomes durable anywhere is recorded by (index, term):
//     a second, different entry under the same pair is a violation;
//   - at every sample, each pair of live nodes is compared: below the highest
//     index where their terms agree, every entry must be the same.
import type { LogEntry } from '../../actors/raft/types.js';
import { type Checker, type NodeView, type TraceEvent, type Violation, entryId } from '../trace.js';

const at = (n: NodeView, i: number): LogEntry | undefined => n.log[i - n.snapshotIndex - 1];

export function logMatching(): Checker {
  const named = new Map<string, string>();
  const out: Violation[] = [];
  const reported = new Set<string>();
  const report = (key: string, v: Violation): void => {
    if (reported.has(key)) return;
    reported.add(key);
    out.push(v);
  };
  const comparePair = (time: number, a: NodeView, b: NodeView): void => {
    const lo = Math.max(a.snapshotIndex, b.snapshotIndex) + 1;
    let hi = Math.min(a.snapshotIndex + a.log.length, b.snapshotIndex + b.log.length);
    while (hi >= lo && at(a, hi)!.term !== at(b, hi)!.term) hi--;
    for (let i = lo; i <= hi; i++) {
      const x = at(a, i)!;
      const y = at(b, i)!;
      // Entries that crossed the network are often the very same object.
      if (x !== y && (x.term !== y.term || entryId(x) !== entryId(y))) {
        report(`${a.index}-${b.index}-${i}-${hi}`, {
          checker: 'log-matching',
          time,
          message: `n${a.index} and n${b.index} agree on ${hi}/${at(a, hi)!.term} but differ at ${i}: ${x.term}/${entryId(x)} vs ${y.term}/${entryId(y)}`,
        });
        return;
      }
    }
  };
  return {
    name: 'log-matching',
    on: ['persist', 'sample'],
    observe(e: TraceEvent): void {
      if (e.type === 'persist') {
        for (const x of e.entries) {
          const key = `${x.index}/${x.term}`;
          const id = entryId(x);
          const prev = named.get(key);
          if (prev === undefined) named.set(key, id);
          else if (prev !== id) report(key, { checker: 'log-matching', time: e.time, message: `two different entries at ${key}: ${prev} and ${id} (n${e.node})` });
        }
      } else if (e.type === 'sample') {
        const up = e.nodes.filter((n) => n.up);
        for (let i = 0; i < up.length; i++) for (let j = i + 1; j < up.length; j++) comparePair(e.time, up[i]!, up[j]!);
      }
    },
    failing: () => out.length > 0,
    finish: () => out,
  };
}
