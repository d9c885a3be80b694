/**
 * What the relay reports as it works, for metrics. Arguments are counts,
 * durations and reasons from fixed sets: never a code, jti, token, key,
 * payload or client address.
 */
export interface RelayEvents {
  paired(waitedMs: number): void;
  sessionEnded(outcome: SessionOutcome, durationMs: number, bytes: number): void;
  rejected(reason: string): void;
  /** A misconfiguration warning was logged (once per cause, not per request). */
  warned(cause: string): void;
}

export type SessionOutcome =
  | 'done'
  | 'peer_disconnected'
  | 'expired_unpaired'
  | 'expired_paired'
  | 'data_limit'
  | 'burned'
  | 'shutdown'
  | 'claim_lost';

export const NO_EVENTS: RelayEvents = {
  paired() {},
  sessionEnded() {},
  rejected() {},
  warned() {},
};
