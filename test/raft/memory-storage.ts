// RaftStorage in memory, for the test harness: "durable" means it survives the
// harness's crash(), which throws away the core and keeps only this object.
import type { HardState, LogEntry, Persisted, RaftStorage, Snapshot } from '../../actors/raft/types.js';

export class MemoryStorage implements RaftStorage {
  private hardState: HardState = { term: 0, vote: null, commit: 0 };
  private snapshot: Snapshot | null = null;
  private entries: LogEntry[] = [];
  /** Number of write calls, to check group commit. */
  writes = 0;

  private get base(): number {
    return this.snapshot?.meta.index ?? 0;
  }

  load(): Persisted {
    return { hardState: this.hardState, snapshot: this.snapshot, entries: [...this.entries] };
  }

  append(entries: readonly LogEntry[], hardState?: HardState): void {
    this.writes++;
    if (entries.length > 0) {
      const first = entries[0]!.index;
      const last = this.base + this.entries.length;
      if (first <= this.base || first > last + 1) throw new Error(`append at ${first}: stored ${this.base + 1}..${last}`);
      this.entries.length = first - this.base - 1;
      this.entries.push(...entries);
    }
    if (hardState !== undefined) this.hardState = hardState;
  }

  setHardState(hardState: HardState): void {
    this.writes++;
    this.hardState = hardState;
  }

  saveSnapshot(snapshot: Snapshot): void {
    this.writes++;
    const drop = snapshot.meta.index - this.base;
    this.entries = drop >= this.entries.length ? [] : this.entries.slice(drop);
    this.snapshot = snapshot;
  }

  installSnapshot(snapshot: Snapshot): void {
    this.writes++;
    this.snapshot = snapshot;
    this.entries = [];
  }

  close(): void {}
}
