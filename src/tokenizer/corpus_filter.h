// Which files and folders count as source text: the checks shared by
// list_corpus_files (tokenizer training, tokenizer.h) and the data module's
// corpus ingestion (`flywheel data ingest`), so that both skip the same things.
// One copy lives in corpus.cpp.
//
// Thread-safety: pure functions.
// Errors: none (predicates).
#pragma once

#include <filesystem>
#include <string_view>

namespace flywheel {

// Folders of other people's code, version control or build output (not the
// project's own source, and often huge): node_modules, third_party,
// third-party, vendor, build, __pycache__, site-packages, dist-packages,
// CMakeFiles, target, bower_components, Pods, and every dot-folder (.git, .hg,
// .svn, .venv, ...). `name` is one path component.
bool is_skipped_corpus_directory(std::string_view name);

// Extensions of files that are never source text (images, archives, objects,
// compiled Python, model weights, lock files), and minified bundles
// (*.min.js, *.min.css). Decided from the name alone, before any read.
bool has_binary_file_extension(const std::filesystem::path& path);

namespace tokenizer {

// True when `bytes` looks like text: no NUL byte and at most 1% of it in
// invalid UTF-8 sequences. An incomplete sequence at the very end is not
// counted (callers sniff a prefix of a file).
bool looks_like_text(std::string_view bytes);

}  // namespace tokenizer
}  // namespace flywheel
