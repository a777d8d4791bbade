// Leader append-only (Raft §5.3): while a node leads a term it never deletes or
// overwrites an entry of its own log. Compared between the log it held when it
// won and every sample taken while it still leads that term (same incarnation).
import type { LogEntry } from '../../actors/raft/types.js';
import { type Checker, type TraceEvent, type Violation, entryId } from '../trace.js';

interface Seen {
  readonly inc: number;
  readonly term: number;
  readonly snapshotIndex: number;
  readonly log: readonly LogEntry[];
}

export function leaderAppendOnly(): Checker {
  const last = new Map<number, Seen>();
  const out: Violation[] = [];
  const compare = (node: number, time: number, before: Seen, now: Seen): void => {
    const lastBefore = before.snapshotIndex + before.log.length;
    // Entries the snapshot now covers were compacted, not deleted.
    for (let i = Math.max(before.snapshotIndex, now.snapshotIndex) + 1; i <= lastBefore; i++) {
      const a = before.log[i - before.snapshotIndex - 1]!;
      const b = now.log[i - now.snapshotIndex - 1];
      if (b !== a && (b === undefined || b.term !== a.term || entryId(b) !== entryId(a))) {
        out.push({
          checker: 'leader-append-only',
          time,
          message: `n${node}, leader of term ${now.term}, had ${a.index}/${a.term}/${entryId(a)} and now ${b === undefined ? 'has no entry there' : `has ${b.term}/${entryId(b)}`}`,
        });
        return;
      }
    }
  };
  return {
    name: 'leader-append-only',
    on: ['role', 'sample'],
    observe(e: TraceEvent): void {
      if (e.type === 'role' && e.role === 'leader' && e.log !== undefined) {
        last.set(e.node, { inc: e.inc, term: e.term, snapshotIndex: e.snapshotIndex ?? 0, log: e.log });
      } else if (e.type === 'sample') {
        for (const n of e.nodes) {
          const before = last.get(n.index);
          if (before === undefined) continue;
          if (!n.up || n.role !== 'leader' || n.inc !== before.inc || n.term !== before.term) {
            last.delete(n.index);
            continue;
          }
          const now: Seen = { inc: n.inc, term: n.term, snapshotIndex: n.snapshotIndex, log: n.log };
          compare(n.index, e.time, before, now);
          last.set(n.index, now);
        }
      }
    },
    failing: () => out.length > 0,
    finish: () => out,
  };
}
