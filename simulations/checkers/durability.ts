// Durability of acknowledged proposals: a write or cas a node acknowledged must
// survive any crash pattern that leaves a majority. That holds exactly when the
// entry is durable on a majority of the disks (every majority then holds it),
// so the checker reads the simulated disks: when the acknowledgement is sent,
// at every crash, and at the end. A snapshot at or past the entry's index
// counts as holding it (state machine safety checks the snapshots agree).
import type { MemoryDisk } from '../../actors/raft/storage.js';
import type { Checker, ClusterView, TraceEvent, Violation } from '../trace.js';

interface Acked {
  readonly index: number;
  readonly term: number;
  readonly op: number;
  readonly data: string;
  readonly node: number;
  broken: boolean;
}

function holds(disk: MemoryDisk, a: Acked): boolean {
  if (disk.snapshot !== null && disk.snapshot.meta.index >= a.index) return true;
  const base = disk.entries[0]?.index;
  if (base === undefined) return false;
  const x = disk.entries[a.index - base];
  return x !== undefined && x.index === a.index && x.term === a.term && x.data === a.data;
}

export function durability(view: ClusterView): Checker {
  const acked: Acked[] = [];
  const out: Violation[] = [];
  const check = (time: number, a: Acked, when: string): void => {
    if (a.broken) return;
    let copies = 0;
    for (const d of view.disks) if (holds(d, a)) copies++;
    if (copies >= view.quorum) return;
    a.broken = true;
    out.push({
      checker: 'durability',
      time,
      message: `op ${a.op}, acknowledged by n${a.node} at ${a.index}/${a.term}, is durable on ${copies} of ${view.disks.length} disks ${when} (a majority is ${view.quorum})`,
    });
  };
  return {
    name: 'durability',
    on: ['ack', 'crash', 'end'],
    observe(e: TraceEvent): void {
      if (e.type === 'ack') {
        const a: Acked = { index: e.index, term: e.term, op: e.op, data: e.data, node: e.node, broken: false };
        acked.push(a);
        check(e.time, a, 'when acknowledged');
      } else if (e.type === 'crash' || e.type === 'end') {
        // A crash is when a lost copy would matter; the end covers whatever no crash followed.
        for (const a of acked) check(e.time, a, e.type === 'crash' ? `as n${e.node} crashes` : 'at the end');
      }
    },
    failing: () => out.length > 0,
    finish: () => out,
  };
}
