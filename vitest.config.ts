import { defineConfig } from 'vitest/config';

// Two projects: `unit` needs no privileges and runs in parallel; `netns` creates real network
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
        test: {
          name: 'netns',
          include: ['test/netns/**/*.test.ts'],
          globalSetup: ['test/helpers/netns-global-setup.ts'],
          pool: 'forks',
          poolOptions: { forks: { singleFork: true } },
          testTimeout: 120_000,
          hookTimeout: 120_000,
        },
      },
    ],
  },
});
