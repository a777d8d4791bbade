// Liveness after healing: once every fault is healed, every node is up and the
// network is clean, (1) one leader known to every node is elected within the
// leader bound, and (2) within the convergence bound a barrier entry commits,
// every node applies the leader's whole log, every node holds the same state,
// every acknowledged write is applied on every node, and a linearizable read
// of every key is served (the linearizability checker checks those reads).
import type { Checker, ClusterView, TraceEvent, Violation } from '../trace.js';

export function liveness(view: ClusterView): Checker {
  let healAt: number | null = null;
  let leaderAt: number | null = null;
  const acked: { index: number; op: number }[] = [];
  const out: Violation[] = [];
  return {
    name: 'liveness',
    on: ['heal', 'stableLeader', 'ack', 'end'],
    observe(e: TraceEvent): void {
      switch (e.type) {
        case 'heal':
          healAt = e.time;
          break;
        case 'stableLeader':
          leaderAt ??= e.time;
          break;
        case 'ack':
          acked.push({ index: e.index, op: e.op });
          break;
        case 'end': {
          if (healAt === null) {
            out.push({ checker: 'liveness', time: e.time, message: 'the run ended before the liveness phase' });
            return;
          }
          if (leaderAt === null || leaderAt - healAt > view.leaderBoundMs) {
            out.push({
              checker: 'liveness',
              time: e.time,
              message: leaderAt === null ? `no stable leader after healing (${e.time - healAt}ms)` : `stable leader only ${leaderAt - healAt}ms after healing (bound ${view.leaderBoundMs}ms)`,
            });
          }
          if (!e.converged) out.push({ checker: 'liveness', time: e.time, message: `not converged ${e.time - healAt}ms after healing: ${e.pending ?? '?'}` });
          if (!e.converged) return;
          if (!e.finalReadsDone) out.push({ checker: 'liveness', time: e.time, message: `final reads not served: ${e.pending ?? '?'}` });
          const first = e.nodes[0]!;
          for (const n of e.nodes) {
            if (n.state !== first.state || n.applied !== first.applied) {
              out.push({ checker: 'liveness', time: e.time, message: `n${n.index} ends with ${n.applied}: ${n.state}; n${first.index} with ${first.applied}: ${first.state}` });
            }
            for (const a of acked) {
              if (a.index > n.applied) {
                out.push({ checker: 'liveness', time: e.time, message: `acknowledged op ${a.op} at ${a.index} is not applied on n${n.index} (applied ${n.applied})` });
                break;
              }
            }
          }
          break;
        }
        default:
          break;
      }
    },
    failing: () => out.length > 0,
    finish: () => out,
  };
}
