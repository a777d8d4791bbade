// One node's job registry in the simulator: the real RegistryMachine
// (actors/job_registry/machine.ts, an in-memory SQLite database per
// incarnation) behind the simulator's SimMachine port. Each batch of committed
// entries is applied as raft_fsm applies it (one `batch`, one transaction),
// and for every command entry it reports a `jobApply` trace event: each
// command the entry carries (one, or a batch entry's several), its result,
// the job it names just before and just after the entry (read back from the
// machine through its own queries, so the checkers see what the node holds,
// not what the simulator expects) and the feed events the entry made (from
// the machine's onEvents). Checkers observe these; nothing here judges. The
// machine applies a batch entry whole, so a job named twice in one entry is
// seen only before and after the pair (the workload never does that).
import { RegistryMachine } from '../actors/job_registry/machine.js';
import { checkCommand, checkInBatch } from '../actors/job_registry/schema.js';
import type { RegistryUnsafe } from '../actors/job_registry/transitions.js';
import type { CommandResult, EntryResult, EventsPage, Job, JobCommand, JobEvent, ListPage, PruneCommand, RegistryStats, SubmitCommand } from '../actors/job_registry/types.js';
import type { LogEntry } from '../actors/raft/types.js';
import type { JobApplied, RegistryNodeDump, TraceEvent } from './trace.js';
import type { SimMachine } from './workload.js';

/** Rows per page when a whole table is read (the registry's maximum list page). */
const DUMP_LIST_PAGE = 1000;
const DUMP_EVENTS_PAGE = 10_000;

type SingleCommand = SubmitCommand | JobCommand | PruneCommand;

/**
 * A batch entry's command as the machine checks it (an invalid one, or a nested batch, is rejected on its own),
 * with the time it is applied at: its own, or the batch's (`batchAt`).
 */
function single(raw: unknown, batchAt: number | undefined): SingleCommand | null {
  const checked = checkInBatch(raw, batchAt);
  return checked.ok ? ({ ...checked.value.command, at: checked.value.at } as SingleCommand) : null;
}

/** FNV-1a, twice with different offsets: a 64-bit fingerprint of a canonical string. */
export function fingerprintOf(text: string): string {
  let a = 0x811c9dc5;
  let b = 0x050c5d1f;
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    a = Math.imul(a ^ c, 0x01000193);
    b = Math.imul(b ^ c, 0x01000193);
  }
  return `${(a >>> 0).toString(16).padStart(8, '0')}${(b >>> 0).toString(16).padStart(8, '0')}`;
}

export interface RegistryMachineHost {
  now(): number;
  emit(e: TraceEvent): void;
}

export class RegistryNodeMachine implements SimMachine {
  private readonly m: RegistryMachine;
  /** Events told by the machine during the current batch. */
  private told: JobEvent[] = [];
  private dumped: { readonly applied: number; readonly dump: Omit<RegistryNodeDump, 'index' | 'up' | 'applied'> } | null = null;
  /**
   * Each job as this machine last returned it (read back after every entry
   * that named it): the `before` of the next command on it. Only commands
   * change a job, and each names the jobs it changes, so this is what a read
   * would return, at half the reads. A miss is read from the machine.
   */
  private readonly lastRead = new Map<string, Job>();
  /** idempotency key → the job that holds it, as last read. */
  private readonly keyHolder = new Map<string, string>();
  /** Started empty, so every job it holds has been read back (a miss means no such job). */
  private readonly complete: boolean;

  constructor(
    private readonly host: RegistryMachineHost,
    readonly node: number,
    readonly inc: number,
    snapshot: string | null,
    unsafe: RegistryUnsafe,
  ) {
    this.m = new RegistryMachine({ unsafe, onEvents: (evs) => this.told.push(...evs) });
    this.complete = snapshot === null;
    if (snapshot !== null) {
      try {
        this.m.restore(snapshot);
      } catch (e) {
        this.m.close();
        throw e;
      }
    }
  }

  get appliedIndex(): number {
    return this.m.appliedIndex;
  }

  apply(entries: readonly LogEntry[]): (EntryResult | null)[] {
    const results: (EntryResult | null)[] = [];
    const seen: { entry: LogEntry; batch: boolean; commands: (SingleCommand | null)[]; befores: (Job | null)[]; result: EntryResult | null; afters: (Job | null)[] }[] = [];
    this.told = [];
    this.dumped = null;
    this.m.batch(() => {
      for (const entry of entries) {
        if (entry.kind !== 'command') {
          results.push(this.m.apply(entry));
          continue;
        }
        const checked = checkCommand(entry.data);
        const batch = checked.ok && checked.value.c === 'batch';
        const v = checked.ok ? checked.value : null;
        const commands: (SingleCommand | null)[] = v === null ? [null] : v.c === 'batch' ? v.commands.map((raw) => single(raw, v.at)) : [v];
        const befores = commands.map((c) => (c === null ? null : this.named(c)));
        const result = this.m.apply(entry);
        const flat: readonly (CommandResult | null)[] = result === null ? [null] : result.type === 'batch' ? result.results : commands.map(() => result);
        const afters = commands.map((c, i) => {
          if (c === null || c.c === 'prune') return null;
          const r = flat[i];
          return this.readBack(c.c === 'submit' && r?.type === 'ok' ? r.id : c.id);
        });
        results.push(result);
        seen.push({ entry, batch, commands, befores, result, afters });
      }
    });
    const bySeq = new Map<number, JobEvent[]>();
    for (const ev of this.told) {
      const list = bySeq.get(ev.seq);
      if (list === undefined) bySeq.set(ev.seq, [ev]);
      else list.push(ev);
    }
    this.told = [];
    const time = this.host.now();
    for (const s of seen) {
      const r = s.result;
      const items: JobApplied[] = s.commands.map((command, i) => ({
        command,
        result: r === null ? null : r.type === 'batch' ? (r.results[i] ?? null) : r,
        before: s.befores[i]!,
        after: s.afters[i]!,
      }));
      this.host.emit({ type: 'jobApply', time, node: this.node, inc: this.inc, index: s.entry.index, term: s.entry.term, batch: s.batch, items, events: bySeq.get(s.entry.index) ?? [] });
    }
    return results;
  }

  /** The job a command names before its entry applies: its id's, or for a submit the one its key already names. */
  private named(c: SingleCommand): Job | null {
    if (c.c === 'prune') return null;
    const byId = this.lastRead.get(c.id) ?? (this.complete ? null : this.get(c.id));
    if (byId !== null || c.c !== 'submit' || c.idempotencyKey === undefined) return byId;
    const holder = this.keyHolder.get(c.idempotencyKey);
    if (holder !== undefined) return this.lastRead.get(holder) ?? null;
    return this.complete ? null : (this.m.query({ q: 'byKey', key: c.idempotencyKey }) as Job | null);
  }

  /** Read a job after its entry applied, and remember it. */
  private readBack(id: string): Job | null {
    const job = this.get(id);
    if (job === null) {
      this.lastRead.delete(id);
      return null;
    }
    this.lastRead.set(id, job);
    if (job.idempotencyKey !== null) this.keyHolder.set(job.idempotencyKey, job.id);
    return job;
  }

  get(id: string): Job | null {
    return this.m.query({ q: 'get', id }) as Job | null;
  }

  query(q: unknown): unknown {
    return this.m.query(q);
  }

  snapshot(): string {
    return this.m.snapshot();
  }

  /** The statistics: counts by status and priority, the running means and the applied index. Cheap (no table scan but one count). */
  fingerprint(): string {
    const s = this.m.query({ q: 'stats', now: 0 }) as RegistryStats;
    return JSON.stringify(s);
  }

  /** Every job and the whole feed, read as any reader would (list and events pages). */
  dump(): Omit<RegistryNodeDump, 'index' | 'up' | 'applied'> {
    const applied = this.m.appliedIndex;
    if (this.dumped !== null && this.dumped.applied === applied) return this.dumped.dump;
    const jobs: Job[] = [];
    let cursor: string | null = null;
    do {
      const page = this.m.query({ q: 'list', order: 'asc', limit: DUMP_LIST_PAGE, ...(cursor === null ? {} : { cursor }) }) as ListPage;
      jobs.push(...page.jobs);
      cursor = page.next;
    } while (cursor !== null);
    const feed: JobEvent[] = [];
    let after = 0;
    for (;;) {
      const page = this.m.query({ q: 'events', after, limit: DUMP_EVENTS_PAGE }) as EventsPage;
      if (page.type !== 'events') throw new Error(`node ${this.node}: the feed is truncated at ${page.oldest}`);
      feed.push(...page.events);
      if (page.events.length < DUMP_EVENTS_PAGE) break;
      after = page.last;
    }
    const dump = { jobs, feed };
    this.dumped = { applied, dump };
    return dump;
  }

  /** Canonical: the statistics, every job and the whole feed, fingerprinted (the end event keeps one short line per node). */
  state(): string {
    const d = this.dump();
    return `jobs=${d.jobs.length} events=${d.feed.length} ${fingerprintOf(`${this.fingerprint()}\n${JSON.stringify(d.jobs)}\n${JSON.stringify(d.feed)}`)}`;
  }

  close(): void {
    this.m.close();
  }
}
