/** The shared store as this instance sees it: answering in time, slow (or silent), or gone. */
export type StoreState = 'ok' | 'slow' | 'unreachable';
/** This instance's own part: its channel confirmed and its claims written back after an outage. */
export type MembershipState = 'ok' | 'unsubscribed' | 'reclaiming';

export interface ClusterStatus {
  store: StoreState;
  membership: MembershipState;
}

export const STORE_STATES: readonly StoreState[] = ['ok', 'slow', 'unreachable'];
export const MEMBERSHIP_STATES: readonly MembershipState[] = ['ok', 'unsubscribed', 'reclaiming'];
