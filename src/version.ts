// Kept equal to package.json's version by `npm version` (scripts/sync-version.mjs)
// and checked by test/config.test.ts. A literal, not a require of package.json:
// under Bun that one read loads the CommonJS loader, ~2 MB of RSS.
export const VERSION = '0.1.0';
