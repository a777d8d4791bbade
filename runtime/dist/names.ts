// Node names (`name@host:port`) and which node a pid or ref belongs to. Pids are
// printed `<node.creation.serial>`; the node part may itself contain dots
// (127.0.0.1), so we parse from the end.
import type { Pid } from '../types.js';

export interface NodeAddress {
  readonly name: string;
  readonly host: string;
  readonly port: number;
}

const NODE_RE = /^([A-Za-z0-9_-]{1,64})@([A-Za-z0-9._-]{1,253}|\[[0-9a-fA-F:]{2,45}\]):(\d{1,5})$/;

/** Parse `name@host:port`; undefined when malformed. */
export function parseNodeName(node: string): NodeAddress | undefined {
  const m = NODE_RE.exec(node);
  if (m === null) return undefined;
  const port = Number(m[3]);
  if (port < 0 || port > 65535) return undefined;
  return { name: m[1]!, host: m[2]!.replace(/^\[|\]$/g, ''), port };
}

export function formatNodeName(a: NodeAddress): string {
  const host = a.host.includes(':') ? `[${a.host}]` : a.host;
  return `${a.name}@${host}:${a.port}`;
}

export interface PidParts {
  readonly node: string;
  readonly creation: number;
  readonly serial: number;
}

/** Split a pid into node, creation and serial; undefined when it is not a pid. */
export function parsePid(pid: string): PidParts | undefined {
  if (pid.length < 7 || pid.charCodeAt(0) !== 60 || pid.charCodeAt(pid.length - 1) !== 62) return undefined;
  const body = pid.slice(1, -1);
  const s = body.lastIndexOf('.');
  const c = body.lastIndexOf('.', s - 1);
  if (c <= 0) return undefined;
  const creation = Number(body.slice(c + 1, s));
  const serial = Number(body.slice(s + 1));
  if (!Number.isInteger(creation) || !Number.isInteger(serial)) return undefined;
  return { node: body.slice(0, c), creation, serial };
}

/** The node a pid lives on (without parsing the numbers). */
export function nodeOf(pid: Pid): string {
  const body = pid.slice(1, -1);
  const s = body.lastIndexOf('.');
  return body.slice(0, body.lastIndexOf('.', s - 1));
}
