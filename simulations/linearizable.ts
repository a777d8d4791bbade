// A linearizability checker for one register (one key of the key-value map):
// the Wing & Gong search with Lowe's memoization, as Knossos and porcupine do
// it. Operations are (call, return) intervals in history order; an operation
// whose outcome is unknown (`info`) returns "at infinity", so it may take
// effect at any point after its call, or (being last) never visibly.
//
// The search is exponential in the worst case, so it is bounded: past
// `budget` steps it answers `unknown` rather than run on.

export type RegisterOp =
  /** A read that returned `value` (null: the key was absent). */
  | { readonly kind: 'read'; readonly value: number | null }
  /** A write that succeeded, or whose outcome is unknown. */
  | { readonly kind: 'write'; readonly value: number }
  /** A compare-and-set that succeeded. */
  | { readonly kind: 'cas'; readonly from: number | null; readonly to: number }
  /** A compare-and-set whose outcome is unknown: it succeeds if it finds `from`, else does nothing. */
  | { readonly kind: 'casMaybe'; readonly from: number | null; readonly to: number }
  /** A compare-and-set that took effect as a no-op because it did not find `from`. */
  | { readonly kind: 'casMismatch'; readonly from: number | null };

export interface TimedOp {
  readonly op: RegisterOp;
  /** Position of the call in the history. */
  readonly call: number;
  /** Position of the return, or Infinity when the outcome is unknown. */
  readonly ret: number;
  /** For reports: who did what, e.g. "p3 write 17". */
  readonly label: string;
}

export type LinearizabilityResult =
  | { readonly result: 'ok'; readonly steps: number }
  | { readonly result: 'violation'; readonly steps: number; readonly detail: string }
  | { readonly result: 'unknown'; readonly steps: number };

type State = number | null;

/** Where open operations return: after every real position (history positions are far smaller). */
const OPEN_RETURN = 1e12;

/** The register model: the next state, or undefined when `op` cannot happen in `state`. */
function step(state: State, op: RegisterOp): State | undefined {
  switch (op.kind) {
    case 'read':
      return state === op.value ? state : undefined;
    case 'write':
      return op.value;
    case 'cas':
      return state === op.from ? op.to : undefined;
    case 'casMaybe':
      return state === op.from ? op.to : state;
    case 'casMismatch':
      return state !== op.from ? state : undefined;
  }
}

interface Entry {
  readonly id: number;
  readonly isCall: boolean;
  readonly pos: number;
  match: Entry | null;
  prev: Entry | null;
  next: Entry | null;
}

/**
 * Drop the operations in doubt that can always be linearized last: a write or
 * cas in doubt whose new value no operation ever saw (no read returned it, no
 * cas expected it). Sound both ways. If the rest has a linearization, put
 * these at its end (they never returned, so the end is within their
 * interval). Conversely, remove such an operation from a linearization of the
 * whole history: the operations that ran while its value stood did not see it
 * (none does), so they see the value before it, except a cas in doubt that now
 * finds its expected value (move it to the end too: it never returned) and a
 * cas that failed on a mismatch, which would now match. So nothing is dropped
 * while a mismatch could be affected.
 */
export function pruneUnseen(ops: readonly TimedOp[]): TimedOp[] {
  const seen = new Set<number | null>();
  let lastMismatchRet = -Infinity;
  for (const o of ops) {
    switch (o.op.kind) {
      case 'read':
        seen.add(o.op.value);
        break;
      case 'cas':
      case 'casMaybe':
        seen.add(o.op.from);
        break;
      case 'casMismatch':
        seen.add(o.op.from);
        if (o.ret > lastMismatchRet) lastMismatchRet = o.ret;
        break;
      case 'write':
        break;
    }
  }
  return ops.filter((o) => {
    if (o.ret !== Infinity || o.call < lastMismatchRet) return true;
    if (o.op.kind === 'write') return seen.has(o.op.value);
    if (o.op.kind === 'casMaybe') return seen.has(o.op.to);
    return true;
  });
}

export function checkRegister(all: readonly TimedOp[], budget = 200_000, init: State = null, prune = true): LinearizabilityResult {
  const ops = prune ? pruneUnseen(all) : all;
  if (ops.length === 0) return { result: 'ok', steps: 0 };
  // Entries in history order: calls and returns; open operations return after everything, in call order.
  const raw: Entry[] = [];
  ops.forEach((o, id) => {
    const call: Entry = { id, isCall: true, pos: o.call, match: null, prev: null, next: null };
    const ret: Entry = { id, isCall: false, pos: o.ret === Infinity ? OPEN_RETURN + o.call : o.ret, match: null, prev: null, next: null };
    call.match = ret;
    ret.match = call;
    raw.push(call, ret);
  });
  raw.sort((a, b) => a.pos - b.pos || (a.isCall === b.isCall ? a.id - b.id : a.isCall ? 1 : -1));
  const head: Entry = { id: -1, isCall: false, pos: -1, match: null, prev: null, next: null };
  let prev = head;
  for (const e of raw) {
    prev.next = e;
    e.prev = prev;
    prev = e;
  }

  const lift = (call: Entry): void => {
    call.prev!.next = call.next;
    if (call.next !== null) call.next.prev = call.prev;
    const ret = call.match!;
    ret.prev!.next = ret.next;
    if (ret.next !== null) ret.next.prev = ret.prev;
  };
  const unlift = (call: Entry): void => {
    const ret = call.match!;
    ret.prev!.next = ret;
    if (ret.next !== null) ret.next.prev = ret;
    call.prev!.next = call;
    if (call.next !== null) call.next.prev = call;
  };

  // The memo of visited (linearized set, state) pairs, keyed by a Zobrist hash
  // of the set: two random words per operation, XORed in and out as it is
  // linearized and undone. A hash hit is confirmed by comparing the sets
  // exactly, so a collision can never prune a live branch.
  const words = new Uint32Array(Math.ceil(ops.length / 32));
  const z1 = new Int32Array(ops.length);
  const z2 = new Int32Array(ops.length);
  let x = 0x9e3779b9;
  const rand = (): number => {
    // xorshift32: deterministic, fine for hashing.
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    return x | 0;
  };
  for (let i = 0; i < ops.length; i++) {
    z1[i] = rand();
    z2[i] = rand();
  }
  let h1 = 0;
  let h2 = 0;
  const flip = (id: number): void => {
    words[id >>> 5]! ^= 1 << (id & 31);
    h1 ^= z1[id]!;
    h2 ^= z2[id]!;
  };
  const memo = new Map<string, Uint32Array[]>();
  /** Record (words, state) as visited; false if it already was. */
  const visit = (st: State): boolean => {
    const key = `${h1}:${h2}:${st}`;
    const seen = memo.get(key);
    if (seen === undefined) {
      memo.set(key, [words.slice()]);
      return true;
    }
    for (const w of seen) {
      let same = true;
      for (let i = 0; i < w.length; i++) {
        if (w[i] !== words[i]) {
          same = false;
          break;
        }
      }
      if (same) return false;
    }
    seen.push(words.slice());
    return true;
  };
  const stack: { entry: Entry; state: State }[] = [];
  let state: State = init;
  let entry: Entry | null = head.next;
  let steps = 0;
  let deepest = 0;
  let stuckAt = -1;
  while (head.next !== null) {
    if (++steps > budget) return { result: 'unknown', steps };
    if (entry === null) throw new Error('linearizability search ran off the end of the history');
    if (entry.isCall) {
      const next = step(state, ops[entry.id]!.op);
      if (next !== undefined) {
        flip(entry.id);
        if (visit(next)) {
          stack.push({ entry, state });
          state = next;
          lift(entry);
          entry = head.next;
          continue;
        }
        flip(entry.id);
      }
      entry = entry.next;
    } else {
      if (stack.length >= deepest) {
        deepest = stack.length;
        stuckAt = entry.id;
      }
      const top = stack.pop();
      if (top === undefined) {
        const o = ops[stuckAt]!;
        return {
          result: 'violation',
          steps,
          detail: `no linearization of ${ops.length} operations: at best ${deepest} linearize, then ${o.label} (history positions ${o.call}..${o.ret === Infinity ? 'open' : o.ret}) cannot take effect`,
        };
      }
      state = top.state;
      flip(top.entry.id);
      unlift(top.entry);
      entry = top.entry.next;
    }
  }
  return { result: 'ok', steps };
}
