// The wire format of Raft traffic between raft_fsm processes: one envelope per
// message, `{ type: 'raft', from, to, msg }`, sent to the peer's registered
// fsm as a plain message over the distribution layer. The receiver validates
// it once here (a compiled TypeBox schema for the shape, then the cross-field
// rules the core relies on, such as an append's entries being contiguous after
// prevIndex), and the core sees only typed, consistent messages. A peer holding
// the cookie is trusted (docs/distribution.md, Security model), so this guards
// against bugs, version skew and junk, not against a Byzantine member.
import { Type } from '@sinclair/typebox';
import { TypeCompiler } from '@sinclair/typebox/compiler';
import { entryTexts } from './entry-text.js';
import type { AppendRequest, RaftMessage } from './messages.js';
import type { NodeId } from './types.js';

/** Bounds on what one message may carry; well above what a core sends (maxEntriesPerAppend, snapshotChunkChars). */
export const wireLimits = Object.freeze({
  maxNodeIdChars: 400,
  maxVoters: 1000,
  maxEntriesPerMessage: 100_000,
  maxChunkChars: 64 * 1024 * 1024,
});

const Int = Type.Integer({ minimum: 0 });
const Node = Type.String({ minLength: 1, maxLength: wireLimits.maxNodeIdChars });
const Voters = Type.Array(Node, { maxItems: wireLimits.maxVoters });

const EntryT = Type.Union([
  Type.Object({ term: Int, index: Type.Integer({ minimum: 1 }), kind: Type.Literal('command'), data: Type.Unknown() }),
  Type.Object({ term: Int, index: Type.Integer({ minimum: 1 }), kind: Type.Literal('noop'), data: Type.Null() }),
  Type.Object({
    term: Int,
    index: Type.Integer({ minimum: 1 }),
    kind: Type.Literal('config'),
    data: Type.Object({ voters: Type.Array(Node, { minItems: 1, maxItems: wireLimits.maxVoters }) }),
  }),
]);

const MetaT = Type.Object({ index: Int, term: Int, voters: Voters });

const MessageT = Type.Union([
  Type.Object({ type: Type.Literal('preVote'), term: Int, lastIndex: Int, lastTerm: Int }),
  Type.Object({ type: Type.Literal('preVoteResp'), term: Int, granted: Type.Boolean() }),
  Type.Object({ type: Type.Literal('vote'), term: Int, lastIndex: Int, lastTerm: Int, transfer: Type.Boolean() }),
  Type.Object({ type: Type.Literal('voteResp'), term: Int, granted: Type.Boolean() }),
  Type.Object({
    type: Type.Literal('append'),
    term: Int,
    prevIndex: Int,
    prevTerm: Int,
    entries: Type.Array(EntryT, { maxItems: wireLimits.maxEntriesPerMessage }),
    commit: Int,
  }),
  Type.Object({ type: Type.Literal('appendResp'), term: Int, success: Type.Literal(true), match: Int }),
  Type.Object({
    type: Type.Literal('appendResp'),
    term: Int,
    success: Type.Literal(false),
    rejected: Int,
    hintIndex: Int,
    hintTerm: Type.Union([Int, Type.Null()]),
  }),
  Type.Object({ type: Type.Literal('heartbeat'), term: Int, commit: Int, readSeq: Int }),
  Type.Object({ type: Type.Literal('heartbeatResp'), term: Int, readSeq: Int, commit: Type.Optional(Int) }),
  Type.Object({
    type: Type.Literal('snapshot'),
    term: Int,
    meta: MetaT,
    offset: Int,
    data: Type.String({ maxLength: wireLimits.maxChunkChars }),
    done: Type.Boolean(),
  }),
  Type.Object({ type: Type.Literal('snapshotResp'), term: Int, index: Int, installed: Type.Boolean(), nextOffset: Int }),
  Type.Object({ type: Type.Literal('timeoutNow'), term: Int }),
  Type.Object({ type: Type.Literal('readIndexReq'), term: Int, reqId: Int }),
  Type.Object({ type: Type.Literal('readIndexResp'), term: Int, reqId: Int, index: Type.Union([Int, Type.Null()]) }),
]);

export const RaftEnvelopeT = Type.Object({ type: Type.Literal('raft'), from: Node, to: Node, msg: MessageT });

/** A Raft message as it travels between fsms. */
export interface RaftEnvelope {
  readonly type: 'raft';
  readonly from: NodeId;
  readonly to: NodeId;
  readonly msg: RaftMessage;
}

const checker = TypeCompiler.Compile(RaftEnvelopeT);

export type DecodedEnvelope = { readonly ok: true; readonly envelope: RaftEnvelope } | { readonly ok: false; readonly reason: string };

/** Build the envelope for a send effect. */
export function envelope(from: NodeId, to: NodeId, msg: RaftMessage): RaftEnvelope {
  return { type: 'raft', from, to, msg };
}

/**
 * The JSON text of envelope(from, to, m) for an append, made from the entries' texts
 * (entry-text.ts) instead of serialising them again: a leader sends the same new
 * entries to every follower and has their text already. It parses to what
 * JSON.stringify(env) parses to. It comes as pieces to be concatenated (the entries'
 * texts among them), which the distribution layer writes straight into the frame's
 * bytes: joined here, 100+ KB of entries would be copied once more per follower.
 * Undefined when an entry's data has no JSON text (the caller then sends the
 * envelope as a value, and the usual error paths apply).
 */
export function appendEnvelopeJson(from: NodeId, to: NodeId, m: AppendRequest): readonly string[] | undefined {
  const pieces = [`{"type":"raft","from":${JSON.stringify(from)},"to":${JSON.stringify(to)},"msg":{"type":"append","term":${m.term},"prevIndex":${m.prevIndex},"prevTerm":${m.prevTerm},"entries":[`];
  try {
    for (let i = 0; i < m.entries.length; i++) {
      const e = m.entries[i]!;
      const data = entryTexts.textOf(e);
      if (data === undefined) return undefined;
      pieces.push(`${i === 0 ? '' : ','}{"term":${e.term},"index":${e.index},"kind":${JSON.stringify(e.kind)},"data":`, data, '}');
    }
  } catch {
    return undefined; // no JSON form (a BigInt, a cycle)
  }
  pieces.push(`],"commit":${m.commit}}}`);
  return pieces;
}

/** Is this plausibly meant to be a Raft envelope (so a failure to decode it is worth a warning)? */
export function looksLikeEnvelope(x: unknown): boolean {
  return typeof x === 'object' && x !== null && (x as { type?: unknown }).type === 'raft';
}

/**
 * Validate a message received from the network. Never throws: a malformed
 * envelope is a reason, and the fsm drops it. Past the schema, the rules the
 * core assumes without checking: an append's entries are contiguous from
 * prevIndex + 1 with terms that never decrease, start at or after prevTerm and
 * stay at or below the sender's term; a snapshot's term is at most the sender's.
 */
export function decodeEnvelope(x: unknown): DecodedEnvelope {
  if (!checker.Check(x)) {
    const first = checker.Errors(x).First();
    return { ok: false, reason: `invalid_envelope: ${first === undefined ? '?' : `${first.path} ${first.message}`}`.slice(0, 300) };
  }
  const env = x as unknown as RaftEnvelope;
  const m = env.msg;
  if (m.type === 'append') {
    if (m.prevTerm > m.term) return { ok: false, reason: 'invalid_append: prevTerm above term' };
    let prevTerm = m.prevTerm;
    for (let i = 0; i < m.entries.length; i++) {
      const e = m.entries[i]!;
      if (e.index !== m.prevIndex + 1 + i) return { ok: false, reason: `invalid_append: entry ${i} has index ${e.index}, expected ${m.prevIndex + 1 + i}` };
      if (e.term < prevTerm || e.term > m.term) return { ok: false, reason: `invalid_append: entry ${e.index} has term ${e.term}` };
      prevTerm = e.term;
    }
  } else if (m.type === 'snapshot') {
    if (m.meta.term > m.term) return { ok: false, reason: 'invalid_snapshot: meta.term above term' };
    if (m.meta.index === 0 || m.meta.voters.length === 0) return { ok: false, reason: 'invalid_snapshot: empty meta' };
  }
  return { ok: true, envelope: env };
}

// ---------------------------------------------------------------------------
// Client requests (gen_server calls to the fsm), which may come from any node.

const RequestT = Type.Union([
  Type.Object({ type: Type.Literal('propose'), command: Type.Unknown() }),
  Type.Object({ type: Type.Literal('read'), query: Type.Optional(Type.Unknown()) }),
  Type.Object({ type: Type.Literal('transferLeadership'), to: Node }),
  Type.Object({ type: Type.Literal('addVoter'), node: Node }),
  Type.Object({ type: Type.Literal('removeVoter'), node: Node }),
  Type.Object({ type: Type.Literal('status') }),
]);

/** What a client may ask the fsm (see fsm.ts for the replies). Commands and queries must be JSON values. */
export type FsmRequest =
  | { readonly type: 'propose'; readonly command: unknown }
  | { readonly type: 'read'; readonly query?: unknown }
  | { readonly type: 'transferLeadership'; readonly to: NodeId }
  | { readonly type: 'addVoter'; readonly node: NodeId }
  | { readonly type: 'removeVoter'; readonly node: NodeId };

export type FsmStatusRequest = { readonly type: 'status' };

const requestChecker = TypeCompiler.Compile(RequestT);

export type DecodedRequest =
  | { readonly ok: true; readonly request: FsmRequest | FsmStatusRequest }
  | { readonly ok: false; readonly reason: string };

/** Top-level values JSON cannot carry (nested ones are the caller's business: commands must be JSON). */
const notJson = new Set(['undefined', 'function', 'symbol', 'bigint']);

/** Validate a call's request. Never throws. */
export function decodeRequest(x: unknown): DecodedRequest {
  if (!requestChecker.Check(x)) {
    const first = requestChecker.Errors(x).First();
    return { ok: false, reason: `invalid_request: ${first === undefined ? '?' : `${first.path} ${first.message}`}`.slice(0, 300) };
  }
  const r = x as FsmRequest | FsmStatusRequest;
  if (r.type === 'propose' && notJson.has(typeof r.command)) return { ok: false, reason: `invalid_request: a command must be a JSON value, got ${typeof r.command}` };
  return { ok: true, request: r };
}
