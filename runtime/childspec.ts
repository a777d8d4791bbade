// Child specs and supervisor flags: merged with OTP's defaults and checked by one
// small validator per field, each failing with a tagged error (supervisor.erl's
// check_childspec / check_flags). Pure: no process is touched here.
import type { ProcessContext } from './kernel.js';
import type { StartResult } from './server.js';

export type Strategy = 'one_for_one' | 'one_for_all' | 'rest_for_one' | 'simple_one_for_one';
export type RestartType = 'permanent' | 'transient' | 'temporary';
export type Shutdown = number | 'brutal_kill' | 'infinity';
export type ChildType = 'worker' | 'supervisor';

/**
 * Starts the child linked to `parent` (the supervisor). For simple_one_for_one,
 * `extra` is what startChild was given (OTP appends it to the MFA's arguments).
 */
export type StartFn = (parent: ProcessContext, extra?: unknown) => StartResult | Promise<StartResult>;

export interface ChildSpec {
  readonly id: string;
  readonly start: StartFn;
  /** Default `permanent`. */
  readonly restart?: RestartType;
  /** Default 5000 for a worker, `infinity` for a supervisor. */
  readonly shutdown?: Shutdown;
  /** Default `worker`. */
  readonly type?: ChildType;
  /** Informational, as in OTP (release handling); shown by whichChildren. */
  readonly modules?: readonly string[];
}

export interface NormalChildSpec {
  readonly id: string;
  readonly start: StartFn;
  readonly restart: RestartType;
  readonly shutdown: Shutdown;
  readonly type: ChildType;
  readonly modules: readonly string[];
}

export interface SupFlags {
  /** Default `one_for_one`. */
  readonly strategy?: Strategy;
  /** Default 1. */
  readonly intensity?: number;
  /** Milliseconds; default 5000. */
  readonly period?: number;
}

export interface NormalSupFlags {
  readonly strategy: Strategy;
  readonly intensity: number;
  readonly period: number;
}

export type SpecError =
  | { readonly type: 'missing_id' }
  | { readonly type: 'invalid_child_id'; readonly value: string }
  | { readonly type: 'missing_start' }
  | { readonly type: 'invalid_start'; readonly value: string }
  | { readonly type: 'invalid_restart_type'; readonly value: string }
  | { readonly type: 'invalid_shutdown'; readonly value: string }
  | { readonly type: 'invalid_child_type'; readonly value: string }
  | { readonly type: 'invalid_modules'; readonly value: string }
  | { readonly type: 'duplicate_child_id'; readonly id: string }
  | { readonly type: 'invalid_strategy'; readonly value: string }
  | { readonly type: 'invalid_intensity'; readonly value: string }
  | { readonly type: 'invalid_period'; readonly value: string }
  /** simple_one_for_one takes exactly one (template) spec. */
  | { readonly type: 'bad_start_spec'; readonly detail: string };

export type Checked<T> = { readonly type: 'ok'; readonly value: T } | { readonly type: 'error'; readonly error: SpecError };

export const DEFAULT_FLAGS: NormalSupFlags = { strategy: 'one_for_one', intensity: 1, period: 5000 };
export const DEFAULT_WORKER_SHUTDOWN = 5000;

const show = (v: unknown): string => {
  if (typeof v === 'function') return '[function]';
  try {
    return JSON.stringify(v) ?? String(v);
  } catch {
    return String(v);
  }
};

class SpecFailure {
  constructor(readonly error: SpecError) {}
}

function fail(error: SpecError): never {
  throw new SpecFailure(error);
}

function oneOf<T extends string>(v: unknown, allowed: readonly T[], err: (value: string) => SpecError): T {
  if (typeof v === 'string' && (allowed as readonly string[]).includes(v)) return v as T;
  return fail(err(show(v)));
}

const validRestart = (v: unknown): RestartType =>
  oneOf(v, ['permanent', 'transient', 'temporary'], (value) => ({ type: 'invalid_restart_type', value }));
const validType = (v: unknown): ChildType => oneOf(v, ['worker', 'supervisor'], (value) => ({ type: 'invalid_child_type', value }));
const validStrategy = (v: unknown): Strategy =>
  oneOf(v, ['one_for_one', 'one_for_all', 'rest_for_one', 'simple_one_for_one'], (value) => ({ type: 'invalid_strategy', value }));

function validShutdown(v: unknown): Shutdown {
  if (v === 'brutal_kill' || v === 'infinity') return v;
  if (typeof v === 'number' && Number.isInteger(v) && v >= 0) return v;
  return fail({ type: 'invalid_shutdown', value: show(v) });
}

function validModules(v: unknown): readonly string[] {
  if (Array.isArray(v) && v.every((m) => typeof m === 'string')) return v as string[];
  return fail({ type: 'invalid_modules', value: show(v) });
}

function validNonNegInt(v: unknown, err: (value: string) => SpecError): number {
  if (typeof v === 'number' && Number.isInteger(v) && v >= 0) return v;
  return fail(err(show(v)));
}

function checked<T>(f: () => T): Checked<T> {
  try {
    return { type: 'ok', value: f() };
  } catch (e) {
    if (e instanceof SpecFailure) return { type: 'error', error: e.error };
    throw e;
  }
}

function normalizeChild(raw: unknown): NormalChildSpec {
  if (typeof raw !== 'object' || raw === null) return fail({ type: 'missing_id' });
  const r = raw as Record<string, unknown>;
  if (!('id' in r) || r.id === undefined) fail({ type: 'missing_id' });
  if (typeof r.id !== 'string' || r.id.length === 0) fail({ type: 'invalid_child_id', value: show(r.id) });
  if (!('start' in r) || r.start === undefined) fail({ type: 'missing_start' });
  if (typeof r.start !== 'function') fail({ type: 'invalid_start', value: show(r.start) });
  const type = r.type === undefined ? 'worker' : validType(r.type);
  return {
    id: r.id as string,
    start: r.start as StartFn,
    restart: r.restart === undefined ? 'permanent' : validRestart(r.restart),
    // OTP: a supervisor child gets `infinity` so its own children can shut down in order.
    shutdown: r.shutdown === undefined ? (type === 'supervisor' ? 'infinity' : DEFAULT_WORKER_SHUTDOWN) : validShutdown(r.shutdown),
    type,
    modules: r.modules === undefined ? [] : validModules(r.modules),
  };
}

/** check_childspec: one spec, defaults merged. */
export function checkChildSpec(raw: unknown): Checked<NormalChildSpec> {
  return checked(() => normalizeChild(raw));
}

/** check_flags. */
export function checkFlags(raw: unknown): Checked<NormalSupFlags> {
  return checked(() => {
    const r = (typeof raw === 'object' && raw !== null ? raw : {}) as Record<string, unknown>;
    const intensity = r.intensity === undefined ? DEFAULT_FLAGS.intensity : validNonNegInt(r.intensity, (value) => ({ type: 'invalid_intensity', value }));
    const period = r.period === undefined ? DEFAULT_FLAGS.period : validNonNegInt(r.period, (value) => ({ type: 'invalid_period', value }));
    if (period === 0) fail({ type: 'invalid_period', value: '0' });
    return { strategy: r.strategy === undefined ? DEFAULT_FLAGS.strategy : validStrategy(r.strategy), intensity, period };
  });
}

/** check_startspec: flags and every child, duplicates and the simple_one_for_one rule. */
export function checkSupervisorSpec(flags: unknown, children: readonly unknown[]): Checked<{ flags: NormalSupFlags; children: NormalChildSpec[] }> {
  return checked(() => {
    const f = checkFlags(flags);
    if (f.type === 'error') fail(f.error);
    const seen = new Set<string>();
    const specs = children.map((c) => {
      const spec = normalizeChild(c);
      if (seen.has(spec.id)) fail({ type: 'duplicate_child_id', id: spec.id });
      seen.add(spec.id);
      return spec;
    });
    if (f.value.strategy === 'simple_one_for_one' && specs.length !== 1) {
      fail({ type: 'bad_start_spec', detail: `simple_one_for_one needs exactly one child spec, got ${specs.length}` });
    }
    return { flags: f.value, children: specs };
  });
}
