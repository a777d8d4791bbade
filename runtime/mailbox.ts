// A process's mailbox: a growable ring buffer. Pushing and taking are index
// arithmetic with no allocation in steady state (a plain array that is emptied by
// `length = 0` would drop and reallocate its backing store on every hop).

const MIN_CAPACITY = 8;
/** A drained mailbox with more slots than this gives its memory back (8 MiB of slots); smaller ones keep theirs, so bursts do not regrow it each time. */
const SHRINK_ABOVE = 1 << 20;

export class Mailbox {
  private buf: unknown[] = new Array<unknown>(MIN_CAPACITY);
  private mask = MIN_CAPACITY - 1;
  private head = 0;
  size = 0;

  push(msg: unknown): void {
    if (this.size === this.buf.length) this.grow();
    this.buf[(this.head + this.size) & this.mask] = msg;
    this.size++;
  }

  /** Take the oldest message. Callers check `size` first. */
  shift(): unknown {
    const i = this.head;
    const msg = this.buf[i];
    this.buf[i] = undefined; // release the message for GC
    this.head = (i + 1) & this.mask;
    if (--this.size === 0 && this.buf.length > SHRINK_ABOVE) this.reset();
    return msg;
  }

  /** Keep only the messages for which `keep` is true, in order. */
  retain(keep: (m: unknown) => boolean): void {
    const kept: unknown[] = [];
    for (let k = 0; k < this.size; k++) {
      const m = this.buf[(this.head + k) & this.mask];
      if (keep(m)) kept.push(m);
    }
    this.reset();
    for (const m of kept) this.push(m);
  }

  toArray(): unknown[] {
    const out: unknown[] = [];
    for (let k = 0; k < this.size; k++) out.push(this.buf[(this.head + k) & this.mask]);
    return out;
  }

  private grow(): void {
    const old = this.buf;
    const cap = old.length * 2;
    const next = new Array<unknown>(cap);
    for (let k = 0; k < this.size; k++) next[k] = old[(this.head + k) & this.mask];
    this.buf = next;
    this.mask = cap - 1;
    this.head = 0;
  }

  private reset(): void {
    this.buf = new Array<unknown>(MIN_CAPACITY);
    this.mask = MIN_CAPACITY - 1;
    this.head = 0;
    this.size = 0;
  }
}
