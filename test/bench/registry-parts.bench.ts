// The parts of a cluster lifecycle's cost, measured in this process on the
// data the cluster benchmark moves (registry-cluster.ts): batch entries of 250
// whole lifecycles (submit, dispatch, start, complete: 1000 commands), as the
// leader's job_registry proposes them. It explains `cluster_jobs_per_s`
// (docs/job-lifecycle.md#performance); it has no target of its own.
// Fields, each in µs per lifecycle (the median of `runs` passes over `entries` entries):
//   apply_us             RegistryMachine.apply of each entry in its own batch() (one SQLite
//                        transaction), as a member applies committed entries; every job is new
//   stringify_us         JSON.stringify of an entry's command (the leader does it for the log
//                        size bound, the Raft log row and each follower's frame)
//   parse_us             JSON.parse of that text (a follower parsing an append frame)
//   stringify_text_us    JSON.stringify of an object holding the text as a string (what
//                        carrying entries as pre-encoded text would cost per frame)
//   parse_text_us        JSON.parse of that (the receiving side of the same)
//   entry_chars_per_lifecycle  the entry's JSON size divided by its lifecycles
// Prints one JSON line.
import { RegistryMachine } from '../../actors/job_registry/machine.js';
import type { LogEntry } from '../../actors/raft/types.js';

const lifecyclesPerEntry = 250;
const entries = 400;
const runs = 3;
/** The cluster benchmark's proposer clock is real; any fixed epoch gives the same work. */
const epoch = 1_780_000_000_000;

/** One batch entry's command, shaped as job_registry stamps what registry-cluster.ts sends. */
function batchCommand(entry: number): unknown {
  const at = epoch + entry;
  const ids = Array.from({ length: lifecyclesPerEntry }, (_, k) => `0190aaaa-bbbb-7ccc-8ddd-${String(entry * lifecyclesPerEntry + k).padStart(12, '0')}`);
  return {
    c: 'batch',
    at,
    commands: [
      ...ids.map((id) => ({ c: 'submit', id, type: 'email', priority: 10, payload: { to: 'user@example.com', template: 'welcome' } })),
      ...ids.map((id) => ({ c: 'dispatch', id, attempt: 1 })),
      ...ids.map((id) => ({ c: 'start', id, attempt: 1, worker: 'bench-worker-1' })),
      ...ids.map((id) => ({ c: 'complete', id, attempt: 1, worker: 'bench-worker-1', result: { ok: true } })),
    ],
  };
}

const perLifecycle = (ms: number): number => (ms * 1000) / (lifecyclesPerEntry * entries);
const median = (xs: number[]): number => [...xs].sort((a, b) => a - b)[xs.length >> 1]!;
const round = (x: number): number => Number(x.toFixed(2));

function timed(fn: () => void): number {
  const t0 = performance.now();
  fn();
  return performance.now() - t0;
}

const texts = Array.from({ length: entries }, (_, e) => JSON.stringify(batchCommand(e)));
const objects = texts.map((t) => JSON.parse(t) as unknown);
const wrapped = texts.map((t) => JSON.stringify({ data: t }));
let sink = 0; // keeps the engine from dropping work whose result is unused

const figures = { apply: [] as number[], stringify: [] as number[], parse: [] as number[], stringifyText: [] as number[], parseText: [] as number[] };
for (let r = 0; r < runs; r++) {
  figures.stringify.push(perLifecycle(timed(() => objects.forEach((o) => (sink += JSON.stringify(o).length)))));
  figures.parse.push(perLifecycle(timed(() => texts.forEach((t) => (sink += (JSON.parse(t) as { commands: unknown[] }).commands.length)))));
  figures.stringifyText.push(perLifecycle(timed(() => texts.forEach((t) => (sink += JSON.stringify({ data: t }).length)))));
  figures.parseText.push(perLifecycle(timed(() => wrapped.forEach((w) => (sink += (JSON.parse(w) as { data: string }).data.length)))));
  const m = new RegistryMachine();
  // Fresh objects per run: the machine reads them, and a member applies what it has just parsed.
  const data = texts.map((t) => JSON.parse(t) as unknown);
  figures.apply.push(
    perLifecycle(
      timed(() => {
        for (let i = 0; i < entries; i++) {
          const entry: LogEntry = { term: 1, index: i + 1, kind: 'command', data: data[i] };
          m.batch(() => void m.apply(entry));
        }
        // Write what the store holds back (write-behind), as a list query would.
        m.query({ q: 'list', limit: 1 });
      }),
    ),
  );
  m.close();
}

console.log(
  JSON.stringify({
    bench: 'registry-parts',
    apply_us: round(median(figures.apply)),
    stringify_us: round(median(figures.stringify)),
    parse_us: round(median(figures.parse)),
    stringify_text_us: round(median(figures.stringifyText)),
    parse_text_us: round(median(figures.parseText)),
    entry_chars_per_lifecycle: Math.round(texts[0]!.length / lifecyclesPerEntry),
    lifecycles: lifecyclesPerEntry * entries,
    runs,
  }),
);
if (sink < 0) throw new Error('unreachable: sink counts lengths');
