import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    testTimeout: 20_000,
    hookTimeout: 20_000,
    // Real sockets and spawned processes: keep the 2-core machine from thrashing.
    fileParallelism: true,
    maxWorkers: 2,
  },
});
