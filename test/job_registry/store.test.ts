// The store's event pieces (store.ts, EVENT_KEY_N) at their edges, driven
// through the store directly: the machine never flushes in the middle of an
// entry, so these paths are reachable only from here.
import Database from 'better-sqlite3';
import { afterEach, describe, expect, it } from 'vitest';
import { RegistryStore } from '../../actors/job_registry/store.js';
import type { JobEvent, JobId } from '../../actors/job_registry/types.js';

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
