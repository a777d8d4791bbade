// The key-value workload: each node runs the register map of simulations/kv.ts;
// clients write, compare-and-set and read (ReadIndex) a few keys, Jepsen style,
// each client acting as one process at a time (a new process after an
// operation in doubt); after healing, one final linearizable read of every
// key. The history is checked for linearizability (checkers/linearizability.ts).
// This is the simulator's original workload: its random draws and events come
// in the same order as before workloads were pluggable, so old seeds replay
// to the same digests.
import type { LogEntry } from '../actors/raft/types.js';
import { allCheckers } from './checkers/index.js';
import { Kv, type KvCommand, type KvResult, isKvCommand } from './kv.js';
import type { KvSchedule } from './schedule.js';
import type { Checker, ClusterView, HistoryEvent, OpFunction, OpValue } from './trace.js';
import type { ClientOp, Reply, Request, SimMachine, Workload, WorkloadHost } from './workload.js';

interface KvOp extends ClientOp {
  /** Client slot; -1 for the liveness phase's final reader. */
  readonly client: number;
  readonly process: number;
  readonly f: OpFunction;
  readonly key: string;
  /** write: the value (the op id); cas: the new value (the op id). */
  readonly value: number | null;
  /** cas: the expected value. */
  readonly from: number | null;
}

interface ClientSlot {
  /** The Jepsen process id it acts as now (a new one after an operation in doubt). */
  process: number;
  /** Where to send next: the node that last answered, or the leader it named. */
  hint: number | null;
  readonly lastSeen: Map<string, number | null>;
}

export class KvMachine implements SimMachine {
  constructor(private readonly kv: Kv) {}

  apply(entries: readonly LogEntry[]): (KvResult | null)[] {
    return entries.map((e) => (e.kind === 'command' && isKvCommand(e.data) ? this.kv.apply(e.data) : null));
  }

  get(key: string): number | null {
    return this.kv.get(key);
  }

  snapshot(): string {
    return this.kv.encode();
  }

  fingerprint(): string {
    return this.kv.encode();
  }

  state(): string {
    return this.kv.encode();
  }

  close(): void {}
}

/** A write's value and a cas's new value are the operation's id, which is also its entry's `op`. */
function commandOf(id: number, f: 'write' | 'cas', key: string, from: number | null): KvCommand {
  return f === 'write' ? { f: 'write', key, value: id, op: id } : { f: 'cas', key, from, to: id, op: id };
}

export class KvWorkload implements Workload<KvOp, KvMachine> {
  private readonly clients: ClientSlot[] = [];
  private readonly keys: string[];
  private nextProcess: number;
  private finalKey = 0;
  private finalRead: KvOp | null = null;
  private finalProcess = -1;

  constructor(
    private readonly host: WorkloadHost,
    private readonly schedule: KvSchedule,
  ) {
    this.keys = Array.from({ length: schedule.client.keys }, (_, i) => `k${i}`);
    this.nextProcess = schedule.client.clients;
  }

  machine(_node: number, _inc: number, snapshot: string | null): KvMachine {
    return new KvMachine(snapshot === null ? new Kv() : Kv.decode(snapshot));
  }

  start(): void {
    for (let c = 0; c < this.schedule.client.clients; c++) {
      this.clients.push({ process: c, hint: null, lastSeen: new Map() });
      this.host.at(this.host.rng.int(0, 200), () => this.clientNext(c));
    }
  }

  barrier(id: number): KvCommand {
    return { f: 'barrier', op: id };
  }

  isMine(op: ClientOp, data: unknown): boolean {
    return isKvCommand(data) && data.op === op.id;
  }

  applied(op: KvOp, result: unknown): Reply {
    const r = result as KvResult | null;
    return r === null || r.ok ? { type: 'ok', value: op.value } : { type: 'fail', error: 'cas_mismatch', leader: null };
  }

  serve(machine: KvMachine, op: KvOp): Reply {
    return { type: 'ok', value: machine.get(op.key) };
  }

  // ---- clients ----

  private record(h: HistoryEvent): void {
    this.host.history(h);
    this.host.emit({ type: 'client', event: h });
  }

  private clientNext(c: number): void {
    const host = this.host;
    if (host.phase() !== 'safety') return;
    const slot = this.clients[c]!;
    const cl = this.schedule.client;
    const key = this.keys[host.rng.int(0, this.keys.length - 1)]!;
    const roll = host.rng.int(0, 999);
    const f: OpFunction = roll < cl.readPermille ? 'read' : roll < cl.readPermille + cl.casPermille ? 'cas' : 'write';
    const id = host.nextOpId();
    const node = slot.hint ?? host.rng.int(0, host.nodes - 1);
    const from = f === 'cas' ? (slot.lastSeen.get(key) ?? null) : null;
    const req: Request = f === 'read' ? { type: 'read', query: key } : { type: 'propose', command: commandOf(id, f, key, from) };
    this.invoke({ id, client: c, process: slot.process, f, key, value: f === 'read' ? null : id, from, node, req, done: false });
  }

  private invoke(op: KvOp): void {
    const value: OpValue = op.f === 'cas' ? [op.from, op.value!] : op.value;
    this.record({ process: op.process, type: 'invoke', f: op.f, key: op.key, value, time: this.host.now() });
    this.host.request(op, this.schedule.client.timeoutMs);
  }

  onReply(op: KvOp, reply: Reply): void {
    if (op.done) return;
    op.done = true;
    const host = this.host;
    const f = op.f;
    if (reply.type === 'ok') {
      const value: OpValue = f === 'cas' ? [op.from, op.value!] : f === 'read' ? (reply.value as number | null) : op.value;
      this.record({ process: op.process, type: 'ok', f, key: op.key, value, time: host.now() });
    } else {
      const value: OpValue = f === 'cas' ? [op.from, op.value!] : op.value;
      this.record({ process: op.process, type: 'fail', f, key: op.key, value, time: host.now(), error: reply.error });
    }
    if (op.client === -1) {
      this.finalRead = null;
      if (reply.type === 'ok') this.finalKey++;
      return;
    }
    const slot = this.clients[op.client]!;
    if (reply.type === 'ok') {
      slot.hint = op.node;
      slot.lastSeen.set(op.key, f === 'read' ? (reply.value as number | null) : op.value);
    } else {
      const hinted = reply.leader;
      slot.hint = hinted !== null && hinted >= 0 && hinted < host.nodes ? hinted : null;
    }
    host.at(host.now() + host.rng.int(0, this.schedule.client.thinkMaxMs), () => this.clientNext(op.client));
  }

  onTimeout(op: KvOp): void {
    if (op.done) return;
    op.done = true;
    const host = this.host;
    const f = op.f;
    const value: OpValue = f === 'cas' ? [op.from, op.value!] : op.value;
    this.record({ process: op.process, type: 'info', f, key: op.key, value, time: host.now(), error: 'timeout' });
    if (op.client === -1) {
      // Jepsen: a process whose operation is in doubt never issues another.
      this.finalRead = null;
      this.finalProcess = this.nextProcess++;
      return;
    }
    const slot = this.clients[op.client]!;
    slot.process = this.nextProcess++;
    slot.hint = null;
    host.at(host.now() + host.rng.int(0, this.schedule.client.thinkMaxMs), () => this.clientNext(op.client));
  }

  // ---- the liveness phase ----

  onHeal(): void {
    this.finalProcess = this.nextProcess++;
  }

  finalReads(leader: number): void {
    if (this.finalRead !== null || this.finalKey >= this.keys.length) return;
    const key = this.keys[this.finalKey]!;
    const op: KvOp = { id: this.host.nextOpId(), client: -1, process: this.finalProcess, f: 'read', key, value: null, from: null, node: leader, req: { type: 'read', query: key }, done: false };
    this.finalRead = op;
    this.invoke(op);
  }

  finalReadsDone(): boolean {
    return this.finalKey >= this.keys.length;
  }

  finalReadsPending(): string {
    return `${this.finalKey} of ${this.keys.length} keys read`;
  }

  finish(): void {}

  checkers(view: ClusterView): Checker[] {
    return allCheckers(view);
  }
}
