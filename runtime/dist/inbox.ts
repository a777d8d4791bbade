// What a connection has received, held until its owner takes it: shared by the
// ws and in-memory transports so they agree on ordering and close reporting.
import type { Conn } from './transport.js';

/** Frames held for an owner that has not set onFrame yet; beyond this the link is closed. */
export const maxHeldFrames = 10_000;

const noop = (): void => {};

/**
 * What a Conn has received, handed to its owner in order: every frame, then the
 * close, each once. An event that arrives before the owner has set the matching
 * handler waits for it: a frame landing between connect() resolving and the
 * owner assigning onFrame must not be lost. Frames go straight to the handler
 * when nothing is held; held events are handed over from `schedule` (never
 * inside the owner's own assignment, so the owner can finish wiring first), and
 * the close is always reported from `schedule` (never inside close()). Shared by
 * both transports so they agree on these orderings.
 */
export class ConnInbox {
  private frameHandler: ((data: string) => void) | null = null;
  private closeHandler: ((reason: string) => void) | null = null;
  private held: string[] = [];
  private heldHead = 0;
  private reason: string | null = null;
  private reported = false;
  private pumpPending = false;

  constructor(private readonly schedule: (fn: () => void) => void) {}

  /** True once the link is gone (reported to the owner or not yet). */
  get closed(): boolean {
    return this.reason !== null;
  }

  get onFrame(): (data: string) => void {
    return this.frameHandler ?? noop;
  }

  set onFrame(fn: (data: string) => void) {
    this.frameHandler = fn;
    this.schedulePump();
  }

  get onClose(): (reason: string) => void {
    return this.closeHandler ?? noop;
  }

  set onClose(fn: (reason: string) => void) {
    this.closeHandler = fn;
    this.schedulePump();
  }

  /** A frame arrived. Returns false when it would exceed maxHeldFrames (the caller closes the link). */
  frame(data: string): boolean {
    if (this.reason !== null) return true; // the link is gone for the owner: nothing more is handed over
    if (this.frameHandler !== null && this.heldHead === this.held.length) {
      this.frameHandler(data);
      return true;
    }
    if (this.held.length - this.heldHead >= maxHeldFrames) return false;
    this.held.push(data);
    return true;
  }

  /**
   * The link is gone; the first reason wins. `dropHeld` for the owner's own
   * close: it wants no more frames, even those already received.
   */
  close(reason: string, dropHeld: boolean): void {
    if (this.reason !== null) return;
    this.reason = reason;
    if (dropHeld) this.dropHeld();
    this.schedulePump();
  }

  private dropHeld(): void {
    this.held = [];
    this.heldHead = 0;
  }

  private schedulePump(): void {
    if (this.pumpPending) return;
    this.pumpPending = true;
    this.schedule(() => this.pump());
  }

  private pump(): void {
    this.pumpPending = false;
    // A handler may close (dropping what is held) or receive more frames (appended) while we loop.
    while (this.frameHandler !== null && this.heldHead < this.held.length) {
      const data = this.held[this.heldHead++]!;
      this.frameHandler(data);
    }
    if (this.heldHead === this.held.length) this.dropHeld();
    else return; // frames still wait for onFrame, and the close comes after them
    if (this.reason !== null && !this.reported && this.closeHandler !== null) {
      this.reported = true;
      this.closeHandler(this.reason);
    }
  }
}


/** The Conn accessors every transport shares: frames and the close go through a ConnInbox. */
export abstract class InboxConn implements Pick<Conn, 'onFrame' | 'onClose'> {
  constructor(protected readonly inbox: ConnInbox) {}

  get onFrame(): (data: string) => void {
    return this.inbox.onFrame;
  }

  set onFrame(fn: (data: string) => void) {
    this.inbox.onFrame = fn;
  }

  get onClose(): (reason: string) => void {
    return this.inbox.onClose;
  }

  set onClose(fn: (reason: string) => void) {
    this.inbox.onClose = fn;
  }
}
