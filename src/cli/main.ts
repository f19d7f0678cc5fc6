// The `roam` command. Each sub-command lives in its own file under src/cli/commands/ and is
// registered here; main() turns operator mistakes (UserError) into one line and an exit code.
import { Command, CommanderError } from 'commander';
import { UserError } from './user-error.ts';
import { packageVersion } from './version.ts';
import { registerCheck } from './commands/check.ts';
import { registerNva } from './commands/nva.ts';
import { registerVm } from './commands/vm.ts';
import { registerNve } from './commands/nve.ts';
import { registerDemo } from './commands/demo.ts';
import { registerStatus } from './commands/status.ts';
import { registerMapDump } from './commands/map-dump.ts';
import { registerRoute } from './commands/route.ts';

export function buildProgram(): Command {
  const program = new Command('roam')
    .description(
      'VXLAN overlay edge with an eBPF/XDP dataplane and VM mobility (draft-ietf-nvo3-vmm)',
    )
    .version(packageVersion(), '-V, --version', 'print the version and exit')
    .showHelpAfterError('(run `roam --help` for usage)')
    .exitOverride();
  registerCheck(program);
  registerNva(program);
  registerVm(program);
  registerRoute(program);
  registerNve(program);
  registerStatus(program);
  registerMapDump(program);
  registerDemo(program);
  return program;
}

export async function main(argv: string[]): Promise<void> {
  const program = buildProgram();
  try {
    await program.parseAsync(argv);
  } catch (err) {
    if (err instanceof CommanderError) {
      // --help and --version end here with code 0; usage errors were already printed.
      process.exitCode = err.exitCode;
      return;
    }
    if (err instanceof UserError) {
      process.stderr.write(`roam: ${err.message}\n`);
      process.exitCode = err.exitCode;
      return;
    }
    throw err;
  }
}
