// Corpus ingestion: source trees and git repositories in, a token dataset
// (dataset.h, token_shard.h) out. `flywheel data ingest` is a thin layer over
// ingest_corpus().
//
// The pipeline, in a deterministic order that does not depend on the thread
// count:
//   1. list: the sources in the order given. A folder is walked in sorted
//      order; a git repository (a folder that is a repository's top level, or
//      a bare repository) is read through libgit2 at `revision`: its tree, or
//      with `history` every distinct blob along the revision's first-parent
//      chain, newest first, deduplicated by blob id (a blob keeps the newest
//      path it had). "dir:PATH" walks a repository's folder as plain files.
//      Skipped by name: vendored and VCS folders (corpus_filter.h), symlinks,
//      binary extensions, files whose language is unknown (language.h).
//   2. scan (parallel): read each file; skip files above max_file_bytes, empty
//      ones, binary content (NUL bytes, invalid UTF-8), minified or generated
//      code (FilterOptions); hash the text (SHA-256) and compute its MinHash.
//   3. dedup (in list order, the first copy wins): exact by SHA-256, then near
//      by MinHash LSH (NearDedupOptions).
//   4. split: a document is "valid" when the first 8 bytes of its SHA-256, as
//      a fraction of 2^64, fall below valid_fraction, else "train"; identical
//      files share a hash and near-duplicates are gone, so no file is in both.
//   5. shards: each split is cut into shards of about shard_bytes of text,
//      tokenized in parallel (special-token strings inside files are encoded as
//      plain text, never as the special ids) and written atomically, each with
//      its .docs.jsonl; manifest.json is written last.
//
// Resume: OUT/ingest.json records the arguments. A run with the same
// arguments redoes steps 1-4 and keeps every finished shard whose documents
// (by hash) are the ones planned, so an interrupted ingest continues where it
// stopped; a finished dataset is reported as up to date. A different tokenizer,
// or other different arguments, is an error unless `overwrite` is set.
//
// Thread-safety: ingest_corpus may run concurrently for different `out`
// folders. It starts its own threads.
// Errors: a missing source, an unreadable git revision, an empty corpus
// after filtering, a changed tokenizer or arguments for an existing OUT, and
// I/O errors (named with their path).
#pragma once

#include <cstdint>
#include <filesystem>
#include <map>
#include <string>
#include <vector>

#include "core/status.h"
#include "tokenizer/tokenizer.h"

namespace flywheel {

struct FilterOptions {
  uint64_t max_file_bytes = 1 << 20;    // larger files are skipped ("too_large")
  uint64_t max_line_bytes = 1000;       // a longer line means minified code ("long_lines")
  double max_mean_line_bytes = 100;     // mean line length above this too ("long_lines"; not for prose)
  double min_alphanumeric = 0.25;       // share of letters and digits below this ("low_alphanumeric")
  bool skip_generated = true;           // "generated"/"do not edit" markers in the first 10 lines ("generated")
  bool keep_unknown_languages = false;  // else files of no known language are skipped ("unknown_language")
};

// Near-duplicate detection: MinHash over shingles of `shingle` consecutive
// code tokens (identifiers, numbers and single punctuation characters;
// whitespace ignored), `permutations` hash functions, LSH with `bands` bands
// of permutations/bands rows. A candidate pair is a near-duplicate when the
// signatures agree on at least `threshold` of the permutations (the MinHash
// estimate of the Jaccard similarity of the shingle sets). With 16 bands of 8
// rows a pair at Jaccard 0.85 becomes a candidate with probability 0.994.
struct NearDedupOptions {
  bool enabled = true;
  int shingle = 5;
  int permutations = 128;
  int bands = 16;
  double threshold = 0.85;
};

struct IngestOptions {
  std::vector<std::string> sources;      // folders, files, git repositories ("dir:PATH" forces a folder walk)
  std::filesystem::path out;             // the dataset folder
  std::filesystem::path tokenizer_path;  // recorded in the manifest (the tokenizer itself is passed in)
  std::string revision = "HEAD";         // git sources: the commit (any rev-parse expression)
  bool history = false;                  // git sources: every blob along the first-parent history
  double valid_fraction = 0.01;          // share of documents (by content hash) in the valid split
  uint64_t shard_bytes = 64ull << 20;    // text per shard, about
  FilterOptions filter;
  NearDedupOptions near_dedup;
  int threads = 0;         // 0: all cores
  bool overwrite = false;  // start over when OUT holds another ingest
  bool show_progress = true;
};

struct IngestStats {
  uint64_t files_seen = 0;  // files listed (before any filter)
  uint64_t bytes_seen = 0;  // bytes of the files read
  // Files left out, by reason: vendored (folders skipped, counted once per
  // folder), symlink, binary, too_large, empty, unknown_language, long_lines,
  // low_alphanumeric, generated, unreadable, exact_duplicate, near_duplicate.
  std::map<std::string, uint64_t> skipped;
  uint64_t documents = 0, bytes = 0, tokens = 0;  // kept, both splits
  uint64_t train_documents = 0, train_tokens = 0;
  uint64_t valid_documents = 0, valid_tokens = 0;
  uint64_t shards_written = 0;
  uint64_t shards_reused = 0;   // finished by an earlier, interrupted run
  bool up_to_date = false;      // OUT was already complete; nothing was done
  double scan_seconds = 0;      // listing, reading, filtering, hashing, dedup
  double tokenize_seconds = 0;  // tokenizing and writing shards
  double seconds = 0;
};

Result<IngestStats> ingest_corpus(const IngestOptions& options, const Tokenizer& tokenizer);

}  // namespace flywheel
