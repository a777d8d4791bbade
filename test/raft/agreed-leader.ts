// For test harnesses that wait for an election to settle: which member leads,
// once exactly one does and every member follows it in its term.
import type { FsmView } from '../../actors/raft/fsm.js';

/** The leader's id when exactly one view leads and all views (none missing) agree on it and its term; else null. */
export function agreedLeader(views: readonly (FsmView | undefined)[]): FsmView['id'] | null {
  const leaders = views.filter((v) => v?.role === 'leader');
  if (leaders.length !== 1) return null;
  const l = leaders[0]!;
  return views.every((v) => v !== undefined && v.term === l.term && v.leader === l.id) ? l.id : null;
}
