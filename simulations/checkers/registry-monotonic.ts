// Each job reaches at most one terminal state and never moves backwards.
// (attempt, STATUS_RANK[status]) orders every state a job passes through
// (actors/job_registry/types.ts). Watched three ways:
//   - on every node, every command it applies leaves the job it names at an
//     equal or later state, and a terminal job exactly as it was;
//   - across nodes, the first terminal state any node records for a job is the
//     only one any node ever records for it;
//   - in what clients read: a `get` invoked after another `get` of the same job
//     returned never shows an earlier state, nor another status after a
//     terminal one (reads are linearizable, through ReadIndex).
import type { Job, JobStatus } from '../../actors/job_registry/types.js';
import { STATUS_RANK, isTerminal } from '../../actors/job_registry/types.js';
import type { Checker, JobHistoryEvent, TraceEvent, Violation } from '../trace.js';

const NAME = 'registry-monotonic';

/** Negative when a is earlier than b. */
function compare(a: { attempt: number; status: JobStatus }, b: { attempt: number; status: JobStatus }): number {
  return a.attempt !== b.attempt ? a.attempt - b.attempt : STATUS_RANK[a.status] - STATUS_RANK[b.status];
}

const show = (j: { status: JobStatus; attempt: number }): string => `${j.status}/${j.attempt}`;

export function registryMonotonic(): Checker {
  const terminal = new Map<string, { status: JobStatus; attempt: number; index: number; node: number }>();
  const invokes = new Map<number, JobHistoryEvent>();
  /** Per job, the reads completed so far, in completion order. */
  const reads = new Map<string, { ret: number; job: Job; actor: string }[]>();
  const out: Violation[] = [];
  return {
    name: NAME,
    on: ['jobApply', 'jobClient'],
    observe(e: TraceEvent): void {
      if (e.type === 'jobApply') {
        for (const { command, before, after } of e.items) {
          const what = command === null ? 'an invalid command' : command.c;
          if (before !== null && after !== null && before.id === after.id) {
            if (isTerminal(before.status) && JSON.stringify(after) !== JSON.stringify(before)) {
              out.push({ checker: NAME, time: e.time, message: `n${e.node} changed ${after.id} @${e.index} (${what}) after it was ${show(before)}: now ${show(after)}` });
            } else if (compare(after, before) < 0) {
              out.push({ checker: NAME, time: e.time, message: `n${e.node} moved ${after.id} backwards @${e.index} (${what}): ${show(before)} -> ${show(after)}` });
            }
          }
          if (after !== null && isTerminal(after.status)) {
            const t = terminal.get(after.id);
            if (t === undefined) terminal.set(after.id, { status: after.status, attempt: after.attempt, index: e.index, node: e.node });
            else if (t.status !== after.status || t.attempt !== after.attempt) {
              out.push({ checker: NAME, time: e.time, message: `${after.id} reached two terminal states: ${show(t)} (@${t.index} on n${t.node}) and ${show(after)} (@${e.index} on n${e.node})` });
            }
          }
        }
        return;
      }
      if (e.type !== 'jobClient') return;
      const h = e.event;
      if (h.type === 'invoke') {
        if (h.f === 'get') invokes.set(h.process, h);
        return;
      }
      const inv = invokes.get(h.process);
      if (inv === undefined) return;
      invokes.delete(h.process);
      const job = h.type === 'ok' ? (h.value as Job | null) : null;
      if (job === null) return;
      const seen = reads.get(job.id) ?? [];
      for (const p of seen) {
        if (p.ret >= inv.time) continue;
        if (isTerminal(p.job.status) ? p.job.status !== job.status || p.job.attempt !== job.attempt : compare(job, p.job) < 0) {
          out.push({
            checker: NAME,
            time: h.time,
            message: `${h.actor} read ${job.id} as ${show(job)} (t=${inv.time}..${h.time}) after ${p.actor} had read it as ${show(p.job)} (done t=${p.ret})`,
          });
          break;
        }
      }
      seen.push({ ret: h.time, job, actor: h.actor });
      reads.set(job.id, seen);
    },
    failing: () => out.length > 0,
    finish: () => out,
  };
}
