import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['server/**/*.test.ts', 'test/**/*.test.ts'],
    testTimeout: 60_000,
    hookTimeout: 120_000,
    // Integration suites start real servers and child processes; two cores cannot take more.
    maxWorkers: 2,
    fileParallelism: true,
  },
});
