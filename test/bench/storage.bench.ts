// Raft storage benchmark: both engines on this machine's disk, in a temp
// directory, on the same workloads (docs/decisions/0001-raft-log-file.md):
//   - appends of 100-entry batches of small job submissions, each with its hard
//     state, durable when append returns (the log file: one writev + fdatasync;
//     SQLite: one WAL transaction, synchronous=FULL);
//   - appends of one registry-sized entry (a batch of 1000 job commands, ≈ 130 KB
//     of JSON, what the job registry's cluster benchmark replicates), with the
//     CPU each append cost (process.cpuUsage: user + system, so the kernel's
//     share of the write and the sync counts too) beside its wall time;
//   - fsync_p50_ms: the median of a hard state written alone (the sync plus the
//     engine's small fixed cost).
// Prints one JSON line: the log file's figures under their plain names, SQLite's
// prefixed `sqlite_`, and `cpu_vs_sqlite` for the big entries.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { LogFileStorage } from '../../actors/raft/logfile.js';
import { entryTexts } from '../../actors/raft/entry-text.js';
import { SqliteStorage } from '../../actors/raft/storage.js';
import type { LogEntry, NodeId, RaftStorage } from '../../actors/raft/types.js';

const batchSize = 100;
const warmupBatches = 20;
/** Stop after this many measured batches or this much time, whichever comes first. */
const maxBatches = 2_000;
const maxMs = 4_000;
const bigEntries = 300;
const hardStateCommits = 300;

const now = (): number => performance.now();
const quantile = (sorted: readonly number[], q: number): number => sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))]!;
const round = (x: number, digits: number): number => Number(x.toFixed(digits));
const cpuMs = (): number => {
  const c = process.cpuUsage();
  return (c.user + c.system) / 1000;
};

interface Figures {
  readonly append_batch100_per_s: number;
  readonly entries_per_s: number;
  readonly append_p50_ms: number;
  readonly append_p99_ms: number;
  readonly big_entry_append_p50_ms: number;
  readonly big_entry_cpu_ms: number;
  readonly fsync_p50_ms: number;
}

function measure(storage: RaftStorage): Figures {
  let next = 0;
  const vote = 'n1' as NodeId;
  const batch = (): LogEntry[] =>
    Array.from({ length: batchSize }, () => {
      next++;
      // A job submission about the size the job registry replicates one command at a time.
      return { index: next, term: 1, kind: 'command', data: { type: 'submit', id: `job-${next}`, jobType: 'email', priority: 'high', payload: { to: 'user@example.com', n: next } } };
    });
  for (let b = 0; b < warmupBatches; b++) storage.append(batch(), { term: 1, vote, commit: next });
  const latencies: number[] = [];
  const t0 = now();
  while (latencies.length < maxBatches && now() - t0 < maxMs) {
    const entries = batch();
    const s = now();
    storage.append(entries, { term: 1, vote, commit: next });
    latencies.push(now() - s);
  }
  const elapsedMs = now() - t0;
  latencies.sort((a, b) => a - b);

  // Registry-sized entries. Each one's text is made just before its append (as the leader has it; the entry-text
  // cache keeps only recent ones), so only the storage is timed and charged.
  const bigLatencies: number[] = [];
  let bigCpu = 0;
  for (let k = 0; k < bigEntries; k++) {
    const commands = Array.from({ length: 1000 }, (_, i) => ({ c: 'submit', id: `job-${k}-${i}`, at: 1_795_399_032_600, type: 'email', priority: 10, payload: { to: 'user@example.com', template: 'welcome' } }));
    const e: LogEntry = { index: next + 1 + k, term: 1, kind: 'command', data: { c: 'batch', commands } };
    entryTexts.textOf(e);
    const c = cpuMs();
    const s = now();
    storage.append([e], { term: 1, vote, commit: e.index });
    bigLatencies.push(now() - s);
    bigCpu += cpuMs() - c;
  }
  bigCpu /= bigEntries;
  bigLatencies.sort((a, b) => a - b);

  const commits: number[] = [];
  for (let i = 0; i < hardStateCommits; i++) {
    const s = now();
    storage.setHardState({ term: 2 + i, vote: null, commit: next });
    commits.push(now() - s);
  }
  commits.sort((a, b) => a - b);
  return {
    append_batch100_per_s: Math.round((latencies.length / elapsedMs) * 1000),
    entries_per_s: Math.round(((latencies.length * batchSize) / elapsedMs) * 1000),
    append_p50_ms: round(quantile(latencies, 0.5), 3),
    append_p99_ms: round(quantile(latencies, 0.99), 3),
    big_entry_append_p50_ms: round(quantile(bigLatencies, 0.5), 3),
    big_entry_cpu_ms: round(bigCpu, 3),
    fsync_p50_ms: round(quantile(commits, 0.5), 3),
  };
}

const dir = mkdtempSync(join(tmpdir(), 'dq-bench-storage-'));
try {
  const engines: [string, () => RaftStorage][] = [
    ['file', () => new LogFileStorage(join(dir, 'raft.log'))],
    ['sqlite', () => new SqliteStorage(join(dir, 'raft.sqlite'))],
  ];
  const out: Record<string, number | string> = { bench: 'storage' };
  const figures: Record<string, Figures> = {};
  for (const [name, open] of engines) {
    const storage = open();
    try {
      figures[name] = measure(storage);
    } finally {
      storage.close();
    }
    for (const [k, v] of Object.entries(figures[name]!)) out[name === 'file' ? k : `sqlite_${k}`] = v;
  }
  out.cpu_vs_sqlite = round(figures.file!.big_entry_cpu_ms / figures.sqlite!.big_entry_cpu_ms, 2);
  console.log(JSON.stringify(out));
} finally {
  rmSync(dir, { recursive: true, force: true });
}
