// Text renderings of runtime data for terminals (the demo now, the REPL later).
import type { SupervisionNode } from '../runtime/index.js';

/** Render a supervision tree like observer's application view, one process per line. */
export function formatTree(node: SupervisionNode): string {
  const lines: string[] = [];
  const label = (n: SupervisionNode, root: boolean): string => {
    const id = n.id ?? (root ? 'root' : '(dynamic)');
    const name = n.name === undefined ? '' : ` [${n.name}]`;
    const pid = n.pid ?? 'not running';
    const kind = n.type === 'supervisor' ? ` supervisor ${n.strategy ?? ''}`.trimEnd() : ' worker';
    return `${id}${name} ${pid}${kind}`;
  };
  const walk = (n: SupervisionNode, prefix: string, last: boolean, root: boolean): void => {
    lines.push(root ? label(n, true) : `${prefix}${last ? '└─ ' : '├─ '}${label(n, false)}`);
    const kids = n.children ?? [];
    const next = root ? '' : `${prefix}${last ? '   ' : '│  '}`;
    kids.forEach((k, i) => walk(k, next, i === kids.length - 1, false));
  };
  walk(node, '', true, true);
  return lines.join('\n');
}
