// A message whose JSON text the sender already has. The distribution layer puts
// the text into the frame as it is instead of serialising the value again (a
// Raft leader sends the same entries to every follower, and has their text from
// measuring them); the receiver parses the frame as usual and gets the value.
// Only Runtime.sendEncoded makes one, and only for a process on another node:
// a local process is sent the value itself, so no process ever receives this.
export class PreEncoded {
  constructor(
    readonly value: unknown,
    /** JSON.stringify(value), exactly: the receiver gets JSON.parse(json). */
    readonly json: string,
  ) {}
}
