// Reports and introspection: structured events, processes(), the supervision
// tree as data, and logging through pino.
import { Writable } from 'node:stream';
import pino from 'pino';
import { describe, expect, it } from 'vitest';
import { type ServerBehaviour, attachLogger, ok, startLinkServer, startSupervisor, supervisionTree, supervisorSpec, workerSpec } from '../../runtime/index.js';
import { harness } from './harness.js';

const idle: ServerBehaviour<null> = { name: 'idle', init: () => ok(null) };

describe('events', () => {
  it('reports process started and exited (with reason) to every subscriber, and stops after unsubscribe', async () => {
    const h = harness();
    const mine: string[] = [];
    const off = h.rt.subscribe((e) => mine.push(e.type));
    const pid = h.idle();
    h.rt.exit(pid, 'shutdown');
    await h.settle();
    off();
    h.idle();
    expect(mine).toEqual(['process_started', 'process_exited']);
    expect(h.events.filter((e) => e.type === 'process_exited')).toMatchObject([{ pid, reason: 'shutdown' }]);
  });

  it('a subscriber that throws is removed and does not disturb others', async () => {
    const h = harness();
    let calls = 0;
    h.rt.subscribe(() => {
      calls++;
      throw new Error('broken sink');
    });
    h.idle();
    h.idle();
    expect(calls).toBe(1);
    expect(h.events.filter((e) => e.type === 'process_started')).toHaveLength(2);
  });

  it('supervisor reports child_started, child_terminated, start_error and shutdown', async () => {
    const h = harness();
    let failStart = false;
    const r = await startSupervisor(h.rt, { intensity: 1, period: 1000 }, [
      {
        id: 'w',
        start: (p) =>
          failStart ? { type: 'error', error: { type: 'init_failed', reason: { type: 'custom', value: 'nope' } } } : startLinkServer(p, idle, undefined),
      },
    ]);
    if (r.type !== 'ok') throw new Error('no sup');
    const child = h.events.find((e) => e.type === 'supervisor_report' && e.kind === 'child_started');
    expect(child).toMatchObject({ supervisor: r.pid, childId: 'w' });
    failStart = true;
    const [w] = h.rt.processInfo(r.pid)!.links;
    h.rt.exit(w!, 'kill');
    await h.settle();
    const kinds = h.events.filter((e) => e.type === 'supervisor_report').map((e) => (e.type === 'supervisor_report' ? [e.kind, e.reason] : []));
    expect(kinds).toEqual([
      ['child_started', undefined],
      ['child_terminated', 'killed'],
      ['start_error', { type: 'custom', value: 'nope' }],
      ['shutdown', 'reached_max_restart_intensity'],
    ]);
    expect(h.exitReason(r.pid)).toBe('shutdown');
  });
});

describe('processes() and the supervision tree', () => {
  it('processes() shows pid, name, behaviour, mailbox length, links, monitors and parent', async () => {
    const h = harness();
    const r = await startSupervisor(h.rt, {}, [workerSpec('w', idle, undefined, { name: 'the_worker' })], { name: 'root' });
    if (r.type !== 'ok') throw new Error('no sup');
    const w = h.rt.whereis('the_worker')!;
    const watcher = h.rt.spawn({ init: (ctx) => void ctx.monitor(w), receive: () => {} });
    await h.settle();
    const byPid = new Map(h.rt.processes().map((p) => [p.pid, p]));
    expect(byPid.get(r.pid)).toMatchObject({ name: 'root', behaviour: 'gen_server:supervisor', trapExit: true, links: [w], parent: undefined, mailboxLen: 0 });
    expect(byPid.get(w)).toMatchObject({ name: 'the_worker', behaviour: 'gen_server:idle', links: [r.pid], parent: r.pid, monitoredBy: [watcher] });
    expect(byPid.get(watcher)).toMatchObject({ behaviour: 'process', monitors: [w], status: 'waiting' });
    expect(byPid.get(r.pid)?.info).toMatchObject({ kind: 'supervisor', strategy: 'one_for_one', intensity: 1, period: 5000, children: [{ id: 'w', pid: w, type: 'worker' }] });
  });

  it('supervisionTree returns the nested tree as data', async () => {
    const h = harness();
    const r = await startSupervisor(h.rt, { strategy: 'one_for_all' }, [
      workerSpec('a', idle, undefined),
      supervisorSpec('inner', { strategy: 'rest_for_one' }, [workerSpec('b', idle, undefined, { name: 'bee' })]),
    ]);
    if (r.type !== 'ok') throw new Error('no sup');
    const tree = supervisionTree(h.rt, r.pid);
    expect(tree).toMatchObject({
      pid: r.pid,
      type: 'supervisor',
      strategy: 'one_for_all',
      children: [
        { id: 'a', type: 'worker' },
        { id: 'inner', type: 'supervisor', strategy: 'rest_for_one', children: [{ id: 'b', type: 'worker', name: 'bee' }] },
      ],
    });
  });
});

describe('logging', () => {
  it('attachLogger writes structured pino records for crashes and supervisor reports', async () => {
    const h = harness();
    const lines: Record<string, unknown>[] = [];
    const sink = new Writable({
      write(chunk: Buffer, _enc, cb) {
        for (const l of chunk.toString().split('\n')) if (l.trim() !== '') lines.push(JSON.parse(l) as Record<string, unknown>);
        cb();
      },
    });
    const log = pino({ level: 'debug' }, sink);
    attachLogger(h.rt, log);
    const r = await startSupervisor(h.rt, {}, [workerSpec('w', idle, undefined, { name: 'w' })]);
    if (r.type !== 'ok') throw new Error('no sup');
    h.rt.exit(h.rt.whereis('w')!, 'kill');
    await h.settle();
    log.flush();
    const msgs = lines.map((l) => l.msg);
    expect(msgs).toContain('process exited abnormally');
    expect(msgs).toContain('supervisor report: child_terminated');
    const report = lines.find((l) => l.msg === 'supervisor report: child_terminated');
    expect(report).toMatchObject({ level: 50, supervisor: r.pid, childId: 'w', reason: 'killed' });
  });
});
