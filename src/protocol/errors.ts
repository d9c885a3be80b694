/**
 * Every `{"type":"error","code":...}` the relay can send, in one catalog.
 * A test checks that docs/protocol.md (its catalog and the contract) lists exactly these.
 */
export const ERROR_CODES = [
  'invalid_message',
  'unknown_type',
  'invalid_otc',
  'otc_in_use',
  'otc_not_found',
  'otc_expired',
  'peer_already_connected',
  'peer_disconnected',
  'rate_limited',
  'relay_capacity',
  'session_data_limit',
  'missing_jti',
  'invalid_jti',
  'jti_already_watched',
  'going_away',
] as const;
export type ErrorCode = (typeof ERROR_CODES)[number];

/** `{"type":"bootstrap_reject","error":...}` reasons the relay itself sends. */
export const BOOTSTRAP_REJECT_REASONS = [
  'token_already_used',
  'no_watcher',
  'relay_overloaded',
] as const;
export type BootstrapRejectReason = (typeof BOOTSTRAP_REJECT_REASONS)[number];

export const ERROR_DESCRIPTIONS: Readonly<Record<ErrorCode, string>> = {
  invalid_message: 'not JSON, not an object, or a field of the wrong type',
  unknown_type: '`type` is a string the relay does not know',
  invalid_otc: 'the code is missing or not of the accepted form',
  otc_in_use: 'the code is taken (or burned), or this socket already holds a session',
  otc_not_found: 'no live session under that code',
  otc_expired: 'the session outlived its TTL (sent before a normal close)',
  peer_already_connected: 'the session already has a controller',
  peer_disconnected: 'the other peer closed its socket',
  rate_limited: 'too many failed attempts (or watches) from this address in the window',
  relay_capacity: 'the session table is full',
  session_data_limit: 'the session forwarded its byte cap; both sockets are closed',
  missing_jti: 'a bootstrap message without `jti`',
  invalid_jti: 'a `jti` that is not a string, is empty, too long, or not watched by this socket',
  jti_already_watched: 'another live socket already watches that `jti`',
  going_away: 'the relay is shutting down (sent before close 1001)',
};

const errorFrames = new Map<ErrorCode, string>(
  ERROR_CODES.map((code) => [code, JSON.stringify({ type: 'error', code })]),
);

/** The ready-made frame for an error code; these never change, so build them once. */
export function errorFrame(code: ErrorCode): string {
  return errorFrames.get(code) as string;
}

const rejectFrames = new Map<BootstrapRejectReason, string>(
  BOOTSTRAP_REJECT_REASONS.map((error) => [
    error,
    JSON.stringify({ type: 'bootstrap_reject', error }),
  ]),
);

export function bootstrapRejectFrame(reason: BootstrapRejectReason): string {
  return rejectFrames.get(reason) as string;
}
