// The JSON text of a log entry's data, made once per entry object. A leader
// needs that text up to four times for each new entry: its size (to bound an
// append), its record in the Raft log, and each follower's append frame;
// serialising a 1000-command entry costs about as much as applying a fifth of
// it, so it is done once and shared. A text lives exactly as long as its entry
// object: the cache holds both weakly, so what bounds it is what bounds the
// entries (the core's uncommitted entries and its window of applied ones; a
// cold entry read back from storage lives for one send).
//
// It used to be a Map bounded at 4 MB of text. Its keys kept the last ≈ 30
// big entries (and each one's thousand parsed commands) alive after the core
// had let them go, and those young objects were copied by every scavenge: in
// the registry's cluster benchmark ≈ 8 MB survived each one (≈ 5 MB copied
// within the young generation, ≈ 3 MB promoted), 7–8 ms a scavenge.
import type { LogEntry } from './types.js';

/** A memo of JSON.stringify(entry.data), keyed weakly by the entry object (entries are immutable). */
export class EntryTextCache {
  private readonly texts = new WeakMap<LogEntry, string>();
  /**
   * The length of every text made, for as long as its entry lives: an entry's size is asked for again when
   * the core lets it go cold (log.ts).
   */
  private readonly lengths = new WeakMap<LogEntry, number>();

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
  }
}

/** The process-wide cache the core, storage and wire encoder share: one text per entry object. */
export const entryTexts = new EntryTextCache();
