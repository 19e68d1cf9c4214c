// Builds the C libraries for this platform into helper/build/ (run by `npm run build`/`prepare`):
// the helper and the --late preload library, each named and marked with its source's hash. A
// package published from such a build ships them; elsewhere they are built on first use.
import { readdirSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { buildNative, HelperUnavailable, libraryFile, NATIVE_LIBRARIES, nativeSource } from '../src/jail/helper';
import { REPO_ROOT } from './upstream';

const dir = join(REPO_ROOT, 'helper/build', `${process.platform}-${process.arch}`);
for (const name of NATIVE_LIBRARIES) {
  try {
    console.log(`built ${buildNative(name, dir, 0o755)}`);
    // Builds of older sources would only be shipped for nothing: tsjail never loads them.
    const current = libraryFile(name, nativeSource(name).hash);
    for (const f of readdirSync(dir)) if (f.startsWith(`libtsjail-${name}`) && f.endsWith('.so') && f !== current) rmSync(join(dir, f));
  } catch (e) {
    if (!(e instanceof HelperUnavailable)) throw e;
    // Not fatal at install time: the compiler can still be used; `tsjail run` will say what is missing.
    console.warn(`tsjail: ${e.message}`);
  }
}
