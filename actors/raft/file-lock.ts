// One writer per Raft log: a lock file beside the log (`<log>.lock`) naming the
// process that has it open. Two members started on the same directory (two
// containers on one volume, a node started twice by hand) would otherwise both
// append to one log, each believing its votes and entries are its own: Raft's
// safety rests on a member never forgetting those, and neither engine stops a
// second process (an append-only file has no locking; SQLite serialises the two
// writers' transactions but lets both in).
//
// Node has no flock, so this is the pid-file discipline PostgreSQL uses for its
// data directory: the lock is created atomically with its content (written to a
// private file, then hard-linked to the lock's name, which fails if the name
// exists), and a lock left by a process that is gone is taken over. "Gone" is
// decided on this host only: the pid no longer runs, runs as a zombie, or now
// belongs to a process started at another time (Linux: /proc/<pid>/stat's start
// time), so a pid reused after a reboot does not keep a log locked. A lock from
// another host is never taken over: this host cannot tell whether that process
// still runs, so the operator removes the file (the error says which).
//
// Within one process the lock is taken over as well: raft_fsm owns its storage
// (ctx.own closes it even when the fsm is killed), but a storage opened outside
// any process and never closed, or a node's runtime stopped in a test as a
// crash would stop it, must not keep this process from opening the log again.
// The old holder's close does not remove the new holder's lock (each holder
// checks its own token first).
import { randomBytes } from 'node:crypto';
import { linkSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { hostname } from 'node:os';

/** What a lock file holds (JSON). `start` is the holder's start time where the OS tells it, else null. */
export interface LockOwner {
  readonly pid: number;
  readonly host: string;
  readonly start: string | null;
  /** Which holder this is: a process that reopens the log takes a new token. */
  readonly token: string;
}

/** Why a lock could not be taken: the holder (still running here, or on another host) and the lock's path. */
export class LockHeld extends Error {
  constructor(
    readonly path: string,
    readonly owner: LockOwner,
    readonly sameHost: boolean,
    /** When the lock was taken: its file's modification time (no clock is read here). */
    readonly since: Date | null,
  ) {
    super(
      `${path} is held by pid ${owner.pid} on ${owner.host}${since === null ? '' : ` since ${since.toISOString()}`}` +
        (sameHost ? ': stop that process first' : `: this host cannot tell whether it still runs; remove ${path} once it has stopped`),
    );
    this.name = 'LockHeld';
  }
}

interface ProcInfo {
  /** False for no such process, or a zombie (dead, not yet reaped by its parent). */
  readonly running: boolean;
  readonly start: string | null;
}

/** The injected view of this host's processes (tests replace it to fake other holders). */
export interface LockHost {
  readonly pid: number;
  readonly host: string;
  processInfo(pid: number): ProcInfo;
  /** A fresh token naming one holder (unique among this log's holders). */
  token(): string;
}

/** Linux: /proc/<pid>/stat, fields after the command name: 1 is the state, 20 the start time (clock ticks since boot). */
function procStat(pid: number): readonly string[] | null {
  try {
    const text = readFileSync(`/proc/${pid}/stat`, 'utf8');
    return text.slice(text.lastIndexOf(')') + 2).split(' ');
  } catch {
    return null;
  }
}

function signalZero(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (e) {
    // EPERM: it exists, as another user's process.
    return (e as NodeJS.ErrnoException).code === 'EPERM';
  }
}

export const thisHost: LockHost = {
  pid: process.pid,
  host: hostname(),
  processInfo(pid) {
    const stat = procStat(pid);
    if (stat !== null) return { running: stat[0] !== 'Z' && stat[0] !== 'X', start: stat[19] ?? null };
    return { running: signalZero(pid), start: null };
  },
  token: () => randomBytes(8).toString('hex'),
};

function readOwner(path: string): LockOwner | null {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return null;
    throw e;
  }
  try {
    const o = JSON.parse(text) as Partial<LockOwner>;
    if (Number.isSafeInteger(o.pid) && typeof o.host === 'string' && typeof o.token === 'string') {
      return { pid: o.pid!, host: o.host, start: typeof o.start === 'string' ? o.start : null, token: o.token };
    }
  } catch {
    // fall through: unreadable
  }
  // Content is written before the name exists, so a lock without it is one a power loss cut short: its holder is gone.
  return { pid: 0, host: '', start: null, token: '' };
}

function modifiedAt(path: string): Date | null {
  try {
    return statSync(path).mtime;
  } catch {
    return null;
  }
}

/** Whether `owner`'s process is gone, as far as `host` can tell (null: it cannot tell). */
function isStale(owner: LockOwner, host: LockHost): boolean | null {
  if (owner.token === '') return true;
  if (owner.host !== host.host) return null;
  if (owner.pid === host.pid) return true; // an earlier holder in this process (see the header)
  const p = host.processInfo(owner.pid);
  if (!p.running) return true;
  return owner.start !== null && p.start !== null && owner.start !== p.start;
}

/** A lock this process holds until release(). */
export class FileLock {
  private held = true;

  private constructor(
    readonly path: string,
    private readonly token: string,
  ) {}

  /**
   * Takes the lock at `path`, taking over a stale one (see the header). Throws LockHeld when a live
   * process has it, or a process on another host; other errors (a read-only directory) as they come.
   */
  static acquire(path: string, host: LockHost = thisHost): FileLock {
    const token = host.token();
    const owner: LockOwner = { pid: host.pid, host: host.host, start: host.processInfo(host.pid).start, token };
    const draft = `${path}.${token}`;
    writeFileSync(draft, `${JSON.stringify(owner)}\n`);
    try {
      // A stale lock is removed and the link tried again; more rounds only if rivals keep taking the name over.
      for (let round = 0; round < 3; round++) {
        try {
          linkSync(draft, path);
          return new FileLock(path, token);
        } catch (e) {
          if ((e as NodeJS.ErrnoException).code !== 'EEXIST') throw e;
        }
        const holder = readOwner(path);
        if (holder === null) continue; // released between our link and our read
        const stale = isStale(holder, host);
        if (stale !== true) throw new LockHeld(path, holder, stale !== null, modifiedAt(path));
        // Only if it is still the stale one: a rival taking over at the same moment keeps its fresh lock.
        if (readOwner(path)?.token === holder.token) rmSync(path, { force: true });
      }
      throw new Error(`${path}: several processes are taking this lock at once`);
    } finally {
      rmSync(draft, { force: true });
    }
  }

  /** Removes the lock if it is still this holder's (a later holder in this process may have taken it over). Idempotent. */
  release(): void {
    if (!this.held) return;
    this.held = false;
    if (readOwner(this.path)?.token === this.token) rmSync(this.path, { force: true });
  }
}
