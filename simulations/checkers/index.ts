// Every checker a run uses, each its own module. They watch the trace and
// never steer the simulation. The Raft checkers judge every workload; the
// rest belong to one workload (simulations/workload.ts).
import type { Checker, ClusterView } from '../trace.js';
import { coreErrors } from './core-errors.js';
import { durability } from './durability.js';
import { electionSafety } from './election-safety.js';
import { leaderAppendOnly } from './leader-append-only.js';
import { leaderCompleteness } from './leader-completeness.js';
import { linearizability } from './linearizability.js';
import { liveness } from './liveness.js';
import { logMatching } from './log-matching.js';
import { registryAcknowledged } from './registry-acknowledged.js';
import { registryConvergence } from './registry-convergence.js';
import { registryFeed } from './registry-feed.js';
import { registryFencing } from './registry-fencing.js';
import { registryIdempotency } from './registry-idempotency.js';
import { registryMonotonic } from './registry-monotonic.js';
import { stateMachineSafety } from './state-machine-safety.js';

/** The key-value workload's checkers: Raft's, linearizability, liveness and core errors. */
/** The Raft invariants every workload is checked against. */
function raftCheckers(view: ClusterView): Checker[] {
  return [electionSafety(), leaderAppendOnly(), logMatching(), leaderCompleteness(), stateMachineSafety(), durability(view)];
}

export function allCheckers(view: ClusterView): Checker[] {
  return [
    ...raftCheckers(view),
    linearizability(),
    liveness(view),
    coreErrors(),
  ];
}

/** The job registry workload's checkers: Raft's, the registry's invariants, liveness and core errors. */
export function registryCheckers(view: ClusterView): Checker[] {
  return [
    ...raftCheckers(view),
    registryAcknowledged(),
    registryIdempotency(),
    registryMonotonic(),
    registryFencing(),
    registryFeed(),
    registryConvergence(),
    liveness(view),
    coreErrors(),
  ];
}
