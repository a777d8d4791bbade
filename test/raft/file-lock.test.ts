// The lock beside each Raft log (actors/raft/file-lock.ts): an OS lock, so it
// excludes a second open in this process and in another, and dies with its
// holder. The storage tests (storage.test.ts, "one process per log") hold a log
// open in a real child process and kill it.
import { spawn } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { hostname, tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { FileLock, LockHeld } from '../../actors/raft/file-lock.js';

describe('FileLock', () => {
  let dir = '';
  let path = '';
  beforeEach(() => {
    dir = mkdtempSync(join(tmpdir(), 'dq-lock-'));
    path = join(dir, 'raft.log.lock');
  });
  afterEach(() => rmSync(dir, { recursive: true, force: true }));

  const caught = (f: () => unknown): unknown => {
    try {
      f();
    } catch (e) {
      return e;
    }
    return undefined;
  };

  it('is held until released, names its holder beside it, and is free again after', () => {
    const lock = FileLock.acquire(path);
    expect(JSON.parse(readFileSync(`${path}.owner`, 'utf8'))).toEqual({ pid: process.pid, host: hostname() });
    const e = caught(() => FileLock.acquire(path));
    expect(e).toBeInstanceOf(LockHeld);
    expect((e as LockHeld).holder).toMatchObject({ pid: process.pid, host: hostname() });
    expect((e as Error).message).toContain(`is held by pid ${process.pid} on ${hostname()} since `);
    lock.release();
    lock.release();
    // The note goes; the lock file stays (deleting it could let two processes lock two different files).
    expect(existsSync(`${path}.owner`)).toBe(false);
    expect(statSync(path).isFile()).toBe(true);
    FileLock.acquire(path).release();
  });

  it('refuses with what it can say when the holder left no readable note', () => {
    const lock = FileLock.acquire(path);
    writeFileSync(`${path}.owner`, '{"pid":');
    const e = caught(() => FileLock.acquire(path));
    expect(e).toBeInstanceOf(LockHeld);
    expect((e as LockHeld).holder).toBeNull();
    expect((e as Error).message).toBe(`${path} is held by another process (it left no note of itself)`);
    lock.release();
  });

  it('excludes another process, and is free once that process is killed (nothing stale is left to judge)', async () => {
    const holder = spawn(
      process.execPath,
      ['--import', 'tsx', '-e', `import { FileLock } from ${JSON.stringify(join(process.cwd(), 'actors/raft/file-lock.ts'))}; FileLock.acquire(${JSON.stringify(path)}); console.log('held'); setInterval(() => {}, 1000);`],
      { stdio: ['ignore', 'pipe', 'inherit'] },
    );
    const exited = new Promise<void>((done) => holder.on('exit', () => done()));
    try {
      await new Promise<void>((held) => holder.stdout.on('data', (d: Buffer) => String(d).includes('held') && held()));
      const e = caught(() => FileLock.acquire(path));
      expect(e).toBeInstanceOf(LockHeld);
      expect((e as LockHeld).holder?.pid).toBe(holder.pid);
    } finally {
      holder.kill('SIGKILL');
      await exited;
    }
    const lock = FileLock.acquire(path);
    // Its note replaced the dead holder's.
    expect(JSON.parse(readFileSync(`${path}.owner`, 'utf8')).pid).toBe(process.pid);
    lock.release();
  });
});
