// The simulator's event queue: a binary min-heap ordered by (time, sequence).
// The sequence number is the order of scheduling, so two events at the same
// virtual millisecond always run in the same order: a run is a pure function
// of its schedule.

export class EventQueue<E> {
  private times: number[] = [];
  private seqs: number[] = [];
  private items: E[] = [];
  private seq = 0;

  get size(): number {
    return this.items.length;
  }

  push(time: number, item: E): void {
    const i0 = this.items.length;
    this.times.push(time);
    this.seqs.push(this.seq++);
    this.items.push(item);
    this.up(i0);
  }

  /** The earliest event's time, or Infinity when empty. */
  peekTime(): number {
    return this.items.length === 0 ? Infinity : this.times[0]!;
  }

  /** Remove and return the earliest event (undefined when empty). */
  pop(): { time: number; item: E } | undefined {
    const n = this.items.length;
    if (n === 0) return undefined;
    const time = this.times[0]!;
    const item = this.items[0]!;
    const last = n - 1;
    if (last > 0) {
      this.times[0] = this.times[last]!;
      this.seqs[0] = this.seqs[last]!;
      this.items[0] = this.items[last]!;
    }
    this.times.pop();
    this.seqs.pop();
    this.items.pop();
    if (last > 0) this.down(0);
    return { time, item };
  }

  private less(i: number, j: number): boolean {
    const ti = this.times[i]!;
    const tj = this.times[j]!;
    return ti < tj || (ti === tj && this.seqs[i]! < this.seqs[j]!);
  }

  private swap(i: number, j: number): void {
    const t = this.times[i]!;
    this.times[i] = this.times[j]!;
    this.times[j] = t;
    const s = this.seqs[i]!;
    this.seqs[i] = this.seqs[j]!;
    this.seqs[j] = s;
    const x = this.items[i]!;
    this.items[i] = this.items[j]!;
    this.items[j] = x;
  }

  private up(i: number): void {
    while (i > 0) {
      const p = (i - 1) >> 1;
      if (!this.less(i, p)) return;
      this.swap(i, p);
      i = p;
    }
  }

  private down(i: number): void {
    const n = this.items.length;
    for (;;) {
      const l = 2 * i + 1;
      if (l >= n) return;
      const r = l + 1;
      const m = r < n && this.less(r, l) ? r : l;
      if (!this.less(m, i)) return;
      this.swap(i, m);
      i = m;
    }
  }
}
