// One member's log as the core sees it: the snapshot it starts after, the
// entries after that, and the voter set they imply. Mutable and synchronous;
// owned by one RaftCore. It does no I/O: durability is the shell's business
// (the core tells it what to write through `persist` effects).
import { RaftError } from './errors.js';
import type { ConfigData, EntryKind, Index, LogEntry, NodeId, SnapshotMeta, Term } from './types.js';

/**
 * An applied command entry whose data the core no longer holds (RaftLog.chill): the data is on disk,
 * and the shell reads it back (storage.ts, hydrateAppend) before it sends the entry. It keeps the size
 * of its data's JSON, which bounds an append.
 */
export class ColdEntry implements LogEntry {
  readonly data: undefined = undefined;
  constructor(
    readonly term: Term,
    readonly index: Index,
    readonly kind: EntryKind,
    readonly chars: number,
  ) {}
}

interface ConfigPoint {
  readonly index: Index;
  readonly voters: readonly NodeId[];
}

export class RaftLog {
  private snapIndex: Index;
  private snapTerm: Term;
  /** The voter set as of snapIndex (the snapshot's, or the bootstrap set). */
  private baseVoters: readonly NodeId[];
  /** entries[i].index === snapIndex + 1 + i. */
  private entries: LogEntry[];
  /** Config entries after the snapshot, in index order (a new config takes effect when appended, §4.1). */
  private configs: ConfigPoint[] = [];
  /** Command entries at or below this are ColdEntry (see chill). */
  private coldThrough: Index;

  constructor(base: { index: Index; term: Term; voters: readonly NodeId[] }, entries: readonly LogEntry[]) {
    this.snapIndex = base.index;
    this.snapTerm = base.term;
    this.coldThrough = base.index;
    this.baseVoters = [...base.voters];
    this.entries = [];
    let prevTerm = base.term;
    for (const [i, e] of entries.entries()) {
      if (e.index !== base.index + 1 + i) {
        throw new RaftError('corrupt_log', `entry ${i} has index ${e.index}, expected ${base.index + 1 + i}`);
      }
      if (e.term < prevTerm) throw new RaftError('corrupt_log', `term goes back from ${prevTerm} to ${e.term} at ${e.index}`);
      prevTerm = e.term;
    }
    this.appendUnchecked(entries);
  }

  get snapshotIndex(): Index {
    return this.snapIndex;
  }
  get snapshotTerm(): Term {
    return this.snapTerm;
  }
  get firstIndex(): Index {
    return this.snapIndex + 1;
  }
  get lastIndex(): Index {
    return this.snapIndex + this.entries.length;
  }
  get lastTerm(): Term {
    const n = this.entries.length;
    return n === 0 ? this.snapTerm : this.entries[n - 1]!.term;
  }

  /** Term of the entry at `index`; undefined when compacted away (below the snapshot) or past the end. */
  term(index: Index): Term | undefined {
    if (index === this.snapIndex) return this.snapTerm;
    return this.entries[index - this.snapIndex - 1]?.term;
  }

  entry(index: Index): LogEntry | undefined {
    return index > this.snapIndex ? this.entries[index - this.snapIndex - 1] : undefined;
  }

  /** Entries lo..hi inclusive; both must lie within [firstIndex, lastIndex]. */
  slice(lo: Index, hi: Index): LogEntry[] {
    if (hi < lo) return [];
    if (lo <= this.snapIndex || hi > this.lastIndex) {
      throw new RaftError('invariant_violated', `slice ${lo}..${hi} outside ${this.firstIndex}..${this.lastIndex}`);
    }
    return this.entries.slice(lo - this.snapIndex - 1, hi - this.snapIndex);
  }

  /** Every entry after the snapshot (a copy). */
  all(): LogEntry[] {
    return [...this.entries];
  }

  /** Raft §5.4.1: is a log ending at (lastIndex, lastTerm) at least as up to date as ours? Term first, then index. */
  isUpToDate(lastIndex: Index, lastTerm: Term): boolean {
    return lastTerm > this.lastTerm || (lastTerm === this.lastTerm && lastIndex >= this.lastIndex);
  }

  /** Append after the last entry; the first must be lastIndex + 1. */
  append(entries: readonly LogEntry[]): void {
    if (entries.length === 0) return;
    if (entries[0]!.index !== this.lastIndex + 1) {
      throw new RaftError('invariant_violated', `append at ${entries[0]!.index} after last index ${this.lastIndex}`);
    }
    this.appendUnchecked(entries);
  }

  private appendUnchecked(entries: readonly LogEntry[]): void {
    for (const e of entries) {
      this.entries.push(e);
      if (e.kind === 'config') this.configs.push({ index: e.index, voters: (e.data as ConfigData).voters });
    }
  }

  /**
   * Keep only the term, index and size of the command entries through `index`, which must be applied and
   * durable: their data is on disk (ColdEntry). `charsOf` gives an entry's size.
   */
  chill(index: Index, charsOf: (e: LogEntry) => number): void {
    const to = Math.min(index, this.lastIndex);
    for (let i = Math.max(this.coldThrough, this.snapIndex) + 1; i <= to; i++) {
      const at = i - this.snapIndex - 1;
      const e = this.entries[at]!;
      if (e.kind === 'command') this.entries[at] = new ColdEntry(e.term, e.index, e.kind, charsOf(e));
    }
    if (to > this.coldThrough) this.coldThrough = to;
  }

  /** Drop every entry at or after `index` (> snapshotIndex). A dropped config entry's change is undone. */
  truncateFrom(index: Index): void {
    if (index <= this.snapIndex) throw new RaftError('invariant_violated', `truncate at ${index} inside the snapshot`);
    // Cold entries are applied, hence committed: no leader can ask to replace them.
    if (index <= this.coldThrough && index <= this.lastIndex) throw new RaftError('invariant_violated', `truncate at ${index}, applied through ${this.coldThrough}`);
    if (index > this.lastIndex) return;
    this.entries.length = index - this.snapIndex - 1;
    while (this.configs.length > 0 && this.configs[this.configs.length - 1]!.index >= index) this.configs.pop();
  }

  /** Log compaction: the snapshot now covers the log through `index`; earlier entries go. */
  compact(index: Index): void {
    if (index <= this.snapIndex) return;
    const term = this.term(index);
    if (term === undefined) throw new RaftError('invariant_violated', `compact at ${index} beyond last index ${this.lastIndex}`);
    this.baseVoters = this.votersAt(index);
    this.configs = this.configs.filter((c) => c.index > index);
    this.entries = this.entries.slice(index - this.snapIndex);
    this.snapIndex = index;
    this.snapTerm = term;
  }

  /** Replace the whole log with a snapshot (nothing after it). */
  reset(meta: SnapshotMeta): void {
    this.snapIndex = meta.index;
    this.snapTerm = meta.term;
    this.coldThrough = meta.index;
    this.baseVoters = [...meta.voters];
    this.entries = [];
    this.configs = [];
  }

  /** The voter set in force: the latest config entry in the log, even uncommitted (dissertation §4.1). */
  get voters(): readonly NodeId[] {
    const n = this.configs.length;
    return n === 0 ? this.baseVoters : this.configs[n - 1]!.voters;
  }

  /** Index of the latest config entry in the log, or the snapshot index when there is none after it. */
  get lastConfigIndex(): Index {
    const n = this.configs.length;
    return n === 0 ? this.snapIndex : this.configs[n - 1]!.index;
  }

  /** The voter set as of `index` (≥ snapshotIndex). */
  votersAt(index: Index): readonly NodeId[] {
    let v = this.baseVoters;
    for (const c of this.configs) {
      if (c.index > index) break;
      v = c.voters;
    }
    return v;
  }

  /** First index of the run of `term` that contains `index` (stops at the snapshot boundary). */
  firstIndexOfTermAt(index: Index): Index {
    const t = this.term(index);
    let i = index;
    while (i - 1 > this.snapIndex && this.term(i - 1) === t) i--;
    return i;
  }

  /** Last index ≤ atMost whose term is `term`, if the log (or its snapshot point) holds one. */
  lastIndexOfTerm(term: Term, atMost: Index): Index | undefined {
    for (let i = Math.min(atMost, this.lastIndex); i >= this.snapIndex; i--) {
      const t = this.term(i)!;
      if (t === term) return i;
      if (t < term) return undefined;
    }
    return undefined;
  }
}
