// Every checker a run uses, each its own module. They watch the trace and
// never steer the simulation.
import type { Checker, ClusterView } from '../trace.js';
import { coreErrors } from './core-errors.js';
import { durability } from './durability.js';
import { electionSafety } from './election-safety.js';
import { leaderAppendOnly } from './leader-append-only.js';
import { leaderCompleteness } from './leader-completeness.js';
import { linearizability } from './linearizability.js';
import { liveness } from './liveness.js';
import { logMatching } from './log-matching.js';
import { stateMachineSafety } from './state-machine-safety.js';

export function allCheckers(view: ClusterView): Checker[] {
  return [
    electionSafety(),
    leaderAppendOnly(),
    logMatching(),
    leaderCompleteness(),
    stateMachineSafety(),
    durability(view),
    linearizability(),
    liveness(view),
    coreErrors(),
  ];
}
