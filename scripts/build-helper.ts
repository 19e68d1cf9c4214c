// Builds the C helper for this platform into helper/build/ (run by `npm run build`/`prepare`).
// A package published from such a build ships the library; elsewhere it is built on first use.
import { join } from 'node:path';
import { buildHelper, HelperUnavailable } from '../src/jail/helper';
import { REPO_ROOT } from './upstream';

const out = join(REPO_ROOT, 'helper/build', `${process.platform}-${process.arch}`, 'libtsjail-helper.so');
try {
  buildHelper(out);
  console.log(`built ${out}`);
} catch (e) {
  if (!(e instanceof HelperUnavailable)) throw e;
  // Not fatal at install time: the compiler can still be used; `tsjail run` will say what is missing.
  console.warn(`tsjail: ${e.message}`);
}
