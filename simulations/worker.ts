// A campaign worker thread: runs the range of run indexes the main thread
// hands it and posts each run's summary back in small batches.
import { parentPort } from 'node:worker_threads';
import { type CampaignRange, type RunSummary, runRange } from './campaign.js';

export type WorkerRequest = { readonly type: 'range'; readonly range: CampaignRange } | { readonly type: 'stop' };
export type WorkerReply = { readonly type: 'results'; readonly results: readonly RunSummary[]; readonly done: boolean };

const port = parentPort;
if (port !== null) {
  port.on('message', (m: WorkerRequest) => {
    if (m.type === 'stop') {
      port.close();
      return;
    }
    let batch: RunSummary[] = [];
    for (const r of runRange(m.range)) {
      batch.push(r);
      if (batch.length >= 5) {
        port.postMessage({ type: 'results', results: batch, done: false } satisfies WorkerReply);
        batch = [];
      }
    }
    port.postMessage({ type: 'results', results: batch, done: true } satisfies WorkerReply);
  });
}
