// Structured reports of what the runtime does. The REPL, dashboard, metrics and
// logs all subscribe here; nothing is formatted until a subscriber wants text.
import type { ExitReason, Pid } from './types.js';

export type SupervisorReportKind =
  | 'child_started'
  | 'child_terminated'
  | 'start_error'
  | 'shutdown'
  | 'shutdown_error';

export type RuntimeEvent =
  | {
      readonly type: 'process_started';
      readonly time: number;
      readonly pid: Pid;
      readonly behaviour: string;
      readonly parent: Pid | undefined;
    }
  | { readonly type: 'process_exited'; readonly time: number; readonly pid: Pid; readonly reason: ExitReason; readonly name: string | undefined }
  | {
      /** gen_server's "** Generic server terminating" report: a callback failed or asked to stop abnormally. */
      readonly type: 'server_terminated';
      readonly time: number;
      readonly pid: Pid;
      readonly name: string | undefined;
      readonly behaviour: string;
      readonly reason: ExitReason;
      readonly lastMessage: string;
    }
  | {
      /** A message a server had no handleInfo for: logged and dropped, as OTP does. */
      readonly type: 'unhandled_info';
      readonly time: number;
      readonly pid: Pid;
      readonly message: string;
    }
  | {
      /** A resource a process owned (ProcessContext.own) threw when closed at its death. */
      readonly type: 'resource_close_failed';
      readonly time: number;
      readonly pid: Pid;
      readonly error: string;
    }
  | {
      readonly type: 'supervisor_report';
      readonly time: number;
      readonly kind: SupervisorReportKind;
      readonly supervisor: Pid;
      readonly childId: string | undefined;
      readonly childPid: Pid | undefined;
      /** For `shutdown` this is `reached_max_restart_intensity`; otherwise the child's reason. */
      readonly reason: ExitReason | 'reached_max_restart_intensity' | undefined;
    };

export type RuntimeEventType = RuntimeEvent['type'];
export type Subscriber = (event: RuntimeEvent) => void;

export class EventBus {
  private subs: Subscriber[] = [];

  /** Subscribe; returns the function that unsubscribes. */
  subscribe(fn: Subscriber): () => void {
    this.subs = [...this.subs, fn];
    return () => {
      this.subs = this.subs.filter((s) => s !== fn);
    };
  }

  get active(): boolean {
    return this.subs.length > 0;
  }

  /**
   * Deliver synchronously, in subscription order, so that a trace is ordered like
   * the runtime's own steps. A subscriber that throws is removed and does not
   * stop the others: a broken log sink must not take the runtime down.
   */
  emit(event: RuntimeEvent): void {
    for (const s of this.subs) {
      try {
        s(event);
      } catch {
        this.subs = this.subs.filter((x) => x !== s);
      }
    }
  }
}
