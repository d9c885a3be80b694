import { defineConfig } from 'vitest/config';
import { excludedFor } from './test/helpers/suite-files.js';
import { selectedTransport } from './test/helpers/transports.js';

export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    // The container image tests have their own config (vitest.container.config.ts). A run on
    // another transport than node leaves out the files marked transport-independent.
    exclude: ['test/container/**', '**/node_modules/**', ...excludedFor(selectedTransport())],
    testTimeout: 20_000,
    hookTimeout: 20_000,
    // Real sockets and spawned processes: keep the 2-core machine from thrashing.
    fileParallelism: true,
    maxWorkers: 2,
  },
});
