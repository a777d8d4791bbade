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

  it('then runs jobs through a 3-node registry cluster: every node holds the same end states, stale and late reports are refused', () => {
    const r = spawnSync(process.execPath, ['--import', 'tsx', 'nodes/main.ts', '--log-level', 'silent'], { encoding: 'utf8', timeout: 60_000 });
    expect(r.status).toBe(0);
    expect(r.stdout).toMatch(/submit email-2 \(same key: the same job\) +→ \{"type":"ok","id":"email-1".*"created":false\}/);
    expect(r.stdout).toMatch(/late worker w2 starts attempt 1 +→ rejected: stale_attempt/);
    expect(r.stdout).toMatch(/router retries past maxRetries +→ rejected: retries_exhausted/);
    expect(r.stdout).toMatch(/late worker report: email-1 running +→ rejected: illegal_transition/);
    const holdings = [...r.stdout.matchAll(/^ {2}orch\d@orch\d:4369 +(.*)$/gm)].map((m) => m[1]);
    expect(holdings).toEqual(Array(3).fill('report-1:completed#1  email-1:cancelled#1  resize-1:dead#3'));
    expect(r.stdout).toContain('cluster stopped; state directory removed');
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
