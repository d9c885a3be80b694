import type { ErrorCode } from './errors.js';
import type { ClientMessage } from './messages.js';

export interface ParseLimits {
  maxJtiLength: number;
  allowLongCodes: boolean;
}

const SIX_DIGITS = /^[0-9]{6}$/;
const LONG_CODE = /^[A-Za-z0-9_-]{6,64}$/;

/**
 * Untrusted frame text to a typed message, or the error code to answer with.
 * Never throws: every path through a hostile frame ends in a value.
 */
export function parseFrame(text: string, limits: ParseLimits): ClientMessage | ErrorCode {
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch {
    return 'invalid_message';
  }
  if (typeof value !== 'object' || value === null || Array.isArray(value)) return 'invalid_message';
  const msg = value as Record<string, unknown>;
  const type = msg['type'];
  if (typeof type !== 'string') return 'invalid_message';

  switch (type) {
    case 'data': {
      const payload = msg['payload'];
      return typeof payload === 'string' ? { type, payload } : 'invalid_message';
    }
    case 'listen':
    case 'connect': {
      const otc = msg['otc'];
      return isCode(otc, limits.allowLongCodes) ? { type, otc } : 'invalid_otc';
    }
    case 'done':
      return { type };
    case 'bootstrap_watch': {
      return checkJti(msg['jti'], limits.maxJtiLength) ?? { type, jti: msg['jti'] as string };
    }
    case 'bootstrap_init': {
      const bad = checkJti(msg['jti'], limits.maxJtiLength);
      if (bad !== undefined) return bad;
      const token = msg['token'];
      const targetPubKey = msg['targetPubKey'];
      if (typeof token !== 'string' || typeof targetPubKey !== 'string') return 'invalid_message';
      return { type, jti: msg['jti'] as string, token, targetPubKey };
    }
    case 'bootstrap_ack':
    case 'bootstrap_reject': {
      const bad = checkJti(msg['jti'], limits.maxJtiLength);
      if (bad !== undefined) return bad;
      const publicKey = msg['publicKey'];
      if (publicKey !== undefined && typeof publicKey !== 'string') return 'invalid_message';
      return { type, jti: msg['jti'] as string, publicKey };
    }
    default:
      return 'unknown_type';
  }
}

export function isCode(otc: unknown, allowLongCodes: boolean): otc is string {
  if (typeof otc !== 'string') return false;
  return allowLongCodes ? LONG_CODE.test(otc) : SIX_DIGITS.test(otc);
}

/** The error for a bad jti, or undefined when it is usable. */
function checkJti(jti: unknown, maxLength: number): ErrorCode | undefined {
  if (jti === undefined || jti === null) return 'missing_jti';
  if (typeof jti !== 'string' || jti.length === 0 || jti.length > maxLength) return 'invalid_jti';
  return undefined;
}
