// Distribution settings: parsed and checked once, then frozen. The cookie comes
// from the config, the DQ_COOKIE variable or a cookie file; a development default
// is allowed only outside production and is reported as a warning.
import { readFileSync } from 'node:fs';
import { maxBusyWaitUs } from './busywait.js';
import { parseNodeName } from './names.js';

export interface TlsConfig {
  readonly certFile: string;
  readonly keyFile: string;
  /** CA bundle for verifying peers; when set, peers must present certificates it signed. */
  readonly caFile?: string;
}

export interface DistConfigInput {
  /** `name@host:port`; port 0 picks a free port (the node's name then carries the bound port). */
  readonly node: string;
  readonly cookie?: string;
  readonly cookieFile?: string;
  /** A hidden node (gateway, REPL) connects without joining the mesh. */
  readonly hidden?: boolean;
  /** Accept inbound connections (default true). A hidden client may turn it off. */
  readonly listen?: boolean;
  readonly tickMs?: number;
  /** A peer silent for tickMs × timeoutTicks is disconnected. */
  readonly timeoutTicks?: number;
  readonly maxFrameBytes?: number;
  /** Above this, trySend reports back-pressure. */
  readonly softBufferedBytes?: number;
  /** Above this, the connection is closed (`send_buffer_overflow`) rather than grow without bound. */
  readonly hardBufferedBytes?: number;
  readonly handshakeTimeoutMs?: number;
  readonly reconnectMinMs?: number;
  readonly reconnectMaxMs?: number;
  /** Operations coalesced into one frame at most. */
  readonly maxOpsPerFrame?: number;
  /**
   * Spin before sleep (BEAM `+sbwt`): the default ws transport keeps polling for this many µs after each
   * frame instead of sleeping, trading CPU for wake-up latency. 0 (default) is off; else DQ_BUSY_WAIT_US.
   */
  readonly busyWaitUs?: number;
  readonly tls?: TlsConfig;
}

export interface DistConfig {
  readonly node: string;
  readonly host: string;
  readonly port: number;
  readonly cookie: string;
  readonly hidden: boolean;
  readonly listen: boolean;
  readonly tickMs: number;
  readonly timeoutTicks: number;
  readonly maxFrameBytes: number;
  readonly softBufferedBytes: number;
  readonly hardBufferedBytes: number;
  readonly handshakeTimeoutMs: number;
  readonly reconnectMinMs: number;
  readonly reconnectMaxMs: number;
  readonly maxOpsPerFrame: number;
  readonly busyWaitUs: number;
  readonly tls: TlsConfig | undefined;
}

export const DEV_COOKIE = 'distriqueue-dev-cookie';

export type ConfigResult =
  | { readonly ok: true; readonly config: DistConfig; readonly warnings: readonly string[] }
  | { readonly ok: false; readonly field: string; readonly error: string };

export interface ConfigSources {
  /** Environment variables (pass process.env at the edge). */
  readonly env: Readonly<Record<string, string | undefined>>;
  readonly readFile: (path: string) => string;
}

function posInt(v: unknown, def: number): number | undefined {
  if (v === undefined) return def;
  return typeof v === 'number' && Number.isInteger(v) && v > 0 ? v : undefined;
}

/** The process's own environment and file system: the edge where config is read. */
export function processSources(): ConfigSources {
  return { env: process.env, readFile: (path) => readFileSync(path, 'utf8') };
}

export function resolveDistConfig(input: DistConfigInput, src: ConfigSources): ConfigResult {
  const addr = parseNodeName(input.node);
  if (addr === undefined) return { ok: false, field: 'node', error: `expected name@host:port, got ${JSON.stringify(input.node)}` };
  const warnings: string[] = [];
  // Precedence: the config's cookie, the config's cookie file, DQ_COOKIE, DQ_COOKIE_FILE.
  let cookie = input.cookie ?? (input.cookieFile === undefined ? src.env.DQ_COOKIE : undefined);
  const cookieFile = input.cookieFile ?? src.env.DQ_COOKIE_FILE;
  if (cookie === undefined && cookieFile !== undefined) {
    try {
      cookie = src.readFile(cookieFile).trim();
    } catch (e) {
      return { ok: false, field: 'cookieFile', error: `cannot read ${cookieFile}: ${(e as Error).message}` };
    }
  }
  if (cookie === undefined) {
    if (src.env.NODE_ENV === 'production') return { ok: false, field: 'cookie', error: 'no cookie configured (set DQ_COOKIE or DQ_COOKIE_FILE)' };
    cookie = DEV_COOKIE;
    warnings.push('using the built-in development cookie: any process on the network that knows it can join; set DQ_COOKIE in production');
  }
  if (cookie.length < 8) return { ok: false, field: 'cookie', error: 'the cookie must be at least 8 characters' };
  const nums: [keyof DistConfigInput, number][] = [
    ['tickMs', 500],
    ['timeoutTicks', 4],
    ['maxFrameBytes', 16 * 1024 * 1024],
    ['softBufferedBytes', 8 * 1024 * 1024],
    ['hardBufferedBytes', 64 * 1024 * 1024],
    ['handshakeTimeoutMs', 5000],
    ['reconnectMinMs', 100],
    ['reconnectMaxMs', 5000],
    ['maxOpsPerFrame', 512],
  ];
  const out: Record<string, number> = {};
  for (const [k, def] of nums) {
    const v = posInt(input[k], def);
    if (v === undefined) return { ok: false, field: k, error: `must be a positive integer, got ${JSON.stringify(input[k])}` };
    out[k] = v;
  }
  if (out.hardBufferedBytes! < out.softBufferedBytes!) return { ok: false, field: 'hardBufferedBytes', error: 'must be at least softBufferedBytes' };
  if (out.reconnectMaxMs! < out.reconnectMinMs!) return { ok: false, field: 'reconnectMaxMs', error: 'must be at least reconnectMinMs' };
  // The config's busyWaitUs, else DQ_BUSY_WAIT_US, else 0 (off, so idle nodes and tests burn no CPU).
  const envBusy = src.env.DQ_BUSY_WAIT_US;
  const busyWaitUs = input.busyWaitUs ?? (envBusy === undefined || envBusy.trim() === '' ? 0 : Number(envBusy));
  if (!Number.isInteger(busyWaitUs) || busyWaitUs < 0 || busyWaitUs > maxBusyWaitUs) {
    const given = input.busyWaitUs === undefined ? `DQ_BUSY_WAIT_US=${JSON.stringify(envBusy)}` : JSON.stringify(input.busyWaitUs);
    return { ok: false, field: 'busyWaitUs', error: `must be an integer from 0 to ${maxBusyWaitUs} (µs), got ${given}` };
  }
  // A healthy idle peer may stay silent for almost two ticks (it ticks only when it has sent nothing for a whole
  // tick, and its timer is checked once a tick), so a limit of two ticks could disconnect it.
  if (out.timeoutTicks! < 3) return { ok: false, field: 'timeoutTicks', error: 'must be at least 3 (a healthy idle peer may be silent for almost two ticks)' };
  const config: DistConfig = Object.freeze({
    node: input.node,
    host: addr.host,
    port: addr.port,
    cookie,
    hidden: input.hidden ?? false,
    listen: input.listen ?? true,
    tickMs: out.tickMs!,
    timeoutTicks: out.timeoutTicks!,
    maxFrameBytes: out.maxFrameBytes!,
    softBufferedBytes: out.softBufferedBytes!,
    hardBufferedBytes: out.hardBufferedBytes!,
    handshakeTimeoutMs: out.handshakeTimeoutMs!,
    reconnectMinMs: out.reconnectMinMs!,
    reconnectMaxMs: out.reconnectMaxMs!,
    maxOpsPerFrame: out.maxOpsPerFrame!,
    busyWaitUs,
    tls: input.tls === undefined ? undefined : Object.freeze({ ...input.tls }),
  });
  return { ok: true, config, warnings };
}
