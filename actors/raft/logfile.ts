// RaftStorage on one append-only file per node: the production default (see
// docs/decisions/0001-raft-log-file.md for why it replaced SQLite there, with
// the figures). Same rules, validation and entry encoding as SqliteStorage and
// MemoryStorage (storage.ts), so the conformance suite runs against all three.
//
// The file is a header and then records:
//
//   header  8 bytes  "DQRLOG" + format version (u16 LE)
//   record  u32 LE body length · u32 LE CRC-32 of the body · body
//   body    one byte of type, then UTF-8 text:
//           1 entry       "<index> <term> <kind> <data as JSON>"
//           2 hard state  JSON {term, vote, commit}
//           3 snapshot    JSON of its meta, "\n", its data (only ever the first record)
//           with 0x80 added to the type of the last record of each write
//
// Writing is appending: an append is one positional writev of its records
// (entries, then the hard state) and one fdatasync, durable when it returns.
// A reader takes a write's records only once it reaches the one marked last,
// so an append is read back whole or not at all, as a SQLite transaction is.
// Nothing is ever rewritten in place. An entry record at an index the log
// already holds replaces that entry and everything after it (conflict
// truncation), when written and when read back; the latest hard state record
// wins. A snapshot (saveSnapshot, installSnapshot) writes a new file (the
// snapshot record, the hard state, the entries it keeps, copied as they are),
// syncs it and renames it over the old one, so a crash leaves one or the other.
//
// Reading back (at open) checks every record's CRC. A record cut short or
// failing its check, or a file ending before a write's last record, is where
// the last append was torn by a crash: that append never returned, so nothing
// acknowledged is in it; the file is cut where that write began and
// `repaired` says how many bytes went. (Damage inside older, synced records
// looks the same to a reader; the disk's own checks are what stands against
// that, as under any storage engine.) The checks of storage.ts then apply to
// the log so read: contiguous after the snapshot, terms never decreasing.
import { closeSync, fdatasyncSync, fstatSync, ftruncateSync, openSync, readSync, renameSync, rmSync, writevSync } from 'node:fs';
import { dirname } from 'node:path';
import { crc32 } from 'node:zlib';
import {
  type LogRow,
  type LogView,
  RaftStorageError,
  type StoredEntry,
  checkAppend,
  checkCompaction,
  checkHardState,
  checkSnapshot,
  copyMeta,
  decodeLog,
  decodeRange,
  encodeBatch,
  fsyncDir,
  initialHardState,
  isEntryKind,
  isHardState,
  isNonNegInt,
  isVoterList,
  takeLock,
} from './storage.js';
import type { FileLock } from './file-lock.js';
import type { EntryKind, HardState, Index, LogEntry, Persisted, RaftStorage, Snapshot, SnapshotMeta } from './types.js';

const MAGIC = 'DQRLOG';
const FORMAT_VERSION = 1;
const HEADER_BYTES = 8;
const RECORD_HEAD_BYTES = 8;
const ENTRY = 1;
const HARD_STATE = 2;
const SNAPSHOT = 3;
/** Added to the type byte of a write's last record. */
const END = 0x80;
/** A record longer than this is damage, not data (a snapshot of a 400 MB registry is ≈ 550 MB of base64). */
const MAX_RECORD_BYTES = 1024 * 1024 * 1024;

/** Bytes read at once (see bytesAt), and the most the reused read buffer grows to; bigger records get their own. */
const WINDOW_BYTES = 1024 * 1024;
const WINDOW_MAX_BYTES = 16 * 1024 * 1024;

/** Write all of `parts` at `at` (positional: the descriptor is never in append mode), going on after short writes. */
function writeAllAt(fd: number, parts: readonly Buffer[], at: number): void {
  let left = parts.filter((p) => p.length > 0);
  let pos = at;
  while (left.length > 0) {
    let n = writevSync(fd, left, pos);
    pos += n;
    const rest: Buffer[] = [];
    for (const p of left) {
      if (n >= p.length) {
        n -= p.length;
        continue;
      }
      rest.push(n > 0 ? p.subarray(n) : p);
      n = 0;
    }
    left = rest;
  }
}

/** Where each stored entry's record is, and what the append rules need without reading it. */
interface Slot {
  readonly term: number;
  readonly kind: EntryKind;
  /** Offset of the record's body in the file, and its length. */
  readonly at: number;
  readonly bytes: number;
}

/** What opening found: how much of a torn last append was cut off (0: nothing). */
export interface LogFileRepair {
  readonly droppedBytes: number;
  /** Why the first dropped record was refused. */
  readonly reason: string;
}

function header(): Buffer {
  const h = Buffer.alloc(HEADER_BYTES);
  h.write(MAGIC, 0, 'latin1');
  h.writeUInt16LE(FORMAT_VERSION, 6);
  return h;
}

/** The records of one write, each head followed by its body: the last body marked END first, then every head made. */
function sealed(bodies: readonly Buffer[]): Buffer[] {
  const last = bodies.at(-1);
  if (last !== undefined) last[0] = last[0]! | END;
  const parts: Buffer[] = [];
  for (const body of bodies) {
    const head = Buffer.allocUnsafe(RECORD_HEAD_BYTES);
    head.writeUInt32LE(body.length, 0);
    head.writeUInt32LE(crc32(body), 4);
    parts.push(head, body);
  }
  return parts;
}

/**
 * A record body: the type byte, then `head` and `tail` in UTF-8, each written in place. Kept apart, not
 * concatenated: an entry's data is often 100+ KB, and a concatenation would be copied flat once more.
 */
function typed(type: number, head: string, tail = ''): Buffer {
  const headBytes = Buffer.byteLength(head, 'utf8');
  const body = Buffer.allocUnsafe(1 + headBytes + Buffer.byteLength(tail, 'utf8'));
  body[0] = type;
  body.write(head, 1, 'utf8');
  body.write(tail, 1 + headBytes, 'utf8');
  return body;
}
const entryBody = (e: StoredEntry): Buffer => typed(ENTRY, `${e.index} ${e.term} ${e.kind} `, e.data);
const hardStateBody = (hs: HardState): Buffer => typed(HARD_STATE, JSON.stringify({ term: hs.term, vote: hs.vote, commit: hs.commit }));
const snapshotBody = (s: Snapshot): Buffer => typed(SNAPSHOT, `${JSON.stringify({ index: s.meta.index, term: s.meta.term, voters: s.meta.voters })}\n`, s.data);

/** An entry record's text (after the type byte) as a row; null when it is not one. */
function parseEntry(text: string): LogRow | null {
  const a = text.indexOf(' ');
  const b = text.indexOf(' ', a + 1);
  const c = text.indexOf(' ', b + 1);
  if (a < 0 || b < 0 || c < 0) return null;
  const index = Number(text.slice(0, a));
  const term = Number(text.slice(a + 1, b));
  if (!isNonNegInt(index) || !isNonNegInt(term)) return null;
  return { index, term, kind: text.slice(b + 1, c), data: text.slice(c + 1) };
}

/** An entry's index, term and kind fit in this (two safe integers, a kind, three spaces). */
const ENTRY_HEAD_BYTES = 64;

/**
 * What opening needs of a record's body (after its type byte), decoded: an entry's head (not its data, often
 * 100+ KB), a hard state whole, a snapshot's meta line (not its data, possibly hundreds of MB).
 */
function headText(type: number, body: Buffer): string {
  if (type === ENTRY) return body.toString('utf8', 1, Math.min(body.length, 1 + ENTRY_HEAD_BYTES));
  if (type === SNAPSHOT) {
    const nl = body.indexOf(0x0a, 1);
    return body.toString('utf8', 1, nl < 0 ? 1 : nl);
  }
  return body.toString('utf8', 1);
}

/** JSON.parse, or undefined for text that is not JSON. */
function jsonOf(text: string): unknown {
  try {
    return JSON.parse(text) as unknown;
  } catch {
    return undefined;
  }
}

function parseHardState(text: string): HardState | null {
  const hs = jsonOf(text);
  return isHardState(hs) ? { term: hs.term, vote: hs.vote, commit: hs.commit } : null;
}

function parseSnapshotMeta(text: string): SnapshotMeta | null {
  const m = jsonOf(text) as { index?: unknown; term?: unknown; voters?: unknown } | null;
  if (m === null || typeof m !== 'object' || !isNonNegInt(m.index) || !isNonNegInt(m.term) || !isVoterList(m.voters)) return null;
  return { index: m.index, term: m.term, voters: m.voters };
}

export class LogFileStorage implements RaftStorage {
  readonly path: string;
  /** Set when opening cut a torn last append off the file (see the header). */
  readonly repaired: LogFileRepair | null;
  private readonly lock: FileLock;
  private fd: number;
  private open = true;
  /** Bytes of the file that hold valid records: where the next append goes. */
  private size = 0;
  private hardState: HardState = { ...initialHardState };
  private snapshot: { readonly meta: SnapshotMeta; readonly at: number; readonly bytes: number } | null = null;
  /** The stored entries, index snapshotIndex + 1 onwards. */
  private slots: Slot[] = [];
  /** The bytes last read, and where they are in the file (see bytesAt). */
  private window: { buf: Buffer; at: number; bytes: number } = { buf: Buffer.alloc(0), at: 0, bytes: 0 };

  /** Opens (creating it if missing) the log file at `path`; a new file's directory entry is synced. */
  constructor(path: string) {
    this.path = path;
    // First, so a second process never cuts, rewrites or removes what the holder is writing.
    this.lock = takeLock(path);
    let fd: number | null = null;
    try {
      // A snapshot's file that a crash left half-made: the rename never happened, so the log is the old file.
      rmSync(`${path}.next`, { force: true });
      closeSync(openSync(path, 'a+'));
      // 'a+' only to create; writes are positional (an O_APPEND descriptor ignores positions on Linux).
      this.fd = fd = openSync(path, 'r+');
      if (fstatSync(fd).size === 0) {
        writeAllAt(fd, [header()], 0);
        fdatasyncSync(fd);
        fsyncDir(dirname(path));
      }
      this.repaired = this.scan();
    } catch (e) {
      if (fd !== null) closeSync(fd);
      this.lock.release();
      throw e;
    }
  }

  load(): Persisted {
    this.ensureOpen();
    let snapshot: Snapshot | null = null;
    const s = this.snapshot;
    if (s !== null) {
      const text = this.read(s.at, s.bytes);
      snapshot = { meta: copyMeta(s.meta), data: text.slice(text.indexOf('\n') + 1) };
    }
    const first = (s?.meta.index ?? 0) + 1;
    return { hardState: { ...this.hardState }, snapshot, entries: decodeLog(this.rows(first, first + this.slots.length - 1), s?.meta ?? null) };
  }

  entries(lo: Index, hi: Index): LogEntry[] {
    this.ensureOpen();
    return decodeRange(this.rows(lo, hi), lo, hi);
  }

  append(entries: readonly LogEntry[], hardState?: HardState): void {
    this.ensureOpen();
    const batch = encodeBatch(entries);
    if (hardState !== undefined) checkHardState(hardState);
    if (batch.length === 0 && hardState === undefined) return;
    const from = batch.length > 0 ? checkAppend(batch, this.logView()) : 0;
    const bodies: Buffer[] = [];
    const added: Slot[] = [];
    let at = this.size;
    for (const e of batch) {
      const body = entryBody(e);
      bodies.push(body);
      added.push({ term: e.term, kind: e.kind, at: at + RECORD_HEAD_BYTES + 1, bytes: body.length - 1 });
      at += RECORD_HEAD_BYTES + body.length;
    }
    if (hardState !== undefined) {
      const body = hardStateBody(hardState);
      bodies.push(body);
      at += RECORD_HEAD_BYTES + body.length;
    }
    this.writeDurably(sealed(bodies), this.size);
    // Written and synced: only now does memory follow (a failed write left it, and the file's valid part, as they were).
    if (batch.length > 0) {
      this.slots.length = from - this.base();
      for (const s of added) this.slots.push(s);
    }
    if (hardState !== undefined) this.hardState = { term: hardState.term, vote: hardState.vote, commit: hardState.commit };
    this.size = at;
  }

  setHardState(hardState: HardState): void {
    this.append([], hardState);
  }

  saveSnapshot(snapshot: Snapshot): void {
    this.ensureOpen();
    checkSnapshot(snapshot, this.snapshot?.meta.index ?? 0);
    checkCompaction(snapshot.meta, this.logView());
    this.rewrite(snapshot, snapshot.meta.index + 1);
  }

  installSnapshot(snapshot: Snapshot): void {
    this.ensureOpen();
    checkSnapshot(snapshot, this.snapshot?.meta.index ?? 0);
    this.rewrite(snapshot, Number.POSITIVE_INFINITY);
  }

  /** Idempotent. */
  close(): void {
    if (!this.open) return;
    this.open = false;
    closeSync(this.fd);
    this.lock.release();
  }

  // ---- inside ----

  private ensureOpen(): void {
    if (!this.open) throw new RaftStorageError('closed', this.path);
  }

  /** The index of slots[0]. */
  private base(): number {
    return (this.snapshot?.meta.index ?? 0) + 1;
  }

  private logView(): LogView {
    const snapshotIndex = this.snapshot?.meta.index ?? 0;
    const base = snapshotIndex + 1;
    return {
      snapshotIndex,
      snapshotTerm: this.snapshot?.meta.term ?? 0,
      lastIndex: snapshotIndex + this.slots.length,
      termAt: (i) => this.slots[i - base]?.term,
    };
  }

  /** The stored entries lo..hi as rows (those not stored are left out: decodeRange then refuses). */
  private rows(lo: Index, hi: Index): LogRow[] {
    const base = this.base();
    const out: LogRow[] = [];
    for (let i = Math.max(lo, base); i <= hi && i - base < this.slots.length; i++) {
      const s = this.slots[i - base]!;
      const row = parseEntry(this.read(s.at, s.bytes));
      // Checked when the file was opened: a different row now means the file changed under us.
      if (row === null || row.index !== i || row.term !== s.term) throw new RaftStorageError('corrupt_log', `entry ${i}: its record changed since the file was opened`);
      out.push(row);
    }
    return out;
  }

  /** `bytes` bytes at `at`, as UTF-8 text. */
  private read(at: number, bytes: number): string {
    const b = this.bytesAt(at, bytes);
    if (b === null) throw new RaftStorageError('corrupt_log', `${this.path}: ${bytes} bytes at ${at} are not all there`);
    return b.toString('utf8');
  }

  /**
   * `bytes` bytes of the file at `at` (null when it ends first), as a view valid until the next read. Reads go
   * through a window of WINDOW_BYTES or more: reading records in order (opening, load, a compaction's copy)
   * costs one system call a window, not one or two a record.
   */
  private bytesAt(at: number, bytes: number): Buffer | null {
    const w = this.window;
    if (at >= w.at && at + bytes <= w.at + w.bytes) return w.buf.subarray(at - w.at, at - w.at + bytes);
    const want = Math.max(WINDOW_BYTES, bytes);
    // The reused buffer grows to WINDOW_MAX_BYTES; a bigger record (a large snapshot) gets one of its own.
    const buf = want <= w.buf.length ? w.buf : want <= WINDOW_MAX_BYTES ? Buffer.allocUnsafe(Math.min(WINDOW_MAX_BYTES, Math.max(want, w.buf.length * 2))) : Buffer.allocUnsafe(want);
    let n = 0;
    while (n < want) {
      const got = readSync(this.fd, buf, n, want - n, at + n);
      if (got === 0) break;
      n += got;
    }
    if (buf.length <= WINDOW_MAX_BYTES) this.window = { buf, at, bytes: n };
    else this.window = { buf: w.buf, at: 0, bytes: 0 };
    return n < bytes ? null : buf.subarray(0, bytes);
  }

  /** The window's bytes no longer stand for the file (it was written, cut or replaced). */
  private dropWindow(): void {
    this.window = { buf: this.window.buf, at: 0, bytes: 0 };
  }

  /** Write `parts` at `at` and sync; on failure cut the file back to `at`, so no half-written record stays. */
  private writeDurably(parts: readonly Buffer[], at: number): void {
    this.dropWindow();
    try {
      writeAllAt(this.fd, parts, at);
      fdatasyncSync(this.fd);
    } catch (e) {
      try {
        ftruncateSync(this.fd, at);
      } catch {
        // The records after `at` are unsynced and fail their checks at the next open, which cuts them off.
      }
      throw e;
    }
  }

  /**
   * Replace the file by one holding `snapshot`, the hard state, and the stored entries from `keepFrom` on
   * (their records copied as they are): written beside it, synced, renamed over it, the directory synced.
   */
  private rewrite(snapshot: Snapshot, keepFrom: number): void {
    const next = `${this.path}.next`;
    const fd = openSync(next, 'w');
    const base = this.base();
    const kept: Slot[] = [];
    let snap: { meta: SnapshotMeta; at: number; bytes: number };
    let size = 0;
    try {
      // The snapshot and the hard state as one write; each kept entry as one (the file is whole once renamed).
      const sb = snapshotBody(snapshot);
      const parts = [header(), ...sealed([sb, hardStateBody(this.hardState)])];
      snap = { meta: copyMeta(snapshot.meta), at: HEADER_BYTES + RECORD_HEAD_BYTES + 1, bytes: sb.length - 1 };
      for (const p of parts) size += p.length;
      writeAllAt(fd, parts, 0);
      let chunk: Buffer[] = [];
      let chunkAt = size;
      for (const s of this.slots.slice(Math.max(0, keepFrom - base))) {
        const stored = this.bytesAt(s.at - 1, s.bytes + 1);
        if (stored === null) throw new RaftStorageError('corrupt_log', `${this.path}: short record at ${s.at}`);
        const body = Buffer.from(stored);
        body[0] = ENTRY;
        chunk.push(...sealed([body]));
        kept.push({ term: s.term, kind: s.kind, at: size + RECORD_HEAD_BYTES + 1, bytes: s.bytes });
        size += RECORD_HEAD_BYTES + body.length;
        if (size - chunkAt >= WINDOW_MAX_BYTES) {
          writeAllAt(fd, chunk, chunkAt);
          chunk = [];
          chunkAt = size;
        }
      }
      writeAllAt(fd, chunk, chunkAt);
      fdatasyncSync(fd);
    } catch (e) {
      closeSync(fd);
      rmSync(next, { force: true });
      throw e;
    }
    closeSync(fd);
    renameSync(next, this.path);
    fsyncDir(dirname(this.path));
    closeSync(this.fd);
    this.fd = openSync(this.path, 'r+');
    this.dropWindow();
    this.snapshot = snap;
    this.slots = kept;
    this.size = size;
  }

  /** Read every record from the start, rebuilding the in-memory view; cut a torn tail (see the header). */
  private scan(): LogFileRepair | null {
    const fileBytes = fstatSync(this.fd).size;
    const h = this.bytesAt(0, HEADER_BYTES);
    if (h === null || h.toString('latin1', 0, 6) !== MAGIC) {
      throw new RaftStorageError('corrupt_log', `${this.path} is not a DistriQueue Raft log`);
    }
    const version = h.readUInt16LE(6);
    if (version !== FORMAT_VERSION) throw new RaftStorageError('unsupported_schema', `${this.path}: log format ${version}, this build reads ${FORMAT_VERSION}`);
    let at = HEADER_BYTES;
    /** Where the write being read began, and its records so far (taken once its last one is read). */
    let writeAt = at;
    let pending: { type: number; text: string; at: number; bytes: number }[] = [];
    let torn: string | null = null;
    while (at < fileBytes) {
      const head = this.bytesAt(at, RECORD_HEAD_BYTES);
      if (head === null) {
        torn = `a record head at ${at} cut short`;
        break;
      }
      const bytes = head.readUInt32LE(0);
      const crc = head.readUInt32LE(4);
      if (bytes < 1 || bytes > MAX_RECORD_BYTES || at + RECORD_HEAD_BYTES + bytes > fileBytes) {
        torn = `a record of ${bytes} bytes at ${at} does not fit in the file`;
        break;
      }
      const body = this.bytesAt(at + RECORD_HEAD_BYTES, bytes)!; // there: the size was checked above
      if (crc32(body) !== crc) {
        torn = `the record at ${at} fails its check`;
        break;
      }
      const type = body[0]! & ~END;
      pending.push({ type, text: headText(type, body), at: at + RECORD_HEAD_BYTES + 1, bytes: bytes - 1 });
      at += RECORD_HEAD_BYTES + bytes;
      if ((body[0]! & END) !== 0) {
        for (const r of pending) this.take(r, writeAt === HEADER_BYTES && r === pending[0]);
        pending = [];
        writeAt = at;
      }
    }
    if (torn === null && pending.length > 0) torn = `the file ends inside the write that began at ${writeAt}`;
    this.size = writeAt;
    if (torn === null) return null;
    ftruncateSync(this.fd, writeAt);
    fdatasyncSync(this.fd);
    this.dropWindow();
    return { droppedBytes: fileBytes - writeAt, reason: torn };
  }

  /** Apply one record read back (`first`: the file's first, the only place a snapshot may be). */
  private take(r: { type: number; text: string; at: number; bytes: number }, first: boolean): void {
    if (r.type === ENTRY) {
      const row = parseEntry(r.text);
      if (row === null || !isEntryKind(row.kind)) throw new RaftStorageError('corrupt_log', `${this.path}: the entry record at ${r.at} is malformed`);
      const base = this.base();
      if (row.index < base || row.index > base + this.slots.length) {
        throw new RaftStorageError('corrupt_log', `${this.path}: entry ${row.index} follows ${base + this.slots.length - 1}`);
      }
      // An entry the log holds already: it and everything after it were replaced (conflict truncation).
      this.slots.length = row.index - base;
      this.slots.push({ term: row.term, kind: row.kind, at: r.at, bytes: r.bytes });
    } else if (r.type === HARD_STATE) {
      const hs = parseHardState(r.text);
      if (hs === null) throw new RaftStorageError('corrupt_state', `${this.path}: the hard state record at ${r.at}`);
      this.hardState = hs;
    } else if (r.type === SNAPSHOT && first) {
      const meta = parseSnapshotMeta(r.text);
      if (meta === null) throw new RaftStorageError('corrupt_state', `${this.path}: the snapshot record`);
      this.snapshot = { meta, at: r.at, bytes: r.bytes };
    } else {
      throw new RaftStorageError('corrupt_log', `${this.path}: a record of type ${r.type} at ${r.at}`);
    }
  }
}

