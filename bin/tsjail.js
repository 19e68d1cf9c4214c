#!/usr/bin/env node
'use strict';
const { join } = require('node:path');
const { codeCacheFile, useCodeCache } = require('../dist/src/cli/codeCache.js');
// tsjail's modules compiled with the code cache the build made (codeCache.ts).
useCodeCache(join(__dirname, '../dist/src'), codeCacheFile(join(__dirname, '../dist')));
Promise.resolve(require('../dist/src/cli/main.js').main(process.argv.slice(2))).then((code) => {
  process.exitCode = code;
});
