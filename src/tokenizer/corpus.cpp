// Which files make a training corpus: list_corpus_files and the embedded
// default corpus (default_corpus_paths) of tokenizer.h.
#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <cctype>
#include <regex>
#include <string>
#include <system_error>
#include <unordered_set>

#include "core/text.h"
#include "tokenizer/bpe_trainer.h"
#include "tokenizer/corpus_filter.h"
#include "tokenizer/tokenizer.h"

namespace flywheel {
namespace fs = std::filesystem;

namespace tokenizer {

bool looks_like_text(std::string_view bytes) {
  size_t invalid = 0;
  size_t i = 0;
  const size_t n = bytes.size();
  while (i < n) {
    const auto c = static_cast<unsigned char>(bytes[i]);
    if (c == 0) return false;
    if (c < 0x80) {
      ++i;
      continue;
    }
    // Expected length and the allowed range of the second byte (RFC 3629).
    size_t len = 0;
    unsigned char lo = 0x80, hi = 0xBF;
    if (c >= 0xC2 && c <= 0xDF) {
      len = 2;
    } else if (c >= 0xE0 && c <= 0xEF) {
      len = 3;
      if (c == 0xE0) lo = 0xA0;
      if (c == 0xED) hi = 0x9F;
    } else if (c >= 0xF0 && c <= 0xF4) {
      len = 4;
      if (c == 0xF0) lo = 0x90;
      if (c == 0xF4) hi = 0x8F;
    }
    if (len == 0) {
      ++invalid;
      ++i;
      continue;
    }
    size_t k = 1;
    for (; k < len && i + k < n; ++k) {
      const auto cc = static_cast<unsigned char>(bytes[i + k]);
      const unsigned char l = k == 1 ? lo : 0x80, h = k == 1 ? hi : 0xBF;
      if (cc < l || cc > h) break;
    }
    if (k == len) {
      i += len;
    } else if (i + k == n) {
      break;  // cut off by the end of the sniffed prefix
    } else {
      ++invalid;
      i += k;
    }
  }
  return invalid * 100 <= n;
}

}  // namespace tokenizer

bool is_skipped_corpus_directory(std::string_view name) {
  static const std::array<std::string_view, 12> kNames = {
      "node_modules",  "third_party", "third-party", "vendor",           "build", "__pycache__", "site-packages",
      "dist-packages", "CMakeFiles",  "target",      "bower_components", "Pods"};
  if (name.size() > 1 && name[0] == '.') return true;  // .git, .hg, .svn, .cache, .venv, ...
  return std::find(kNames.begin(), kNames.end(), name) != kNames.end();
}

namespace {}  // namespace

bool has_binary_file_extension(const fs::path& path) {
  static const std::array<std::string_view, 48> kExtensions = {
      ".pyc",   ".pyo",  ".so",  ".a",   ".o",     ".obj",  ".dll", ".dylib", ".exe",         ".bin", ".dat", ".png",
      ".jpg",   ".jpeg", ".gif", ".bmp", ".ico",   ".webp", ".pdf", ".zip",   ".gz",          ".bz2", ".xz",  ".zst",
      ".tar",   ".tgz",  ".whl", ".jar", ".class", ".wasm", ".mo",  ".db",    ".sqlite",      ".ttf", ".otf", ".woff",
      ".woff2", ".mp3",  ".wav", ".mp4", ".npy",   ".npz",  ".pt",  ".pth",   ".safetensors", ".gch", ".pch", ".lock"};
  const std::string ext = ascii_lower(path.extension().string());
  if (std::find(kExtensions.begin(), kExtensions.end(), ext) != kExtensions.end()) return true;
  // Minified bundles are generated, not written.
  const std::string name = ascii_lower(path.filename().string());
  return name.ends_with(".min.js") || name.ends_with(".min.css");
}

namespace {

// Reads up to `limit` bytes from the start of a file; false when it cannot be read.
bool read_prefix(const fs::path& path, size_t limit, std::string& out) {
  const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return false;
  out.resize(limit);
  size_t got = 0;
  while (got < limit) {
    const ssize_t r = ::read(fd, out.data() + got, limit - got);
    if (r < 0) {
      if (errno == EINTR) continue;
      ::close(fd);
      return false;
    }
    if (r == 0) break;
    got += static_cast<size_t>(r);
  }
  ::close(fd);
  out.resize(got);
  return true;
}

// A regular file worth training on: not binary by name, not empty, not above
// the size limit, and its first 8 KB look like text.
bool is_corpus_file(const fs::path& path, const BpeTrainerOptions& options, std::string& buffer) {
  if (has_binary_file_extension(path)) return false;
  std::error_code ec;
  const uintmax_t size = fs::file_size(path, ec);
  if (ec || size == 0) return false;
  if (options.max_file_bytes != 0 && size > options.max_file_bytes) return false;
  if (!read_prefix(path, 8192, buffer)) return false;
  return tokenizer::looks_like_text(buffer);
}

}  // namespace

Result<std::vector<fs::path>> list_corpus_files(const std::vector<fs::path>& inputs, const BpeTrainerOptions& options) {
  std::vector<fs::path> files;
  std::string buffer;
  for (const fs::path& input : inputs) {
    std::error_code ec;
    const fs::file_status st = fs::status(input, ec);
    if (ec || !fs::exists(st)) {
      return Status::not_found("corpus input '" + input.string() + "' does not exist");
    }
    if (fs::is_regular_file(st)) {
      if (is_corpus_file(input, options, buffer)) files.push_back(input.lexically_normal());
      continue;
    }
    if (!fs::is_directory(st)) continue;  // sockets, devices, ...
    // Sorted per input, inputs in the order given: the caller's order says
    // what comes first when max_corpus_bytes cuts the corpus short.
    std::vector<fs::path> found;
    fs::recursive_directory_iterator it(input, fs::directory_options::skip_permission_denied, ec);
    if (ec) return Status::from_errno("cannot list corpus folder '" + input.string() + "'", ec.value());
    for (const fs::recursive_directory_iterator end; it != end; it.increment(ec)) {
      if (ec) break;  // an unreadable subtree ends the walk of this input, keeping what was found
      const fs::directory_entry& entry = *it;
      std::error_code type_ec;
      if (entry.is_directory(type_ec)) {
        if (is_skipped_corpus_directory(entry.path().filename().string())) it.disable_recursion_pending();
        continue;
      }
      if (!entry.is_regular_file(type_ec)) continue;
      if (is_corpus_file(entry.path(), options, buffer)) found.push_back(entry.path().lexically_normal());
    }
    std::sort(found.begin(), found.end());
    files.insert(files.end(), found.begin(), found.end());
  }
  // The same file reached through two inputs counts once (the first time).
  std::vector<fs::path> unique;
  unique.reserve(files.size());
  std::unordered_set<std::string> seen;
  for (fs::path& f : files) {
    if (seen.insert(f.string()).second) unique.push_back(std::move(f));
  }
  return unique;
}

std::vector<fs::path> default_corpus_paths(const fs::path& project_root) {
  std::vector<fs::path> paths;
  // The project's own source first: it is small and the most relevant.
  if (!project_root.empty()) {
    for (const char* sub : {"src", "tests", "bench"}) {
      std::error_code ec;
      if (fs::is_directory(project_root / sub, ec)) paths.push_back(project_root / sub);
    }
  }
  // Python's standard library: /usr/lib/python3.N (not /usr/lib/python3, which
  // holds Debian's third-party packages).
  std::vector<fs::path> pythons;
  std::error_code ec;
  static const std::regex kPythonDir(R"(python3\.[0-9]+)");
  for (fs::directory_iterator it("/usr/lib", ec), end; !ec && it != end; it.increment(ec)) {
    const std::string name = it->path().filename().string();
    std::error_code type_ec;
    if (std::regex_match(name, kPythonDir) && it->is_directory(type_ec)) pythons.push_back(it->path());
  }
  std::sort(pythons.begin(), pythons.end());
  paths.insert(paths.end(), pythons.begin(), pythons.end());
  if (fs::is_directory("/usr/include", ec)) paths.emplace_back("/usr/include");
  return paths;
}

}  // namespace flywheel
