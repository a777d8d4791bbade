// The boundary of the job registry: TypeBox schemas for the commands that
// travel in the Raft log and the queries that reach the state machine, each
// compiled once. A log entry is checked here before anything is decided (a
// member must never throw on a bad entry: every member would throw on the same
// one), so a malformed command is applied as a typed `invalid_command`
// rejection naming the field, and changes nothing.
import { type Static, type TSchema, Type } from '@sinclair/typebox';
import { TypeCompiler } from '@sinclair/typebox/compiler';
import type { BatchedCommand, RegistryCommand, RegistryQuery } from './types.js';
import { JOB_STATUSES, MAX_PRIORITY, MIN_PRIORITY } from './types.js';

/** Bounds on what one command may carry. Payloads are bounded again by size in the store. */
export const registryLimits = Object.freeze({
  maxIdChars: 128,
  maxTypeChars: 100,
  maxWorkerChars: 200,
  maxKeyChars: 200,
  maxErrorChars: 4000,
  maxMetadataEntries: 64,
  maxMetadataKeyChars: 128,
  maxMetadataValueChars: 1000,
  maxRetries: 100,
  maxTimeoutS: 7 * 24 * 3600,
  /** JSON characters of a payload, and of a result. */
  maxPayloadChars: 1024 * 1024,
  maxPruneLimit: 100_000,
  /** Commands in one batch entry. */
  maxCommandsPerEntry: 2_000,
});

const L = registryLimits;
// Strings stored in their own SQLite column must be well-formed UTF-16: SQLite keeps text as UTF-8, so a lone
// surrogate would read back changed (and a job restored from a snapshot would no longer match its own row's id).
const WELL_FORMED = '^(?:[^\\uD800-\\uDFFF]|[\\uD800-\\uDBFF][\\uDC00-\\uDFFF])*$';
const Text = (minLength: number, maxLength: number) => Type.String({ minLength, maxLength, pattern: WELL_FORMED });
const Id = Text(1, L.maxIdChars);
// Safe integers only: a larger time would make a list cursor that decodeCursor refuses.
const Time = Type.Integer({ minimum: 0, maximum: Number.MAX_SAFE_INTEGER });
const Attempt = Type.Integer({ minimum: 1 });
const Worker = Text(1, L.maxWorkerChars);
const Status = Type.Union(JOB_STATUSES.map((s) => Type.Literal(s)));
const Priority = Type.Integer({ minimum: MIN_PRIORITY, maximum: MAX_PRIORITY });

/** A submit's fields, with `at` as given (required in an entry of its own, optional inside a batch). */
const submitT = <A extends TSchema>(at: A) =>
  Type.Object({
    c: Type.Literal('submit'),
    id: Id,
    at,
    type: Text(1, L.maxTypeChars),
    priority: Priority,
    payload: Type.Optional(Type.Record(Type.String(), Type.Unknown())),
    maxRetries: Type.Optional(Type.Integer({ minimum: 0, maximum: L.maxRetries })),
    timeoutS: Type.Optional(Type.Integer({ minimum: 1, maximum: L.maxTimeoutS })),
    // A key outside 1..maxMetadataKeyChars matches no pattern property, so it is refused as unexpected.
    metadata: Type.Optional(
      Type.Record(Type.String({ pattern: `^[\\s\\S]{1,${L.maxMetadataKeyChars}}$` }), Type.String({ maxLength: L.maxMetadataValueChars }), {
        maxProperties: L.maxMetadataEntries,
        additionalProperties: false,
      }),
    ),
    parentId: Type.Optional(Id),
    idempotencyKey: Type.Optional(Text(1, L.maxKeyChars)),
    runAt: Type.Optional(Time),
  });

/** The job commands (all but prune and batch), with `at` as given. */
const jobCommandsT = <A extends TSchema>(at: A) => {
  const job = <C extends string, T extends Record<string, TSchema>>(c: C, fields: T) => Type.Object({ c: Type.Literal(c), id: Id, at, ...fields });
  return [
    submitT(at),
    job('dispatch', { attempt: Attempt }),
    job('redispatch', { attempt: Attempt }),
    job('start', { attempt: Attempt, worker: Worker }),
    job('progress', { attempt: Attempt, worker: Type.Optional(Worker), progress: Type.Number({ minimum: 0, maximum: 100 }) }),
    job('complete', { attempt: Attempt, worker: Type.Optional(Worker), result: Type.Optional(Type.Unknown()) }),
    job('fail', { attempt: Attempt, worker: Type.Optional(Worker), error: Text(0, L.maxErrorChars), timeout: Type.Optional(Type.Boolean()) }),
    job('retry', { attempt: Attempt, runAt: Time }),
    job('dead', { attempt: Attempt, reason: Type.Optional(Text(0, L.maxErrorChars)) }),
    job('cancel', { attempt: Type.Optional(Attempt), reason: Type.Optional(Text(0, L.maxErrorChars)) }),
  ] as const;
};

export const CommandT = Type.Union([
  ...jobCommandsT(Time),
  Type.Object({ c: Type.Literal('prune'), at: Time, before: Time, limit: Type.Integer({ minimum: 1, maximum: L.maxPruneLimit }) }),
  // Each command inside is checked on its own when applied (checkBatchedCommand: a bad one is rejected, the others
  // apply). `at` is the time of those that carry none (every one job_registry sends).
  Type.Object({ c: Type.Literal('batch'), at: Type.Optional(Time), commands: Type.Array(Type.Unknown(), { minItems: 1, maxItems: L.maxCommandsPerEntry }) }),
]);

/** A command inside a batch: a job command whose `at` may be left to the batch's. */
export const BatchedCommandT = Type.Union([...jobCommandsT(Type.Optional(Time))]);

const Limit = Type.Integer({ minimum: 1 });

export const QueryT = Type.Union([
  Type.Object({ q: Type.Literal('get'), id: Type.String() }),
  Type.Object({ q: Type.Literal('byKey'), key: Type.String() }),
  Type.Object({
    q: Type.Literal('list'),
    filter: Type.Optional(
      Type.Object({
        status: Type.Optional(Status),
        type: Type.Optional(Type.String()),
        priority: Type.Optional(Type.Integer()),
        worker: Type.Optional(Type.String()),
        createdFrom: Type.Optional(Type.Integer()),
        createdTo: Type.Optional(Type.Integer()),
      }),
    ),
    limit: Type.Optional(Limit),
    cursor: Type.Optional(Type.String({ maxLength: 1000 })),
    order: Type.Optional(Type.Union([Type.Literal('asc'), Type.Literal('desc')])),
  }),
  Type.Object({ q: Type.Literal('stats'), now: Time, windowMs: Type.Optional(Type.Integer({ minimum: 1 })) }),
  Type.Object({ q: Type.Literal('events'), after: Type.Integer({ minimum: 0 }), limit: Type.Optional(Limit) }),
  Type.Object({ q: Type.Literal('due'), now: Time, limit: Type.Optional(Limit) }),
  Type.Object({ q: Type.Literal('overdue'), status: Type.Union([Type.Literal('dispatched'), Type.Literal('running')]), before: Time, limit: Type.Optional(Limit) }),
]);

// The schemas must describe exactly the static types in types.ts.
type Same<A, B> = [A] extends [B] ? ([B] extends [A] ? true : false) : false;
const commandsAgree: Same<Static<typeof CommandT>['c'], RegistryCommand['c']> = true;
const queriesAgree: Same<Static<typeof QueryT>['q'], RegistryQuery['q']> = true;
void commandsAgree;
void queriesAgree;

export type Checked<T> = { readonly ok: true; readonly value: T } | { readonly ok: false; readonly field: string; readonly message: string };

type Compiled = ReturnType<typeof TypeCompiler.Compile>;

/**
 * A checker for a union tagged by `tag`: the tag picks the one branch to check
 * (faster than trying every branch, and its errors name the real field instead
 * of "expected one of the union").
 */
export function taggedChecker<T>(union: { anyOf: TSchema[] }, tag: string): (x: unknown) => Checked<T> {
  const branches = new Map<string, Compiled>();
  for (const b of union.anyOf) {
    const lit = (b as unknown as { properties: Record<string, { const: string }> }).properties[tag]!.const;
    branches.set(lit, TypeCompiler.Compile(b));
  }
  const names = [...branches.keys()].join(', ');
  return (x) => {
    if (x === null || typeof x !== 'object' || Array.isArray(x)) return { ok: false, field: '', message: 'expected an object' };
    const t = (x as Record<string, unknown>)[tag];
    const check = typeof t === 'string' ? branches.get(t) : undefined;
    if (check === undefined) return { ok: false, field: tag, message: `expected one of: ${names}` };
    if (check.Check(x)) return { ok: true, value: x as T };
    const first = check.Errors(x).First();
    if (first === undefined) return { ok: false, field: '', message: 'invalid' };
    return { ok: false, field: first.path.replace(/^\//, '').replace(/\//g, '.'), message: first.message };
  };
}

/** Validate a log entry's command. */
export const checkCommand = taggedChecker<RegistryCommand>(CommandT, 'c');
/** Validate a command inside a batch entry (or a batch request's, before job_registry proposes it). */
export const checkBatchedCommand = taggedChecker<BatchedCommand>(BatchedCommandT, 'c');

/**
 * A batch entry's command as the machine takes it: a job command (a nested batch or a prune is refused, naming
 * `c`), checked on its own, with the time it applies at: its own, else the batch's (`batchAt`; neither is
 * refused, naming `at`). Fields are relative to the command.
 */
export function checkInBatch(raw: unknown, batchAt: number | undefined): Checked<{ readonly command: BatchedCommand; readonly at: number }> {
  const tag = typeof raw === 'object' && raw !== null ? (raw as { c?: unknown }).c : undefined;
  if (tag === 'batch' || tag === 'prune') return { ok: false, field: 'c', message: `a batch holds job commands, not ${tag}` };
  const checked = checkBatchedCommand(raw);
  if (!checked.ok) return checked;
  const at = checked.value.at ?? batchAt;
  if (at === undefined) return { ok: false, field: 'at', message: 'a command in a batch without a time of its own needs the batch to have one' };
  return { ok: true, value: { command: checked.value, at } };
}
/** Validate a query. */
export const checkQuery = taggedChecker<RegistryQuery>(QueryT, 'q');
