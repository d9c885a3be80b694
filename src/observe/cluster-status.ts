/** The shared store as this instance sees it: answering in time, slow (or silent), or gone. */
export type StoreState = 'ok' | 'slow' | 'unreachable';
/** This instance's own part: its channel confirmed and its claims written back after an outage. */
export type MembershipState = 'ok' | 'unsubscribed' | 'reclaiming';

/** Whether every instance under this Redis and prefix shares our secret, as far as we can tell. */
export type SecretState = 'ok' | 'secret_mismatch';

export interface ClusterStatus {
  store: StoreState;
  membership: MembershipState;
  secret: SecretState;
  /** Other secrets in live use under the same Redis and prefix (0 when all is well). */
  foreignSecrets: number;
}

export const STORE_STATES: readonly StoreState[] = ['ok', 'slow', 'unreachable'];
export const MEMBERSHIP_STATES: readonly MembershipState[] = ['ok', 'unsubscribed', 'reclaiming'];
