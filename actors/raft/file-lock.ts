// One writer per Raft log: an exclusive lock on a file beside the log
// (`<log>.lock`), held for as long as the log is open. Two members started on
// the same directory (two containers on one volume, a node started twice by
// hand) would otherwise both append to one log, each taking the other's votes
// and entries for its own: Raft's safety rests on a member never forgetting
// those, and neither engine stops a second process by itself (an append-only
// file has no locking; SQLite lets a second writer in between transactions).
//
// The lock is the operating system's: a POSIX byte-range lock, taken through
// SQLite (an empty database held in an EXCLUSIVE transaction that never
// commits; Node has no flock of its own). So:
// - the kernel drops it when the holder dies, however it dies: a lock is never
//   stale, and there is no pid or host name to interpret (a pid file gets both
//   wrong across containers: separate pid namespaces, shared or changing host
//   names);
// - it holds between processes and containers that share the file on one
//   kernel, and on network file systems that lock byte ranges (NFS with lockd);
// - SQLite makes two connections of one process exclude each other too (POSIX
//   locks alone are per process), so a second open in this process is refused
//   as well.
// The lock file is never deleted: a process could be about to lock it, and
// would then lock a file nobody else sees. Beside it, `<log>.lock.owner` notes
// who holds the lock (pid, host; the file's time says since when): for the
// error message only.
import { readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { hostname } from 'node:os';
import Database from 'better-sqlite3';

/** Who holds a lock, as the holder noted it. */
export interface LockNote {
  readonly pid: number;
  readonly host: string;
  /** When it took the lock: the note's modification time (no clock is read here). */
  readonly since: Date;
}

/** The lock is held by another process (or another open in this one). */
export class LockHeld extends Error {
  constructor(
    readonly path: string,
    /** What the holder noted beside the lock; null when it left no readable note. */
    readonly holder: LockNote | null,
  ) {
    super(
      holder === null
        ? `${path} is held by another process (it left no note of itself)`
        : `${path} is held by pid ${holder.pid} on ${holder.host} since ${holder.since.toISOString()}`,
    );
    this.name = 'LockHeld';
  }
}

function readNote(path: string): LockNote | null {
  try {
    const o = JSON.parse(readFileSync(path, 'utf8')) as { pid?: unknown; host?: unknown };
    return Number.isSafeInteger(o.pid) && typeof o.host === 'string' ? { pid: o.pid as number, host: o.host, since: statSync(path).mtime } : null;
  } catch {
    return null;
  }
}

/** A lock this process holds until release(). */
export class FileLock {
  private db: Database.Database | null;

  private constructor(
    readonly path: string,
    db: Database.Database,
  ) {
    this.db = db;
  }

  /**
   * Takes the lock at `path` (creating the file if needed) without waiting: throws LockHeld when it is held,
   * other errors (a read-only directory) as they come.
   */
  static acquire(path: string): FileLock {
    // timeout 0: refused at once, not after better-sqlite3's default five seconds of retries.
    const db = new Database(path, { timeout: 0 });
    try {
      db.pragma('locking_mode = EXCLUSIVE');
      db.exec('BEGIN EXCLUSIVE');
    } catch (e) {
      db.close();
      if ((e as { code?: unknown }).code === 'SQLITE_BUSY') throw new LockHeld(path, readNote(`${path}.owner`));
      throw e;
    }
    // Informational only: a crash between the lock and this write leaves an old note, corrected by the next holder.
    writeFileSync(`${path}.owner`, `${JSON.stringify({ pid: process.pid, host: hostname() })}\n`);
    return new FileLock(path, db);
  }

  /** Removes the note, then lets the lock go. Idempotent. */
  release(): void {
    const db = this.db;
    if (db === null) return;
    this.db = null;
    rmSync(`${this.path}.owner`, { force: true });
    db.close();
  }
}
