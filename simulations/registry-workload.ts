// The job registry workload: every node runs the real job registry state
// machine (simulations/registry-machine.ts), and around the cluster run the
// actors a DistriQueue deployment has, each talking to whichever node it
// believes leads, over the same lossy client network as the key-value
// clients, with the schedule's RegistryProfile deciding how they misbehave:
//
//   clients  submit (some with an idempotency key from a pool every client
//            shares, so keys collide), send a submit again with the same id
//            after a failure or a timeout, cancel jobs they know (with or
//            without the attempt they last read) and read them (get, ReadIndex);
//   router   reads its work lists through ReadIndex, in turn: due jobs
//            (dispatch), dispatched jobs past the dispatch timeout
//            (re-dispatch: a new attempt), running jobs past their execution
//            timeout (fail) and failed jobs (retry with a backoff, or dead);
//            hands each dispatched attempt to a worker (sometimes to two),
//            and sometimes proposes a command twice;
//   workers  start, report progress and complete or fail each attempt they
//            are handed, after delays, with duplicate reports, late repeats
//            (usually stale by then) and abandoned attempts (a worker crash);
//   readers  follow the event feed with local reads from random nodes, each
//            page after the last one they read.
//
// After healing, one reader lists every job through ReadIndex, and at the end
// every node's jobs and feed are read locally (the registryFinal event). The
// commands carry `at` = a fixed epoch plus virtual time; nothing reads a clock.
import type { RegistryUnsafe } from '../actors/job_registry/transitions.js';
import type { CommandResult, EntryResult, EventsPage, Job, JobCommand, JobId, ListPage, QueryResult, RegistryCommand, RegistryQuery, SubmitCommand } from '../actors/job_registry/types.js';
import { registryCheckers } from './checkers/index.js';
import { RegistryNodeMachine } from './registry-machine.js';
import type { RegistryProfile, RegistrySchedule } from './schedule.js';
import type { Checker, ClusterView, JobHistoryEvent, JobOpName, RegistryNodeDump } from './trace.js';
import type { ClientOp, Reply, Workload, WorkloadHost } from './workload.js';

/** Commands' `at`: a fixed epoch plus virtual time (the registry stores epoch milliseconds). */
export const SIM_EPOCH_MS = 1_700_000_000_000;

/** Jobs per page of the router's work lists and of the final list. */
const ROUTER_PAGE = 20;
const FINAL_PAGE = 1000;
/** A worker report refused by a node (not the leader, ...) is sent again this many times. */
const REPORT_TRIES = 3;
/** A report whose outcome is unknown (timeout) is sent again this many times (a duplicate if it was applied). */
const REPORT_TIMEOUT_TRIES = 2;
/** A late repeat of a report comes uniform in this range (ms) after the report. */
const LATE_MS: readonly [number, number] = [400, 3000];
/** Feed readers poll uniform in this range (ms). */
const READER_POLL_MS: readonly [number, number] = [30, 300];
const READER_MAX_PAGE = 50;
const JOB_TYPES: readonly string[] = ['email', 'report', 'thumbnail'];

/** An entry's results, one per command (a single command's, or a batch entry's in order). */
export function resultsOf(r: EntryResult | null): readonly (CommandResult | null)[] {
  return r === null ? [null] : r.type === 'batch' ? r.results : [r];
}

interface JobOp extends ClientOp {
  readonly actor: string;
  readonly f: JobOpName;
  readonly key: string;
  /** Called once, with the reply, or with null on a timeout. */
  readonly then: (reply: Reply | null) => void;
}

interface ClientState {
  readonly name: string;
  hint: number | null;
  /** Jobs acknowledged to it (the ids the registry answered). */
  readonly known: JobId[];
  readonly knownSet: Set<string>;
  /** The attempt of each job as it last read it. */
  readonly attempts: Map<string, number>;
}

interface Assignment {
  readonly worker: number;
  readonly id: string;
  readonly attempt: number;
  /** The registry refused a report as stale or too late: the worker gives the attempt up. */
  aborted: boolean;
}

export class RegistryWorkload implements Workload<JobOp, RegistryNodeMachine> {
  private readonly p: RegistryProfile;
  private readonly unsafe: RegistryUnsafe;
  private readonly clients: ClientState[] = [];
  private nextJob = 1;
  private routerHint: number | null = null;
  private routerTurn = 0;
  /** Jobs the router has a command in flight for: not proposed again before this time. */
  private readonly routerInflight = new Map<string, number>();
  private readonly workerHints: (number | null)[] = [];
  private readonly readerCursors: number[] = [];
  private finalOp: JobOp | null = null;
  private finalCursor: string | null = null;
  private finalListed = 0;
  private finalDone = false;

  constructor(
    private readonly host: WorkloadHost,
    schedule: RegistrySchedule,
  ) {
    this.p = schedule.registry;
    this.unsafe = schedule.unsafe?.skipAttemptCheck === true ? { skipAttemptCheck: true } : {};
  }

  machine(node: number, inc: number, snapshot: string | null): RegistryNodeMachine {
    return new RegistryNodeMachine(this.host, node, inc, snapshot, this.unsafe);
  }

  start(): void {
    const { host, p } = this;
    for (let c = 0; c < p.clients; c++) {
      this.clients.push({ name: `c${c}`, hint: null, known: [], knownSet: new Set(), attempts: new Map() });
      host.at(host.rng.int(0, 200), () => this.clientNext(c));
    }
    for (let w = 0; w < p.workers; w++) this.workerHints.push(null);
    host.at(host.rng.int(0, p.pollMs), () => this.routerPoll());
    for (let r = 0; r < p.readers; r++) {
      this.readerCursors.push(0);
      host.at(host.rng.int(...READER_POLL_MS), () => this.readerPoll(r));
    }
  }

  barrier(_id: number): RegistryCommand {
    // Retention of nothing: prunes only what finished before the epoch began. A real command that changes nothing.
    return { c: 'prune', at: this.at(), before: 0, limit: 1 };
  }

  isMine(op: ClientOp, data: unknown): boolean {
    return op.req.type === 'propose' && JSON.stringify(op.req.command) === JSON.stringify(data);
  }

  applied(_op: JobOp, result: unknown): Reply {
    return { type: 'ok', value: result as EntryResult | null };
  }

  serve(machine: RegistryNodeMachine, op: JobOp): Reply {
    if (op.req.type === 'propose') throw new Error(`op ${op.id} is a proposal, not a read`);
    return { type: 'ok', value: machine.query(op.req.query) };
  }

  onReply(op: JobOp, reply: Reply): void {
    if (op.done) return;
    op.done = true;
    const h = this.line(op, reply.type === 'ok' ? 'ok' : 'fail');
    this.record(reply.type === 'ok' ? { ...h, value: reply.value as EntryResult | QueryResult } : { ...h, error: reply.error });
    op.then(reply);
  }

  onTimeout(op: JobOp): void {
    if (op.done) return;
    op.done = true;
    this.record({ ...this.line(op, 'info'), error: 'timeout' });
    op.then(null);
  }

  onHeal(): void {
    // Every actor checks the phase before it starts anything: from now on only operations in flight finish.
  }

  // ---- plumbing ----

  private at(): number {
    return SIM_EPOCH_MS + this.host.now();
  }

  private safety(): boolean {
    return this.host.phase() === 'safety';
  }

  private pickNode(hint: number | null): number {
    return hint ?? this.host.rng.int(0, this.host.nodes - 1);
  }

  private hintFrom(reply: Reply, node: number): number | null {
    if (reply.type === 'ok') return node;
    const l = reply.leader;
    return l !== null && l >= 0 && l < this.host.nodes ? l : null;
  }

  private line(op: JobOp, type: JobHistoryEvent['type']): JobHistoryEvent {
    const req = op.req;
    const value = (req.type === 'propose' ? req.command : req.query) as RegistryCommand | RegistryQuery;
    return { process: op.id, actor: op.actor, type, f: op.f, key: op.key, value, time: this.host.now(), node: op.node };
  }

  private record(h: JobHistoryEvent): void {
    this.host.history(h);
    this.host.emit({ type: 'jobClient', event: h });
  }

  private send(actor: string, node: number, f: JobOpName, key: string, req: ClientOp['req'], then: (reply: Reply | null) => void): JobOp {
    const op: JobOp = { id: this.host.nextOpId(), node, req, done: false, actor, f, key, then };
    this.record(this.line(op, 'invoke'));
    this.host.request(op, this.p.timeoutMs);
    return op;
  }

  private propose(actor: string, node: number, command: RegistryCommand, then: (reply: Reply | null) => void): void {
    this.send(actor, node, command.c, 'id' in command ? command.id : '', { type: 'propose', command }, then);
  }

  /**
   * One entry for `commands`: the command itself, or a batch entry of them, which carries their time once (as
   * job_registry proposes them) when they share one, as commands made together do.
   */
  private entry(commands: readonly (SubmitCommand | JobCommand)[]): RegistryCommand {
    if (commands.length === 1) return commands[0]!;
    const at = commands[0]!.at;
    if (!commands.every((c) => c.at === at)) return { c: 'batch', commands };
    return { c: 'batch', at, commands: commands.map(({ at: _, ...rest }) => rest) };
  }

  private read(actor: string, node: number, query: RegistryQuery, key: string, then: (reply: Reply | null) => void, local = false): void {
    this.send(actor, node, query.q, key, local ? { type: 'localRead', query } : { type: 'read', query }, then);
  }

  // ---- clients ----

  private clientNext(c: number): void {
    if (!this.safety()) return;
    const { host, p } = this;
    const cl = this.clients[c]!;
    const roll = host.rng.int(0, 999);
    if (cl.known.length > 0 && roll < p.readPermille) {
      const id = cl.known[host.rng.int(0, cl.known.length - 1)]!;
      const node = this.pickNode(cl.hint);
      this.read(cl.name, node, { q: 'get', id }, id, (reply) => {
        if (reply !== null) cl.hint = this.hintFrom(reply, node);
        if (reply?.type === 'ok') {
          const job = reply.value as Job | null;
          if (job !== null) cl.attempts.set(id, job.attempt);
        }
        this.clientThink(c);
      });
      return;
    }
    if (cl.known.length > 0 && roll < p.readPermille + p.cancelPermille) {
      const id = cl.known[host.rng.int(0, cl.known.length - 1)]!;
      const attempt = cl.attempts.get(id);
      const withAttempt = attempt !== undefined && host.rng.int(0, 1) === 1;
      const command: RegistryCommand = { c: 'cancel', id, at: this.at(), ...(withAttempt ? { attempt } : {}), reason: `cancelled by ${cl.name}` };
      const node = this.pickNode(cl.hint);
      this.propose(cl.name, node, command, (reply) => {
        if (reply !== null) cl.hint = this.hintFrom(reply, node);
        this.clientThink(c);
      });
      return;
    }
    const count = host.chance(p.batchPermille) ? host.rng.int(2, 4) : 1;
    const commands: SubmitCommand[] = [];
    for (let k = 0; k < count; k++) {
      const n = this.nextJob++;
      const key = p.keyPermille > 0 && host.rng.int(0, 999) < p.keyPermille ? `key${host.rng.int(0, p.keys - 1)}` : null;
      // Now and then a keyed submit names a job the client already has, as a buggy client would: unless that job
      // was submitted under the same key, the registry must refuse it (idempotency_conflict), not answer with it.
      const reuse = key !== null && cl.known.length > 0 && host.rng.int(0, 15) === 0;
      commands.push({
        c: 'submit',
        id: reuse ? cl.known[host.rng.int(0, cl.known.length - 1)]! : `j${n}`,
        at: this.at(),
        type: JOB_TYPES[host.rng.int(0, JOB_TYPES.length - 1)]!,
        priority: host.rng.int(1, 15),
        payload: { n },
        maxRetries: host.rng.int(0, 2),
        timeoutS: host.rng.int(1, 2),
        ...(key === null ? {} : { idempotencyKey: key }),
      });
    }
    this.submit(c, this.entry(commands));
  }

  /** Send a submit (or a batch of them); after a failure or a timeout, maybe the same again (same ids, same keys). */
  private submit(c: number, command: RegistryCommand): void {
    const cl = this.clients[c]!;
    const node = this.pickNode(cl.hint);
    this.propose(cl.name, node, command, (reply) => {
      if (reply !== null) cl.hint = this.hintFrom(reply, node);
      if (reply?.type === 'ok') {
        for (const r of resultsOf(reply.value as EntryResult | null)) {
          if (r?.type === 'ok' && !cl.knownSet.has(r.id)) {
            cl.known.push(r.id);
            cl.knownSet.add(r.id);
          }
        }
        this.clientThink(c);
        return;
      }
      if (this.safety() && this.host.chance(this.p.resubmitPermille)) {
        this.host.at(this.host.now() + this.host.rng.int(0, 50), () => {
          if (this.safety()) this.submit(c, command);
        });
        return;
      }
      this.clientThink(c);
    });
  }

  private clientThink(c: number): void {
    this.host.at(this.host.now() + this.host.rng.int(0, this.p.thinkMaxMs), () => this.clientNext(c));
  }

  // ---- the router ----

  private routerPoll(): void {
    if (!this.safety()) return;
    const { host, p } = this;
    host.at(host.now() + p.pollMs, () => this.routerPoll());
    const now = this.at();
    const turn = this.routerTurn++ % 4;
    const query: RegistryQuery =
      turn === 0
        ? { q: 'due', now, limit: ROUTER_PAGE }
        : turn === 1
          ? { q: 'overdue', status: 'dispatched', before: now - p.dispatchTimeoutMs, limit: ROUTER_PAGE }
          : turn === 2
            ? { q: 'overdue', status: 'running', before: now - 1000, limit: ROUTER_PAGE }
            : { q: 'list', filter: { status: 'failed' }, limit: ROUTER_PAGE, order: 'asc' };
    const node = this.pickNode(this.routerHint);
    this.read('router', node, query, '', (reply) => {
      if (reply !== null) this.routerHint = this.hintFrom(reply, node);
      if (reply?.type !== 'ok' || !this.safety()) return;
      const jobs = query.q === 'list' ? (reply.value as ListPage).jobs : (reply.value as readonly Job[]);
      const commands: JobCommand[] = [];
      for (const job of jobs) {
        const c = this.route(job);
        if (c !== null) commands.push(c);
      }
      if (commands.length === 0) return;
      if (commands.length > 1 && host.chance(p.batchPermille)) this.routerSend(commands);
      else for (const c of commands) this.routerSend([c]);
    });
  }

  /** What the router does with a job one of its work lists returned: the command to propose, if any. */
  private route(job: Job): JobCommand | null {
    const { host } = this;
    const busy = this.routerInflight.get(job.id);
    if (busy !== undefined && busy > host.now()) return null;
    const at = this.at();
    let command: JobCommand;
    switch (job.status) {
      case 'pending':
        command = { c: 'dispatch', id: job.id, at, attempt: job.attempt };
        break;
      case 'dispatched':
        // Listed as overdue: the dispatch timeout passed without a start.
        command = { c: 'redispatch', id: job.id, at, attempt: job.attempt };
        break;
      case 'running':
        // Its execution timeout passed (the list is of jobs started over a second ago; each job has its own timeout).
        if (job.startedAt === null || job.startedAt > at - job.timeoutS * 1000) return null;
        command = { c: 'fail', id: job.id, at, attempt: job.attempt, error: 'execution timeout', timeout: true };
        break;
      case 'failed':
        command =
          job.retries < job.maxRetries && host.rng.int(0, 3) > 0
            ? { c: 'retry', id: job.id, at, attempt: job.attempt, runAt: at + host.rng.int(20, 300) }
            : { c: 'dead', id: job.id, at, attempt: job.attempt, reason: 'retries exhausted' };
        break;
      default:
        return null;
    }
    this.routerInflight.set(job.id, host.now() + this.p.timeoutMs);
    return command;
  }

  /** Propose the router's commands as one entry (sometimes twice); hand each dispatched attempt to a worker. */
  private routerSend(commands: readonly JobCommand[]): void {
    const { host, p } = this;
    const entry = this.entry(commands);
    const copies = host.chance(p.routerDupPermille) ? 2 : 1;
    for (let k = 0; k < copies; k++) {
      const node = this.pickNode(this.routerHint);
      this.propose('router', node, entry, (reply) => {
        for (const c of commands) this.routerInflight.delete(c.id);
        if (reply !== null) this.routerHint = this.hintFrom(reply, node);
        if (reply?.type !== 'ok' || !this.safety()) return;
        const results = resultsOf(reply.value as EntryResult | null);
        commands.forEach((c, i) => {
          const r = results[i];
          if ((c.c === 'dispatch' || c.c === 'redispatch') && r?.type === 'ok' && r.status === 'dispatched') this.assign(c.id, r.attempt);
        });
      });
    }
  }

  /** Hand a dispatched attempt to a worker (and sometimes to a second one: a redelivery). */
  private assign(id: string, attempt: number): void {
    const { host, p } = this;
    const copies = host.chance(p.dupPermille) ? 2 : 1;
    for (let k = 0; k < copies; k++) {
      const worker = host.rng.int(0, p.workers - 1);
      host.message(() => this.workerReceive({ worker, id, attempt, aborted: false }));
    }
  }

  // ---- workers ----

  private workerReceive(a: Assignment): void {
    if (!this.safety()) return;
    const { host, p } = this;
    if (host.chance(p.abandonPermille)) return; // crashed before starting
    let t = host.now() + host.rng.int(0, p.startDelayMaxMs);
    const worker = `w${a.worker}`;
    const steps: ((at: number) => RegistryCommand | null)[] = [(at) => ({ c: 'start', id: a.id, at, attempt: a.attempt, worker })];
    const progress = host.rng.int(0, 3);
    for (let i = 1; i <= progress; i++) steps.push((at) => ({ c: 'progress', id: a.id, at, attempt: a.attempt, worker, progress: Math.round((100 * i) / (progress + 1)) }));
    const abandon = host.chance(p.abandonPermille);
    const fail = host.chance(p.failPermille);
    steps.push((at) =>
      abandon ? null : fail ? { c: 'fail', id: a.id, at, attempt: a.attempt, worker, error: 'worker error' } : { c: 'complete', id: a.id, at, attempt: a.attempt, worker, result: { by: worker } },
    );
    for (const step of steps) {
      host.at(t, () => {
        if (!this.safety() || a.aborted) return;
        const command = step(this.at());
        if (command !== null) this.report(a, command, true);
      });
      t += host.rng.int(20, 200);
    }
  }

  /** Send a report; `first`: the worker's own send (not a resend), which may be duplicated or repeated late. */
  private report(a: Assignment, command: RegistryCommand, first: boolean, tries = 1, timeouts = 0): void {
    const { host, p } = this;
    if (!this.safety()) return;
    if (first) {
      if (host.chance(p.dupPermille)) host.at(host.now() + host.rng.int(0, 100), () => this.report(a, command, false));
      if (host.chance(p.latePermille)) host.at(host.now() + host.rng.int(...LATE_MS), () => this.report(a, command, false));
    }
    const node = this.pickNode(this.workerHints[a.worker]!);
    this.propose(`w${a.worker}`, node, command, (reply) => {
      if (reply !== null) this.workerHints[a.worker] = this.hintFrom(reply, node);
      if (reply === null) {
        if (timeouts < REPORT_TIMEOUT_TRIES) this.report(a, command, false, tries, timeouts + 1);
        return;
      }
      if (reply.type === 'fail') {
        if (tries < REPORT_TRIES) host.at(host.now() + host.rng.int(5, 50), () => this.report(a, command, false, tries + 1, timeouts));
        return;
      }
      const r = resultsOf(reply.value as EntryResult | null)[0];
      if (r?.type === 'rejected' && (r.reason.code === 'stale_attempt' || r.reason.code === 'illegal_transition' || r.reason.code === 'worker_mismatch')) a.aborted = true;
    });
  }

  // ---- feed readers ----

  private readerPoll(r: number): void {
    if (!this.safety()) return;
    const { host } = this;
    const node = host.rng.int(0, host.nodes - 1);
    const after = this.readerCursors[r]!;
    const query: RegistryQuery = { q: 'events', after, limit: host.rng.int(1, READER_MAX_PAGE) };
    this.read(
      `r${r}`,
      node,
      query,
      '',
      (reply) => {
        if (reply?.type === 'ok') {
          const page = reply.value as EventsPage;
          if (page.type === 'events') {
            host.emit({ type: 'feedPage', time: host.now(), reader: r, node, after, events: page.events, last: page.last });
            this.readerCursors[r] = page.last;
          }
        }
        host.at(host.now() + host.rng.int(...READER_POLL_MS), () => this.readerPoll(r));
      },
      true,
    );
  }

  // ---- the liveness phase ----

  finalReads(leader: number): void {
    if (this.finalOp !== null || this.finalDone) return;
    const query: RegistryQuery = { q: 'list', order: 'asc', limit: FINAL_PAGE, ...(this.finalCursor === null ? {} : { cursor: this.finalCursor }) };
    this.finalOp = this.send('final', leader, 'list', '', { type: 'read', query }, (reply) => {
      this.finalOp = null;
      if (reply?.type !== 'ok') return; // asked again at the next liveness step
      const page = reply.value as ListPage;
      this.finalListed += page.jobs.length;
      this.finalCursor = page.next;
      if (page.next === null) this.finalDone = true;
    });
  }

  finalReadsDone(): boolean {
    return this.finalDone;
  }

  finalReadsPending(): string {
    return `final list: ${this.finalListed} job(s) read${this.finalCursor === null ? '' : ', more to page'}`;
  }

  finish(machines: readonly { readonly index: number; readonly up: boolean; readonly applied: number; readonly machine: RegistryNodeMachine }[]): void {
    const nodes: RegistryNodeDump[] = machines.map((m) => ({ index: m.index, up: m.up, applied: m.applied, ...m.machine.dump() }));
    this.host.emit({ type: 'registryFinal', time: this.host.now(), nodes });
  }

  checkers(view: ClusterView): Checker[] {
    return registryCheckers(view);
  }
}
