// Raft core settings: parsed and checked once (one rule per field, plus the
// cross-field rules), then frozen and handed to the core. Times are in ticks;
// the shell decides how long a tick is.
import { RaftError } from './errors.js';

/**
 * Deliberately unsafe behaviour, for TESTS ONLY: the simulator turns these on
 * to prove that its checkers catch a broken Raft. Never set them in a node.
 */
export interface UnsafeSwitches {
  /** Grant (pre-)votes without the up-to-date log check (Raft §5.4.1). */
  readonly grantVoteWithoutLogCheck?: boolean;
  /**
   * Acknowledge votes and appends before they are durable: the core holds its
   * persist effects back until the next tick (sends go out at once), and a
   * leader counts itself toward commit without waiting for `persisted`. A crash
   * in between loses what was acknowledged.
   */
  readonly ackBeforePersist?: boolean;
  /** A follower serves a read from what it has applied, without asking the leader for an index (stale reads). */
  readonly followerReadsWithoutLeader?: boolean;
}

export interface RaftConfigInput {
  /** Base election timeout; each timeout is drawn from [electionTicks, 2 × electionTicks). Default 10. */
  readonly electionTicks?: number;
  /** A leader sends heartbeats every heartbeatTicks. Default 1; must be below electionTicks. */
  readonly heartbeatTicks?: number;
  /** Run a pre-vote round before bumping the term (dissertation §9.6). Default true. */
  readonly preVote?: boolean;
  /** Leader steps down without a live majority; followers in a leader's lease refuse votes. Default true. */
  readonly checkQuorum?: boolean;
  /** A follower serves readIndex itself, with an index the leader confirms (dissertation §6.4). Default true. */
  readonly followerReads?: boolean;
  /** Most entries in one AppendEntries. Default 1024. */
  readonly maxEntriesPerAppend?: number;
  /**
   * Most command characters (JSON) in one AppendEntries; at least one entry is
   * always sent. Keeps a catch-up append of large entries (a job registry batch
   * entry is ~150 KB) well under the distribution layer's frame limit. Default 4 MiB.
   */
  readonly maxAppendChars?: number;
  /** Most unacknowledged AppendEntries in flight to one follower while replicating. Default 64. */
  readonly maxInflightAppends?: number;
  /** Most entries appended but not committed; proposals beyond are rejected. Default 65536. */
  readonly maxUncommittedEntries?: number;
  /** Most ReadIndex requests waiting on a leader. Default 4096. */
  readonly maxPendingReads?: number;
  /** Size of one InstallSnapshot chunk, in characters of the snapshot's data string. Default 1 MiB. */
  readonly snapshotChunkChars?: number;
  /** Emit a takeSnapshot hint once this many entries were applied since the last snapshot; 0 = never. Default 0. */
  readonly snapshotThresholdEntries?: number;
  /**
   * Applied command entries whose data the core keeps in memory behind the last applied (and durable)
   * one. Older ones keep only their term, index and size (ColdEntry, log.ts): their data is on disk, and
   * the shell reads it back to send them to a follower that far behind. Without this a member holds every
   * command since its last snapshot. Default 16; 0 keeps none.
   */
  readonly keepAppliedEntries?: number;
  /** TEST ONLY: see UnsafeSwitches. */
  readonly unsafe?: UnsafeSwitches;
}

export interface RaftConfig {
  readonly electionTicks: number;
  readonly heartbeatTicks: number;
  readonly preVote: boolean;
  readonly checkQuorum: boolean;
  readonly followerReads: boolean;
  readonly maxEntriesPerAppend: number;
  readonly maxAppendChars: number;
  readonly maxInflightAppends: number;
  readonly maxUncommittedEntries: number;
  readonly maxPendingReads: number;
  readonly snapshotChunkChars: number;
  readonly snapshotThresholdEntries: number;
  readonly keepAppliedEntries: number;
  readonly unsafe: Required<UnsafeSwitches>;
}

export type RaftConfigResult =
  | { readonly ok: true; readonly config: RaftConfig }
  | { readonly ok: false; readonly field: keyof RaftConfigInput; readonly error: string };

const positive: readonly [keyof RaftConfigInput, number][] = [
  ['electionTicks', 10],
  ['heartbeatTicks', 1],
  ['maxEntriesPerAppend', 1024],
  ['maxAppendChars', 4 * 1024 * 1024],
  ['maxInflightAppends', 64],
  ['maxUncommittedEntries', 65536],
  ['maxPendingReads', 4096],
  ['snapshotChunkChars', 1024 * 1024],
];

export function resolveRaftConfig(input: RaftConfigInput = {}): RaftConfigResult {
  const out: Record<string, number> = {};
  for (const [k, def] of positive) {
    const v = input[k] ?? def;
    if (typeof v !== 'number' || !Number.isInteger(v) || v <= 0) {
      return { ok: false, field: k, error: `must be a positive integer, got ${JSON.stringify(v)}` };
    }
    out[k] = v;
  }
  const threshold = input.snapshotThresholdEntries ?? 0;
  const keep = input.keepAppliedEntries ?? 16;
  for (const [field, v] of [['snapshotThresholdEntries', threshold], ['keepAppliedEntries', keep]] as const) {
    if (!Number.isInteger(v) || v < 0) return { ok: false, field, error: `must be a non-negative integer, got ${JSON.stringify(v)}` };
  }
  // A follower must hear several heartbeats per election timeout, or one slow
  // tick would start an election against a healthy leader.
  if (out.electionTicks! <= out.heartbeatTicks!) {
    return { ok: false, field: 'electionTicks', error: 'must be greater than heartbeatTicks' };
  }
  for (const k of ['preVote', 'checkQuorum', 'followerReads'] as const) {
    const v = input[k];
    if (v !== undefined && typeof v !== 'boolean') return { ok: false, field: k, error: 'must be a boolean' };
  }
  const config: RaftConfig = Object.freeze({
    electionTicks: out.electionTicks!,
    heartbeatTicks: out.heartbeatTicks!,
    preVote: input.preVote ?? true,
    checkQuorum: input.checkQuorum ?? true,
    followerReads: input.followerReads ?? true,
    maxEntriesPerAppend: out.maxEntriesPerAppend!,
    maxAppendChars: out.maxAppendChars!,
    maxInflightAppends: out.maxInflightAppends!,
    maxUncommittedEntries: out.maxUncommittedEntries!,
    maxPendingReads: out.maxPendingReads!,
    snapshotChunkChars: out.snapshotChunkChars!,
    snapshotThresholdEntries: threshold,
    keepAppliedEntries: keep,
    unsafe: Object.freeze({
      grantVoteWithoutLogCheck: input.unsafe?.grantVoteWithoutLogCheck === true,
      ackBeforePersist: input.unsafe?.ackBeforePersist === true,
      followerReadsWithoutLeader: input.unsafe?.followerReadsWithoutLeader === true,
    }),
  });
  return { ok: true, config };
}

/** resolveRaftConfig for callers that treat a bad config as a programming error. */
export function raftConfig(input: RaftConfigInput = {}): RaftConfig {
  const r = resolveRaftConfig(input);
  if (!r.ok) throw new RaftError('invalid_config', `${r.field} ${r.error}`);
  return r.config;
}
