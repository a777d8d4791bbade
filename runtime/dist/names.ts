// Node names (`name@host:port`): parsing and printing. (Which node a pid
// belongs to is `nodeOfPid` in runtime/types.ts.)

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
