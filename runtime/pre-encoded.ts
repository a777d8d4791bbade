// A message whose JSON text the sender already has. The distribution layer puts
// the text into the frame as it is instead of serialising the value again (a
// Raft leader sends the same entries to every follower, and has their text from
// measuring them); the receiver parses the frame as usual and gets the value.
// Only Runtime.sendEncoded makes one, and only for a process on another node:
// a local process is sent the value itself, so no process ever receives this.
export class PreEncoded {
  constructor(
    readonly value: unknown,
    /** JSON.stringify(value), exactly (or pieces whose concatenation it is): the receiver gets JSON.parse of it. */
    readonly json: JsonText,
  ) {}
}

/**
 * JSON text, whole or as pieces to be concatenated. Pieces let a big text (a Raft append of 100+ KB)
 * reach the socket without ever being one V8 string: each such string is a fresh large-object
 * allocation, and joining, flattening and encoding it again are copies of the whole.
 */
export type JsonText = string | readonly string[];
