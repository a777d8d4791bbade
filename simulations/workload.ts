// What the simulator's node shell (simulations/cluster.ts) needs from a
// workload: the replicated state machine each node runs, the actors outside
// the cluster that talk to it (clients, routers, workers, readers), what they
// read once the cluster has healed, and the checkers that judge the run. The
// shell owns the nodes, the network, the faults and the event queue; a
// workload owns everything about what the commands mean. Two workloads exist:
// the key-value register (simulations/kv-workload.ts, Jepsen-style
// linearizability) and the job registry (simulations/registry-workload.ts).
//
// A workload reaches the cluster only through its WorkloadHost: it sends
// requests to a node over the (lossy, in the safety phase) client network,
// sets timers, and reports to the trace. It draws randomness only from the
// host's seeded Rng and reads time only from the host's virtual clock, so a
// run stays a pure function of its schedule.
import type { LogEntry } from '../actors/raft/types.js';
import type { Rng } from '../runtime/env.js';
import type { Checker, ClusterView, HistoryLine, TraceEvent } from './trace.js';

/** What a client operation asks of the node it is sent to. */
export type Request =
  /** Append `command` to the log (through the leader) and answer once it is applied. */
  | { readonly type: 'propose'; readonly command: unknown }
  /** A linearizable read (ReadIndex) answered from the state machine at the read index. */
  | { readonly type: 'read'; readonly query: unknown }
  /** A local read: answered at once from whatever the node has applied, leader or not (possibly stale). */
  | { readonly type: 'localRead'; readonly query: unknown };

/** One request in flight from an actor outside the cluster to one node. Workloads extend it with their own fields. */
export interface ClientOp {
  /** Unique per run (the host hands them out). */
  readonly id: number;
  /** The node it is sent to. */
  readonly node: number;
  readonly req: Request;
  /** Answered or timed out: later replies and timeouts of it are ignored. */
  done: boolean;
  /** The liveness phase's barrier (the shell's own: never answered to a workload). */
  readonly barrier?: true;
}

/** A node's answer, as it reaches the actor (or never does: replies cross the lossy network too). */
export type Reply =
  | { readonly type: 'ok'; readonly value: unknown }
  /** `leader`: the node's hint, for not_leader refusals. */
  | { readonly type: 'fail'; readonly error: string; readonly leader: number | null };

/** One node's state machine for one incarnation (a restart or a snapshot install builds a new one). */
export interface SimMachine {
  /** Apply committed entries, contiguous and in log order, as one batch. One result per entry. */
  apply(entries: readonly LogEntry[]): readonly unknown[];
  /** The whole state, as a Raft snapshot's data. */
  snapshot(): string;
  /**
   * A cheap summary of the state: equal states give equal fingerprints. Taken
   * at every snapshot, install and restart (state machine safety compares
   * them per index), so it must cost little.
   */
  fingerprint(): string;
  /** The whole state in canonical form, compared across nodes at the end of a run. */
  state(): string;
  /** Free what it holds (an in-memory database). */
  close(): void;
}

export type Phase = 'safety' | 'liveness' | 'done';

/** The simulator's services, as a workload sees them. */
export interface WorkloadHost {
  /** The run's seeded Rng, shared with the shell: every draw is part of the replay. */
  readonly rng: Rng;
  /** Cluster size. */
  readonly nodes: number;
  now(): number;
  phase(): Phase;
  /** A fresh id for a client operation (unique per run). */
  nextOpId(): number;
  /**
   * Send `op` to its node over the client network (lost with the schedule's
   * probability in the safety phase) and arm its timeout: `onTimeout` follows
   * after `timeoutMs` unless the operation is done by then.
   */
  request(op: ClientOp, timeoutMs: number): void;
  /** Run `fire` at virtual time `at`. */
  at(at: number, fire: () => void): void;
  /** A message between actors outside the cluster (e.g. router → worker): lost like a client request, else delivered after a network delay. */
  message(deliver: () => void): void;
  /** A network delay, drawn as the schedule's network draws them. */
  delay(): number;
  /** True with probability permille / 1000 (one draw; none when permille is 0). */
  chance(permille: number): boolean;
  /** Report to the trace (checkers, digest, --trace). */
  emit(e: TraceEvent): void;
  /** Count a history line (ok, fail, info, invoke) and keep it for --history. The workload emits its trace event itself. */
  history(h: HistoryLine): void;
}

/** A workload's part of one run. Created per run, with its host. */
export interface Workload<O extends ClientOp = ClientOp, M extends SimMachine = SimMachine> {
  /** A fresh state machine for node `node`, incarnation `inc`, restored from a snapshot's data when given. May throw (a corrupt snapshot): the shell reports it as a core error. */
  machine(node: number, inc: number, snapshot: string | null): M;
  /** Schedule the actors' first moves (called once, after the faults are scheduled). */
  start(): void;
  /** The liveness phase's barrier: a command that changes nothing. `id` is its op id. */
  barrier(id: number): unknown;
  /** Is `data` (the entry applied at the index where `op` was appended, in the same term) the command `op` proposed? */
  isMine(op: O, data: unknown): boolean;
  /** The reply to a proposal applied with `result` (the machine's result for its entry). */
  applied(op: O, result: unknown): Reply;
  /** Answer a read (linearizable or local) from `machine`. */
  serve(machine: M, op: O): Reply;
  /** A reply reached the actor (at most once per operation unless the network duplicates it; check `done`). */
  onReply(op: O, reply: Reply): void;
  onTimeout(op: O): void;
  /** The safety phase ends: actors stop starting new operations. */
  onHeal(): void;
  /** Called at every liveness step once the cluster has converged: issue the final reads through `leader`. */
  finalReads(leader: number): void;
  finalReadsDone(): boolean;
  /** What is left of the final reads, for the liveness checker's message. */
  finalReadsPending(): string;
  /** The run is ending at a quiet moment: report the final state of every node (before the `end` event). */
  finish(machines: readonly { readonly index: number; readonly up: boolean; readonly applied: number; readonly machine: M }[]): void;
  checkers(view: ClusterView): Checker[];
}
