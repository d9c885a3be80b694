// Kept equal to package.json's version by `npm version` (scripts/sync-version.mjs)
// and checked by test/config.test.ts. A literal, not a require of package.json:
// under Bun that one read loads the CommonJS loader, ~2 MB of RSS.
export const VERSION = '0.1.0';

/** Which runtime serves, as "bun 1.4.5" or "node 20.20.2": in /health and the listening line. */
export const RUNTIME: string =
  process.versions.bun !== undefined
    ? `bun ${process.versions.bun}`
    : `node ${process.versions.node}`;
