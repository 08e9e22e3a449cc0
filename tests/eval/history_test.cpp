// Reading hunks out of git history: where each added block goes in the
// parent's text, renames, merges, what is skipped, and the errors a user sees.
#include <gtest/gtest.h>

#include <algorithm>

#include "eval/typing.h"
#include "tests/eval/eval_test_util.h"

namespace flywheel::eval {
namespace {
using eval_test::TempDir;
using eval_test::TestRepo;

Result<History> read(const std::filesystem::path& repo, const std::string& range, uint64_t max_bytes = 1 << 20,
                     int max_lines = 30) {
  return read_history(repo, {range, max_bytes, max_lines});
}

// The parent's text with every added block of `path` typed in (blocks from
// the end backwards, so offsets stay valid). Pure deletions are not hunks.
std::string apply(const History& history, const std::string& path) {
  std::vector<const ReplayHunk*> hunks;
  for (const ReplayHunk& h : history.hunks)
    if (h.path == path) hunks.push_back(&h);
  EXPECT_FALSE(hunks.empty());
  std::string text = *hunks.front()->parent;
  // The last piece of each block knows the block's whole text.
  std::map<size_t, const ReplayHunk*, std::greater<>> last_piece;
  for (const ReplayHunk* h : hunks) last_piece[h->insert_at] = h;
  for (const auto& [at, h] : last_piece) text.replace(at, h->resume_at - at, h->typed_before + h->text);
  return text;
}

TEST(History, AddedBlocksLandWhereTheCommitPutThem) {
  TempDir dir;
  TestRepo repo(dir.path());
  const std::string old_a = "import os\n\ndef one():\n    return 1\n\ndef three():\n    return 3\n";
  const std::string base = repo.commit({{"a.py", old_a}}, "base");
  const std::string new_a =
      "import os\nimport sys\n\ndef one():\n    return 1\n\ndef two():\n    return 2\n\ndef three():\n    return 33\n";
  repo.commit({{"a.py", new_a}}, "edit");
  auto history = read(dir.path(), base + "..HEAD");
  ASSERT_TRUE(history.ok()) << history.status().to_string();
  EXPECT_EQ(history->commits, 1);
  ASSERT_EQ(history->hunks.size(), 3u);  // "import sys", "def two", "return 33" replacing "return 3"
  EXPECT_EQ(apply(*history, "a.py"), new_a);
  const ReplayHunk& first = history->hunks[0];
  EXPECT_EQ(first.text, "import sys\n");
  EXPECT_EQ(first.prefix_at(0), "import os\n");
  EXPECT_EQ(first.language, "python");
  const ReplayHunk& replaced = history->hunks[2];
  EXPECT_EQ(replaced.text, "    return 33\n");
  EXPECT_EQ(replaced.suffix(), "");  // the replaced line is gone from what follows the cursor
  // Each hunk is typed into the parent's text, without the commit's other hunks.
  EXPECT_EQ(replaced.prefix_at(replaced.text.size()),
            "import os\n\ndef one():\n    return 1\n\ndef three():\n    return 33\n");
}

TEST(History, NewFilesLongBlocksAndTheRootCommit) {
  TempDir dir;
  TestRepo repo(dir.path());
  std::string long_file;
  for (int i = 0; i < 70; ++i) long_file += "value_" + std::to_string(i) + " = " + std::to_string(i) + "\n";
  repo.commit({{"long.py", long_file}}, "root");
  auto history = read(dir.path(), "HEAD");  // one revision: its whole history, root included
  ASSERT_TRUE(history.ok()) << history.status().to_string();
  EXPECT_EQ(history->commits, 1);
  ASSERT_EQ(history->hunks.size(), 3u);  // 30 + 30 + 10 lines
  EXPECT_EQ(history->hunks[0].parent->size(), 0u);
  EXPECT_EQ(history->hunks[1].typed_before, history->hunks[0].text);
  EXPECT_EQ(std::count(history->hunks[2].text.begin(), history->hunks[2].text.end(), '\n'), 10);
  EXPECT_EQ(apply(*history, "long.py"), long_file);
  EXPECT_EQ(history->hunks[2].id.substr(history->hunks[2].id.size() - 4), ":0.2");
}

TEST(History, RenamesBinaryHugeAndDeletedFiles) {
  TempDir dir;
  TestRepo repo(dir.path());
  std::string body;
  for (int i = 0; i < 20; ++i) body += "def f" + std::to_string(i) + "(x):\n    return x + " + std::to_string(i) + "\n";
  const std::string base = repo.commit({{"old_name.py", body}, {"gone.py", "x = 1\n"}}, "base");
  std::string binary("GIF89a\0\1\2\3\0\0more", 18);
  const std::string renamed = body + "def extra(y):\n    return y\n";
  repo.commit({{"old_name.py", std::nullopt},
               {"new_name.py", renamed},
               {"gone.py", std::nullopt},
               {"payload.c", binary},
               {"huge.py", std::string(5000, 'x') + "\n"},
               {"icon.png", "not really a png\n"}},
              "rename and more");
  auto history = read(dir.path(), base + "..HEAD", /*max_bytes=*/4000);
  ASSERT_TRUE(history.ok()) << history.status().to_string();
  EXPECT_EQ(history->renamed_files, 1);
  EXPECT_EQ(history->skipped["deleted"], 1);
  EXPECT_EQ(history->skipped["binary"], 2);  // payload.c by content, icon.png by name
  EXPECT_EQ(history->skipped["too_large"], 1);
  ASSERT_EQ(history->hunks.size(), 1u);
  EXPECT_EQ(history->hunks[0].path, "new_name.py");
  EXPECT_EQ(*history->hunks[0].parent, body);  // typed into the old file's text
  EXPECT_EQ(history->hunks[0].text, "def extra(y):\n    return y\n");
}

TEST(History, MergesFollowTheFirstParent) {
  TempDir dir;
  TestRepo repo(dir.path());
  const std::string base = repo.commit({{"main.py", "a = 1\n"}}, "base");
  const std::string side = repo.commit({{"side.py", "s = 2\n"}}, "side", std::vector<std::string>{base}, false);
  std::filesystem::remove(dir.path() / "side.py");
  const std::string main = repo.commit({{"main.py", "a = 1\nb = 2\n"}}, "main");
  repo.commit({{"side.py", "s = 2\n"}}, "merge", std::vector<std::string>{main, side});
  auto history = read(dir.path(), base + "..HEAD");
  ASSERT_TRUE(history.ok()) << history.status().to_string();
  EXPECT_EQ(history->commits, 2);  // main and the merge; the side commit is not walked
  ASSERT_EQ(history->hunks.size(), 2u);
  EXPECT_EQ(history->hunks[0].path, "main.py");
  EXPECT_EQ(history->hunks[1].path, "side.py");  // what the merge brought in, once
  EXPECT_NE(history->hunks[1].commit, side);
}

TEST(History, ClearErrors) {
  TempDir dir;
  auto not_repo = read(dir.path(), "HEAD");
  EXPECT_EQ(not_repo.status().code(), StatusCode::kNotFound);
  EXPECT_NE(not_repo.status().message().find("not a git repository"), std::string::npos);

  TestRepo repo(dir.path() / "repo");
  auto empty = read(dir.path() / "repo", "HEAD~1..HEAD");
  EXPECT_EQ(empty.status().code(), StatusCode::kInvalidArgument);
  EXPECT_NE(empty.status().message().find("has no commits"), std::string::npos) << empty.status().message();

  const std::string first = repo.commit({{"a.py", "x = 1\n"}}, "one");
  repo.commit({{"a.py", "x = 1\ny = 2\n"}}, "two");
  auto bad = read(dir.path() / "repo", "nosuchref..HEAD");
  EXPECT_EQ(bad.status().code(), StatusCode::kInvalidArgument);
  EXPECT_NE(bad.status().message().find("cannot resolve range 'nosuchref..HEAD'"), std::string::npos);
  auto reversed = read(dir.path() / "repo", "HEAD.." + first);
  EXPECT_NE(reversed.status().message().find("selects no commits"), std::string::npos) << reversed.status().message();
}

}  // namespace
}  // namespace flywheel::eval
