// After healing, all acknowledged jobs are readable on every node with the
// same state. At the end of a run that converged (every node up and applied
// through the leader's commit, at a quiet moment), every node's jobs and feed,
// read locally, are identical; and each job is exactly as the last command
// that touched it left it (the `after` of the highest log index naming it, on
// whichever node applied it), so the state agrees with the history the other
// checkers judged. (That every acknowledged job is among them is
// registry-acknowledged's.)
import type { Checker, TraceEvent, Violation } from '../trace.js';

const NAME = 'registry-convergence';

export function registryConvergence(): Checker {
  /** job id → the job after the highest index that named it. */
  const latest = new Map<string, { index: number; job: string; node: number }>();
  let finalNodes: Extract<TraceEvent, { type: 'registryFinal' }>['nodes'] | null = null;
  const out: Violation[] = [];
  return {
    name: NAME,
    on: ['jobApply', 'registryFinal', 'end'],
    observe(e: TraceEvent): void {
      if (e.type === 'jobApply') {
        for (const { after } of e.items) {
          if (after === null) continue;
          const prev = latest.get(after.id);
          if (prev === undefined || prev.index <= e.index) latest.set(after.id, { index: e.index, job: JSON.stringify(after), node: e.node });
        }
        return;
      }
      if (e.type === 'registryFinal') {
        finalNodes = e.nodes;
        return;
      }
      if (e.type !== 'end' || !e.converged || finalNodes === null) return;
      const first = finalNodes[0];
      if (first === undefined) return;
      const firstJobs = new Map(first.jobs.map((j) => [j.id as string, JSON.stringify(j)]));
      for (const n of finalNodes) {
        if (n !== first) {
          if (n.jobs.length !== first.jobs.length) out.push({ checker: NAME, time: e.time, message: `n${n.index} holds ${n.jobs.length} job(s), n${first.index} ${first.jobs.length}` });
          for (const j of n.jobs) {
            const other = firstJobs.get(j.id);
            const mine = JSON.stringify(j);
            if (other !== mine) {
              out.push({ checker: NAME, time: e.time, message: `${j.id} differs: n${n.index} has ${mine}; n${first.index} has ${other ?? 'nothing'}` });
              break;
            }
          }
          if (JSON.stringify(n.feed) !== JSON.stringify(first.feed)) out.push({ checker: NAME, time: e.time, message: `n${n.index}'s feed (${n.feed.length} events) differs from n${first.index}'s (${first.feed.length})` });
        }
        const held = new Set<string>();
        for (const j of n.jobs) {
          held.add(j.id);
          const l = latest.get(j.id);
          const mine = JSON.stringify(j);
          if (l === undefined) out.push({ checker: NAME, time: e.time, message: `n${n.index} holds ${j.id}, which no applied command made` });
          else if (l.job !== mine) out.push({ checker: NAME, time: e.time, message: `n${n.index} ends with ${mine}; the last command on ${j.id} (@${l.index} on n${l.node}) left ${l.job}` });
        }
        for (const [id, l] of latest) {
          if (!held.has(id)) {
            out.push({ checker: NAME, time: e.time, message: `n${n.index} does not hold ${id}, which @${l.index} left as ${l.job}` });
            break;
          }
        }
      }
    },
    failing: () => out.length > 0,
    finish: () => out,
  };
}
