import { fileURLToPath } from 'node:url';
import type { RelayOptions, RelayServer } from '../../src/index.js';

// The transports the shared suite runs against, one per run, chosen by
// RELAY_TEST_TRANSPORT (`npm test` runs node, then bun). Every test file runs
// under every transport unless its first lines say `// Transport-independent:
// <why>` (test/helpers/suite-files.ts); a test that needs more than the
// protocol names a capability (`it.skipIf(!transport.has('cli'))('... (needs
// ...)')`), never a transport. test/suite.test.ts holds every file to that.

/** What a transport may offer beyond the protocol, and what a test needing it does with it. */
export const CAPABILITIES = {
  inProcess:
    'the relay object in the test process itself: its timers can be counted, its options may be functions',
  attachServer: 'attaching to a node:http server the caller owns (the `server` option)',
  mount: "mounting into the caller's own Bun.serve (`mount: true`, relay.fetch/relay.websocket)",
  perIpAcceptCap: 'a per-address cap at TCP accept, before any HTTP request is read',
  cli: 'running dist/cli.js as a process of this runtime (transport.cli)',
  signals: 'that process draining on SIGTERM/SIGINT and re-reading token files on SIGHUP',
  metrics: 'serving Prometheus /metrics',
  scaleOut: "scale-out over Redis (TCP from the relay's own process)",
  shutdown:
    'stop() and drain() telling every socket going_away (a Worker is never stopped by its owner: deploys move sockets)',
  logs: "the relay's log lines reaching the test's logger (a Worker's go to Workers Logs)",
  ownsConnection:
    "writing a refused upgrade's HTTP answer itself, Connection: close and closed (on Workers, Cloudflare's front end owns the connection)",
  forwardedFor:
    'the client address from X-Forwarded-For behind trusted proxies (trustProxy); a Worker has only CF-Connecting-IP',
  globalCaps:
    'caps over the whole relay: concurrent sockets and sessions, sockets per address, stored jtis (a Worker has one object per code instead)',
  heartbeat:
    'pinging sockets and cutting off those that do not answer (on Workers, the platform does)',
  slowReaderCap: "a cap on a slow reader's send buffer (maxBufferedBytes)",
} as const;

export type Capability = keyof typeof CAPABILITIES;

export interface Transport {
  readonly capabilities: readonly Capability[];
  /**
   * A relay with these options (the suite adds host 127.0.0.1, port 0, silent),
   * not yet started: its start() binds and resolves with the address.
   */
  relay(options: RelayOptions): Promise<RelayServer>;
  /** The command that runs dist/cli.js on this transport: with the `cli` capability only. */
  readonly cli?: string;
  /**
   * How many pairings at once a load test may ask of it on a loaded 2-core
   * machine and still get every answer within the suite's 3 s; 200 unless given.
   */
  readonly concurrentPairings?: number;
}

/** What a relay in a server process of ours offers, whichever runtime it runs on. */
const OWN_PROCESS = [
  'cli',
  'signals',
  'metrics',
  'scaleOut',
  'shutdown',
  'logs',
  'ownsConnection',
  'forwardedFor',
  'globalCaps',
  'heartbeat',
  'slowReaderCap',
] as const satisfies readonly Capability[];

const BUN = fileURLToPath(new URL('../../node_modules/.bin/bun', import.meta.url));

/** Every registered transport. A new one adds its entry here; the suite then runs on it. */
export const TRANSPORTS = {
  /** node:http and ws, in the test process. */
  node: {
    capabilities: ['inProcess', 'attachServer', 'perIpAcceptCap', ...OWN_PROCESS],
    relay: async (options) => (await import('../../src/index.js')).createRelayServer(options),
    cli: process.execPath,
  },
  /**
   * Bun.serve in a Bun process of its own (test/helpers/bun-host.ts), driven
   * over a control channel. Bun.serve has no hook at TCP accept.
   */
  bun: {
    capabilities: ['mount', ...OWN_PROCESS],
    relay: async (options) => (await import('./bun-relay.js')).startBunRelay(options),
    cli: BUN,
  },
  /**
   * The Cloudflare Worker (pairing-relay/cloudflare, dist/cloudflare.js)
   * under miniflare behind scripts/edge-server.mjs's front, as `npm run
   * edge` serves it; needs `npm run build` first. The platform has no TCP
   * accept hook, no process of ours, no /metrics (docs/protocol.md,
   * "Platform differences").
   */
  edge: {
    capabilities: [],
    // miniflare runs every Durable Object round trip through one local workerd:
    // ~35 pairings/s here (docs/benchmarks.md, Edge).
    concurrentPairings: 40,
    relay: async (options) => (await import('./edge-relay.js')).startEdgeRelay(options),
  },
} as const satisfies Record<string, Transport>;

export type TransportName = keyof typeof TRANSPORTS;

/** The variable that picks the transport; RELAY_TEST_RUNTIME is its older name. */
export const TRANSPORT_VARIABLE = 'RELAY_TEST_TRANSPORT';
const OLD_VARIABLE = 'RELAY_TEST_RUNTIME';

/** The transport whose run also runs the transport-independent files, once. */
export const ONCE: TransportName = 'node';

function isTransportName(name: string): name is TransportName {
  return Object.hasOwn(TRANSPORTS, name);
}

/** The transport this run uses: RELAY_TEST_TRANSPORT (or RELAY_TEST_RUNTIME), default node. */
export function selectedTransport(env: NodeJS.ProcessEnv = process.env): TransportName {
  const value = env[TRANSPORT_VARIABLE] || undefined;
  const old = env[OLD_VARIABLE] || undefined;
  if (value !== undefined && old !== undefined && value !== old) {
    throw new Error(`${TRANSPORT_VARIABLE}=${value} and ${OLD_VARIABLE}=${old} disagree`);
  }
  const name = value ?? old ?? ONCE;
  if (!isTransportName(name)) {
    const known = Object.keys(TRANSPORTS).join(', ');
    throw new Error(
      `${value !== undefined ? TRANSPORT_VARIABLE : OLD_VARIABLE}=${name}: not one of ${known}`,
    );
  }
  return name;
}

const name = selectedTransport();
const selected: Transport = TRANSPORTS[name];

/** The transport under test in this run. */
export const transport = {
  name,
  has: (capability: Capability): boolean => selected.capabilities.includes(capability),
  concurrentPairings: selected.concurrentPairings ?? 200,
  relay: (options: RelayOptions): Promise<RelayServer> => selected.relay(options),
  /** The command that runs dist/cli.js here; a test calling it needs the `cli` capability. */
  cli(): string {
    if (selected.cli === undefined) {
      throw new Error(`the ${name} transport runs no CLI: skip with !transport.has('cli')`);
    }
    return selected.cli;
  },
};
