// The kernel: processes on nact, their mailboxes, links, monitors, exit signals,
// the name registry, timers and the call/reply mechanism gen_server builds on.
//
// A process is one nact actor. Sending appends to the process's own mailbox and,
// if the process is idle, wakes it with ONE nact dispatch; the woken process then
// drains up to `batch` messages inside that dispatch before yielding back to nact
// (as OTP bounds a slice by reductions). So bulk traffic costs an array push per
// message, and a hop between idle processes costs exactly one nact dispatch.
// There is no second scheduler: every step of every process starts inside a nact
// dispatch of that process. An async handler's own continuation runs as the
// promise callback it is; its outcome (carry on draining, or die) and every
// death and fatal exit signal are applied in a nact dispatch of the process.
import nact from 'nact';
import type { Env } from './env.js';
import { CallTimeout, ExitSignal, NodeDown, NoProc, RuntimeError, ServerExited } from './errors.js';
import { EventBus, type RuntimeEvent } from './events.js';
import { Mailbox } from './mailbox.js';
import { type JsonText, PreEncoded } from './pre-encoded.js';
import {
  type Dest,
  type DownMessage,
  type ExitMessage,
  type ExitReason,
  type Name,
  type Pid,
  type Ref,
  type RemoteName,
  describe,
  formatDest,
  isPid,
  nodeOfPid,
  reasonFromThrown,
} from './types.js';

type NactRef = ReturnType<typeof nact.spawn>;
type NactSystem = ReturnType<typeof nact.start>;

/** What a process runs. `receive` handles one message to completion (async allowed). */
export interface ProcessBody<M = unknown> {
  /** Label shown by `processes()`, e.g. `gen_server:job_registry`. */
  readonly behaviour?: string;
  /** Runs inside the process before its first message. */
  init?(ctx: ProcessContext): void | Promise<void>;
  receive(msg: M, ctx: ProcessContext): void | Promise<void>;
  /** Cheap, synchronous snapshot of the process's own view (supervisors expose their children). */
  introspect?(): unknown;
}

export interface SpawnOptions {
  /** Register the new process under this name before it runs (fails like `register`). */
  readonly name?: Name;
  /** Start trapping exits before `init` runs. */
  readonly trapExit?: boolean;
}

export interface CallOptions {
  /** Milliseconds, or `infinity`. OTP's default is 5000. */
  readonly timeout?: number | 'infinity';
}

/** Who is waiting for a reply; servers pass it back to `reply`. */
export interface From {
  readonly ref: Ref;
  readonly pid: Pid;
}

/** The request envelope `call` puts in a server's mailbox. */
export interface CallEnvelope {
  readonly type: '$call';
  readonly from: From;
  readonly request: unknown;
}

/** The envelope `cast` puts in a server's mailbox. */
export interface CastEnvelope {
  readonly type: '$cast';
  readonly msg: unknown;
}

export interface DemonitorOptions {
  /** Also remove a DOWN for this monitor that is already in the mailbox. */
  readonly flush?: boolean;
}

/**
 * Something a process holds that must not outlive it: an open file, a database
 * connection, a socket. OTP ties a port to its owner the same way.
 */
export interface Resource {
  close(): void;
}

/** The operations a process can perform on itself and others (`ctx` in every callback). */
export interface ProcessContext {
  readonly self: Pid;
  readonly runtime: Runtime;
  send(dest: Dest, msg: unknown): void;
  spawn<M>(body: ProcessBody<M>, opts?: SpawnOptions): Pid;
  spawnLink<M>(body: ProcessBody<M>, opts?: SpawnOptions): Pid;
  link(pid: Pid): void;
  unlink(pid: Pid): void;
  monitor(dest: Dest): Ref;
  demonitor(ref: Ref, opts?: DemonitorOptions): boolean;
  /** exit/1: end this process now with `reason` (throws; let it propagate). */
  exit(reason: ExitReason): never;
  /** exit/2: send an exit signal to `pid`. */
  exit(pid: Pid, reason: ExitReason): void;
  /** Set trap_exit; returns the previous value. */
  trapExit(flag: boolean): boolean;
  register(name: Name): void;
  unregister(name: Name): void;
  whereis(name: Name): Pid | undefined;
  sendAfter(ms: number, dest: Dest, msg: unknown): Ref;
  cancelTimer(ref: Ref): number | false;
  call<R = unknown>(dest: Dest, request: unknown, opts?: CallOptions): Promise<R>;
  cast(dest: Dest, msg: unknown): void;
  /** Answer a call received as a `$call` envelope. */
  reply(from: From, value: unknown): void;
  /** Remove EXIT messages from `pid` already queued in this mailbox (OTP's unlink_flush). */
  flushExit(pid: Pid): ExitMessage | undefined;
  /**
   * Tie `resource` to this process, as a port is tied to its owner: it is
   * closed when the process dies, whatever the reason (a `kill` runs no
   * terminate), after terminate when one runs and before links and monitors
   * hear of the death. Called by a process already dead (its lingering async
   * code), it closes the resource at once.
   */
  own(resource: Resource): void;
  /** Take `resource` back from the process: it is no longer closed at death. False if it was not owned. */
  disown(resource: Resource): boolean;
}

export interface ProcessInfo {
  readonly pid: Pid;
  readonly name: Name | undefined;
  readonly behaviour: string;
  readonly status: 'runnable' | 'waiting' | 'suspended';
  readonly mailboxLen: number;
  readonly links: readonly Pid[];
  /** Pids this process monitors. */
  readonly monitors: readonly Pid[];
  /** Processes monitoring this one. */
  readonly monitoredBy: readonly Pid[];
  readonly trapExit: boolean;
  /** The process that spawned it (for a supervised child, its supervisor). */
  readonly parent: Pid | undefined;
  readonly info: unknown;
}

/**
 * What the kernel needs from the distribution layer (runtime/dist implements
 * it): every operation whose other end is a process on another node. The
 * layer calls back into the Runtime's `remote*` methods for what arrives.
 */
export interface RemotePort {
  /** `msg` may be a PreEncoded (from sendEncoded): its text goes on the wire as it is. */
  send(to: Pid, msg: unknown): void;
  sendName(to: RemoteName, msg: unknown): void;
  link(from: Pid, to: Pid): void;
  unlink(from: Pid, to: Pid): void;
  exit(from: Pid, to: Pid, reason: ExitReason, viaLink: boolean): void;
  /** `from` (local) monitors `to` (remote) under `ref`; the DOWN comes back through remoteDown. */
  monitor(from: Pid, ref: Ref, to: Pid | RemoteName): void;
  demonitor(ref: Ref, node: string): void;
  /** Tell a remote watcher that a local process it monitored is down. */
  down(to: Pid, ref: Ref, pid: Pid | Name, reason: ExitReason): void;
  /**
   * Answer the call whose ref has serial `refSerial` on `node`, made by `caller`
   * (a process of `node`). Dropped unless `caller` belongs to the incarnation of
   * `node` we are connected to now: serials restart with each incarnation.
   */
  reply(node: string, caller: Pid, refSerial: number, value: unknown): void;
  /**
   * A call to a remote server: one operation that both monitors the server under
   * the call's ref (serial `refSerial` of this node; a DOWN comes back through
   * remoteDown) and delivers the request. Failures the port concludes itself go
   * to remoteCallDown.
   */
  call(from: Pid, refSerial: number, to: Pid | RemoteName, request: unknown): void;
}

export interface RuntimeOptions {
  readonly env: Env;
  /** Node name (`name@host:port` once distributed). */
  readonly node?: string;
  /** Distinguishes incarnations of a node so a stale pid never names a new process. */
  readonly creation?: number;
  /** Messages a process handles per nact dispatch before yielding (OTP's reductions). */
  readonly batch?: number;
}

/**
 * A pending call: resolved by `reply`, rejected by the server's death or the
 * timeout, whichever comes first (`settled` makes the others no-ops, so a late
 * reply is dropped). For a local call the slot itself is the `From` the server
 * sees: replying needs no table lookup, and the ref string is only built if
 * someone reads it.
 */
const settledNoop = (): void => {};

class CallSlot implements From {
  deadline = Infinity;
  settled = false;
  private refText: Ref | undefined;
  constructor(
    private readonly rt: Runtime,
    /** The serial of the call's ref: a remote call is keyed and sent by it, never by the text. */
    readonly refSerial: number,
    readonly pid: Pid,
    /** The local server, or undefined for a call to another node. */
    readonly target: Proc | undefined,
    /** The server's node when it is remote. */
    readonly node: string | undefined,
    private resolveFn: (v: unknown) => void,
    private rejectFn: (e: Error) => void,
  ) {}

  /**
   * Answer the caller, once; the slot then lets go of the caller's promise. A settled slot can wait in a
   * DeadlineQueue for up to 1024 more calls, and holding the promise held its value: a job_registry
   * leader kept ≈ 270 proposal replies (a thousand results each, ≈ 20 MB) alive that way, copied by
   * every scavenge.
   */
  fulfil(value: unknown): void {
    const resolve = this.resolveFn;
    this.resolveFn = this.rejectFn = settledNoop;
    resolve(value);
  }

  fail(err: Error): void {
    const reject = this.rejectFn;
    this.resolveFn = this.rejectFn = settledNoop;
    reject(err);
  }

  get ref(): Ref {
    return (this.refText ??= this.rt.formatRef(this.refSerial));
  }

  toJSON(): From {
    return { ref: this.ref, pid: this.pid };
  }
}

/** Someone in the runtime (a supervisor shutting a child down) awaiting a process's exit. */
class ExitWaiter {
  constructor(readonly resolve: (reason: ExitReason) => void) {}
}

/** A process on another node monitoring a local one. */
class RemoteWatcher {
  constructor(readonly watcher: Pid) {}
}

/**
 * A call from another node, in flight: both the server's monitor on behalf of
 * the caller (a RemoteWatcher, in the server's watchers under `ref`) and the
 * `From` the server answers. It keeps the caller's node and ref serial, so the
 * reply is routed without parsing the pid or the ref.
 */
class RemoteCallFrom extends RemoteWatcher implements From {
  constructor(
    readonly pid: Pid,
    readonly ref: Ref,
    readonly node: string,
    readonly refSerial: number,
    /** The local server the call went to. */
    readonly target: Proc,
  ) {
    super(pid);
  }

  /** A From that is copied or stored as JSON is the plain `{ref, pid}`. */
  toJSON(): From {
    return { ref: this.ref, pid: this.pid };
  }
}

type Watcher = Proc | CallSlot | ExitWaiter | RemoteWatcher;

/**
 * Call deadlines with one timeout value, in deadline order (the clock is
 * monotonic, so appending keeps the order). One host timer per queue, armed for
 * its head, replaces a host timer per call; answered calls are skipped lazily
 * and compacted away once they outnumber the live ones.
 */
class DeadlineQueue {
  slots: (CallSlot | undefined)[] = [];
  head = 0;
  armed = false;
  constructor(readonly timeoutMs: number) {}
}


interface TimerEntry {
  readonly handle: ReturnType<Env['timers']['set']>;
  readonly due: number;
  readonly owner: Proc | undefined;
}

const WAKE = 0;
const DEFAULT_BATCH = 4096;

// The one function every nact actor runs: its state is the process record.
function nactWake(proc: Proc): Proc {
  proc.wake();
  return proc;
}

/** A close that throws is reported (resource_close_failed), never raised: the death goes on, and so do the other closes. */
function closeQuietly(resource: Resource, proc: Proc): void {
  try {
    resource.close();
  } catch (e) {
    const rt = proc.runtime;
    if (rt.events.active) {
      const error = e instanceof Error ? `${e.name}: ${e.message}`.slice(0, 200) : describe(e);
      rt.events.emit({ type: 'resource_close_failed', time: rt.now(), pid: proc.self, error });
    }
  }
}

function isThenable(x: unknown): x is PromiseLike<void> {
  return x !== undefined && x !== null && typeof (x as { then?: unknown }).then === 'function';
}

function reasonOf(thrown: unknown): ExitReason {
  return thrown instanceof ExitSignal ? thrown.reason : reasonFromThrown(thrown);
}

/** The process record. Handlers see it only through `ProcessContext`. */
class Proc implements ProcessContext {
  ref!: NactRef;
  mailbox: Mailbox | null = null;
  /** The last pid this process sent to, and its record: bulk sends skip the table lookup. */
  private lastDest: Pid | undefined = undefined;
  private lastProc: Proc | undefined = undefined;
  links: Set<Pid> | null = null;
  /** Monitors this process holds: ref → monitored pid. */
  monitors: Map<Ref, Pid> | null = null;
  /** Monitors on this process: ref → who is told. */
  /** Keyed by monitor ref, or by the CallSlot itself for a local call in flight. */
  watchers: Map<Ref | CallSlot, Watcher> | null = null;
  timers: Set<Ref> | null = null;
  /** What this process owns (ctx.own): closed at its death, newest first. */
  resources: Resource[] | null = null;
  name: Name | undefined = undefined;
  trapping = false;
  alive = true;
  started = false;
  wakePending = false;
  suspended = false;
  /** A fatal exit signal waiting for this process's next dispatch. */
  pendingExit: ExitReason | null = null;

  constructor(
    readonly runtime: Runtime,
    readonly self: Pid,
    readonly body: ProcessBody<never>,
    readonly parent: Pid | undefined,
  ) {}

  // ---- scheduling -------------------------------------------------------

  schedule(): void {
    this.wakePending = true;
    this.runtime.pendingWakes++;
    nact.dispatch(this.ref, WAKE);
  }

  enqueue(msg: unknown): void {
    if (!this.alive) return;
    (this.mailbox ??= new Mailbox()).push(msg);
    // While a wake is pending or running, or an async handler is in flight, the
    // message will be reached without another dispatch.
    if (!this.wakePending && !this.suspended) this.schedule();
  }

  /** Make this process exit at its next dispatch (the first fatal signal wins). */
  signalExit(reason: ExitReason): void {
    if (!this.alive) return;
    if (this.pendingExit === null) this.pendingExit = reason;
    if (!this.wakePending) this.schedule();
  }

  /** Called by nact: one dispatch of this process. */
  wake(): void {
    this.runtime.pendingWakes--;
    this.drain();
    this.wakePending = false;
    if (this.alive && !this.suspended && (this.pendingExit !== null || this.hasMail())) this.schedule();
  }

  private hasMail(): boolean {
    return this.mailbox !== null && this.mailbox.size > 0;
  }

  private drain(): void {
    if (!this.alive) return;
    if (this.pendingExit !== null) return this.die(this.pendingExit);
    if (this.suspended) return;
    if (!this.started) {
      this.started = true;
      if (this.body.init !== undefined) {
        let r: void | Promise<void>;
        try {
          r = this.body.init(this);
        } catch (e) {
          return this.die(reasonOf(e));
        }
        if (isThenable(r)) return this.suspend(r);
        if (this.pendingExit !== null) return this.die(this.pendingExit);
      }
    }
    const batch = this.runtime.batch;
    const body = this.body as ProcessBody<unknown>;
    const mb = this.mailbox;
    if (mb === null) return;
    for (let n = 0; mb.size > 0 && n < batch; n++) {
      const msg = mb.shift();
      let r: void | Promise<void>;
      try {
        r = body.receive(msg, this);
      } catch (e) {
        return this.die(reasonOf(e));
      }
      if (r !== undefined && isThenable(r)) return this.suspend(r);
      if (this.pendingExit !== null) return this.die(this.pendingExit);
    }
  }

  // An async handler: the process is suspended (its mailbox fills) until the
  // promise settles; the outcome is applied in a fresh nact dispatch, so the
  // continuation runs on nact like every other step.
  private suspend(p: PromiseLike<void>): void {
    if (this.pendingExit !== null) {
      // A fatal signal arrived before the handler's first await (e.g. exit to
      // self, or a link to a dead pid): it takes effect now, not when (or if)
      // the promise settles. The promise's outcome is then ignored.
      p.then(undefined, () => undefined);
      return this.die(this.pendingExit);
    }
    this.suspended = true;
    p.then(
      () => {
        if (!this.alive) return;
        this.suspended = false;
        if (!this.wakePending && (this.pendingExit !== null || this.hasMail())) this.schedule();
      },
      (e: unknown) => {
        if (!this.alive) return;
        this.suspended = false;
        this.signalExit(reasonOf(e));
      },
    );
  }

  /** Terminate: runs only inside this process's own dispatch. */
  die(reason: ExitReason): void {
    if (!this.alive) return;
    this.alive = false;
    const rt = this.runtime;
    rt.procs.delete(this.self);
    if (this.name !== undefined) rt.names.delete(this.name);
    if (this.timers !== null) for (const t of this.timers) rt.cancelTimer(t);
    this.mailbox = null;
    // Before the links and monitors fire: a supervisor restarting this process must find its files free.
    if (this.resources !== null) this.closeResources();
    if (this.monitors !== null) {
      for (const [ref, target] of this.monitors) {
        const remote = rt.remoteMonitors.get(ref);
        if (remote === undefined) {
          rt.procs.get(target)?.watchers?.delete(ref);
        } else {
          rt.remoteMonitors.delete(ref);
          rt.remotePort?.demonitor(ref, remote.node);
        }
      }
    }
    if (this.links !== null) {
      for (const pid of this.links) {
        const other = rt.procs.get(pid);
        if (other !== undefined) {
          other.links?.delete(this.self);
          rt.deliverExit(other, this.self, reason, true);
        } else if (rt.isRemotePid(pid)) {
          rt.remotePort?.exit(this.self, pid, reason, true);
        }
      }
    }
    if (this.watchers !== null) {
      for (const [ref, w] of this.watchers) rt.notifyDown(w, ref as Ref, this.self, reason);
    }
    if (rt.events.active) {
      rt.events.emit({ type: 'process_exited', time: rt.now(), pid: this.self, reason, name: this.name });
    }
    nact.stop(this.ref);
  }

  // ---- ProcessContext ---------------------------------------------------

  private live(): void {
    if (!this.alive) throw new RuntimeError('dead_process', this.self);
  }

  send(dest: Dest, msg: unknown): void {
    if (!this.alive) return; // a dead process's lingering async code sends nothing
    if (dest === this.lastDest) {
      this.lastProc!.enqueue(msg); // enqueue drops it if that process has died
      return;
    }
    if (isPid(dest)) {
      const target = this.runtime.procs.get(dest);
      if (target !== undefined) {
        this.lastDest = dest;
        this.lastProc = target;
        target.enqueue(msg);
        return;
      }
    }
    this.runtime.send(dest, msg);
  }

  spawn<M>(body: ProcessBody<M>, opts?: SpawnOptions): Pid {
    this.live();
    return this.runtime.spawnWith(body, opts, this, false);
  }

  spawnLink<M>(body: ProcessBody<M>, opts?: SpawnOptions): Pid {
    this.live();
    return this.runtime.spawnWith(body, opts, this, true);
  }

  link(pid: Pid): void {
    this.live();
    if (pid === this.self) return;
    const rt = this.runtime;
    const other = rt.procs.get(pid);
    if (other === undefined) {
      if (rt.isRemotePid(pid)) {
        const port = rt.remotePort;
        if (port === undefined) return rt.deliverExit(this, pid, 'noconnection', true);
        (this.links ??= new Set()).add(pid);
        port.link(this.self, pid);
        return;
      }
      rt.deliverExit(this, pid, 'noproc', true);
      return;
    }
    (this.links ??= new Set()).add(pid);
    (other.links ??= new Set()).add(this.self);
  }

  unlink(pid: Pid): void {
    this.live();
    const had = this.links?.delete(pid) ?? false;
    const rt = this.runtime;
    const other = rt.procs.get(pid);
    if (other !== undefined) other.links?.delete(this.self);
    else if (had && rt.isRemotePid(pid)) rt.remotePort?.unlink(this.self, pid);
  }

  monitor(dest: Dest): Ref {
    this.live();
    const rt = this.runtime;
    const ref = rt.makeRef();
    const target = rt.resolve(dest);
    if (target === undefined) {
      const node = rt.remoteNodeOf(dest);
      if (node !== undefined) {
        const shown = typeof dest === 'string' ? dest : dest.name;
        const port = rt.remotePort;
        if (port === undefined) {
          this.enqueue({ type: 'DOWN', ref, pid: shown, reason: 'noconnection' } satisfies DownMessage);
          return ref;
        }
        rt.remoteMonitors.set(ref, { proc: this, node, shown });
        (this.monitors ??= new Map()).set(ref, shown as Pid);
        port.monitor(this.self, ref, dest as Pid | RemoteName);
        return ref;
      }
      this.enqueue({ type: 'DOWN', ref, pid: formatDest(dest), reason: 'noproc' } satisfies DownMessage);
      return ref;
    }
    (target.watchers ??= new Map()).set(ref, this);
    (this.monitors ??= new Map()).set(ref, target.self);
    return ref;
  }

  demonitor(ref: Ref, opts?: DemonitorOptions): boolean {
    const target = this.monitors?.get(ref);
    if (target !== undefined) {
      this.monitors!.delete(ref);
      const rt = this.runtime;
      const remote = rt.remoteMonitors.get(ref);
      if (remote !== undefined) {
        rt.remoteMonitors.delete(ref);
        rt.remotePort?.demonitor(ref, remote.node);
      } else {
        rt.procs.get(target)?.watchers?.delete(ref);
      }
    }
    if (opts?.flush === true) this.removeFromMailbox((m) => (m as DownMessage).type === 'DOWN' && (m as DownMessage).ref === ref);
    return true;
  }

  own(resource: Resource): void {
    if (!this.alive) return closeQuietly(resource, this);
    (this.resources ??= []).push(resource);
  }

  disown(resource: Resource): boolean {
    const at = this.resources?.lastIndexOf(resource) ?? -1;
    if (at < 0) return false;
    this.resources!.splice(at, 1);
    return true;
  }

  private closeResources(): void {
    const owned = this.resources!;
    this.resources = null;
    for (let i = owned.length - 1; i >= 0; i--) closeQuietly(owned[i]!, this);
  }

  flushExit(pid: Pid): ExitMessage | undefined {
    let found: ExitMessage | undefined;
    this.removeFromMailbox((m) => {
      const hit = (m as ExitMessage)?.type === 'EXIT' && (m as ExitMessage).from === pid;
      if (hit && found === undefined) found = m as ExitMessage;
      return hit;
    });
    return found;
  }

  private removeFromMailbox(match: (m: unknown) => boolean): void {
    this.mailbox?.retain((m) => typeof m !== 'object' || m === null || !match(m));
  }

  exit(reason: ExitReason): never;
  exit(pid: Pid, reason: ExitReason): void;
  exit(a: ExitReason | Pid, b?: ExitReason): void {
    if (b === undefined) throw new ExitSignal(a as ExitReason);
    this.live();
    this.runtime.exitFrom(this.self, a as Pid, b);
  }

  trapExit(flag: boolean): boolean {
    this.live();
    const prev = this.trapping;
    this.trapping = flag;
    return prev;
  }

  register(name: Name): void {
    this.live();
    this.runtime.register(name, this.self);
  }

  unregister(name: Name): void {
    this.live();
    this.runtime.unregister(name);
  }

  whereis(name: Name): Pid | undefined {
    return this.runtime.whereis(name);
  }

  sendAfter(ms: number, dest: Dest, msg: unknown): Ref {
    this.live();
    return this.runtime.sendAfter(ms, dest, msg);
  }

  cancelTimer(ref: Ref): number | false {
    this.live();
    return this.runtime.cancelTimer(ref);
  }

  call<R = unknown>(dest: Dest, request: unknown, opts?: CallOptions): Promise<R> {
    if (!this.alive) return Promise.reject(new RuntimeError('dead_process', this.self));
    return this.runtime.callFrom<R>(this, dest, request, opts);
  }

  cast(dest: Dest, msg: unknown): void {
    if (!this.alive) return;
    this.runtime.cast(dest, msg);
  }

  reply(from: From, value: unknown): void {
    if (!this.alive) return;
    this.runtime.reply(from, value);
  }

  info(): ProcessInfo {
    const status = this.suspended ? 'suspended' : this.wakePending ? 'runnable' : 'waiting';
    const monitoredBy: Pid[] = [];
    if (this.watchers !== null) {
      for (const w of this.watchers.values()) if (w instanceof Proc) monitoredBy.push(w.self);
    }
    return {
      pid: this.self,
      name: this.name,
      behaviour: this.body.behaviour ?? 'process',
      status,
      mailboxLen: this.mailbox === null ? 0 : this.mailbox.size,
      links: this.links === null ? [] : [...this.links],
      monitors: this.monitors === null ? [] : [...this.monitors.values()],
      monitoredBy,
      trapExit: this.trapping,
      parent: this.parent,
      info: this.body.introspect?.(),
    };
  }
}

/** One node's process world. */
export class Runtime {
  readonly env: Env;
  readonly node: string;
  readonly creation: number;
  readonly batch: number;
  readonly events = new EventBus();
  /** Stands for code outside any process (tests, main, HTTP handlers) in EXIT messages. */
  readonly externalPid: Pid;
  /** @internal */ readonly procs = new Map<Pid, Proc>();
  /** @internal */ readonly names = new Map<Name, Proc>();
  /** @internal */ pendingWakes = 0;
  private readonly system: NactSystem;
  private readonly pidPrefix: string;
  private serial = 0;
  private refSerial = 0;
  /** `#Ref<node.creation.`: every ref this incarnation makes starts with it. */
  private readonly refPrefix: string;
  /** Calls in flight to other nodes, by ref serial (replies arrive by serial, DOWNs by ref). */
  private readonly calls = new Map<number, CallSlot>();
  /** Calls in flight, local and remote (sizes the deadline queues' compaction). */
  private pendingCalls = 0;
  /** @internal */ remotePort: RemotePort | undefined = undefined;
  /** @internal Monitors held by local processes on remote ones. */
  readonly remoteMonitors = new Map<Ref, { readonly proc: Proc; readonly node: string; readonly shown: Pid | Name }>();
  /** @internal Local processes monitored from other nodes, by monitor ref. */
  readonly remoteWatched = new Map<Ref, Proc>();
  private readonly deadlines = new Map<number, DeadlineQueue>();
  private readonly timerTable = new Map<Ref, TimerEntry>();
  private stopped = false;

  constructor(opts: RuntimeOptions) {
    this.env = opts.env;
    this.node = opts.node ?? 'nonode@nohost';
    this.creation = opts.creation ?? 0;
    this.batch = opts.batch ?? DEFAULT_BATCH;
    if (!Number.isInteger(this.batch) || this.batch < 1) throw new RangeError('batch must be a positive integer');
    this.system = nact.start();
    this.pidPrefix = `<${this.node}.${this.creation}.`;
    this.refPrefix = `#Ref${this.pidPrefix}`;
    this.externalPid = `${this.pidPrefix}0>` as Pid;
  }

  now(): number {
    return this.env.clock.now();
  }

  /** True while nact has process dispatches scheduled (drivers of virtual time wait on it). */
  hasPendingWork(): boolean {
    return this.pendingWakes > 0;
  }

  makeRef(): Ref {
    return this.formatRef(++this.refSerial);
  }

  /** @internal */
  formatRef(serial: number): Ref {
    return `${this.refPrefix}${serial}>` as Ref;
  }

  /** The serial of one of our own refs; undefined for anything else. */
  private ownRefSerial(ref: Ref): number | undefined {
    if (!ref.startsWith(this.refPrefix)) return undefined;
    const serial = Number(ref.slice(this.refPrefix.length, -1));
    // The round trip rejects what Number() is lenient about (' 5', '0x5', '').
    return Number.isSafeInteger(serial) && this.formatRef(serial) === ref ? serial : undefined;
  }

  // ---- processes --------------------------------------------------------

  spawn<M>(body: ProcessBody<M>, opts?: SpawnOptions): Pid {
    return this.spawnWith(body, opts, undefined, false);
  }

  /** @internal */
  spawnWith<M>(body: ProcessBody<M>, opts: SpawnOptions | undefined, parent: Proc | undefined, link: boolean): Pid {
    if (this.stopped) throw new RuntimeError('noproc', 'runtime stopped');
    const name = opts?.name;
    if (name !== undefined) this.checkRegistrable(name);
    const serial = ++this.serial;
    const pid = `${this.pidPrefix}${serial}>` as Pid;
    const proc = new Proc(this, pid, body as ProcessBody<never>, parent?.self);
    proc.ref = nact.spawn(this.system, nactWake, `p${serial}`, { initialState: proc });
    this.procs.set(pid, proc);
    if (name !== undefined) {
      proc.name = name;
      this.names.set(name, proc);
    }
    if (opts?.trapExit === true) proc.trapping = true;
    if (link && parent !== undefined) {
      (proc.links = new Set()).add(parent.self);
      (parent.links ??= new Set()).add(pid);
    }
    if (this.events.active) {
      this.events.emit({ type: 'process_started', time: this.now(), pid, behaviour: body.behaviour ?? 'process', parent: parent?.self });
    }
    // A body without init has nothing to run until its first message arrives.
    if (body.init !== undefined) proc.schedule();
    else proc.started = true;
    return pid;
  }

  /** @internal */
  resolve(dest: Dest): Proc | undefined {
    if (typeof dest === 'string') return dest.charCodeAt(0) === 60 ? this.procs.get(dest as Pid) : this.names.get(dest);
    return dest.node === this.node ? this.names.get(dest.name) : undefined;
  }

  /** A pid that does not belong to this incarnation of this node. */
  isRemotePid(pid: Pid): boolean {
    return !pid.startsWith(this.pidPrefix);
  }

  /** The node of `dest` when it is on another node; undefined when local. */
  remoteNodeOf(dest: Dest): string | undefined {
    if (typeof dest !== 'string') return dest.node === this.node ? undefined : dest.node;
    if (dest.charCodeAt(0) !== 60 || !this.isRemotePid(dest as Pid)) return undefined;
    return nodeOfPid(dest as Pid);
  }

  /**
   * Resolves with `pid`'s exit reason when it exits (`noproc` if it is not alive).
   * A promise-shaped monitor for runtime code that waits inside an async handler.
   */
  awaitExit(pid: Pid): Promise<ExitReason> {
    return new Promise((resolve) => this.watchExit(pid, resolve));
  }

  /**
   * Call `fn` with `pid`'s exit reason when it exits (at once with `noproc` if it
   * is not alive). Returns a function that cancels the watch.
   */
  watchExit(pid: Pid, fn: (reason: ExitReason) => void): () => void {
    const p = this.procs.get(pid);
    if (p === undefined) {
      fn('noproc');
      return () => {};
    }
    const ref = this.makeRef();
    (p.watchers ??= new Map()).set(ref, new ExitWaiter(fn));
    return () => p.watchers?.delete(ref);
  }

  isAlive(pid: Pid): boolean {
    return this.procs.has(pid);
  }

  /**
   * Send a message. To a dead pid it is dropped (as in Erlang); to a name with no
   * process it throws `not_registered` (Erlang's badarg).
   */
  send(dest: Dest, msg: unknown): void {
    if (typeof dest !== 'string') {
      // {Name, Node} ! Msg never fails, as in Erlang.
      if (dest.node === this.node) this.names.get(dest.name)?.enqueue(msg);
      else this.remotePort?.sendName(dest, msg);
      return;
    }
    if (dest.charCodeAt(0) === 60) {
      const proc = this.procs.get(dest as Pid);
      if (proc !== undefined) proc.enqueue(msg);
      else if (this.isRemotePid(dest as Pid)) this.remotePort?.send(dest as Pid, msg);
      return;
    }
    const proc = this.names.get(dest);
    if (proc === undefined) throw new RuntimeError('not_registered', dest);
    proc.enqueue(msg);
  }

  /**
   * Send `value` whose JSON text the caller already has (`json` must be JSON.stringify(value), whole or in
   * pieces whose concatenation it is). To a process
   * on another node the text goes into the frame as it is, not serialised again; anywhere else this is
   * send(dest, value). The receiver cannot tell the difference.
   */
  sendEncoded(dest: Pid | RemoteName, value: unknown, json: JsonText): void {
    const port = this.remotePort;
    if (port === undefined || this.remoteNodeOf(dest) === undefined) return this.send(dest, value);
    const msg = new PreEncoded(value, json);
    if (typeof dest === 'string') port.send(dest, msg);
    else port.sendName(dest, msg);
  }

  /** exit/2 from outside any process. */
  exit(pid: Pid, reason: ExitReason): void {
    this.exitFrom(this.externalPid, pid, reason);
  }

  /** @internal */
  exitFrom(from: Pid, pid: Pid, reason: ExitReason): void {
    const target = this.procs.get(pid);
    if (target !== undefined) this.deliverExit(target, from, reason, false);
    else if (this.isRemotePid(pid)) this.remotePort?.exit(from, pid, reason, false);
  }

  /**
   * Deliver an exit signal. `kill` sent with exit/2 cannot be trapped; a trapping
   * receiver gets an EXIT message (queued now, so it keeps its order with the
   * sender's earlier messages); otherwise `normal` is ignored and anything else
   * ends the receiver at its next dispatch, before it handles queued messages
   * (as in Erlang, where a signal takes effect on arrival).
   * @internal
   */
  deliverExit(target: Proc, from: Pid, reason: ExitReason, viaLink: boolean): void {
    if (!target.alive) return;
    if (!viaLink && reason === 'kill') {
      target.signalExit('killed');
      return;
    }
    if (target.trapping) {
      target.enqueue({ type: 'EXIT', from, reason } satisfies ExitMessage);
      return;
    }
    if (reason === 'normal') {
      // exit(self(), normal) ends the caller, as in Erlang; any other normal signal is ignored.
      if (!viaLink && from === target.self) target.signalExit('normal');
      return;
    }
    target.signalExit(reason);
  }

  /** @internal */
  notifyDown(w: Watcher, ref: Ref, pid: Pid, reason: ExitReason): void {
    if (w instanceof Proc) {
      w.monitors?.delete(ref);
      w.enqueue({ type: 'DOWN', ref, pid, reason } satisfies DownMessage);
      return;
    }
    if (w instanceof ExitWaiter) {
      w.resolve(reason);
      return;
    }
    if (w instanceof RemoteWatcher) {
      this.remoteWatched.delete(ref);
      this.remotePort?.down(w.watcher, ref, pid, reason);
      return;
    }
    this.failCall(w, reason === 'noproc' ? new NoProc(pid) : new ServerExited(reason));
  }

  // ---- registry ---------------------------------------------------------

  private checkRegistrable(name: Name): void {
    if (typeof name !== 'string' || name.length === 0 || name.charCodeAt(0) === 60) throw new RuntimeError('invalid_name', String(name));
    if (this.names.has(name)) throw new RuntimeError('name_taken', name);
  }

  register(name: Name, pid: Pid): void {
    this.checkRegistrable(name);
    const proc = this.procs.get(pid);
    if (proc === undefined) throw new RuntimeError('noproc', pid);
    if (proc.name !== undefined) throw new RuntimeError('already_registered', `${pid} is ${proc.name}`);
    proc.name = name;
    this.names.set(name, proc);
  }

  unregister(name: Name): void {
    const proc = this.names.get(name);
    if (proc === undefined) throw new RuntimeError('not_registered', name);
    this.names.delete(name);
    proc.name = undefined;
  }

  whereis(name: Name): Pid | undefined {
    return this.names.get(name)?.self;
  }

  registered(): Name[] {
    return [...this.names.keys()];
  }

  // ---- timers -----------------------------------------------------------

  /** Send `msg` to `dest` after `ms` of the env's clock. A timer to a pid dies with that pid. */
  sendAfter(ms: number, dest: Dest, msg: unknown): Ref {
    const ref = this.makeRef();
    const local = isPid(dest) && !this.isRemotePid(dest);
    const owner = local ? this.procs.get(dest as Pid) : undefined;
    if (local && owner === undefined) return ref; // already dead: nothing to deliver
    const handle = this.env.timers.set(ms, () => {
      this.timerTable.delete(ref);
      owner?.timers?.delete(ref);
      if (typeof dest === 'string' && !isPid(dest)) this.names.get(dest)?.enqueue(msg); // a name with no process: dropped
      else this.send(dest, msg);
    });
    this.timerTable.set(ref, { handle, due: this.now() + ms, owner });
    if (owner !== undefined) (owner.timers ??= new Set()).add(ref);
    return ref;
  }

  /** Cancel a timer: the milliseconds it had left, or false if it already fired or never existed. */
  cancelTimer(ref: Ref): number | false {
    const t = this.timerTable.get(ref);
    if (t === undefined) return false;
    this.timerTable.delete(ref);
    t.owner?.timers?.delete(ref);
    this.env.timers.clear(t.handle);
    return Math.max(0, t.due - this.now());
  }

  // ---- call / cast / reply ------------------------------------------------

  /** gen_server:call from outside any process. */
  call<R = unknown>(dest: Dest, request: unknown, opts?: CallOptions): Promise<R> {
    return this.callFrom<R>(undefined, dest, request, opts);
  }

  /**
   * A call monitors the server for its duration (so a dead or dying server fails
   * the call at once with NoProc/ServerExited) and carries a fresh ref, so a reply
   * that arrives after the timeout matches no slot and is dropped.
   * @internal
   */
  callFrom<R>(caller: Proc | undefined, dest: Dest, request: unknown, opts?: CallOptions): Promise<R> {
    const target = this.resolve(dest);
    const timeout = opts?.timeout ?? 5000;
    if (target === undefined) {
      const node = this.remoteNodeOf(dest);
      if (node === undefined) return Promise.reject(new NoProc(formatDest(dest)));
      return this.remoteCall<R>(caller, dest as Pid | RemoteName, node, request, timeout);
    }
    if (target === caller) return Promise.reject(new RuntimeError('calling_self', formatDest(dest)));
    return new Promise<R>((resolve, reject) => {
      const slot = new CallSlot(this, ++this.refSerial, caller?.self ?? this.externalPid, target, undefined, resolve as (v: unknown) => void, reject);
      this.pendingCalls++;
      (target.watchers ??= new Map()).set(slot, slot);
      if (timeout !== 'infinity') this.armDeadline(slot, timeout);
      const envelope: CallEnvelope = { type: '$call', from: slot, request };
      target.enqueue(envelope);
    });
  }

  // A call to another node: the call's ref doubles as a remote monitor on the
  // server, so its death fails the call with ServerExited and a lost connection
  // fails it with NodeDown at once (see nodeDown), never only at the timeout.
  private remoteCall<R>(caller: Proc | undefined, dest: Pid | RemoteName, node: string, request: unknown, timeout: number | 'infinity'): Promise<R> {
    const port = this.remotePort;
    if (port === undefined) return Promise.reject(new NodeDown(node));
    return new Promise<R>((resolve, reject) => {
      const from = caller?.self ?? this.externalPid;
      const slot = new CallSlot(this, ++this.refSerial, from, undefined, node, resolve as (v: unknown) => void, reject);
      this.pendingCalls++;
      this.calls.set(slot.refSerial, slot);
      if (timeout !== 'infinity') this.armDeadline(slot, timeout);
      port.call(from, slot.refSerial, dest, request);
    });
  }

  /** Answer a call. A reply for a call that already timed out or failed is dropped. */
  reply(from: From, value: unknown): void {
    if (from instanceof CallSlot) {
      if (from.settled) return;
      this.settle(from);
      from.fulfil(value);
      return;
    }
    // A remote caller's. Whoever answers (the server or a worker it handed the
    // From to), the call's monitor on the server ends with the answer.
    if (from instanceof RemoteCallFrom) {
      const watchers = from.target.watchers;
      if (watchers !== null && watchers.get(from.ref) === from) {
        watchers.delete(from.ref);
        this.remoteWatched.delete(from.ref);
      }
      this.remotePort?.reply(from.node, from.pid, from.refSerial, value);
      return;
    }
    // A copy of one (e.g. a From kept as JSON): find the monitor and the serial from the text.
    if (!this.isRemotePid(from.pid)) return;
    const watched = this.remoteWatched.get(from.ref);
    if (watched !== undefined && watched.watchers?.get(from.ref) instanceof RemoteWatcher) {
      this.remoteWatched.delete(from.ref);
      watched.watchers.delete(from.ref);
    }
    const pidPrefix = from.pid.slice(0, from.pid.lastIndexOf('.') + 1);
    const refPrefix = `#Ref${pidPrefix}`;
    const serial = from.ref.startsWith(refPrefix) ? Number(from.ref.slice(refPrefix.length, -1)) : NaN;
    // Not a ref of the caller's node: no call there can match it.
    if (!Number.isSafeInteger(serial) || serial < 0 || `${refPrefix}${serial}>` !== from.ref) return;
    this.remotePort?.reply(nodeOfPid(from.pid), from.pid, serial, value);
  }

  private settle(slot: CallSlot): void {
    slot.settled = true;
    this.pendingCalls--;
    if (slot.target !== undefined) slot.target.watchers?.delete(slot);
    else this.calls.delete(slot.refSerial);
  }

  private failCall(slot: CallSlot, err: Error): void {
    if (slot.settled) return;
    this.settle(slot);
    if (slot.target === undefined && slot.node !== undefined && !(err instanceof NodeDown)) this.remotePort?.demonitor(slot.ref, slot.node);
    slot.fail(err);
  }

  private armDeadline(slot: CallSlot, timeoutMs: number): void {
    slot.deadline = this.now() + timeoutMs;
    let q = this.deadlines.get(timeoutMs);
    if (q === undefined) this.deadlines.set(timeoutMs, (q = new DeadlineQueue(timeoutMs)));
    q.slots.push(slot);
    if (q.slots.length - q.head > 2 * this.pendingCalls + 1024) {
      // Mostly answered calls: drop them so memory follows the calls in flight.
      q.slots = q.slots.slice(q.head).filter((s) => s !== undefined && !s.settled);
      q.head = 0;
    }
    if (!q.armed) this.armQueue(q, timeoutMs);
  }

  private armQueue(q: DeadlineQueue, inMs: number): void {
    q.armed = true;
    this.env.timers.set(inMs, () => this.expireDeadlines(q));
  }

  private expireDeadlines(q: DeadlineQueue): void {
    q.armed = false;
    const now = this.now();
    while (q.head < q.slots.length) {
      const slot = q.slots[q.head];
      if (slot !== undefined && slot.deadline > now) break;
      q.slots[q.head++] = undefined;
      if (slot !== undefined && !slot.settled) this.failCall(slot, new CallTimeout(q.timeoutMs));
    }
    if (q.head === q.slots.length) {
      q.slots = [];
      q.head = 0;
      return;
    }
    this.armQueue(q, q.slots[q.head]!.deadline - now);
  }

  /** gen_server:cast: fire and forget; to a dead server or unknown name it is silently dropped. */
  cast(dest: Dest, msg: unknown): void {
    const envelope: CastEnvelope = { type: '$cast', msg };
    const target = this.resolve(dest);
    if (target !== undefined) return target.enqueue(envelope);
    if (this.remoteNodeOf(dest) === undefined) return;
    if (typeof dest === 'string') this.remotePort?.send(dest as Pid, envelope);
    else this.remotePort?.sendName(dest, envelope);
  }

  // ---- distribution: what arrives from other nodes ------------------------

  /** Plug in the distribution layer (runtime/dist). */
  attachRemote(port: RemotePort): void {
    this.remotePort = port;
  }

  /** @internal A message from another node to a local pid (dropped if it is gone). */
  remoteDeliver(to: Pid, msg: unknown): void {
    this.procs.get(to)?.enqueue(msg);
  }

  /** @internal A message from another node to a local registered name (dropped if none). */
  remoteDeliverName(name: Name, msg: unknown): void {
    this.names.get(name)?.enqueue(msg);
  }

  /**
   * @internal A link between a remote process and a local one (a remote link
   * request, or our half of a remote spawn_link); a missing local one answers noproc.
   */
  remoteLink(from: Pid, to: Pid): void {
    const p = this.procs.get(to);
    if (p === undefined) {
      this.remotePort?.exit(to, from, 'noproc', true);
      return;
    }
    (p.links ??= new Set()).add(from);
  }

  /** @internal */
  remoteUnlink(from: Pid, to: Pid): void {
    this.procs.get(to)?.links?.delete(from);
  }

  /** @internal An exit signal from a remote process (through a link when viaLink). */
  remoteExit(from: Pid, to: Pid, reason: ExitReason, viaLink: boolean): void {
    const p = this.procs.get(to);
    if (p === undefined) return;
    if (viaLink && !(p.links?.delete(from) ?? false)) return; // already unlinked: no signal
    this.deliverExit(p, from, reason, viaLink);
  }

  /** @internal A remote process monitors a local pid or name; returns the monitored process, if any. */
  remoteMonitor(from: Pid, ref: Ref, to: Pid | Name): Proc | undefined {
    const p = this.resolve(to);
    if (p === undefined) {
      this.remotePort?.down(from, ref, to, 'noproc');
      return undefined;
    }
    (p.watchers ??= new Map()).set(ref, new RemoteWatcher(from));
    this.remoteWatched.set(ref, p);
    return p;
  }

  /**
   * @internal A call from a process of `node` (pid serial `fromSerial`, ref serial
   * `refSerial`; `pidPrefix` is `<node.creation.` of the connection it came on):
   * monitor the server for the caller, then deliver it. The envelope's From is
   * the monitor itself.
   */
  remoteCallIn(node: string, pidPrefix: string, fromSerial: number, refSerial: number, to: Pid | Name, request: unknown): void {
    const from = `${pidPrefix}${fromSerial}>` as Pid;
    const ref = `#Ref${pidPrefix}${refSerial}>` as Ref;
    const p = this.resolve(to);
    if (p === undefined) {
      this.remotePort?.down(from, ref, to, 'noproc');
      return;
    }
    const call = new RemoteCallFrom(from, ref, node, refSerial, p);
    (p.watchers ??= new Map()).set(ref, call);
    this.remoteWatched.set(ref, p);
    p.enqueue({ type: '$call', from: call, request } satisfies CallEnvelope);
  }

  /** @internal `node` is the sender: only the node that set up a monitor can cancel it. */
  remoteDemonitor(ref: Ref, node: string): void {
    const p = this.remoteWatched.get(ref);
    if (p === undefined) return;
    const w = p.watchers?.get(ref);
    if (!(w instanceof RemoteWatcher) || !w.watcher.startsWith(`<${node}.`)) return;
    this.remoteWatched.delete(ref);
    p.watchers?.delete(ref);
  }

  /**
   * @internal A remote process we monitored (or called) is down. `node` is the
   * node that reported it (undefined when we conclude it ourselves): a node may
   * only report on monitors and calls that point at it.
   */
  remoteDown(ref: Ref, pid: Pid | Name, reason: ExitReason, node?: string): void {
    const serial = this.ownRefSerial(ref);
    const slot = serial === undefined ? undefined : this.calls.get(serial);
    if (slot !== undefined) {
      if (node === undefined || slot.node === node) this.failRemoteCall(slot, pid, reason);
      return;
    }
    const m = this.remoteMonitors.get(ref);
    if (m === undefined || (node !== undefined && m.node !== node)) return;
    this.remoteMonitors.delete(ref);
    m.proc.monitors?.delete(ref);
    m.proc.enqueue({ type: 'DOWN', ref, pid, reason } satisfies DownMessage);
  }

  /** @internal A remote call (ref serial `refSerial`) the distribution layer could not deliver. */
  remoteCallDown(refSerial: number, pid: Pid | Name, reason: ExitReason): void {
    const slot = this.calls.get(refSerial);
    if (slot !== undefined) this.failRemoteCall(slot, pid, reason);
  }

  private failRemoteCall(slot: CallSlot, pid: Pid | Name, reason: ExitReason): void {
    this.failCall(slot, reason === 'noproc' ? new NoProc(pid) : reason === 'noconnection' && slot.node !== undefined ? new NodeDown(slot.node) : new ServerExited(reason));
  }

  /** @internal The reply to a call we made to `node`; a reply from any other node is ignored. */
  remoteReply(refSerial: number, value: unknown, node: string): void {
    const slot = this.calls.get(refSerial);
    if (slot === undefined || slot.node !== node) return;
    this.settle(slot);
    slot.fulfil(value);
  }

  /**
   * @internal The connection to `node` is gone: links to its processes fire with
   * `noconnection`, monitors deliver DOWN `noconnection`, calls in flight to it
   * fail with NodeDown now, and its processes' monitors on ours are dropped.
   */
  nodeDown(node: string): void {
    const prefix = `<${node}.`;
    for (const slot of [...this.calls.values()]) if (slot.node === node) this.failCall(slot, new NodeDown(node));
    for (const [ref, m] of [...this.remoteMonitors]) {
      if (m.node !== node) continue;
      this.remoteMonitors.delete(ref);
      m.proc.monitors?.delete(ref);
      m.proc.enqueue({ type: 'DOWN', ref, pid: m.shown, reason: 'noconnection' } satisfies DownMessage);
    }
    for (const [ref, p] of [...this.remoteWatched]) {
      const w = p.watchers?.get(ref);
      if (w instanceof RemoteWatcher && w.watcher.startsWith(prefix)) {
        this.remoteWatched.delete(ref);
        p.watchers!.delete(ref);
      }
    }
    for (const p of [...this.procs.values()]) {
      if (p.links === null) continue;
      for (const pid of [...p.links]) {
        if (!pid.startsWith(prefix)) continue;
        p.links.delete(pid);
        this.deliverExit(p, pid, 'noconnection', true);
      }
    }
  }

  // ---- introspection ----------------------------------------------------

  processes(): ProcessInfo[] {
    return [...this.procs.values()].map((p) => p.info());
  }

  processInfo(dest: Dest): ProcessInfo | undefined {
    return this.resolve(dest)?.info();
  }

  /** Subscribe to structured runtime events; returns the unsubscribe function. */
  subscribe(fn: (e: RuntimeEvent) => void): () => void {
    return this.events.subscribe(fn);
  }

  /**
   * Refuse new processes, send `kill` to every process (each dies at its next
   * nact dispatch, i.e. on the next event-loop turn) and cancel all timers. Stop
   * the supervision tree first (stopServer) for an orderly shutdown.
   */
  stop(): void {
    this.stopped = true;
    for (const p of [...this.procs.values()]) p.signalExit('killed');
    for (const ref of [...this.timerTable.keys()]) this.cancelTimer(ref);
    for (const slot of [...this.calls.values()]) this.failCall(slot, new RuntimeError('noproc', 'runtime stopped'));
  }
}

export type { Proc };
