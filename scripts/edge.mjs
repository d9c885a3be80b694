// npm run edge: the relay as a Cloudflare Worker, locally, under miniflare
// (scripts/edge-server.mjs), on PORT / HOST (default 127.0.0.1:8787). The
// relay's own variables (docs/configuration.md) are passed to the Worker as
// its bindings. Stops on SIGTERM / SIGINT.
import { SETTINGS } from '../dist/index.js';
import { startEdge } from './edge-server.mjs';

const port =
  process.env.PORT === undefined || process.env.PORT === '' ? 8787 : Number(process.env.PORT);
if (!Number.isInteger(port) || port < 0 || port > 65_535) {
  console.error(`PORT must be a port number (0-65535), got ${JSON.stringify(process.env.PORT)}`);
  process.exit(2);
}
const host = process.env.HOST || '127.0.0.1';
const vars = {};
for (const { env } of SETTINGS) {
  if (env === 'PORT' || env === 'HOST') continue;
  const value = process.env[env];
  if (value !== undefined && value !== '') vars[env] = value;
}
// bench/edge.mjs reads the Worker's usage counters (src/edge/usage.ts).
if (process.env.RELAY_EDGE_USAGE === '1') vars.RELAY_EDGE_USAGE = '1';
let edge;
try {
  edge = await startEdge({ port, host, vars });
} catch (err) {
  console.error(`npm run edge: cannot start: ${err.message}`);
  process.exit(1);
}
console.log(`pairing-relay (Cloudflare Worker under miniflare) listening on ${edge.url}`);
let stopping = false;
for (const signal of ['SIGTERM', 'SIGINT']) {
  // miniflare's own handler exits at once with 128 + signal; this one closes
  // the front and disposes of miniflare (its workerd child) first, then exits 0.
  process.removeAllListeners(signal);
  process.on(signal, () => {
    if (stopping) return;
    stopping = true;
    edge.stop().then(
      () => process.exit(0),
      () => process.exit(1),
    );
  });
}
