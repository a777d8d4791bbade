// Durable storage for one Raft member: the hard state (term, vote, commit
// hint), the log and the latest snapshot. LogFileStorage (logfile.ts, one
// append-only file per node) is the production default and SqliteStorage (one
// SQLite file per node) the other engine, both chosen by openStorage
// (open-storage.ts); MemoryStorage is the simulator's,
// with the same rules, the same validation and the same JSON encoding of entry
// data, so a schedule that passes in simulation exercises what production does.
//
// Both keep two invariants on every write and check them again on every load:
//   - the log is contiguous and starts right after the snapshot (index
//     snapshot.index + 1, or 1 without a snapshot);
//   - terms never decrease along the log, starting from the snapshot's term.
// A write that would break them is refused (RaftStorageError, nothing is
// written); a load that finds them broken throws 'corrupt_log', since a Raft
// member must not vote or serve from a log it cannot trust.
import { closeSync, fsyncSync, openSync } from 'node:fs';
import Database from 'better-sqlite3';
import type { EntryKind, HardState, Index, LogEntry, NodeId, Persisted, RaftStorage, Snapshot, SnapshotMeta, Term } from './types.js';
import { entryTexts } from './entry-text.js';
import { FileLock, LockHeld } from './file-lock.js';
import { ColdEntry } from './log.js';
import type { RaftMessage } from './messages.js';

// ---------------------------------------------------------------------------
// Errors

export const RaftStorageErrorCodes = {
  corrupt_log: 'the stored log is not contiguous after the snapshot, or is otherwise unreadable',
  corrupt_state: 'the stored hard state or snapshot is unreadable',
  invalid_append: 'the entries would leave a gap, overlap the snapshot, decrease the term or are malformed',
  invalid_hard_state: 'the hard state is malformed',
  invalid_snapshot: 'the snapshot is malformed, older than the stored one, or (for a compaction) does not match the log',
  unserializable_data: 'entry data must be JSON-serializable',
  unsupported_schema: 'the database was written by a newer schema version',
  not_durable: 'the database could not be put in WAL mode with synchronous=FULL',
  invalid_node_id: 'the node id cannot be used in a file name',
  other_engine: "the node's directory holds its Raft log in the other storage engine",
  locked: 'another process has this Raft log open (its lock file names it)',
  closed: 'the storage is closed',
} as const;

export type RaftStorageErrorCode = keyof typeof RaftStorageErrorCodes;

/** Every error this module throws; callers switch on `code`, never on the message. */
export class RaftStorageError extends Error {
  readonly code: RaftStorageErrorCode;
  constructor(code: RaftStorageErrorCode, detail?: string) {
    super(detail === undefined ? RaftStorageErrorCodes[code] : `${RaftStorageErrorCodes[code]}: ${detail}`);
    this.name = 'RaftStorageError';
    this.code = code;
  }
}

// ---------------------------------------------------------------------------
// Shared rules (both implementations)

export const initialHardState: HardState = Object.freeze({ term: 0, vote: null, commit: 0 });

/** The log's lock (file-lock.ts), taken before either engine touches its file; a live holder is `locked`. */
export function takeLock(path: string): FileLock {
  try {
    return FileLock.acquire(`${path}.lock`);
  } catch (e) {
    if (e instanceof LockHeld) throw new RaftStorageError('locked', e.message);
    throw e;
  }
}

const entryKinds: ReadonlySet<string> = new Set<EntryKind>(['command', 'noop', 'config']);
export const isEntryKind = (k: string): k is EntryKind => entryKinds.has(k);

/** An entry as both implementations store it: the data encoded as JSON text. */
export interface StoredEntry {
  readonly index: number;
  readonly term: number;
  readonly kind: EntryKind;
  readonly data: string;
}

/** What the append rules need to know about the stored log, read inside the write transaction. */
export interface LogView {
  /** 0 without a snapshot. */
  readonly snapshotIndex: number;
  readonly snapshotTerm: number;
  /** The last stored entry's index, or snapshotIndex when the log is empty. */
  readonly lastIndex: number;
  /** The term of the stored entry at `index` (only asked for snapshotIndex < index ≤ lastIndex). */
  termAt(index: number): number | undefined;
}

export const isNonNegInt = (n: unknown): n is number => typeof n === 'number' && Number.isSafeInteger(n) && n >= 0;

function encodeData(e: LogEntry): string {
  let text: string | undefined;
  try {
    // Usually made already: the leader measured the entry to bound an append (entry-text.ts).
    text = entryTexts.textOf(e);
  } catch (err) {
    throw new RaftStorageError('unserializable_data', `entry ${e.index}: ${err instanceof Error ? err.message : String(err)}`);
  }
  // JSON.stringify returns undefined for undefined, functions and symbols.
  if (text === undefined) throw new RaftStorageError('unserializable_data', `entry ${e.index}: ${typeof e.data}`);
  return text;
}

/** Checks a batch on its own (well-formed, contiguous, terms non-decreasing) and encodes its data. */
export function encodeBatch(entries: readonly LogEntry[]): StoredEntry[] {
  const out: StoredEntry[] = [];
  for (let i = 0; i < entries.length; i++) {
    const e = entries[i]!;
    if (!isNonNegInt(e.index) || e.index < 1) throw new RaftStorageError('invalid_append', `bad index ${String(e.index)}`);
    if (!isNonNegInt(e.term)) throw new RaftStorageError('invalid_append', `entry ${e.index}: bad term ${String(e.term)}`);
    if (!entryKinds.has(e.kind)) throw new RaftStorageError('invalid_append', `entry ${e.index}: bad kind ${String(e.kind)}`);
    if (i > 0) {
      const prev = entries[i - 1]!;
      if (e.index !== prev.index + 1) {
        throw new RaftStorageError('invalid_append', `batch not contiguous: ${prev.index} then ${e.index}`);
      }
      if (e.term < prev.term) throw new RaftStorageError('invalid_append', `term decreases at ${e.index}`);
    }
    out.push({ index: e.index, term: e.term, kind: e.kind, data: encodeData(e) });
  }
  return out;
}

/** Checks a (non-empty, already encoded) batch against the stored log; returns the first index to truncate from. */
export function checkAppend(batch: readonly StoredEntry[], log: LogView): number {
  const first = batch[0]!;
  if (first.index <= log.snapshotIndex) {
    throw new RaftStorageError('invalid_append', `entry ${first.index} is covered by the snapshot at ${log.snapshotIndex}`);
  }
  if (first.index > log.lastIndex + 1) {
    throw new RaftStorageError('invalid_append', `gap: last stored index is ${log.lastIndex}, batch starts at ${first.index}`);
  }
  const prevTerm = first.index - 1 === log.snapshotIndex ? log.snapshotTerm : log.termAt(first.index - 1);
  if (prevTerm !== undefined && first.term < prevTerm) {
    throw new RaftStorageError('invalid_append', `term decreases at ${first.index} (${prevTerm} before it)`);
  }
  return first.index;
}

/** A term, a vote (a node id or null) and a commit index, as every engine stores and reads them back. */
export function isHardState(x: unknown): x is HardState {
  if (typeof x !== 'object' || x === null) return false;
  const hs = x as { term?: unknown; vote?: unknown; commit?: unknown };
  return isNonNegInt(hs.term) && isNonNegInt(hs.commit) && (hs.vote === null || typeof hs.vote === 'string');
}

/** A snapshot's voter set as stored: a list of node ids. */
export const isVoterList = (x: unknown): x is NodeId[] => Array.isArray(x) && x.every((v) => typeof v === 'string');

export function checkHardState(hs: HardState): void {
  if (!isHardState(hs)) throw new RaftStorageError('invalid_hard_state', JSON.stringify(hs));
}

export function checkSnapshot(s: Snapshot, storedIndex: number): void {
  const m = s.meta;
  if (!isNonNegInt(m.index) || m.index < 1 || !isNonNegInt(m.term) || !isVoterList(m.voters) || typeof s.data !== 'string') {
    throw new RaftStorageError('invalid_snapshot', `index ${String(m.index)}, term ${String(m.term)}`);
  }
  if (m.index < storedIndex) {
    throw new RaftStorageError('invalid_snapshot', `index ${m.index} is older than the stored snapshot at ${storedIndex}`);
  }
}

/**
 * A compaction (saveSnapshot) must cut the log at an entry it holds, with the
 * same term, so that the entries it keeps still follow on from the snapshot. A
 * snapshot past the end of the log, or one that conflicts with it, comes from a
 * leader and goes through installSnapshot, which drops the whole log.
 */
export function checkCompaction(meta: SnapshotMeta, log: LogView): void {
  const term = meta.index === log.snapshotIndex ? log.snapshotTerm : meta.index <= log.lastIndex ? log.termAt(meta.index) : undefined;
  if (term === undefined) {
    throw new RaftStorageError('invalid_snapshot', `compaction at ${meta.index} is past the last stored index ${log.lastIndex}`);
  }
  if (term !== meta.term) {
    throw new RaftStorageError('invalid_snapshot', `compaction at ${meta.index} has term ${meta.term}, the stored entry has ${term}`);
  }
}

/**
 * Decodes stored rows into entries, checking the log invariants (throws 'corrupt_log'): contiguous from just
 * after `after` (the snapshot's point, or none), terms never decreasing.
 */
export function decodeLog(rows: readonly { index: number; term: number; kind: string; data: string }[], after: { readonly index: Index; readonly term: Term } | null): LogEntry[] {
  const entries: LogEntry[] = [];
  let expected = (after?.index ?? 0) + 1;
  let prevTerm = after?.term ?? 0;
  for (const r of rows) {
    if (r.index !== expected) {
      throw new RaftStorageError(
        'corrupt_log',
        r.index < expected ? `entry ${r.index} at or before index ${expected - 1} (duplicate or covered by the snapshot)` : `gap: expected entry ${expected}, found ${r.index}`,
      );
    }
    if (!isNonNegInt(r.term) || r.term < prevTerm) throw new RaftStorageError('corrupt_log', `term decreases at ${r.index}`);
    if (!entryKinds.has(r.kind)) throw new RaftStorageError('corrupt_log', `entry ${r.index}: bad kind ${r.kind}`);
    let data: unknown;
    try {
      data = JSON.parse(r.data);
    } catch {
      throw new RaftStorageError('corrupt_log', `entry ${r.index}: data is not JSON`);
    }
    const e: LogEntry = { index: r.index, term: r.term, kind: r.kind as EntryKind, data };
    // The row holds the entry's text: sending it (an append to a follower) need not serialise it again.
    if (data !== null) entryTexts.remember(e, r.data);
    entries.push(e);
    expected++;
    prevTerm = r.term;
  }
  return entries;
}

/** decodeLog over lo..hi, which must all be there. */
export function decodeRange(rows: readonly LogRow[], lo: Index, hi: Index): LogEntry[] {
  if (rows.length !== hi - lo + 1) throw new RaftStorageError('corrupt_log', `entries ${lo}..${hi}: ${rows.length} stored`);
  return decodeLog(rows, { index: lo - 1, term: 0 });
}

/**
 * `entries` with each ColdEntry (log.ts: an applied entry whose data the core dropped) replaced by the stored
 * entry, whose index and term must match; the same array when there is none.
 */
export function hydrateEntries(entries: readonly LogEntry[], storage: Pick<RaftStorage, 'entries'>): readonly LogEntry[] {
  let first = -1;
  let last = -1;
  for (let i = 0; i < entries.length; i++) {
    if (entries[i] instanceof ColdEntry) {
      if (first < 0) first = i;
      last = i;
    }
  }
  if (first < 0) return entries;
  const lo = entries[first]!.index;
  const stored = storage.entries(lo, entries[last]!.index);
  return entries.map((e) => {
    if (!(e instanceof ColdEntry)) return e;
    const s = stored[e.index - lo]!;
    if (s.term !== e.term || s.kind !== e.kind) throw new RaftStorageError('corrupt_log', `entry ${e.index}: stored ${s.term}/${s.kind}, the log has ${e.term}/${e.kind}`);
    return s;
  });
}

/** An append whose cold entries are read back from storage, ready to send (other messages as they are). */
export function hydrateAppend(msg: RaftMessage, storage: Pick<RaftStorage, 'entries'>): RaftMessage {
  if (msg.type !== 'append') return msg;
  const entries = hydrateEntries(msg.entries, storage);
  return entries === msg.entries ? msg : { ...msg, entries };
}

function decodeVoters(text: string): NodeId[] {
  let v: unknown;
  try {
    v = JSON.parse(text);
  } catch {
    throw new RaftStorageError('corrupt_state', 'snapshot voters are not JSON');
  }
  if (!isVoterList(v)) throw new RaftStorageError('corrupt_state', 'snapshot voters are not a list of node ids');
  return v;
}

// ---------------------------------------------------------------------------
// SQLite

/** Bumped when the schema changes; a file from a newer version is refused. */
const schemaVersion = 1;
/**
 * The WAL file is truncated back to this size after a checkpoint, so a burst
 * of appends does not leave a large WAL on disk for good.
 */
const walSizeLimitBytes = 64 * 1024 * 1024;
/** PRAGMA synchronous reads back as a number: 2 is FULL. */
const synchronousFull = 2;

export interface SqliteStorageOptions {
  /** Refuse to create the file: opening a node's existing data only. Default false. */
  readonly fileMustExist?: boolean;
}

export interface LogRow {
  index: number;
  term: number;
  kind: string;
  data: string;
}
interface HardStateRow {
  term: number;
  vote: string | null;
  commit: number;
}
interface SnapshotRow {
  index: number;
  term: number;
  voters: string;
  data: string;
}

/**
 * RaftStorage on one SQLite file (WAL, synchronous=FULL). Every write is one
 * transaction, durable when the method returns. One instance per file: the
 * caller (the raft_fsm process) owns it and closes it in terminate.
 */
export class SqliteStorage implements RaftStorage {
  readonly path: string;
  private readonly lock: FileLock;
  private readonly db: Database.Database;
  private open = true;

  private readonly selHardState: Database.Statement<[], HardStateRow>;
  private readonly putHardState: Database.Statement<[number, string | null, number]>;
  private readonly selSnapshot: Database.Statement<[], SnapshotRow>;
  private readonly selSnapshotMeta: Database.Statement<[], { index: number; term: number }>;
  private readonly putSnapshot: Database.Statement<[number, number, string, string]>;
  private readonly selLog: Database.Statement<[], LogRow>;
  private readonly selLastIndex: Database.Statement<[], { index: number }>;
  private readonly selTermAt: Database.Statement<[number], { term: number }>;
  private readonly selRange: Database.Statement<[number, number], LogRow>;
  private readonly insEntry: Database.Statement<[number, number, string, string]>;
  private readonly delFrom: Database.Statement<[number]>;
  private readonly delThrough: Database.Statement<[number]>;
  private readonly delAll: Database.Statement<[]>;

  private readonly appendTx: Database.Transaction<(batch: readonly StoredEntry[], hs: HardState | undefined) => void>;
  private readonly snapshotTx: Database.Transaction<(s: Snapshot, install: boolean) => void>;
  private readonly loadTx: Database.Transaction<() => Persisted>;

  constructor(path: string, opts: SqliteStorageOptions = {}) {
    this.path = path;
    this.lock = takeLock(path);
    let db: Database.Database | null = null;
    try {
      this.db = db = new Database(path, { fileMustExist: opts.fileMustExist ?? false });
      // WAL: a commit appends to one file and fsyncs it once, and readers never
      // block the writer. synchronous=FULL: the WAL is fsynced at EVERY commit.
      // (NORMAL would only sync at checkpoints, so a power loss could drop
      // commits that had already returned.) An append returns to the Raft core,
      // which then acknowledges it to the leader, and the leader counts that
      // acknowledgement toward a majority: if it did not survive power loss, a
      // committed entry could vanish from a majority and be overwritten.
      this.db.pragma('journal_mode = WAL');
      this.db.pragma('synchronous = FULL');
      this.db.pragma(`journal_size_limit = ${walSizeLimitBytes}`);
      const mode = String(this.db.pragma('journal_mode', { simple: true }));
      const sync = Number(this.db.pragma('synchronous', { simple: true }));
      if (mode !== 'wal' || sync !== synchronousFull) throw new RaftStorageError('not_durable', `journal_mode=${mode}, synchronous=${sync}`);
      this.migrate();
    } catch (e) {
      db?.close();
      this.lock.release();
      throw e;
    }

    this.selHardState = this.db.prepare('SELECT term, vote, commit_index AS "commit" FROM hard_state WHERE id = 1');
    this.putHardState = this.db.prepare(
      'INSERT INTO hard_state (id, term, vote, commit_index) VALUES (1, ?, ?, ?) ' +
        'ON CONFLICT (id) DO UPDATE SET term = excluded.term, vote = excluded.vote, commit_index = excluded.commit_index',
    );
    this.selSnapshot = this.db.prepare('SELECT idx AS "index", term, voters, data FROM snapshot WHERE id = 1');
    // The meta alone, so an append does not read the snapshot's data.
    this.selSnapshotMeta = this.db.prepare('SELECT idx AS "index", term FROM snapshot WHERE id = 1');
    this.putSnapshot = this.db.prepare(
      'INSERT INTO snapshot (id, idx, term, voters, data) VALUES (1, ?, ?, ?, ?) ' +
        'ON CONFLICT (id) DO UPDATE SET idx = excluded.idx, term = excluded.term, voters = excluded.voters, data = excluded.data',
    );
    this.selLog = this.db.prepare('SELECT idx AS "index", term, kind, data FROM log ORDER BY idx');
    this.selLastIndex = this.db.prepare('SELECT idx AS "index" FROM log ORDER BY idx DESC LIMIT 1');
    this.selTermAt = this.db.prepare('SELECT term FROM log WHERE idx = ?');
    this.selRange = this.db.prepare('SELECT idx AS "index", term, kind, data FROM log WHERE idx BETWEEN ? AND ? ORDER BY idx');
    this.insEntry = this.db.prepare('INSERT INTO log (idx, term, kind, data) VALUES (?, ?, ?, ?)');
    this.delFrom = this.db.prepare('DELETE FROM log WHERE idx >= ?');
    this.delThrough = this.db.prepare('DELETE FROM log WHERE idx <= ?');
    this.delAll = this.db.prepare('DELETE FROM log');

    this.appendTx = this.db.transaction((batch: readonly StoredEntry[], hs: HardState | undefined) => {
      if (batch.length > 0) {
        const from = checkAppend(batch, this.logView());
        // Conflict truncation: the new entries replace everything from their
        // first index on (a no-op delete when they start right after the end).
        this.delFrom.run(from);
        for (const e of batch) this.insEntry.run(e.index, e.term, e.kind, e.data);
      }
      if (hs !== undefined) this.putHardState.run(hs.term, hs.vote, hs.commit);
    });

    this.snapshotTx = this.db.transaction((s: Snapshot, install: boolean) => {
      const m = s.meta;
      checkSnapshot(s, this.selSnapshotMeta.get()?.index ?? 0);
      if (install) {
        this.delAll.run();
      } else {
        checkCompaction(m, this.logView());
        this.delThrough.run(m.index);
      }
      this.putSnapshot.run(m.index, m.term, JSON.stringify(m.voters), s.data);
    });

    // Read in one transaction so the three tables are seen at one point in time.
    this.loadTx = this.db.transaction((): Persisted => {
      const hsRow = this.selHardState.get();
      const snapRow = this.selSnapshot.get();
      let snapshot: Snapshot | null = null;
      if (snapRow !== undefined) {
        snapshot = { meta: { index: snapRow.index, term: snapRow.term, voters: decodeVoters(snapRow.voters) }, data: snapRow.data };
      }
      let hardState: HardState = { ...initialHardState };
      if (hsRow !== undefined) {
        if (!isHardState(hsRow)) throw new RaftStorageError('corrupt_state', 'hard state');
        hardState = { term: hsRow.term, vote: hsRow.vote === null ? null : (hsRow.vote as NodeId), commit: hsRow.commit };
      }
      return { hardState, snapshot, entries: decodeLog(this.selLog.all(), snapshot?.meta ?? null) };
    });
  }

  load(): Persisted {
    this.ensureOpen();
    return this.loadTx();
  }

  entries(lo: Index, hi: Index): LogEntry[] {
    this.ensureOpen();
    return decodeRange(hi < lo ? [] : this.selRange.all(lo, hi), lo, hi);
  }

  append(entries: readonly LogEntry[], hardState?: HardState): void {
    this.ensureOpen();
    const batch = encodeBatch(entries);
    if (hardState !== undefined) checkHardState(hardState);
    if (batch.length === 0 && hardState === undefined) return;
    // IMMEDIATE: take the write lock before the reads that check the append,
    // so nothing can change the log between the check and the write.
    this.appendTx.immediate(batch, hardState);
  }

  setHardState(hardState: HardState): void {
    this.ensureOpen();
    checkHardState(hardState);
    this.putHardState.run(hardState.term, hardState.vote, hardState.commit);
  }

  saveSnapshot(snapshot: Snapshot): void {
    this.ensureOpen();
    this.snapshotTx.immediate(snapshot, false);
  }

  installSnapshot(snapshot: Snapshot): void {
    this.ensureOpen();
    this.snapshotTx.immediate(snapshot, true);
  }

  /** Idempotent. The WAL is checkpointed into the main file by SQLite on close. */
  close(): void {
    if (!this.open) return;
    this.open = false;
    this.db.close();
    this.lock.release();
  }

  /** The connection's durability settings, for health checks and tests. */
  pragmas(): { readonly journalMode: string; readonly synchronous: number } {
    this.ensureOpen();
    return {
      journalMode: String(this.db.pragma('journal_mode', { simple: true })),
      synchronous: Number(this.db.pragma('synchronous', { simple: true })),
    };
  }

  private ensureOpen(): void {
    if (!this.open) throw new RaftStorageError('closed', this.path);
  }

  private logView(): LogView {
    const snap = this.selSnapshotMeta.get();
    const snapshotIndex = snap?.index ?? 0;
    return {
      snapshotIndex,
      snapshotTerm: snap?.term ?? 0,
      lastIndex: this.selLastIndex.get()?.index ?? snapshotIndex,
      termAt: (i) => this.selTermAt.get(i)?.term,
    };
  }

  private migrate(): void {
    const version = Number(this.db.pragma('user_version', { simple: true }));
    if (version > schemaVersion) throw new RaftStorageError('unsupported_schema', `file has ${version}, this build knows ${schemaVersion}`);
    if (version === schemaVersion) return;
    this.db.exec(`
      BEGIN;
      CREATE TABLE IF NOT EXISTS hard_state (
        id INTEGER PRIMARY KEY CHECK (id = 1),
        term INTEGER NOT NULL,
        vote TEXT,
        commit_index INTEGER NOT NULL
      );
      CREATE TABLE IF NOT EXISTS log (
        idx INTEGER PRIMARY KEY,
        term INTEGER NOT NULL,
        kind TEXT NOT NULL,
        data TEXT NOT NULL
      );
      CREATE TABLE IF NOT EXISTS snapshot (
        id INTEGER PRIMARY KEY CHECK (id = 1),
        idx INTEGER NOT NULL,
        term INTEGER NOT NULL,
        voters TEXT NOT NULL,
        data TEXT NOT NULL
      );
      PRAGMA user_version = ${schemaVersion};
      COMMIT;
    `);
  }
}

export function fsyncDir(path: string): void {
  const fd = openSync(path, 'r');
  try {
    fsyncSync(fd);
  } finally {
    closeSync(fd);
  }
}

// ---------------------------------------------------------------------------
// Memory (the simulator)

/**
 * The "disk" of a MemoryStorage: what survives a simulated crash. The simulator
 * keeps one per node and, to crash a node, drops its MemoryStorage (and the
 * core) and later opens a new MemoryStorage over the same disk. Everything here
 * is a private copy (entry data is kept as JSON text), so nothing the caller
 * holds can change it after a write returns. Tests may edit it directly to
 * simulate on-disk corruption, as they would write SQL into a SQLite file.
 */
export class MemoryDisk {
  hardState: HardState | null = null;
  snapshot: { readonly meta: SnapshotMeta; readonly data: string } | null = null;
  /** In index order; contiguous unless a test corrupted it. */
  entries: StoredEntry[] = [];
}

/**
 * RaftStorage in memory with the same rules as SqliteStorage. Each write
 * validates first and then changes the disk without any step that can throw,
 * so a refused write leaves the disk as it was (what a rolled-back transaction
 * does in SQLite).
 */
export class MemoryStorage implements RaftStorage {
  readonly disk: MemoryDisk;
  private open = true;

  constructor(disk: MemoryDisk = new MemoryDisk()) {
    this.disk = disk;
  }

  entries(lo: Index, hi: Index): LogEntry[] {
    this.ensureOpen();
    const d = this.disk;
    const base = d.entries[0]?.index ?? 0;
    return decodeRange(lo < base ? [] : d.entries.slice(lo - base, hi - base + 1), lo, hi);
  }

  load(): Persisted {
    this.ensureOpen();
    const d = this.disk;
    const snapshot: Snapshot | null = d.snapshot === null ? null : { meta: copyMeta(d.snapshot.meta), data: d.snapshot.data };
    const hardState: HardState = d.hardState === null ? { ...initialHardState } : { ...d.hardState };
    return { hardState, snapshot, entries: decodeLog(d.entries, snapshot?.meta ?? null) };
  }

  append(entries: readonly LogEntry[], hardState?: HardState): void {
    this.ensureOpen();
    const batch = encodeBatch(entries);
    if (hardState !== undefined) checkHardState(hardState);
    const d = this.disk;
    if (batch.length > 0) {
      const from = checkAppend(batch, this.logView());
      const base = d.entries[0]?.index ?? from;
      d.entries = d.entries.slice(0, from - base).concat(batch);
    }
    if (hardState !== undefined) d.hardState = { term: hardState.term, vote: hardState.vote, commit: hardState.commit };
  }

  setHardState(hardState: HardState): void {
    this.append([], hardState);
  }

  saveSnapshot(snapshot: Snapshot): void {
    this.ensureOpen();
    const d = this.disk;
    checkSnapshot(snapshot, d.snapshot?.meta.index ?? 0);
    checkCompaction(snapshot.meta, this.logView());
    const meta = copyMeta(snapshot.meta);
    d.entries = d.entries.filter((e) => e.index > meta.index);
    d.snapshot = { meta, data: snapshot.data };
  }

  installSnapshot(snapshot: Snapshot): void {
    this.ensureOpen();
    const d = this.disk;
    checkSnapshot(snapshot, d.snapshot?.meta.index ?? 0);
    d.entries = [];
    d.snapshot = { meta: copyMeta(snapshot.meta), data: snapshot.data };
  }

  /** Idempotent. The disk stays as it is, for a later MemoryStorage to load. */
  close(): void {
    this.open = false;
  }

  private ensureOpen(): void {
    if (!this.open) throw new RaftStorageError('closed', 'memory');
  }

  private logView(): LogView {
    const d = this.disk;
    const snapshotIndex = d.snapshot?.meta.index ?? 0;
    const base = d.entries[0]?.index ?? snapshotIndex + 1;
    return {
      snapshotIndex,
      snapshotTerm: d.snapshot?.meta.term ?? 0,
      lastIndex: d.entries.at(-1)?.index ?? snapshotIndex,
      termAt: (i) => d.entries[i - base]?.term,
    };
  }
}

export function copyMeta(m: SnapshotMeta): SnapshotMeta {
  return { index: m.index, term: m.term, voters: [...m.voters] };
}
