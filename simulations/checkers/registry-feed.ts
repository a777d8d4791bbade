// The event feed read from any node is the same sequence, with no gaps and
// no duplicates. The canonical feed is what the nodes apply: each command
// entry makes its events (none, one, or one per changed job of a batch entry),
// numbered (seq = its log index, n = 0, 1, ...), and every node that applies
// that index must make the same ones. Then:
//   - every applied command that changed a job made its event, in command
//     order, and one that changed nothing made none (no transition is missing
//     from the feed);
//   - every page a feed reader got, from whichever node and however stale,
//     holds exactly the canonical events of the entries in (after, last]:
//     none missing, none extra, none different, in (seq, n) order; and each
//     reader's pages follow one another (each starts where the last ended),
//     so what a reader assembles has no duplicate;
//   - at the end, every node's whole feed is the canonical feed up to what it
//     applied.
import type { JobEvent } from '../../actors/job_registry/types.js';
import type { Checker, JobApplied, TraceEvent, Violation } from '../trace.js';

const NAME = 'registry-feed';

/** An event in canonical form (what two nodes must agree on). */
export function eventKey(e: JobEvent): string {
  return JSON.stringify([e.seq, e.n, e.at, e.kind, e.jobId, e.status, e.attempt, e.worker, e.detail]);
}

interface Page {
  readonly time: number;
  readonly reader: number;
  readonly node: number;
  readonly after: number;
  readonly last: number;
  readonly events: readonly JobEvent[];
}

function changed(x: JobApplied): boolean {
  const r = x.result;
  return r?.type === 'ok' ? r.changed : r?.type === 'pruned' ? r.jobs + r.events > 0 : false;
}

export function registryFeed(): Checker {
  /** seq (log index) → the events its entry made, in order (empty: none), from the first node that applied it. */
  const canon = new Map<number, { keys: readonly string[]; node: number }>();
  const pages: Page[] = [];
  const out: Violation[] = [];
  let finalNodes: Extract<TraceEvent, { type: 'registryFinal' }>['nodes'] = [];

  /** What is wrong with `events` as the events of the entries in (after, last], or null. */
  const compareRange = (events: readonly JobEvent[], after: number, last: number): string | null => {
    const got = new Map<number, string[]>();
    let prev: JobEvent | null = null;
    for (const ev of events) {
      if (ev.seq <= after || ev.seq > last) return `event ${ev.seq}.${ev.n} lies outside (${after}, ${last}]`;
      if (prev !== null && (ev.seq < prev.seq || (ev.seq === prev.seq && ev.n <= prev.n))) return `event ${ev.seq}.${ev.n} comes after ${prev.seq}.${prev.n} (out of order or repeated)`;
      prev = ev;
      const list = got.get(ev.seq);
      if (list === undefined) got.set(ev.seq, [eventKey(ev)]);
      else list.push(eventKey(ev));
    }
    for (let seq = after + 1; seq <= last; seq++) {
      const c = canon.get(seq)?.keys ?? [];
      const g = got.get(seq) ?? [];
      if (c.length === 0 && g.length === 0) continue;
      if (canon.get(seq) === undefined) return `events at ${seq} (${g.join(' ')}) from an entry no node applied`;
      if (g.length < c.length && c.slice(0, g.length).every((k, i) => k === g[i])) return `gap: ${c.length - g.length} event(s) of entry ${seq} missing, from ${c[g.length]}`;
      if (g.length !== c.length || g.some((k, i) => k !== c[i])) return `entry ${seq}: events ${g.join(' ') || 'none'}, not ${c.join(' ') || 'none'}`;
    }
    return null;
  };

  return {
    name: NAME,
    on: ['jobApply', 'feedPage', 'registryFinal'],
    observe(e: TraceEvent): void {
      if (e.type === 'feedPage') {
        pages.push({ time: e.time, reader: e.reader, node: e.node, after: e.after, last: e.last, events: e.events });
        return;
      }
      if (e.type === 'registryFinal') {
        finalNodes = e.nodes;
        return;
      }
      if (e.type !== 'jobApply') return;
      const moved = e.items.filter(changed);
      const where = `n${e.node} @${e.index}`;
      if (moved.length !== e.events.length) {
        out.push({ checker: NAME, time: e.time, message: `${where}: ${moved.length} command(s) changed a job but ${e.events.length} event(s) were made (${e.events.map((x) => x.kind).join(', ') || 'none'})` });
      } else {
        e.events.forEach((ev, i) => {
          const x = moved[i]!;
          const job = x.command?.c === 'prune' ? null : (x.after?.id ?? null);
          if (ev.seq !== e.index || ev.n !== i || ev.jobId !== job) {
            out.push({ checker: NAME, time: e.time, message: `${where}: event ${i} is ${ev.seq}.${ev.n} for ${ev.jobId ?? '-'}, expected ${e.index}.${i} for ${job ?? '-'}` });
          }
        });
      }
      const keys = e.events.map(eventKey);
      const prev = canon.get(e.index);
      if (prev === undefined) canon.set(e.index, { keys, node: e.node });
      else if (prev.keys.length !== keys.length || prev.keys.some((k, i) => k !== keys[i])) {
        out.push({ checker: NAME, time: e.time, message: `entry ${e.index}: n${e.node} made ${keys.join(' ') || 'no event'}; n${prev.node} made ${prev.keys.join(' ') || 'no event'}` });
      }
    },
    failing: () => out.length > 0,
    finish(): Violation[] {
      const result = [...out];
      const cursor = new Map<number, number>();
      for (const p of pages) {
        const expected = cursor.get(p.reader) ?? 0;
        if (p.after !== expected) result.push({ checker: NAME, time: p.time, message: `reader r${p.reader} asked n${p.node} for events after ${p.after}, but its last page ended at ${expected}` });
        if (p.last < p.after) result.push({ checker: NAME, time: p.time, message: `reader r${p.reader}: n${p.node} answered events after ${p.after} with a page ending at ${p.last}` });
        cursor.set(p.reader, p.last);
        const bad = compareRange(p.events, p.after, p.last);
        if (bad !== null) result.push({ checker: NAME, time: p.time, message: `reader r${p.reader}, page from n${p.node} after ${p.after} to ${p.last}: ${bad}` });
      }
      for (const n of finalNodes) {
        const bad = compareRange(n.feed, 0, n.applied);
        if (bad !== null) result.push({ checker: NAME, time: 0, message: `n${n.index}'s whole feed at the end (applied ${n.applied}): ${bad}` });
      }
      return result;
    },
  };
}
