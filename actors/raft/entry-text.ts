// The JSON text of a log entry's data, made once per entry while the entry is
// recent. A leader needs that text up to four times for each new entry: its
// size (to bound an append), its row in the Raft log, and each follower's
// append frame; serialising a 1000-command entry costs about as much as
// applying a fifth of it, so it is done once and shared. Bounded by
// characters, oldest first: an older entry (a follower far behind) is
// serialised again, which gives the same text.
import type { LogEntry } from './types.js';

/**
 * About 4 MB of text: some 30 entries of 1000 commands, more than a leader has in flight to its followers.
 * The cache also keeps those entries alive; at 32 MB it held ≈ 24 MB more heap per member after 60k
 * lifecycles of the cluster benchmark (cluster_heap_mb 93/72/72 against 73/52/52 MB).
 */
export const ENTRY_TEXT_CACHE_CHARS = 4 * 1024 * 1024;

/** A bounded memo of JSON.stringify(entry.data), keyed by the entry object (entries are immutable). */
export class EntryTextCache {
  private readonly texts = new Map<LogEntry, string>();
  /**
   * The length of every text made, for as long as its entry lives: an entry's size is asked for again when
   * the core lets it go cold (log.ts), usually after its text has left the bounded cache.
   */
  private readonly lengths = new WeakMap<LogEntry, number>();
  private chars = 0;
  /**
   * The entries in the order their texts were added, oldest at `head`: what to drop next. Not the Map's own
   * order: each drop leaves a hole at the front of a Map's table until it is rebuilt, and walking it from the
   * front skipped every hole again at each add (loading 100k small entries took 3.5 s, nearly all of it here).
   */
  private order: LogEntry[] = [];
  private head = 0;

  constructor(private readonly maxChars: number = ENTRY_TEXT_CACHE_CHARS) {}

  /**
   * JSON.stringify(e.data): undefined when the data has no JSON form (undefined, a function); throws what
   * JSON.stringify throws (a BigInt, a cycle). Neither is cached.
   */
  textOf(e: LogEntry): string | undefined {
    const hit = this.texts.get(e);
    if (hit !== undefined) return hit;
    const text = JSON.stringify(e.data) as string | undefined;
    if (text === undefined) return undefined;
    this.add(e, text);
    return text;
  }

  /** textOf(e)'s length, without making the text again when it was made once already. */
  lengthOf(e: LogEntry): number | undefined {
    return this.lengths.get(e) ?? this.textOf(e)?.length;
  }

  /** Record `text` as e's (it must be JSON.stringify(e.data)): an entry read back from storage, whose text is in its row. */
  remember(e: LogEntry, text: string): void {
    if (!this.texts.has(e)) this.add(e, text);
  }

  private add(e: LogEntry, text: string): void {
    this.texts.set(e, text);
    this.lengths.set(e, text.length);
    this.chars += text.length;
    this.order.push(e);
    // An entry dropped and made again sits here twice; its older place may drop it early, which costs a miss.
    while (this.chars > this.maxChars && this.head < this.order.length) {
      const old = this.order[this.head++]!;
      const t = this.texts.get(old);
      if (t === undefined) continue;
      this.texts.delete(old);
      this.chars -= t.length;
    }
    if (this.head > 1024 && this.head * 2 > this.order.length) {
      this.order = this.order.slice(this.head);
      this.head = 0;
    }
  }

  /** Characters held (for tests). */
  get size(): number {
    return this.chars;
  }
}

/** The process-wide cache the core, storage and wire encoder share: one text per entry object. */
export const entryTexts = new EntryTextCache();
