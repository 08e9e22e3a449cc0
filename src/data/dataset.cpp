#include "data/dataset.h"

#include "core/atomic_file.h"

namespace flywheel {
namespace {

namespace fs = std::filesystem;

Status manifest_error(const fs::path& path, const std::string& what) {
  return Status::corruption("dataset manifest '" + path.string() + "' " + what);
}

template <typename T>
bool get_field(const nlohmann::json& object, const char* key, T& out) {
  auto it = object.find(key);
  if (it == object.end()) return false;
  try {
    out = it->get<T>();
  } catch (const nlohmann::json::exception&) {
    return false;
  }
  return true;
}

}  // namespace

nlohmann::json document_info_to_json(const DocumentInfo& info) {
  nlohmann::json j = {{"repo", info.repo},   {"path", info.path},     {"language", info.language}, {"hash", info.hash},
                      {"bytes", info.bytes}, {"tokens", info.tokens}, {"source", info.source}};
  if (!info.blob.empty()) j["blob"] = info.blob;
  return j;
}

Result<DocumentInfo> document_info_from_json(const nlohmann::json& value) {
  DocumentInfo info;
  if (!value.is_object() || !get_field(value, "repo", info.repo) || !get_field(value, "path", info.path) ||
      !get_field(value, "hash", info.hash) || !get_field(value, "tokens", info.tokens))
    return Status::corruption("document metadata needs \"repo\", \"path\", \"hash\" and \"tokens\"");
  get_field(value, "language", info.language);
  get_field(value, "bytes", info.bytes);
  get_field(value, "source", info.source);
  get_field(value, "blob", info.blob);
  return info;
}

Result<Dataset> Dataset::open(const fs::path& dir) {
  const fs::path path = dir / kManifestFileName;
  std::error_code ec;
  if (!fs::exists(path, ec)) {
    if (fs::exists(dir / "ingest.json", ec))
      return Status::not_found("dataset '" + dir.string() +
                               "' is incomplete (no manifest.json): its ingest was interrupted; run the same "
                               "`flywheel data ingest` command again to finish it");
    return Status::not_found("'" + dir.string() +
                             "' is not a flywheel dataset: it has no manifest.json (make one with "
                             "`flywheel data ingest --out " +
                             dir.string() + " ...`)");
  }
  FW_ASSIGN_OR_RETURN(std::string text, read_file(path));
  Dataset dataset;
  dataset.dir_ = dir;
  dataset.manifest_ = nlohmann::json::parse(text, nullptr, /*allow_exceptions=*/false);
  const nlohmann::json& m = dataset.manifest_;
  if (m.is_discarded() || !m.is_object()) return manifest_error(path, "is not a JSON object");
  std::string format;
  if (!get_field(m, "format", format) || format != kDatasetFormat)
    return manifest_error(path, "does not have \"format\": \"" + std::string(kDatasetFormat) + "\"");
  int version = 0;
  if (!get_field(m, "version", version) || version != kDatasetVersion)
    return Status::unsupported("dataset manifest '" + path.string() + "' has version " + std::to_string(version) +
                               "; this flywheel reads version " + std::to_string(kDatasetVersion));
  if (!m.contains("tokenizer") || !get_field(m["tokenizer"], "hash", dataset.tokenizer_hash_) ||
      dataset.tokenizer_hash_.size() != 64)
    return manifest_error(path, "has no tokenizer hash (\"tokenizer\": {\"hash\": ...})");
  if (!get_field(m, "token_bytes", dataset.token_bytes_) || (dataset.token_bytes_ != 2 && dataset.token_bytes_ != 4))
    return manifest_error(path, "has no valid \"token_bytes\" (2 or 4)");
  if (!m.contains("shards") || !m["shards"].is_array()) return manifest_error(path, "has no \"shards\" list");
  for (const auto& s : m["shards"]) {
    ShardEntry e;
    if (!get_field(s, "file", e.file) || !get_field(s, "split", e.split) || !get_field(s, "documents", e.documents) ||
        !get_field(s, "tokens", e.tokens))
      return manifest_error(path, "has a shard without \"file\", \"split\", \"documents\" or \"tokens\"");
    if (e.file.empty() || e.file.find('/') != std::string::npos || e.file.starts_with("."))
      return manifest_error(path, "names a shard file outside the dataset folder: '" + e.file + "'");
    get_field(s, "metadata", e.metadata);
    get_field(s, "bytes", e.bytes);
    get_field(s, "checksum", e.checksum);
    dataset.shards_.push_back(std::move(e));
  }
  return dataset;
}

Result<Dataset> Dataset::open(const fs::path& dir, const Tokenizer& tokenizer) {
  FW_ASSIGN_OR_RETURN(Dataset dataset, open(dir));
  FW_RETURN_IF_ERROR(dataset.check_tokenizer(tokenizer));
  return dataset;
}

Status Dataset::check_tokenizer(const Tokenizer& tokenizer) const {
  if (tokenizer.content_hash() == tokenizer_hash_) return Status::OK();
  std::string made_with = "sha256:" + tokenizer_hash_;
  if (manifest_.contains("tokenizer") && manifest_["tokenizer"].contains("path") &&
      manifest_["tokenizer"]["path"].is_string())
    made_with += " (" + manifest_["tokenizer"]["path"].get<std::string>() + ")";
  return Status::invalid_argument("dataset '" + dir_.string() + "' was tokenized with tokenizer " + made_with +
                                  ", but the tokenizer given is sha256:" + tokenizer.content_hash() +
                                  "; use the same tokenizer, or ingest the corpus again with this one");
}

std::vector<ShardEntry> Dataset::shards(std::string_view split) const {
  std::vector<ShardEntry> out;
  for (const auto& s : shards_)
    if (split.empty() || s.split == split) out.push_back(s);
  return out;
}

uint64_t Dataset::document_count(std::string_view split) const {
  uint64_t n = 0;
  for (const auto& s : shards_)
    if (split.empty() || s.split == split) n += s.documents;
  return n;
}

uint64_t Dataset::token_count(std::string_view split) const {
  uint64_t n = 0;
  for (const auto& s : shards_)
    if (split.empty() || s.split == split) n += s.tokens;
  return n;
}

Result<TokenShard> Dataset::open_shard(const ShardEntry& entry, bool verify_checksum) const {
  FW_ASSIGN_OR_RETURN(TokenShard shard, TokenShard::open(dir_ / entry.file, verify_checksum));
  const std::string where = "token shard '" + shard.path().string() + "'";
  if (shard.tokenizer_hash() != tokenizer_hash_)
    return Status::corruption(where + " was made with tokenizer sha256:" + shard.tokenizer_hash() +
                              " but the manifest names sha256:" + tokenizer_hash_ + "; ingest the corpus again");
  if (shard.token_count() != entry.tokens || shard.document_count() != entry.documents)
    return Status::corruption(where + " has " + std::to_string(shard.token_count()) + " tokens and " +
                              std::to_string(shard.document_count()) + " documents, the manifest says " +
                              std::to_string(entry.tokens) + " and " + std::to_string(entry.documents) +
                              "; ingest the corpus again");
  if (shard.token_bytes() != token_bytes_)
    return Status::corruption(where + " has " + std::to_string(shard.token_bytes()) +
                              "-byte tokens, the manifest says " + std::to_string(token_bytes_));
  return shard;
}

Result<std::vector<DocumentInfo>> Dataset::read_documents(const ShardEntry& entry) const {
  if (entry.metadata.empty())
    return Status::not_found("shard '" + entry.file + "' of dataset '" + dir_.string() + "' has no metadata file");
  const fs::path path = dir_ / entry.metadata;
  FW_ASSIGN_OR_RETURN(std::string text, read_file(path));
  std::vector<DocumentInfo> docs;
  docs.reserve(entry.documents);
  size_t line_number = 0;
  size_t start = 0;
  while (start < text.size()) {
    size_t end = text.find('\n', start);
    if (end == std::string::npos) end = text.size();
    ++line_number;
    std::string_view line(text.data() + start, end - start);
    start = end + 1;
    if (line.empty()) continue;
    nlohmann::json value = nlohmann::json::parse(line, nullptr, /*allow_exceptions=*/false);
    auto info = document_info_from_json(value);
    if (!info.ok())
      return Status::corruption("document metadata '" + path.string() + "' line " + std::to_string(line_number) + ": " +
                                info.status().message());
    docs.push_back(std::move(info).value());
  }
  if (docs.size() != entry.documents)
    return Status::corruption("document metadata '" + path.string() + "' has " + std::to_string(docs.size()) +
                              " documents, the manifest says " + std::to_string(entry.documents));
  return docs;
}

}  // namespace flywheel
