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
    .option(
      '--netns <name>',
      'the network namespace of the TSIs and the underlay (the agent stays in this one, where bpffs is)',
    )
    .action(async (opts: { config: string; dryRun?: boolean; netns?: string }) => {
      const config = loadConfig(opts.config);
      const log = logger('nve');
      const dataplane = opts.dryRun
        ? memoryDataplane()
        : BpfDataplane.open(config, log, opts.netns);
      const agent = new NveAgent({ config, dataplane, log, netns: opts.netns });
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
  nve
    .command('detach')
    .description(
      'remove roam from this host: links, programs, maps and pins (traffic stops using roam)',
    )
    .requiredOption('-c, --config <file>', 'the agent configuration (names the pinned instance)')
    .option('--netns <name>', 'the network namespace of the TSIs and the underlay')
    .action((opts: { config: string; netns?: string }) => {
      const config = loadConfig(opts.config);
      const done = BpfDataplane.detach(config, opts.netns);
      process.stdout.write(
        done
          ? `roam instance ${config.pin.instance} detached\n`
          : `no roam instance ${config.pin.instance} to detach\n`,
      );
    });
}
