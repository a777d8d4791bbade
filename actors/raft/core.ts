// The pure Raft core: one member's consensus state and every protocol rule,
// with no I/O, no clock and no awaits. The raft_fsm process (the shell) feeds it
// inputs and runs the effects it returns.
//
//   const core = new RaftCore({ id, config, rng, bootstrapVoters, persisted });
//   for each input (tick, message, proposal, persistence ack, ...):
//     const effects = core.step(input);
//     for (const e of effects) run(e);      // one exhaustive switch, in order
//
// THE EFFECT ORDER CONTRACT. The shell runs the effects of one step strictly in
// the order given, and an effect may start only when the ones before it are
// finished; in particular a `persist` (and an `installSnapshot`) must be
// DURABLE before any later effect runs. The core relies on this for safety:
//
//   1. `persist`         hard state (term, vote, commit hint) and new entries;
//   2. `installSnapshot` a snapshot received from the leader (durable, and the
//                        state machine restored from it);
//   3. `send`            messages, so a vote or an append acknowledgement is
//                        never sent before the vote or the entries are on disk
//                        (Raft §5.2/§5.3; etcd's "persist before send");
//   4. `apply`           committed entries, in index order, each index exactly
//                        once per run of the core;
//   5. then proposal and read results, leadership changes, transfer failures
//                        and snapshot hints, in the order they happened. A
//                        `readResult` of `ready` comes after the `apply` that
//                        reaches its index, so a read served when it is run
//                        sees every write committed before the read began.
//
// A leader's own entries count toward commit only once the shell reports them
// durable with a `persisted` input; a follower needs no such report because its
// acknowledgement is a `send` that follows the `persist` (rule 3).
//
// Not here: the wire format, storage and the state machine (the shell's), and
// timers (the shell turns its clock into `tick` inputs).
import type { Rng } from '../../runtime/index.js';
import type { RaftConfig } from './config.js';
import { RaftError } from './errors.js';
import { entryTexts } from './entry-text.js';
import { ColdEntry, RaftLog } from './log.js';
import type { AppendRequest, RaftMessage, SnapshotChunk } from './messages.js';
import type { Command, HardState, Index, LogEntry, NodeId, Persisted, Snapshot, SnapshotMeta, Term } from './types.js';

// ---------------------------------------------------------------------------
// Public types: inputs, effects, outcomes
// ---------------------------------------------------------------------------

export type Role = 'follower' | 'preCandidate' | 'candidate' | 'leader';

/** The shell's correlation id for a proposal, a membership change or a read. */
export type RequestId = number;

export type MembershipChange = { readonly type: 'addVoter'; readonly node: NodeId } | { readonly type: 'removeVoter'; readonly node: NodeId };

export type RaftInput =
  /** One unit of logical time. */
  | { readonly type: 'tick' }
  | { readonly type: 'message'; readonly from: NodeId; readonly msg: RaftMessage }
  /** Group commit: every command of the batch becomes one entry of ONE persist and ONE append per follower. */
  | { readonly type: 'propose'; readonly id: RequestId; readonly commands: readonly Command[] }
  /** The shell made the log durable through (index, term): the answer to a `persist` with entries. */
  | { readonly type: 'persisted'; readonly index: Index; readonly term: Term }
  /** A linearizable read (ReadIndex, dissertation §6.4). */
  | { readonly type: 'readIndex'; readonly id: RequestId }
  /** Hand leadership to `to` (TimeoutNow, dissertation §3.10). */
  | { readonly type: 'transferLeadership'; readonly to: NodeId }
  /** Add or remove one voter (dissertation §4.1). */
  | { readonly type: 'changeMembership'; readonly id: RequestId; readonly change: MembershipChange }
  /** The shell stored `snapshot` (taken at an applied index) and compacted its log through it. */
  | { readonly type: 'snapshotTaken'; readonly snapshot: Snapshot }
  /** Start an election now, as if the election timeout fired (through pre-vote when enabled). */
  | { readonly type: 'campaign' };

export type ProposeRejection =
  | { readonly type: 'not_leader'; readonly leader: NodeId | null }
  | { readonly type: 'transfer_in_progress'; readonly to: NodeId }
  /** A config entry is not yet committed, or this leader has not yet committed an entry of its term. */
  | { readonly type: 'config_change_in_progress' }
  | { readonly type: 'too_many_uncommitted'; readonly limit: number }
  | { readonly type: 'empty_batch' }
  | { readonly type: 'already_voter'; readonly node: NodeId }
  | { readonly type: 'not_a_voter'; readonly node: NodeId }
  | { readonly type: 'last_voter'; readonly node: NodeId };

export type ProposeResult =
  | { readonly type: 'accepted'; readonly firstIndex: Index; readonly lastIndex: Index; readonly term: Term }
  | { readonly type: 'rejected'; readonly reason: ProposeRejection };

export type ReadFailure =
  | { readonly type: 'not_leader'; readonly leader: NodeId | null }
  | { readonly type: 'too_many_pending_reads'; readonly limit: number };

export type ReadResult = { readonly type: 'ready'; readonly index: Index } | { readonly type: 'failed'; readonly reason: ReadFailure };

export type TransferFailure =
  | { readonly type: 'not_leader'; readonly leader: NodeId | null }
  | { readonly type: 'not_a_voter' }
  | { readonly type: 'already_leader' }
  /** The target did not win within an election timeout; the leader takes proposals again. */
  | { readonly type: 'timeout' }
  /** A transfer to another node replaced this one. */
  | { readonly type: 'superseded'; readonly by: NodeId };

export type RaftEffect =
  /**
   * Make durable, in one write: `hardState` when given; `entries` when given,
   * replacing every stored entry at or after entries[0].index (conflict
   * truncation is implied by the first index). Durable before the next effect.
   */
  | { readonly type: 'persist'; readonly hardState?: HardState; readonly entries?: readonly LogEntry[] }
  /**
   * A snapshot received from the leader: make it durable and restore the state
   * machine from it. keepEntriesAfter: the log already held (index, term), so
   * keep the entries after it (RaftStorage.saveSnapshot); otherwise drop the
   * whole log (RaftStorage.installSnapshot). Durable before the next effect.
   */
  | { readonly type: 'installSnapshot'; readonly snapshot: Snapshot; readonly keepEntriesAfter: boolean }
  | { readonly type: 'send'; readonly to: NodeId; readonly msg: RaftMessage }
  /** Committed entries, contiguous, starting right after the last applied index. */
  | { readonly type: 'apply'; readonly entries: readonly LogEntry[] }
  /** Hint: enough was applied since the last snapshot; take one at `meta` and report it with `snapshotTaken`. */
  | { readonly type: 'takeSnapshot'; readonly meta: SnapshotMeta }
  /** The outcome of a `propose` or a `changeMembership` (accepted = appended, not yet committed). */
  | { readonly type: 'proposeResult'; readonly id: RequestId; readonly result: ProposeResult }
  | { readonly type: 'readResult'; readonly id: RequestId; readonly result: ReadResult }
  | { readonly type: 'transferFailed'; readonly to: NodeId; readonly reason: TransferFailure }
  /** This member's view of (term, role, leader) changed. */
  | { readonly type: 'leaderChanged'; readonly term: Term; readonly role: Role; readonly leader: NodeId | null };

export type RaftEffectType = RaftEffect['type'];

export interface RaftInit {
  readonly id: NodeId;
  readonly config: RaftConfig;
  /** Draws the randomized election timeouts; seeded in simulations. */
  readonly rng: Rng;
  /**
   * The founding voter set, used only when neither the persisted snapshot nor
   * the log holds a config. Every founding member gets the same set. A node
   * that joins later passes [] and learns its config from the leader's log.
   */
  readonly bootstrapVoters: readonly NodeId[];
  /** What storage.load() returned; omit for a brand-new member. */
  readonly persisted?: Persisted;
}

export interface ProgressView {
  readonly match: Index;
  readonly next: Index;
  readonly mode: 'probe' | 'replicate' | 'snapshot';
  /** Set for a node the latest config removed (at this index), replicated to until it knows (not a voter). */
  readonly leavingAt?: Index;
}

export interface RaftStatus {
  readonly id: NodeId;
  readonly role: Role;
  readonly term: Term;
  readonly vote: NodeId | null;
  readonly leader: NodeId | null;
  readonly commit: Index;
  readonly applied: Index;
  /** The log is durable through here (as reported by `persisted`). */
  readonly persisted: Index;
  readonly snapshotIndex: Index;
  readonly snapshotTerm: Term;
  readonly lastIndex: Index;
  readonly lastTerm: Term;
  readonly voters: readonly NodeId[];
  readonly transferee: NodeId | null;
  /** Per follower, on a leader. */
  readonly progress: Readonly<Record<string, ProgressView>>;
}

// ---------------------------------------------------------------------------
// Internal state
// ---------------------------------------------------------------------------

/** What the leader knows of one follower (etcd's Progress, simplified). */
interface Progress {
  /** Highest index known to match the leader's log. */
  match: Index;
  /** Next index to send. */
  next: Index;
  /**
   * probe: one append at a time, until one succeeds (after a rejection or at
   * the start of a term); replicate: pipelined appends, up to
   * maxInflightAppends; snapshot: an InstallSnapshot transfer is under way.
   */
  mode: 'probe' | 'replicate' | 'snapshot';
  /** probe: an append is out and unanswered. */
  probeSent: boolean;
  /** replicate: last index of each unacknowledged append, ascending. */
  inflight: Index[];
  /** The leader's tick count when this follower last answered anything. */
  lastHeard: number;
  /** An append acknowledgement advanced `match` since the last heartbeat round. */
  ackedSinceHeartbeat: boolean;
  snap: { index: Index; offset: number; stalled: boolean } | null;
  /**
   * A node the latest config removed (at this index): still replicated to, not counted in any majority, until
   * it answers a heartbeat with a commit index at or past this (it knows the removal committed), so that it
   * stops campaigning instead of pre-voting forever.
   */
  leavingAt: Index | null;
}

interface PendingRead {
  /** The shell's request id; -1 for a follower's request (`origin`). */
  readonly id: RequestId;
  /** A follower's readIndexReq, answered with the index once confirmed instead of a readResult here. */
  readonly origin: { readonly node: NodeId; readonly reqId: number } | null;
  /** The commit index the read waits for; null until this leader has committed an entry of its term. */
  index: Index | null;
  /** The heartbeat round that confirms it. */
  seq: number | null;
  readonly acks: Set<NodeId>;
  confirmed: boolean;
}

function unreachable(x: never): never {
  throw new RaftError('bad_input', `unexpected ${JSON.stringify(x)}`);
}

/** An entry's command size in JSON characters; the text is kept for the storage and the wire (entry-text.ts). */
function entryChars(e: LogEntry): number {
  if (e instanceof ColdEntry) return e.chars;
  return e.data === null || e.data === undefined ? 4 : (entryTexts.lengthOf(e) ?? 4);
}

const sameVoters = (a: readonly NodeId[], b: readonly NodeId[]): boolean =>
  a.length === b.length && a.every((v) => b.includes(v));

// ---------------------------------------------------------------------------
// The core
// ---------------------------------------------------------------------------

export class RaftCore {
  readonly id: NodeId;
  private readonly cfg: RaftConfig;
  private readonly rng: Rng;

  private term: Term;
  private vote: NodeId | null;
  private role: Role = 'follower';
  private leader: NodeId | null = null;
  private readonly log: RaftLog;
  private commit: Index;
  private applied: Index;
  private persistedIndex: Index;
  /** The latest snapshot (sent to followers that are behind the log's start). */
  private snapshot: Snapshot | null;

  private electionElapsed = 0;
  private heartbeatElapsed = 0;
  private randomizedTimeout = 0;
  private readonly votes = new Map<NodeId, boolean>();

  private readonly progress = new Map<NodeId, Progress>();
  /** Ticks since this node became leader (check-quorum's clock). */
  private leaderTicks = 0;
  /** Index of this leader's noop: reads and config changes wait until it commits. */
  private leaderStartIndex: Index = 0;
  private transfer: { to: NodeId; elapsed: number } | null = null;
  private reads: PendingRead[] = [];
  private readSeq = 0;
  /** A follower's reads: asked of the leader `to`, served here once `index` is known and applied. */
  private asked: { readonly id: RequestId; readonly reqId: number; readonly to: NodeId; readonly sentAt: number; index: Index | null }[] = [];
  private askSeq = 0;
  /**
   * Random high bits of this core's read request ids, drawn at its first follower read: a restarted node's new
   * core must never take an answer meant for its previous incarnation (an older, possibly lower index) as its own.
   */
  private askEpoch: number | null = null;
  /** Ticks since the core started (a follower's read requests time out by it). */
  private ticks = 0;
  /** A snapshot being received, chunk by chunk. */
  private incoming: { meta: SnapshotMeta; parts: string[]; received: number } | null = null;
  private snapshotHintAt: Index = 0;

  // Per-step output, turned into effects by flush().
  private sends: RaftEffect[] = [];
  private installs: RaftEffect[] = [];
  private tail: RaftEffect[] = [];
  /** Lowest log index changed since the last persist effect. */
  private dirtyFrom: Index | null = null;
  /** The hard state last handed to the shell to persist. */
  private savedHardState: HardState;
  private reported: { term: Term; role: Role; leader: NodeId | null };
  private stepIsTick = false;

  constructor(init: RaftInit) {
    this.id = init.id;
    this.cfg = init.config;
    this.rng = init.rng;
    const p: Persisted = init.persisted ?? { hardState: { term: 0, vote: null, commit: 0 }, snapshot: null, entries: [] };
    const meta = p.snapshot?.meta;
    this.log = new RaftLog(meta ?? { index: 0, term: 0, voters: init.bootstrapVoters }, p.entries);
    this.snapshot = p.snapshot;
    this.term = p.hardState.term;
    this.vote = p.hardState.vote;
    // The commit hint can only lag (it is written with or after the entries it
    // covers), and everything in a snapshot is committed.
    this.commit = Math.max(this.log.snapshotIndex, Math.min(p.hardState.commit, this.log.lastIndex));
    // The shell restores the state machine from the snapshot before the first step.
    this.applied = this.log.snapshotIndex;
    this.snapshotHintAt = this.log.snapshotIndex;
    this.persistedIndex = this.log.lastIndex;
    this.savedHardState = p.hardState;
    this.reported = { term: this.term, role: this.role, leader: null };
    this.resetRandomizedTimeout();
  }

  /** Handle one input to completion. Never does I/O; the effects are the shell's to run, in order. */
  step(input: RaftInput): RaftEffect[] {
    this.stepIsTick = input.type === 'tick';
    switch (input.type) {
      case 'tick':
        this.ticks++;
        if (this.role === 'leader') this.tickLeader();
        else this.tickElection();
        this.expireAskedReads();
        break;
      case 'message':
        this.receive(input.from, input.msg);
        break;
      case 'propose':
        this.propose(input.id, input.commands);
        break;
      case 'persisted':
        this.onPersisted(input.index, input.term);
        break;
      case 'readIndex':
        this.readIndex(input.id);
        break;
      case 'transferLeadership':
        this.transferLeadership(input.to);
        break;
      case 'changeMembership':
        this.changeMembership(input.id, input.change);
        break;
      case 'snapshotTaken':
        this.snapshotTaken(input.snapshot);
        break;
      case 'campaign':
        this.hup(false);
        break;
      default:
        unreachable(input);
    }
    return this.flush();
  }

  // ---- queries (pure reads, for the shell, tests and the simulator) ----

  status(): RaftStatus {
    const progress: Record<string, ProgressView> = {};
    for (const [id, pr] of this.progress) progress[id] = { match: pr.match, next: pr.next, mode: pr.mode, ...(pr.leavingAt === null ? {} : { leavingAt: pr.leavingAt }) };
    return {
      id: this.id,
      role: this.role,
      term: this.term,
      vote: this.vote,
      leader: this.leader,
      commit: this.commit,
      applied: this.applied,
      persisted: this.persistedIndex,
      snapshotIndex: this.log.snapshotIndex,
      snapshotTerm: this.log.snapshotTerm,
      lastIndex: this.log.lastIndex,
      lastTerm: this.log.lastTerm,
      voters: this.log.voters,
      transferee: this.transfer?.to ?? null,
      progress,
    };
  }

  /** The entries after the snapshot (a copy). */
  entries(): LogEntry[] {
    return this.log.all();
  }

  /** The metadata a snapshot taken at `index` (snapshotIndex ≤ index ≤ applied) must carry. */
  snapshotMetaAt(index: Index): SnapshotMeta {
    const term = this.log.term(index);
    if (term === undefined || index > this.applied) {
      throw new RaftError('bad_input', `no snapshot at ${index}: applied ${this.applied}, log ${this.log.snapshotIndex}..${this.log.lastIndex}`);
    }
    return { index, term, voters: this.log.votersAt(index) };
  }

  // ---------------------------------------------------------------------------
  // Effects
  // ---------------------------------------------------------------------------

  private send(to: NodeId, msg: RaftMessage): void {
    this.sends.push({ type: 'send', to, msg });
  }

  private markDirty(from: Index): void {
    this.dirtyFrom = this.dirtyFrom === null ? from : Math.min(this.dirtyFrom, from);
  }

  private flush(): RaftEffect[] {
    const effects: RaftEffect[] = [];
    // The unsafe switch holds persistence back to the next tick, so sends
    // (acknowledgements) go out before the data they acknowledge is durable.
    if (!this.cfg.unsafe.ackBeforePersist || this.stepIsTick) {
      const p = this.takePersist();
      if (p !== null) effects.push(p);
    }
    effects.push(...this.installs, ...this.sends);
    if (this.commit > this.applied) {
      const entries = this.log.slice(this.applied + 1, this.commit);
      this.applied = this.commit;
      effects.push({ type: 'apply', entries });
      // What is applied and durable goes cold, but for the last keepAppliedEntries (log.ts, ColdEntry).
      this.log.chill(Math.min(this.applied - this.cfg.keepAppliedEntries, this.persistedIndex), entryChars);
    }
    this.releaseReads();
    this.releaseAskedReads();
    const threshold = this.cfg.snapshotThresholdEntries;
    if (threshold > 0 && this.applied - Math.max(this.log.snapshotIndex, this.snapshotHintAt) >= threshold) {
      this.snapshotHintAt = this.applied;
      this.tail.push({ type: 'takeSnapshot', meta: this.snapshotMetaAt(this.applied) });
    }
    const r = this.reported;
    if (r.role !== this.role || r.leader !== this.leader || (this.leader !== null && r.term !== this.term)) {
      this.reported = { term: this.term, role: this.role, leader: this.leader };
      this.tail.push({ type: 'leaderChanged', term: this.term, role: this.role, leader: this.leader });
    }
    effects.push(...this.tail);
    this.sends = [];
    this.installs = [];
    this.tail = [];
    return effects;
  }

  private takePersist(): RaftEffect | null {
    const hs = this.savedHardState;
    const termOrVote = hs.term !== this.term || hs.vote !== this.vote;
    let entries: LogEntry[] = [];
    if (this.dirtyFrom !== null) {
      const from = Math.max(this.dirtyFrom, this.log.firstIndex);
      entries = this.log.slice(from, this.log.lastIndex);
      this.dirtyFrom = null;
      // Only applied, durable entries go cold: one to write again would be a bug, and its data is gone.
      if (entries.some((e) => e instanceof ColdEntry)) throw new RaftError('invariant_violated', `persist from ${from} holds a cold entry`);
    }
    // The commit hint rides along with writes that happen anyway; alone it is not worth an fsync.
    const withHardState = termOrVote || (entries.length > 0 && hs.commit !== this.commit);
    if (!withHardState && entries.length === 0) return null;
    const hardState: HardState = { term: this.term, vote: this.vote, commit: this.commit };
    if (withHardState) this.savedHardState = hardState;
    return {
      type: 'persist',
      ...(withHardState ? { hardState } : {}),
      ...(entries.length > 0 ? { entries } : {}),
    };
  }

  /** An invariant broken. A deliberately unsafe node carries on, so the simulator's checkers see what follows. */
  private violated(detail: string): void {
    if (this.cfg.unsafe.ackBeforePersist || this.cfg.unsafe.grantVoteWithoutLogCheck) return;
    throw new RaftError('invariant_violated', `${this.id}: ${detail}`);
  }

  // ---------------------------------------------------------------------------
  // Roles
  // ---------------------------------------------------------------------------

  private get voters(): readonly NodeId[] {
    return this.log.voters;
  }

  private quorum(): number {
    return Math.floor(this.voters.length / 2) + 1;
  }

  /**
   * Who may start elections: a voter of its latest config, and also a node that
   * latest config removes while that config is not known to be committed. The
   * second may be the only one holding the entries the new config needs (a
   * leader that appended its own removal and restarted), so it must still be
   * able to lead until the change commits (dissertation §4.2.2). Its own vote
   * never counts: tallies only count members of the latest config.
   */
  private promotable(): boolean {
    if (this.voters.includes(this.id)) return true;
    const cfgIndex = this.log.lastConfigIndex;
    return cfgIndex > this.commit && this.log.votersAt(cfgIndex - 1).includes(this.id);
  }

  private resetRandomizedTimeout(): void {
    const e = this.cfg.electionTicks;
    this.randomizedTimeout = this.rng.int(e, 2 * e - 1);
  }

  /**
   * Leader stickiness (check-quorum): while we have heard from a live leader
   * within an election timeout, a vote for someone else would only disrupt it.
   */
  private inLease(): boolean {
    if (!this.cfg.checkQuorum) return false;
    return this.role === 'leader' || (this.leader !== null && this.electionElapsed < this.cfg.electionTicks);
  }

  private becomeFollower(term: Term, leader: NodeId | null): void {
    const wasLeader = this.role === 'leader';
    if (term !== this.term) {
      this.term = term;
      this.vote = null;
    }
    this.role = 'follower';
    this.leader = leader;
    this.electionElapsed = 0;
    this.resetRandomizedTimeout();
    this.votes.clear();
    if (wasLeader) {
      this.progress.clear();
      this.transfer = null;
      for (const r of this.reads) this.failRead(r, leader);
      this.reads = [];
    }
    this.failAskedReads();
  }

  /** Election timeout or `campaign`. `transfer`: TimeoutNow, skip pre-vote and leases. */
  private hup(transfer: boolean): void {
    if (this.role === 'leader' || !this.promotable()) return;
    if (this.cfg.preVote && !transfer) this.becomePreCandidate();
    else this.becomeCandidate(transfer);
  }

  private becomePreCandidate(): void {
    // Neither term nor vote changes: a node that cannot win never disturbs the cluster.
    this.role = 'preCandidate';
    this.leader = null;
    this.failAskedReads();
    this.electionElapsed = 0;
    this.resetRandomizedTimeout();
    this.votes.clear();
    this.votes.set(this.id, true);
    if (this.tally() === 'won') {
      this.becomeCandidate(false);
      return;
    }
    const msg: RaftMessage = { type: 'preVote', term: this.term + 1, lastIndex: this.log.lastIndex, lastTerm: this.log.lastTerm };
    for (const v of this.voters) if (v !== this.id) this.send(v, msg);
  }

  private becomeCandidate(transfer: boolean): void {
    this.term += 1;
    this.vote = this.id;
    this.role = 'candidate';
    this.leader = null;
    this.failAskedReads();
    this.electionElapsed = 0;
    this.resetRandomizedTimeout();
    this.votes.clear();
    this.votes.set(this.id, true);
    if (this.tally() === 'won') {
      this.becomeLeader();
      return;
    }
    const msg: RaftMessage = { type: 'vote', term: this.term, lastIndex: this.log.lastIndex, lastTerm: this.log.lastTerm, transfer };
    for (const v of this.voters) if (v !== this.id) this.send(v, msg);
  }

  private becomeLeader(): void {
    this.role = 'leader';
    this.leader = this.id;
    this.transfer = null;
    this.electionElapsed = 0;
    this.heartbeatElapsed = 0;
    this.leaderTicks = 0;
    this.votes.clear();
    this.progress.clear();
    for (const v of this.voters) if (v !== this.id) this.progress.set(v, this.newProgress(this.log.lastIndex + 1));
    // The nodes the latest config removed may not have been told by the leader that removed them (it may have
    // lost leadership first): tell them too (see Progress.leavingAt); one told already answers once, a gone one
    // is dropped after two election timeouts.
    const cfgIndex = this.log.lastConfigIndex;
    if (cfgIndex > 0) {
      for (const v of this.log.votersAt(cfgIndex - 1)) {
        if (v === this.id || this.voters.includes(v)) continue;
        const pr = this.newProgress(this.log.lastIndex + 1);
        pr.leavingAt = cfgIndex;
        this.progress.set(v, pr);
      }
    }
    // A noop of the new term: entries of earlier terms commit only under an
    // entry of the current term (§5.4.2), and reads need one committed (§6.4).
    const noop: LogEntry = { term: this.term, index: this.log.lastIndex + 1, kind: 'noop', data: null };
    this.appendLocal([noop]);
    this.leaderStartIndex = noop.index;
    this.broadcastAppend();
    this.maybeCommit();
  }

  private newProgress(next: Index): Progress {
    return { match: 0, next, mode: 'probe', probeSent: false, inflight: [], lastHeard: this.leaderTicks, ackedSinceHeartbeat: false, snap: null, leavingAt: null };
  }

  private tally(): 'won' | 'lost' | 'pending' {
    let granted = 0;
    let rejected = 0;
    for (const v of this.voters) {
      const g = this.votes.get(v);
      if (g === true) granted++;
      else if (g === false) rejected++;
    }
    const q = this.quorum();
    if (granted >= q) return 'won';
    if (rejected > this.voters.length - q) return 'lost';
    return 'pending';
  }

  private poll(from: NodeId, granted: boolean): void {
    if (!this.voters.includes(from)) return;
    this.votes.set(from, granted);
    const t = this.tally();
    if (t === 'won') {
      if (this.role === 'preCandidate') this.becomeCandidate(false);
      else this.becomeLeader();
    } else if (t === 'lost') {
      this.becomeFollower(this.term, null);
    }
  }

  // ---------------------------------------------------------------------------
  // Ticks
  // ---------------------------------------------------------------------------

  private tickElection(): void {
    this.electionElapsed++;
    if (this.electionElapsed >= this.randomizedTimeout && this.promotable()) {
      this.electionElapsed = 0;
      this.hup(false);
    }
  }

  private tickLeader(): void {
    this.leaderTicks++;
    this.heartbeatElapsed++;
    if (this.transfer !== null && ++this.transfer.elapsed >= this.cfg.electionTicks) {
      this.tail.push({ type: 'transferFailed', to: this.transfer.to, reason: { type: 'timeout' } });
      this.transfer = null;
    }
    if (this.cfg.checkQuorum && !this.quorumActive()) {
      // No majority heard from within an election timeout: a leader elsewhere
      // may already be taking writes, and our followers may be voting for it.
      this.becomeFollower(this.term, null);
      return;
    }
    // A removed node that stopped answering is not told any longer (it may be gone for good).
    for (const [v, pr] of this.progress) if (pr.leavingAt !== null && this.leaderTicks - pr.lastHeard >= 2 * this.cfg.electionTicks) this.progress.delete(v);
    if (this.heartbeatElapsed >= this.cfg.heartbeatTicks) {
      this.heartbeatElapsed = 0;
      this.broadcastHeartbeat();
    }
  }

  /** Has a majority (counting ourselves if a voter) answered within the last election timeout? */
  private quorumActive(): boolean {
    let active = 0;
    for (const v of this.voters) {
      const pr = this.progress.get(v);
      if (v === this.id || (pr !== undefined && this.leaderTicks - pr.lastHeard < this.cfg.electionTicks)) active++;
    }
    return active >= this.quorum();
  }

  // ---------------------------------------------------------------------------
  // Messages
  // ---------------------------------------------------------------------------

  private receive(from: NodeId, m: RaftMessage): void {
    if (m.term > this.term) {
      if (m.type === 'preVote' || (m.type === 'preVoteResp' && m.granted)) {
        // Pre-vote traffic is about a future term: it never changes ours.
      } else if (m.type === 'vote' && !m.transfer && this.inLease()) {
        // Leader stickiness: ignore it, and keep our term, so a node that was
        // cut off cannot depose a leader that a majority still hears.
        return;
      } else {
        const fromLeader = m.type === 'append' || m.type === 'heartbeat' || m.type === 'snapshot';
        this.becomeFollower(m.term, fromLeader ? from : null);
      }
    } else if (m.term < this.term) {
      this.answerStale(from, m);
      return;
    }
    switch (m.type) {
      case 'preVote':
        this.handlePreVote(from, m.term, m.lastIndex, m.lastTerm);
        break;
      case 'preVoteResp':
        if (this.role !== 'preCandidate') return;
        if (m.granted && m.term === this.term + 1) this.poll(from, true);
        else if (!m.granted) this.poll(from, false);
        break;
      case 'vote':
        this.handleVote(from, m.lastIndex, m.lastTerm);
        break;
      case 'voteResp':
        if (this.role === 'candidate') this.poll(from, m.granted);
        break;
      case 'append':
        if (this.acceptLeader(from)) this.handleAppend(from, m);
        break;
      case 'appendResp':
        if (this.role === 'leader') {
          if (m.success) this.handleAppendSuccess(from, m.match);
          else this.handleAppendReject(from, m.rejected, m.hintIndex, m.hintTerm);
        }
        break;
      case 'heartbeat':
        if (!this.acceptLeader(from)) return;
        if (m.commit > this.commit) this.commitTo(Math.min(m.commit, this.log.lastIndex));
        this.send(from, { type: 'heartbeatResp', term: this.term, readSeq: m.readSeq, commit: this.commit });
        break;
      case 'heartbeatResp':
        if (this.role === 'leader') this.handleHeartbeatResp(from, m.readSeq, m.commit);
        break;
      case 'snapshot':
        if (this.acceptLeader(from)) this.handleSnapshotChunk(from, m);
        break;
      case 'snapshotResp':
        if (this.role === 'leader') this.handleSnapshotResp(from, m.index, m.installed, m.nextOffset);
        break;
      case 'timeoutNow':
        this.hup(true);
        break;
      case 'readIndexReq':
        this.handleReadIndexReq(from, m.reqId);
        break;
      case 'readIndexResp':
        this.handleReadIndexResp(from, m.reqId, m.index);
        break;
      default:
        unreachable(m);
    }
  }

  /** A message from an older term: tell the sender our term so a stale leader or candidate steps down. */
  private answerStale(from: NodeId, m: RaftMessage): void {
    switch (m.type) {
      case 'append':
      case 'heartbeat':
      case 'snapshot':
        this.send(from, { type: 'heartbeatResp', term: this.term, readSeq: 0 });
        break;
      case 'readIndexReq':
        // Our term tells the asker its leader is stale; its read fails there and the client retries.
        this.send(from, { type: 'readIndexResp', term: this.term, reqId: m.reqId, index: null });
        break;
      case 'preVote':
        this.send(from, { type: 'preVoteResp', term: this.term, granted: false });
        break;
      case 'vote':
        this.send(from, { type: 'voteResp', term: this.term, granted: false });
        break;
      default:
        break;
    }
  }

  /** A leader's message at our term: follow it. False if we are ourselves leader of this term. */
  private acceptLeader(from: NodeId): boolean {
    if (this.role === 'leader') {
      this.violated(`two leaders in term ${this.term}: ${this.id} and ${from}`);
      return false;
    }
    if (this.role !== 'follower' || this.leader !== from) this.becomeFollower(this.term, from);
    this.electionElapsed = 0;
    return true;
  }

  private logOk(lastIndex: Index, lastTerm: Term): boolean {
    return this.cfg.unsafe.grantVoteWithoutLogCheck || this.log.isUpToDate(lastIndex, lastTerm);
  }

  private handlePreVote(from: NodeId, term: Term, lastIndex: Index, lastTerm: Term): void {
    // term ≥ this.term here (older ones were answered as stale).
    const canVote = term > this.term || this.vote === from || (this.vote === null && this.leader === null);
    if (!this.inLease() && canVote && this.logOk(lastIndex, lastTerm)) {
      this.send(from, { type: 'preVoteResp', term, granted: true });
    } else {
      this.send(from, { type: 'preVoteResp', term: this.term, granted: false });
    }
  }

  private handleVote(from: NodeId, lastIndex: Index, lastTerm: Term): void {
    const canVote = this.vote === from || (this.vote === null && this.leader === null);
    if (canVote && this.logOk(lastIndex, lastTerm)) {
      // Recorded in the hard state, which the persist effect writes before the reply is sent.
      this.vote = from;
      this.electionElapsed = 0;
      this.send(from, { type: 'voteResp', term: this.term, granted: true });
    } else {
      this.send(from, { type: 'voteResp', term: this.term, granted: false });
    }
  }

  // ---- replication: follower side ----

  private handleAppend(from: NodeId, m: AppendRequest): void {
    let prevIndex = m.prevIndex;
    let entries = m.entries;
    if (prevIndex < this.commit) {
      // Everything through our commit index is already identical to the
      // leader's (Leader Completeness): skip that part rather than re-check it.
      const skip = Math.min(this.commit - prevIndex, entries.length);
      // One comparison checks that premise (log matching covers the rest). It
      // only fails if safety is already lost, e.g. under an unsafe switch; then
      // refuse the append rather than splice it onto a log it does not match.
      const lastSkipped = entries[skip - 1];
      const ours = lastSkipped === undefined ? undefined : this.log.term(lastSkipped.index);
      if (lastSkipped !== undefined && ours !== undefined && ours !== lastSkipped.term) {
        this.violated(`${from} sent entry ${lastSkipped.index} of term ${lastSkipped.term}; committed here with term ${ours}`);
        this.send(from, this.rejectAppend(m.prevIndex, this.log.term(m.prevIndex)));
        return;
      }
      entries = entries.slice(skip);
      prevIndex += skip;
      if (prevIndex < this.commit) {
        this.send(from, { type: 'appendResp', term: this.term, success: true, match: this.commit });
        return;
      }
    } else {
      const t = this.log.term(prevIndex);
      if (t !== m.prevTerm) {
        this.send(from, this.rejectAppend(prevIndex, t));
        return;
      }
    }
    // Skip entries we already hold; truncate only at the first real conflict.
    // A stale or duplicated append therefore never shortens the log.
    let i = 0;
    for (; i < entries.length; i++) {
      const e = entries[i]!;
      const t = this.log.term(e.index);
      if (t === undefined) break;
      if (t !== e.term) {
        this.truncateFrom(e.index);
        break;
      }
    }
    if (i < entries.length) this.appendLocal(entries.slice(i));
    const lastNew = prevIndex + entries.length;
    // Commit only what this append proved we share with the leader.
    this.commitTo(Math.min(m.commit, lastNew));
    this.send(from, { type: 'appendResp', term: this.term, success: true, match: lastNew });
  }

  private rejectAppend(prevIndex: Index, ourTerm: Term | undefined): RaftMessage {
    if (ourTerm === undefined) {
      return { type: 'appendResp', term: this.term, success: false, rejected: prevIndex, hintIndex: this.log.lastIndex + 1, hintTerm: null };
    }
    const hintIndex = Math.max(this.log.firstIndexOfTermAt(prevIndex), this.commit + 1);
    return { type: 'appendResp', term: this.term, success: false, rejected: prevIndex, hintIndex, hintTerm: ourTerm };
  }

  private truncateFrom(index: Index): void {
    if (index <= this.commit) {
      this.violated(`truncating committed entry ${index} (commit ${this.commit})`);
      this.commit = index - 1;
    }
    this.log.truncateFrom(index);
    this.persistedIndex = Math.min(this.persistedIndex, index - 1);
    this.markDirty(index);
  }

  private appendLocal(entries: readonly LogEntry[]): void {
    if (entries.length === 0) return;
    this.log.append(entries);
    this.markDirty(entries[0]!.index);
  }

  // ---- snapshots: follower side ----

  private handleSnapshotChunk(from: NodeId, m: SnapshotChunk): void {
    const meta = m.meta;
    const reply = (installed: boolean, nextOffset: number): void =>
      this.send(from, { type: 'snapshotResp', term: this.term, index: meta.index, installed, nextOffset });
    if (meta.index <= this.commit) {
      // We already hold everything it covers.
      this.incoming = null;
      reply(true, 0);
      return;
    }
    if (m.offset === 0) this.incoming = { meta, parts: [], received: 0 };
    const inc = this.incoming;
    const same = inc !== null && inc.meta.index === meta.index && inc.meta.term === meta.term;
    if (!same || m.offset !== inc.received) {
      // Out of order, or a chunk of a transfer we lost: ask for what we need.
      reply(false, same ? inc.received : 0);
      return;
    }
    inc.parts.push(m.data);
    inc.received += m.data.length;
    if (!m.done) {
      reply(false, inc.received);
      return;
    }
    this.incoming = null;
    this.restoreSnapshot({ meta, data: inc.parts.join('') });
    reply(true, inc.received);
  }

  /** Install a snapshot from the leader, atomically: log, commit and state machine move together. */
  private restoreSnapshot(snapshot: Snapshot): void {
    const meta = snapshot.meta;
    const keep = this.log.term(meta.index) === meta.term;
    if (keep) {
      // Our log holds the snapshot's last entry, so the entries after it are the leader's too: trim, keep the rest.
      this.log.compact(meta.index);
      this.persistedIndex = Math.max(this.persistedIndex, meta.index);
      if (this.dirtyFrom !== null) this.dirtyFrom = Math.max(this.dirtyFrom, meta.index + 1);
    } else {
      // A conflicting or missing suffix: the whole log is replaced.
      this.log.reset(meta);
      this.persistedIndex = meta.index;
      this.dirtyFrom = null;
    }
    this.snapshot = snapshot;
    this.commit = Math.max(this.commit, meta.index);
    this.applied = meta.index;
    this.snapshotHintAt = meta.index;
    this.installs.push({ type: 'installSnapshot', snapshot, keepEntriesAfter: keep });
  }

  // ---- replication: leader side ----

  private broadcastAppend(): void {
    for (const to of this.progress.keys()) this.sendAppendsWhileOpen(to);
  }

  private sendAppendsWhileOpen(to: NodeId): void {
    while (this.sendAppend(to, false)) {
      /* keep pipelining until caught up or the window is full */
    }
  }

  /** Send one append to `to` if its flow control allows. True when it carried entries and more may follow. */
  private sendAppend(to: NodeId, allowEmpty: boolean): boolean {
    const pr = this.progress.get(to);
    if (pr === undefined || pr.mode === 'snapshot') return false;
    if (pr.mode === 'probe' && pr.probeSent) return false;
    if (pr.mode === 'replicate' && pr.inflight.length >= this.cfg.maxInflightAppends) return false;
    if (pr.next > this.log.lastIndex + 1) pr.next = this.log.lastIndex + 1;
    const prevIndex = pr.next - 1;
    const prevTerm = this.log.term(prevIndex);
    if (prevTerm === undefined) {
      // The follower needs entries we compacted away.
      this.startSnapshot(to, pr);
      return false;
    }
    let last = Math.min(this.log.lastIndex, prevIndex + this.cfg.maxEntriesPerAppend);
    let entries = this.log.slice(prevIndex + 1, last);
    // Bound the message by size too: stop before the entry that would pass maxAppendChars (never below one entry).
    let chars = 0;
    for (let i = 0; i < entries.length; i++) {
      chars += entryChars(entries[i]!);
      if (chars > this.cfg.maxAppendChars && i > 0) {
        entries = entries.slice(0, i);
        last = prevIndex + i;
        break;
      }
    }
    if (entries.length === 0 && !allowEmpty) return false;
    this.send(to, { type: 'append', term: this.term, prevIndex, prevTerm, entries, commit: this.commit });
    if (pr.mode === 'replicate') {
      if (entries.length > 0) {
        pr.next = last + 1;
        pr.inflight.push(last);
      }
    } else {
      pr.probeSent = true;
    }
    return entries.length > 0 && pr.mode === 'replicate';
  }

  private handleAppendSuccess(from: NodeId, match: Index): void {
    const pr = this.progress.get(from);
    if (pr === undefined) return;
    pr.lastHeard = this.leaderTicks;
    if (pr.mode === 'snapshot') {
      // A late answer to an append sent before the snapshot started.
      if (match < (pr.snap?.index ?? 0)) return;
      pr.snap = null;
      pr.mode = 'probe';
    }
    const advanced = match > pr.match;
    if (advanced) {
      pr.match = match;
      pr.ackedSinceHeartbeat = true;
    }
    if (pr.next <= match) pr.next = match + 1;
    while (pr.inflight.length > 0 && pr.inflight[0]! <= match) pr.inflight.shift();
    if (pr.mode === 'probe') {
      pr.mode = 'replicate';
      pr.next = pr.match + 1;
      pr.inflight = [];
      pr.probeSent = false;
    }
    if (advanced) this.maybeCommit();
    if (this.role !== 'leader') return;
    if (this.transfer?.to === from && pr.match === this.log.lastIndex) this.send(from, { type: 'timeoutNow', term: this.term });
    this.sendAppendsWhileOpen(from);
  }

  private handleAppendReject(from: NodeId, rejected: Index, hintIndex: Index, hintTerm: Term | null): void {
    const pr = this.progress.get(from);
    if (pr === undefined) return;
    pr.lastHeard = this.leaderTicks;
    // Drop answers to appends we have since moved past.
    if (pr.mode === 'snapshot') return;
    if (pr.mode === 'replicate' && rejected <= pr.match) return;
    if (pr.mode === 'probe' && rejected !== pr.next - 1) return;
    // Skip the follower's whole conflicting term in one step: resume after our
    // last entry of that term if we have one, else at its first index of it.
    let next = hintIndex;
    if (hintTerm !== null) {
      const ours = this.log.lastIndexOfTerm(hintTerm, rejected);
      if (ours !== undefined) next = ours + 1;
    }
    pr.next = Math.max(pr.match + 1, Math.min(next, rejected));
    pr.mode = 'probe';
    pr.inflight = [];
    pr.probeSent = false;
    this.sendAppend(from, true);
  }

  private broadcastHeartbeat(): void {
    for (const [to, pr] of this.progress) {
      this.send(to, { type: 'heartbeat', term: this.term, commit: Math.min(this.commit, pr.match), readSeq: this.readSeq });
      pr.ackedSinceHeartbeat = false;
      if (pr.mode === 'snapshot' && pr.snap !== null) {
        // No answer for a whole heartbeat interval: the chunk (or its answer) was lost.
        if (pr.snap.stalled) this.sendChunk(to, pr);
        pr.snap.stalled = true;
      }
    }
  }

  private handleHeartbeatResp(from: NodeId, readSeq: number, commit: Index | undefined): void {
    const pr = this.progress.get(from);
    if (pr === undefined) return;
    pr.lastHeard = this.leaderTicks;
    if (pr.leavingAt !== null && commit !== undefined && commit >= pr.leavingAt) {
      this.progress.delete(from); // it says it knows its removal committed: nothing more to send it
      return;
    }
    if (readSeq > 0 && this.voters.includes(from)) {
      for (const r of this.reads) {
        if (r.seq === null || r.seq > readSeq) continue;
        r.acks.add(from);
        if (!r.confirmed && this.hasQuorum(r.acks)) r.confirmed = true;
      }
      this.answerFollowerReads();
    }
    if (pr.match < this.log.lastIndex) {
      // The follower is alive but behind. In probe, retry the probe; in
      // replicate with no acknowledgement for a whole heartbeat round, assume
      // appends were lost and fall back to probing from `match`.
      if (pr.mode === 'probe') {
        pr.probeSent = false;
        this.sendAppend(from, true);
      } else if (pr.mode === 'replicate' && !pr.ackedSinceHeartbeat) {
        pr.mode = 'probe';
        pr.next = pr.match + 1;
        pr.inflight = [];
        pr.probeSent = false;
        this.sendAppend(from, true);
      }
    }
  }

  private hasQuorum(acks: ReadonlySet<NodeId>): boolean {
    let n = 0;
    for (const v of this.voters) if (acks.has(v)) n++;
    return n >= this.quorum();
  }

  /** What the leader itself holds durably. */
  private selfMatch(): Index {
    if (this.cfg.unsafe.ackBeforePersist) return this.log.lastIndex;
    return Math.min(this.persistedIndex, this.log.lastIndex);
  }

  /**
   * Advance commit to the highest index a majority of the current voters hold,
   * but only if that entry is of the current term (§5.4.2: counting replicas of
   * an older term's entry is unsafe, Figure 8).
   */
  private maybeCommit(): void {
    if (this.role !== 'leader') return;
    const matches: Index[] = [];
    for (const v of this.voters) matches.push(v === this.id ? this.selfMatch() : (this.progress.get(v)?.match ?? 0));
    matches.sort((a, b) => b - a);
    const n = matches[this.quorum() - 1] ?? 0;
    if (n > this.commit && this.log.term(n) === this.term) this.commitTo(n);
  }

  private commitTo(index: Index): void {
    if (index <= this.commit) return;
    this.commit = index;
    if (this.role !== 'leader') return;
    // A leader removed from the config leads until that config commits, then steps down (§4.2.2).
    if (!this.promotable() && this.commit >= this.log.lastConfigIndex) {
      this.becomeFollower(this.term, null);
      return;
    }
    this.assignWaitingReads();
  }

  private onPersisted(index: Index, term: Term): void {
    // A stale report (the log was truncated and rewritten since) does not match the term.
    if (index <= this.persistedIndex || index > this.log.lastIndex || this.log.term(index) !== term) return;
    this.persistedIndex = index;
    this.maybeCommit();
  }

  // ---- snapshots: leader side ----

  private startSnapshot(to: NodeId, pr: Progress): void {
    if (this.snapshot === null) throw new RaftError('invariant_violated', `${this.id}: log compacted to ${this.log.snapshotIndex} without a snapshot`);
    pr.mode = 'snapshot';
    pr.inflight = [];
    pr.probeSent = false;
    pr.snap = { index: this.snapshot.meta.index, offset: 0, stalled: false };
    this.sendChunk(to, pr);
  }

  private sendChunk(to: NodeId, pr: Progress): void {
    const s = this.snapshot;
    if (s === null || pr.snap === null) return;
    if (pr.snap.index !== s.meta.index) pr.snap = { index: s.meta.index, offset: 0, stalled: false }; // a newer snapshot replaced it
    const offset = pr.snap.offset;
    const data = s.data.slice(offset, offset + this.cfg.snapshotChunkChars);
    const done = offset + data.length >= s.data.length;
    this.send(to, { type: 'snapshot', term: this.term, meta: s.meta, offset, data, done });
  }

  private handleSnapshotResp(from: NodeId, index: Index, installed: boolean, nextOffset: number): void {
    const pr = this.progress.get(from);
    if (pr === undefined) return;
    pr.lastHeard = this.leaderTicks;
    if (installed) {
      if (index > pr.match) pr.match = index;
      if (pr.mode !== 'snapshot' || pr.snap === null) return;
      if (pr.match < pr.snap.index && index !== pr.snap.index) return;
      pr.mode = 'probe';
      pr.snap = null;
      pr.next = pr.match + 1;
      pr.probeSent = false;
      this.maybeCommit();
      if (this.role === 'leader') this.sendAppend(from, true);
      return;
    }
    if (pr.mode !== 'snapshot' || pr.snap === null || index !== pr.snap.index) return;
    pr.snap.stalled = false;
    pr.snap.offset = nextOffset;
    this.sendChunk(from, pr);
  }

  private snapshotTaken(snapshot: Snapshot): void {
    const { index, term, voters } = snapshot.meta;
    if (index <= this.log.snapshotIndex) return; // older than what we hold
    if (index > this.applied) throw new RaftError('bad_input', `snapshot at ${index} is past the applied index ${this.applied}`);
    if (this.log.term(index) !== term) throw new RaftError('bad_input', `snapshot term ${term} at ${index}, log has ${this.log.term(index)}`);
    if (!sameVoters(voters, this.log.votersAt(index))) throw new RaftError('bad_input', `snapshot voters at ${index} differ from the log's`);
    this.log.compact(index);
    this.snapshot = snapshot;
    // Durable in the snapshot; a late `persisted` report for a compacted index would not match any more.
    this.persistedIndex = Math.max(this.persistedIndex, index);
  }

  // ---------------------------------------------------------------------------
  // Client requests
  // ---------------------------------------------------------------------------

  private reject(id: RequestId, reason: ProposeRejection): void {
    this.tail.push({ type: 'proposeResult', id, result: { type: 'rejected', reason } });
  }

  /** Why this node cannot append a client entry now, if it cannot. */
  private notAccepting(): ProposeRejection | null {
    if (this.role !== 'leader') return { type: 'not_leader', leader: this.leader };
    if (this.transfer !== null) return { type: 'transfer_in_progress', to: this.transfer.to };
    return null;
  }

  private propose(id: RequestId, commands: readonly Command[]): void {
    const no = this.notAccepting();
    if (no !== null) return this.reject(id, no);
    if (commands.length === 0) return this.reject(id, { type: 'empty_batch' });
    const limit = this.cfg.maxUncommittedEntries;
    if (this.log.lastIndex - this.commit + commands.length > limit) return this.reject(id, { type: 'too_many_uncommitted', limit });
    const first = this.log.lastIndex + 1;
    const entries = commands.map((data, i): LogEntry => ({ term: this.term, index: first + i, kind: 'command', data }));
    this.appendLocal(entries);
    this.tail.push({ type: 'proposeResult', id, result: { type: 'accepted', firstIndex: first, lastIndex: this.log.lastIndex, term: this.term } });
    this.broadcastAppend();
    this.maybeCommit();
  }

  private changeMembership(id: RequestId, change: MembershipChange): void {
    const no = this.notAccepting();
    if (no !== null) return this.reject(id, no);
    // One change at a time, and not before this leader has committed an entry
    // of its term: an uncommitted config from an earlier leader may still be in
    // the log (the single-server change bug, Ongaro 2015).
    if (this.log.lastConfigIndex > this.commit || this.commit < this.leaderStartIndex) {
      return this.reject(id, { type: 'config_change_in_progress' });
    }
    const voters = this.voters;
    let next: NodeId[];
    if (change.type === 'addVoter') {
      if (voters.includes(change.node)) return this.reject(id, { type: 'already_voter', node: change.node });
      next = [...voters, change.node];
    } else {
      if (!voters.includes(change.node)) return this.reject(id, { type: 'not_a_voter', node: change.node });
      next = voters.filter((v) => v !== change.node);
      if (next.length === 0) return this.reject(id, { type: 'last_voter', node: change.node });
    }
    const entry: LogEntry = { term: this.term, index: this.log.lastIndex + 1, kind: 'config', data: { voters: next } };
    // The new config is in force from here on, committed or not.
    this.appendLocal([entry]);
    for (const v of next) {
      if (v === this.id) continue;
      const pr = this.progress.get(v);
      if (pr === undefined) this.progress.set(v, this.newProgress(entry.index));
      else pr.leavingAt = null; // re-added while still being told of its removal: an ordinary follower again
    }
    // A removed node keeps being replicated to until it knows the removal committed (see Progress.leavingAt).
    for (const [v, pr] of this.progress) if (!next.includes(v) && pr.leavingAt === null) pr.leavingAt = entry.index;
    // Reads waiting for acknowledgements are judged by the new voters from now on: a removed node's answer no
    // longer counts, and without this a read could wait for good (two voters shrunk to one).
    for (const r of this.reads) if (r.seq !== null && !r.confirmed) r.confirmed = this.hasQuorum(r.acks);
    this.answerFollowerReads();
    this.tail.push({ type: 'proposeResult', id, result: { type: 'accepted', firstIndex: entry.index, lastIndex: entry.index, term: this.term } });
    this.broadcastAppend();
    this.maybeCommit();
  }

  private readIndex(id: RequestId): void {
    const limit = this.cfg.maxPendingReads;
    if (this.role === 'follower' && this.leader !== null && this.cfg.followerReads) {
      // ReadIndex on a follower (dissertation §6.4): the leader confirms a commit index, this node serves the read
      // once it has applied through it.
      if (this.asked.length >= limit) {
        this.readFailed(id, { type: 'too_many_pending_reads', limit });
        return;
      }
      if (this.cfg.unsafe.followerReadsWithoutLeader) {
        this.readReady(id, this.applied);
        return;
      }
      this.askEpoch ??= this.rng.int(0, 2 ** 31 - 1);
      const reqId = this.askEpoch * 2 ** 21 + (++this.askSeq % 2 ** 21);
      this.asked.push({ id, reqId, to: this.leader, sentAt: this.ticks, index: null });
      this.send(this.leader, { type: 'readIndexReq', term: this.term, reqId });
      return;
    }
    if (this.role !== 'leader') {
      this.readFailed(id, { type: 'not_leader', leader: this.leader });
      return;
    }
    if (this.reads.length >= limit) {
      this.readFailed(id, { type: 'too_many_pending_reads', limit });
      return;
    }
    this.reads.push({ id, origin: null, index: null, seq: null, acks: new Set(), confirmed: false });
    this.assignWaitingReads();
  }

  /** A follower's read: queued with the leader's own, confirmed by the same heartbeat round, answered with the index. */
  private handleReadIndexReq(from: NodeId, reqId: number): void {
    // Not from a voter: a node removed from the config no longer gets the entries to serve the read with.
    if (this.role !== 'leader' || !this.voters.includes(from) || this.reads.length >= this.cfg.maxPendingReads) {
      this.send(from, { type: 'readIndexResp', term: this.term, reqId, index: null });
      return;
    }
    this.reads.push({ id: -1, origin: { node: from, reqId }, index: null, seq: null, acks: new Set(), confirmed: false });
    this.assignWaitingReads();
  }

  private handleReadIndexResp(from: NodeId, reqId: number, index: Index | null): void {
    const at = this.asked.findIndex((r) => r.reqId === reqId && r.to === from);
    if (at < 0) return; // failed meanwhile (timeout, a new leader): the client was answered already
    const r = this.asked[at]!;
    if (index === null) {
      this.asked.splice(at, 1);
      this.readFailed(r.id, { type: 'not_leader', leader: this.leader === from ? null : this.leader });
      return;
    }
    // Committed on the leader, so never undone: served once applied here, whoever leads by then.
    r.index = index;
  }

  /** Reads whose index came back and has been applied here are ready. */
  private releaseAskedReads(): void {
    if (this.asked.length === 0) return;
    this.asked = this.asked.filter((r) => {
      if (r.index === null || r.index > this.applied) return true;
      this.readReady(r.id, r.index);
      return false;
    });
  }

  /** Unanswered reads asked of a node that no longer leads for us fail (the client asks again). */
  private failAskedReads(): void {
    if (this.asked.length === 0) return;
    this.asked = this.asked.filter((r) => {
      if (r.index !== null || r.to === this.leader) return true;
      this.readFailed(r.id, { type: 'not_leader', leader: this.leader });
      return false;
    });
  }

  /**
   * An answer that has not come within an election timeout (lost, or the leader is gone) fails the read, and so
   * does an answered read not applied within four.
   */
  private expireAskedReads(): void {
    if (this.asked.length === 0) return;
    this.asked = this.asked.filter((r) => {
      // Answered reads get longer (applying may take a while after a partition), but not forever: a node that
      // stopped receiving entries would hold them, and the pending-read bound, for good.
      const limit = r.index === null ? this.cfg.electionTicks : 4 * this.cfg.electionTicks;
      if (this.ticks - r.sentAt < limit) return true;
      this.readFailed(r.id, { type: 'not_leader', leader: this.role === 'leader' ? this.id : this.leader });
      return false;
    });
  }

  /** A read this leader can no longer serve: the shell's fails; a follower's is answered with no index. */
  private failRead(r: PendingRead, leader: NodeId | null): void {
    if (r.origin === null) this.readFailed(r.id, { type: 'not_leader', leader });
    else this.send(r.origin.node, { type: 'readIndexResp', term: this.term, reqId: r.origin.reqId, index: null });
  }

  /**
   * Give waiting reads the current commit index and start a heartbeat round to
   * confirm we are still leader. Only once this leader has committed its noop
   * is the commit index known to cover every write committed before the read.
   */
  private assignWaitingReads(): void {
    if (this.role !== 'leader' || this.commit < this.leaderStartIndex) return;
    const waiting = this.reads.filter((r) => r.index === null);
    if (waiting.length === 0) return;
    const seq = ++this.readSeq;
    for (const r of waiting) {
      r.index = this.commit;
      r.seq = seq;
      if (this.voters.includes(this.id)) r.acks.add(this.id);
      r.confirmed = this.hasQuorum(r.acks);
    }
    this.answerFollowerReads();
    if (waiting.some((r) => !r.confirmed)) {
      this.heartbeatElapsed = 0;
      this.broadcastHeartbeat();
    }
  }

  /**
   * A follower's confirmed read is answered at once: it waits for its own apply, not ours. Called where reads
   * get confirmed, so the answer goes out with this step's sends.
   */
  private answerFollowerReads(): void {
    if (!this.reads.some((r) => r.origin !== null && r.confirmed)) return;
    this.reads = this.reads.filter((r) => {
      if (r.origin === null || !r.confirmed || r.index === null) return true;
      this.send(r.origin.node, { type: 'readIndexResp', term: this.term, reqId: r.origin.reqId, index: r.index });
      return false;
    });
  }

  private readReady(id: RequestId, index: Index): void {
    this.tail.push({ type: 'readResult', id, result: { type: 'ready', index } });
  }

  private readFailed(id: RequestId, reason: ReadFailure): void {
    this.tail.push({ type: 'readResult', id, result: { type: 'failed', reason } });
  }

  /** Confirmed reads whose index has been applied are ready, in request order. */
  private releaseReads(): void {
    while (this.reads.length > 0) {
      const r = this.reads[0]!;
      // Reads confirm in the order they were assigned, so an unconfirmed one holds back only later ones.
      if (!r.confirmed || r.index === null || r.index > this.applied) return;
      this.reads.shift();
      this.readReady(r.id, r.index);
    }
  }

  private transferLeadership(to: NodeId): void {
    const fail = (reason: TransferFailure): void => void this.tail.push({ type: 'transferFailed', to, reason });
    if (this.role !== 'leader') return fail({ type: 'not_leader', leader: this.leader });
    if (to === this.id) return fail({ type: 'already_leader' });
    if (!this.voters.includes(to)) return fail({ type: 'not_a_voter' });
    if (this.transfer?.to === to) return;
    if (this.transfer !== null) this.tail.push({ type: 'transferFailed', to: this.transfer.to, reason: { type: 'superseded', by: to } });
    // Proposals are refused from now on, so the target can catch up with a log that stops growing.
    this.transfer = { to, elapsed: 0 };
    // Every other voter has a progress entry; should one ever be missing, replicate to it from here on.
    let pr = this.progress.get(to);
    if (pr === undefined) this.progress.set(to, (pr = this.newProgress(this.log.lastIndex + 1)));
    if (pr.match === this.log.lastIndex) this.send(to, { type: 'timeoutNow', term: this.term });
    else this.sendAppend(to, true);
  }
}
