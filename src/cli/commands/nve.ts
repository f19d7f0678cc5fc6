// `roam nve run --config FILE`: the NVE agent. Runs until SIGINT/SIGTERM; stopping leaves the
// dataplane forwarding on what is installed (maps and links pinned), for the next agent to adopt.
import type { Command } from 'commander';
import { logger } from '../../log.ts';
import { loadConfig } from '../../nve/config.ts';
import { memoryDataplane, NveAgent } from '../../nve/agent.ts';
import { BpfDataplane } from '../../nve/bpf-dataplane.ts';

export function registerNve(program: Command): void {
  const nve = program.command('nve').description('the NVE agent (one per host)');
  nve
    .command('run')
    .description('run the NVE agent: follow the NVA, learn local VMs, keep the BPF maps in sync')
    .requiredOption('-c, --config <file>', 'agent configuration (YAML; see docs/examples/nve.yaml)')
    .option('--dry-run', 'drive in-memory tables instead of the BPF dataplane (no root needed)')
    .action(async (opts: { config: string; dryRun?: boolean }) => {
      const config = loadConfig(opts.config);
      const log = logger('nve');
      const dataplane = opts.dryRun ? memoryDataplane() : BpfDataplane.open(config, log);
      const agent = new NveAgent({ config, dataplane, log });
      await agent.start();
      await new Promise<void>((resolve) => {
        const stop = () => {
          process.off('SIGINT', stop);
          process.off('SIGTERM', stop);
          resolve();
        };
        process.on('SIGINT', stop);
        process.on('SIGTERM', stop);
      });
      await agent.stop();
    });
}
