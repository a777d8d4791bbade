// The lock beside each Raft log (actors/raft/file-lock.ts): who may take it over
// and who may not. Other holders are faked through the injected LockHost, except
// in the last test, which asks this machine about a process that really runs.
import { mkdtempSync, readFileSync, readdirSync, rmSync, utimesSync, writeFileSync } from 'node:fs';
import { hostname, tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { FileLock, type LockHost, LockHeld, type LockOwner, thisHost } from '../../actors/raft/file-lock.js';

/** A host where process 100 is us and `others` are the other processes that run, with their start times. */
function fakeHost(others: Record<number, string>): LockHost {
  let tokens = 0;
  return {
    pid: 100,
    host: 'here',
    processInfo: (pid) => (pid === 100 ? { running: true, start: '5000' } : pid in others ? { running: true, start: others[pid]! } : { running: false, start: null }),
    token: () => `t${++tokens}`,
  };
}

const owner = (o: Partial<LockOwner>): LockOwner => ({ pid: 200, host: 'here', start: '7000', token: 'abcd', ...o });

describe('FileLock', () => {
  let dir = '';
  let path = '';
  beforeEach(() => {
    dir = mkdtempSync(join(tmpdir(), 'dq-lock-'));
    path = join(dir, 'raft.log.lock');
  });
  afterEach(() => rmSync(dir, { recursive: true, force: true }));

  const held = (): LockOwner => JSON.parse(readFileSync(path, 'utf8')) as LockOwner;
  const caught = (f: () => unknown): unknown => {
    try {
      f();
    } catch (e) {
      return e;
    }
    return undefined;
  };

  it('takes a free lock, names this process in it, and removes it on release', () => {
    const lock = FileLock.acquire(path, fakeHost({}));
    expect(held()).toEqual({ pid: 100, host: 'here', start: '5000', token: 't1' });
    lock.release();
    lock.release();
    expect(readdirSync(dir)).toEqual([]);
  });

  it('refuses while the holder runs on this host, and says who holds it', () => {
    writeFileSync(path, JSON.stringify(owner({})));
    const taken = new Date(Date.UTC(2026, 10, 23));
    utimesSync(path, taken, taken);
    const e = caught(() => FileLock.acquire(path, fakeHost({ 200: '7000' })));
    expect(e).toBeInstanceOf(LockHeld);
    expect((e as LockHeld).sameHost).toBe(true);
    expect((e as Error).message).toContain('pid 200 on here since 2026-11-23T00:00:00.000Z: stop that process first');
    expect(held().token).toBe('abcd');
    expect(readdirSync(dir)).toEqual(['raft.log.lock']);
  });

  it('takes over a lock whose process is gone, or whose pid now belongs to a process started at another time', () => {
    writeFileSync(path, JSON.stringify(owner({})));
    FileLock.acquire(path, fakeHost({})).release();
    writeFileSync(path, JSON.stringify(owner({})));
    const lock = FileLock.acquire(path, fakeHost({ 200: '9999' }));
    expect(held().pid).toBe(100);
    lock.release();
    // Without a start time on either side, a running pid is taken to be the holder.
    writeFileSync(path, JSON.stringify(owner({ start: null })));
    expect(caught(() => FileLock.acquire(path, fakeHost({ 200: '9999' })))).toBeInstanceOf(LockHeld);
  });

  it('never takes over a lock from another host, and tells the operator how to clear it', () => {
    writeFileSync(path, JSON.stringify(owner({ host: 'there' })));
    const e = caught(() => FileLock.acquire(path, fakeHost({})));
    expect(e).toBeInstanceOf(LockHeld);
    expect((e as LockHeld).sameHost).toBe(false);
    expect((e as Error).message).toContain(`remove ${path} once it has stopped`);
  });

  it('takes over an unreadable lock (a power loss cut it short; content is written before the name exists)', () => {
    writeFileSync(path, '');
    FileLock.acquire(path, fakeHost({})).release();
    writeFileSync(path, '{"pid":');
    FileLock.acquire(path, fakeHost({})).release();
    expect(readdirSync(dir)).toEqual([]);
  });

  it('a holder releasing after another took over in this process leaves the new lock in place', () => {
    const host = fakeHost({});
    const first = FileLock.acquire(path, host);
    const second = FileLock.acquire(path, host);
    first.release();
    expect(readdirSync(dir)).toEqual(['raft.log.lock']);
    second.release();
    expect(readdirSync(dir)).toEqual([]);
  });

  it('on this machine: a lock naming a running process (pid 1, its real start time) is held', () => {
    const init = thisHost.processInfo(1);
    expect(init.running).toBe(true);
    writeFileSync(path, JSON.stringify(owner({ pid: 1, host: hostname(), start: init.start })));
    expect(caught(() => FileLock.acquire(path))).toBeInstanceOf(LockHeld);
    // A pid that does not run here (beyond the kernel's pid_max): taken over.
    writeFileSync(path, JSON.stringify(owner({ pid: 2 ** 22 + 1, host: hostname() })));
    FileLock.acquire(path).release();
  });
});
