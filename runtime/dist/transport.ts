// The transport port: what the distribution layer needs from a network. Two
// implementations: WebSocket (production, ws.ts) and in-memory (tests and
// simulations, memory.ts); one conformance suite runs against both.

/** One established, ordered, reliable, message-framed duplex link. */
export interface Conn {
  /**
   * Queue one frame: its text, or pieces whose concatenation is its text (a big frame, which the
   * transport writes into one buffer instead of making it a string first). Order is preserved per connection.
   */
  send(data: string | readonly string[]): void;
  /** Bytes queued but not yet written (ws's bufferedAmount). */
  bufferedBytes(): number;
  /** Orderly close; the peer sees `reason`. Idempotent. */
  close(reason: string): void;
  /** Set once by the owner: each received frame, in order. */
  onFrame: (data: string) => void;
  /** Set once by the owner: called exactly once when the link is gone (either side, or failure). */
  onClose: (reason: string) => void;
  /** Called when buffered bytes fall back to zero after back-pressure (best effort). */
  onDrain: () => void;
}

export interface Listener {
  /** The port actually bound (useful after asking for port 0). */
  readonly port: number;
  close(): Promise<void>;
}

export interface Transport {
  listen(host: string, port: number, onConn: (conn: Conn) => void): Promise<Listener>;
  /** Rejects when the peer cannot be reached. */
  connect(host: string, port: number): Promise<Conn>;
}
