#!/usr/bin/env node
// Runs Hugging Face's tokenizers (npm `tokenizers`, the Rust library's napi
// binding) on a batch of texts so flywheel's reference tests can compare ids
// and decoded text. One process per tokenizer: node and the tokenizer.json
// load once, every text of the batch goes through.
//
// usage: node hf_tokenize.js REQUEST.json RESPONSE.json
//
// REQUEST:  {"tokenizer": "path/to/tokenizer.json",
//            "texts": [base64 of UTF-8 bytes, ...],      encode (with and without
//                                                        special tokens) + decode
//            "decode_ids": [[id, ...], ...],             decode only
//            "lossy": [base64 of arbitrary bytes, ...],  UTF-8 decoding with U+FFFD
//            "id_to_token": [id, ...]}
// RESPONSE: {"tokenizers_version": "...", "vocab_size": largest id + 1 (added tokens too),
//            "results": [{"ids", "ids_special", "decode", "decode_skip",
//                         "decode_special", "decode_special_skip"}, ...],
//            "decoded_ids": [{"decode", "decode_skip"}, ...],
//            "lossy": [base64, ...], "tokens": [base64 or null, ...]}
// Every string in the response is base64 of UTF-8 bytes, so nothing is lost to
// JSON escaping. Errors go to stderr with exit status 1.
'use strict';

const fs = require('fs');
const path = require('path');

function fail(message) {
  process.stderr.write(`hf_tokenize.js: ${message}\n`);
  process.exit(1);
}

function loadTokenizers() {
  try {
    return require(require.resolve('tokenizers', {paths: [__dirname]}));
  } catch (e) {
    fail(`cannot load the npm package 'tokenizers' from ${path.join(__dirname, 'node_modules')}: ` +
         `${e.message}\nrun \`make npm-deps\` (scripts/install-npm-deps)`);
  }
}

const b64 = (s) => Buffer.from(s, 'utf8').toString('base64');

function textFromBase64(encoded, index) {
  const bytes = Buffer.from(encoded, 'base64');
  const text = bytes.toString('utf8');
  // JS strings cannot carry invalid UTF-8; the caller must send valid text.
  if (!Buffer.from(text, 'utf8').equals(bytes)) fail(`texts[${index}] is not valid UTF-8`);
  return text;
}

async function main() {
  if (process.argv.length !== 4) fail('usage: node hf_tokenize.js REQUEST.json RESPONSE.json');
  const request = JSON.parse(fs.readFileSync(process.argv[2], 'utf8'));
  const {Tokenizer} = loadTokenizers();
  let tokenizer;
  try {
    tokenizer = Tokenizer.fromFile(request.tokenizer);
  } catch (e) {
    fail(`Hugging Face tokenizers cannot load ${request.tokenizer}: ${e.message || e}`);
  }
  const version = require(require.resolve('tokenizers/package.json', {paths: [__dirname]})).version;

  const texts = (request.texts || []).map(textFromBase64);
  const results = [];
  const batch = 64;
  for (let start = 0; start < texts.length; start += batch) {
    const part = texts.slice(start, start + batch);
    const plain = await tokenizer.encodeBatch(part, {addSpecialTokens: false});
    const special = await tokenizer.encodeBatch(part, {addSpecialTokens: true});
    const ids = plain.map((e) => e.getIds());
    const idsSpecial = special.map((e) => e.getIds());
    const [d, ds, dsp, dsps] = await Promise.all([
      tokenizer.decodeBatch(ids, false), tokenizer.decodeBatch(ids, true),
      tokenizer.decodeBatch(idsSpecial, false), tokenizer.decodeBatch(idsSpecial, true)]);
    for (let i = 0; i < part.length; ++i) {
      results.push({
        ids: ids[i], ids_special: idsSpecial[i],
        decode: b64(d[i]), decode_skip: b64(ds[i]),
        decode_special: b64(dsp[i]), decode_special_skip: b64(dsps[i]),
      });
    }
  }

  const decodedIds = [];
  for (const ids of request.decode_ids || []) {
    decodedIds.push({
      decode: b64(await tokenizer.decode(ids, false)),
      decode_skip: b64(await tokenizer.decode(ids, true)),
    });
  }

  // WHATWG UTF-8 decoding replaces maximal invalid subparts with U+FFFD, as
  // Rust's String::from_utf8_lossy does.
  const lossy = (request.lossy || []).map((s) => b64(Buffer.from(s, 'base64').toString('utf8')));

  const tokens = (request.id_to_token || []).map((id) => {
    const token = tokenizer.idToToken(id);
    return token === null || token === undefined ? null : b64(token);
  });

  fs.writeFileSync(process.argv[3], JSON.stringify({
    tokenizers_version: version, vocab_size: Object.values(tokenizer.getVocab(true)).reduce((a, b) => Math.max(a, b), -1) + 1, results,
    decoded_ids: decodedIds, lossy,
    tokens,
  }));
}

main().catch((e) => fail(e && e.stack ? e.stack : String(e)));
