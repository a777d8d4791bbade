// The supervisor: a server (as in OTP, built from the primitive it supervises)
// that starts children in order, restarts them by strategy and restart type,
// counts restarts in a sliding window, and on too many gives up: it stops every
// child in reverse order and exits with `shutdown`, which its own supervisor
// handles like any child exit (escalation).
import {
  type ChildSpec,
  type ChildType,
  type NormalChildSpec,
  type NormalSupFlags,
  type RestartType,
  type Shutdown,
  type SpecError,
  type Strategy,
  type SupFlags,
  checkChildSpec,
  checkSupervisorSpec,
} from './childspec.js';
import type { SupervisorReportKind } from './events.js';
import { addRestart } from './intensity.js';
import type { CallOptions, ProcessContext, Runtime } from './kernel.js';
import {
  type NoReplyResult,
  type ServerBehaviour,
  type StartError,
  type StartOptions,
  type StartResult,
  noreply,
  ok,
  reply,
  startLinkServer,
  startServer,
  stop,
} from './server.js';
import {
  type Dest,
  type DownMessage,
  type ExitMessage,
  type ExitReason,
  type Pid,
  formatReason,
  isExitMessage,
  isNormalExit,
  isPid,
  reasonFromThrown,
} from './types.js';

export type ChildPid = Pid | 'restarting' | undefined;

interface Child {
  /** Stable identity for self-messages (dynamic children have no id). */
  readonly key: number;
  readonly spec: NormalChildSpec;
  /** For simple_one_for_one: what startChild was given, reused on restart. */
  readonly extra: unknown;
  pid: ChildPid;
}

interface SupState {
  readonly flags: NormalSupFlags;
  /** Static children in start order; for simple_one_for_one the running instances. */
  children: Child[];
  readonly template: NormalChildSpec | undefined;
  restarts: readonly number[];
  nextKey: number;
}

export interface SupervisorArgs {
  readonly flags: SupFlags;
  readonly children: readonly ChildSpec[];
}

export type SupError =
  | { readonly type: 'already_present' }
  | { readonly type: 'already_started'; readonly pid: Pid }
  | { readonly type: 'not_found' }
  | { readonly type: 'running' }
  | { readonly type: 'restarting' }
  | { readonly type: 'simple_one_for_one' }
  | { readonly type: 'start_error'; readonly error: StartError }
  | { readonly type: 'invalid_spec'; readonly error: SpecError };

export type SupResult<T> = { readonly type: 'ok'; readonly value: T } | { readonly type: 'error'; readonly error: SupError };

export interface ChildInfo {
  /** undefined for the children of a simple_one_for_one supervisor, as in OTP. */
  readonly id: string | undefined;
  readonly pid: ChildPid;
  readonly type: ChildType;
  readonly restart: RestartType;
  readonly shutdown: Shutdown;
  readonly modules: readonly string[];
}

export interface ChildCounts {
  readonly specs: number;
  readonly active: number;
  readonly supervisors: number;
  readonly workers: number;
}

type SupRequest =
  | { readonly type: 'which_children' }
  | { readonly type: 'count_children' }
  | { readonly type: 'start_child'; readonly spec: unknown }
  | { readonly type: 'terminate_child'; readonly id: string }
  | { readonly type: 'restart_child'; readonly id: string }
  | { readonly type: 'delete_child'; readonly id: string };

type SupInfo = ExitMessage | DownMessage | { readonly type: '$try_again_restart'; readonly key: number };

export interface SupervisorIntrospection {
  readonly kind: 'supervisor';
  readonly strategy: Strategy;
  readonly intensity: number;
  readonly period: number;
  readonly restartsInWindow: number;
  readonly children: readonly ChildInfo[];
}

const childInfo = (c: Child, dynamic: boolean): ChildInfo => ({
  id: dynamic ? undefined : c.spec.id,
  pid: c.pid,
  type: c.spec.type,
  restart: c.spec.restart,
  shutdown: c.spec.shutdown,
  modules: c.spec.modules,
});

function report(ctx: ProcessContext, kind: SupervisorReportKind, child: Child | undefined, reason: ExitReason | 'reached_max_restart_intensity' | undefined, pid?: Pid): void {
  const rt = ctx.runtime;
  if (!rt.events.active) return;
  rt.events.emit({
    type: 'supervisor_report',
    time: rt.now(),
    kind,
    supervisor: ctx.self,
    childId: child?.spec.id,
    childPid: pid ?? (child !== undefined && isPid(child.pid ?? '') ? (child.pid as Pid) : undefined),
    reason,
  });
}

function wellFormedStart(r: unknown): r is StartResult {
  if (typeof r !== 'object' || r === null) return false;
  const t = (r as { type?: unknown }).type;
  return (t === 'ok' && isPid(String((r as { pid?: unknown }).pid))) || t === 'ignore' || (t === 'error' && 'error' in r);
}

/** Start one child; record its pid. Never throws: a throwing start fn is a start error. */
async function startOne(st: SupState, child: Child, ctx: ProcessContext): Promise<StartResult> {
  let r: StartResult;
  try {
    const raw: unknown = await child.spec.start(ctx, child.extra);
    r = wellFormedStart(raw) ? raw : { type: 'error', error: { type: 'init_failed', reason: { type: 'bad_return_value', value: String(raw) } } };
  } catch (e) {
    r = { type: 'error', error: { type: 'init_failed', reason: reasonFromThrown(e) } };
  }
  switch (r.type) {
    case 'ok':
      child.pid = r.pid;
      report(ctx, 'child_started', child, undefined);
      break;
    case 'ignore':
      child.pid = undefined;
      if (st.template !== undefined) removeChild(st, child);
      break;
    case 'error':
      report(ctx, 'start_error', child, startErrorReason(r.error));
      break;
  }
  return r;
}

function startErrorReason(e: StartError): ExitReason {
  switch (e.type) {
    case 'init_failed':
      return e.reason;
    case 'already_started':
      return { type: 'custom', value: `already_started ${e.pid}` };
    case 'timeout':
      return { type: 'custom', value: 'timeout' };
  }
}

function removeChild(st: SupState, child: Child): void {
  st.children = st.children.filter((c) => c !== child);
}

/** What happens to a child that exited and is not restarted (state_del_child). */
function dropChild(st: SupState, child: Child): void {
  if (st.template !== undefined || child.spec.restart === 'temporary') removeChild(st, child);
  else child.pid = undefined;
}

/**
 * Shut one child down (supervisor.erl shutdown/1): monitor, unlink, flush a stale
 * EXIT, then `kill` (brutal_kill) or `shutdown` and wait up to the timeout before
 * `kill`. We wait on a monitor, not the link, so a child that unlinked itself
 * cannot hang us.
 */
async function shutdownChild(child: Child, ctx: ProcessContext): Promise<void> {
  const pid = child.pid;
  if (pid === undefined || pid === 'restarting') return;
  const rt = ctx.runtime;
  const down = rt.awaitExit(pid);
  ctx.unlink(pid);
  const stale = ctx.flushExit(pid);
  const sd = child.spec.shutdown;
  let reason: ExitReason;
  if (stale !== undefined) {
    reason = stale.reason;
  } else if (sd === 'brutal_kill') {
    ctx.exit(pid, 'kill');
    reason = await down;
  } else {
    ctx.exit(pid, 'shutdown');
    if (sd === 'infinity') {
      reason = await down;
    } else {
      const inTime = await new Promise<ExitReason | null>((resolve) => {
        const h = rt.env.timers.set(sd, () => resolve(null));
        void down.then((r) => {
          rt.env.timers.clear(h);
          resolve(r);
        });
      });
      if (inTime === null) {
        ctx.exit(pid, 'kill');
        reason = await down;
      } else {
        reason = inTime;
      }
    }
  }
  child.pid = undefined;
  const expected = sd === 'brutal_kill' ? 'killed' : 'shutdown';
  if (reason !== expected && !(reason === 'normal' && child.spec.restart !== 'permanent')) {
    report(ctx, 'shutdown_error', child, reason, pid);
  }
}

/** Terminate children in reverse start order (simple_one_for_one: all at once, as OTP does). */
async function terminateChildren(st: SupState, children: readonly Child[], ctx: ProcessContext): Promise<void> {
  if (st.template !== undefined) {
    await Promise.all(children.map((c) => shutdownChild(c, ctx)));
    return;
  }
  for (const c of [...children].reverse()) {
    await shutdownChild(c, ctx);
    if (c.spec.restart === 'temporary') removeChild(st, c);
  }
}

/** Start `children` in order; on the first failure, schedule a retry and stop. */
async function startInOrder(st: SupState, children: readonly Child[], ctx: ProcessContext): Promise<void> {
  for (const c of children) {
    if (!st.children.includes(c) || isPid(c.pid ?? '')) continue;
    const r = await startOne(st, c, ctx);
    if (r.type === 'error') {
      tryAgainLater(st, c, ctx);
      return;
    }
  }
}

// A failed restart does not loop inside the handler: the child is marked
// `restarting` and the retry is a message to ourselves, so a shutdown request
// or another child's exit can still get through in between (as OTP does).
function tryAgainLater(st: SupState, child: Child, ctx: ProcessContext): void {
  child.pid = 'restarting';
  ctx.send(ctx.self, { type: '$try_again_restart', key: child.key });
}

/** One restart by strategy; 'shutdown' when the intensity is exceeded. */
async function restart(st: SupState, child: Child, ctx: ProcessContext): Promise<'ok' | 'shutdown'> {
  const decision = addRestart(st.restarts, ctx.runtime.now(), st.flags.intensity, st.flags.period);
  st.restarts = decision.restarts;
  if (decision.type === 'terminate') {
    report(ctx, 'shutdown', child, 'reached_max_restart_intensity');
    return 'shutdown';
  }
  switch (st.flags.strategy) {
    case 'one_for_one':
    case 'simple_one_for_one': {
      const r = await startOne(st, child, ctx);
      if (r.type === 'error') tryAgainLater(st, child, ctx);
      return 'ok';
    }
    case 'one_for_all': {
      await terminateChildren(st, st.children.filter((c) => c !== child), ctx);
      await startInOrder(st, [...st.children], ctx);
      return 'ok';
    }
    case 'rest_for_one': {
      const i = st.children.indexOf(child);
      await terminateChildren(st, st.children.slice(i + 1), ctx);
      await startInOrder(st, st.children.slice(i), ctx);
      return 'ok';
    }
  }
}

async function onChildExit(st: SupState, msg: ExitMessage, ctx: ProcessContext): Promise<NoReplyResult<SupState>> {
  const child = st.children.find((c) => c.pid === msg.from);
  if (child === undefined) return noreply(st); // an EXIT from a process we do not supervise
  const { restart: type } = child.spec;
  if (type === 'permanent' || (type === 'transient' && !isNormalExit(msg.reason))) {
    report(ctx, 'child_terminated', child, msg.reason, msg.from);
    child.pid = undefined;
    const outcome = await restart(st, child, ctx);
    return outcome === 'shutdown' ? stop('shutdown', st) : noreply(st);
  }
  if (!isNormalExit(msg.reason)) report(ctx, 'child_terminated', child, msg.reason, msg.from);
  dropChild(st, child);
  return noreply(st);
}

function findStatic(st: SupState, id: string): Child | undefined {
  return st.children.find((c) => c.spec.id === id);
}

const err = <T>(error: SupError): SupResult<T> => ({ type: 'error', error });

async function handleRequest(req: SupRequest, st: SupState, ctx: ProcessContext): Promise<SupResult<unknown>> {
  const dynamic = st.template !== undefined;
  switch (req.type) {
    case 'which_children':
      return { type: 'ok', value: st.children.map((c) => childInfo(c, dynamic)) };
    case 'count_children': {
      const active = st.children.filter((c) => c.pid !== undefined && c.pid !== 'restarting').length;
      const supervisors = st.children.filter((c) => c.spec.type === 'supervisor').length;
      // simple_one_for_one has one spec (the template); its instances count as children.
      const specs = dynamic ? 1 : st.children.length;
      const counts: ChildCounts = { specs, active, supervisors, workers: st.children.length - supervisors };
      return { type: 'ok', value: counts };
    }
    case 'start_child': {
      if (dynamic) {
        const child: Child = { key: st.nextKey++, spec: st.template!, extra: req.spec, pid: undefined };
        st.children.push(child);
        const r = await startOne(st, child, ctx);
        if (r.type === 'error') removeChild(st, child);
        return r.type === 'error' ? err({ type: 'start_error', error: r.error }) : { type: 'ok', value: r.type === 'ok' ? r.pid : undefined };
      }
      const checked = checkChildSpec(req.spec);
      if (checked.type === 'error') return err({ type: 'invalid_spec', error: checked.error });
      const existing = findStatic(st, checked.value.id);
      if (existing !== undefined) {
        return isPid(existing.pid ?? '') ? err({ type: 'already_started', pid: existing.pid as Pid }) : err({ type: 'already_present' });
      }
      const child: Child = { key: st.nextKey++, spec: checked.value, extra: undefined, pid: undefined };
      st.children.push(child);
      const r = await startOne(st, child, ctx);
      if (r.type === 'error') {
        removeChild(st, child);
        return err({ type: 'start_error', error: r.error });
      }
      if (r.type === 'ignore' && child.spec.restart === 'temporary') removeChild(st, child);
      return { type: 'ok', value: r.type === 'ok' ? r.pid : undefined };
    }
    case 'terminate_child': {
      if (dynamic && !isPid(req.id)) return err({ type: 'simple_one_for_one' });
      const child = dynamic ? st.children.find((c) => c.pid === req.id) : findStatic(st, req.id);
      if (child === undefined) return err({ type: 'not_found' });
      await shutdownChild(child, ctx);
      // A child waiting for a restart retry is simply no longer running: the
      // queued retry then finds nothing to restart (OTP's del_child).
      child.pid = undefined;
      if (dynamic || child.spec.restart === 'temporary') removeChild(st, child);
      return { type: 'ok', value: undefined };
    }
    case 'restart_child': {
      if (dynamic) return err({ type: 'simple_one_for_one' });
      const child = findStatic(st, req.id);
      if (child === undefined) return err({ type: 'not_found' });
      if (child.pid === 'restarting') return err({ type: 'restarting' });
      if (child.pid !== undefined) return err({ type: 'running' });
      const r = await startOne(st, child, ctx);
      return r.type === 'error' ? err({ type: 'start_error', error: r.error }) : { type: 'ok', value: r.type === 'ok' ? r.pid : undefined };
    }
    case 'delete_child': {
      if (dynamic) return err({ type: 'simple_one_for_one' });
      const child = findStatic(st, req.id);
      if (child === undefined) return err({ type: 'not_found' });
      if (child.pid === 'restarting') return err({ type: 'restarting' });
      if (child.pid !== undefined) return err({ type: 'running' });
      removeChild(st, child);
      return { type: 'ok', value: undefined };
    }
  }
}

const supervisorBehaviour: ServerBehaviour<SupState, SupervisorArgs, SupRequest, SupResult<unknown>, never, SupInfo> = {
  name: 'supervisor',

  async init(args, ctx) {
    ctx.trapExit(true);
    const checked = checkSupervisorSpec(args.flags, args.children);
    if (checked.type === 'error') {
      return stop({ type: 'error', name: 'SupervisorSpecError', code: checked.error.type, message: JSON.stringify(checked.error) });
    }
    const { flags, children } = checked.value;
    const simple = flags.strategy === 'simple_one_for_one';
    const st: SupState = {
      flags,
      children: [],
      template: simple ? children[0] : undefined,
      restarts: [],
      nextKey: 0,
    };
    if (simple) return ok(st);
    for (const spec of children) {
      const child: Child = { key: st.nextKey++, spec, extra: undefined, pid: undefined };
      st.children.push(child);
      const r = await startOne(st, child, ctx);
      if (r.type === 'error') {
        removeChild(st, child);
        await terminateChildren(st, st.children, ctx);
        return stop({ type: 'shutdown', detail: `failed_to_start_child ${spec.id}: ${formatReason(startErrorReason(r.error))}` });
      }
      if (r.type === 'ignore' && spec.restart === 'temporary') removeChild(st, child);
    }
    return ok(st);
  },

  async handleCall(req, _from, st, ctx) {
    return reply(await handleRequest(req, st, ctx), st);
  },

  async handleInfo(msg, st, ctx) {
    if (isExitMessage(msg)) return onChildExit(st, msg, ctx);
    if (msg.type === '$try_again_restart') {
      const child = st.children.find((c) => c.key === msg.key && c.pid === 'restarting');
      if (child === undefined) return noreply(st);
      const outcome = await restart(st, child, ctx);
      return outcome === 'shutdown' ? stop('shutdown', st) : noreply(st);
    }
    return noreply(st);
  },

  async terminate(_reason, st, ctx) {
    await terminateChildren(st, st.children, ctx);
  },

  introspect(st): SupervisorIntrospection {
    return {
      kind: 'supervisor',
      strategy: st.flags.strategy,
      intensity: st.flags.intensity,
      period: st.flags.period,
      restartsInWindow: st.restarts.length,
      children: st.children.map((c) => childInfo(c, st.template !== undefined)),
    };
  },
};

/** supervisor:start_link with no parent (a root supervisor). */
export function startSupervisor(rt: Runtime, flags: SupFlags, children: readonly ChildSpec[], opts?: StartOptions): Promise<StartResult> {
  return startServer(rt, supervisorBehaviour, { flags, children }, opts);
}

/** supervisor:start_link from a process (usually another supervisor's start fn). */
export function startLinkSupervisor(parent: ProcessContext, flags: SupFlags, children: readonly ChildSpec[], opts?: StartOptions): Promise<StartResult> {
  return startLinkServer(parent, supervisorBehaviour, { flags, children }, opts);
}

/** A child spec for a nested supervisor. */
export function supervisorSpec(
  id: string,
  flags: SupFlags,
  children: readonly ChildSpec[],
  opts?: { readonly restart?: RestartType; readonly shutdown?: Shutdown; readonly name?: string },
): ChildSpec {
  return {
    id,
    type: 'supervisor',
    start: (parent) => startLinkSupervisor(parent, flags, children, opts?.name === undefined ? undefined : { name: opts.name }),
    ...(opts?.restart === undefined ? {} : { restart: opts.restart }),
    ...(opts?.shutdown === undefined ? {} : { shutdown: opts.shutdown }),
    modules: ['supervisor'],
  };
}

/**
 * A child spec for a server. Under simple_one_for_one, the `extra` given to
 * startChild replaces `args` (our stand-in for OTP appending extra arguments).
 */
export function workerSpec<S, A>(
  id: string,
  cb: ServerBehaviour<S, A, never, unknown, never, never>,
  args: A,
  opts?: { readonly restart?: RestartType; readonly shutdown?: Shutdown; readonly name?: string },
): ChildSpec {
  return {
    id,
    type: 'worker',
    start: (parent, extra) => startLinkServer(parent, cb, extra === undefined ? args : (extra as A), opts?.name === undefined ? undefined : { name: opts.name }),
    ...(opts?.restart === undefined ? {} : { restart: opts.restart }),
    ...(opts?.shutdown === undefined ? {} : { shutdown: opts.shutdown }),
    modules: [cb.name],
  };
}

/** Anything that can make calls: the runtime (outside processes) or a process context. */
export interface Caller {
  call<R = unknown>(dest: Dest, request: unknown, opts?: CallOptions): Promise<R>;
}

const INF: CallOptions = { timeout: 'infinity' };

export async function whichChildren(c: Caller, sup: Dest): Promise<ChildInfo[]> {
  const r = await c.call<SupResult<ChildInfo[]>>(sup, { type: 'which_children' } satisfies SupRequest, INF);
  return r.type === 'ok' ? r.value : [];
}

export async function countChildren(c: Caller, sup: Dest): Promise<ChildCounts> {
  const r = await c.call<SupResult<ChildCounts>>(sup, { type: 'count_children' } satisfies SupRequest, INF);
  return r.type === 'ok' ? r.value : { specs: 0, active: 0, supervisors: 0, workers: 0 };
}

/** A ChildSpec for a static supervisor; the extra argument for simple_one_for_one. */
export function startChild(c: Caller, sup: Dest, specOrExtra: unknown): Promise<SupResult<Pid | undefined>> {
  return c.call(sup, { type: 'start_child', spec: specOrExtra } satisfies SupRequest, INF);
}

/** By child id; for simple_one_for_one by the child's pid. */
export function terminateChild(c: Caller, sup: Dest, idOrPid: string): Promise<SupResult<undefined>> {
  return c.call(sup, { type: 'terminate_child', id: idOrPid } satisfies SupRequest, INF);
}

export function restartChild(c: Caller, sup: Dest, id: string): Promise<SupResult<Pid | undefined>> {
  return c.call(sup, { type: 'restart_child', id } satisfies SupRequest, INF);
}

export function deleteChild(c: Caller, sup: Dest, id: string): Promise<SupResult<undefined>> {
  return c.call(sup, { type: 'delete_child', id } satisfies SupRequest, INF);
}

export interface SupervisionNode {
  readonly id: string | undefined;
  readonly pid: ChildPid;
  readonly name: string | undefined;
  readonly type: ChildType;
  readonly strategy?: Strategy;
  readonly children?: readonly SupervisionNode[];
}

function isSupIntrospection(x: unknown): x is SupervisorIntrospection {
  return typeof x === 'object' && x !== null && (x as { kind?: unknown }).kind === 'supervisor';
}

/**
 * The supervision tree under `sup`, as data, read synchronously from each
 * supervisor's own view (never blocks on a busy supervisor).
 */
export function supervisionTree(rt: Runtime, sup: Dest, id?: string): SupervisionNode {
  const info = rt.processInfo(sup);
  const view = info?.info;
  if (info === undefined || !isSupIntrospection(view)) {
    return { id, pid: info?.pid, name: info?.name, type: 'worker' };
  }
  return {
    id,
    pid: info.pid,
    name: info.name,
    type: 'supervisor',
    strategy: view.strategy,
    children: view.children.map((c) =>
      c.type === 'supervisor' && c.pid !== undefined && c.pid !== 'restarting'
        ? supervisionTree(rt, c.pid, c.id)
        : { id: c.id, pid: c.pid, name: c.pid !== undefined && c.pid !== 'restarting' ? rt.processInfo(c.pid)?.name : undefined, type: c.type },
    ),
  };
}
