// The Raft vocabulary shared by the pure core (core.ts), its storage
// (storage.ts), the raft_fsm process shell and the simulator. The core is a
// function (state, input) -> { state, effects }: inputs are ticks, messages,
// proposals and persistence acknowledgements; effects are data the shell runs,
// IN ORDER, with one rule: a `persist` effect is durable before any effect
// after it runs (etcd's Ready contract: persist before send).

declare const nodeIdBrand: unique symbol;
/** A cluster member's id (its node name in production). */
export type NodeId = string & { readonly [nodeIdBrand]: true };

export type Term = number;
export type Index = number;

/** Command payloads are opaque to Raft (JSON); the state machine interprets them. */
export type Command = unknown;

export type EntryKind = 'command' | 'noop' | 'config';

export interface LogEntry {
  readonly term: Term;
  readonly index: Index;
  readonly kind: EntryKind;
  /** For 'command': the command; for 'config': the new member list (ConfigData); for 'noop': null. */
  readonly data: Command;
}

/** A 'config' entry's data: the full voter set after a single-server change. */
export interface ConfigData {
  readonly voters: readonly NodeId[];
}

/** What must survive a crash besides the log: the current term and the vote cast in it. */
export interface HardState {
  readonly term: Term;
  readonly vote: NodeId | null;
  /** Persisted as a hint only; correctness never depends on it surviving. */
  readonly commit: Index;
}

/** A snapshot covers the log up to and including `index`. */
export interface SnapshotMeta {
  readonly index: Index;
  readonly term: Term;
  /** The voter set as of `index`. */
  readonly voters: readonly NodeId[];
}

export interface Snapshot {
  readonly meta: SnapshotMeta;
  /** The state machine's serialized state (opaque bytes as a base64 string, or JSON text). */
  readonly data: string;
}

/** What a restarted node reads back from its storage. */
export interface Persisted {
  readonly hardState: HardState;
  readonly snapshot: Snapshot | null;
  /** Entries after the snapshot, in index order, contiguous. */
  readonly entries: readonly LogEntry[];
}

/**
 * Durable storage for one Raft member. Every method is synchronous and returns
 * only once the write is durable (SQLite with WAL and synchronous=FULL in
 * production; memory in the simulator, where "durable" is whatever survives
 * the simulated crash).
 */
export interface RaftStorage {
  /**
   * Set by an engine that, when opened, cut off a write a crash tore (never acknowledged: nothing durable is
   * lost): how many bytes and why. raft_fsm logs it.
   */
  readonly repaired?: { readonly droppedBytes: number; readonly reason: string } | null;
  load(): Persisted;
  /**
   * Make `entries` durable. If the first entry's index is at or below the last
   * stored index, everything from that index on is replaced (conflict truncation).
   * `hardState`, when given, is written in the same transaction.
   */
  append(entries: readonly LogEntry[], hardState?: HardState): void;
  setHardState(hardState: HardState): void;
  /**
   * The stored entries lo..hi inclusive (all of them, or a RaftStorageError): what a ColdEntry stands for,
   * read back to be sent (storage.ts, hydrateAppend).
   */
  entries(lo: Index, hi: Index): LogEntry[];
  /** Store a snapshot and drop the entries it covers (log compaction). */
  saveSnapshot(snapshot: Snapshot): void;
  /**
   * Replace the whole log with a snapshot received from the leader: store it and
   * drop EVERY stored entry, including any after its index. A follower whose
   * log conflicts with the snapshot must not keep its old suffix: after a crash
   * it would claim entries (index, term) whose prefix it no longer has, and
   * could then grant votes or acknowledge appends it must refuse.
   */
  installSnapshot(snapshot: Snapshot): void;
  close(): void;
}
