// The runtime's public surface. Application code imports from here only.
export type { Clock, Env, Rng, TimerHandle, Timers, WallClock } from './env.js';
export { seededRng } from './rng.js';
export { keepAlive, realEnv } from './adapters/real.js';
export { VirtualEnv, settle } from './adapters/virtual.js';
export * from './types.js';
export * from './errors.js';
export type { RuntimeEvent, RuntimeEventType, SupervisorReportKind } from './events.js';
export {
  Runtime,
  type CallOptions,
  type DemonitorOptions,
  type From,
  type ProcessBody,
  type ProcessContext,
  type ProcessInfo,
  type Resource,
  type RuntimeOptions,
  type SpawnOptions,
} from './kernel.js';
export * from './server.js';
export * from './childspec.js';
export { addRestart, type RestartDecision } from './intensity.js';
export * from './supervisor.js';
export { attachLogger, createLogger, type Logger } from './log.js';
