// The `tsjail` command line: dispatches to `run` or the compiler's tools, each loaded on demand.
import { JailError } from '../jail/errors';
import { PolicyError } from '../policy/errors';
import { suggest } from '../syscalls/suggest';
import { USAGE, UsageError } from './usage';

type JailCommand = (argv: string[], log: (msg: string) => void) => Promise<number>;

/** `run` and `learn`: their own errors exit 125 (podman's convention), the command's status passes through. */
async function jailSubcommand(load: () => { usage: string; command: JailCommand }, argv: string[]): Promise<number> {
  const { usage, command } = load();
  if (argv[0] === '--help' || argv[0] === '-h') { process.stdout.write(usage); return 0; }
  const log = (msg: string): void => { process.stderr.write(`tsjail: ${msg}\n`); };
  try {
    return await command(argv, log);
  } catch (e) {
    if (e instanceof PolicyError || e instanceof JailError || (e as Error).name === 'HelperUnavailable') log((e as Error).message);
    else log(`internal error: ${(e as Error).stack ?? String(e)}`);
    return 125;
  }
}

const JAIL_COMMANDS: Record<string, () => { usage: string; command: JailCommand }> = {
  run: () => { const m = require('./run') as typeof import('./run'); return { usage: m.RUN_USAGE, command: m.runCommand }; },
  learn: () => { const m = require('./learn') as typeof import('./learn'); return { usage: m.LEARN_USAGE, command: m.learnCommand }; },
};

export function main(argv: string[]): number | Promise<number> {
  const [command, ...rest] = argv;
  if (!command || command === '--help' || command === '-h' || command === 'help') {
    process.stdout.write(USAGE);
    return command ? 0 : 2;
  }
  const jail = JAIL_COMMANDS[command];
  if (jail) return jailSubcommand(jail, rest);
  try {
    // Loaded on demand: `tsjail run` should not pay for the compiler's tools.
    const { TOOL_COMMANDS } = require('./tools') as typeof import('./tools');
    const run = TOOL_COMMANDS[command];
    if (!run) throw new UsageError(`unknown command '${command}'${suggest(command, ['run', 'learn', ...Object.keys(TOOL_COMMANDS)])}`);
    return run(rest) ?? 0;
  } catch (e) {
    if (e instanceof UsageError) {
      process.stderr.write(`tsjail: ${e.message}\n${USAGE}`);
      return 2;
    }
    if (e instanceof PolicyError) {
      process.stderr.write(`tsjail: ${e.message}\n`);
      return 1;
    }
    process.stderr.write(`tsjail: internal error: ${(e as Error).stack ?? String(e)}\n`);
    return 70;
  }
}
