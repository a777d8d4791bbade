// Leader completeness (Raft §5.4): an entry committed in term c is in the log
// of every leader of a term above c. An entry's commit term is bounded from
// above by the term of the first node seen applying it (the applier's term is
// at least the term of the leader that committed it), which keeps the check
// sound. Each leader's log as it won is checked against what was committed by
// then, and again at the end against everything committed in earlier terms
// (an old leader may commit after a newer one was elected).
import type { LogEntry } from '../../actors/raft/types.js';
import { type Checker, type TraceEvent, type Violation, entryId } from '../trace.js';

interface Committed {
  readonly term: number;
  readonly id: string;
  commitTerm: number;
}

interface Election {
  readonly time: number;
  readonly node: number;
  readonly term: number;
  readonly snapshotIndex: number;
  readonly log: readonly LogEntry[];
  reported: boolean;
}

export function leaderCompleteness(): Checker {
  const committed = new Map<number, Committed>();
  const elections: Election[] = [];
  const out: Violation[] = [];
  const check = (el: Election): void => {
    if (el.reported) return;
    for (const [index, c] of committed) {
      if (c.commitTerm >= el.term || index <= el.snapshotIndex) continue;
      const x = el.log[index - el.snapshotIndex - 1];
      if (x === undefined || x.term !== c.term || entryId(x) !== c.id) {
        el.reported = true;
        out.push({
          checker: 'leader-completeness',
          time: el.time,
          message: `n${el.node} won term ${el.term} without committed entry ${index}/${c.term}/${c.id} (committed by term ${c.commitTerm}); it has ${x === undefined ? 'nothing' : `${x.term}/${entryId(x)}`} there`,
        });
        return;
      }
    }
  };
  return {
    name: 'leader-completeness',
    on: ['apply', 'role'],
    observe(e: TraceEvent): void {
      if (e.type === 'apply') {
        for (const x of e.entries) {
          const c = committed.get(x.index);
          if (c === undefined) committed.set(x.index, { term: x.term, id: entryId(x), commitTerm: e.term });
          else if (e.term < c.commitTerm && c.term === x.term) c.commitTerm = e.term;
        }
      } else if (e.type === 'role' && e.role === 'leader' && e.log !== undefined) {
        const el: Election = { time: e.time, node: e.node, term: e.term, snapshotIndex: e.snapshotIndex ?? 0, log: e.log, reported: false };
        elections.push(el);
        check(el);
      }
    },
    failing: () => out.length > 0,
    finish(): Violation[] {
      for (const el of elections) check(el);
      return out.sort((a, b) => a.time - b.time);
    },
  };
}
