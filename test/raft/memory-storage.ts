// RaftStorage in memory, for the test harness: "durable" means it survives the
// harness's crash(), which throws away the core and keeps only this object.
import type { HardState, LogEntry, Persisted, RaftStorage, Snapshot } from '../../actors/raft/types.js';

export class MemoryStorage implements RaftStorage {
  private hardState: HardState = { term: 0, vote: null, commit: 0 };
  private snapshot: Snapshot | null = null;
  private log: LogEntry[] = [];
  /** Number of write calls, to check group commit. */
  writes = 0;

  private get base(): number {
    return this.snapshot?.meta.index ?? 0;
  }

  entries(lo: number, hi: number): LogEntry[] {
    const out = this.log.slice(lo - this.base - 1, hi - this.base);
    if (lo <= this.base || out.length !== hi - lo + 1) throw new Error(`entries ${lo}..${hi}: stored ${this.base + 1}..${this.base + this.log.length}`);
    return out;
  }

  load(): Persisted {
    return { hardState: this.hardState, snapshot: this.snapshot, entries: [...this.log] };
  }

  append(entries: readonly LogEntry[], hardState?: HardState): void {
    this.writes++;
    if (entries.length > 0) {
      const first = entries[0]!.index;
      const last = this.base + this.log.length;
      if (first <= this.base || first > last + 1) throw new Error(`append at ${first}: stored ${this.base + 1}..${last}`);
      this.log.length = first - this.base - 1;
      this.log.push(...entries);
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
    this.log = drop >= this.log.length ? [] : this.log.slice(drop);
    this.snapshot = snapshot;
  }

  installSnapshot(snapshot: Snapshot): void {
    this.writes++;
    this.snapshot = snapshot;
    this.log = [];
  }

  close(): void {}
}
