#include "model/safetensors.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <initializer_list>
#include <numeric>
#include <sstream>
#include <string>
#include <vector>

#include "tests/core/test_util.h"

namespace flywheel {
namespace {

using testing_util::TempDir;

template <typename T>
std::span<const std::byte> bytes_of(const std::vector<T>& v) {
  return std::as_bytes(std::span<const T>(v));
}

std::span<const std::byte> bytes_of(const std::string& s) {
  return {reinterpret_cast<const std::byte*>(s.data()), s.size()};
}

void write_raw(const std::filesystem::path& path, const std::string& bytes) {
  std::ofstream out(path, std::ios::binary);
  out << bytes;
}

std::string read_raw(const std::filesystem::path& path) {
  std::ifstream in(path, std::ios::binary);
  std::stringstream s;
  s << in.rdbuf();
  return s.str();
}

// An 8-byte length (the header's size unless given), the header, and
// `data_size` bytes of data.
std::string raw_file(const std::string& header, size_t data_size, std::optional<uint64_t> length = std::nullopt) {
  const uint64_t n = length.value_or(header.size());
  std::string out(8, '\0');
  for (int i = 0; i < 8; ++i) out[i] = static_cast<char>((n >> (8 * i)) & 0xff);
  out += header;
  out.append(data_size, '\x5a');
  return out;
}

Status parse_status(const std::string& bytes) {
  return SafetensorsFile::parse(bytes_of(bytes), "bad.safetensors").status();
}

// The parse fails as corruption, with a message naming the file and holding every fragment.
void expect_corrupt(const std::string& bytes, std::initializer_list<std::string_view> fragments) {
  Status status = parse_status(bytes);
  ASSERT_FALSE(status.is_ok()) << "accepted a bad file";
  EXPECT_EQ(status.code(), StatusCode::kCorruption) << status.to_string();
  EXPECT_NE(status.message().find("'bad.safetensors'"), std::string::npos) << status.message();
  for (std::string_view fragment : fragments) {
    EXPECT_NE(status.message().find(fragment), std::string::npos)
        << "message lacks \"" << fragment << "\": " << status.message();
  }
}

struct Fixture {
  std::vector<float> f32 = {1.5f, -2.0f, 3.25f, 0.0f, 1e-8f, -7.0f};
  std::vector<uint16_t> bf16;
  std::vector<uint16_t> f16;
  std::vector<int64_t> i64 = {-1, 0, 1LL << 40, 42};
  std::vector<uint8_t> u8 = {0, 1, 2, 255, 7};
  std::vector<uint8_t> flags = {1, 0, 1};
  std::vector<double> scalar = {2.5};
  std::vector<float> empty;

  Fixture() {
    for (float v : f32) {
      bf16.push_back(f32_to_bf16(v));
      f16.push_back(f32_to_fp16(v));
    }
  }

  std::vector<TensorToWrite> tensors() const {
    return {
        {"model.embed_tokens.weight", DType::kF32, {2, 3}, bytes_of(f32)},
        {"model.layers.0.self_attn.q_proj.weight", DType::kBF16, {3, 2}, bytes_of(bf16)},
        {"model.norm.weight", DType::kF16, {6}, bytes_of(f16)},
        {"positions", DType::kI64, {4}, bytes_of(i64)},
        {"bytes", DType::kU8, {5}, bytes_of(u8)},
        {"mask", DType::kBool, {3}, bytes_of(flags)},
        {"scale", DType::kF64, {}, bytes_of(scalar)},
        {"nothing", DType::kF32, {0, 3}, bytes_of(empty)},
        {"名前.ünïcode", DType::kU8, {1}, bytes_of(u8).first(1)},
    };
  }
};

TEST(SafetensorsTest, RoundTrip) {
  TempDir dir;
  Fixture fx;
  const auto path = dir / "model.safetensors";
  ASSERT_TRUE(write_safetensors(path, fx.tensors(), {{"format", "pt"}, {"note", "round \"trip\""}}).is_ok());
  EXPECT_EQ(dir.list(), std::vector<std::string>{"model.safetensors"});  // no temporary file left

  Result<SafetensorsFile> file = SafetensorsFile::open(path);
  ASSERT_TRUE(file.ok()) << file.status().to_string();
  EXPECT_EQ(file->header_size() % 8, 0u);
  EXPECT_EQ(file->metadata(), (std::map<std::string, std::string>{{"format", "pt"}, {"note", "round \"trip\""}}));

  std::vector<std::string> names;
  for (const TensorToWrite& t : fx.tensors()) names.push_back(t.name);
  std::sort(names.begin(), names.end());
  EXPECT_EQ(file->names(), names);

  for (const TensorToWrite& t : fx.tensors()) {
    const TensorView* view = file->find(t.name);
    ASSERT_NE(view, nullptr) << t.name;
    EXPECT_EQ(view->name, t.name);
    EXPECT_EQ(view->dtype, t.dtype) << t.name;
    EXPECT_EQ(view->shape, t.shape) << t.name;
    ASSERT_EQ(view->data.size(), t.data.size()) << t.name;
    EXPECT_TRUE(std::equal(view->data.begin(), view->data.end(), t.data.begin())) << t.name;
    // 8-aligned data start and the dtype-descending order keep every tensor aligned.
    EXPECT_EQ(reinterpret_cast<uintptr_t>(view->data.data()) % dtype_size(view->dtype), 0u) << t.name;
  }
  EXPECT_EQ(file->find("scale")->numel(), 1);
  EXPECT_EQ(file->find("nothing")->numel(), 0);
  EXPECT_EQ(file->find("missing"), nullptr);

  std::vector<float> values(6);
  const TensorView* q = file->find("model.layers.0.self_attn.q_proj.weight");
  ASSERT_TRUE(convert_to_f32(q->dtype, q->data, values));
  EXPECT_EQ(values[0], 1.5f);
  EXPECT_EQ(values[2], 3.25f);

  // The reference library's layout: dtype descending (its enum order), then name.
  std::vector<std::pair<uint64_t, std::string>> by_offset;
  for (const auto& [name, view] : file->tensors()) by_offset.emplace_back(view.data_begin, name);
  std::sort(by_offset.begin(), by_offset.end());
  std::vector<std::string> order;
  for (const auto& [offset, name] : by_offset) order.push_back(name);
  // "nothing" (F32, 0 bytes) shares its offset with the next tensor, so compare
  // the non-empty ones.
  order.erase(std::remove(order.begin(), order.end(), "nothing"), order.end());
  EXPECT_EQ(order, (std::vector<std::string>{"positions", "scale", "model.embed_tokens.weight",
                                             "model.layers.0.self_attn.q_proj.weight", "model.norm.weight", "bytes",
                                             "名前.ünïcode", "mask"}));

  // serialize_safetensors gives the same bytes.
  Result<std::string> bytes = serialize_safetensors(fx.tensors(), {{"format", "pt"}, {"note", "round \"trip\""}});
  ASSERT_TRUE(bytes.ok());
  EXPECT_EQ(*bytes, read_raw(path));

  // Moving keeps the views valid.
  SafetensorsFile moved = std::move(file).value();
  EXPECT_EQ(std::memcmp(moved.find("positions")->data.data(), fx.i64.data(), 32), 0);
}

TEST(SafetensorsTest, HeaderIsCompactJsonPaddedWithSpaces) {
  std::vector<float> one = {1.0f};
  Result<std::string> bytes = serialize_safetensors({{"w", DType::kF32, {1}, bytes_of(one)}});
  ASSERT_TRUE(bytes.ok());
  const std::string header = bytes->substr(8, bytes->size() - 8 - 4);
  EXPECT_EQ(header.size() % 8, 0u);
  const std::string json = R"({"__metadata__":{"format":"pt"},"w":{"dtype":"F32","shape":[1],"data_offsets":[0,4]}})";
  EXPECT_EQ(header.substr(0, json.size()), json);
  EXPECT_EQ(header.find_first_not_of(' ', json.size()), std::string::npos);

  Result<std::string> empty = serialize_safetensors({}, {});
  ASSERT_TRUE(empty.ok());
  EXPECT_EQ(*empty, raw_file("{}      ", 0));
  Result<SafetensorsFile> parsed = SafetensorsFile::parse(bytes_of(*empty));
  ASSERT_TRUE(parsed.ok()) << parsed.status().to_string();
  EXPECT_EQ(parsed->size(), 0u);
}

TEST(SafetensorsTest, ReplacesAnExistingFileAtomically) {
  TempDir dir;
  const auto path = dir / "w.safetensors";
  std::vector<float> a = {1.0f}, b = {2.0f, 3.0f};
  ASSERT_TRUE(write_safetensors(path, {{"a", DType::kF32, {1}, bytes_of(a)}}).is_ok());
  ASSERT_TRUE(write_safetensors(path, {{"b", DType::kF32, {2}, bytes_of(b)}}).is_ok());
  Result<SafetensorsFile> file = SafetensorsFile::open(path);
  ASSERT_TRUE(file.ok());
  EXPECT_EQ(file->names(), std::vector<std::string>{"b"});
  EXPECT_EQ(dir.list(), std::vector<std::string>{"w.safetensors"});
}

// A file system whose disk fills up after `space` bytes.
class FullDiskFileSystem : public PosixFileSystem {
 public:
  explicit FullDiskFileSystem(size_t space) : space_(space) {}
  Result<std::unique_ptr<WritableFile>> new_writable_file(const std::filesystem::path& path, bool exclusive) override {
    FW_ASSIGN_OR_RETURN(auto file, PosixFileSystem::new_writable_file(path, exclusive));
    return std::unique_ptr<WritableFile>(new File(std::move(file), &space_));
  }

 private:
  class File : public WritableFile {
   public:
    File(std::unique_ptr<WritableFile> base, size_t* space) : base_(std::move(base)), space_(space) {}
    Status append(std::string_view data) override {
      if (data.size() > *space_) {
        (void)base_->append(data.substr(0, *space_));
        *space_ = 0;
        return status_from_errno("cannot write", ENOSPC);
      }
      *space_ -= data.size();
      return base_->append(data);
    }
    Status sync() override { return base_->sync(); }
    Status close() override { return base_->close(); }

   private:
    std::unique_ptr<WritableFile> base_;
    size_t* space_;
  };
  size_t space_;
};

TEST(SafetensorsTest, FailedWriteLeavesTheOldFile) {
  TempDir dir;
  const auto path = dir / "w.safetensors";
  std::vector<float> old_values = {1.0f};
  ASSERT_TRUE(write_safetensors(path, {{"old", DType::kF32, {1}, bytes_of(old_values)}}).is_ok());
  const std::string before = read_raw(path);

  std::vector<float> big(1000, 0.5f);
  FullDiskFileSystem fs(200);
  Status status = write_safetensors(path, {{"new", DType::kF32, {1000}, bytes_of(big)}}, {{"format", "pt"}}, fs);
  ASSERT_FALSE(status.is_ok());
  EXPECT_EQ(status.code(), StatusCode::kResourceExhausted) << status.to_string();
  EXPECT_NE(status.message().find("w.safetensors"), std::string::npos) << status.message();
  EXPECT_EQ(read_raw(path), before);
  EXPECT_EQ(dir.list(), std::vector<std::string>{"w.safetensors"});
}

TEST(SafetensorsTest, WriterRejectsBadTensors) {
  TempDir dir;
  std::vector<float> two = {1.0f, 2.0f};
  auto fails = [&](std::vector<TensorToWrite> tensors, std::string_view fragment,
                   std::map<std::string, std::string> metadata = {{"format", "pt"}}) {
    Status status = write_safetensors(dir / "x.safetensors", tensors, metadata);
    EXPECT_EQ(status.code(), StatusCode::kInvalidArgument) << status.to_string();
    EXPECT_NE(status.message().find(fragment), std::string::npos) << status.message();
  };
  fails({{"w", DType::kF32, {3}, bytes_of(two)}}, "tensor 'w': 8 bytes of data, but dtype F32 and shape [3] need 12");
  fails({{"w", DType::kF32, {2}, bytes_of(two)}, {"w", DType::kF32, {2}, bytes_of(two)}},
        "'w': the name appears twice");
  fails({{"__metadata__", DType::kF32, {2}, bytes_of(two)}}, "reserved");
  fails({{"", DType::kF32, {2}, bytes_of(two)}}, "empty name");
  fails({{"w", DType::kF32, {-1, -2}, bytes_of(two)}}, "negative dimension");
  fails({{"bad\xff", DType::kF32, {2}, bytes_of(two)}}, "not UTF-8");
  fails({{"w", DType::kF32, {2}, bytes_of(two)}}, "not UTF-8", {{"k", "\xc3"}});
  EXPECT_TRUE(dir.list().empty());
}

// ---- Corruption: each names the file and, where one is to blame, the tensor.

const std::string kGood = R"({"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]},)"
                          R"("b":{"dtype":"I64","shape":[1],"data_offsets":[8,16]}})";

TEST(SafetensorsCorruptionTest, ValidBaseline) {
  EXPECT_TRUE(parse_status(raw_file(kGood, 16)).is_ok());
  // Other writers: unpadded headers, whitespace, null metadata, extra fields.
  EXPECT_TRUE(parse_status(raw_file(R"({"__metadata__": null, "a": {"dtype": "F32", "shape": [2], )"
                                    R"("data_offsets": [0, 8], "extra": 1}}   )",
                                    8))
                  .is_ok());
}

TEST(SafetensorsCorruptionTest, TruncatedFile) {
  TempDir dir;
  const std::string good = raw_file(kGood, 16);
  write_raw(dir / "cut.safetensors", good.substr(0, good.size() - 3));
  Status status = SafetensorsFile::open(dir / "cut.safetensors").status();
  EXPECT_EQ(status.code(), StatusCode::kCorruption);
  for (std::string_view fragment : {"cut.safetensors", "tensor 'b'", "[8, 16]", "truncated"}) {
    EXPECT_NE(status.message().find(fragment), std::string::npos) << status.message();
  }
  expect_corrupt(good.substr(0, 20), {"header length", "runs past the end", "truncated"});
  expect_corrupt(good.substr(0, 5), {"5 bytes", "too short"});

  write_raw(dir / "empty.safetensors", "");
  status = SafetensorsFile::open(dir / "empty.safetensors").status();
  EXPECT_EQ(status.code(), StatusCode::kCorruption);
  EXPECT_NE(status.message().find("empty.safetensors"), std::string::npos) << status.message();
}

TEST(SafetensorsCorruptionTest, MissingFile) {
  TempDir dir;
  Status status = SafetensorsFile::open(dir / "none.safetensors").status();
  EXPECT_EQ(status.code(), StatusCode::kNotFound);
  EXPECT_NE(status.message().find("none.safetensors"), std::string::npos);
  EXPECT_EQ(SafetensorsFile::open(dir.path()).status().code(), StatusCode::kInvalidArgument);  // a directory
}

TEST(SafetensorsCorruptionTest, HeaderLength) {
  expect_corrupt(raw_file(kGood, 16, 100'000'001), {"header length 100000001", "limit"});
  expect_corrupt(raw_file(kGood, 16, ~0ULL), {"header length 18446744073709551615"});
  expect_corrupt(raw_file(kGood, 16, kGood.size() + 17), {"runs past the end"});
  expect_corrupt(raw_file("{}", 0, 1), {"header length 1 is too small"});
  expect_corrupt(raw_file("{}", 0, 0), {"header length 0"});
}

TEST(SafetensorsCorruptionTest, HeaderNotJson) {
  expect_corrupt(raw_file(R"({"a": {"dtype": "F32",)", 0), {"not valid JSON"});
  expect_corrupt(raw_file(R"({"a": 1} trailing)", 0), {"not valid JSON"});
  expect_corrupt(raw_file("[1, 2]", 0), {"does not start with '{'"});
  expect_corrupt(raw_file(" {}", 0), {"does not start with '{'"});
  expect_corrupt(raw_file("{\"a\xff\": 1}", 0), {"not valid JSON"});
  expect_corrupt(raw_file(std::string("{}\0\0", 4), 0), {"not valid JSON"});
  expect_corrupt(raw_file(R"({"a": [1]})", 0), {"tensor 'a'", "not an object"});
}

TEST(SafetensorsCorruptionTest, UnknownDtype) {
  expect_corrupt(raw_file(R"({"w":{"dtype":"F31","shape":[2],"data_offsets":[0,8]}})", 8),
                 {"tensor 'w'", "unknown dtype 'F31'"});
  expect_corrupt(raw_file(R"({"w":{"dtype":5,"shape":[2],"data_offsets":[0,8]}})", 8), {"tensor 'w'", "dtype"});
  expect_corrupt(raw_file(R"({"w":{"shape":[2],"data_offsets":[0,8]}})", 8), {"tensor 'w'", "missing \"dtype\""});
}

TEST(SafetensorsCorruptionTest, BadShape) {
  expect_corrupt(raw_file(R"({"w":{"dtype":"F32","shape":[-2],"data_offsets":[0,8]}})", 8),
                 {"tensor 'w'", "non-negative integer"});
  expect_corrupt(raw_file(R"({"w":{"dtype":"F32","shape":[2.0],"data_offsets":[0,8]}})", 8),
                 {"tensor 'w'", "non-negative integer"});
  expect_corrupt(raw_file(R"({"w":{"dtype":"F32","shape":[4294967296,4294967296],"data_offsets":[0,8]}})", 8),
                 {"tensor 'w'", "64 bits"});
  expect_corrupt(raw_file(R"({"w":{"dtype":"F32","shape":[4611686018427387904],"data_offsets":[0,8]}})", 8),
                 {"tensor 'w'", "64 bits"});  // elements fit, bytes do not
  expect_corrupt(raw_file(R"({"w":{"dtype":"F32","shape":2,"data_offsets":[0,8]}})", 8), {"tensor 'w'", "shape"});
  // A zero dimension makes a huge one harmless.
  EXPECT_TRUE(parse_status(raw_file(R"({"w":{"dtype":"F32","shape":[0,4611686018427387904],"data_offsets":[0,0]}})", 0))
                  .is_ok());
}

TEST(SafetensorsCorruptionTest, ShapeOffsetMismatch) {
  expect_corrupt(raw_file(R"({"w":{"dtype":"F32","shape":[3],"data_offsets":[0,8]}})", 8),
                 {"tensor 'w'", "[0, 8] hold 8 bytes", "F32", "[3] need 12"});
  expect_corrupt(raw_file(R"({"w":{"dtype":"F32","shape":[2],"data_offsets":[8,0]}})", 8),
                 {"tensor 'w'", "end before they begin"});
  expect_corrupt(raw_file(R"({"w":{"dtype":"F32","shape":[2],"data_offsets":[0,8,9]}})", 8),
                 {"tensor 'w'", "data_offsets"});
  expect_corrupt(raw_file(R"({"w":{"dtype":"F32","shape":[2],"data_offsets":[0,-8]}})", 8),
                 {"tensor 'w'", "data_offsets"});
}

TEST(SafetensorsCorruptionTest, OutOfRangeOffsets) {
  expect_corrupt(raw_file(R"({"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]},)"
                          R"("far":{"dtype":"F32","shape":[2],"data_offsets":[100,108]}})",
                          16),
                 {"tensor 'far'", "[100, 108]", "past the end of the data buffer (16 bytes)"});
  expect_corrupt(raw_file(R"({"far":{"dtype":"U8","shape":[0],"data_offsets":[99,99]}})", 0),
                 {"tensor 'far'", "past the end"});
  expect_corrupt(raw_file(R"({"w":{"dtype":"U8","shape":[1],"data_offsets":[18446744073709551615,0]}})", 1),
                 {"tensor 'w'", "end before they begin"});
}

TEST(SafetensorsCorruptionTest, Overlap) {
  expect_corrupt(raw_file(R"({"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]},)"
                          R"("b":{"dtype":"F32","shape":[2],"data_offsets":[4,12]}})",
                          12),
                 {"tensor 'b'", "overlap tensor 'a'"});
  expect_corrupt(raw_file(R"({"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]},)"
                          R"("b":{"dtype":"F32","shape":[2],"data_offsets":[0,8]}})",
                          8),
                 {"overlap tensor 'a'"});
}

TEST(SafetensorsCorruptionTest, Holes) {
  expect_corrupt(raw_file(R"({"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]},)"
                          R"("b":{"dtype":"F32","shape":[2],"data_offsets":[12,20]}})",
                          20),
                 {"tensor 'b'", "hole", "[8, 12)", "after tensor 'a'"});
  expect_corrupt(raw_file(R"({"a":{"dtype":"F32","shape":[2],"data_offsets":[4,12]}})", 12),
                 {"tensor 'a'", "hole", "[0, 4)", "start of the data buffer"});
  expect_corrupt(raw_file(kGood, 20), {"[16, 20)", "belong to no tensor", "after tensor 'b'"});
  expect_corrupt(raw_file("{}", 3), {"[0, 3)", "belong to no tensor"});
}

TEST(SafetensorsCorruptionTest, MetadataAndDuplicates) {
  expect_corrupt(raw_file(R"({"__metadata__":{"format":"pt","n":3}})", 0), {"__metadata__", "'n'", "not a string"});
  expect_corrupt(raw_file(R"({"__metadata__":["pt"]})", 0), {"__metadata__"});
  expect_corrupt(raw_file(R"({"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]},)"
                          R"("a":{"dtype":"F32","shape":[2],"data_offsets":[8,16]}})",
                          16),
                 {"'a' appears twice"});
  expect_corrupt(raw_file(R"({"a":{"dtype":"F32","dtype":"F16","shape":[2],"data_offsets":[0,8]}})", 8),
                 {"'dtype' appears twice in 'a'"});
  Result<SafetensorsFile> file = SafetensorsFile::parse(bytes_of(raw_file(R"({"__metadata__":{"format":"pt"}})", 0)));
  ASSERT_TRUE(file.ok());
  EXPECT_EQ(file->metadata().at("format"), "pt");
}

// ---- Checkpoints ---------------------------------------------------------------

TEST(SafetensorsCheckpointTest, SingleFile) {
  TempDir dir;
  Fixture fx;
  ASSERT_TRUE(write_safetensors(dir / "model.safetensors", fx.tensors()).is_ok());
  Result<SafetensorsCheckpoint> checkpoint = SafetensorsCheckpoint::open(dir.path());
  ASSERT_TRUE(checkpoint.ok()) << checkpoint.status().to_string();
  EXPECT_EQ(checkpoint->size(), fx.tensors().size());
  ASSERT_NE(checkpoint->find("positions"), nullptr);
  EXPECT_EQ(checkpoint->metadata().at("format"), "pt");
  // A file path works too.
  EXPECT_TRUE(SafetensorsCheckpoint::open(dir / "model.safetensors").ok());
}

TEST(SafetensorsCheckpointTest, Sharded) {
  TempDir dir;
  std::vector<float> a = {1.0f, 2.0f}, b = {3.0f}, c = {4.0f, 5.0f, 6.0f};
  ASSERT_TRUE(write_safetensors(dir / "model-00001-of-00002.safetensors",
                                {{"a", DType::kF32, {2}, bytes_of(a)}, {"b", DType::kF32, {1}, bytes_of(b)}})
                  .is_ok());
  ASSERT_TRUE(
      write_safetensors(dir / "model-00002-of-00002.safetensors", {{"c", DType::kF32, {3}, bytes_of(c)}}).is_ok());
  write_raw(dir / "model.safetensors.index.json",
            R"({"metadata": {"total_size": 24, "format": "pt"}, "weight_map": {)"
            R"("a": "model-00001-of-00002.safetensors", "b": "model-00001-of-00002.safetensors",)"
            R"("c": "model-00002-of-00002.safetensors"}})");
  Result<SafetensorsCheckpoint> checkpoint = SafetensorsCheckpoint::open(dir.path());
  ASSERT_TRUE(checkpoint.ok()) << checkpoint.status().to_string();
  EXPECT_EQ(checkpoint->names(), (std::vector<std::string>{"a", "b", "c"}));
  EXPECT_EQ(checkpoint->files().size(), 2u);
  EXPECT_EQ(checkpoint->metadata().at("total_size"), "24");
  EXPECT_EQ(checkpoint->metadata().at("format"), "pt");
  const TensorView* view = checkpoint->find("c");
  ASSERT_NE(view, nullptr);
  EXPECT_EQ(std::memcmp(view->data.data(), c.data(), 12), 0);
  EXPECT_EQ(checkpoint->find("d"), nullptr);

  // Moving the checkpoint keeps views valid.
  SafetensorsCheckpoint moved = std::move(checkpoint).value();
  EXPECT_EQ(std::memcmp(moved.find("a")->data.data(), a.data(), 8), 0);
}

TEST(SafetensorsCheckpointTest, ShardErrors) {
  TempDir dir;
  std::vector<float> a = {1.0f};
  ASSERT_TRUE(write_safetensors(dir / "s1.safetensors", {{"a", DType::kF32, {1}, bytes_of(a)}}).is_ok());
  const auto index = dir / "model.safetensors.index.json";

  write_raw(index, R"({"weight_map": {"a": "s1.safetensors", "b": "s2.safetensors"}})");
  Status status = SafetensorsCheckpoint::open(dir.path()).status();
  EXPECT_EQ(status.code(), StatusCode::kNotFound) << status.to_string();
  EXPECT_NE(status.message().find("shard 's2.safetensors'"), std::string::npos) << status.message();

  write_raw(index, R"({"weight_map": {"a": "s1.safetensors", "z": "s1.safetensors"}})");
  status = SafetensorsCheckpoint::open(dir.path()).status();
  EXPECT_EQ(status.code(), StatusCode::kCorruption) << status.to_string();
  EXPECT_NE(status.message().find("tensor 'z' in shard 's1.safetensors'"), std::string::npos) << status.message();

  write_raw(index, R"({"weight_map": {"a": "../s1.safetensors"}})");
  status = SafetensorsCheckpoint::open(dir.path()).status();
  EXPECT_EQ(status.code(), StatusCode::kCorruption);
  EXPECT_NE(status.message().find("not a file inside"), std::string::npos) << status.message();

  write_raw(index, R"({"weight_map": {"a": "/etc/passwd"}})");
  EXPECT_EQ(SafetensorsCheckpoint::open(dir.path()).status().code(), StatusCode::kCorruption);
  write_raw(index, R"({"weight_map": {"a": 1}})");
  EXPECT_EQ(SafetensorsCheckpoint::open(dir.path()).status().code(), StatusCode::kCorruption);
  write_raw(index, R"({"metadata": {}})");
  EXPECT_EQ(SafetensorsCheckpoint::open(dir.path()).status().code(), StatusCode::kCorruption);
  write_raw(index, "not json");
  status = SafetensorsCheckpoint::open(dir.path()).status();
  EXPECT_EQ(status.code(), StatusCode::kCorruption);
  EXPECT_NE(status.message().find("model.safetensors.index.json"), std::string::npos) << status.message();

  // A corrupt shard names the shard and the index.
  write_raw(dir / "s3.safetensors", raw_file("{}", 4));
  write_raw(index, R"({"weight_map": {"a": "s3.safetensors"}})");
  status = SafetensorsCheckpoint::open(dir.path()).status();
  EXPECT_EQ(status.code(), StatusCode::kCorruption);
  EXPECT_NE(status.message().find("s3.safetensors"), std::string::npos) << status.message();

  std::filesystem::remove(index);
  status = SafetensorsCheckpoint::open(dir.path()).status();
  EXPECT_EQ(status.code(), StatusCode::kNotFound);
  EXPECT_NE(status.message().find("neither model.safetensors nor model.safetensors.index.json"), std::string::npos);
  EXPECT_EQ(SafetensorsCheckpoint::open(dir / "nope").status().code(), StatusCode::kNotFound);
}

}  // namespace
}  // namespace flywheel
