import type { RelayAddress, RelayOptions, RelayServer } from '../../src/index.js';
import { SETTINGS } from '../../src/index.js';
import { startEdge, type Edge } from '../../scripts/edge-server.mjs';

/** RelayOptions as the Worker's bindings: each setting's variable, as text. */
export function optionsAsVars(options: RelayOptions): Record<string, string> {
  const vars: Record<string, string> = {};
  for (const { key, env } of SETTINGS) {
    const value = (options as Record<string, unknown>)[key];
    if (value === undefined || key === 'port' || key === 'host' || key === 'logLevel') continue;
    if (typeof value === 'function') {
      throw new Error(
        `option ${key} is a function and cannot be a Worker binding: skip with !transport.has('inProcess')`,
      );
    }
    vars[env] = Array.isArray(value) ? value.join(',') : String(value);
  }
  return vars;
}

/**
 * The relay as a Cloudflare Worker under miniflare (scripts/edge-server.mjs,
 * what `npm run edge` runs), behind the RelayServer interface the tests use.
 * Its sessions and connections counts are /health's (this one isolate's).
 */
export async function startEdgeRelay(options: RelayOptions): Promise<RelayServer> {
  const { logger: _logger, server, ...plain } = options;
  if (server !== undefined) {
    throw new Error(
      "a node:http server cannot be handed to a Worker: skip with !transport.has('attachServer')",
    );
  }
  const vars = optionsAsVars(plain);
  let edge: Edge | null = null;
  let address: RelayAddress | null = null;
  const unsupported = (what: string) => (): never => {
    throw new Error(`the edge transport has no ${what}`);
  };
  // /health's counts, refreshed in the background whenever a test reads
  // them (a test polls until they settle): getters cannot wait.
  let counts = { sessions: 0, connections: 0 };
  let asking = false;
  const refresh = (): void => {
    if (asking || address === null) return;
    asking = true;
    fetch(address.healthUrl)
      .then(async (r) => {
        counts = (await r.json()) as typeof counts;
      })
      .catch(() => undefined)
      .finally(() => {
        asking = false;
      });
  };
  const relay = {
    async start(): Promise<RelayAddress> {
      edge = await startEdge({ port: plain.port ?? 0, host: plain.host ?? '127.0.0.1', vars });
      address = {
        host: edge.host,
        port: edge.port,
        url: edge.url,
        healthUrl: `http://${edge.host}:${edge.port}/health`,
      };
      return address;
    },
    async stop(): Promise<void> {
      await edge?.stop();
    },
    drain: async (): Promise<void> => {
      await edge?.stop();
    },
    handleRequest: unsupported('handleRequest'),
    get address() {
      return address;
    },
    get sessions() {
      refresh();
      return counts.sessions;
    },
    get connections() {
      refresh();
      return counts.connections;
    },
    draining: false,
    reloadAccessTokens: async () => undefined,
    fetch: unsupported('fetch'),
    websocket: undefined,
  };
  return relay as unknown as RelayServer;
}
