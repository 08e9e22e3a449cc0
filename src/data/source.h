// Where ingested files come from: folders on disk, single files, and git
// repositories read through libgit2 (ingest.h, step 1). Private to the data
// module.
//
// Thread-safety: resolve_sources and list_candidates run on one thread. A
// SourceReader belongs to one thread (libgit2 repository handles are not
// shared between threads: each reader opens its own).
// Errors: a missing path, a git revision that does not resolve, a
// repository or object libgit2 cannot read; each names the source.
#pragma once

#include <array>
#include <cstdint>
#include <filesystem>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "core/status.h"
#include "data/ingest.h"

namespace flywheel::data {

struct Source {
  enum class Kind { kDirectory, kGit, kFile };
  std::string input;  // as given on the command line
  Kind kind = Kind::kDirectory;
  std::filesystem::path path;  // absolute
  std::string repo;            // the name documents are grouped under
  std::string commit;          // git: the resolved revision (hex)
};

std::string_view source_kind_name(Source::Kind kind);

// Decides each input's kind ("dir:PATH" forces a folder walk of a repository)
// and resolves git revisions.
Result<std::vector<Source>> resolve_sources(const std::vector<std::string>& inputs, const std::string& revision);

// A file to read: a path on disk or a git blob.
struct Candidate {
  uint32_t source = 0;
  std::string path;      // inside the source, '/'-separated
  std::string language;  // from the name; "" until the #! line is read
  uint64_t size = 0;     // files on disk: from the listing; git: 0 (read from the object header)
  bool is_blob = false;
  std::array<unsigned char, 20> blob{};  // git object id
};

struct ListingStats {
  uint64_t files_seen = 0;
  std::map<std::string, uint64_t> skipped;
};

// Every candidate of every source in a deterministic order (see ingest.h),
// leaving out what the names alone rule out: vendored folders, symlinks,
// binary extensions, unknown languages (unless filter.keep_unknown_languages;
// files without an extension are kept for the #! check).
Status list_candidates(const std::vector<Source>& sources, bool history, const FilterOptions& filter,
                       std::vector<Candidate>& out, ListingStats& stats);

class SourceReader {
 public:
  explicit SourceReader(const std::vector<Source>& sources);
  ~SourceReader();
  SourceReader(const SourceReader&) = delete;
  SourceReader& operator=(const SourceReader&) = delete;

  // The candidate's bytes. Sets *too_large (and returns OK with no text)
  // when it has more than max_bytes (0: no limit).
  Status read(const Candidate& candidate, uint64_t max_bytes, std::string& text, bool* too_large);

 private:
  struct Repos;
  const std::vector<Source>* sources_;
  std::unique_ptr<Repos> repos_;
};

// Hex of a git object id.
std::string blob_hex(const std::array<unsigned char, 20>& id);

}  // namespace flywheel::data
