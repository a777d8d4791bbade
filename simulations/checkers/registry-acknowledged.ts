// Every acknowledged submission exists. Once a client has been told that a
// submit succeeded (`ok`, naming the job it resolved to: its own, or the one
// its idempotency key already named), that job is
//   1. returned (not null) by every `get` invoked after the acknowledgement;
//   2. in the list read through the leader after healing, when that read
//      began after the acknowledgement;
//   3. held by every node at the end of a run that converged.
// With the durability checker (every acknowledged entry is on a majority of
// disks whenever a node crashes) this is "every acknowledged submission exists
// after any crash pattern that leaves a majority": the runs crash minorities,
// majorities and whole clusters, and a job is checked after each of them.
import type { EntryResult, Job, ListPage, RegistryCommand } from '../../actors/job_registry/types.js';
import type { Checker, JobHistoryEvent, TraceEvent, Violation } from '../trace.js';

const NAME = 'registry-acknowledged';

export function registryAcknowledged(): Checker {
  /** job id → when its first acknowledgement reached a client, and which. */
  const acked = new Map<string, { time: number; what: string }>();
  const invokes = new Map<number, JobHistoryEvent>();
  /** The final list: when its first page was asked for, the ids it returned, and whether it reached the end. */
  let finalList: { invokedAt: number; ids: Set<string>; complete: boolean } | null = null;
  let finalNodes: Extract<TraceEvent, { type: 'registryFinal' }>['nodes'] | null = null;
  const out: Violation[] = [];
  return {
    name: NAME,
    on: ['jobClient', 'registryFinal', 'end'],
    observe(e: TraceEvent): void {
      if (e.type === 'registryFinal') {
        finalNodes = e.nodes;
        return;
      }
      if (e.type === 'end') {
        if (!e.converged || finalNodes === null) return;
        for (const n of finalNodes) {
          const ids = new Set(n.jobs.map((j) => j.id as string));
          for (const [id, a] of acked) {
            if (!ids.has(id)) {
              out.push({ checker: NAME, time: e.time, message: `job ${id} (${a.what} at t=${a.time}) is missing on n${n.index} at the end (${n.jobs.length} job(s), applied ${n.applied})` });
              break;
            }
          }
        }
        if (finalList?.complete === true) {
          for (const [id, a] of acked) {
            if (a.time < finalList.invokedAt && !finalList.ids.has(id)) {
              out.push({ checker: NAME, time: e.time, message: `job ${id} (${a.what} at t=${a.time}) is missing from the final list read through the leader from t=${finalList.invokedAt}` });
            }
          }
        }
        return;
      }
      if (e.type !== 'jobClient') return;
      const h = e.event;
      if (h.type === 'invoke') {
        invokes.set(h.process, h);
        if (h.actor === 'final' && finalList === null) finalList = { invokedAt: h.time, ids: new Set(), complete: false };
        return;
      }
      const inv = invokes.get(h.process);
      invokes.delete(h.process);
      if (inv === undefined || h.type !== 'ok') return;
      if (h.f === 'submit' || h.f === 'batch') {
        // A batch entry's results are its commands', in order.
        const c = inv.value as RegistryCommand;
        const commands = c.c === 'batch' ? c.commands : [c];
        const r = h.value as EntryResult | null;
        const results = r === null ? [] : r.type === 'batch' ? r.results : [r];
        commands.forEach((x, i) => {
          const res = results[i];
          if (x.c === 'submit' && res?.type === 'ok' && !acked.has(res.id)) acked.set(res.id, { time: h.time, what: `acknowledged to ${h.actor} for submit ${x.id}` });
        });
      } else if (h.f === 'get') {
        const a = acked.get(h.key);
        if (a !== undefined && a.time < inv.time && (h.value as Job | null) === null) {
          out.push({ checker: NAME, time: h.time, message: `get ${h.key} by ${h.actor} (n${h.node}, t=${inv.time}..${h.time}) found nothing, though the job was ${a.what} at t=${a.time}` });
        }
      } else if (h.f === 'list' && h.actor === 'final' && finalList !== null) {
        const page = h.value as ListPage;
        for (const j of page.jobs) finalList.ids.add(j.id);
        if (page.next === null) finalList.complete = true;
      }
    },
    failing: () => out.length > 0,
    finish: () => out,
  };
}
