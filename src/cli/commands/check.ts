// `roam check`: tells whether this host can run roam (root, bpffs, BTF, built objects) without
// changing anything. Operators run it before `roam nve run`; setup problems get one clear line each.
import type { Command } from 'commander';
import { existsSync, readFileSync } from 'node:fs';

export interface CheckResult {
  name: string;
  ok: boolean;
  detail: string;
}

export function hostChecks(): CheckResult[] {
  const mounts = readFileSync('/proc/mounts', 'utf8');
  return [
    {
      name: 'root',
      ok: process.getuid?.() === 0,
      detail: 'roam needs root (CAP_BPF, CAP_NET_ADMIN)',
    },
    {
      name: 'bpf syscall',
      ok: existsSync('/proc/sys/kernel/unprivileged_bpf_disabled'),
      detail: 'kernel built with CONFIG_BPF_SYSCALL',
    },
    {
      name: 'btf',
      ok: existsSync('/sys/kernel/btf/vmlinux'),
      detail: '/sys/kernel/btf/vmlinux present',
    },
    {
      name: 'bpffs',
      ok: / \/sys\/fs\/bpf bpf /.test(mounts),
      detail: 'bpffs mounted at /sys/fs/bpf (scripts/setup.sh mounts it)',
    },
    {
      name: 'build',
      ok: existsSync(new URL('../../../build/bpf', import.meta.url)),
      detail: 'BPF objects built under build/bpf (scripts/build.sh)',
    },
  ];
}

export function registerCheck(program: Command): void {
  program
    .command('check')
    .description('check that this host can run roam (root, BPF, bpffs, built objects)')
    .option('--json', 'print the result as JSON')
    .action((opts: { json?: boolean }) => {
      const results = hostChecks();
      if (opts.json) process.stdout.write(`${JSON.stringify(results, null, 2)}\n`);
      else
        for (const r of results)
          process.stdout.write(`${r.ok ? 'ok  ' : 'FAIL'}  ${r.name}: ${r.detail}\n`);
      if (results.some((r) => !r.ok)) process.exitCode = 1;
    });
}
