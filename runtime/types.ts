// The runtime's vocabulary: process identifiers, references, exit reasons and
// the system messages (EXIT, DOWN) that the runtime itself puts in mailboxes.
// Everything here is plain JSON so that the distribution layer can carry it.

declare const pidBrand: unique symbol;
declare const refBrand: unique symbol;

/** A process identifier, printed like Erlang's: `<node.creation.serial>`. */
export type Pid = string & { readonly [pidBrand]: true };
/** A unique reference (monitor, timer, call). */
export type Ref = string & { readonly [refBrand]: true };

/** A registered name. Names never start with `<`, so a name is never mistaken for a pid. */
export type Name = string;
/** A name registered on a given node (Erlang's `{Name, Node}`). */
export interface RemoteName {
  readonly name: Name;
  readonly node: string;
}

/** Where a message can be sent: a pid, a local registered name, or a name on a node. */
export type Dest = Pid | Name | RemoteName;

export function isPid(dest: Dest): dest is Pid {
  return typeof dest === 'string' && dest.charCodeAt(0) === 60; // '<'
}

/**
 * The node a pid lives on. Pids print as `<node.creation.serial>` and a node
 * name may itself contain dots (127.0.0.1), so this parses from the end.
 */
export function nodeOfPid(pid: Pid): string {
  const body = pid.slice(1, -1);
  const s = body.lastIndexOf('.');
  return body.slice(0, body.lastIndexOf('.', s - 1));
}

/** A destination as text, for errors and reports. */
export function formatDest(dest: Dest): string {
  return typeof dest === 'string' ? dest : `{${dest.name},${dest.node}}`;
}

/**
 * Why a process ended. OTP allows any term; we allow the atoms the runtime
 * itself uses plus tagged variants, so a reason is always JSON and switchable.
 */
export type ExitReason =
  | 'normal'
  | 'shutdown'
  | 'kill'
  | 'killed'
  | 'noproc'
  | 'noconnection'
  | { readonly type: 'shutdown'; readonly detail: string }
  | { readonly type: 'error'; readonly name: string; readonly message: string; readonly code?: string; readonly stack?: string }
  | { readonly type: 'bad_return_value'; readonly value: string }
  | { readonly type: 'custom'; readonly value: string };

/**
 * OTP's notion of a "normal" termination for restart decisions: `normal`,
 * `shutdown` and `{shutdown, _}`. A transient child is not restarted for these.
 */
export function isNormalExit(reason: ExitReason): boolean {
  return reason === 'normal' || reason === 'shutdown' || (typeof reason === 'object' && reason.type === 'shutdown');
}

/** A short, stable, human-readable rendering of a reason (logs, REPL, reports). */
export function formatReason(reason: ExitReason): string {
  if (typeof reason === 'string') return reason;
  switch (reason.type) {
    case 'shutdown':
      return `{shutdown,${reason.detail}}`;
    case 'error':
      return `{${reason.code ?? reason.name},${reason.message}}`;
    case 'bad_return_value':
      return `{bad_return_value,${reason.value}}`;
    case 'custom':
      return reason.value;
  }
}

/** Turn anything thrown into an exit reason (a callback's throw becomes its exit reason). */
export function reasonFromThrown(thrown: unknown): ExitReason {
  if (thrown instanceof Error) {
    const code = (thrown as { code?: unknown }).code;
    return {
      type: 'error',
      name: thrown.name,
      message: thrown.message,
      ...(typeof code === 'string' ? { code } : {}),
      ...(thrown.stack !== undefined ? { stack: thrown.stack } : {}),
    };
  }
  return { type: 'error', name: 'NonErrorThrown', message: describe(thrown) };
}

/** Bounded description of an arbitrary value, for reports (never throws). */
export function describe(value: unknown, max = 200): string {
  let s: string;
  try {
    s = typeof value === 'string' ? JSON.stringify(value) : (JSON.stringify(value) ?? String(value));
  } catch {
    s = String(value);
  }
  return s.length > max ? `${s.slice(0, max)}…` : s;
}

/** Delivered to a process that traps exits, when a linked process exits or exit/2 targets it. */
export interface ExitMessage {
  readonly type: 'EXIT';
  readonly from: Pid;
  readonly reason: ExitReason;
}

/** Delivered to the holder of a monitor when the monitored process exits (or was never there). */
export interface DownMessage {
  readonly type: 'DOWN';
  readonly ref: Ref;
  readonly pid: Pid | Name;
  readonly reason: ExitReason;
}

export type SystemMessage = ExitMessage | DownMessage;

export function isExitMessage(m: unknown): m is ExitMessage {
  return typeof m === 'object' && m !== null && (m as { type?: unknown }).type === 'EXIT';
}

export function isDownMessage(m: unknown): m is DownMessage {
  return typeof m === 'object' && m !== null && (m as { type?: unknown }).type === 'DOWN';
}

export function assertNever(x: never): never {
  throw new Error(`unexpected value: ${describe(x)}`);
}
