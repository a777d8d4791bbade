// The Raft core's error registry. The core reports protocol outcomes as
// effects (typed rejections), never as throws; it throws only for programming
// errors and broken storage, each with a stable code. Codes are never reused.

export const RaftErrorCodes = {
  invalid_config: 'the raft config is invalid',
  corrupt_log: 'the persisted log is not contiguous or its terms go backwards',
  invariant_violated: 'a raft safety invariant would be broken',
  bad_input: 'the shell gave the core an input that contradicts its state',
} as const;

export type RaftErrorCode = keyof typeof RaftErrorCodes;

export class RaftError extends Error {
  readonly code: RaftErrorCode;
  constructor(code: RaftErrorCode, detail?: string) {
    super(detail === undefined ? RaftErrorCodes[code] : `${RaftErrorCodes[code]}: ${detail}`);
    this.name = 'RaftError';
    this.code = code;
  }
}
