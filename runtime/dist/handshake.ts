// The handshake's cryptography: each side proves it holds the cookie by an
// HMAC over both nonces and both node names, tagged with its role so a proof
// can never be reflected back. The cookie itself never crosses the wire.
import { createHmac, timingSafeEqual } from 'node:crypto';

export type Role = 'server' | 'client';

/** HMAC-SHA256(cookie, role | own nonce | peer nonce | own node | peer node), hex. */
export function proof(cookie: string, role: Role, ownNonce: string, peerNonce: string, ownNode: string, peerNode: string): string {
  return createHmac('sha256', cookie).update(`${role}|${ownNonce}|${peerNonce}|${ownNode}|${peerNode}`).digest('hex');
}

/** Constant-time comparison of two hex proofs. */
export function proofsEqual(a: string, b: string): boolean {
  if (a.length !== b.length) return false;
  return timingSafeEqual(Buffer.from(a, 'hex'), Buffer.from(b, 'hex'));
}
