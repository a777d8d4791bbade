// One conformance suite for every RaftStorage (log file, SQLite and memory),
// then what only the engines on disk do: surviving a SIGKILL (both), the log
// file's torn-tail repair and format checks, SQLite's durability pragmas, and
// openStorage's file names and engine guard.
import { spawn, spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, readdirSync, rmSync, statSync, truncateSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import Database from 'better-sqlite3';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { entryTexts } from '../../actors/raft/entry-text.js';
import { ColdEntry } from '../../actors/raft/log.js';
import type { RaftMessage } from '../../actors/raft/messages.js';
import { LogFileStorage } from '../../actors/raft/logfile.js';
import { openStorage } from '../../actors/raft/open-storage.js';
import { MemoryDisk, MemoryStorage, RaftStorageError, SqliteStorage, hydrateAppend, type RaftStorageErrorCode } from '../../actors/raft/storage.js';
import { crc32 } from 'node:zlib';
import type { HardState, LogEntry, NodeId, RaftStorage, Snapshot } from '../../actors/raft/types.js';

const n = (id: string): NodeId => id as NodeId;

/** A direct edit of what is on "disk", behind the storage's back. */
type Corruption = { readonly type: 'delete_entry'; readonly index: number } | { readonly type: 'set_term'; readonly index: number; readonly term: number };

/** Where one test's storage lives: open it (again), corrupt it while closed, remove it. */
interface Place {
  open(): RaftStorage;
  corrupt(c: Corruption): void;
  dispose(): void;
}

function tempDir(): string {
  return mkdtempSync(join(tmpdir(), 'dq-raft-storage-'));
}

/** A fresh directory for each test of the enclosing describe (handed to `use`), removed after it. */
function tempDirEachTest(use: (dir: string) => void): void {
  let dir = '';
  beforeEach(() => {
    dir = tempDir();
    use(dir);
  });
  afterEach(() => rmSync(dir, { recursive: true, force: true }));
}

/** A log file's records (type byte and text), as logfile.ts lays them out. */
interface LogRecord {
  type: number;
  text: string;
}

function readLogRecords(file: string): LogRecord[] {
  const b = readFileSync(file);
  const out: LogRecord[] = [];
  for (let at = 8; at < b.length; ) {
    const bytes = b.readUInt32LE(at);
    const body = b.subarray(at + 8, at + 8 + bytes);
    out.push({ type: body[0]!, text: body.toString('utf8', 1) });
    at += 8 + bytes;
  }
  return out;
}

/** Rewrite a log file's records with `edit`, each with a correct check: damage a reader cannot tell from data. */
function editLogFile(file: string, edit: (records: LogRecord[]) => LogRecord[]): void {
  const head = readFileSync(file).subarray(0, 8);
  const parts: Buffer[] = [head];
  for (const r of edit(readLogRecords(file))) {
    const body = Buffer.from(`${String.fromCharCode(r.type)}${r.text}`, 'utf8');
    const h = Buffer.alloc(8);
    h.writeUInt32LE(body.length, 0);
    h.writeUInt32LE(crc32(body), 4);
    parts.push(h, body);
  }
  writeFileSync(file, Buffer.concat(parts));
}

const entryIndex = (r: LogRecord): number => Number(r.text.split(' ', 1)[0]);

const implementations: readonly { readonly name: string; readonly place: () => Place }[] = [
  {
    name: 'LogFileStorage',
    place: () => {
      const dir = tempDir();
      const file = join(dir, 'raft.log');
      return {
        open: () => new LogFileStorage(file),
        corrupt: (c) =>
          editLogFile(file, (records) =>
            c.type === 'delete_entry'
              ? records.filter((r) => r.type !== 1 || entryIndex(r) !== c.index)
              : records.map((r) => (r.type === 1 && entryIndex(r) === c.index ? { type: 1, text: r.text.replace(/^(\d+) \d+ /, `$1 ${c.term} `) } : r)),
          ),
        dispose: () => rmSync(dir, { recursive: true, force: true }),
      };
    },
  },
  {
    name: 'SqliteStorage',
    place: () => {
      const dir = tempDir();
      const file = join(dir, 'raft.sqlite');
      return {
        open: () => new SqliteStorage(file),
        corrupt: (c) => {
          const db = new Database(file);
          if (c.type === 'delete_entry') db.prepare('DELETE FROM log WHERE idx = ?').run(c.index);
          else db.prepare('UPDATE log SET term = ? WHERE idx = ?').run(c.term, c.index);
          db.close();
        },
        dispose: () => rmSync(dir, { recursive: true, force: true }),
      };
    },
  },
  {
    name: 'MemoryStorage',
    place: () => {
      const disk = new MemoryDisk();
      return {
        open: () => new MemoryStorage(disk),
        corrupt: (c) => {
          if (c.type === 'delete_entry') disk.entries = disk.entries.filter((e) => e.index !== c.index);
          else disk.entries = disk.entries.map((e) => (e.index === c.index ? { ...e, term: c.term } : e));
        },
        dispose: () => {},
      };
    },
  },
];

function entry(index: number, term: number, data: unknown = { op: 'submit', id: `job-${index}` }): LogEntry {
  return { index, term, kind: 'command', data };
}

/** Entries from..to inclusive, all in `term`. */
function range(from: number, to: number, term: number): LogEntry[] {
  const out: LogEntry[] = [];
  for (let i = from; i <= to; i++) out.push(entry(i, term));
  return out;
}

function snapshot(index: number, term: number, data = `state@${index}`): Snapshot {
  return { meta: { index, term, voters: [n('n1'), n('n2'), n('n3')] }, data };
}

function expectCode(f: () => unknown, code: RaftStorageErrorCode): void {
  let thrown: unknown;
  try {
    f();
  } catch (e) {
    thrown = e;
  }
  expect(thrown).toBeInstanceOf(RaftStorageError);
  expect((thrown as RaftStorageError).code).toBe(code);
}

const indexes = (s: RaftStorage): number[] => s.load().entries.map((e) => e.index);

describe.each(implementations)('$name conforms to RaftStorage', ({ place: makePlace }) => {
  let place: Place;
  let opened: RaftStorage[];
  const open = (): RaftStorage => {
    const s = place.open();
    opened.push(s);
    return s;
  };

  beforeEach(() => {
    place = makePlace();
    opened = [];
  });
  afterEach(() => {
    for (const s of opened) s.close();
    place.dispose();
  });

  it('loads an empty store as term 0, no vote, no snapshot, no entries', () => {
    expect(open().load()).toEqual({ hardState: { term: 0, vote: null, commit: 0 }, snapshot: null, entries: [] });
  });

  it('returns appended entries in order with their kinds and data', () => {
    const s = open();
    const batch: LogEntry[] = [
      { index: 1, term: 1, kind: 'noop', data: null },
      { index: 2, term: 1, kind: 'config', data: { voters: ['n1', 'n2', 'n3'] } },
      { index: 3, term: 1, kind: 'command', data: { type: 'submit', job: { id: 'j1', priority: 'high', payload: [1, 'two', { three: 3.5 }] } } },
    ];
    s.append(batch);
    s.append([entry(4, 2, 'a string'), entry(5, 2, 42)]);
    expect(s.load().entries).toEqual([...batch, entry(4, 2, 'a string'), entry(5, 2, 42)]);
  });

  it('reads back a range of entries, with the stored text remembered for sending; a range not all stored is an error', () => {
    const s = open();
    s.append([entry(1, 1, { a: 1 }), entry(2, 1, 'two'), { index: 3, term: 2, kind: 'noop', data: null }, entry(4, 2, [4])]);
    expect(s.entries(2, 4)).toEqual([entry(2, 1, 'two'), { index: 3, term: 2, kind: 'noop', data: null }, entry(4, 2, [4])]);
    expect(s.entries(3, 2)).toEqual([]);
    const [one] = s.entries(1, 1);
    expect(entryTexts.textOf(one!)).toBe('{"a":1}');
    for (const [lo, hi] of [
      [0, 1],
      [3, 5],
      [5, 5],
    ] as const)
      expectCode(() => s.entries(lo, hi), 'corrupt_log');
    s.saveSnapshot({ meta: { index: 2, term: 1, voters: ['n1'] as NodeId[] }, data: '{}' });
    expectCode(() => s.entries(2, 3), 'corrupt_log');
    expect(s.entries(3, 4).map((e) => e.index)).toEqual([3, 4]);
  });

  it('hydrateAppend puts the stored entries in place of cold ones (index and term checked) and leaves other messages alone', () => {
    const s = open();
    s.append([entry(1, 1, 'a'), entry(2, 1, 'b'), entry(3, 1, 'c')]);
    const hot = entry(3, 1, 'c');
    const msg: RaftMessage = { type: 'append', term: 1, prevIndex: 0, prevTerm: 0, entries: [new ColdEntry(1, 1, 'command', 3), new ColdEntry(1, 2, 'command', 3), hot], commit: 3 };
    const out = hydrateAppend(msg, s);
    expect(out).toEqual({ ...msg, entries: [entry(1, 1, 'a'), entry(2, 1, 'b'), hot] });
    expect(out.type === 'append' && out.entries[2]).toBe(hot);
    const plain: RaftMessage = { ...msg, entries: [hot] };
    expect(hydrateAppend(plain, s)).toBe(plain);
    const vote: RaftMessage = { type: 'appendResp', term: 1, success: true, match: 3 };
    expect(hydrateAppend(vote, s)).toBe(vote);
    expectCode(() => hydrateAppend({ ...msg, entries: [new ColdEntry(7, 1, 'command', 3)] }, s), 'corrupt_log');
  });

  it('stores copies: changing what was appended or loaded does not change what is stored', () => {
    const s = open();
    const data = { n: 1, list: [1] };
    s.append([entry(1, 1, data)]);
    data.n = 99;
    data.list.push(2);
    const loaded = s.load();
    (loaded.entries[0]!.data as { n: number }).n = 7;
    expect(s.load().entries[0]!.data).toEqual({ n: 1, list: [1] });
  });

  it('stores a hard state alone, and overwrites it', () => {
    const s = open();
    s.setHardState({ term: 3, vote: n('n2'), commit: 0 });
    s.setHardState({ term: 4, vote: null, commit: 2 });
    expect(s.load()).toEqual({ hardState: { term: 4, vote: null, commit: 2 }, snapshot: null, entries: [] });
  });

  it('append with no entries and a hard state writes the hard state', () => {
    const s = open();
    s.append([entry(1, 1)]);
    s.append([], { term: 2, vote: n('n1'), commit: 1 });
    expect(s.load().hardState).toEqual({ term: 2, vote: n('n1'), commit: 1 });
    expect(indexes(s)).toEqual([1]);
  });

  it('append writes entries and hard state together, or neither when the append is refused', () => {
    const s = open();
    const hs: HardState = { term: 5, vote: n('n3'), commit: 2 };
    s.append(range(1, 3, 5), hs);
    expect(s.load()).toEqual({ hardState: hs, snapshot: null, entries: range(1, 3, 5) });

    // A refused batch (its third entry cannot be encoded) changes nothing, not even the hard state.
    expectCode(() => s.append([entry(4, 6), entry(5, 6), entry(6, 6, 10n)], { term: 6, vote: null, commit: 3 }), 'unserializable_data');
    expect(s.load()).toEqual({ hardState: hs, snapshot: null, entries: range(1, 3, 5) });
  });

  it('an overlapping append replaces the conflicting suffix', () => {
    const s = open();
    s.append(range(1, 5, 1));
    s.append([entry(3, 2, 'new3'), entry(4, 2, 'new4')]);
    expect(s.load().entries).toEqual([...range(1, 2, 1), entry(3, 2, 'new3'), entry(4, 2, 'new4')]);
    // Rewriting from the very first index replaces the whole log.
    s.append([entry(1, 3, 'only')]);
    expect(s.load().entries).toEqual([entry(1, 3, 'only')]);
  });

  it('refuses appends that would break the log, and keeps the log as it was', () => {
    const s = open();
    s.append(range(1, 3, 2));
    expectCode(() => s.append([entry(5, 2)]), 'invalid_append'); // gap after 3
    expectCode(() => s.append([entry(4, 2), entry(6, 2)]), 'invalid_append'); // batch not contiguous
    expectCode(() => s.append([entry(4, 3), entry(5, 2)]), 'invalid_append'); // term decreases in the batch
    expectCode(() => s.append([entry(4, 1)]), 'invalid_append'); // term below the previous entry's
    expectCode(() => s.append([entry(0, 2)]), 'invalid_append'); // indexes start at 1
    expectCode(() => s.append([{ index: 4, term: 2, kind: 'bogus' as 'noop', data: null }]), 'invalid_append');
    expectCode(() => s.append([{ index: 4, term: 2, kind: 'command', data: undefined }]), 'unserializable_data');
    expectCode(() => s.setHardState({ term: -1, vote: null, commit: 0 }), 'invalid_hard_state');
    expect(s.load().entries).toEqual(range(1, 3, 2));
    expect(s.load().hardState).toEqual({ term: 0, vote: null, commit: 0 });
  });

  it('the first append of an empty log starts at index 1', () => {
    const s = open();
    expectCode(() => s.append([entry(2, 1)]), 'invalid_append');
    s.append([entry(1, 1)]);
    expect(indexes(s)).toEqual([1]);
  });

  it('a snapshot compacts the log: load returns it and only the entries after it', () => {
    const s = open();
    s.append([...range(1, 4, 1), ...range(5, 10, 2)]);
    s.saveSnapshot(snapshot(6, 2));
    const p = s.load();
    expect(p.snapshot).toEqual(snapshot(6, 2));
    expect(p.entries).toEqual(range(7, 10, 2));
  });

  it('a newer snapshot replaces the older one; an older one is refused', () => {
    const s = open();
    s.append(range(1, 10, 1));
    s.saveSnapshot(snapshot(4, 1));
    s.saveSnapshot(snapshot(8, 1));
    expectCode(() => s.saveSnapshot(snapshot(6, 1)), 'invalid_snapshot');
    expect(s.load().snapshot).toEqual(snapshot(8, 1));
    expect(indexes(s)).toEqual([9, 10]);
  });

  it('a compaction must cut the log at an entry it holds with the same term, else nothing changes', () => {
    const s = open();
    s.append(range(1, 8, 1));
    expectCode(() => s.saveSnapshot(snapshot(5, 2)), 'invalid_snapshot'); // entry 5 has term 1
    expectCode(() => s.saveSnapshot(snapshot(9, 1)), 'invalid_snapshot'); // past the end: installSnapshot's job
    expect(s.load()).toMatchObject({ snapshot: null, entries: range(1, 8, 1) });
    s.saveSnapshot(snapshot(8, 1));
    s.saveSnapshot(snapshot(8, 1, 'again')); // the same point again replaces the data
    expect(s.load()).toMatchObject({ snapshot: snapshot(8, 1, 'again'), entries: [] });
  });

  it("installSnapshot drops every entry, even those after the snapshot's index", () => {
    const s = open();
    s.append(range(1, 8, 1), { term: 2, vote: n('n2'), commit: 4 });
    s.installSnapshot(snapshot(5, 2)); // entries 6..8 came from a stale leader
    expect(s.load()).toEqual({ hardState: { term: 2, vote: n('n2'), commit: 4 }, snapshot: snapshot(5, 2), entries: [] });
    s.append(range(6, 7, 2));
    expect(indexes(s)).toEqual([6, 7]);
  });

  it('installSnapshot past the end of the log, and then an older one refused', () => {
    const s = open();
    s.append(range(1, 3, 1));
    s.installSnapshot(snapshot(20, 4));
    expect(s.load()).toMatchObject({ snapshot: snapshot(20, 4), entries: [] });
    expectCode(() => s.installSnapshot(snapshot(10, 4)), 'invalid_snapshot');
    expectCode(() => s.append([entry(20, 4)]), 'invalid_append');
    s.append([entry(21, 4)]);
    expect(s.load()).toMatchObject({ snapshot: snapshot(20, 4), entries: [entry(21, 4)] });
  });

  it('appends after a snapshot continue from its index; entries it covers are refused', () => {
    const s = open();
    s.append(range(1, 5, 1));
    s.saveSnapshot(snapshot(5, 1));
    expectCode(() => s.append([entry(5, 1)]), 'invalid_append');
    expectCode(() => s.append([entry(7, 1)]), 'invalid_append');
    s.append(range(6, 8, 2));
    s.append([entry(7, 3)]); // an overlap right after the snapshot still truncates
    expect(s.load().entries).toEqual([entry(6, 2), entry(7, 3)]);
  });

  it('after a snapshot, the first new entry may not have a lower term than the snapshot', () => {
    const s = open();
    s.installSnapshot(snapshot(10, 3));
    expectCode(() => s.append([entry(11, 2)]), 'invalid_append');
    s.append([entry(11, 3)]);
    expect(indexes(s)).toEqual([11]);
  });

  it('reopening returns exactly what was written', () => {
    const s = open();
    s.append(range(1, 6, 1), { term: 1, vote: n('n1'), commit: 3 });
    s.saveSnapshot(snapshot(3, 1));
    s.append([entry(6, 2, { replaced: true }), entry(7, 2)], { term: 2, vote: n('n2'), commit: 5 });
    const before = s.load();
    s.close();
    const again = open();
    expect(again.load()).toEqual(before);
    expect(before).toEqual({
      hardState: { term: 2, vote: n('n2'), commit: 5 },
      snapshot: snapshot(3, 1),
      entries: [...range(4, 5, 1), entry(6, 2, { replaced: true }), entry(7, 2)],
    });
    // And it goes on from there.
    again.append([entry(8, 2)]);
    expect(indexes(again)).toEqual([4, 5, 6, 7, 8]);
  });

  it('load throws corrupt_log when the stored log has a gap', () => {
    const s = open();
    s.append(range(1, 5, 1));
    s.close();
    place.corrupt({ type: 'delete_entry', index: 3 });
    expectCode(() => open().load(), 'corrupt_log');
  });

  it('load throws corrupt_log when the stored log does not start right after the snapshot', () => {
    const s = open();
    s.append(range(1, 5, 1));
    s.saveSnapshot(snapshot(2, 1));
    s.close();
    place.corrupt({ type: 'delete_entry', index: 3 });
    expectCode(() => open().load(), 'corrupt_log');
  });

  it('load throws corrupt_log when terms decrease along the log', () => {
    const s = open();
    s.append(range(1, 5, 2));
    s.close();
    place.corrupt({ type: 'set_term', index: 4, term: 1 });
    expectCode(() => open().load(), 'corrupt_log');
  });

  it('every method but close throws closed after close; close is idempotent', () => {
    const s = open();
    s.close();
    s.close();
    expectCode(() => s.load(), 'closed');
    expectCode(() => s.append([entry(1, 1)]), 'closed');
    expectCode(() => s.setHardState({ term: 1, vote: null, commit: 0 }), 'closed');
    expectCode(() => s.saveSnapshot(snapshot(1, 1)), 'closed');
    expectCode(() => s.installSnapshot(snapshot(1, 1)), 'closed');
  });
});

// ---------------------------------------------------------------------------
// On disk

const writer = fileURLToPath(new URL('./fixtures/storage-writer.ts', import.meta.url));

const engines = [
  { engine: 'file', file: 'raft.log', open: (path: string): RaftStorage => new LogFileStorage(path) },
  { engine: 'sqlite', file: 'raft.sqlite', open: (path: string): RaftStorage => new SqliteStorage(path) },
] as const;

describe.each(engines)('$engine engine: crashes', ({ engine, file: fileName, open }) => {
  let dir = '';
  tempDirEachTest((d) => (dir = d));

  /** Reopens `file` and checks it holds exactly the acknowledged batches, plus at most the one in flight. */
  function checkAfterCrash(file: string, acked: readonly number[], batchSize: number): number {
    const s = open(file);
    try {
      const p = s.load(); // a corrupt log would throw here
      const last = p.entries.at(-1)?.index ?? 0;
      const lastAcked = acked.at(-1) ?? 0;
      expect(last === lastAcked || last === lastAcked + batchSize).toBe(true);
      expect(p.entries.map((e) => e.index)).toEqual(Array.from({ length: last }, (_, i) => i + 1));
      // The hard state went in the same write as its batch.
      expect(p.hardState).toEqual({ term: last / batchSize, vote: n('n1'), commit: last });
      return last;
    } finally {
      s.close();
    }
  }

  it('every append that returned survives the writer being SIGKILLed before close', () => {
    const file = join(dir, fileName);
    const batchSize = 10;
    const r = spawnSync(process.execPath, ['--import', 'tsx', writer, '--path', file, '--engine', engine, '--batches', '25', '--batch-size', String(batchSize), '--self-kill'], {
      encoding: 'utf8',
      timeout: 60_000,
    });
    expect(r.signal).toBe('SIGKILL');
    const acked = [...r.stdout.matchAll(/^acked (\d+)$/gm)].map((m) => Number(m[1]));
    expect(acked).toHaveLength(25);
    expect(checkAfterCrash(file, acked, batchSize)).toBe(250);
  });

  it('a writer killed in the middle of its appends loses none that returned', async () => {
    const file = join(dir, fileName);
    const batchSize = 5;
    const child = spawn(process.execPath, ['--import', 'tsx', writer, '--path', file, '--engine', engine, '--batches', '100000', '--batch-size', String(batchSize)], {
      stdio: ['pipe', 'pipe', 'inherit'],
    });
    const acked: number[] = [];
    let buffered = '';
    const exited = new Promise<NodeJS.Signals | null>((done) => child.on('exit', (_code, signal) => done(signal)));
    child.stdout.setEncoding('utf8');
    child.stdout.on('data', (chunk: string) => {
      buffered += chunk;
      const lines = buffered.split('\n');
      buffered = lines.pop() ?? '';
      for (const line of lines) {
        const m = /^acked (\d+)$/.exec(line);
        if (m !== null) acked.push(Number(m[1]));
      }
      // Kill while it is appending: at an arbitrary point of some write.
      if (acked.length >= 30) child.kill('SIGKILL');
    });
    expect(await exited).toBe('SIGKILL');
    expect(acked.length).toBeGreaterThanOrEqual(30);
    checkAfterCrash(file, acked, batchSize);
  });
});

describe.each(engines)('$engine engine: one process per log', ({ engine, file: fileName, open }) => {
  let dir = '';
  tempDirEachTest((d) => (dir = d));

  it('refuses to open a log another process has open (locked, naming it), and opens it once that process is killed', async () => {
    const file = join(dir, fileName);
    // Parent-kill mode: the writer appends one batch, then holds the storage open until killed.
    const child = spawn(process.execPath, ['--import', 'tsx', writer, '--path', file, '--engine', engine, '--batches', '1', '--batch-size', '3'], {
      stdio: ['pipe', 'pipe', 'inherit'],
    });
    const exited = new Promise<void>((done) => child.on('exit', () => done()));
    try {
      await new Promise<void>((ready) => child.stdout.on('data', (chunk: Buffer) => String(chunk).includes('acked 3') && ready()));
      let thrown: unknown;
      try {
        open(file).close();
      } catch (e) {
        thrown = e;
      }
      expect(thrown).toBeInstanceOf(RaftStorageError);
      expect((thrown as RaftStorageError).code).toBe('locked');
      expect((thrown as Error).message).toContain(`pid ${child.pid}`);
      expect(JSON.parse(readFileSync(`${file}.lock.owner`, 'utf8')).pid).toBe(child.pid);
    } finally {
      child.kill('SIGKILL');
      await exited;
    }
    // The holder is gone, and its lock with it (the kernel's): the log opens whole.
    const s = open(file);
    expect(indexes(s)).toEqual([1, 2, 3]);
    expect(JSON.parse(readFileSync(`${file}.lock.owner`, 'utf8')).pid).toBe(process.pid);
    s.close();
    expect(existsSync(`${file}.lock.owner`)).toBe(false);
  });

  it('a second open in the same process is refused too, and the log opens again once the first is closed', () => {
    const file = join(dir, fileName);
    const first = open(file);
    first.append([entry(1, 1)]);
    expectCode(() => open(file), 'locked');
    // The refused open touched nothing: the first still writes, and a reopening sees it all.
    first.append([entry(2, 1)]);
    first.close();
    const again = open(file);
    expect(indexes(again)).toEqual([1, 2]);
    again.close();
    expect(readdirSync(dir).filter((f) => f.endsWith('.owner'))).toEqual([]);
  });
});

describe('LogFileStorage on disk', () => {
  let file = '';
  tempDirEachTest((d) => (file = join(d, 'raft.log')));

  /** Three appends of three entries, each with its hard state; returns the file's size after each. */
  function threeAppends(): number[] {
    const s = new LogFileStorage(file);
    const sizes: number[] = [];
    for (let b = 0; b < 3; b++) {
      s.append(range(b * 3 + 1, b * 3 + 3, b + 1), { term: b + 1, vote: n('n1'), commit: b * 3 + 3 });
      sizes.push(statSync(file).size);
    }
    s.close();
    return sizes;
  }

  it('an append torn by a crash (cut short anywhere) is cut off when reopened, reported, and appending goes on', () => {
    const sizes = threeAppends();
    for (const cut of [1, 9, sizes[2]! - sizes[1]! - 1]) {
      truncateSync(file, sizes[2]! - cut);
      const s = new LogFileStorage(file);
      expect(s.repaired).toMatchObject({ droppedBytes: sizes[2]! - cut - sizes[1]! });
      expect(s.load()).toMatchObject({ hardState: { term: 2, commit: 6 }, entries: range(1, 6, 2).map((e) => ({ index: e.index })) });
      expect(statSync(file).size).toBe(sizes[1]);
      s.append(range(7, 9, 3), { term: 3, vote: n('n1'), commit: 9 });
      s.close();
      const again = new LogFileStorage(file);
      expect(again.repaired).toBeNull();
      expect(indexes(again)).toEqual([1, 2, 3, 4, 5, 6, 7, 8, 9]);
      again.close();
    }
  });

  it('a record that fails its check ends the log there', () => {
    const sizes = threeAppends();
    const bytes = readFileSync(file);
    bytes[sizes[1]! + 20] = bytes[sizes[1]! + 20]! ^ 0xff; // inside the third append's first record
    writeFileSync(file, bytes);
    const s = new LogFileStorage(file);
    expect(s.repaired?.reason).toMatch(/fails its check/);
    expect(indexes(s)).toEqual([1, 2, 3, 4, 5, 6]);
    s.close();
  });

  it('refuses a file that is not a Raft log, or a newer format', () => {
    writeFileSync(file, 'SQLite format 3\0 and so on');
    expectCode(() => new LogFileStorage(file), 'corrupt_log');
    const head = Buffer.alloc(8);
    head.write('DQRLOG', 0, 'latin1');
    head.writeUInt16LE(2, 6);
    writeFileSync(file, head);
    expectCode(() => new LogFileStorage(file), 'unsupported_schema');
  });

  it('a snapshot rewrites the file: what it covers is gone from the disk, and a half-made one from a crash is ignored', () => {
    const s = new LogFileStorage(file);
    s.append(range(1, 200, 1), { term: 1, vote: n('n1'), commit: 200 });
    const before = statSync(file).size;
    s.saveSnapshot(snapshot(190, 1));
    expect(statSync(file).size).toBeLessThan(before / 10);
    s.close();
    writeFileSync(`${file}.next`, 'a snapshot file a crash cut short');
    const again = new LogFileStorage(file);
    expect(existsSync(`${file}.next`)).toBe(false);
    expect(again.load()).toMatchObject({ snapshot: snapshot(190, 1), hardState: { term: 1, commit: 200 } });
    expect(indexes(again)).toEqual(range(191, 200, 1).map((e) => e.index));
    again.close();
  });
});

describe('SqliteStorage on disk', () => {
  let dir = '';
  tempDirEachTest((d) => (dir = d));

  it('runs in WAL mode with synchronous=FULL', () => {
    const s = new SqliteStorage(join(dir, 'raft.sqlite'));
    try {
      expect(s.pragmas()).toEqual({ journalMode: 'wal', synchronous: 2 });
    } finally {
      s.close();
    }
  });

  it('refuses a file written by a newer schema', () => {
    const file = join(dir, 'raft.sqlite');
    const db = new Database(file);
    db.pragma('user_version = 99');
    db.close();
    expectCode(() => new SqliteStorage(file), 'unsupported_schema');
  });
});

describe('openStorage', () => {
  let dir = '';
  tempDirEachTest((d) => (dir = d));

  it('creates the directory and names the file after the node, in the engine asked for (the log file by default)', () => {
    for (const [engine, name] of [
      [undefined, 'raft-node1.log'],
      ['sqlite', 'raft-node2.sqlite'],
    ] as const) {
      const nodeId = name.slice(5, 10);
      const s = openStorage({ dir: join(dir, 'a', 'b'), nodeId, ...(engine === undefined ? {} : { engine }) });
      try {
        expect(s.path).toBe(join(dir, 'a', 'b', name));
        s.append([entry(1, 1)]);
      } finally {
        s.close();
      }
      expect(existsSync(join(dir, 'a', 'b', name))).toBe(true);
    }
    expectCode(() => openStorage({ dir, nodeId: '../escape' }), 'invalid_node_id');
  });

  it("refuses to open one engine where the node's log is in the other (it would start from an empty log)", () => {
    openStorage({ dir, nodeId: 'n1', engine: 'sqlite' }).close();
    expectCode(() => openStorage({ dir, nodeId: 'n1' }), 'other_engine');
    openStorage({ dir, nodeId: 'n2' }).close();
    expectCode(() => openStorage({ dir, nodeId: 'n2', engine: 'sqlite' }), 'other_engine');
  });
});
