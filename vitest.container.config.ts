import { defineConfig } from 'vitest/config';

// The container image built and run under podman: minutes, not seconds, so `npm test`
// runs it last, on its own, one file at a time (test/container/setup.ts builds once).
export default defineConfig({
  test: {
    include: ['test/container/**/*.test.ts'],
    globalSetup: ['test/container/setup.ts'],
    testTimeout: 120_000,
    hookTimeout: 120_000,
    fileParallelism: false,
  },
});
