// Linearizable reads and writes: the client-visible history, split per key (a
// register each; linearizability is compositional), must have a linearization
// under the register model (simulations/linearizable.ts). Pairs an invoke with
// the next completion of the same process, as Jepsen does.
//   ok       → the operation took effect (a read: with the value it returned);
//   fail     → it did not, except a cas that failed on `cas_mismatch`, which was
//              applied and saw a value other than its expected one;
//   info     → unknown to the client. A read in doubt is dropped (it changes
//              nothing). A write or cas in doubt is settled from the trace: if
//              no node ever applied its entry it never took effect within
//              this history (dropped: it could only come after every
//              observation); if one did, it took effect after its call and no
//              later than that first apply, which becomes its return.
// (The simulator makes a write's value, and a cas's new value, the operation's
// id, which is also the `op` of its log entry: that is how the two meet.)
// An independent checker reading only the `--history` file treats every info
// as open-ended, which is weaker but needs no trace.
// Each key's search is bounded; a key past the bound is reported as
// undecided (a note), never as a violation.
import { type RegisterOp, type TimedOp, checkRegister } from '../linearizable.js';
import type { Checker, HistoryEvent, TraceEvent, Violation } from '../trace.js';

/** Search steps per key before giving up (inconclusive). */
export const LINEARIZABILITY_BUDGET_PER_KEY = 200_000;

export interface LinearizabilityChecker extends Checker {
  /** Keys whose search ran out of budget in the last finish(). */
  inconclusive(): string[];
  notes(): string[];
}

/** The op id an invocation's entry carries: a write's value, a cas's new value. */
function opIdOf(inv: HistoryEvent): number | null {
  if (inv.f === 'write' && typeof inv.value === 'number') return inv.value;
  if (inv.f === 'cas' && Array.isArray(inv.value)) return (inv.value as readonly [number | null, number])[1];
  return null;
}

function registerOp(inv: HistoryEvent, done: HistoryEvent): RegisterOp | null {
  const v = inv.value;
  const pair = Array.isArray(v) ? (v as readonly [number | null, number]) : null;
  switch (done.type) {
    case 'ok':
      if (inv.f === 'read') return { kind: 'read', value: typeof done.value === 'number' ? done.value : null };
      if (inv.f === 'write') return { kind: 'write', value: v as number };
      return { kind: 'cas', from: pair![0], to: pair![1] };
    case 'fail':
      return inv.f === 'cas' && done.error === 'cas_mismatch' ? { kind: 'casMismatch', from: pair![0] } : null;
    case 'info':
      if (inv.f === 'read') return null;
      if (inv.f === 'write') return { kind: 'write', value: v as number };
      return { kind: 'casMaybe', from: pair![0], to: pair![1] };
    case 'invoke':
      return null;
  }
}

export function linearizability(budget = LINEARIZABILITY_BUDGET_PER_KEY): LinearizabilityChecker {
  const open = new Map<number, { ev: HistoryEvent; pos: number }>();
  const perKey = new Map<string, TimedOp[]>();
  const out: Violation[] = [];
  let unknownKeys: string[] = [];
  /** Positions in one sequence over client events and applies. */
  let pos = 0;
  /** op id → position of the first apply of its entry, on any node. */
  const firstApply = new Map<number, number>();
  /** Operations in doubt, settled at finish() once every apply is known. */
  const inDoubt: { inv: HistoryEvent; call: number; label: string }[] = [];
  const add = (key: string, op: TimedOp): void => {
    const list = perKey.get(key);
    if (list === undefined) perKey.set(key, [op]);
    else list.push(op);
  };
  return {
    name: 'linearizability',
    on: ['client', 'apply'],
    observe(e: TraceEvent): void {
      if (e.type === 'apply') {
        for (const x of e.entries) {
          const d = x.data as { op?: unknown } | null;
          if (x.kind === 'command' && d !== null && typeof d === 'object' && typeof d.op === 'number' && !firstApply.has(d.op)) firstApply.set(d.op, pos);
        }
        pos++;
        return;
      }
      if (e.type !== 'client') return;
      const h = e.event;
      const p = pos++;
      if (h.type === 'invoke') {
        const prev = open.get(h.process);
        if (prev !== undefined) out.push({ checker: 'linearizability', time: h.time, message: `process ${h.process} invoked twice without a completion` });
        open.set(h.process, { ev: h, pos: p });
        return;
      }
      const inv = open.get(h.process);
      if (inv === undefined) {
        out.push({ checker: 'linearizability', time: h.time, message: `process ${h.process} completed an operation it never invoked` });
        return;
      }
      open.delete(h.process);
      const label = `p${h.process} ${inv.ev.f} ${JSON.stringify(h.type === 'ok' && inv.ev.f === 'read' ? h.value : inv.ev.value)} (${h.type}${h.error === undefined ? '' : ` ${h.error}`}, t=${inv.ev.time}..${h.time})`;
      if (h.type === 'info') {
        if (inv.ev.f !== 'read') inDoubt.push({ inv: inv.ev, call: inv.pos, label });
        return;
      }
      const op = registerOp(inv.ev, h);
      if (op !== null) add(h.key, { op, call: inv.pos, ret: p, label });
    },
    failing: () => out.length > 0,
    finish(): Violation[] {
      const result = [...out];
      unknownKeys = [];
      // Invocations never completed are in doubt, like info.
      for (const [, inv] of open) {
        if (inv.ev.f !== 'read') inDoubt.push({ inv: inv.ev, call: inv.pos, label: `p${inv.ev.process} ${inv.ev.f} ${JSON.stringify(inv.ev.value)} (never completed)` });
      }
      open.clear();
      for (const d of inDoubt) {
        const id = opIdOf(d.inv);
        const applied = id === null ? undefined : firstApply.get(id);
        if (id !== null && applied === undefined) continue; // never took effect within this history
        const op = registerOp(d.inv, { ...d.inv, type: 'info' });
        if (op !== null) add(d.inv.key, { op, call: d.call, ret: applied ?? Infinity, label: `${d.label}${applied === undefined ? '' : ', applied'}` });
      }
      inDoubt.length = 0;
      for (const [key, ops] of [...perKey.entries()].sort((a, b) => (a[0] < b[0] ? -1 : 1))) {
        const r = checkRegister(ops, budget);
        if (r.result === 'violation') result.push({ checker: 'linearizability', time: 0, message: `key ${key}: ${r.detail}` });
        else if (r.result === 'unknown') unknownKeys.push(key);
      }
      return result;
    },
    inconclusive: () => unknownKeys,
    notes: () => unknownKeys.map((k) => `linearizability of key ${k} undecided: the search passed its budget of ${budget} steps`),
  };
}
