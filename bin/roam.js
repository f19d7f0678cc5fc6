#!/usr/bin/env node
// Entry point of the `roam` command: runs the TypeScript sources through tsx, so the command
// always runs exactly the code in src/ (no separate compile step that could go stale).
import { register } from 'tsx/esm/api';

register();
const { main } = await import('../src/cli/main.ts');
await main(process.argv);
