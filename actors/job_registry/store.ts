// The registry's SQLite tables on one member: jobs (with the indexes the list,
// dispatch and retention queries walk: one per list filter, each ending in
// the (created_at, id) sort key, and one on finished_at for retention; no
// partial indexes over status, which every transition changes: measured, they
// doubled the cost of an update), events (the feed, keyed by log index)
// and meta (what a snapshot carries besides the rows). The store only reads
// and writes rows; what to write is decided by transitions.ts, in log order,
// by the machine (machine.ts), which is the store's only writer.
//
// The database is derived state: the Raft log (with its snapshots) is the
// durable record, and a member rebuilds its store from the last snapshot plus
// the log on every start. So it lives in memory (SQLite's `:memory:`), with
// no fsync and no journal file; a snapshot is SQLite's own page image of it.
import Database from 'better-sqlite3';
import type { EventsPage, Job, JobEvent, JobHead, JobId, JobStatus, ListFilter, ListPage } from './types.js';
import { isTerminal } from './types.js';

const SCHEMA = `
CREATE TABLE jobs (
  id TEXT NOT NULL UNIQUE,
  type TEXT NOT NULL,
  priority INTEGER NOT NULL,
  payload TEXT NOT NULL,
  status TEXT NOT NULL,
  attempt INTEGER NOT NULL,
  retries INTEGER NOT NULL,
  max_retries INTEGER NOT NULL,
  timeout_s INTEGER NOT NULL,
  worker TEXT,
  progress REAL,
  result TEXT,
  error TEXT,
  idem_key TEXT,
  metadata TEXT NOT NULL,
  parent_id TEXT,
  created_at INTEGER NOT NULL,
  updated_at INTEGER NOT NULL,
  run_at INTEGER NOT NULL,
  dispatched_at INTEGER,
  started_at INTEGER,
  finished_at INTEGER
);
CREATE UNIQUE INDEX jobs_idem ON jobs(idem_key) WHERE idem_key IS NOT NULL;
CREATE INDEX jobs_created ON jobs(created_at, id);
CREATE INDEX jobs_status ON jobs(status, created_at, id);
CREATE INDEX jobs_type ON jobs(type, created_at, id);
CREATE INDEX jobs_priority ON jobs(priority, created_at, id);
CREATE INDEX jobs_worker ON jobs(worker, created_at, id) WHERE worker IS NOT NULL;
CREATE INDEX jobs_finished ON jobs(finished_at, id) WHERE finished_at IS NOT NULL;
CREATE TABLE events (
  seq INTEGER NOT NULL,
  n INTEGER NOT NULL,
  at INTEGER NOT NULL,
  kind TEXT NOT NULL,
  job_id TEXT,
  status TEXT,
  attempt INTEGER,
  worker TEXT,
  detail TEXT,
  PRIMARY KEY (seq, n)
) WITHOUT ROWID;
CREATE TABLE meta (k TEXT PRIMARY KEY, v TEXT NOT NULL) WITHOUT ROWID;
`;

interface JobRow {
  id: string;
  type: string;
  priority: number;
  payload: string;
  status: string;
  attempt: number;
  retries: number;
  max_retries: number;
  timeout_s: number;
  worker: string | null;
  progress: number | null;
  result: string | null;
  error: string | null;
  idem_key: string | null;
  metadata: string;
  parent_id: string | null;
  created_at: number;
  updated_at: number;
  run_at: number;
  dispatched_at: number | null;
  started_at: number | null;
  finished_at: number | null;
}

interface EventRow {
  seq: number;
  n: number;
  at: number;
  kind: string;
  job_id: string | null;
  status: string | null;
  attempt: number | null;
  worker: string | null;
  detail: string | null;
}

/** The columns a transition can change, with the Job field each holds. */
const MUTABLE: readonly (readonly [keyof JobHead & keyof Job, string])[] = [
  ['status', 'status'],
  ['attempt', 'attempt'],
  ['retries', 'retries'],
  ['worker', 'worker'],
  ['progress', 'progress'],
  ['result', 'result'],
  ['error', 'error'],
  ['updatedAt', 'updated_at'],
  ['runAt', 'run_at'],
  ['dispatchedAt', 'dispatched_at'],
  ['startedAt', 'started_at'],
  ['finishedAt', 'finished_at'],
];

/** In an update mask: find the row by id (a job not in the cache), not by rowid. */
const BY_ID = 1 << MUTABLE.length;

/** A cached live job: its head and its row. */
interface Cached {
  head: JobHead;
  readonly rowid: number;
}

const EVENT_COLS = 9;
/** Events per multi-row INSERT (EVENT_ROWS × EVENT_COLS bound values, far below SQLite's limit of 32,766). */
const EVENT_ROWS = 64;

/** Every column but the payload and metadata, which no transition reads or changes. */
const HEAD_COLS =
  'id, type, priority, status, attempt, retries, max_retries, timeout_s, worker, progress, result, error, idem_key, parent_id, created_at, updated_at, run_at, dispatched_at, started_at, finished_at';

type HeadRow = [string, string, number, string, number, number, number, number, string | null, number | null, string | null, string | null, string | null, string | null, number, number, number, number | null, number | null, number | null];

/** HEAD_COLS and then the rowid. */
type HeadRowid = [...HeadRow, number];

/** A raw (positional) row of HEAD_COLS: better-sqlite3 builds an array far faster than a 20-key object. */
function toHead(r: HeadRow | HeadRowid): JobHead {
  return {
    id: r[0] as JobId,
    type: r[1],
    priority: r[2],
    status: r[3] as JobStatus,
    attempt: r[4],
    retries: r[5],
    maxRetries: r[6],
    timeoutS: r[7],
    worker: r[8],
    progress: r[9],
    result: r[10] === null ? null : (JSON.parse(r[10]) as unknown),
    error: r[11],
    idempotencyKey: r[12],
    parentId: r[13],
    createdAt: r[14],
    updatedAt: r[15],
    runAt: r[16],
    dispatchedAt: r[17],
    startedAt: r[18],
    finishedAt: r[19],
  };
}

/** A job's head, as toHead builds it (the same hidden class, so the transitions' reads stay monomorphic). */
function headOf(j: Job): JobHead {
  return {
    id: j.id,
    type: j.type,
    priority: j.priority,
    status: j.status,
    attempt: j.attempt,
    retries: j.retries,
    maxRetries: j.maxRetries,
    timeoutS: j.timeoutS,
    worker: j.worker,
    progress: j.progress,
    result: j.result,
    error: j.error,
    idempotencyKey: j.idempotencyKey,
    parentId: j.parentId,
    createdAt: j.createdAt,
    updatedAt: j.updatedAt,
    runAt: j.runAt,
    dispatchedAt: j.dispatchedAt,
    startedAt: j.startedAt,
    finishedAt: j.finishedAt,
  };
}

function toJob(r: JobRow): Job {
  return {
    id: r.id as JobId,
    type: r.type,
    priority: r.priority,
    payload: JSON.parse(r.payload) as Job['payload'],
    status: r.status as JobStatus,
    attempt: r.attempt,
    retries: r.retries,
    maxRetries: r.max_retries,
    timeoutS: r.timeout_s,
    worker: r.worker,
    progress: r.progress,
    result: r.result === null ? null : (JSON.parse(r.result) as unknown),
    error: r.error,
    idempotencyKey: r.idem_key,
    metadata: JSON.parse(r.metadata) as Job['metadata'],
    parentId: r.parent_id,
    createdAt: r.created_at,
    updatedAt: r.updated_at,
    runAt: r.run_at,
    dispatchedAt: r.dispatched_at,
    startedAt: r.started_at,
    finishedAt: r.finished_at,
  };
}

function toEvent(r: EventRow): JobEvent {
  return {
    seq: r.seq,
    n: r.n,
    at: r.at,
    kind: r.kind as JobEvent['kind'],
    jobId: r.job_id as JobId | null,
    status: r.status as JobStatus | null,
    attempt: r.attempt,
    worker: r.worker,
    detail: r.detail === null ? null : (JSON.parse(r.detail) as JobEvent['detail']),
  };
}

/** A list cursor: the sort key of the last row returned, opaque to callers. */
interface Cursor {
  readonly createdAt: number;
  readonly id: string;
}

export class CursorError extends Error {
  readonly code = 'invalid_cursor';
  constructor(message: string) {
    super(message);
    this.name = 'CursorError';
  }
}

export function encodeCursor(c: Cursor): string {
  return Buffer.from(JSON.stringify([c.createdAt, c.id])).toString('base64url');
}

export function decodeCursor(s: string): Cursor {
  let v: unknown;
  try {
    v = JSON.parse(Buffer.from(s, 'base64url').toString('utf8'));
  } catch {
    throw new CursorError('cursor is not one this registry issued');
  }
  if (!Array.isArray(v) || v.length !== 2 || !Number.isSafeInteger(v[0]) || typeof v[1] !== 'string') throw new CursorError('cursor is not one this registry issued');
  return { createdAt: v[0] as number, id: v[1] };
}

type Stmt = Database.Statement;

/** Live jobs whose heads are kept in memory (about 0.5 KB each). */
export const DEFAULT_MAX_CACHED_JOBS = 200_000;

export class RegistryStore {
  private db: Database.Database;
  private st!: {
    get: Stmt;
    head: Stmt;
    byKey: Stmt;
    headByKey: Stmt;
    activeHeads: Stmt;
    insert: Stmt;
    events: Stmt;
    entryRest: Stmt;
    due: Stmt;
    overdueDispatched: Stmt;
    overdueRunning: Stmt;
    completedSince: Stmt;
    prunable: Stmt;
    deleteJob: Stmt;
    oldestEvents: Stmt;
    deleteEvents: Stmt;
    metaGet: Stmt;
    metaSet: Stmt;
  };
  private readonly lists = new Map<string, Stmt>();
  /**
   * The heads of live (non-terminal) jobs, at most maxCachedJobs, with their
   * rowids: every transition reads the job first, and a Map hit costs a
   * fraction of a SQLite point query; the update then finds the row by rowid,
   * not through the id index. Terminal jobs are read from SQLite (late reports
   * only). The rowids are stable: jobs is never VACUUMed, and a cached (live)
   * job is never deleted.
   */
  private readonly active = new Map<string, Cached>();
  /** UPDATE statements by the mask of columns they set (bit 12: by id instead of rowid). */
  private readonly updates = new Map<number, Stmt>();
  /**
   * Inside a transaction, the events' column values (EVENT_COLS per event),
   * written as multi-row INSERTs when the transaction ends or before anything
   * reads or deletes events: one statement per EVENT_ROWS events instead of
   * one per event (a statement's fixed cost in better-sqlite3 is several
   * times SQLite's cost to append the row).
   */
  private readonly pending: unknown[] = [];
  private inTransaction = false;
  /** Multi-row event INSERTs by number of rows. */
  private readonly eventInserts = new Map<number, Stmt>();

  constructor(private readonly maxCachedJobs = DEFAULT_MAX_CACHED_JOBS) {
    this.db = RegistryStore.open(null);
    this.db.exec(SCHEMA);
    this.prepare();
  }

  private static open(image: Buffer | null): Database.Database {
    const db = image === null ? new Database(':memory:') : new Database(image);
    // Derived state (see the header): nothing to fsync; the rollback journal stays in memory.
    db.pragma('synchronous = OFF');
    db.pragma('journal_mode = MEMORY');
    return db;
  }

  private prepare(): void {
    const db = this.db;
    const cols =
      'id, type, priority, payload, status, attempt, retries, max_retries, timeout_s, worker, progress, result, error, idem_key, metadata, parent_id, created_at, updated_at, run_at, dispatched_at, started_at, finished_at';
    this.lists.clear();
    this.updates.clear();
    this.eventInserts.clear();
    this.st = {
      get: db.prepare('SELECT * FROM jobs WHERE id = ?'),
      head: db.prepare(`SELECT ${HEAD_COLS}, rowid FROM jobs WHERE id = ?`).raw(true),
      byKey: db.prepare('SELECT * FROM jobs WHERE idem_key = ?'),
      headByKey: db.prepare(`SELECT ${HEAD_COLS} FROM jobs WHERE idem_key = ?`).raw(true),
      activeHeads: db.prepare(`SELECT ${HEAD_COLS}, rowid FROM jobs WHERE status IN ('pending', 'dispatched', 'running', 'failed') LIMIT ?`).raw(true),
      insert: db.prepare(`INSERT INTO jobs (${cols}) VALUES (${cols.split(',').map(() => '?').join(', ')})`),
      events: db.prepare('SELECT * FROM events WHERE seq > ? ORDER BY seq, n LIMIT ?'),
      entryRest: db.prepare('SELECT * FROM events WHERE seq = ? AND n > ? ORDER BY n'),
      // These walk jobs_status (oldest first): the pending, dispatched and running sets are what is in flight.
      due: db.prepare("SELECT * FROM jobs WHERE status = 'pending' AND run_at <= ? ORDER BY created_at, id LIMIT ?"),
      overdueDispatched: db.prepare("SELECT * FROM jobs WHERE status = 'dispatched' AND dispatched_at < ? ORDER BY created_at, id LIMIT ?"),
      overdueRunning: db.prepare("SELECT * FROM jobs WHERE status = 'running' AND started_at < ? ORDER BY created_at, id LIMIT ?"),
      // Named: without statistics SQLite takes jobs_status for these and walks every completed job.
      completedSince: db.prepare("SELECT count(*) AS n FROM jobs INDEXED BY jobs_finished WHERE finished_at >= ? AND status = 'completed'"),
      prunable: db.prepare("SELECT rowid, status, priority FROM jobs INDEXED BY jobs_finished WHERE finished_at < ? AND status IN ('completed', 'dead', 'cancelled') ORDER BY finished_at, id LIMIT ?").raw(true),
      deleteJob: db.prepare('DELETE FROM jobs WHERE rowid = ?'),
      oldestEvents: db.prepare('SELECT seq, at FROM events ORDER BY seq, n LIMIT ?'),
      deleteEvents: db.prepare('DELETE FROM events WHERE seq <= ?'),
      metaGet: db.prepare('SELECT v FROM meta WHERE k = ?'),
      metaSet: db.prepare('INSERT INTO meta (k, v) VALUES (?, ?) ON CONFLICT (k) DO UPDATE SET v = excluded.v'),
    };
  }

  // ---- writes (the machine's) ----

  /** Run `fn` as one transaction (one batch of committed entries). */
  transaction(fn: () => void): void {
    if (this.inTransaction) return fn();
    this.db.transaction(() => {
      this.inTransaction = true;
      try {
        fn();
        this.flushEvents();
      } finally {
        // On a throw SQLite rolls the transaction back, and the unwritten events go with it.
        this.inTransaction = false;
        this.pending.length = 0;
      }
    })();
  }

  /** `payload`: the job's payload as JSON text (the machine has it already, to bound its size). */
  insert(j: Job, payload: string): void {
    const info = this.st.insert.run(
      j.id,
      j.type,
      j.priority,
      payload,
      j.status,
      j.attempt,
      j.retries,
      j.maxRetries,
      j.timeoutS,
      j.worker,
      j.progress,
      j.result === null ? null : JSON.stringify(j.result),
      j.error,
      j.idempotencyKey,
      JSON.stringify(j.metadata),
      j.parentId,
      j.createdAt,
      j.updatedAt,
      j.runAt,
      j.dispatchedAt,
      j.startedAt,
      j.finishedAt,
    );
    if (!isTerminal(j.status) && this.active.size < this.maxCachedJobs) this.active.set(j.id, { head: headOf(j), rowid: Number(info.lastInsertRowid) });
  }

  /**
   * Write what changed between `before` and `j` (`result`: j's result as JSON
   * text, or null). Only the changed columns are SET, so SQLite touches only
   * the indexes over them (a start rewrites 3 indexes, not 10); the statement
   * for each set of columns is prepared once. The comparisons are written out
   * (not a loop over field names) so each is a plain property load.
   */
  update(before: JobHead, j: JobHead, result: string | null): void {
    let mask = 0;
    const p: unknown[] = [];
    if (before.status !== j.status) {
      mask |= 1 << 0;
      p.push(j.status);
    }
    if (before.attempt !== j.attempt) {
      mask |= 1 << 1;
      p.push(j.attempt);
    }
    if (before.retries !== j.retries) {
      mask |= 1 << 2;
      p.push(j.retries);
    }
    if (before.worker !== j.worker) {
      mask |= 1 << 3;
      p.push(j.worker);
    }
    if (before.progress !== j.progress) {
      mask |= 1 << 4;
      p.push(j.progress);
    }
    if (before.result !== j.result) {
      mask |= 1 << 5;
      p.push(result);
    }
    if (before.error !== j.error) {
      mask |= 1 << 6;
      p.push(j.error);
    }
    if (before.updatedAt !== j.updatedAt) {
      mask |= 1 << 7;
      p.push(j.updatedAt);
    }
    if (before.runAt !== j.runAt) {
      mask |= 1 << 8;
      p.push(j.runAt);
    }
    if (before.dispatchedAt !== j.dispatchedAt) {
      mask |= 1 << 9;
      p.push(j.dispatchedAt);
    }
    if (before.startedAt !== j.startedAt) {
      mask |= 1 << 10;
      p.push(j.startedAt);
    }
    if (before.finishedAt !== j.finishedAt) {
      mask |= 1 << 11;
      p.push(j.finishedAt);
    }
    const cached = this.active.get(j.id);
    if (mask !== 0) {
      if (cached !== undefined) p.push(cached.rowid);
      else {
        mask |= BY_ID;
        p.push(j.id);
      }
      this.updateStmt(mask).run(...p);
    }
    if (cached === undefined) return;
    if (isTerminal(j.status)) this.active.delete(j.id);
    else cached.head = j;
  }

  private updateStmt(mask: number): Stmt {
    let st = this.updates.get(mask);
    if (st === undefined) {
      const sets = MUTABLE.filter((_, i) => (mask & (1 << i)) !== 0).map(([, col]) => `${col} = ?`);
      st = this.db.prepare(`UPDATE jobs SET ${sets.join(', ')} WHERE ${(mask & BY_ID) === 0 ? 'rowid' : 'id'} = ?`);
      this.updates.set(mask, st);
    }
    return st;
  }

  event(e: JobEvent): void {
    const detail = e.detail === null ? null : JSON.stringify(e.detail);
    if (!this.inTransaction) {
      this.eventStmt(1).run(e.seq, e.n, e.at, e.kind, e.jobId, e.status, e.attempt, e.worker, detail);
      return;
    }
    const p = this.pending;
    p.push(e.seq, e.n, e.at, e.kind, e.jobId, e.status, e.attempt, e.worker, detail);
    if (p.length === EVENT_ROWS * EVENT_COLS) this.flushEvents();
  }

  /** Write the pending events (see `pending`), in order. */
  private flushEvents(): void {
    const p = this.pending;
    if (p.length === 0) return;
    this.eventStmt(p.length / EVENT_COLS).run(...p);
    p.length = 0;
  }

  private eventStmt(rows: number): Stmt {
    let st = this.eventInserts.get(rows);
    if (st === undefined) {
      st = this.db.prepare(`INSERT INTO events (seq, n, at, kind, job_id, status, attempt, worker, detail) VALUES ${Array(rows).fill('(?, ?, ?, ?, ?, ?, ?, ?, ?)').join(', ')}`);
      this.eventInserts.set(rows, st);
    }
    return st;
  }

  /** Terminal jobs finished before `before`, oldest first, at most `limit`; deleted. */
  pruneJobs(before: number, limit: number): { readonly removed: readonly { status: JobStatus; priority: number }[]; readonly more: boolean } {
    const rows = this.st.prunable.all(before, limit + 1) as [number, JobStatus, number][];
    const more = rows.length > limit;
    if (more) rows.pop();
    const removed: { status: JobStatus; priority: number }[] = [];
    for (const [rowid, status, priority] of rows) {
      this.st.deleteJob.run(rowid);
      removed.push({ status, priority });
    }
    return { removed, more };
  }

  /**
   * Delete the oldest events while they are older than `before`, about
   * `limit` of them, in whole entries: always a prefix of the feed, so what is
   * kept is a contiguous suffix and a reader behind it can be told exactly
   * where it starts. Returns the seq of the last entry removed (0 when none).
   */
  pruneEvents(before: number, limit: number): { readonly removed: number; readonly through: number; readonly more: boolean } {
    this.flushEvents();
    const rows = this.st.oldestEvents.all(limit + 1) as { seq: number; at: number }[];
    let n = 0;
    while (n < rows.length && n < limit && rows[n]!.at < before) n++;
    if (n === 0) return { removed: 0, through: 0, more: false };
    const through = rows[n - 1]!.seq;
    const removed = this.st.deleteEvents.run(through).changes;
    return { removed, through, more: n === limit && rows.length > limit && rows[limit]!.at < before };
  }

  setMeta(k: string, v: string): void {
    this.st.metaSet.run(k, v);
  }

  getMeta(k: string): string | null {
    const r = this.st.metaGet.get(k) as { v: string } | undefined;
    return r?.v ?? null;
  }

  // ---- reads ----

  /** A job without its payload and metadata: all a transition needs, and cheaper to read. */
  head(id: string): JobHead | null {
    const cached = this.active.get(id);
    if (cached !== undefined) return cached.head;
    const r = this.st.head.get(id) as HeadRowid | undefined;
    if (r === undefined) return null;
    const head = toHead(r);
    // Read from SQLite: a live job evicted by a full cache, or one restored from a snapshot past the cache's bound.
    if (!isTerminal(head.status) && this.active.size < this.maxCachedJobs) this.active.set(id, { head, rowid: r[20] });
    return head;
  }

  headByKey(key: string): JobHead | null {
    const r = this.st.headByKey.get(key) as HeadRow | undefined;
    return r === undefined ? null : toHead(r);
  }

  get(id: string): Job | null {
    const r = this.st.get.get(id) as JobRow | undefined;
    return r === undefined ? null : toJob(r);
  }

  byKey(key: string): Job | null {
    const r = this.st.byKey.get(key) as JobRow | undefined;
    return r === undefined ? null : toJob(r);
  }

  /**
   * Events after entry `after`, about `limit` of them, in whole entries (a
   * page that would end inside an entry is completed with the rest of it).
   */
  events(after: number, limit: number): JobEvent[] {
    this.flushEvents();
    const rows = this.st.events.all(after, limit) as EventRow[];
    const last = rows[rows.length - 1];
    if (rows.length === limit && last !== undefined) rows.push(...(this.st.entryRest.all(last.seq, last.n) as EventRow[]));
    return rows.map(toEvent);
  }

  due(now: number, limit: number): Job[] {
    return (this.st.due.all(now, limit) as JobRow[]).map(toJob);
  }

  overdue(status: 'dispatched' | 'running', before: number, limit: number): Job[] {
    const st = status === 'dispatched' ? this.st.overdueDispatched : this.st.overdueRunning;
    return (st.all(before, limit) as JobRow[]).map(toJob);
  }

  completedSince(since: number): number {
    return (this.st.completedSince.get(since) as { n: number }).n;
  }

  /** One page of a filtered list, in (createdAt, id) order, after `cursor`. */
  list(filter: ListFilter, limit: number, cursor: Cursor | null, order: 'asc' | 'desc'): ListPage {
    const where: string[] = [];
    const params: unknown[] = [];
    const shape: string[] = [order];
    const eq = (col: string, v: string | number | undefined): void => {
      if (v === undefined) return;
      where.push(`${col} = ?`);
      params.push(v);
      shape.push(col);
    };
    eq('status', filter.status);
    eq('type', filter.type);
    eq('priority', filter.priority);
    eq('worker', filter.worker);
    if (filter.createdFrom !== undefined) {
      where.push('created_at >= ?');
      params.push(filter.createdFrom);
      shape.push('from');
    }
    if (filter.createdTo !== undefined) {
      where.push('created_at <= ?');
      params.push(filter.createdTo);
      shape.push('to');
    }
    if (cursor !== null) {
      where.push(order === 'asc' ? '(created_at, id) > (?, ?)' : '(created_at, id) < (?, ?)');
      params.push(cursor.createdAt, cursor.id);
      shape.push('cursor');
    }
    const key = shape.join(',');
    let st = this.lists.get(key);
    if (st === undefined) {
      const dir = order === 'asc' ? 'ASC' : 'DESC';
      st = this.db.prepare(`SELECT * FROM jobs ${where.length > 0 ? `WHERE ${where.join(' AND ')}` : ''} ORDER BY created_at ${dir}, id ${dir} LIMIT ?`);
      this.lists.set(key, st);
    }
    const rows = st.all(...params, limit + 1) as JobRow[];
    const more = rows.length > limit;
    if (more) rows.pop();
    const jobs = rows.map(toJob);
    const last = jobs[jobs.length - 1];
    return { jobs, next: more && last !== undefined ? encodeCursor({ createdAt: last.createdAt, id: last.id }) : null };
  }

  eventsPage(after: number, limit: number, floor: number, appliedIndex: number): EventsPage {
    if (after < floor) return { type: 'truncated', oldest: floor + 1, appliedIndex };
    const events = this.events(after, limit);
    // A short page saw everything applied so far: resuming after appliedIndex skips the indexes that made no event.
    const last = events.length >= limit ? events[events.length - 1]!.seq : Math.max(after, appliedIndex);
    return { type: 'events', events, last, appliedIndex };
  }

  // ---- snapshots ----

  /** The whole database as bytes (SQLite's own page image). */
  serialize(): Buffer {
    return this.db.serialize();
  }

  /** Replace the whole database with an image from serialize(). */
  restore(image: Buffer): void {
    const next = RegistryStore.open(image);
    this.db.close();
    this.db = next;
    this.prepare();
    this.active.clear();
    this.pending.length = 0;
    for (const r of this.st.activeHeads.all(this.maxCachedJobs) as HeadRowid[]) this.active.set(r[0], { head: toHead(r), rowid: r[20] });
  }

  close(): void {
    if (this.db.open) this.db.close();
  }
}
