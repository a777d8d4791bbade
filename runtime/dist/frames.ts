// The distribution wire format, version 2: every frame is a JSON object with a
// `v` (version) and a `t` (type) tag, validated once at the boundary by a
// compiled TypeBox schema. Handshake frames come first; after `welcome`, a
// frame is a batch of operations (many messages coalesced into one frame).
// Version 2 (vs 1): `call` and `reply` carry the caller's pid and ref as serial
// numbers relative to the sending connection (see Op.call), not as strings.
import { type Static, Type } from '@sinclair/typebox';
import { TypeCompiler } from '@sinclair/typebox/compiler';

export const PROTOCOL_VERSION = 2;

const Str = (max: number) => Type.String({ minLength: 1, maxLength: max });
const PidT = Type.String({ minLength: 7, maxLength: 600, pattern: '^<.+\\.[0-9]+\\.[0-9]+>$' });
const RefT = Str(600);
const NodeT = Str(400);
const NameT = Str(255);
/**
 * A pid or ref serial: the last number of `<node.creation.serial>`. Which node and
 * creation it belongs to comes from the connection, never from the frame.
 */
const SerialT = Type.Integer({ minimum: 0, maximum: Number.MAX_SAFE_INTEGER });

export const ExitReasonT = Type.Union([
  Type.Literal('normal'),
  Type.Literal('shutdown'),
  Type.Literal('kill'),
  Type.Literal('killed'),
  Type.Literal('noproc'),
  Type.Literal('noconnection'),
  Type.Object({ type: Type.Literal('shutdown'), detail: Type.String() }),
  Type.Object({
    type: Type.Literal('error'),
    name: Type.String(),
    message: Type.String(),
    code: Type.Optional(Type.String()),
    stack: Type.Optional(Type.String()),
  }),
  Type.Object({ type: Type.Literal('bad_return_value'), value: Type.String() }),
  Type.Object({ type: Type.Literal('custom'), value: Type.String() }),
]);

// ---- handshake -------------------------------------------------------------

const NonceT = Type.String({ minLength: 32, maxLength: 64, pattern: '^[0-9a-f]+$' });
const ProofT = Type.String({ minLength: 64, maxLength: 64, pattern: '^[0-9a-f]+$' });

// The dialing node proves it holds the cookie first (as in Erlang), so a
// stranger who can reach a listening port never obtains an HMAC to attack
// offline; the listener then proves itself in `welcome`.
export const HelloT = Type.Object({
  v: Type.Literal(PROTOCOL_VERSION),
  t: Type.Literal('hello'),
  node: NodeT,
  creation: Type.Integer({ minimum: 0 }),
  hidden: Type.Boolean(),
});
export const ChallengeT = Type.Object({
  v: Type.Literal(PROTOCOL_VERSION),
  t: Type.Literal('challenge'),
  node: NodeT,
  creation: Type.Integer({ minimum: 0 }),
  hidden: Type.Boolean(),
  nonce: NonceT,
});
export const AuthT = Type.Object({ v: Type.Literal(PROTOCOL_VERSION), t: Type.Literal('auth'), nonce: NonceT, proof: ProofT });
export const WelcomeT = Type.Object({
  v: Type.Literal(PROTOCOL_VERSION),
  t: Type.Literal('welcome'),
  proof: ProofT,
  peers: Type.Array(NodeT, { maxItems: 1000 }),
});
export const RefuseT = Type.Object({ v: Type.Literal(PROTOCOL_VERSION), t: Type.Literal('refuse'), reason: Str(200) });

export type Hello = Static<typeof HelloT>;
export type Challenge = Static<typeof ChallengeT>;
export type Auth = Static<typeof AuthT>;
export type Welcome = Static<typeof WelcomeT>;
export type Refuse = Static<typeof RefuseT>;

// ---- operations (after the handshake) ----------------------------------------

// Payload fields (msg, request, value, args) are optional because JSON drops a
// key whose value is undefined: `undefined` is a legal message and arrives as one.
const Op = {
  /** A message to a pid on the receiving node. */
  send: Type.Object({ t: Type.Literal('send'), to: PidT, msg: Type.Optional(Type.Unknown()) }),
  /** A message to a registered name on the receiving node. */
  sendName: Type.Object({ t: Type.Literal('sendn'), to: NameT, msg: Type.Optional(Type.Unknown()) }),
  link: Type.Object({ t: Type.Literal('link'), from: PidT, to: PidT }),
  unlink: Type.Object({ t: Type.Literal('unlink'), from: PidT, to: PidT }),
  /** An exit signal; `link` says whether it came through a link (trappable kill) or exit/2. */
  exit: Type.Object({ t: Type.Literal('exit'), from: PidT, to: PidT, reason: ExitReasonT, link: Type.Boolean() }),
  /** `from` (on the sender) monitors `to` (a pid or registered name on the receiver). */
  monitor: Type.Object({ t: Type.Literal('mon'), from: PidT, to: Type.Union([PidT, NameT]), ref: RefT }),
  demonitor: Type.Object({ t: Type.Literal('demon'), ref: RefT }),
  down: Type.Object({ t: Type.Literal('down'), ref: RefT, to: PidT, pid: Type.Union([PidT, NameT]), reason: ExitReasonT }),
  /**
   * A call: monitors `to` for `from` under `ref` and delivers `request` (one op
   * instead of mon + send). The hot op, so it is compact: `from` and `ref` are the
   * serials of the caller's pid and ref on the SENDING node's current incarnation
   * (the receiver rebuilds `<node.creation.from>` and `#Ref<node.creation.ref>`
   * from the connection), which also makes a call impossible to forge for
   * another node's process.
   */
  call: Type.Object({ t: Type.Literal('call'), from: SerialT, to: Type.Union([PidT, NameT]), ref: SerialT, request: Type.Optional(Type.Unknown()) }),
  /** A call's reply, routed to the caller's node; `ref` is the serial of the call's ref there. */
  reply: Type.Object({ t: Type.Literal('reply'), ref: SerialT, value: Type.Optional(Type.Unknown()) }),
  /** Spawn a registered spawnable by name on the receiver. */
  spawn: Type.Object({ t: Type.Literal('spawn'), ref: RefT, from: PidT, spawnable: NameT, args: Type.Optional(Type.Unknown()), link: Type.Boolean() }),
  spawned: Type.Object({
    t: Type.Literal('spawned'),
    ref: RefT,
    result: Type.Union([Type.Object({ ok: Type.Literal(true), pid: PidT }), Type.Object({ ok: Type.Literal(false), error: Str(400) })]),
  }),
  tick: Type.Object({ t: Type.Literal('tick') }),
  /** Mesh gossip: the visible nodes the sender is connected to. */
  peers: Type.Object({ t: Type.Literal('peers'), nodes: Type.Array(NodeT, { maxItems: 1000 }) }),
};

export const OpT = Type.Union(Object.values(Op));
const MAX_OPS_PER_BATCH = 10_000;
export type Op = Static<typeof OpT>;
export type OpType = Op['t'];

export const BatchT = Type.Object({ v: Type.Literal(PROTOCOL_VERSION), t: Type.Literal('b'), ops: Type.Array(OpT, { minItems: 1, maxItems: MAX_OPS_PER_BATCH }) });
export type Batch = Static<typeof BatchT>;

const checkers = {
  hello: TypeCompiler.Compile(HelloT),
  challenge: TypeCompiler.Compile(ChallengeT),
  auth: TypeCompiler.Compile(AuthT),
  welcome: TypeCompiler.Compile(WelcomeT),
  refuse: TypeCompiler.Compile(RefuseT),
  batch: TypeCompiler.Compile(BatchT),
};

export type Frame = Hello | Challenge | Auth | Welcome | Refuse | Batch;
export type FrameType = Frame['t'];

export type Decoded = { readonly ok: true; readonly frame: Frame } | { readonly ok: false; readonly reason: string };

const TAG_TO_CHECKER: Record<string, keyof typeof checkers> = {
  hello: 'hello',
  challenge: 'challenge',
  auth: 'auth',
  welcome: 'welcome',
  refuse: 'refuse',
  b: 'batch',
};

/**
 * An untrusted value for a reason string: primitives as text, anything else by
 * type only (String() of a deeply nested array recurses until the stack overflows).
 */
function shown(x: unknown): string {
  return typeof x === 'string' || typeof x === 'number' || typeof x === 'boolean' ? String(x).slice(0, 20) : typeof x;
}

const PID_RE = /^<.+\.[0-9]+\.[0-9]+>$/; // PidT's pattern
const isSerial = (x: unknown): boolean => Number.isSafeInteger(x) && (x as number) >= 0;
const isObject = (x: unknown): x is Record<string, unknown> => typeof x === 'object' && x !== null && !Array.isArray(x);

/**
 * The fast path of the validation, for the frames sequential calls are made
 * of: a batch (already known to have the right `v` and `t`) whose ops are all
 * `call` or `reply`. It accepts exactly what the compiled schema accepts for
 * them, by hand, because the compiled union tries each op type in turn; any
 * other frame, and any frame this rejects, goes through the schema, which
 * stays the authority and names the reason. (test/dist/frames.test.ts checks
 * that this never accepts what the schema rejects.)
 */
export function isCallTrafficBatch(raw: object): boolean {
  const ops = (raw as { ops?: unknown }).ops;
  if (!Array.isArray(ops) || ops.length < 1 || ops.length > MAX_OPS_PER_BATCH) return false;
  for (const op of ops as unknown[]) {
    // `value` and `request` may be anything, or absent.
    if (!isObject(op) || !isSerial(op.ref)) return false;
    if (op.t === 'reply') continue;
    if (op.t !== 'call' || !isSerial(op.from)) return false;
    const to = op.to;
    if (typeof to !== 'string' || to.length < 1 || to.length > 600) return false;
    // Union of NameT (1–255 chars) and PidT (7–600 chars, pid-shaped).
    if (to.length > 255 && !PID_RE.test(to)) return false;
  }
  return true;
}

/**
 * Parse and validate one frame. Never throws: a malformed frame is a reason,
 * and the connection that sent it is closed by the caller with that reason.
 */
export function decodeFrame(data: string, maxBytes: number): Decoded {
  if (data.length > maxBytes) return { ok: false, reason: `frame_too_large: ${data.length} > ${maxBytes}` };
  let raw: unknown;
  try {
    raw = JSON.parse(data);
  } catch {
    return { ok: false, reason: 'malformed_json' };
  }
  if (typeof raw !== 'object' || raw === null) return { ok: false, reason: 'not_an_object' };
  const v = (raw as { v?: unknown }).v;
  if (v !== PROTOCOL_VERSION) return { ok: false, reason: `unsupported_version: ${shown(v)}` };
  const tag = (raw as { t?: unknown }).t;
  const which = typeof tag === 'string' && Object.hasOwn(TAG_TO_CHECKER, tag) ? TAG_TO_CHECKER[tag] : undefined;
  if (which === undefined) return { ok: false, reason: `unknown_frame_type: ${shown(tag)}` };
  if (which === 'batch' && isCallTrafficBatch(raw)) return { ok: true, frame: raw as Batch };
  const checker = checkers[which];
  if (!checker.Check(raw)) {
    const first = checker.Errors(raw).First();
    return { ok: false, reason: `invalid_${which}: ${first === undefined ? '?' : `${first.path} ${first.message}`}`.slice(0, 300) };
  }
  return { ok: true, frame: raw as Frame };
}

export function encodeFrame(frame: Frame): string {
  return JSON.stringify(frame);
}
