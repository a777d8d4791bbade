// One node's registry machine, shared by its two users: raft_fsm creates and
// writes it (the handle is its `stateMachine` factory) and the job_registry
// process reads it for local queries and is told when events are applied. A
// raft_fsm restart makes a fresh machine (it replays snapshot + log into it),
// so readers always go through the handle, never keep the machine.
import { RegistryMachine } from './machine.js';
import type { RegistryUnsafe } from './transitions.js';
import type { RegistryStoreOptions } from './store.js';

export interface RegistryHandleOptions {
  readonly unsafe?: RegistryUnsafe;
  /**
   * Where each machine keeps its tables: memory by default, or `file`, a scratch file this node's
   * machine alone uses (each fresh machine starts it afresh): see store.ts. A node that keeps jobs for
   * the default 30 days wants a file.
   */
  readonly store?: Pick<RegistryStoreOptions, 'file' | 'cacheMiB'>;
}

export class RegistryHandle {
  private current: RegistryMachine | null = null;
  private listener: (() => void) | null = null;

  constructor(private readonly opts: RegistryHandleOptions = {}) {}

  /** raft_fsm's `stateMachine` argument: a fresh, empty machine (the previous one is closed). */
  readonly stateMachine = (): RegistryMachine => {
    this.current?.close();
    this.current = new RegistryMachine({ unsafe: this.opts.unsafe, store: this.opts.store, onApplied: () => this.listener?.() });
    return this.current;
  };

  /** The machine raft_fsm applies to now, or null before its first start. */
  machine(): RegistryMachine | null {
    return this.current;
  }

  /**
   * Be told when events were applied (called inside raft_fsm's process: send a message, do not work here; the
   * events themselves are read from the machine's feed).
   */
  listen(fn: (() => void) | null): void {
    this.listener = fn;
  }

  close(): void {
    this.current?.close();
    this.current = null;
  }
}
