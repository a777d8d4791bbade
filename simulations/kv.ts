// The simulator's test state machine: a key-value map of integers with write
// and compare-and-set commands (reads go through ReadIndex, not the log), and a
// barrier the liveness phase commits. Its snapshot is the map as canonical
// JSON, so two equal states have equal snapshots.

/** A command as it travels in the Raft log. `op` is the client operation's id, unique per run. */
export type KvCommand =
  | { readonly f: 'write'; readonly key: string; readonly value: number; readonly op: number }
  | { readonly f: 'cas'; readonly key: string; readonly from: number | null; readonly to: number; readonly op: number }
  | { readonly f: 'barrier'; readonly op: number };

export type KvResult = { readonly ok: true } | { readonly ok: false; readonly error: 'cas_mismatch' };

export function isKvCommand(x: unknown): x is KvCommand {
  if (x === null || typeof x !== 'object') return false;
  const c = x as Record<string, unknown>;
  if (typeof c.op !== 'number') return false;
  switch (c.f) {
    case 'write':
      return typeof c.key === 'string' && typeof c.value === 'number';
    case 'cas':
      return typeof c.key === 'string' && typeof c.to === 'number' && (c.from === null || typeof c.from === 'number');
    case 'barrier':
      return true;
    default:
      return false;
  }
}

export class Kv {
  private map = new Map<string, number>();

  get(key: string): number | null {
    return this.map.get(key) ?? null;
  }

  apply(c: KvCommand): KvResult {
    switch (c.f) {
      case 'write':
        this.map.set(c.key, c.value);
        return { ok: true };
      case 'cas':
        if (this.get(c.key) !== c.from) return { ok: false, error: 'cas_mismatch' };
        this.map.set(c.key, c.to);
        return { ok: true };
      case 'barrier':
        return { ok: true };
    }
  }

  /** Canonical JSON: entries sorted by key. */
  encode(): string {
    return JSON.stringify([...this.map.entries()].sort((a, b) => (a[0] < b[0] ? -1 : a[0] > b[0] ? 1 : 0)));
  }

  static decode(data: string): Kv {
    const kv = new Kv();
    const parsed: unknown = JSON.parse(data);
    if (!Array.isArray(parsed)) throw new Error('kv snapshot is not an array');
    for (const pair of parsed as unknown[]) {
      if (!Array.isArray(pair) || typeof pair[0] !== 'string' || typeof pair[1] !== 'number') throw new Error('kv snapshot entry is not [key, value]');
      kv.map.set(pair[0], pair[1]);
    }
    return kv;
  }
}
