// The supervisor, pinned against OTP's supervisor.erl: start and stop order,
// restart strategies and restart types, shutdown timeouts, restart intensity and
// escalation, child spec validation, the child API and the supervision tree.
// Children are real servers; time passes only through the harness's virtual clock.
import { describe, expect, it } from 'vitest';
import {
  type ChildInfo,
  type ChildPid,
  type ChildSpec,
  type ExitReason,
  type Pid,
  type RestartType,
  type RuntimeEvent,
  type ServerBehaviour,
  type Shutdown,
  type SpecError,
  type StartFn,
  type StartResult,
  type SupResult,
  type SupervisorReportKind,
  addRestart,
  checkChildSpec,
  checkFlags,
  checkSupervisorSpec,
  countChildren,
  deleteChild,
  ok,
  restartChild,
  startChild,
  startSupervisor,
  stop,
  stopServer,
  supervisionTree,
  supervisorSpec,
  terminateChild,
  whichChildren,
  workerSpec,
} from '../../runtime/index.js';
import { type Harness, harness } from './harness.js';

// ---- a test worker and small helpers ---------------------------------------

interface WorkerArgs {
  readonly label: string;
  /** Shared record of `init <label>` / `terminate <label>`, in the order they ran. */
  readonly log?: string[];
  /** Trap exits, so the supervisor's `shutdown` signal runs terminate. */
  readonly trap?: boolean;
  /** terminate takes this many virtual ms, or never returns. */
  readonly terminateMs?: number | 'never';
}

/** Cast to a worker: stop with this reason (the only way to exit `normal`). */
type WorkerCast = { readonly type: 'stop'; readonly reason: ExitReason };

const worker: ServerBehaviour<WorkerArgs, WorkerArgs, never, unknown, WorkerCast> = {
  name: 'test_worker',
  init(args, ctx) {
    if (args.trap === true) ctx.trapExit(true);
    args.log?.push(`init ${args.label}`);
    return ok(args);
  },
  handleCast: (msg, st) => stop(msg.reason, st),
  terminate(_reason, st, ctx) {
    st.log?.push(`terminate ${st.label}`);
    const ms = st.terminateMs;
    if (ms === 'never') return new Promise<void>(() => {});
    if (ms !== undefined) return new Promise<void>((done) => void ctx.runtime.env.timers.set(ms, done));
    return undefined;
  },
};

type SpecOpts = { readonly restart?: RestartType; readonly shutdown?: Shutdown; readonly name?: string };

/** A worker child spec labelled with its id. */
const w = (id: string, args: Omit<WorkerArgs, 'label'> = {}, opts?: SpecOpts): ChildSpec => workerSpec(id, worker, { label: id, ...args }, opts);

const boom: ExitReason = { type: 'custom', value: 'boom' };
const refused: StartResult = { type: 'error', error: { type: 'init_failed', reason: { type: 'custom', value: 'refused' } } };

/**
 * A worker spec whose n-th start follows `plan[n]` (the last entry repeats); a
 * failing start takes `failMs` of virtual time. `attempts()` counts the starts.
 */
function scripted(id: string, plan: readonly ('ok' | 'fail')[], failMs = 0): { spec: ChildSpec; attempts: () => number } {
  const base = w(id);
  let n = 0;
  const start: StartFn = async (parent, extra) => {
    const step = plan[Math.min(n++, plan.length - 1)];
    if (step === 'ok') return base.start(parent, extra);
    if (failMs > 0) await new Promise<void>((done) => void parent.runtime.env.timers.set(failMs, done));
    return refused;
  };
  return { spec: { ...base, start }, attempts: () => n };
}

async function started(p: Promise<StartResult>): Promise<Pid> {
  const r = await p;
  if (r.type !== 'ok') throw new Error(`did not start: ${JSON.stringify(r)}`);
  return r.pid;
}

function okPid(r: SupResult<Pid | undefined>): Pid {
  if (r.type !== 'ok' || r.value === undefined) throw new Error(`expected a started child: ${JSON.stringify(r)}`);
  return r.value;
}

const isRunning = (p: ChildPid): p is Pid => p !== undefined && p !== 'restarting';

/** id → pid (or undefined / 'restarting') of every static child, from whichChildren. */
async function childPids(h: Harness, sup: Pid): Promise<Record<string, ChildPid>> {
  const out: Record<string, ChildPid> = {};
  for (const c of await whichChildren(h.rt, sup)) out[c.id ?? '<dynamic>'] = c.pid;
  return out;
}

/** id → pid of every child, requiring each to be running. */
async function running(h: Harness, sup: Pid): Promise<Record<string, Pid>> {
  const out: Record<string, Pid> = {};
  for (const [id, pid] of Object.entries(await childPids(h, sup))) {
    if (!isRunning(pid)) throw new Error(`child ${id} is not running: ${String(pid)}`);
    out[id] = pid;
  }
  return out;
}

async function pidOf(h: Harness, sup: Pid, id: string): Promise<Pid> {
  const pid = (await childPids(h, sup))[id];
  if (!isRunning(pid)) throw new Error(`child ${id} is not running: ${String(pid)}`);
  return pid;
}

/** Crash child `id` of `sup` from outside with an abnormal reason; returns the pid that crashed. */
async function crash(h: Harness, sup: Pid, id: string): Promise<Pid> {
  const pid = await pidOf(h, sup, id);
  h.rt.exit(pid, boom);
  await h.settle();
  return pid;
}

type SupervisorReport = Extract<RuntimeEvent, { type: 'supervisor_report' }>;

function reports(h: Harness, kind: SupervisorReportKind): SupervisorReport[] {
  return h.events.filter((e): e is SupervisorReport => e.type === 'supervisor_report' && e.kind === kind);
}

/** Position of `pid`'s process_exited event in the event log (-1 if it has not exited). */
const exitIndex = (h: Harness, pid: Pid): number => h.events.findIndex((e) => e.type === 'process_exited' && e.pid === pid);

// ---- start and stop order --------------------------------------------------

describe('supervisor start and stop order', () => {
  it('starts children in spec order and stops them in reverse order', async () => {
    const h = harness();
    const log: string[] = [];
    const sup = await started(startSupervisor(h.rt, {}, ['a', 'b', 'c'].map((id) => w(id, { log, trap: true }))));
    expect(log).toEqual(['init a', 'init b', 'init c']);
    const p = await running(h, sup);

    await stopServer(h.rt, sup, 'shutdown');

    expect(log).toEqual(['init a', 'init b', 'init c', 'terminate c', 'terminate b', 'terminate a']);
    expect([p.a, p.b, p.c].map((pid) => h.exitReason(pid))).toEqual(['shutdown', 'shutdown', 'shutdown']);
    expect(exitIndex(h, p.c)).toBeLessThan(exitIndex(h, p.b));
    expect(exitIndex(h, p.b)).toBeLessThan(exitIndex(h, p.a));
    expect(exitIndex(h, p.a)).toBeLessThan(exitIndex(h, sup));
    expect(h.exitReason(sup)).toBe('shutdown');
  });
});

// ---- strategies ------------------------------------------------------------

describe('restart strategies', () => {
  it('one_for_one restarts only the crashed child; the others keep their pids', async () => {
    const h = harness();
    const sup = await started(startSupervisor(h.rt, { strategy: 'one_for_one' }, [w('a'), w('b'), w('c')]));
    const before = await running(h, sup);

    await crash(h, sup, 'b');

    const after = await running(h, sup);
    expect(after.a).toBe(before.a);
    expect(after.c).toBe(before.c);
    expect(after.b).not.toBe(before.b);
    expect(h.alive(after.b)).toBe(true);
    expect(h.exitReason(before.b)).toEqual(boom);
  });

  it('one_for_all terminates the other children in reverse order, then restarts all in order with new pids', async () => {
    const h = harness();
    const log: string[] = [];
    const sup = await started(startSupervisor(h.rt, { strategy: 'one_for_all' }, ['a', 'b', 'c'].map((id) => w(id, { log, trap: true }))));
    const before = await running(h, sup);
    log.length = 0;

    h.rt.exit(before.b, 'kill');
    await h.settle();

    expect(log).toEqual(['terminate c', 'terminate a', 'init a', 'init b', 'init c']);
    const after = await running(h, sup);
    for (const id of ['a', 'b', 'c']) {
      expect(after[id]).not.toBe(before[id]);
      expect(h.alive(after[id]!)).toBe(true);
    }
    expect([before.a, before.b, before.c].map((pid) => h.exitReason(pid))).toEqual(['shutdown', 'killed', 'shutdown']);
  });

  it('rest_for_one restarts the crashed child and the children after it, not those before', async () => {
    const h = harness();
    const log: string[] = [];
    const sup = await started(startSupervisor(h.rt, { strategy: 'rest_for_one' }, ['a', 'b', 'c', 'd'].map((id) => w(id, { log, trap: true }))));
    const before = await running(h, sup);
    log.length = 0;

    h.rt.exit(before.b, 'kill');
    await h.settle();

    expect(log).toEqual(['terminate d', 'terminate c', 'init b', 'init c', 'init d']);
    const after = await running(h, sup);
    expect(after.a).toBe(before.a);
    for (const id of ['b', 'c', 'd']) expect(after[id]).not.toBe(before[id]);
    expect([before.c, before.d].map((pid) => h.exitReason(pid))).toEqual(['shutdown', 'shutdown']);
  });

  it('simple_one_for_one starts instances from the template with startChild(extra), restarts a crashed one with the same extra, terminates by pid', async () => {
    const h = harness();
    const log: string[] = [];
    const sup = await started(startSupervisor(h.rt, { strategy: 'simple_one_for_one' }, [w('conn', { log })]));
    expect(await whichChildren(h.rt, sup)).toEqual([]);

    const x = okPid(await startChild(h.rt, sup, { label: 'x', log } satisfies WorkerArgs));
    const y = okPid(await startChild(h.rt, sup, { label: 'y', log } satisfies WorkerArgs));
    expect(log).toEqual(['init x', 'init y']);
    const instance = (pid: Pid): ChildInfo => ({ id: undefined, pid, type: 'worker', restart: 'permanent', shutdown: 5000, modules: ['test_worker'] });
    expect(await whichChildren(h.rt, sup)).toEqual([instance(x), instance(y)]);

    h.rt.exit(x, 'kill');
    await h.settle();
    expect(log).toEqual(['init x', 'init y', 'init x']); // the same extra again
    const [x2, y2] = (await whichChildren(h.rt, sup)).map((c) => c.pid);
    expect(x2).not.toBe(x);
    expect(isRunning(x2) && h.alive(x2)).toBe(true);
    expect(y2).toBe(y);

    expect(await terminateChild(h.rt, sup, y)).toEqual({ type: 'ok', value: undefined });
    expect(h.exitReason(y)).toBe('shutdown');
    expect((await whichChildren(h.rt, sup)).map((c) => c.pid)).toEqual([x2]);

    expect(await restartChild(h.rt, sup, 'conn')).toEqual({ type: 'error', error: { type: 'simple_one_for_one' } });
    expect(await deleteChild(h.rt, sup, 'conn')).toEqual({ type: 'error', error: { type: 'simple_one_for_one' } });
  });

  it('simple_one_for_one: countChildren reports the template as the one spec and the instances as workers (OTP count_children)', async () => {
    const h = harness();
    const sup = await started(startSupervisor(h.rt, { strategy: 'simple_one_for_one' }, [w('conn')]));
    for (const label of ['x', 'y', 'z']) okPid(await startChild(h.rt, sup, { label } satisfies WorkerArgs));
    expect(await countChildren(h.rt, sup)).toEqual({ specs: 1, active: 3, supervisors: 0, workers: 3 });
  });

  it('simple_one_for_one: terminateChild by id instead of pid is simple_one_for_one', async () => {
    const h = harness();
    const sup = await started(startSupervisor(h.rt, { strategy: 'simple_one_for_one' }, [w('conn')]));
    okPid(await startChild(h.rt, sup, { label: 'x' } satisfies WorkerArgs));
    expect(await terminateChild(h.rt, sup, 'conn')).toEqual({ type: 'error', error: { type: 'simple_one_for_one' } });
  });
});

// ---- restart types × exit reasons -------------------------------------------

describe('restart types', () => {
  // [label, reason, abnormal?]: OTP counts normal, shutdown and {shutdown,_} as normal exits.
  const reasons: readonly (readonly [string, ExitReason, boolean])[] = [
    ['normal', 'normal', false],
    ['shutdown', 'shutdown', false],
    ['{shutdown,x}', { type: 'shutdown', detail: 'x' }, false],
    ['an abnormal reason', boom, true],
  ];
  const restartedAfter: Record<RestartType, (abnormal: boolean) => boolean> = {
    permanent: () => true,
    transient: (abnormal) => abnormal,
    temporary: () => false,
  };

  /** What became of the child that exited: its spec's pid after the supervisor handled the EXIT. */
  function fate(children: readonly ChildInfo[], old: Pid, h: Harness): 'restarted' | 'kept, not running' | 'removed' | 'unexpected' {
    if (children.length === 0) return 'removed';
    const pid = children[0]!.pid;
    if (pid === undefined) return 'kept, not running';
    return isRunning(pid) && pid !== old && h.alive(pid) ? 'restarted' : 'unexpected';
  }

  for (const restart of ['permanent', 'transient', 'temporary'] as const) {
    for (const [label, reason, abnormal] of reasons) {
      const restarted = restartedAfter[restart](abnormal);
      const expected = restarted ? 'restarted' : restart === 'temporary' ? 'removed' : 'kept, not running';
      it(`a ${restart} child that exits with ${label} is ${expected}`, async () => {
        const h = harness();
        const sup = await started(startSupervisor(h.rt, {}, [w('a', {}, { restart })]));
        const old = await pidOf(h, sup, 'a');

        h.rt.cast(old, { type: 'stop', reason } satisfies WorkerCast);
        await h.settle();

        expect(h.exitReason(old)).toEqual(reason);
        expect(fate(await whichChildren(h.rt, sup), old, h)).toBe(expected);
        expect(h.alive(sup)).toBe(true);
      });
    }
  }
});

// ---- shutdown --------------------------------------------------------------

describe('child shutdown', () => {
  it('a brutal_kill child is killed (exit reason killed) even if it traps exits; terminate does not run', async () => {
    const h = harness();
    const log: string[] = [];
    const sup = await started(startSupervisor(h.rt, {}, [w('a', { log, trap: true }, { shutdown: 'brutal_kill' })]));
    const a = await pidOf(h, sup, 'a');

    expect(await terminateChild(h.rt, sup, 'a')).toEqual({ type: 'ok', value: undefined });

    expect(h.exitReason(a)).toBe('killed');
    expect(log).toEqual(['init a']);
    expect(reports(h, 'shutdown_error')).toEqual([]);
  });

  it('a child whose terminate never returns is killed when its shutdown time (200 ms) runs out, and a shutdown_error is reported', async () => {
    const h = harness();
    const log: string[] = [];
    const sup = await started(startSupervisor(h.rt, {}, [w('slow', { log, trap: true, terminateMs: 'never' }, { shutdown: 200 })]));
    const slow = await pidOf(h, sup, 'slow');
    let answer: SupResult<undefined> | undefined;
    void terminateChild(h.rt, sup, 'slow').then((r) => (answer = r));

    await h.advance(199);
    expect(log).toEqual(['init slow', 'terminate slow']); // it got `shutdown` and is stuck in terminate
    expect(h.alive(slow)).toBe(true);
    expect(answer).toBeUndefined();

    await h.advance(2);
    expect(h.alive(slow)).toBe(false);
    expect(h.exitReason(slow)).toBe('killed');
    expect(answer).toEqual({ type: 'ok', value: undefined });
    expect(reports(h, 'shutdown_error')).toEqual([
      { type: 'supervisor_report', kind: 'shutdown_error', time: 200, supervisor: sup, childId: 'slow', childPid: slow, reason: 'killed' },
    ]);
  });

  it('a child that finishes terminate within its shutdown time exits with shutdown and no report', async () => {
    const h = harness();
    const sup = await started(startSupervisor(h.rt, {}, [w('quick', { trap: true, terminateMs: 150 }, { shutdown: 200 })]));
    const quick = await pidOf(h, sup, 'quick');
    void terminateChild(h.rt, sup, 'quick');

    await h.advance(149);
    expect(h.alive(quick)).toBe(true);
    await h.advance(1);
    expect(h.exitReason(quick)).toBe('shutdown');
    await h.advance(100);
    expect(reports(h, 'shutdown_error')).toEqual([]);
  });

  it('shutdown infinity waits for terminate however long it takes, and never kills', async () => {
    const h = harness();
    const sup = await started(startSupervisor(h.rt, {}, [w('patient', { trap: true, terminateMs: 60_000 }, { shutdown: 'infinity' })]));
    const patient = await pidOf(h, sup, 'patient');
    let answer: SupResult<undefined> | undefined;
    void terminateChild(h.rt, sup, 'patient').then((r) => (answer = r));

    await h.advance(59_999);
    expect(h.alive(patient)).toBe(true);
    expect(answer).toBeUndefined();

    await h.advance(2);
    expect(h.exitReason(patient)).toBe('shutdown');
    expect(answer).toEqual({ type: 'ok', value: undefined });
    expect(reports(h, 'shutdown_error')).toEqual([]);
  });
});

// ---- intensity -------------------------------------------------------------

describe('restart intensity', () => {
  it('defaults follow OTP: one_for_one, intensity 1, period 5000; shutdown 5000 for workers and infinity for supervisors', async () => {
    const start: StartFn = () => ({ type: 'ignore' });
    expect(checkFlags({})).toEqual({ type: 'ok', value: { strategy: 'one_for_one', intensity: 1, period: 5000 } });
    expect(checkChildSpec({ id: 'w', start })).toEqual({
      type: 'ok',
      value: { id: 'w', start, restart: 'permanent', shutdown: 5000, type: 'worker', modules: [] },
    });
    expect(checkChildSpec({ id: 's', start, type: 'supervisor' })).toEqual({
      type: 'ok',
      value: { id: 's', start, restart: 'permanent', shutdown: 'infinity', type: 'supervisor', modules: [] },
    });

    const h = harness();
    const sup = await started(startSupervisor(h.rt, {}, [w('worker'), supervisorSpec('sub', {}, [])]));
    expect((await whichChildren(h.rt, sup)).map((c) => [c.id, c.type, c.restart, c.shutdown])).toEqual([
      ['worker', 'worker', 'permanent', 5000],
      ['sub', 'supervisor', 'permanent', 'infinity'],
    ]);
    expect(h.rt.processInfo(sup)?.info).toMatchObject({ strategy: 'one_for_one', intensity: 1, period: 5000 });
  });

  it('with the default intensity, a second crash within 5000 ms makes the supervisor give up', async () => {
    const h = harness();
    const sup = await started(startSupervisor(h.rt, {}, [w('a')]));
    await crash(h, sup, 'a');
    expect(h.alive(sup)).toBe(true);
    await h.advance(4999);
    await crash(h, sup, 'a');
    expect(h.exitReason(sup)).toBe('shutdown');
  });

  it('with the default intensity, crashes more than 5000 ms apart are each restarted', async () => {
    const h = harness();
    const sup = await started(startSupervisor(h.rt, {}, [w('a')]));
    const first = await crash(h, sup, 'a');
    await h.advance(5001);
    const second = await crash(h, sup, 'a');
    expect(h.alive(sup)).toBe(true);
    const third = await pidOf(h, sup, 'a');
    expect(new Set([first, second, third]).size).toBe(3);
  });

  it('intensity 2 / period 1000: a third crash within 1000 ms stops the remaining children, reports reached_max_restart_intensity and exits shutdown', async () => {
    const h = harness();
    const log: string[] = [];
    const sup = await started(startSupervisor(h.rt, { intensity: 2, period: 1000 }, [w('a'), w('b', { log, trap: true })]));
    const b = await pidOf(h, sup, 'b');

    await crash(h, sup, 'a'); // t=0
    await h.advance(400);
    await crash(h, sup, 'a'); // t=400
    expect(h.alive(sup)).toBe(true);
    await h.advance(400);
    await crash(h, sup, 'a'); // t=800: three restarts within 1000 ms

    expect(h.exitReason(sup)).toBe('shutdown');
    expect(reports(h, 'shutdown')).toEqual([
      { type: 'supervisor_report', kind: 'shutdown', time: 800, supervisor: sup, childId: 'a', childPid: undefined, reason: 'reached_max_restart_intensity' },
    ]);
    expect(h.exitReason(b)).toBe('shutdown');
    expect(log).toEqual(['init b', 'terminate b']);
    expect(exitIndex(h, b)).toBeLessThan(exitIndex(h, sup));
  });

  it('intensity 2 / period 1000: three crashes spread over more than 1000 ms are all restarted', async () => {
    const h = harness();
    const sup = await started(startSupervisor(h.rt, { intensity: 2, period: 1000 }, [w('a')]));
    const crashed: Pid[] = [];
    crashed.push(await crash(h, sup, 'a')); // t=0
    await h.advance(600);
    crashed.push(await crash(h, sup, 'a')); // t=600
    await h.advance(600);
    crashed.push(await crash(h, sup, 'a')); // t=1200: the t=0 restart has left the window

    expect(h.alive(sup)).toBe(true);
    const now = await pidOf(h, sup, 'a');
    expect(new Set([...crashed, now]).size).toBe(4);
    expect(h.rt.processInfo(sup)?.info).toMatchObject({ restartsInWindow: 2 });
    expect(reports(h, 'shutdown')).toEqual([]);
  });

  it('addRestart is a sliding window: more than `intensity` restarts inside `period` means terminate', () => {
    expect(addRestart([], 0, 1, 5000)).toEqual({ type: 'ok', restarts: [0] });
    expect(addRestart([0], 100, 1, 5000)).toEqual({ type: 'terminate', restarts: [100, 0] });
    expect(addRestart([0], 6000, 1, 5000)).toEqual({ type: 'ok', restarts: [6000] });
    expect(addRestart([900, 500, 100], 1200, 2, 1000)).toEqual({ type: 'terminate', restarts: [1200, 900, 500] });
    expect(addRestart([], 0, 0, 1000)).toEqual({ type: 'terminate', restarts: [0] });
  });

  it('addRestart keeps a restart exactly `period` ago inside the window, as OTP does (R >= Now - Period)', () => {
    expect(addRestart([0], 5000, 1, 5000)).toEqual({ type: 'terminate', restarts: [5000, 0] });
  });
});

// ---- escalation ------------------------------------------------------------

describe('escalation', () => {
  /** top → [inner (intensity 1) → [leaf, other], sibling] */
  const tree = (): ChildSpec[] => [
    supervisorSpec('inner', { intensity: 1, period: 5000 }, [w('leaf'), w('other')]),
    w('sibling'),
  ];

  /** Crash `leaf` under `inner` twice: more than inner's intensity of 1. */
  async function overwhelm(h: Harness, inner: Pid): Promise<void> {
    await crash(h, inner, 'leaf');
    await crash(h, inner, 'leaf');
  }

  it("a nested supervisor that exceeds its intensity exits shutdown, and its parent restarts it with new children", async () => {
    const h = harness();
    const top = await started(startSupervisor(h.rt, { intensity: 1, period: 5000 }, tree()));
    const { inner, sibling } = await running(h, top);
    const before = await running(h, inner!);

    await overwhelm(h, inner!);

    expect(h.exitReason(inner!)).toBe('shutdown');
    expect(h.exitReason(before.other!)).toBe('shutdown'); // inner stopped its remaining child first
    expect(exitIndex(h, before.other!)).toBeLessThan(exitIndex(h, inner!));
    const after = await running(h, top);
    expect(after.inner).not.toBe(inner);
    expect(h.alive(after.inner!)).toBe(true);
    expect(after.sibling).toBe(sibling);
    const fresh = await running(h, after.inner!);
    expect(fresh.leaf).not.toBe(before.leaf);
    expect(fresh.other).not.toBe(before.other);
    expect(h.alive(fresh.leaf!) && h.alive(fresh.other!)).toBe(true);
    expect(reports(h, 'child_terminated').filter((r) => r.supervisor === top)).toMatchObject([{ childId: 'inner', childPid: inner, reason: 'shutdown' }]);
  });

  it('when the parent cannot afford the restart, it gives up too: stops its other children and exits shutdown', async () => {
    const h = harness();
    const top = await started(startSupervisor(h.rt, { intensity: 1, period: 5000 }, tree()));
    const first = await running(h, top);

    await overwhelm(h, first.inner!); // restart 1 of top: allowed
    const second = await running(h, top);
    await overwhelm(h, second.inner!); // restart 2 of top within 5000 ms: too many

    expect(h.exitReason(second.inner!)).toBe('shutdown');
    expect(h.exitReason(top)).toBe('shutdown');
    expect(h.exitReason(first.sibling!)).toBe('shutdown');
    expect(exitIndex(h, first.sibling!)).toBeLessThan(exitIndex(h, top));
    expect(reports(h, 'shutdown').map((r) => [r.supervisor, r.childId, r.reason])).toEqual([
      [first.inner, 'leaf', 'reached_max_restart_intensity'],
      [second.inner, 'leaf', 'reached_max_restart_intensity'],
      [top, 'inner', 'reached_max_restart_intensity'],
    ]);
  });
});

// ---- spec validation ---------------------------------------------------------

describe('child spec and flag validation', () => {
  const start: StartFn = () => ({ type: 'ignore' });
  const childCases: readonly (readonly [string, unknown, SpecError])[] = [
    ['a spec without id is missing_id', { start }, { type: 'missing_id' }],
    ['a non-string id is invalid_child_id', { id: 7, start }, { type: 'invalid_child_id', value: '7' }],
    ['an empty id is invalid_child_id', { id: '', start }, { type: 'invalid_child_id', value: '""' }],
    ['a spec without start is missing_start', { id: 'a' }, { type: 'missing_start' }],
    ['a start that is not a function is invalid_start', { id: 'a', start: 'go' }, { type: 'invalid_start', value: '"go"' }],
    ['an unknown restart type is invalid_restart_type', { id: 'a', start, restart: 'sometimes' }, { type: 'invalid_restart_type', value: '"sometimes"' }],
    ['a negative shutdown is invalid_shutdown', { id: 'a', start, shutdown: -1 }, { type: 'invalid_shutdown', value: '-1' }],
    ['a fractional shutdown is invalid_shutdown', { id: 'a', start, shutdown: 1.5 }, { type: 'invalid_shutdown', value: '1.5' }],
    ['an unknown shutdown word is invalid_shutdown', { id: 'a', start, shutdown: 'later' }, { type: 'invalid_shutdown', value: '"later"' }],
    ['an unknown child type is invalid_child_type', { id: 'a', start, type: 'manager' }, { type: 'invalid_child_type', value: '"manager"' }],
    ['modules that are not a list are invalid_modules', { id: 'a', start, modules: 'm' }, { type: 'invalid_modules', value: '"m"' }],
    ['modules with a non-string entry are invalid_modules', { id: 'a', start, modules: ['m', 1] }, { type: 'invalid_modules', value: '["m",1]' }],
  ];
  for (const [name, spec, error] of childCases) {
    it(`checkChildSpec: ${name}`, () => {
      expect(checkChildSpec(spec)).toEqual({ type: 'error', error });
    });
  }

  const flagCases: readonly (readonly [string, unknown, SpecError])[] = [
    ['an unknown strategy is invalid_strategy', { strategy: 'one_for_some' }, { type: 'invalid_strategy', value: '"one_for_some"' }],
    ['a negative intensity is invalid_intensity', { intensity: -1 }, { type: 'invalid_intensity', value: '-1' }],
    ['a non-numeric intensity is invalid_intensity', { intensity: 'many' }, { type: 'invalid_intensity', value: '"many"' }],
    ['a zero period is invalid_period', { period: 0 }, { type: 'invalid_period', value: '0' }],
    ['a negative period is invalid_period', { period: -5 }, { type: 'invalid_period', value: '-5' }],
    ['a fractional period is invalid_period', { period: 2.5 }, { type: 'invalid_period', value: '2.5' }],
  ];
  for (const [name, flags, error] of flagCases) {
    it(`checkFlags: ${name}`, () => {
      expect(checkFlags(flags)).toEqual({ type: 'error', error });
    });
  }

  it('checkSupervisorSpec: two children with one id is duplicate_child_id', () => {
    expect(checkSupervisorSpec({}, [{ id: 'a', start }, { id: 'b', start }, { id: 'a', start }])).toEqual({
      type: 'error',
      error: { type: 'duplicate_child_id', id: 'a' },
    });
  });

  it('checkSupervisorSpec: simple_one_for_one with zero or two child specs is bad_start_spec', () => {
    const none = checkSupervisorSpec({ strategy: 'simple_one_for_one' }, []);
    const two = checkSupervisorSpec({ strategy: 'simple_one_for_one' }, [{ id: 'a', start }, { id: 'b', start }]);
    expect(none.type === 'error' && none.error.type).toBe('bad_start_spec');
    expect(two.type === 'error' && two.error.type).toBe('bad_start_spec');
    expect(checkSupervisorSpec({ strategy: 'simple_one_for_one' }, [{ id: 'a', start }]).type).toBe('ok');
  });

  it('checkSupervisorSpec reports a bad flag before looking at the children', () => {
    expect(checkSupervisorSpec({ intensity: -1 }, [{ start }])).toEqual({ type: 'error', error: { type: 'invalid_intensity', value: '-1' } });
  });

  it('startSupervisor with an invalid spec fails with init_failed carrying the tagged code, and leaves no process behind', async () => {
    const h = harness();
    const bad = { id: 'a', start, restart: 'sometimes' } as unknown as ChildSpec;
    const r = await startSupervisor(h.rt, {}, [bad]);
    expect(r).toMatchObject({ type: 'error', error: { type: 'init_failed', reason: { type: 'error', code: 'invalid_restart_type' } } });
    await h.settle();
    expect(h.rt.processes()).toEqual([]);
  });
});

// ---- the child API -----------------------------------------------------------

describe('supervisor child API', () => {
  it('whichChildren lists id, pid, type, restart, shutdown and modules in start order; countChildren counts specs, active, supervisors and workers', async () => {
    const h = harness();
    const sup = await started(
      startSupervisor(h.rt, {}, [w('a'), w('b', {}, { restart: 'transient', shutdown: 'brutal_kill' }), supervisorSpec('s', {}, [])]),
    );
    const p = await running(h, sup);
    expect(await whichChildren(h.rt, sup)).toEqual([
      { id: 'a', pid: p.a, type: 'worker', restart: 'permanent', shutdown: 5000, modules: ['test_worker'] },
      { id: 'b', pid: p.b, type: 'worker', restart: 'transient', shutdown: 'brutal_kill', modules: ['test_worker'] },
      { id: 's', pid: p.s, type: 'supervisor', restart: 'permanent', shutdown: 'infinity', modules: ['supervisor'] },
    ]);
    expect(await countChildren(h.rt, sup)).toEqual({ specs: 3, active: 3, supervisors: 1, workers: 2 });

    await terminateChild(h.rt, sup, 'a');
    expect(await countChildren(h.rt, sup)).toEqual({ specs: 3, active: 2, supervisors: 1, workers: 2 });
  });

  it('startChild adds a child last; a duplicate id is already_started while it runs and already_present once terminated', async () => {
    const h = harness();
    const log: string[] = [];
    const sup = await started(startSupervisor(h.rt, {}, [w('a', { log })]));

    const b = okPid(await startChild(h.rt, sup, w('b', { log })));
    expect((await whichChildren(h.rt, sup)).map((c) => [c.id, c.pid])).toEqual([
      ['a', await pidOf(h, sup, 'a')],
      ['b', b],
    ]);
    expect(await startChild(h.rt, sup, w('b', { log }))).toEqual({ type: 'error', error: { type: 'already_started', pid: b } });

    expect(await terminateChild(h.rt, sup, 'b')).toEqual({ type: 'ok', value: undefined });
    expect(await startChild(h.rt, sup, w('b', { log }))).toEqual({ type: 'error', error: { type: 'already_present' } });
    expect(log).toEqual(['init a', 'init b']); // neither duplicate ran its start
  });

  it('terminateChild stops a child and keeps its spec (it stays down); restartChild starts it again; restartChild of a running child is running', async () => {
    const h = harness();
    const log: string[] = [];
    const sup = await started(startSupervisor(h.rt, {}, [w('a', { log }), w('b')]));
    const a1 = await pidOf(h, sup, 'a');
    expect(await restartChild(h.rt, sup, 'a')).toEqual({ type: 'error', error: { type: 'running' } });

    expect(await terminateChild(h.rt, sup, 'a')).toEqual({ type: 'ok', value: undefined });
    expect(h.exitReason(a1)).toBe('shutdown');
    await h.advance(10_000);
    expect(await childPids(h, sup)).toEqual({ a: undefined, b: await pidOf(h, sup, 'b') });
    expect(reports(h, 'child_terminated')).toEqual([]);

    const a2 = okPid(await restartChild(h.rt, sup, 'a'));
    expect(a2).not.toBe(a1);
    expect(h.alive(a2)).toBe(true);
    expect(await pidOf(h, sup, 'a')).toBe(a2);
    expect(log).toEqual(['init a', 'init a']);
  });

  it('deleteChild of a running child is running; of a terminated one ok, after which the id is not_found', async () => {
    const h = harness();
    const sup = await started(startSupervisor(h.rt, {}, [w('a'), w('b')]));
    expect(await deleteChild(h.rt, sup, 'a')).toEqual({ type: 'error', error: { type: 'running' } });
    await terminateChild(h.rt, sup, 'a');
    expect(await deleteChild(h.rt, sup, 'a')).toEqual({ type: 'ok', value: undefined });
    expect(await deleteChild(h.rt, sup, 'a')).toEqual({ type: 'error', error: { type: 'not_found' } });
    expect(await restartChild(h.rt, sup, 'a')).toEqual({ type: 'error', error: { type: 'not_found' } });
    expect(await terminateChild(h.rt, sup, 'a')).toEqual({ type: 'error', error: { type: 'not_found' } });
    expect((await whichChildren(h.rt, sup)).map((c) => c.id)).toEqual(['b']);
  });

  it('startChild with an invalid spec is invalid_spec with the tagged error, and adds nothing', async () => {
    const h = harness();
    const sup = await started(startSupervisor(h.rt, {}, [w('a')]));
    expect(await startChild(h.rt, sup, { id: 'x' })).toEqual({ type: 'error', error: { type: 'invalid_spec', error: { type: 'missing_start' } } });
    expect(await startChild(h.rt, sup, { ...w('x'), shutdown: -1 })).toEqual({
      type: 'error',
      error: { type: 'invalid_spec', error: { type: 'invalid_shutdown', value: '-1' } },
    });
    expect((await whichChildren(h.rt, sup)).map((c) => c.id)).toEqual(['a']);
  });
});

// ---- start failures ----------------------------------------------------------

describe('start failures', () => {
  it('a child that fails to start during init fails the supervisor (failed_to_start_child) and stops the children already started', async () => {
    const h = harness();
    const log: string[] = [];
    const b = scripted('b', ['fail']);

    const r = await startSupervisor(h.rt, {}, [w('a', { log, trap: true }), b.spec, w('c', { log })]);

    expect(r).toEqual({
      type: 'error',
      error: { type: 'init_failed', reason: { type: 'shutdown', detail: expect.stringMatching(/^failed_to_start_child b/) } },
    });
    expect(b.attempts()).toBe(1);
    expect(log).toEqual(['init a', 'terminate a']); // c was never started
    const workers = h.events.flatMap((e) => (e.type === 'process_started' && e.behaviour === 'gen_server:test_worker' ? [e.pid] : []));
    expect(workers).toHaveLength(1);
    expect(h.alive(workers[0]!)).toBe(false);
    expect(h.exitReason(workers[0]!)).toBe('shutdown');
    await h.settle();
    expect(h.rt.processes()).toEqual([]);
  });

  it("a restart that fails marks the child 'restarting' and is retried through the supervisor's mailbox", async () => {
    const h = harness();
    const a = scripted('a', ['ok', 'fail', 'ok'], 100);
    const sup = await started(startSupervisor(h.rt, { intensity: 5, period: 5000 }, [a.spec, w('b')]));
    const a1 = await crash(h, sup, 'a'); // the supervisor is now inside the failing restart (100 ms)

    // Queued behind the failing restart; answered before the retry, which is queued after them.
    const during = Promise.all([whichChildren(h.rt, sup), countChildren(h.rt, sup)]);
    await h.advance(100);
    const [children, counts] = await during;

    expect(children.map((c) => [c.id, c.pid])).toEqual([
      ['a', 'restarting'],
      ['b', await pidOf(h, sup, 'b')],
    ]);
    expect(counts).toEqual({ specs: 2, active: 1, supervisors: 0, workers: 2 });
    const a3 = await pidOf(h, sup, 'a');
    expect(a3).not.toBe(a1);
    expect(h.alive(a3)).toBe(true);
    expect(a.attempts()).toBe(3);
    expect(reports(h, 'start_error')).toMatchObject([{ childId: 'a', time: 100, reason: { type: 'custom', value: 'refused' } }]);
    expect(h.rt.processInfo(sup)?.info).toMatchObject({ restartsInWindow: 2 }); // the retry counted as a restart
  });

  it('retries count toward intensity: a child that can never restart makes the supervisor give up', async () => {
    const h = harness();
    const a = scripted('a', ['ok', 'fail']);
    const sup = await started(startSupervisor(h.rt, { intensity: 3, period: 5000 }, [a.spec, w('b')]));
    const b = await pidOf(h, sup, 'b');

    await crash(h, sup, 'a');

    expect(h.exitReason(sup)).toBe('shutdown');
    expect(a.attempts()).toBe(4); // the first start, then 3 failed restarts; the 4th restart exceeds intensity 3
    expect(reports(h, 'start_error')).toHaveLength(3);
    expect(reports(h, 'shutdown').map((r) => [r.childId, r.reason])).toEqual([['a', 'reached_max_restart_intensity']]);
    expect(h.exitReason(b)).toBe('shutdown');
  });

  it("terminateChild of a 'restarting' child stops the retries (the child is left not running, as OTP's del_child does)", async () => {
    const h = harness();
    const a = scripted('a', ['ok', 'fail'], 10);
    const sup = await started(startSupervisor(h.rt, { intensity: 100, period: 60_000 }, [a.spec]));
    await crash(h, sup, 'a'); // the supervisor is now inside a failing restart (10 ms)

    let answer: SupResult<undefined> | undefined;
    void terminateChild(h.rt, sup, 'a').then((r) => (answer = r));
    await h.advance(10); // the failing restart ends; the request queued behind it is answered
    expect(answer).toEqual({ type: 'ok', value: undefined });

    const view = childPids(h, sup);
    await h.advance(100);
    expect(await view).toEqual({ a: undefined });
    expect(a.attempts()).toBe(2);
    await h.advance(2000);
    expect(h.alive(sup)).toBe(true);
  });
});

// ---- supervision tree ----------------------------------------------------------

describe('supervisionTree', () => {
  it('returns the nested tree as data: ids, pids, names, types, strategies and children', async () => {
    const h = harness();
    const top = await started(
      startSupervisor(
        h.rt,
        { strategy: 'one_for_one' },
        [
          w('config', {}, { name: 'config' }),
          supervisorSpec('workers', { strategy: 'rest_for_one' }, [w('w1'), w('w2')]),
          supervisorSpec('pool', { strategy: 'simple_one_for_one' }, [w('conn')]),
        ],
        { name: 'root' },
      ),
    );
    const p = await running(h, top);
    const ws = await running(h, p.workers!);
    const c1 = okPid(await startChild(h.rt, p.pool!, { label: 'c1' } satisfies WorkerArgs));
    const c2 = okPid(await startChild(h.rt, p.pool!, { label: 'c2' } satisfies WorkerArgs));

    const expected = {
      id: undefined,
      pid: top,
      name: 'root',
      type: 'supervisor',
      strategy: 'one_for_one',
      children: [
        { id: 'config', pid: p.config, name: 'config', type: 'worker' },
        {
          id: 'workers',
          pid: p.workers,
          name: undefined,
          type: 'supervisor',
          strategy: 'rest_for_one',
          children: [
            { id: 'w1', pid: ws.w1, name: undefined, type: 'worker' },
            { id: 'w2', pid: ws.w2, name: undefined, type: 'worker' },
          ],
        },
        {
          id: 'pool',
          pid: p.pool,
          name: undefined,
          type: 'supervisor',
          strategy: 'simple_one_for_one',
          children: [
            { id: undefined, pid: c1, name: undefined, type: 'worker' },
            { id: undefined, pid: c2, name: undefined, type: 'worker' },
          ],
        },
      ],
    };
    const tree = supervisionTree(h.rt, top);
    expect(tree).toEqual(expected);
    expect(supervisionTree(h.rt, 'root')).toEqual(expected);
    expect(JSON.parse(JSON.stringify(tree))).toEqual(expected); // plain data
  });
});
