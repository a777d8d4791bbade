// The handshake's cryptography: each side proves it holds the cookie by an
// HMAC over both nonces and both node names, tagged with its role so a proof
// can never be reflected back. The cookie itself never crosses the wire.
import { createHmac, timingSafeEqual } from 'node:crypto';

export type Role = 'server' | 'client';

/**
 * HMAC-SHA256(cookie, role | verifier's nonce | prover's nonce | prover's node |
 * verifier's node), hex. The verifier's fresh nonce makes a proof single-use;
 * the role tag means a client proof can never pass as a server proof.
 */
export function proof(cookie: string, role: Role, verifierNonce: string, proverNonce: string, proverNode: string, verifierNode: string): string {
  return createHmac('sha256', cookie).update(`${role}|${verifierNonce}|${proverNonce}|${proverNode}|${verifierNode}`).digest('hex');
}

/** Constant-time comparison of two hex proofs. */
export function proofsEqual(a: string, b: string): boolean {
  if (a.length !== b.length) return false;
  return timingSafeEqual(Buffer.from(a, 'hex'), Buffer.from(b, 'hex'));
}
