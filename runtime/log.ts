// Runtime events to pino: crash and supervisor reports at error/warn, lifecycle
// at debug. Formatting happens here and only here.
import pino from 'pino';
import type { RuntimeEvent } from './events.js';
import type { Runtime } from './kernel.js';
import { formatReason, isNormalExit } from './types.js';

export type Logger = pino.Logger;

/** A pino logger writing JSON lines to stderr (stdout stays free for program output). */
export function createLogger(opts: { level?: string; name?: string } = {}): Logger {
  // No pid/hostname base fields: records carry process pids of their own.
  return pino({ name: opts.name ?? 'distriqueue', level: opts.level ?? 'info', base: null }, pino.destination(2));
}

function logEvent(log: Logger, e: RuntimeEvent): void {
  switch (e.type) {
    case 'process_started':
      log.debug({ process: e.pid, behaviour: e.behaviour, parent: e.parent }, 'process started');
      return;
    case 'process_exited':
      if (isNormalExit(e.reason)) log.debug({ process: e.pid, registeredName: e.name, reason: formatReason(e.reason) }, 'process exited');
      else log.warn({ process: e.pid, registeredName: e.name, reason: e.reason }, 'process exited abnormally');
      return;
    case 'server_terminated':
      log.error({ process: e.pid, registeredName: e.name, behaviour: e.behaviour, reason: e.reason, lastMessage: e.lastMessage }, 'server terminating');
      return;
    case 'unhandled_info':
      log.warn({ process: e.pid, message: e.message }, 'unexpected message dropped (no handleInfo)');
      return;
    case 'resource_close_failed':
      log.error({ process: e.pid, error: e.error }, 'a resource the process owned failed to close at its death');
      return;
    case 'supervisor_report': {
      const fields = { supervisor: e.supervisor, childId: e.childId, childPid: e.childPid, reason: e.reason };
      if (e.kind === 'child_started') log.debug(fields, 'supervisor: child started');
      else log.error(fields, `supervisor report: ${e.kind}`);
      return;
    }
  }
}

/** Subscribe a logger to a runtime; returns the unsubscribe function. */
export function attachLogger(rt: Runtime, log: Logger): () => void {
  return rt.subscribe((e) => logEvent(log, e));
}
