// Raft storage benchmark: SqliteStorage appends of 100-entry batches (each one
// transaction, WAL fsynced at commit: synchronous=FULL) on this machine's disk,
// in a temp directory. Prints one JSON line: append_batch100_per_s and
// entries_per_s from back-to-back appends, append_p50/p99_ms per append, and
// fsync_p50_ms, the median of a one-row commit (setHardState), which is the
// WAL fsync plus SQLite's small fixed cost.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { SqliteStorage } from '../../actors/raft/storage.js';
import type { LogEntry, NodeId } from '../../actors/raft/types.js';

const batchSize = 100;
const warmupBatches = 20;
/** Stop after this many measured batches or this much time, whichever comes first. */
const maxBatches = 2_000;
const maxMs = 5_000;
const hardStateCommits = 300;

const dir = mkdtempSync(join(tmpdir(), 'dq-bench-storage-'));
const storage = new SqliteStorage(join(dir, 'raft.sqlite'));
const now = (): number => performance.now();
const quantile = (sorted: readonly number[], q: number): number => sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))]!;

let next = 0;
function batch(term: number): LogEntry[] {
  const out: LogEntry[] = [];
  for (let i = 0; i < batchSize; i++) {
    next++;
    // A job submission about the size the job registry replicates.
    out.push({ index: next, term, kind: 'command', data: { type: 'submit', id: `job-${next}`, jobType: 'email', priority: 'high', payload: { to: 'user@example.com', n: next } } });
  }
  return out;
}

try {
  for (let b = 0; b < warmupBatches; b++) storage.append(batch(1), { term: 1, vote: 'n1' as NodeId, commit: next });

  const latencies: number[] = [];
  const t0 = now();
  while (latencies.length < maxBatches && now() - t0 < maxMs) {
    const entries = batch(1);
    const s = now();
    storage.append(entries, { term: 1, vote: 'n1' as NodeId, commit: next });
    latencies.push(now() - s);
  }
  const elapsedMs = now() - t0;
  const sorted = [...latencies].sort((a, b) => a - b);

  const commits: number[] = [];
  for (let i = 0; i < hardStateCommits; i++) {
    const s = now();
    storage.setHardState({ term: 2 + i, vote: null, commit: next });
    commits.push(now() - s);
  }
  commits.sort((a, b) => a - b);
  const round = (x: number, digits: number): number => Number(x.toFixed(digits));
  console.log(
    JSON.stringify({
      bench: 'storage',
      append_batch100_per_s: Math.round((latencies.length / elapsedMs) * 1000),
      entries_per_s: Math.round(((latencies.length * batchSize) / elapsedMs) * 1000),
      fsync_p50_ms: round(quantile(commits, 0.5), 3),
      append_p50_ms: round(quantile(sorted, 0.5), 3),
      append_p99_ms: round(quantile(sorted, 0.99), 3),
      batches: latencies.length,
    }),
  );
} finally {
  storage.close();
  rmSync(dir, { recursive: true, force: true });
}
