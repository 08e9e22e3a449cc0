#!/usr/bin/env node
// Hugging Face's tokenizers (npm `tokenizers`, Rust) side of bench_tokenizer:
// encodes the same chunks of code with the same tokenizer.json, one chunk at a
// time, and reports the best of N timed passes. Loading the tokenizer and the
// text is not timed. Run it with RAYON_NUM_THREADS=1 TOKENIZERS_PARALLELISM=false
// (bench_tokenizer does) so the library uses one thread.
//
// usage: node hf_tokenizer_bench.js REQUEST.json
//   REQUEST: {"tokenizer": path, "corpus": path of the concatenated chunks,
//             "lengths": [byte length of each chunk], "repeat": N}
// prints:  {"tokenizers_version", "bytes", "tokens", "seconds": [per pass]}
'use strict';

const fs = require('fs');
const path = require('path');

function fail(message) {
  process.stderr.write(`hf_tokenizer_bench.js: ${message}\n`);
  process.exit(1);
}

async function main() {
  if (process.argv.length !== 3) fail('usage: node hf_tokenizer_bench.js REQUEST.json');
  const request = JSON.parse(fs.readFileSync(process.argv[2], 'utf8'));
  const referenceDir = path.join(__dirname, '..', 'tests', 'reference');
  let tokenizers, version;
  try {
    tokenizers = require(require.resolve('tokenizers', {paths: [referenceDir]}));
    version = require(require.resolve('tokenizers/package.json', {paths: [referenceDir]})).version;
  } catch (e) {
    fail(`cannot load npm package 'tokenizers' from ${referenceDir}/node_modules: ${e.message}\n` +
         'run `make npm-deps` (scripts/install-npm-deps)');
  }
  const tokenizer = tokenizers.Tokenizer.fromFile(request.tokenizer);

  const corpus = fs.readFileSync(request.corpus);
  const chunks = [];
  let offset = 0;
  for (const length of request.lengths) {
    chunks.push(corpus.toString('utf8', offset, offset + length));
    offset += length;
  }
  const options = {addSpecialTokens: false};

  // Warm-up: the first calls pay for lazy initialisation and caches.
  for (const chunk of chunks.slice(0, 20)) await tokenizer.encode(chunk, null, options);

  const seconds = [];
  let tokens = 0;
  for (let pass = 0; pass < (request.repeat || 1); ++pass) {
    tokens = 0;
    const start = process.hrtime.bigint();
    for (const chunk of chunks) {
      const encoding = await tokenizer.encode(chunk, null, options);
      tokens += encoding.getIds().length;
    }
    seconds.push(Number(process.hrtime.bigint() - start) / 1e9);
  }
  process.stdout.write(JSON.stringify({tokenizers_version: version, bytes: offset, tokens, seconds}) + '\n');
}

main().catch((e) => fail(e && e.stack ? e.stack : String(e)));
