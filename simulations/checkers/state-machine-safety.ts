// State machine safety (Raft §5.4.3): no two nodes apply different entries at
// one index; each node applies each index once, in order, per incarnation (from
// its snapshot on); and any two snapshots of the state machine at one index,
// taken or installed anywhere, are identical (by the workload's fingerprint of
// the state: the key-value map itself, the registry's statistics).
import { type Checker, type TraceEvent, type Violation, entryId } from '../trace.js';

export function stateMachineSafety(): Checker {
  const appliedAt = new Map<number, { term: number; id: string; node: number }>();
  const lastApplied = new Map<number, number>();
  const stateAt = new Map<number, { state: string; node: number }>();
  const out: Violation[] = [];
  const seenState = (time: number, node: number, index: number, state: string, what: string): void => {
    if (index === 0) return;
    const prev = stateAt.get(index);
    if (prev === undefined) stateAt.set(index, { state, node });
    else if (prev.state !== state) out.push({ checker: 'state-machine-safety', time, message: `n${node} ${what} state ${state} at ${index}; n${prev.node} had ${prev.state}` });
  };
  return {
    name: 'state-machine-safety',
    on: ['apply', 'restart', 'install', 'snapshot'],
    observe(e: TraceEvent): void {
      switch (e.type) {
        case 'apply': {
          let last = lastApplied.get(e.node) ?? 0;
          for (const x of e.entries) {
            if (x.index !== last + 1) out.push({ checker: 'state-machine-safety', time: e.time, message: `n${e.node} applied ${x.index} right after ${last}` });
            last = x.index;
            const id = entryId(x);
            const prev = appliedAt.get(x.index);
            if (prev === undefined) appliedAt.set(x.index, { term: x.term, id, node: e.node });
            else if (prev.term !== x.term || prev.id !== id) {
              out.push({ checker: 'state-machine-safety', time: e.time, message: `n${e.node} applied ${x.term}/${id} at ${x.index}; n${prev.node} applied ${prev.term}/${prev.id}` });
            }
          }
          lastApplied.set(e.node, last);
          break;
        }
        case 'restart':
          lastApplied.set(e.node, e.snapshotIndex);
          seenState(e.time, e.node, e.snapshotIndex, e.state, 'restarted from');
          break;
        case 'install':
          lastApplied.set(e.node, e.meta.index);
          seenState(e.time, e.node, e.meta.index, e.state, 'installed');
          break;
        case 'snapshot':
          seenState(e.time, e.node, e.index, e.state, 'took a snapshot with');
          break;
        default:
          break;
      }
    },
    failing: () => out.length > 0,
    finish: () => out,
  };
}
