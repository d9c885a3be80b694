import * as client from 'prom-client';
import { MEMBERSHIP_STATES, STORE_STATES, type ClusterStatus } from './cluster-status.js';
import type { RelayEvents } from './events.js';

export interface MetricsSources {
  sessions(): number;
  sockets(): number;
  bootstrapInFlight(): number;
  /** Scale-out only. */
  cluster(): ClusterStatus | undefined;
}

export interface Metrics {
  events: RelayEvents;
  /** The text exposition; http/metrics-answer.ts makes the HTTP answer of it. */
  render(): Promise<{ contentType: string; text: string }>;
}

/**
 * Prometheus metrics on a registry of this relay's own (no global state).
 * The composition root loads this module only when metrics are on.
 */
export function createMetrics(sources: MetricsSources, scaleOut: boolean): Metrics {
  const registers = [new client.Registry()];
  const [registry] = registers as [client.Registry];
  const gauge = (name: string, help: string, read: () => number): void => {
    new client.Gauge({
      name,
      help,
      registers,
      collect() {
        this.set(read());
      },
    });
  };
  gauge('pairing_relay_sessions', 'Live sessions (waiting or paired).', sources.sessions);
  gauge('pairing_relay_sockets', 'Open WebSockets.', sources.sockets);
  gauge(
    'pairing_relay_bootstrap_in_flight',
    'Bootstrap watches plus inits waiting on an answer.',
    sources.bootstrapInFlight,
  );
  gauge('pairing_relay_resident_memory_bytes', 'Resident set size of the process.', () =>
    process.memoryUsage.rss(),
  );
  // A state set: one series per state, 1 for the current one.
  const stateSet = <S extends string>(
    name: string,
    help: string,
    states: readonly S[],
    read: () => S | undefined,
  ): void => {
    new client.Gauge({
      name,
      help,
      labelNames: ['state'],
      registers,
      collect() {
        const now = read();
        for (const state of states) this.set({ state }, state === now ? 1 : 0);
      },
    });
  };
  if (scaleOut) {
    stateSet(
      'pairing_relay_redis_state',
      'Redis as this instance sees it: ok, slow (no answer within the timeout) or unreachable.',
      STORE_STATES,
      () => sources.cluster()?.store,
    );
    stateSet(
      'pairing_relay_cluster_membership',
      'This instance in the cluster: ok, unsubscribed (own channel unconfirmed) or reclaiming (claims not yet written back).',
      MEMBERSHIP_STATES,
      () => sources.cluster()?.membership,
    );
    new client.Gauge({
      name: 'pairing_relay_foreign_secrets',
      help: 'Other RELAY_REDIS_SECRET values in live use on the same Redis and prefix (not 0: cross-instance pairings fail; give every replica one secret).',
      registers,
      collect() {
        this.set(sources.cluster()?.foreignSecrets ?? 0);
      },
    });
  }
  const counter = <L extends string = never>(name: string, help: string, labelNames: L[] = []) =>
    new client.Counter<L>({ name, help, labelNames, registers });
  const histogram = (name: string, help: string, buckets: number[]): client.Histogram =>
    new client.Histogram({ name, help, buckets, registers });
  const pairings = counter('pairing_relay_pairings_total', 'Sessions that found their controller.');
  const ended = counter('pairing_relay_sessions_ended_total', 'Sessions ended, by outcome.', [
    'outcome',
  ]);
  const rejections = counter(
    'pairing_relay_rejections_total',
    'Requests refused, by error code or upgrade refusal.',
    ['reason'],
  );
  const warnings = counter(
    'pairing_relay_warnings_total',
    'Misconfiguration warnings logged, by cause (each is logged once, then at most hourly).',
    ['cause'],
  );
  const forwarded = counter(
    'pairing_relay_forwarded_bytes_total',
    'Bytes of data frames relayed, counted when each session ends.',
  );
  const timeToPair = histogram(
    'pairing_relay_time_to_pair_seconds',
    'From listen to peer_found.',
    [0.1, 0.5, 1, 2, 5, 10, 20, 30, 60],
  );
  const duration = histogram(
    'pairing_relay_session_duration_seconds',
    'From listen to the end of the session.',
    [0.1, 0.5, 1, 5, 10, 30, 60, 120],
  );

  return {
    events: {
      paired(waitedMs) {
        pairings.inc();
        timeToPair.observe(waitedMs / 1000);
      },
      sessionEnded(outcome, durationMs, bytes) {
        ended.inc({ outcome });
        duration.observe(durationMs / 1000);
        if (bytes > 0) forwarded.inc(bytes);
      },
      rejected(reason) {
        rejections.inc({ reason });
      },
      warned(cause) {
        warnings.inc({ cause });
      },
    },
    async render() {
      return { contentType: registry.contentType, text: await registry.metrics() };
    },
  };
}
