// Helpers shared by the data module's tests: temporary folders, a small
// byte-level tokenizer with flywheel's special tokens, corpus files, and git
// repositories made with libgit2.
#pragma once

#include <git2.h>
#include <gtest/gtest.h>
#include <unistd.h>

#include <atomic>
#include <filesystem>
#include <fstream>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "tests/tokenizer/tiny_tokenizers.h"
#include "tokenizer/tokenizer.h"

namespace flywheel::data_test {

namespace fs = std::filesystem;

class TempDir {
 public:
  TempDir() {
    static std::atomic<int> counter{0};
    path_ = fs::temp_directory_path() /
            ("flywheel-data-test-" + std::to_string(::getpid()) + "-" + std::to_string(counter++));
    fs::remove_all(path_);
    fs::create_directories(path_);
  }
  ~TempDir() {
    std::error_code ec;
    fs::remove_all(path_, ec);
  }
  const fs::path& path() const { return path_; }
  fs::path operator/(const std::string& name) const { return path_ / name; }
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;

 private:
  fs::path path_;
};

inline void write_file(const fs::path& path, const std::string& text) {
  fs::create_directories(path.parent_path());
  std::ofstream out(path, std::ios::binary);
  out << text;
}

inline std::string read_text(const fs::path& path) {
  std::ifstream in(path, std::ios::binary);
  return std::string(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
}

// Byte-level BPE with a few merges and flywheel's special tokens (ids 256+).
inline Tokenizer test_tokenizer(bool with_fim = true) {
  testing::OJson added = testing::OJson::array();
  std::vector<std::string> specials = {"<|endoftext|>"};
  if (with_fim)
    specials = {"<|endoftext|>", "<|fim_prefix|>", "<|fim_middle|>", "<|fim_suffix|>",
                "<|fim_pad|>",   "<|file_sep|>",   "<|repo_name|>"};
  for (const auto& s : specials) added.push_back({{"content", s}});
  auto json = testing::byte_level_tokenizer(
      {{"Ġ", "Ġ"}, {"e", "r"}, {"i", "n"}, {"r", "e"}, {"t", "u"}, {"tu", "r"}, {"tur", "n"}, {"re", "turn"}}, added);
  auto tokenizer = Tokenizer::from_json(json.dump());
  EXPECT_TRUE(tokenizer.ok()) << tokenizer.status().to_string();
  return std::move(tokenizer).value();
}

// A plausible Python file of about `lines` lines; `seed` makes its names differ.
inline std::string python_file(int seed, int lines = 40) {
  std::string out = "# module " + std::to_string(seed) + "\nimport os\n\n";
  for (int i = 0; i < lines; ++i) {
    out += "def function_" + std::to_string(seed) + "_" + std::to_string(i) +
           "(value, count=" + std::to_string(i * 7 + seed) + "):\n    return value * count + " +
           std::to_string(seed * 31 + i) + "\n";
  }
  return out;
}

// A git repository made with libgit2, committing whole sets of changes.
class TestRepo {
 public:
  explicit TestRepo(const fs::path& dir) : dir_(dir) {
    git_libgit2_init();
    fs::create_directories(dir);
    EXPECT_EQ(git_repository_init(&repo_, dir.c_str(), 0), 0);
  }
  ~TestRepo() {
    if (repo_ != nullptr) git_repository_free(repo_);
    git_libgit2_shutdown();
  }
  TestRepo(const TestRepo&) = delete;
  TestRepo& operator=(const TestRepo&) = delete;

  // Writes (value) or deletes (nullopt) files, then commits everything. Returns the commit id.
  // `parents` (commit ids) default to HEAD; with move_head false the commit
  // is made without moving HEAD (a side branch; merges name two parents).
  std::string commit(const std::map<std::string, std::optional<std::string>>& changes, const std::string& message,
                     const std::optional<std::vector<std::string>>& parents = std::nullopt, bool move_head = true) {
    for (const auto& [path, text] : changes) {
      if (text) {
        write_file(dir_ / path, *text);
      } else {
        fs::remove(dir_ / path);
      }
    }
    git_index* index = nullptr;
    EXPECT_EQ(git_repository_index(&index, repo_), 0);
    EXPECT_EQ(git_index_add_all(index, nullptr, 0, nullptr, nullptr), 0);
    EXPECT_EQ(git_index_update_all(index, nullptr, nullptr, nullptr), 0);
    EXPECT_EQ(git_index_write(index), 0);
    git_oid tree_id, commit_id, parent_id;
    EXPECT_EQ(git_index_write_tree(&tree_id, index), 0);
    git_index_free(index);
    git_tree* tree = nullptr;
    EXPECT_EQ(git_tree_lookup(&tree, repo_, &tree_id), 0);
    git_signature* sig = nullptr;
    EXPECT_EQ(git_signature_new(&sig, "Test", "test@example.com", 1700000000 + commits_++, 0), 0);
    std::vector<std::string> parent_ids;
    if (parents) {
      parent_ids = *parents;
    } else if (git_reference_name_to_id(&parent_id, repo_, "HEAD") == 0) {
      parent_ids.push_back(git_oid_tostr_s(&parent_id));
    }
    std::vector<git_commit*> parent_commits;
    for (const std::string& id : parent_ids) {
      EXPECT_EQ(git_oid_fromstr(&parent_id, id.c_str()), 0);
      parent_commits.push_back(nullptr);
      EXPECT_EQ(git_commit_lookup(&parent_commits.back(), repo_, &parent_id), 0);
    }
    std::vector<const git_commit*> const_parents(parent_commits.begin(), parent_commits.end());
    EXPECT_EQ(git_commit_create(&commit_id, repo_, move_head ? "HEAD" : nullptr, sig, sig, nullptr, message.c_str(),
                                tree, const_parents.size(), const_parents.data()),
              0);
    for (git_commit* parent : parent_commits) git_commit_free(parent);
    git_signature_free(sig);
    git_tree_free(tree);
    return git_oid_tostr_s(&commit_id);
  }

 private:
  fs::path dir_;
  git_repository* repo_ = nullptr;
  int commits_ = 0;
};

}  // namespace flywheel::data_test
