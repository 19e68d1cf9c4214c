// Builds the C libraries for this platform into helper/build/ (run by `npm run build`/`prepare`):
// the helper and the --late preload library. A package published from such a build ships
// them; elsewhere they are built on first use.
import { join } from 'node:path';
import { buildNative, HelperUnavailable, NATIVE_LIBRARIES } from '../src/jail/helper';
import { REPO_ROOT } from './upstream';

const dir = join(REPO_ROOT, 'helper/build', `${process.platform}-${process.arch}`);
for (const name of NATIVE_LIBRARIES) {
  try {
    console.log(`built ${buildNative(name, dir)}`);
  } catch (e) {
    if (!(e instanceof HelperUnavailable)) throw e;
    // Not fatal at install time: the compiler can still be used; `tsjail run` will say what is missing.
    console.warn(`tsjail: ${e.message}`);
  }
}
