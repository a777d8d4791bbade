// An idempotency key never yields two jobs. Every submit carrying a key is
// watched as each node applies it: a submit that creates a job claims the key
// for that log index, and a second creation under the same key at another
// index is a violation (the same index on several nodes is the same entry);
// a submit that creates nothing must resolve to the key's job (a submit whose
// id names a job with another key is refused). At the end, no node holds two
// jobs with one key.
import type { Checker, TraceEvent, Violation } from '../trace.js';

const NAME = 'registry-idempotency';

export function registryIdempotency(): Checker {
  const created = new Map<string, { index: number; id: string; node: number }>();
  const out: Violation[] = [];
  return {
    name: NAME,
    on: ['jobApply', 'registryFinal'],
    observe(e: TraceEvent): void {
      if (e.type === 'registryFinal') {
        for (const n of e.nodes) {
          const byKey = new Map<string, string>();
          for (const j of n.jobs) {
            if (j.idempotencyKey === null) continue;
            const prev = byKey.get(j.idempotencyKey);
            if (prev !== undefined) out.push({ checker: NAME, time: e.time, message: `n${n.index} holds two jobs with key ${j.idempotencyKey}: ${prev} and ${j.id}` });
            else byKey.set(j.idempotencyKey, j.id);
          }
        }
        return;
      }
      if (e.type !== 'jobApply') return;
      for (const { command: c, result: r } of e.items) {
        if (c?.c !== 'submit' || c.idempotencyKey === undefined || r?.type !== 'ok') continue;
        const key = c.idempotencyKey;
        const prev = created.get(key);
        if (r.created === true) {
          if (prev === undefined) created.set(key, { index: e.index, id: r.id, node: e.node });
          else if (prev.index !== e.index || prev.id !== r.id) {
            out.push({ checker: NAME, time: e.time, message: `key ${key} yielded two jobs: ${prev.id} (created @${prev.index} on n${prev.node}) and ${r.id} (created @${e.index} on n${e.node})` });
          }
        } else if (prev === undefined || r.id !== prev.id) {
          // A submit that creates nothing answers with the job holding its key (its own id's job only if that one
          // holds the key; any other id is an idempotency_conflict).
          out.push({ checker: NAME, time: e.time, message: `n${e.node} resolved submit ${c.id} with key ${key} @${e.index} to ${r.id}, but the key names ${prev?.id ?? 'no job'}` });
        }
      }
    },
    failing: () => out.length > 0,
    finish: () => out,
  };
}
