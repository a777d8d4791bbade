// The messages Raft members send each other: one union tagged by `type`. The
// sender is not in the message (the transport knows it and hands it to the
// core as `from`). Every message carries the sender's term; the core handles a
// term above or below its own before it looks at the rest.
//
// All fields are JSON values, so the shell can put a message on the wire as is.
import type { Index, LogEntry, NodeId, SnapshotMeta, Term } from './types.js';

/**
 * Pre-vote (dissertation §9.6): "would you vote for me at `term`?". `term` is
 * the candidate's term + 1; neither side changes its term or vote for it.
 */
export interface PreVoteRequest {
  readonly type: 'preVote';
  readonly term: Term;
  readonly lastIndex: Index;
  readonly lastTerm: Term;
}

/** Granted: `term` echoes the request's. Refused: `term` is the voter's own term. */
export interface PreVoteResponse {
  readonly type: 'preVoteResp';
  readonly term: Term;
  readonly granted: boolean;
}

export interface VoteRequest {
  readonly type: 'vote';
  readonly term: Term;
  readonly lastIndex: Index;
  readonly lastTerm: Term;
  /** Sent because the leader handed over (TimeoutNow): voters ignore their leader lease. */
  readonly transfer: boolean;
}

export interface VoteResponse {
  readonly type: 'voteResp';
  readonly term: Term;
  readonly granted: boolean;
}

export interface AppendRequest {
  readonly type: 'append';
  readonly term: Term;
  readonly prevIndex: Index;
  readonly prevTerm: Term;
  readonly entries: readonly LogEntry[];
  /** The leader's commit index. */
  readonly commit: Index;
}

/**
 * Success: the follower's log matches the leader's through `match`.
 * Refusal: the follower has no entry (prevIndex, prevTerm) for the request that
 * had prevIndex = `rejected`; the hint lets the leader skip a whole term per
 * round trip: `hintTerm` is the follower's term at `rejected` (null when its log
 * is shorter) and `hintIndex` the first index it holds of that term (or its last
 * index + 1 when shorter).
 */
export type AppendResponse =
  | { readonly type: 'appendResp'; readonly term: Term; readonly success: true; readonly match: Index }
  | {
      readonly type: 'appendResp';
      readonly term: Term;
      readonly success: false;
      readonly rejected: Index;
      readonly hintIndex: Index;
      readonly hintTerm: Term | null;
    };

/**
 * Keeps followers' timers reset and their commit index moving. It carries no
 * entries and never changes a follower's log. `commit` is at most what the
 * follower is known to hold. `readSeq` confirms leadership for ReadIndex.
 */
export interface Heartbeat {
  readonly type: 'heartbeat';
  readonly term: Term;
  readonly commit: Index;
  readonly readSeq: number;
}

export interface HeartbeatResponse {
  readonly type: 'heartbeatResp';
  readonly term: Term;
  readonly readSeq: number;
  /**
   * The follower's commit index once it took the heartbeat's: a leader learns from it that a node its latest
   * config removed knows the removal committed. Absent in the answer to a stale sender.
   */
  readonly commit?: Index;
}

/** One chunk of the leader's snapshot: data[offset, offset + data.length). */
export interface SnapshotChunk {
  readonly type: 'snapshot';
  readonly term: Term;
  readonly meta: SnapshotMeta;
  readonly offset: number;
  readonly data: string;
  readonly done: boolean;
}

/**
 * `installed`: the follower holds the log through `index` (it installed the
 * snapshot, or already had it). Otherwise it wants the chunk at `nextOffset`.
 */
export interface SnapshotResponse {
  readonly type: 'snapshotResp';
  readonly term: Term;
  readonly index: Index;
  readonly installed: boolean;
  readonly nextOffset: number;
}

/** Leadership transfer: the receiver campaigns at once, skipping pre-vote. */
export interface TimeoutNow {
  readonly type: 'timeoutNow';
  readonly term: Term;
}

/** A follower asks the leader for a read index (ReadIndex served by a follower, dissertation §6.4). */
export interface ReadIndexRequest {
  readonly type: 'readIndexReq';
  readonly term: Term;
  /** The follower's number for this request, echoed in the answer. */
  readonly reqId: number;
}

/**
 * The leader's answer: the commit index it held when asked, once a heartbeat round confirmed it still led
 * (the follower serves the read after applying through it); null when it cannot give one (not leader, too
 * many reads pending).
 */
export interface ReadIndexResponse {
  readonly type: 'readIndexResp';
  readonly term: Term;
  readonly reqId: number;
  readonly index: Index | null;
}

export type RaftMessage =
  | PreVoteRequest
  | PreVoteResponse
  | VoteRequest
  | VoteResponse
  | AppendRequest
  | AppendResponse
  | Heartbeat
  | HeartbeatResponse
  | SnapshotChunk
  | SnapshotResponse
  | TimeoutNow
  | ReadIndexRequest
  | ReadIndexResponse;

export type RaftMessageType = RaftMessage['type'];

/** A member of the cluster that a message comes from or goes to. */
export interface Envelope {
  readonly from: NodeId;
  readonly to: NodeId;
  readonly msg: RaftMessage;
}
