// Where a node keeps its Raft storage, and in which engine: one file under the
// node's data directory, named after the node. The append-only log file is the
// default (docs/decisions/0001-raft-log-file.md); SQLite stays available. A
// node never opens one engine while its directory holds the other's file: it
// would start from an empty log, forgetting its votes and the entries it
// acknowledged, which Raft's safety rests on.
import { existsSync, mkdirSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { LogFileStorage } from './logfile.js';
import { RaftStorageError, SqliteStorage, fsyncDir } from './storage.js';
import type { RaftStorage } from './types.js';

export type StorageEngine = 'file' | 'sqlite';

/** The engine openStorage uses when none is named. */
export const DEFAULT_STORAGE_ENGINE: StorageEngine = 'file';

export interface OpenStorageOptions {
  readonly dir: string;
  /** Letters, digits and `_.@-` (else invalid_node_id): it names the file. */
  readonly nodeId: string;
  readonly engine?: StorageEngine;
}

const FILE_NAMES: Readonly<Record<StorageEngine, (nodeId: string) => string>> = {
  file: (id) => `raft-${id}.log`,
  sqlite: (id) => `raft-${id}.sqlite`,
};

/**
 * Opens (creating if needed) the storage of node `nodeId` under `dir`: `raft-<nodeId>.log` or
 * `raft-<nodeId>.sqlite`. A newly created directory is fsynced into its parent, so the file cannot
 * disappear with it on power loss. Refused (other_engine) when the other engine's file is there.
 */
export function openStorage(opts: OpenStorageOptions): RaftStorage & { readonly path: string } {
  if (!/^[A-Za-z0-9_.@-]+$/.test(opts.nodeId)) {
    throw new RaftStorageError('invalid_node_id', JSON.stringify(opts.nodeId));
  }
  const engine = opts.engine ?? DEFAULT_STORAGE_ENGINE;
  const dir = resolve(opts.dir);
  const other = join(dir, FILE_NAMES[engine === 'file' ? 'sqlite' : 'file'](opts.nodeId));
  if (existsSync(other)) throw new RaftStorageError('other_engine', `${other} exists; open it with that engine, or move it away`);
  const created = mkdirSync(dir, { recursive: true });
  if (created !== undefined) {
    // Sync each new directory's entry into its parent, from the deepest up.
    const top = resolve(created);
    for (let d = dir; ; d = dirname(d)) {
      fsyncDir(dirname(d));
      if (d === top || dirname(d) === d) break;
    }
  }
  const path = join(dir, FILE_NAMES[engine](opts.nodeId));
  const storage = engine === 'file' ? new LogFileStorage(path) : new SqliteStorage(path);
  // Both sync the directory when they create their files; once more here covers the file's own entry whatever
  // the SQLite build does.
  fsyncDir(dir);
  return storage;
}
