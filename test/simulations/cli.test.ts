// The command line as a user runs it (`npm run sim -- ...` is `tsx
// simulations/cli.ts ...`): a seed replays exactly, --history writes the
// documented JSON lines, a campaign on worker threads prints the one JSON
// line, and a failing run (of either workload) exits with the VOPR-style code
// and says how to replay it.
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';

const dir = mkdtempSync(join(tmpdir(), 'dq-sim-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

function sim(...args: string[]): { code: number | null; stdout: string; stderr: string } {
  const r = spawnSync(process.execPath, ['--import', 'tsx', 'simulations/cli.ts', ...args], { encoding: 'utf8', timeout: 60_000 });
  return { code: r.status, stdout: r.stdout, stderr: r.stderr };
}

describe('npm run sim', () => {
  it('--seed replays one run exactly and --history writes Jepsen-style JSON lines', () => {
    const file = join(dir, 'history.jsonl');
    const a = sim('--seed', '31', '--history', file);
    expect(a.code, a.stderr).toBe(0);
    const b = sim('--seed', '31');
    const ra = JSON.parse(a.stdout) as { ok: boolean; digest: string; seed: number };
    const rb = JSON.parse(b.stdout) as { digest: string };
    expect(ra.ok).toBe(true);
    expect(ra.seed).toBe(31);
    expect(rb.digest).toBe(ra.digest);
    const lines = readFileSync(file, 'utf8').trim().split('\n');
    expect(lines.length).toBeGreaterThan(20);
    for (const l of lines.slice(0, 50)) {
      const h = JSON.parse(l) as Record<string, unknown>;
      expect(['invoke', 'ok', 'fail', 'info']).toContain(h.type);
      expect(['read', 'write', 'cas']).toContain(h.f);
      expect(typeof h.process).toBe('number');
      expect(typeof h.key).toBe('string');
      expect(typeof h.time).toBe('number');
      expect('value' in h).toBe(true);
    }
  });

  it('--runs runs a campaign on worker threads and prints the summary line', () => {
    const r = sim('--runs', '12', '--seed', '5', '--workers', '2');
    expect(r.code, r.stderr).toBe(0);
    const line = JSON.parse(r.stdout) as Record<string, unknown>;
    expect(line).toMatchObject({ sim: 'cluster', runs: 12, violations: 0, seed: 5, workers: 2 });
    for (const k of ['runs_per_min', 'virtual_s_per_run', 'faults_per_run']) expect(typeof line[k]).toBe('number');
    expect(line.virtual_s_per_run as number).toBeGreaterThanOrEqual(10);
    expect(r.stderr).toContain('12/12 runs');
  });

  it('a failing run exits non-zero, names the checker and prints how to replay it', () => {
    const r = sim('--seed', '823621020', '--unsafe', 'ackBeforePersist');
    expect(r.code).toBe(129);
    expect(r.stderr).toContain('[durability]');
    expect(r.stderr).toContain('replay: npm run sim -- --seed 823621020 --unsafe ackBeforePersist');
  });

  it('refuses bad arguments with usage', () => {
    const r = sim('--runs', 'many');
    expect(r.code).toBe(2);
    expect(r.stderr).toContain('usage:');
    const w = sim('--seed', '1', '--workload', 'queue');
    expect(w.code).toBe(2);
    expect(w.stderr).toContain('unknown workload "queue" (one of: kv, registry)');
  });

  it('--workload registry runs the job registry, and a failure there prints a replay line that names the workload', () => {
    const r = sim('--seed', '2', '--workload', 'registry', '--unsafe', 'skipAttemptCheck');
    expect(r.code).toBe(129);
    expect(r.stderr).toContain('[registry-fencing]');
    expect(r.stderr).toContain('replay: npm run sim -- --seed 2 --workload registry --unsafe skipAttemptCheck');
    const line = JSON.parse(r.stdout) as Record<string, unknown>;
    expect(line).toMatchObject({ sim: 'cluster', workload: 'registry', seed: 2, ok: false, unsafe: { skipAttemptCheck: true } });
  });
});
