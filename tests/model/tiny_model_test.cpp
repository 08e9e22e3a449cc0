// The tiny test model (tests/common/tiny_model.h) must be the same on every
// machine: its tokenizer is trained on a corpus kept in the repository, not
// on the machine's Python (whose json package differs between versions, so
// tests that read the model's output saw another model on another machine).
#include "tests/common/tiny_model.h"

#include <gtest/gtest.h>

#include <filesystem>
#include <map>
#include <string>

#include "core/hash.h"

namespace flywheel {
namespace {

namespace fs = std::filesystem;

TEST(TinyModel, TokenizerCorpusIsTheRepositorysFixedCopy) {
  const fs::path corpus = testing::tiny_model_corpus();
  const fs::path relative = corpus.lexically_relative(FLYWHEEL_SOURCE_DIR);
  ASSERT_FALSE(relative.empty() || *relative.begin() == "..")
      << corpus << " is outside the repository " << FLYWHEEL_SOURCE_DIR;
  // Python 3.11.7's Lib/json, as vendored (tiny_model_corpus.LICENSE):
  // changing a file changes every test's tiny model.
  const std::map<std::string, std::string> expected = {
      {"__init__.py", "d5d41e2c29049515d295d81a6d40b4890fbec8d8482cfb401630f8ef2f77e4d5"},
      {"decoder.py", "9f02654649816145bc76f8c210a5fe3ba1de142d4d97a1c93105732e747c285b"},
      {"encoder.py", "7c358788fbb2a6a07f66f1f8446c52396f35fc201108f666d5be002d86f31af2"},
      {"scanner.py", "8604d9d03786d0d509abb49e9f069337278ea988c244069ae8ca2c89acc2cb08"},
      {"tool.py", "d5174b728b376a12cff3f17472d6b9b609c1d3926f7ee02d74d60c80afd60c77"}};
  std::map<std::string, std::string> found;
  for (const auto& entry : fs::recursive_directory_iterator(corpus)) {
    if (!entry.is_regular_file()) continue;
    auto digest = sha256_file(entry.path());
    ASSERT_TRUE(digest.ok()) << digest.status().to_string();
    found[entry.path().lexically_relative(corpus).string()] = *digest;
  }
  EXPECT_EQ(found, expected);
}

}  // namespace
}  // namespace flywheel
