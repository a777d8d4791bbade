// The registry's SQLite tables on one member: jobs (with the indexes the list,
// dispatch and retention queries walk: one per list filter, each carrying
// the (created_at, ord) sort key, and one on finished_at for retention; no
// partial indexes over status, which every transition changes: measured, they
// doubled the cost of an update), events (the feed, keyed by log index, stored
// as pieces of many events a row: see EventPiece) and meta (what a snapshot
// carries besides the rows). The store only reads
// and writes rows; what to write is decided by transitions.ts, in log order,
// by the machine (machine.ts), which is the store's only writer.
//
// The database is derived state: the Raft log (with its snapshots) is the
// durable record, and a member rebuilds its store from the last snapshot plus
// the log on every start. So it has no fsync and no journal file, and lives
// either in memory (SQLite's `:memory:`, the default) or in a scratch file
// (`file`) that each open starts afresh and close removes: then only SQLite's
// page cache (`cacheMiB`) and the OS's, which the kernel can reclaim, hold it,
// not the process's own memory, which otherwise grows by every job kept until
// retention. A snapshot is SQLite's own page image of it either way.
import { renameSync, rmSync, statSync, writeFileSync } from 'node:fs';
import Database from 'better-sqlite3';
import type { EventKind, EventsPage, Job, JobEvent, JobHead, JobId, JobStatus, ListFilter, ListPage } from './types.js';
import { isTerminal } from './types.js';

const SCHEMA = `
CREATE TABLE jobs (
  ord INTEGER PRIMARY KEY,
  id TEXT NOT NULL UNIQUE,
  type TEXT NOT NULL,
  priority INTEGER NOT NULL,
  payload TEXT NOT NULL,
  status INTEGER NOT NULL,
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
  finished_at INTEGER,
  timed_out INTEGER NOT NULL
);
CREATE UNIQUE INDEX jobs_idem ON jobs(idem_key) WHERE idem_key IS NOT NULL;
CREATE INDEX jobs_created ON jobs(created_at);
CREATE INDEX jobs_status ON jobs(status, created_at, ord, type, priority, worker);
CREATE INDEX jobs_type ON jobs(type, created_at, ord, priority);
CREATE INDEX jobs_priority ON jobs(priority, created_at, ord, type);
CREATE INDEX jobs_worker ON jobs(worker, created_at, ord, type, priority) WHERE worker IS NOT NULL;
CREATE INDEX jobs_finished ON jobs(finished_at) WHERE finished_at IS NOT NULL;
CREATE TABLE events (
  k INTEGER PRIMARY KEY,
  last_seq INTEGER NOT NULL,
  at INTEGER NOT NULL,
  n INTEGER NOT NULL,
  data TEXT NOT NULL
);
CREATE TABLE meta (k TEXT PRIMARY KEY, v TEXT NOT NULL) WITHOUT ROWID;
`;
/** The layout above, in SQLite's user_version: a snapshot of another layout is refused, not misread. 3: jobs.timed_out. */
const SCHEMA_VERSION = 3;

/**
 * One event as stored inside a piece: [seq, at, kind, jobId, status, attempt,
 * worker, detail] (kind and status as their codes, detail as JSON). Its `n`
 * is its place among the events of its seq, counted while reading.
 */
type EventTuple = [number, number, number, string | null, number | null, number | null, string | null, JobEvent['detail']];

/**
 * How a status and an event kind are stored: as small integers, which bind
 * and compare in SQLite for a fraction of the cost of text (jobs_status is
 * rewritten by every transition; every event carries both). These numbers
 * are in every snapshot: never renumber one, only add.
 */
const STATUS_CODES: Readonly<Record<JobStatus, number>> = Object.freeze({ pending: 0, dispatched: 1, running: 2, failed: 3, completed: 4, dead: 5, cancelled: 6 });
const KIND_CODES: Readonly<Record<EventKind, number>> = Object.freeze({
  submitted: 0,
  dispatched: 1,
  started: 2,
  progress: 3,
  completed: 4,
  failed: 5,
  retry_scheduled: 6,
  dead: 7,
  cancelled: 8,
  pruned: 9,
});
const names = <K extends string>(codes: Readonly<Record<K, number>>): readonly K[] => {
  const out: K[] = [];
  for (const [k, v] of Object.entries(codes) as [K, number][]) out[v] = k;
  return Object.freeze(out);
};
const STATUS_NAMES = names(STATUS_CODES);
const KIND_NAMES = names(KIND_CODES);

// A switch, not STATUS_CODES[s]: a keyed load by many different names is a megamorphic lookup.
function statusCode(s: JobStatus): number {
  switch (s) {
    case 'pending':
      return STATUS_CODES.pending;
    case 'dispatched':
      return STATUS_CODES.dispatched;
    case 'running':
      return STATUS_CODES.running;
    case 'failed':
      return STATUS_CODES.failed;
    case 'completed':
      return STATUS_CODES.completed;
    case 'dead':
      return STATUS_CODES.dead;
    case 'cancelled':
      return STATUS_CODES.cancelled;
  }
}

function kindCode(k: EventKind): number {
  switch (k) {
    case 'submitted':
      return KIND_CODES.submitted;
    case 'dispatched':
      return KIND_CODES.dispatched;
    case 'started':
      return KIND_CODES.started;
    case 'progress':
      return KIND_CODES.progress;
    case 'completed':
      return KIND_CODES.completed;
    case 'failed':
      return KIND_CODES.failed;
    case 'retry_scheduled':
      return KIND_CODES.retry_scheduled;
    case 'dead':
      return KIND_CODES.dead;
    case 'cancelled':
      return KIND_CODES.cancelled;
    case 'pruned':
      return KIND_CODES.pruned;
  }
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
  ['timedOut', 'timed_out'],
];

/** In an update mask: find the row by id (a job not in the cache), not by rowid. */
const BY_ID = 1 << MUTABLE.length;

/** A job held in memory (see RegistryStore.jobs). */
interface Entry {
  /** The job now. */
  head: JobHead;
  /** The job as its row in SQLite holds it; null: not inserted yet. */
  sql: JobHead | null;
  /** 0 until known (inserted, or read). */
  rowid: number;
  /** The payload and metadata as JSON text, until inserted. */
  payload: string;
  metadata: string;
  /** head.result as JSON text (null for null). */
  result: string | null;
  /** Counts against maxCachedJobs, and stays after the transaction while live. */
  cached: boolean;
  /** In RegistryStore.dirty. */
  dirty: boolean;
}

/** Rows per multi-row job INSERT or UPDATE (23 × 64 bound values, far below SQLite's limit of 32,766). */
const JOB_ROWS = 64;

/** The jobs columns in INSERT order (insertRow binds them). */
const JOB_INSERT_COLS = [
  'id',
  'type',
  'priority',
  'payload',
  'status',
  'attempt',
  'retries',
  'max_retries',
  'timeout_s',
  'worker',
  'progress',
  'result',
  'error',
  'idem_key',
  'metadata',
  'parent_id',
  'created_at',
  'updated_at',
  'run_at',
  'dispatched_at',
  'started_at',
  'finished_at',
  'timed_out',
];

function insertRow(p: unknown[], e: Entry): void {
  const j = e.head;
  p.push(
    j.id,
    j.type,
    j.priority,
    e.payload,
    statusCode(j.status),
    j.attempt,
    j.retries,
    j.maxRetries,
    j.timeoutS,
    j.worker,
    j.progress,
    e.result,
    j.error,
    j.idempotencyKey,
    e.metadata,
    j.parentId,
    j.createdAt,
    j.updatedAt,
    j.runAt,
    j.dispatchedAt,
    j.startedAt,
    j.finishedAt,
    j.timedOut ? 1 : 0,
  );
}

/**
 * Push the values of the columns that differ between `was` and `now` (in
 * MUTABLE's order; `result`: now's result as JSON text) and return their
 * mask. Written out, not a loop over field names, so each is a plain
 * property load.
 */
function changedColumns(was: JobHead, now: JobHead, result: string | null, p: unknown[]): number {
  let mask = 0;
  if (was.status !== now.status) {
    mask |= 1 << 0;
    p.push(statusCode(now.status));
  }
  if (was.attempt !== now.attempt) {
    mask |= 1 << 1;
    p.push(now.attempt);
  }
  if (was.retries !== now.retries) {
    mask |= 1 << 2;
    p.push(now.retries);
  }
  if (was.worker !== now.worker) {
    mask |= 1 << 3;
    p.push(now.worker);
  }
  if (was.progress !== now.progress) {
    mask |= 1 << 4;
    p.push(now.progress);
  }
  if (was.result !== now.result) {
    mask |= 1 << 5;
    p.push(result);
  }
  if (was.error !== now.error) {
    mask |= 1 << 6;
    p.push(now.error);
  }
  if (was.updatedAt !== now.updatedAt) {
    mask |= 1 << 7;
    p.push(now.updatedAt);
  }
  if (was.runAt !== now.runAt) {
    mask |= 1 << 8;
    p.push(now.runAt);
  }
  if (was.dispatchedAt !== now.dispatchedAt) {
    mask |= 1 << 9;
    p.push(now.dispatchedAt);
  }
  if (was.startedAt !== now.startedAt) {
    mask |= 1 << 10;
    p.push(now.startedAt);
  }
  if (was.finishedAt !== now.finishedAt) {
    mask |= 1 << 11;
    p.push(now.finishedAt);
  }
  if (was.timedOut !== now.timedOut) {
    mask |= 1 << 12;
    p.push(now.timedOut ? 1 : 0);
  }
  return mask;
}

/** Cover `total` items in chunks of at most `max`, largest first, each a power of two (so few statement shapes). */
function inChunks(total: number, max: number, fn: (from: number, n: number) => void): void {
  let from = 0;
  while (from < total) {
    let n = max;
    while (n > total - from) n >>= 1;
    fn(from, n);
    from += n;
  }
}

/**
 * The feed is stored as pieces: one row holds the events of consecutive
 * entries (a JSON array of EventTuple), written when a transaction ends. A row
 * per event cost more than the job row it describes (9 bound columns and a
 * B-tree insert each); a piece costs one insert per transaction.
 *
 * A piece's key is k = seq · EVENT_KEY_N + n of its first event, so pieces
 * sort in feed order and never collide, even if one entry's events were ever
 * split across two (a flush in the middle of an entry).
 *
 * How events are cut into pieces depends on how a member batched its
 * transactions, which differs between members; so nothing a member decides
 * may depend on the cut: retention counts events, not pieces, and cuts a
 * piece where its count ends (see pruneEvents).
 */
const EVENT_KEY_N = 65_536;
/** Bound values per piece row, and piece rows per multi-row INSERT. */
const PIECE_COLS = 5;
const PIECE_ROWS = 32;
/** A piece is closed at the next entry once it holds this many events. */
const EVENTS_PER_PIECE = 4_096;

/** The piece being filled (see EVENT_KEY_N). */
interface EventPiece {
  readonly k: number;
  last: number;
  at: number;
  readonly events: EventTuple[];
}

/** Every column but the payload and metadata, which no transition reads or changes. */
const HEAD_COLS =
  'id, type, priority, status, attempt, retries, max_retries, timeout_s, worker, progress, result, error, idem_key, parent_id, created_at, updated_at, run_at, dispatched_at, started_at, finished_at, timed_out';

type HeadRow = [string, string, number, number, number, number, number, number, string | null, number | null, string | null, string | null, string | null, string | null, number, number, number, number | null, number | null, number | null, number];

/** HEAD_COLS and then the rowid. */
type HeadRowid = [...HeadRow, number];

/**
 * Where the columns after HEAD_COLS sit in a raw row: the rowid of a HeadRowid,
 * and the payload, metadata and ord of a JobRowRaw (named, so a new head column
 * moves them in one place).
 */
const AFTER_HEAD = { rowid: 21, payload: 21, metadata: 22, ord: 23 } as const;
// Both checked against the head: its tuple type (at compile time) and its column list (at load).
const afterHeadAgrees: HeadRow['length'] extends typeof AFTER_HEAD.rowid ? true : false = true;
void afterHeadAgrees;
if (HEAD_COLS.split(',').length !== AFTER_HEAD.rowid) throw new Error('store.ts: HEAD_COLS and AFTER_HEAD disagree');

/** A raw (positional) row of HEAD_COLS: better-sqlite3 builds an array far faster than a 20-key object. */
function toHead(r: HeadRow | HeadRowid | JobRowRaw): JobHead {
  return {
    id: r[0] as JobId,
    type: r[1],
    priority: r[2],
    status: STATUS_NAMES[r[3]]!,
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
    timedOut: r[20] === 1,
  };
}

/**
 * A job's head (no payload or metadata) as its own object, for a new job or a
 * transition's result, built as toHead builds it (one hidden class, so the
 * transitions' reads stay monomorphic).
 */
function headOf(j: JobHead): JobHead {
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
    timedOut: j.timedOut,
  };
}

/** HEAD_COLS, then the payload and the metadata: a list's row, positional (see toHead). */
const JOB_COLS = `${HEAD_COLS}, payload, metadata, ord`;

type JobRowRaw = [...HeadRow, string, string, number];

function toJobRaw(r: JobRowRaw): Job {
  return jobOf(toHead(r), r[AFTER_HEAD.payload], r[AFTER_HEAD.metadata]);
}

/** The columns a list filters by equality. */
type ListColumn = 'status' | 'type' | 'priority' | 'worker';

/**
 * The index each equality filter walks, and the other filtered columns it
 * carries after the sort key. jobs_status, which every status change rewrites
 * anyway, carries them all; the others carry only what never changes
 * (carrying the status would make every transition rewrite them too).
 */
const LIST_INDEXES: Readonly<Record<ListColumn, { readonly index: string; readonly carries: readonly ListColumn[] }>> = {
  status: { index: 'jobs_status', carries: ['type', 'priority', 'worker'] },
  type: { index: 'jobs_type', carries: ['priority'] },
  priority: { index: 'jobs_priority', carries: ['type'] },
  worker: { index: 'jobs_worker', carries: ['type', 'priority'] },
};

/** Reading a table row to check a filter, against checking an index entry (measured: about 8×). */
const TABLE_ROW_COST = 8;

function emptyListCounts(): Record<ListColumn, Map<string | number, number>> {
  return { status: new Map(), type: new Map(), priority: new Map(), worker: new Map() };
}

function bump(m: Map<string | number, number>, v: string | number, by: 1 | -1): void {
  const n = (m.get(v) ?? 0) + by;
  if (n === 0) m.delete(v);
  else m.set(v, n);
}

/** A job from its head in memory and its payload and metadata as JSON text. */
function jobOf(h: JobHead, payload: string, metadata: string): Job {
  return {
    id: h.id,
    type: h.type,
    priority: h.priority,
    payload: JSON.parse(payload) as Job['payload'],
    status: h.status,
    attempt: h.attempt,
    retries: h.retries,
    maxRetries: h.maxRetries,
    timeoutS: h.timeoutS,
    worker: h.worker,
    progress: h.progress,
    result: h.result,
    error: h.error,
    idempotencyKey: h.idempotencyKey,
    metadata: JSON.parse(metadata) as Job['metadata'],
    parentId: h.parentId,
    createdAt: h.createdAt,
    updatedAt: h.updatedAt,
    runAt: h.runAt,
    dispatchedAt: h.dispatchedAt,
    startedAt: h.startedAt,
    finishedAt: h.finishedAt,
    timedOut: h.timedOut,
  };
}

function toEvent(t: EventTuple, n: number): JobEvent {
  return {
    seq: t[0],
    n,
    at: t[1],
    kind: KIND_NAMES[t[2]]!,
    jobId: t[3] as JobId | null,
    status: t[4] === null ? null : STATUS_NAMES[t[4]]!,
    attempt: t[5],
    worker: t[6],
    detail: t[7],
  };
}

/**
 * A list cursor: the sort key of the last row returned, opaque to callers.
 * `ord` is the job's rowid: the order jobs were inserted in, the same on every
 * member (every member inserts and deletes the same rows in log order, and
 * jobs is never VACUUMed), so a cursor one member issued pages on any other.
 */
interface Cursor {
  readonly createdAt: number;
  readonly ord: number;
}

export class CursorError extends Error {
  readonly code = 'invalid_cursor';
  constructor(message: string) {
    super(message);
    this.name = 'CursorError';
  }
}

export function encodeCursor(c: Cursor): string {
  return Buffer.from(JSON.stringify([c.createdAt, c.ord])).toString('base64url');
}

export function decodeCursor(s: string): Cursor {
  let v: unknown;
  try {
    v = JSON.parse(Buffer.from(s, 'base64url').toString('utf8'));
  } catch {
    throw new CursorError('cursor is not one this registry issued');
  }
  if (!Array.isArray(v) || v.length !== 2 || !Number.isSafeInteger(v[0]) || !Number.isSafeInteger(v[1])) throw new CursorError('cursor is not one this registry issued');
  return { createdAt: v[0] as number, ord: v[1] as number };
}

type Stmt = Database.Statement;

/** Live jobs whose heads are kept in memory (about 0.5 KB each). */
export const DEFAULT_MAX_CACHED_JOBS = 200_000;
/**
 * Jobs whose writes may wait in memory across transactions (see `dirty`): the
 * bound on that memory (about 0.6 KB a job), and on the writes a list, due or
 * overdue query may have to make first (measured: about 10 µs a job).
 */
export const DEFAULT_WRITE_BEHIND_JOBS = 4_096;

/** SQLite's page cache for a file-backed store, MiB (SQLite's own default is 2). */
export const DEFAULT_CACHE_MIB = 64;

export interface RegistryStoreOptions {
  /** Live jobs kept in memory for the transitions to read (see `jobs`). */
  readonly maxCachedJobs?: number;
  /** Jobs whose writes may wait in memory across transactions (see `dirty`); 0: written every transaction. */
  readonly writeBehindJobs?: number;
  /**
   * Keep the tables in this file instead of in memory (see the header). The file is the store's alone:
   * whatever is there is deleted at construction, and close() removes it.
   */
  readonly file?: string;
  /** SQLite's page cache, MiB (DEFAULT_CACHE_MIB): what of a file-backed store stays in the process's memory. */
  readonly cacheMiB?: number;
}

export class RegistryStore {
  private db: Database.Database;
  private st!: {
    get: Stmt;
    head: Stmt;
    byKey: Stmt;
    headByKey: Stmt;
    activeHeads: Stmt;
    pieceBefore: Stmt;
    piecesFrom: Stmt;
    lastPiece: Stmt;
    rewritePiece: Stmt;
    due: Stmt;
    overdueDispatched: Stmt;
    overdueRunning: Stmt;
    completedBetween: Stmt;
    prunable: Stmt;
    deleteJob: Stmt;
    oldestPieces: Stmt;
    deletePiece: Stmt;
    metaGet: Stmt;
    metaSet: Stmt;
  };
  private readonly lists = new Map<string, Stmt>();
  /**
   * Jobs held in memory: the live (non-terminal) ones, at most maxCachedJobs
   * (`cached`), and, until the end of the transaction, every job written in
   * it (see `dirty`). Every transition reads the job first, and a Map hit
   * costs a fraction of a SQLite point query; the write then finds the row by
   * rowid, not through the id index. Other jobs are read from SQLite (late
   * reports on finished jobs, mostly). Rowids are stable: jobs is never
   * VACUUMed, and a job in memory is never deleted (only finished ones are).
   */
  private readonly jobs = new Map<string, Entry>();
  private cachedCount = 0;
  /**
   * Write-behind: the jobs written are only marked here, in the order first
   * written, and go to SQLite once writeBehindJobs of them wait at the end of
   * a transaction, or before anything reads jobs from SQLite (a query, a
   * prune, a snapshot), as multi-row statements: new jobs as one INSERT per JOB_ROWS, the others
   * as one UPDATE … FROM (VALUES …) per set of changed columns, each row with
   * its final values (a job submitted and completed in one batch is inserted
   * once, completed, even when its submit and its completion came in different
   * batches). Waiting across transactions is safe because the tables are
   * derived state: a failed transaction crashes raft_fsm, which rebuilds a
   * fresh machine from snapshot and log; and rowids stay the same on every
   * member however their flushes fall, because jobs are deleted only by a
   * prune, which writes everything first. The tables are the same after a
   * flush as if each write had gone in on its own; a statement's fixed cost in better-sqlite3 is
   * several times SQLite's cost for the row. They are OR FAIL: a constraint
   * failure (a bug) throws and the batch's transaction rolls back, so SQLite
   * need not keep a statement journal to undo the rows before it.
   */
  private readonly dirty: Entry[] = [];
  /** The idempotency keys of the new jobs in `dirty` (SQLite cannot find them yet). */
  private readonly dirtyKeys = new Map<string, Entry>();
  /** The last job read from SQLite that did not fit in the cache: the one the machine is about to write. */
  private uncachedRead: Entry | null = null;
  /** UPDATE statements by set of columns and number of rows (see updateStmt). */
  private readonly updates = new Map<number, Stmt>();
  /** Multi-row job INSERTs by number of rows. */
  private readonly jobInserts = new Map<number, Stmt>();
  /**
   * Inside a transaction, the events not written yet: the piece being filled
   * and the column values (PIECE_COLS each) of the pieces closed before it,
   * written when the transaction ends or before anything reads or deletes
   * events (see EVENT_KEY_N).
   */
  private piece: EventPiece | null = null;
  private readonly closedPieces: unknown[] = [];
  /** The seq of the last event written to SQLite (0: none); an event at or below it extends the last piece. */
  private writtenSeq = 0;
  private inTransaction = false;
  /** Multi-row piece INSERTs by number of rows. */
  private readonly pieceInserts = new Map<number, Stmt>();
  /**
   * How many jobs hold each value of each list filter column (null workers
   * not counted): what list() picks its index by. Kept as the rows change,
   * counted again from the tables on restore; only speed depends on them.
   */
  private listCounts: Record<ListColumn, Map<string | number, number>> = emptyListCounts();

  private readonly maxCachedJobs: number;
  private readonly writeBehindJobs: number;
  /** The scratch file the database lives in, or null for memory (see the header). */
  private readonly file: string | null;
  /** The file's inode while this store has it: close() removes the path only if it is still this file. */
  private fileId: number | null = null;
  private readonly cacheKiB: number;

  constructor(opts: RegistryStoreOptions = {}) {
    this.maxCachedJobs = opts.maxCachedJobs ?? DEFAULT_MAX_CACHED_JOBS;
    this.writeBehindJobs = opts.writeBehindJobs ?? DEFAULT_WRITE_BEHIND_JOBS;
    this.file = opts.file ?? null;
    this.cacheKiB = (opts.cacheMiB ?? DEFAULT_CACHE_MIB) * 1024;
    if (this.file !== null) removeDbFile(this.file); // a previous run's tables: rebuilt from the log instead
    this.db = this.open(this.file ?? ':memory:');
    this.db.exec(SCHEMA);
    if (this.file !== null) this.fileId = statSync(this.file).ino;
    this.db.pragma(`user_version = ${SCHEMA_VERSION}`);
    this.prepare();
  }

  /** Open `where` (a path, ':memory:' or an image to deserialize into memory) with the store's settings. */
  private open(where: string | Buffer): Database.Database {
    const db = new Database(where);
    // Derived state (see the header): nothing to fsync; the rollback journal stays in memory.
    db.pragma('synchronous = OFF');
    db.pragma('journal_mode = MEMORY');
    // A file's pages beyond this are re-read from the OS page cache; in memory the setting has no effect.
    db.pragma(`cache_size = -${this.cacheKiB}`);
    return db;
  }

  private prepare(): void {
    const db = this.db;
    const S = STATUS_CODES;
    const live = [S.pending, S.dispatched, S.running, S.failed].join(', ');
    const terminal = [S.completed, S.dead, S.cancelled].join(', ');
    this.lists.clear();
    this.updates.clear();
    this.pieceInserts.clear();
    this.jobInserts.clear();
    this.st = {
      get: db.prepare(`SELECT ${JOB_COLS} FROM jobs WHERE id = ?`).raw(true),
      head: db.prepare(`SELECT ${HEAD_COLS}, rowid FROM jobs WHERE id = ?`).raw(true),
      byKey: db.prepare(`SELECT ${JOB_COLS} FROM jobs WHERE idem_key = ?`).raw(true),
      headByKey: db.prepare(`SELECT ${HEAD_COLS} FROM jobs WHERE idem_key = ?`).raw(true),
      activeHeads: db.prepare(`SELECT ${HEAD_COLS}, rowid FROM jobs WHERE status IN (${live}) LIMIT ?`).raw(true),
      pieceBefore: db.prepare('SELECT k FROM events WHERE k < ? ORDER BY k DESC LIMIT 1').pluck(),
      piecesFrom: db.prepare('SELECT k, data FROM events WHERE k >= ? ORDER BY k').raw(true),
      lastPiece: db.prepare('SELECT k, last_seq, at, n, data FROM events ORDER BY k DESC LIMIT 1').raw(true),
      rewritePiece: db.prepare('UPDATE events SET last_seq = ?, at = ?, n = ?, data = ? WHERE k = ?'),
      // These walk jobs_status (oldest first): the pending, dispatched and running sets are what is in flight.
      due: db.prepare(`SELECT ${JOB_COLS} FROM jobs WHERE status = ${S.pending} AND run_at <= ? ORDER BY created_at, ord LIMIT ?`).raw(true),
      overdueDispatched: db.prepare(`SELECT ${JOB_COLS} FROM jobs WHERE status = ${S.dispatched} AND dispatched_at < ? ORDER BY created_at, ord LIMIT ?`).raw(true),
      overdueRunning: db.prepare(`SELECT ${JOB_COLS} FROM jobs WHERE status = ${S.running} AND started_at < ? ORDER BY created_at, ord LIMIT ?`).raw(true),
      // Named: without statistics SQLite takes jobs_status for these and walks every completed job.
      completedBetween: db.prepare(`SELECT count(*) AS n FROM jobs INDEXED BY jobs_finished WHERE finished_at >= ? AND finished_at <= ? AND status = ${S.completed}`),
      prunable: db.prepare(`SELECT rowid, status, priority, type, worker FROM jobs INDEXED BY jobs_finished WHERE finished_at < ? AND status IN (${terminal}) ORDER BY finished_at, ord LIMIT ?`).raw(true),
      deleteJob: db.prepare('DELETE FROM jobs WHERE rowid = ?'),
      oldestPieces: db.prepare('SELECT k, data FROM events ORDER BY k').raw(true),
      deletePiece: db.prepare('DELETE FROM events WHERE k = ?'),
      metaGet: db.prepare('SELECT v FROM meta WHERE k = ?'),
      metaSet: db.prepare('INSERT INTO meta (k, v) VALUES (?, ?) ON CONFLICT (k) DO UPDATE SET v = excluded.v'),
    };
  }

  // ---- writes (the machine's) ----

  /**
   * Run `fn` as one transaction (one batch of committed entries, or one entry
   * applied on its own). Its events are written when it ends; its jobs only
   * once `writeBehindJobs` are waiting, or a read needs them (see `dirty`).
   */
  transaction<T>(fn: () => T): T {
    if (this.inTransaction) return fn();
    let ok = false;
    try {
      const out = this.db.transaction(() => {
        this.inTransaction = true;
        try {
          const r = fn();
          if (this.dirty.length >= this.writeBehindJobs) this.flushJobs();
          this.flushEvents();
          return r;
        } finally {
          this.inTransaction = false;
        }
      })();
      ok = true;
      return out;
    } finally {
      // On a throw SQLite rolls the transaction back; what is in memory may be ahead of it, so it goes too.
      if (!ok) this.forget();
    }
  }

  /** `payload`: the job's payload as JSON text (the machine has it already, to bound its size). */
  insert(j: Job, payload: string): void {
    const e: Entry = {
      head: headOf(j),
      sql: null,
      rowid: 0,
      payload,
      metadata: JSON.stringify(j.metadata),
      result: j.result === null ? null : JSON.stringify(j.result),
      cached: false,
      dirty: true,
    };
    if (!isTerminal(j.status) && this.cachedCount < this.maxCachedJobs) {
      e.cached = true;
      this.cachedCount++;
    }
    this.jobs.set(j.id, e);
    this.dirty.push(e);
    if (j.idempotencyKey !== null) this.dirtyKeys.set(j.idempotencyKey, e);
    const c = this.listCounts;
    bump(c.status, j.status, 1);
    bump(c.type, j.type, 1);
    bump(c.priority, j.priority, 1);
    if (j.worker !== null) bump(c.worker, j.worker, 1);
    if (!this.inTransaction) this.flushJobs();
  }

  /**
   * `j` is the job `before` (as head() returned it) after a transition;
   * `result`: j's result as JSON text, or null.
   */
  update(before: JobHead, j: JobHead, result: string | null): void {
    let e = this.jobs.get(j.id);
    if (e === undefined) {
      const read = this.uncachedRead;
      // Never the case when the machine read `before` through head(); a job is then written by id, on its own.
      e = read !== null && read.head.id === j.id ? read : { head: before, sql: before, rowid: 0, payload: '', metadata: '', result: null, cached: false, dirty: false };
      this.uncachedRead = null;
      this.jobs.set(j.id, e);
    }
    // A copy of one shape: the transitions build `j` by spreading `before`, and a spread of a spread of … gives
    // each generation its own hidden class, which left every read of a head here and in transitions.ts megamorphic.
    const now = headOf(j);
    e.head = now;
    e.result = result;
    if (!e.dirty) {
      e.dirty = true;
      this.dirty.push(e);
    }
    const c = this.listCounts;
    if (before.status !== now.status) {
      bump(c.status, before.status, -1);
      bump(c.status, now.status, 1);
    }
    if (before.worker !== now.worker) {
      if (before.worker !== null) bump(c.worker, before.worker, -1);
      if (now.worker !== null) bump(c.worker, now.worker, 1);
    }
    if (!this.inTransaction) this.flushJobs();
  }

  /** Write every dirty job (see `dirty`), then keep in memory only the live jobs the cache holds. */
  private flushJobs(): void {
    const dirty = this.dirty;
    if (dirty.length === 0) return;
    const inserts: Entry[] = [];
    const updates = new Map<number, unknown[][]>();
    for (const e of dirty) {
      if (e.sql === null) {
        inserts.push(e);
        continue;
      }
      const row: unknown[] = [];
      let mask = changedColumns(e.sql, e.head, e.result, row);
      if (mask === 0) continue;
      if (e.rowid === 0) {
        mask |= BY_ID;
        row.push(e.head.id);
      } else row.push(e.rowid);
      const rows = updates.get(mask);
      if (rows === undefined) updates.set(mask, [row]);
      else rows.push(row);
    }
    // New jobs in the order submitted, so each gets the rowid it would have got on its own.
    inChunks(inserts.length, JOB_ROWS, (from, n) => {
      const p: unknown[] = [];
      for (let i = from; i < from + n; i++) insertRow(p, inserts[i]!);
      const last = Number(this.jobInsertStmt(n).run(...p).lastInsertRowid);
      for (let i = 0; i < n; i++) inserts[from + i]!.rowid = last - n + 1 + i;
    });
    for (const [mask, rows] of updates) {
      inChunks(rows.length, (mask & BY_ID) === 0 ? JOB_ROWS : 1, (from, n) => {
        const p: unknown[] = [];
        for (let i = from; i < from + n; i++) for (const v of rows[i]!) p.push(v);
        this.updateStmt(mask, n).run(...p);
      });
    }
    for (const e of dirty) {
      e.sql = e.head;
      e.dirty = false;
      e.payload = '';
      e.metadata = '';
      if (e.cached && !isTerminal(e.head.status)) continue;
      this.jobs.delete(e.head.id);
      if (e.cached) this.cachedCount--;
    }
    dirty.length = 0;
    this.dirtyKeys.clear();
  }

  /** Everything in memory goes; the next reads go to SQLite. */
  private forget(): void {
    this.jobs.clear();
    this.cachedCount = 0;
    this.dirty.length = 0;
    this.dirtyKeys.clear();
    this.uncachedRead = null;
    this.piece = null;
    this.closedPieces.length = 0;
    this.writtenSeq = this.lastWrittenSeq();
  }

  private jobInsertStmt(rows: number): Stmt {
    let st = this.jobInserts.get(rows);
    if (st === undefined) {
      const row = `(${JOB_INSERT_COLS.map(() => '?').join(', ')})`;
      st = this.db.prepare(`INSERT OR FAIL INTO jobs (${JOB_INSERT_COLS.join(', ')}) VALUES ${Array(rows).fill(row).join(', ')}`);
      this.jobInserts.set(rows, st);
    }
    return st;
  }

  /**
   * The UPDATE of the columns in `mask` (MUTABLE's order) for `rows` rows, each
   * bound as the new values and then the rowid (by id with BY_ID, one row).
   * Only the changed columns are SET, so SQLite touches only the indexes over
   * them (a start rewrites 3 indexes, not 10).
   */
  private updateStmt(mask: number, rows: number): Stmt {
    const key = mask * (JOB_ROWS + 1) + rows;
    let st = this.updates.get(key);
    if (st === undefined) {
      const cols = MUTABLE.filter((_, i) => (mask & (1 << i)) !== 0).map(([, col]) => col);
      if (rows === 1) st = this.db.prepare(`UPDATE jobs SET ${cols.map((c) => `${c} = ?`).join(', ')} WHERE ${(mask & BY_ID) === 0 ? 'rowid' : 'id'} = ?`);
      else {
        // VALUES columns are named column1, column2, …: the new values, then the rowid.
        const sets = cols.map((c, i) => `${c} = v.column${i + 1}`).join(', ');
        const row = `(${Array(cols.length + 1).fill('?').join(', ')})`;
        st = this.db.prepare(`UPDATE OR FAIL jobs SET ${sets} FROM (VALUES ${Array(rows).fill(row).join(', ')}) AS v WHERE jobs.rowid = v.column${cols.length + 1}`);
      }
      this.updates.set(key, st);
    }
    return st;
  }

  /** Events come in feed order (seq, then n), the machine's only way to write them. */
  event(e: JobEvent): void {
    this.addEvent(e.seq, e.n, e.at, e.kind, e.jobId, e.status, e.attempt, e.worker, e.detail);
  }

  /** event() from its fields: the machine's way, which builds no JobEvent unless someone wants one. */
  addEvent(seq: number, n: number, at: number, kind: JobEvent['kind'], jobId: JobEvent['jobId'], status: JobEvent['status'], attempt: number | null, worker: string | null, detail: JobEvent['detail']): void {
    const t: EventTuple = [seq, at, kindCode(kind), jobId, status === null ? null : statusCode(status), attempt, worker, detail];
    if (seq <= this.writtenSeq) {
      // Only after a flush in the middle of an entry (none of today's callers does that).
      this.extendLastPiece(t);
      return;
    }
    let p = this.piece;
    if (p !== null && p.last !== seq && p.events.length >= EVENTS_PER_PIECE) {
      this.closePiece(p);
      p = null;
    }
    if (p === null) {
      p = { k: seq * EVENT_KEY_N + n, last: seq, at, events: [] };
      this.piece = p;
    }
    p.events.push(t);
    p.last = seq;
    if (at > p.at) p.at = at;
    if (!this.inTransaction) this.flushEvents();
  }

  private closePiece(p: EventPiece): void {
    this.closedPieces.push(p.k, p.last, p.at, p.events.length, JSON.stringify(p.events));
    this.piece = null;
    if (this.closedPieces.length === PIECE_ROWS * PIECE_COLS) this.writePieces();
  }

  /** Write every piece held, the open one too (see `piece`). */
  private flushEvents(): void {
    if (this.piece !== null) this.closePiece(this.piece);
    this.writePieces();
  }

  private writePieces(): void {
    const rows = this.closedPieces;
    if (rows.length === 0) return;
    inChunks(rows.length / PIECE_COLS, PIECE_ROWS, (from, n) => {
      this.pieceStmt(n).run(...rows.slice(from * PIECE_COLS, (from + n) * PIECE_COLS));
    });
    this.writtenSeq = rows[rows.length - 4] as number;
    rows.length = 0;
  }

  /** Append an event of the last written seq to the piece that holds that seq's others. */
  private extendLastPiece(t: EventTuple): void {
    const last = this.st.lastPiece.get() as [number, number, number, number, string] | undefined;
    if (last === undefined || last[1] !== t[0]) throw new Error(`job_registry: event for seq ${t[0]} after seq ${this.writtenSeq} was written`);
    const [k, lastSeq, at, n, data] = last;
    const events = JSON.parse(data) as EventTuple[];
    events.push(t);
    this.st.rewritePiece.run(lastSeq, Math.max(at, t[1]), n + 1, JSON.stringify(events), k);
  }

  private lastWrittenSeq(): number {
    const last = this.st.lastPiece.get() as [number, number, number, number, string] | undefined;
    return last === undefined ? 0 : last[1];
  }

  private pieceStmt(rows: number): Stmt {
    let st = this.pieceInserts.get(rows);
    if (st === undefined) {
      st = this.db.prepare(`INSERT OR FAIL INTO events (k, last_seq, at, n, data) VALUES ${Array(rows).fill('(?, ?, ?, ?, ?)').join(', ')}`);
      this.pieceInserts.set(rows, st);
    }
    return st;
  }

  /** Terminal jobs finished before `before`, oldest first, at most `limit`; deleted. */
  pruneJobs(before: number, limit: number): { readonly removed: readonly { status: JobStatus; priority: number }[]; readonly more: boolean } {
    this.flushJobs();
    const rows = this.st.prunable.all(before, limit + 1) as [number, number, number, string, string | null][];
    const more = rows.length > limit;
    if (more) rows.pop();
    const removed: { status: JobStatus; priority: number }[] = [];
    const c = this.listCounts;
    for (const [rowid, code, priority, type, worker] of rows) {
      const status = STATUS_NAMES[code]!;
      this.st.deleteJob.run(rowid);
      removed.push({ status, priority });
      bump(c.status, status, -1);
      bump(c.type, type, -1);
      bump(c.priority, priority, -1);
      if (worker !== null) bump(c.worker, worker, -1);
    }
    return { removed, more };
  }

  /**
   * Delete the oldest events while they are older than `before`, about
   * `limit` of them, in whole entries: always a prefix of the feed, so what is
   * kept is a contiguous suffix and a reader behind it can be told exactly
   * where it starts. Returns the seq of the last entry removed (0 when none).
   * Decided on the events alone, never on how they are cut into pieces (which
   * differs between members): whole pieces before the cut are deleted, and
   * the piece the cut falls in is written again without its removed events.
   */
  pruneEvents(before: number, limit: number): { readonly removed: number; readonly through: number; readonly more: boolean } {
    this.flushEvents();
    // One walk, each piece parsed once: find the cut (the seq of the last of the first `limit` events older
    // than `before`), and keep the pieces read, which hold every event at or before it.
    let counted = 0;
    let through = 0;
    let more = false;
    let found = false;
    const read: [number, EventTuple[]][] = [];
    for (const [k, data] of this.st.oldestPieces.iterate() as IterableIterator<[number, string]>) {
      // Past the cut, only a piece that starts inside its entry (an entry split across pieces) is still needed.
      if (found && Math.floor(k / EVENT_KEY_N) > through) break;
      const events = JSON.parse(data) as EventTuple[];
      read.push([k, events]);
      if (found) continue;
      for (const t of events) {
        if (counted === limit) {
          if (t[0] === through) continue; // the rest of the cut's entry goes with it
          more = t[1] < before;
          found = true;
          break;
        }
        if (t[1] >= before) {
          found = true;
          break;
        }
        counted++;
        through = t[0];
      }
    }
    if (through === 0) return { removed: 0, through: 0, more: false };
    // Delete every event with seq <= through (after the walk: SQLite cannot write while a statement iterates).
    let removed = 0;
    const rewrite: EventTuple[] = [];
    for (const [k, events] of read) {
      if (Math.floor(k / EVENT_KEY_N) > through) continue;
      let kept = 0;
      while (kept < events.length && events[kept]![0] <= through) kept++;
      removed += kept;
      for (let i = kept; i < events.length; i++) rewrite.push(events[i]!);
      this.st.deletePiece.run(k);
    }
    if (rewrite.length > 0) {
      // Whole entries were removed, so what is left of the piece starts an entry (n = 0).
      let at = 0;
      for (const t of rewrite) at = Math.max(at, t[1]);
      this.pieceStmt(1).run(rewrite[0]![0] * EVENT_KEY_N, rewrite[rewrite.length - 1]![0], at, rewrite.length, JSON.stringify(rewrite));
    }
    return { removed, through, more };
  }

  setMeta(k: string, v: string): void {
    this.st.metaSet.run(k, v);
  }

  getMeta(k: string): string | null {
    const r = this.st.metaGet.get(k) as { v: string } | undefined;
    return r?.v ?? null;
  }

  // ---- reads ----

  /** Before a query reads the jobs table: write the jobs held back (see `dirty`), as one transaction. */
  private settleJobs(): void {
    if (this.dirty.length === 0) return;
    if (this.inTransaction) this.flushJobs();
    else this.db.transaction(() => this.flushJobs())();
  }

  /** Before a query reads events: inside a transaction, write the ones held (outside, none are). */
  private settleEvents(): void {
    if (this.inTransaction) this.flushEvents();
  }

  /** A job without its payload and metadata: all a transition needs, and cheaper to read. */
  head(id: string): JobHead | null {
    const held = this.jobs.get(id);
    if (held !== undefined) return held.head;
    // Not in memory, so no write of it is held back: SQLite's row is current.
    const r = this.st.head.get(id) as HeadRowid | undefined;
    if (r === undefined) return null;
    const head = toHead(r);
    const e: Entry = { head, sql: head, rowid: r[AFTER_HEAD.rowid], payload: '', metadata: '', result: r[10], cached: false, dirty: false };
    if (!isTerminal(head.status) && this.cachedCount < this.maxCachedJobs) {
      e.cached = true;
      this.cachedCount++;
      this.jobs.set(id, e);
    } else this.uncachedRead = e;
    return head;
  }

  headByKey(key: string): JobHead | null {
    const pending = this.dirtyKeys.get(key);
    if (pending !== undefined) return pending.head;
    const r = this.st.headByKey.get(key) as HeadRow | undefined;
    if (r === undefined) return null;
    // The row may be behind this transaction's writes to it.
    return this.jobs.get(r[0])?.head ?? toHead(r);
  }

  /** A point read needs no flush: a job with writes held back is read from memory (and its row, for what never changes). */
  get(id: string): Job | null {
    const e = this.jobs.get(id);
    if (e !== undefined && e.dirty) {
      if (e.sql === null) return jobOf(e.head, e.payload, e.metadata);
      const r = this.st.get.get(id) as JobRowRaw;
      return jobOf(e.head, r[AFTER_HEAD.payload], r[AFTER_HEAD.metadata]);
    }
    const r = this.st.get.get(id) as JobRowRaw | undefined;
    return r === undefined ? null : toJobRaw(r);
  }

  byKey(key: string): Job | null {
    const pending = this.dirtyKeys.get(key);
    if (pending !== undefined) return this.get(pending.head.id);
    const r = this.st.byKey.get(key) as JobRowRaw | undefined;
    if (r === undefined) return null;
    return this.jobs.get(r[0])?.dirty === true ? this.get(r[0]) : toJobRaw(r);
  }

  /**
   * Events after entry `after`, about `limit` of them, in whole entries (a
   * page that would end inside an entry is completed with the rest of it).
   */
  events(after: number, limit: number): JobEvent[] {
    this.settleEvents();
    // The piece holding the first event after `after` may start at or before it.
    const start = (this.st.pieceBefore.get((after + 1) * EVENT_KEY_N) as number | undefined) ?? 0;
    const out: JobEvent[] = [];
    let seq = -1;
    let n = 0;
    pieces: for (const [k, data] of this.st.piecesFrom.iterate(start) as IterableIterator<[number, string]>) {
      // A piece starts an entry unless an entry was ever split across two; its key holds its first n.
      let first = k % EVENT_KEY_N;
      for (const t of JSON.parse(data) as EventTuple[]) {
        if (t[0] !== seq) {
          if (out.length >= limit) break pieces;
          seq = t[0];
          n = first;
        } else n++;
        first = 0;
        if (seq > after) out.push(toEvent(t, n));
      }
    }
    return out;
  }

  due(now: number, limit: number): Job[] {
    this.settleJobs();
    return (this.st.due.all(now, limit) as JobRowRaw[]).map(toJobRaw);
  }

  overdue(status: 'dispatched' | 'running', before: number, limit: number): Job[] {
    this.settleJobs();
    const st = status === 'dispatched' ? this.st.overdueDispatched : this.st.overdueRunning;
    return (st.all(before, limit) as JobRowRaw[]).map(toJobRaw);
  }

  /** Jobs completed with from ≤ finishedAt ≤ to. */
  completedBetween(from: number, to: number): number {
    this.settleJobs();
    return (this.st.completedBetween.get(from, to) as { n: number }).n;
  }

  /**
   * One page of a filtered list, in (createdAt, ord) order, after `cursor`.
   * SQLite walks ONE index in that order and filters the rest; without
   * statistics it picks among the filters' indexes blindly, and a bad pick
   * (jobs_status for status = 'completed' AND type = <a rare type>) walks
   * most of the table. So the index is named here: the filter whose value
   * matches the fewest jobs (listCounts), weighted by whether the index
   * carries the other filtered columns (then rows that fail a filter are
   * skipped without reading the table row; see LIST_INDEXES).
   */
  list(filter: ListFilter, limit: number, cursor: Cursor | null, order: 'asc' | 'desc'): ListPage {
    this.settleJobs();
    const where: string[] = [];
    const params: unknown[] = [];
    const cols: ListColumn[] = [];
    const values: (string | number)[] = [];
    const eq = (col: ListColumn, v: string | number | undefined, bound = v): void => {
      if (v === undefined) return;
      where.push(`${col} = ?`);
      params.push(bound);
      cols.push(col);
      values.push(v);
    };
    eq('status', filter.status, filter.status === undefined ? undefined : statusCode(filter.status));
    eq('type', filter.type);
    eq('priority', filter.priority);
    eq('worker', filter.worker);
    const index = this.listIndex(cols, values);
    const shape: string[] = [order, index, ...cols];
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
      where.push(order === 'asc' ? '(created_at, ord) > (?, ?)' : '(created_at, ord) < (?, ?)');
      params.push(cursor.createdAt, cursor.ord);
      shape.push('cursor');
    }
    const key = shape.join(',');
    let st = this.lists.get(key);
    if (st === undefined) {
      const dir = order === 'asc' ? 'ASC' : 'DESC';
      st = this.db
        .prepare(`SELECT ${JOB_COLS} FROM jobs INDEXED BY ${index} ${where.length > 0 ? `WHERE ${where.join(' AND ')}` : ''} ORDER BY created_at ${dir}, ord ${dir} LIMIT ?`)
        .raw(true);
      this.lists.set(key, st);
    }
    const rows = st.all(...params, limit + 1) as JobRowRaw[];
    const more = rows.length > limit;
    if (more) rows.pop();
    const jobs = rows.map(toJobRaw);
    const last = rows[rows.length - 1];
    return { jobs, next: more && last !== undefined ? encodeCursor({ createdAt: last[14], ord: last[AFTER_HEAD.ord] }) : null };
  }

  /** The index a list walks for equality filters on `cols` (with `values` in the same order). */
  private listIndex(cols: readonly ListColumn[], values: readonly (string | number)[]): string {
    if (cols.length === 0) return 'jobs_created';
    let best = '';
    let bestCost = Infinity;
    for (let i = 0; i < cols.length; i++) {
      const col = cols[i]!;
      const spec = LIST_INDEXES[col];
      const n = this.listCounts[col].get(values[i]!) ?? 0;
      const covered = cols.every((c) => c === col || spec.carries.includes(c));
      const cost = n * (covered ? 1 : TABLE_ROW_COST);
      if (cost < bestCost) {
        bestCost = cost;
        best = spec.index;
      }
    }
    return best;
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
    this.settleJobs();
    this.settleEvents();
    return this.db.serialize();
  }

  /** Replace the whole database with an image from serialize(). */
  restore(image: Buffer): void {
    // A file-backed store gets the image as its next file, moved into place only once it is known good.
    const file = this.file;
    const staged = file === null ? null : `${file}.restore`;
    if (staged !== null) writeFileSync(staged, image);
    const next = this.open(staged ?? image);
    const version = next.pragma('user_version', { simple: true }) as number;
    if (version !== SCHEMA_VERSION) {
      next.close();
      if (staged !== null) removeDbFile(staged);
      throw new Error(`job_registry: snapshot has table layout ${version}, this member reads ${SCHEMA_VERSION}`);
    }
    this.db.close();
    // The open handle follows its file across the rename.
    if (file !== null && staged !== null) {
      renameSync(staged, file);
      this.fileId = statSync(file).ino;
    }
    this.db = next;
    this.prepare();
    this.forget();
    for (const r of this.st.activeHeads.all(this.maxCachedJobs) as HeadRowid[]) {
      const head = toHead(r);
      this.jobs.set(head.id, { head, sql: head, rowid: r[AFTER_HEAD.rowid], payload: '', metadata: '', result: r[10], cached: true, dirty: false });
      this.cachedCount++;
    }
    this.listCounts = emptyListCounts();
    for (const col of ['status', 'type', 'priority', 'worker'] as const) {
      const rows = this.db.prepare(`SELECT ${col}, count(*) FROM jobs INDEXED BY ${LIST_INDEXES[col].index} WHERE ${col} IS NOT NULL GROUP BY ${col}`).raw(true).all() as [string | number, number][];
      for (const [v, n] of rows) this.listCounts[col].set(col === 'status' ? STATUS_NAMES[v as number]! : v, n);
    }
  }

  /**
   * Close the database; a file-backed store removes its file (derived state, rebuilt on the next start),
   * unless another store has started afresh at that path since (a machine closed late must not take a
   * newer machine's file away).
   */
  close(): void {
    if (this.db.open) this.db.close();
    if (this.file !== null && this.fileId !== null && statSync(this.file, { throwIfNoEntry: false })?.ino === this.fileId) removeDbFile(this.file);
    this.fileId = null;
  }
}

/** A database file and the journal SQLite may have left beside it. */
function removeDbFile(path: string): void {
  for (const f of [path, `${path}-journal`]) rmSync(f, { force: true });
}
