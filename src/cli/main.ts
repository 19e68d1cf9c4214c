// The `tsjail` command line: dispatches to `run` or the compiler's tools, each loaded on demand.
import { PolicyError } from '../policy/errors';
import { suggest } from '../syscalls/suggest';
import { USAGE, UsageError } from './usage';

/** `tsjail run`: its own errors exit 125 (podman's convention), the command's status passes through. */
async function runSubcommand(argv: string[]): Promise<number> {
  const { RUN_USAGE, runCommand } = require('./run') as typeof import('./run');
  if (argv[0] === '--help' || argv[0] === '-h') { process.stdout.write(RUN_USAGE); return 0; }
  const log = (msg: string): void => { process.stderr.write(`tsjail: ${msg}\n`); };
  try {
    return await runCommand(argv, log);
  } catch (e) {
    if (e instanceof PolicyError || (e as Error).name === 'HelperUnavailable') log((e as Error).message);
    else log(`internal error: ${(e as Error).stack ?? String(e)}`);
    return 125;
  }
}

async function learnSubcommand(argv: string[]): Promise<number> {
  const { LEARN_USAGE, learnCommand } = require('./learn') as typeof import('./learn');
  if (argv[0] === '--help' || argv[0] === '-h') { process.stdout.write(LEARN_USAGE); return 0; }
  const log = (msg: string): void => { process.stderr.write(`tsjail: ${msg}\n`); };
  try {
    return await learnCommand(argv, log);
  } catch (e) {
    log(e instanceof PolicyError ? e.message : `internal error: ${(e as Error).stack ?? String(e)}`);
    return 125;
  }
}

export function main(argv: string[]): number | Promise<number> {
  const [command, ...rest] = argv;
  if (!command || command === '--help' || command === '-h' || command === 'help') {
    process.stdout.write(USAGE);
    return command ? 0 : 2;
  }
  if (command === 'run') return runSubcommand(rest);
  if (command === 'learn') return learnSubcommand(rest);
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
