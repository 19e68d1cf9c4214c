// Writes V8's code cache of every module in dist/src for this Node (src/cli/codeCache.ts), which
// bin/tsjail.js uses; to the path given, else where bin/tsjail.js looks. Run as `node
// --predictable`: the same build gives the same bytes.
import { mkdirSync, readdirSync, renameSync, writeFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { codeCacheFile, makeCodeCache } from '../src/cli/codeCache';

if (!process.execArgv.includes('--predictable')) throw new Error('run as node --predictable dist/scripts/code-cache.js: only then are the bytes the same on every build');
const dist = resolve(__dirname, '..');
const root = join(dist, 'src');
const modules = (readdirSync(root, { recursive: true }) as string[]).filter((f) => f.endsWith('.js')).sort().map((f) => join(root, f));
const out = process.argv[2] ?? codeCacheFile(dist);
mkdirSync(dirname(out), { recursive: true });
// Renamed into place: a tsjail starting meanwhile reads the old file or the new, never half of one.
writeFileSync(`${out}.${process.pid}`, makeCodeCache(root, modules));
renameSync(`${out}.${process.pid}`, out);
console.log(`wrote ${out}`);
