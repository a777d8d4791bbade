// gen_server for this runtime: a typed behaviour (init, handleCall, handleCast,
// handleInfo, handleContinue, terminate) run by a generic process body that owns
// the loop, the call protocol and termination. As in OTP's try_dispatch, a
// callback can never break the loop: a throw or an unexpected return becomes the
// exit reason, terminate runs, a report is emitted, and the supervisor decides.
import { ExitSignal } from './errors.js';
import type { CallEnvelope, CastEnvelope, From, ProcessBody, ProcessContext, Runtime } from './kernel.js';
import { ServerExited } from './errors.js';
import {
  type Dest,
  type DownMessage,
  type ExitMessage,
  type ExitReason,
  type Name,
  type Pid,
  describe,
  isExitMessage,
  isNormalExit,
  reasonFromThrown,
} from './types.js';

export type InitResult<S> =
  | { readonly type: 'ok'; readonly state: S; readonly continue?: unknown }
  | { readonly type: 'stop'; readonly reason: ExitReason }
  | { readonly type: 'ignore' };

export type NoReplyResult<S> =
  | { readonly type: 'noreply'; readonly state: S; readonly continue?: unknown }
  | { readonly type: 'stop'; readonly reason: ExitReason; readonly state: S };

export type CallResult<S, R> =
  | { readonly type: 'reply'; readonly reply: R; readonly state: S; readonly continue?: unknown }
  | NoReplyResult<S>
  | { readonly type: 'stop'; readonly reason: ExitReason; readonly state: S; readonly reply: R };

type MaybeAsync<T> = T | Promise<T>;

/**
 * The callbacks of a server. `Req`/`Rep` type calls, `Cst` casts, `Inf` plain
 * messages; EXIT and DOWN messages reach handleInfo too.
 */
export interface ServerBehaviour<S, A = void, Req = never, Rep = unknown, Cst = never, Inf = never> {
  /** Shown by processes() as `gen_server:<name>`. */
  readonly name: string;
  init(args: A, ctx: ProcessContext): MaybeAsync<InitResult<S>>;
  handleCall?(request: Req, from: From, state: S, ctx: ProcessContext): MaybeAsync<CallResult<S, Rep>>;
  handleCast?(msg: Cst, state: S, ctx: ProcessContext): MaybeAsync<NoReplyResult<S>>;
  handleInfo?(msg: Inf | ExitMessage | DownMessage, state: S, ctx: ProcessContext): MaybeAsync<NoReplyResult<S>>;
  handleContinue?(arg: unknown, state: S, ctx: ProcessContext): MaybeAsync<NoReplyResult<S>>;
  /** Runs when a callback stops or fails, and on the parent's exit signal if the server traps exits. */
  terminate?(reason: ExitReason, state: S, ctx: ProcessContext): MaybeAsync<void>;
  /** A cheap synchronous view of the state for processes() (sys:get_status, roughly). */
  introspect?(state: S): unknown;
}

// Result constructors, so callbacks read like OTP: `return reply(x, state)`.
export const ok = <S>(state: S, cont?: unknown): InitResult<S> =>
  cont === undefined ? { type: 'ok', state } : { type: 'ok', state, continue: cont };
export const ignore = (): InitResult<never> => ({ type: 'ignore' });
export const reply = <S, R>(value: R, state: S, cont?: unknown): CallResult<S, R> =>
  cont === undefined ? { type: 'reply', reply: value, state } : { type: 'reply', reply: value, state, continue: cont };
export const noreply = <S>(state: S, cont?: unknown): NoReplyResult<S> =>
  cont === undefined ? { type: 'noreply', state } : { type: 'noreply', state, continue: cont };
export function stop(reason: ExitReason): InitResult<never>;
export function stop<S>(reason: ExitReason, state: S): NoReplyResult<S>;
export function stop<S>(reason: ExitReason, state?: S): InitResult<never> | NoReplyResult<S> {
  return arguments.length < 2 ? { type: 'stop', reason } : { type: 'stop', reason, state: state as S };
}
export const stopReply = <S, R>(reason: ExitReason, value: R, state: S): CallResult<S, R> => ({ type: 'stop', reason, state, reply: value });

export type StartError =
  | { readonly type: 'already_started'; readonly pid: Pid }
  /** init returned stop, threw, or returned something unexpected. */
  | { readonly type: 'init_failed'; readonly reason: ExitReason }
  | { readonly type: 'timeout' };

export type StartResult = { readonly type: 'ok'; readonly pid: Pid } | { readonly type: 'ignore' } | { readonly type: 'error'; readonly error: StartError };

export interface StartOptions {
  /** Register the server under this name before init runs. */
  readonly name?: Name;
  /** Give init this long, then kill the server and return `timeout` (OTP's start timeout). */
  readonly timeout?: number;
}

/** The request `stopServer` sends; reserved, never passed to handleCall. */
interface StopRequest {
  readonly type: '$gen_stop';
  readonly reason: ExitReason;
}

/**
 * Only a real call carries a From (a reply address). A plain message that merely
 * looks like a call envelope (any process, or a peer node, can send one) goes to
 * handleInfo instead of crashing the server on a missing `from`.
 */
const isFrom = (f: unknown): f is From =>
  typeof f === 'object' && f !== null && typeof (f as From).ref === 'string' && typeof (f as From).pid === 'string';

const isStopRequest = (r: unknown): r is StopRequest => typeof r === 'object' && r !== null && (r as StopRequest).type === '$gen_stop';

function isThenable<T>(x: MaybeAsync<T>): x is Promise<T> {
  return typeof (x as { then?: unknown } | null)?.then === 'function';
}

/** Apply `f` to a value that may be a promise, staying synchronous when it is not. */
function andThen<T, U>(x: MaybeAsync<T>, f: (t: T) => MaybeAsync<U>): MaybeAsync<U> {
  return isThenable(x) ? x.then(f) : f(x);
}

/** Run `f`; route a synchronous throw or an async rejection to `onError`. */
function guard<T>(f: () => MaybeAsync<T>, onError: (e: unknown) => MaybeAsync<T>): MaybeAsync<T> {
  let r: MaybeAsync<T>;
  try {
    r = f();
  } catch (e) {
    return onError(e);
  }
  return isThenable(r) ? r.then(undefined, onError) : r;
}

const RESULT_TYPES = {
  init: ['ok', 'stop', 'ignore'],
  call: ['reply', 'noreply', 'stop'],
  noreply: ['noreply', 'stop'],
} as const;

type Kind = keyof typeof RESULT_TYPES;

function wellFormed(kind: Kind, r: unknown): boolean {
  if (typeof r !== 'object' || r === null) return false;
  const t = (r as { type?: unknown }).type;
  if (kind === 'call' && t === 'reply') return 'state' in r && 'reply' in r; // the common case first
  if (!(RESULT_TYPES[kind] as readonly unknown[]).includes(t)) return false;
  if (t === 'stop') return 'reason' in r && (kind === 'init' || 'state' in r);
  if (t === 'ignore') return true;
  return 'state' in r && (t !== 'reply' || 'reply' in r);
}

function badReturn(value: unknown): ExitReason {
  return { type: 'bad_return_value', value: describe(value) };
}

function undefinedCallback(name: string): ExitReason {
  return { type: 'error', name: 'UndefinedCallback', message: `${name} is not implemented` };
}

/**
 * Thrown to end the process after termination has been handled, so that the
 * generic catch below does not run terminate a second time.
 */
class FinalExit extends ExitSignal {}

/** The generic part of every server. */
class ServerBody<S, A> implements ProcessBody<unknown> {
  readonly behaviour: string;
  private state!: S;
  private initialised = false;

  constructor(
    private readonly cb: ServerBehaviour<S, A, unknown, unknown, unknown, unknown>,
    private readonly args: A,
    private readonly ack: ((r: StartResult) => void) | undefined,
    private readonly parent: Pid | undefined,
  ) {
    this.behaviour = `gen_server:${cb.name}`;
  }

  introspect(): unknown {
    return this.initialised ? this.cb.introspect?.(this.state) : undefined;
  }

  init(ctx: ProcessContext): MaybeAsync<void> {
    return guard(
      () => andThen(this.cb.init(this.args, ctx), (r) => this.afterInit(r, ctx)),
      (e) => {
        if (e instanceof FinalExit) throw e;
        return this.failInit(e instanceof ExitSignal ? e.reason : reasonFromThrown(e), ctx);
      },
    );
  }

  private afterInit(r: InitResult<S>, ctx: ProcessContext): MaybeAsync<void> {
    if (!wellFormed('init', r)) return this.failInit(badReturn(r), ctx);
    switch (r.type) {
      case 'ok':
        this.state = r.state;
        this.initialised = true;
        this.ack?.({ type: 'ok', pid: ctx.self });
        return r.continue === undefined ? undefined : this.runContinue(r.continue, '$init_continue', ctx);
      case 'ignore':
        this.unlinkParent(ctx);
        this.ack?.({ type: 'ignore' });
        throw new FinalExit('normal');
      case 'stop':
        return this.failInit(r.reason, ctx);
    }
  }

  // OTP 26 semantics: a server whose init fails is unlinked from its starter
  // before it exits, so the starter sees only the `{error, ...}` result.
  private failInit(reason: ExitReason, ctx: ProcessContext): never {
    this.unlinkParent(ctx);
    this.ack?.({ type: 'error', error: { type: 'init_failed', reason } });
    throw new FinalExit(reason);
  }

  private unlinkParent(ctx: ProcessContext): void {
    if (this.parent !== undefined) ctx.unlink(this.parent);
  }

  // The hot path: written without per-message closures (guard/andThen allocate).
  receive(msg: unknown, ctx: ProcessContext): MaybeAsync<void> {
    let r: MaybeAsync<void>;
    try {
      r = this.route(msg, ctx);
    } catch (e) {
      return this.crashed(e, msg, ctx);
    }
    return isThenable(r) ? r.then(undefined, (e: unknown) => this.crashed(e, msg, ctx)) : r;
  }

  private crashed(e: unknown, msg: unknown, ctx: ProcessContext): MaybeAsync<void> {
    if (e instanceof FinalExit) throw e;
    return this.terminateWith(e instanceof ExitSignal ? e.reason : reasonFromThrown(e), msg, ctx);
  }

  private route(msg: unknown, ctx: ProcessContext): MaybeAsync<void> {
    const m = msg as CallEnvelope | CastEnvelope | ExitMessage;
    if (typeof m === 'object' && m !== null) {
      if (m.type === '$call' && isFrom(m.from)) {
        if (isStopRequest(m.request)) return this.terminateWith(m.request.reason, msg, ctx);
        const handleCall = this.cb.handleCall;
        if (handleCall === undefined) return this.terminateWith(undefinedCallback('handleCall'), msg, ctx);
        const r = handleCall.call(this.cb, m.request, m.from, this.state, ctx);
        return isThenable(r) ? r.then((x) => this.afterCall(x, m.from, msg, ctx)) : this.afterCall(r, m.from, msg, ctx);
      }
      if (m.type === '$cast') {
        const handleCast = this.cb.handleCast;
        if (handleCast === undefined) return this.terminateWith(undefinedCallback('handleCast'), msg, ctx);
        const r = handleCast.call(this.cb, m.msg, this.state, ctx);
        return isThenable(r) ? r.then((x) => this.afterNoReply(x, msg, ctx)) : this.afterNoReply(r, msg, ctx);
      }
      // The parent's exit signal, trapped: the parent is shutting us down.
      if (isExitMessage(m) && m.from === this.parent && this.parent !== undefined) return this.terminateWith(m.reason, msg, ctx);
    }
    const handleInfo = this.cb.handleInfo;
    if (handleInfo === undefined) {
      const rt = ctx.runtime;
      if (rt.events.active) rt.events.emit({ type: 'unhandled_info', time: rt.now(), pid: ctx.self, message: describe(msg) });
      return;
    }
    const r = handleInfo.call(this.cb, msg as never, this.state, ctx);
    return isThenable(r) ? r.then((x) => this.afterNoReply(x, msg, ctx)) : this.afterNoReply(r, msg, ctx);
  }

  private afterCall(r: CallResult<S, unknown>, from: From, msg: unknown, ctx: ProcessContext): MaybeAsync<void> {
    if (!wellFormed('call', r)) return this.terminateWith(badReturn(r), msg, ctx);
    if (r.type === 'reply') {
      ctx.reply(from, r.reply);
      this.state = r.state;
      return r.continue === undefined ? undefined : this.runContinue(r.continue, msg, ctx);
    }
    if (r.type === 'stop' && 'reply' in r) {
      this.state = r.state;
      // OTP order: terminate first, then the reply, then the exit.
      return this.terminateWith(r.reason, msg, ctx, () => ctx.reply(from, r.reply));
    }
    return this.afterNoReply(r, msg, ctx);
  }

  private afterNoReply(r: NoReplyResult<S>, msg: unknown, ctx: ProcessContext): MaybeAsync<void> {
    if (!wellFormed('noreply', r)) return this.terminateWith(badReturn(r), msg, ctx);
    this.state = r.state;
    if (r.type === 'stop') return this.terminateWith(r.reason, msg, ctx);
    return r.continue === undefined ? undefined : this.runContinue(r.continue, msg, ctx);
  }

  private runContinue(arg: unknown, msg: unknown, ctx: ProcessContext): MaybeAsync<void> {
    const handleContinue = this.cb.handleContinue;
    if (handleContinue === undefined) return this.terminateWith(undefinedCallback('handleContinue'), msg, ctx);
    return andThen(handleContinue.call(this.cb, arg, this.state, ctx), (r) => this.afterNoReply(r, msg, ctx));
  }

  /** terminate(reason, state), then exit. A throw in terminate replaces the reason, as in OTP. */
  private terminateWith(reason: ExitReason, msg: unknown, ctx: ProcessContext, afterTerminate?: () => void): MaybeAsync<void> {
    return guard(
      () =>
        andThen(this.runTerminate(reason, ctx), () => {
          afterTerminate?.();
          return this.finish(reason, msg, ctx);
        }),
      (e) => {
        if (e instanceof FinalExit) throw e;
        return this.finish(reasonFromThrown(e), msg, ctx);
      },
    );
  }

  private runTerminate(reason: ExitReason, ctx: ProcessContext): MaybeAsync<void> {
    if (!this.initialised || this.cb.terminate === undefined) return undefined;
    return this.cb.terminate(reason, this.state, ctx);
  }

  private finish(reason: ExitReason, msg: unknown, ctx: ProcessContext): never {
    if (!isNormalExit(reason)) {
      const rt = ctx.runtime;
      if (rt.events.active) {
        rt.events.emit({
          type: 'server_terminated',
          time: rt.now(),
          pid: ctx.self,
          name: rt.processInfo(ctx.self)?.name,
          behaviour: this.behaviour,
          reason,
          lastMessage: describe(msg),
        });
      }
    }
    throw new FinalExit(reason);
  }
}

function startWith<S, A>(
  rt: Runtime,
  parent: ProcessContext | undefined,
  cb: ServerBehaviour<S, A, never, unknown, never, never>,
  args: A,
  opts: StartOptions | undefined,
): Promise<StartResult> {
  const name = opts?.name;
  if (name !== undefined) {
    const existing = rt.whereis(name);
    if (existing !== undefined) return Promise.resolve({ type: 'error', error: { type: 'already_started', pid: existing } });
  }
  return new Promise<StartResult>((resolve) => {
    let done = false;
    let timer: ReturnType<Runtime['env']['timers']['set']> | undefined;
    let unwatch = (): void => {};
    const ack = (r: StartResult): void => {
      if (done) return;
      done = true;
      if (timer !== undefined) rt.env.timers.clear(timer);
      unwatch();
      resolve(r);
    };
    const body = new ServerBody<S, A>(cb as ServerBehaviour<S, A, unknown, unknown, unknown, unknown>, args, ack, parent?.self);
    const spawnOpts = name === undefined ? undefined : { name };
    const pid = parent === undefined ? rt.spawn(body, spawnOpts) : parent.spawnLink(body, spawnOpts);
    // A server killed before its init reports back (e.g. during an async init)
    // must not leave its starter waiting forever.
    if (!done) unwatch = rt.watchExit(pid, (reason) => ack({ type: 'error', error: { type: 'init_failed', reason } }));
    if (opts?.timeout !== undefined) {
      timer = rt.env.timers.set(opts.timeout, () => {
        if (done) return;
        if (parent !== undefined) parent.unlink(pid);
        rt.exit(pid, 'kill');
        ack({ type: 'error', error: { type: 'timeout' } });
      });
    }
  });
}

/** gen_server:start: a server with no parent. Resolves once init has returned. */
export function startServer<S, A>(
  rt: Runtime,
  cb: ServerBehaviour<S, A, never, unknown, never, never>,
  args: A,
  opts?: StartOptions,
): Promise<StartResult> {
  return startWith(rt, undefined, cb, args, opts);
}

/** gen_server:start_link: a server linked to (and parented by) the calling process. */
export function startLinkServer<S, A>(
  parent: ProcessContext,
  cb: ServerBehaviour<S, A, never, unknown, never, never>,
  args: A,
  opts?: StartOptions,
): Promise<StartResult> {
  return startWith(parent.runtime, parent, cb, args, opts);
}

/**
 * gen_server:stop: the server runs terminate(reason) and exits; resolves when it
 * is gone. Rejects with NoProc if there is no such server, or with ServerExited
 * if it exited with another reason first.
 */
export async function stopServer(rt: Runtime, dest: Dest, reason: ExitReason = 'normal', timeout: number | 'infinity' = 'infinity'): Promise<void> {
  try {
    await rt.call(dest, { type: '$gen_stop', reason } satisfies StopRequest, { timeout });
  } catch (e) {
    if (e instanceof ServerExited && JSON.stringify(e.reason) === JSON.stringify(reason)) return;
    throw e;
  }
}
