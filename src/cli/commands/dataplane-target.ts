// Which roam instance a read-only command (`roam status`, `roam map dump`) looks at: named by
// --instance (and --pin-base), or taken from an agent's --config. Opens it from its pins only:
// nothing is loaded, attached or changed, so it works whether the agent runs or not.
import type { Command } from 'commander';
import { Dataplane } from '../../dataplane/dataplane.ts';
import { DEFAULT_PIN_BASE } from '../../dataplane/pin-layout.ts';
import { loadConfig, type NveConfig } from '../../nve/config.ts';
import { UserError } from '../user-error.ts';
import { rootLogger } from '../../log.ts';

export interface TargetOptions {
  config?: string;
  instance?: string;
  pinBase?: string;
}

export interface Target {
  instance: string;
  pinBase: string;
  config?: NveConfig;
}

/** Adds --config, --instance and --pin-base to a command. */
export function targetOptions(cmd: Command): Command {
  return cmd
    .option('-c, --config <file>', "the agent's YAML config (gives instance and pin root)")
    .option('-i, --instance <name>', "roam instance name (default: the config's, else the NVE id)")
    .option('--pin-base <dir>', 'where instances are pinned', DEFAULT_PIN_BASE);
}

export function resolveTarget(o: TargetOptions): Target {
  const config = o.config ? loadConfig(o.config) : undefined;
  const instance = o.instance ?? config?.pin.instance;
  if (!instance) throw new UserError('name the instance: --instance NAME or --config FILE');
  const pinBase =
    o.config && !o.instance
      ? (config?.pin.root ?? DEFAULT_PIN_BASE)
      : (o.pinBase ?? DEFAULT_PIN_BASE);
  return { instance, pinBase, config };
}

/** Open the instance from its pins; a missing one is an operator error, not a crash. */
export function openTarget(t: Target): Dataplane {
  // A read-only look: the dataplane's info lines ("adopted") would only clutter the output.
  if (process.env.ROAM_LOG_LEVEL === undefined) rootLogger().level = 'warn';
  if (!Dataplane.isLoaded({ instance: t.instance, pinBase: t.pinBase })) {
    throw new UserError(
      `no roam instance "${t.instance}" is loaded under ${t.pinBase} (is the agent running, or was it detached?)`,
      1,
    );
  }
  return Dataplane.adopt({ instance: t.instance, pinBase: t.pinBase });
}
