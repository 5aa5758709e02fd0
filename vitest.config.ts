import { defineConfig } from 'vitest/config';

// Test files that subscribe to the kernel's events, make fork storms or bombs, make real
// cgroups, or run Prometheus or podman: they run one file at a time, after the unit tests,
// so that two storms or bombs never share the machine (each still passes while other
// processes fork).
const kernel = [
  'test/e2e/**/*.test.ts',
  'test/image/**/*.test.ts',
  'test/kernel/connector.test.ts',
  'test/dashboards/queries.test.ts',
  'test/workloads/pod-pids.test.ts',
];

export default defineConfig({
  test: {
    testTimeout: 60_000,
    hookTimeout: 60_000,
    projects: [
      {
        extends: true,
        test: { name: 'unit', include: ['test/**/*.test.ts'], exclude: kernel, sequence: { groupOrder: 0 } },
      },
      {
        extends: true,
        test: { name: 'kernel', include: kernel, fileParallelism: false, sequence: { groupOrder: 1 } },
      },
    ],
  },
});
