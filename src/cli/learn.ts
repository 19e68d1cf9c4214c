// `tsjail learn [-o FILE] [--format ts|json] [--merge FILE] [JAIL OPTIONS] -- CMD [ARGS...]`
import { readFileSync, writeFileSync } from 'node:fs';
import { emptyLearned, learnedToOci, learnedToTs, Learner, mergeLearned, readLearned } from '../jail/learn';
import { runJailed } from '../jail/run';
import { parseFlags, RunUsageError } from './run';

export const LEARN_USAGE = `usage: tsjail learn [-o FILE] [--format ts|json] [--merge FILE] [JAIL OPTIONS] -- CMD [ARGS...]

Runs CMD in the jail (same options as tsjail run) with every syscall observed, and writes the
minimal allowlist policy under which it runs: TypeScript (default) or an OCI profile (json).
--merge FILE widens a policy written by an earlier learn with this run. --late learns only what
runs after start-up (from main() on), for a policy run with tsjail run --late.
`;

export async function learnCommand(argv: string[], log: (msg: string) => void): Promise<number> {
  let parsed;
  try {
    parsed = parseFlags(argv, { '--output': String, '-o': '--output', '--format': String, '--merge': String });
  } catch (e) {
    if (e instanceof RunUsageError) { log(`${e.message}\n${LEARN_USAGE}`); return 125; }
    throw e;
  }
  const { options, command, extra } = parsed;
  const format = (extra['--format'] as string | undefined) ?? ((extra['--output'] as string | undefined)?.endsWith('.json') ? 'json' : 'ts');
  if (!command.length || !['ts', 'json'].includes(format)) { log(LEARN_USAGE); return 125; }
  const learned = emptyLearned();
  learned.commands.push(command.join(' '));
  if (options.late) learned.late = true;
  const merge = extra['--merge'] as string | undefined;
  if (merge) {
    try {
      mergeLearned(learned, readLearned(readFileSync(merge, 'utf8'), merge));
    } catch (e) {
      log((e as Error).message);
      return 125;
    }
  }
  let last = 0;
  const live = process.stderr.isTTY
    ? (seen: number, distinct: number): void => {
      const now = Date.now();
      if (now - last < 100) return;
      last = now;
      process.stderr.write(`\rtsjail learn: ${seen} syscalls seen, ${distinct} distinct `);
    }
    : undefined;
  const learner = new Learner(learned, live);
  const code = await runJailed(command, undefined, options, log, learner.watch());
  if (live) process.stderr.write('\n');
  const text = format === 'json' ? learnedToOci(learned) : learnedToTs(learned);
  const out = extra['--output'] as string | undefined;
  if (out) writeFileSync(out, text);
  else process.stdout.write(text);
  log(`learned ${learner.distinct()} distinct syscalls from ${learner.seen} calls${options.late ? ' after start-up (--late)' : ''}${out ? ` -> ${out}` : ''}${code ? ` (the command exited ${code})` : ''}`);
  return code;
}
