// `npm start` (the runtime demo) as a user runs it: a real process, its output and exit code.
import { spawnSync } from 'node:child_process';
import { describe, expect, it } from 'vitest';
import { formatTree } from '../../nodes/format.js';

describe('npm start demo', () => {
  it('boots the tree, shows a crash being restarted, and shuts down to zero processes', () => {
    const r = spawnSync(process.execPath, ['--import', 'tsx', 'nodes/main.ts', '--log-level', 'silent'], { encoding: 'utf8', timeout: 30_000 });
    expect(r.status).toBe(0);
    expect(r.stdout).toMatch(/root \[demo_sup\] <demo@localhost\.0\.1> supervisor one_for_one/);
    expect(r.stdout).toMatch(/└─ pool_sup \[pool_sup\] <demo@localhost\.0\.\d+> supervisor simple_one_for_one/);
    expect(r.stdout).toMatch(/its supervisor restarted it as <demo@localhost\.0\.\d+> \(state back to 0\)/);
    expect(r.stdout).toContain('processes left: 0');
  });
});

describe('formatTree', () => {
  it('draws nested supervisors with box characters', () => {
    const text = formatTree({
      id: undefined,
      pid: '<n.0.1>' as never,
      name: 'top',
      type: 'supervisor',
      strategy: 'one_for_one',
      children: [
        { id: 'a', pid: '<n.0.2>' as never, name: undefined, type: 'worker' },
        { id: 's', pid: '<n.0.3>' as never, name: undefined, type: 'supervisor', strategy: 'rest_for_one', children: [{ id: 'b', pid: undefined, name: undefined, type: 'worker' }] },
      ],
    });
    expect(text.split('\n')).toEqual([
      'root [top] <n.0.1> supervisor one_for_one',
      '├─ a <n.0.2> worker',
      '└─ s <n.0.3> supervisor rest_for_one',
      '   └─ b not running worker',
    ]);
  });
});
