// The runtime's error registry: every error it throws has a stable code, so
// callers switch on `code`, never on message text. Codes are never reused.
import type { ExitReason } from './types.js';
import { formatReason } from './types.js';

export const RuntimeErrorCodes = {
  name_taken: 'the name is already registered to another process',
  already_registered: 'the process already has a registered name',
  invalid_name: 'names are non-empty strings that do not start with "<"',
  not_registered: 'no process is registered under that name',
  noproc: 'the process does not exist',
  calling_self: 'a server cannot call itself',
  call_timeout: 'the call got no reply within its timeout',
  server_exited: 'the server exited before replying',
  dead_process: 'the calling process has already exited',
  start_failed: 'a process failed to start',
  nodedown: 'the node is not connected or went down',
} as const;

export type RuntimeErrorCode = keyof typeof RuntimeErrorCodes;

export class RuntimeError extends Error {
  readonly code: RuntimeErrorCode;
  constructor(code: RuntimeErrorCode, detail?: string) {
    super(detail === undefined ? RuntimeErrorCodes[code] : `${RuntimeErrorCodes[code]}: ${detail}`);
    this.name = 'RuntimeError';
    this.code = code;
  }
}

/** `call` got no reply in time. A reply that arrives later is dropped. */
export class CallTimeout extends RuntimeError {
  readonly timeoutMs: number;
  constructor(timeoutMs: number) {
    super('call_timeout', `${timeoutMs} ms`);
    this.name = 'CallTimeout';
    this.timeoutMs = timeoutMs;
  }
}

/** `call` to a pid or name with no live process behind it. */
export class NoProc extends RuntimeError {
  constructor(dest: string) {
    super('noproc', dest);
    this.name = 'NoProc';
  }
}

/** The server exited while the call was in flight; `reason` is its exit reason. */
export class ServerExited extends RuntimeError {
  readonly reason: ExitReason;
  constructor(reason: ExitReason) {
    super('server_exited', formatReason(reason));
    this.name = 'ServerExited';
    this.reason = reason;
  }
}

/** The node of a remote server is not connected, or its connection dropped while the call was in flight. */
export class NodeDown extends RuntimeError {
  readonly node: string;
  constructor(node: string) {
    super('nodedown', node);
    this.name = 'NodeDown';
    this.node = node;
  }
}

/**
 * Thrown by `exit(reason)` inside a process to end it at once, as Erlang's
 * exit/1 does. The runtime catches it and terminates the process with `reason`;
 * user code should let it propagate.
 */
export class ExitSignal extends Error {
  readonly reason: ExitReason;
  constructor(reason: ExitReason) {
    super(`exit: ${formatReason(reason)}`);
    this.name = 'ExitSignal';
    this.reason = reason;
  }
}
