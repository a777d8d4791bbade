// A report for a stale attempt never changes a job. Every command that names
// an attempt (dispatch, start, progress, complete, fail, retry, dead, and a
// cancel that gives one) is watched as each node applies it: when the attempt
// is not the job's current one just before, the command must be refused, the
// job must be exactly as it was, and no event may be made. This is the
// fencing that keeps a worker which lost its job to a re-dispatch, or a late
// duplicate of an old report, from completing or failing the new attempt.
import type { Checker, TraceEvent, Violation } from '../trace.js';

const NAME = 'registry-fencing';

export function registryFencing(): Checker {
  const out: Violation[] = [];
  return {
    name: NAME,
    on: ['jobApply'],
    observe(e: TraceEvent): void {
      if (e.type !== 'jobApply') return;
      for (const { command: c, result: r, before, after } of e.items) {
        if (c === null || c.c === 'submit' || c.c === 'prune' || c.attempt === undefined) continue;
        if (before === null || before.id !== c.id || before.attempt === c.attempt) continue;
        // Seen only before and after the whole entry: a job named twice in one entry cannot be judged per command.
        if (e.items.filter((x) => x.command !== null && x.command.c !== 'prune' && x.command.id === c.id).length > 1) continue;
        const unchanged = after !== null && JSON.stringify(after) === JSON.stringify(before);
        const event = e.events.find((ev) => ev.jobId === c.id);
        if (r?.type === 'rejected' && unchanged && event === undefined) continue;
        const outcome = r === null ? 'no result' : r.type === 'rejected' ? `rejected ${r.reason.code}` : r.type === 'ok' ? `ok${r.changed ? '' : ' (unchanged)'}` : r.type;
        const now = after === null ? 'gone' : `${after.status}/${after.attempt}`;
        out.push({
          checker: NAME,
          time: e.time,
          message: `n${e.node} applied ${c.c} ${c.id} for attempt ${c.attempt} @${e.index} while the job was ${before.status}/${before.attempt}: ${outcome}, job now ${now}${unchanged ? '' : ' (changed)'}${event === undefined ? '' : `, event ${event.kind}`}`,
        });
      }
    },
    failing: () => out.length > 0,
    finish: () => out,
  };
}
