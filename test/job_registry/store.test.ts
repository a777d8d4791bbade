// The store's event pieces (store.ts, EVENT_KEY_N) at their edges, driven
// through the store directly: the machine never flushes in the middle of an
// entry, so these paths are reachable only from here. Then a store kept in a
// file: its file's life (the machine tests run file-backed machines too).
import { existsSync, mkdtempSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { RegistryStore } from '../../actors/job_registry/store.js';
import type { Job, JobEvent, JobId } from '../../actors/job_registry/types.js';

let open: RegistryStore[] = [];
function store(): RegistryStore {
  const s = new RegistryStore();
  open.push(s);
  return s;
}
afterEach(() => {
  for (const s of open) s.close();
  open = [];
});

const ev = (seq: number, n: number, at = 1_000): JobEvent => ({ seq, n, at, kind: 'submitted', jobId: `j${seq}.${n}` as JobId, status: 'pending', attempt: 1, worker: null, detail: null });
const keys = (es: readonly JobEvent[]): string[] => es.map((e) => `${e.seq}.${e.n}`);

describe('event pieces', () => {
  it('an entry whose events were flushed half-way reads back whole and numbered in order', () => {
    const s = store();
    s.transaction(() => {
      s.event(ev(1, 0));
      s.event(ev(2, 0));
      s.event(ev(2, 1));
      expect(keys(s.events(0, 100))).toEqual(['1.0', '2.0', '2.1']); // a read flushes, mid-entry
      s.event(ev(2, 2));
      s.event(ev(3, 0));
    });
    expect(keys(s.events(0, 100))).toEqual(['1.0', '2.0', '2.1', '2.2', '3.0']);
    expect(keys(s.events(1, 100))).toEqual(['2.0', '2.1', '2.2', '3.0']);
    // A page that would end inside entry 2 takes the rest of it.
    expect(keys(s.events(0, 2))).toEqual(['1.0', '2.0', '2.1', '2.2']);
  });

  it('events applied outside a transaction extend the piece of their entry', () => {
    const s = store();
    s.event(ev(5, 0));
    s.event(ev(5, 1));
    s.event(ev(6, 0));
    expect(keys(s.events(4, 100))).toEqual(['5.0', '5.1', '6.0']);
    expect(keys(s.events(5, 100))).toEqual(['6.0']);
  });

  it('an event behind what was written is a bug, refused', () => {
    const s = store();
    s.event(ev(5, 0));
    s.event(ev(6, 0));
    expect(() => s.event(ev(5, 1))).toThrow(/seq 5/);
  });

  it('retention cuts inside a piece at an entry boundary, and the rest reads on from there', () => {
    const s = store();
    s.transaction(() => {
      for (let seq = 1; seq <= 6; seq++) for (let n = 0; n < 2; n++) s.event(ev(seq, n, 1_000 + seq));
    });
    // 3 events older than 1_004 → the cut is after the entry of the 3rd (seq 2), whole.
    expect(s.pruneEvents(1_004, 3)).toEqual({ removed: 4, through: 2, more: true });
    expect(keys(s.events(2, 100))).toEqual(['3.0', '3.1', '4.0', '4.1', '5.0', '5.1', '6.0', '6.1']);
    expect(s.pruneEvents(1_004, 100)).toEqual({ removed: 2, through: 3, more: false });
    expect(keys(s.events(3, 100))).toEqual(['4.0', '4.1', '5.0', '5.1', '6.0', '6.1']);
    expect(s.pruneEvents(1_004, 100)).toEqual({ removed: 0, through: 0, more: false });
  });

  it('a snapshot of another table layout is refused, not misread', () => {
    const s = store();
    const other = new Database(':memory:');
    other.exec('CREATE TABLE jobs (id TEXT)');
    const image = other.serialize();
    other.close();
    expect(() => s.restore(image)).toThrow(/table layout 0/);
    // The store still serves what it held.
    s.event(ev(1, 0));
    expect(keys(s.events(0, 10))).toEqual(['1.0']);
  });
});

describe('a store in a file', () => {
  let dir = '';
  beforeAll(() => {
    dir = mkdtempSync(join(tmpdir(), 'dq-registry-store-'));
  });
  afterAll(() => rmSync(dir, { recursive: true, force: true }));
  const job = (id: string): Job => ({ id: id as JobId, type: 't', priority: 1, payload: { n: id }, status: 'completed', attempt: 1, retries: 0, maxRetries: 0, timeoutS: 60, worker: 'w', progress: null, result: { ok: true }, error: null, timedOut: false, idempotencyKey: null, metadata: {}, parentId: null, createdAt: 1, updatedAt: 2, runAt: 1, dispatchedAt: 1, startedAt: 1, finishedAt: 2 });

  it('starts afresh over whatever the file held, keeps its tables there, and removes the file when closed', () => {
    const file = join(dir, 'fresh.db');
    writeFileSync(file, 'not a database: a previous run, or anything else');
    const s = new RegistryStore({ file, writeBehindJobs: 0 });
    s.transaction(() => {
      for (let i = 0; i < 2_000; i++) s.insert(job(`j${i}`), JSON.stringify({ n: `j${i}` }));
    });
    expect(statSync(file).size).toBeGreaterThan(100_000);
    // The tables are in the file: another connection reads them.
    const peek = new Database(file, { readonly: true });
    expect(peek.prepare('SELECT count(*) AS n FROM jobs').get()).toEqual({ n: 2_000 });
    peek.close();
    expect(s.get('j1999')).toMatchObject({ id: 'j1999', payload: { n: 'j1999' }, status: 'completed' });
    s.close();
    expect(existsSync(file)).toBe(false);
  });

  it('a store closed after another started afresh at its path leaves the newer one its file', () => {
    const file = join(dir, 'late.db');
    const old = new RegistryStore({ file, writeBehindJobs: 0 });
    const next = new RegistryStore({ file, writeBehindJobs: 0 });
    open.push(next);
    next.transaction(() => next.insert(job('newer'), '{"n":"newer"}'));
    old.close();
    expect(existsSync(file)).toBe(true);
    const peek = new Database(file, { readonly: true });
    expect(peek.prepare('SELECT id FROM jobs').all()).toEqual([{ id: 'newer' }]);
    peek.close();
  });

  it('restores an image into its file, and a refused image leaves it as it was, with nothing staged left behind', () => {
    const mem = store();
    mem.transaction(() => mem.insert(job('from-image'), '{"n":"from-image"}'));
    const image = mem.serialize();
    const file = join(dir, 'restore.db');
    const s = new RegistryStore({ file });
    open.push(s);
    s.transaction(() => s.insert(job('replaced'), '{"n":"replaced"}'));
    s.restore(image);
    expect(s.get('replaced')).toBeNull();
    expect(s.get('from-image')).toMatchObject({ payload: { n: 'from-image' } });
    const other = new Database(':memory:');
    other.pragma('user_version = 1');
    expect(() => s.restore(other.serialize())).toThrow(/table layout 1/);
    other.close();
    expect(s.get('from-image')).toMatchObject({ payload: { n: 'from-image' } });
    expect(existsSync(`${file}.restore`)).toBe(false);
    // What was restored is in the file itself.
    const peek = new Database(file, { readonly: true });
    expect(peek.prepare('SELECT id FROM jobs').all()).toEqual([{ id: 'from-image' }]);
    peek.close();
  });
});
