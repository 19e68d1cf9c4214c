// The `tsjail` command line: dispatches to `run` or the compiler's tools, each loaded on demand.
// Exit status: usage errors 2; tsjail's own failures 125 (run, learn), the command's status passes through.
import arg from 'arg';
import { JailError } from '../jail/errors';
import { printable } from '../jail/printable';
import { PolicyError } from '../policy/errors';
import { suggest } from '../syscalls/suggest';
import { commandDoc, commandUsage, COMMAND_NAMES, mainUsage } from './reference';
import { helpHint, UsageError } from './usage';

type JailCommand = (argv: string[], log: (msg: string) => void) => Promise<number>;

/** --help or -h among the flags (for run and learn: before the command, which may have its own). */
function asksHelp(argv: readonly string[], spec?: arg.Spec): boolean {
  if (!spec) {
    const end = argv.indexOf('--');
    return (end < 0 ? argv : argv.slice(0, end)).some((a) => a === '--help' || a === '-h');
  }
  try {
    return arg({ ...spec, '--help': Boolean, '-h': '--help' }, { argv: [...argv], permissive: true, stopAtPositional: true })['--help'] === true;
  } catch {
    return false; // a flag without its value: the parse proper says so
  }
}

/** `run` and `learn`: their own errors exit 125 (podman's convention), the command's status passes through. */
async function jailSubcommand(name: string, load: () => { spec: arg.Spec; command: JailCommand }, argv: string[]): Promise<number> {
  const { spec, command } = load();
  if (asksHelp(argv, spec)) { process.stdout.write(commandUsage(commandDoc(name)!)); return 0; }
  const log = (msg: string): void => { process.stderr.write(`tsjail: ${printable(msg)}\n`); };
  try {
    return await command(argv, log);
  } catch (e) {
    if (e instanceof PolicyError || e instanceof JailError || (e as Error).name === 'HelperUnavailable') log((e as Error).message);
    else log(`internal error: ${(e as Error).stack ?? String(e)}`);
    return 125;
  }
}

const JAIL_COMMANDS: Record<string, () => { spec: arg.Spec; command: JailCommand }> = {
  run: () => { const m = require('./run') as typeof import('./run'); return { spec: m.jailFlagSpec(m.RUN_FLAGS), command: m.runCommand }; },
  learn: () => {
    const m = require('./learn') as typeof import('./learn');
    return { spec: (require('./run') as typeof import('./run')).jailFlagSpec(m.LEARN_FLAGS), command: m.learnCommand };
  },
};

function version(): string {
  return (JSON.parse(require('node:fs').readFileSync(require('node:path').join(__dirname, '../../../package.json'), 'utf8')) as { version: string }).version;
}

/** help, man, completion: what the reference table (reference.ts) generates. */
function docCommand(command: string, rest: readonly string[]): string {
  if (command === 'help') {
    if (!rest[0]) return mainUsage();
    const doc = commandDoc(rest[0]);
    if (!doc) throw new UsageError(`no command '${rest[0]}'${suggest(rest[0], COMMAND_NAMES)}`);
    return commandUsage(doc);
  }
  const { manPage, completionScript } = require('./docs') as typeof import('./docs');
  if (command === 'man') return manPage(version());
  if (rest[0] !== 'bash' && rest[0] !== 'zsh') throw new UsageError(`completion needs a shell: bash or zsh${rest[0] ? `, not '${rest[0]}'` : ''}`);
  return completionScript(rest[0]);
}

export function main(argv: string[]): number | Promise<number> {
  const [command, ...rest] = argv;
  if (!command) { process.stderr.write(`tsjail: no command given\n${mainUsage()}`); return 2; }
  if (command === '--help' || command === '-h') { process.stdout.write(mainUsage()); return 0; }
  if (command === '--version' || command === '-V') { process.stdout.write(`tsjail ${version()}\n`); return 0; }
  const jail = JAIL_COMMANDS[command];
  if (jail) return jailSubcommand(command, jail, rest);
  try {
    if (command === 'help' || command === 'man' || command === 'completion') { process.stdout.write(docCommand(command, rest)); return 0; }
    const doc = commandDoc(command);
    if (!doc) throw new UsageError(`unknown command '${command}'${suggest(command, COMMAND_NAMES)}`);
    if (asksHelp(rest)) { process.stdout.write(commandUsage(doc)); return 0; }
    // Loaded on demand: `tsjail run` should not pay for the compiler's tools.
    const { TOOL_COMMANDS } = require('./tools') as typeof import('./tools');
    return TOOL_COMMANDS[command]!(rest) ?? 0;
  } catch (e) {
    if (e instanceof UsageError) {
      process.stderr.write(`tsjail: ${printable(e.message)}\n${commandDoc(command) && command !== 'help' ? helpHint(command) : '(tsjail --help lists the commands)'}\n`);
      return 2;
    }
    if (e instanceof PolicyError || e instanceof JailError) {
      process.stderr.write(`tsjail: ${printable(e.message)}\n`);
      return 1;
    }
    process.stderr.write(`tsjail: internal error: ${(e as Error).stack ?? String(e)}\n`);
    return 70;
  }
}
