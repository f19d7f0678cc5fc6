import { defineConfig } from 'vitest/config';

// Three projects: `unit` needs no privileges and runs in parallel; `kernel` needs root and loads
// BPF programs but creates no namespaces; `netns` creates real network
// namespaces and loads real BPF programs, so it runs one file at a time (the kernel objects it
// creates are global to the machine) and with longer timeouts.
export default defineConfig({
  test: {
    projects: [
      {
        test: {
          name: 'unit',
          include: ['test/unit/**/*.test.ts'],
          testTimeout: 20_000,
        },
      },
      {
        // Root + BPF, but no namespaces: programs run on frames through BPF_PROG_TEST_RUN.
        test: {
          name: 'kernel',
          include: ['test/kernel/**/*.test.ts'],
          globalSetup: ['test/helpers/netns-global-setup.ts'],
          pool: 'forks',
          testTimeout: 60_000,
        },
      },
      {
        test: {
          name: 'netns',
          include: ['test/netns/**/*.test.ts'],
          globalSetup: ['test/helpers/netns-global-setup.ts'],
          setupFiles: ['test/helpers/netns-per-file.ts'],
          pool: 'forks',
          poolOptions: { forks: { singleFork: true } },
          testTimeout: 120_000,
          hookTimeout: 120_000,
        },
      },
    ],
  },
});
