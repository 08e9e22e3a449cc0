// The GGUF file format (infer/gguf.h): write -> read round trips, and every
// validation error on hand-made malformed files names its field or tensor.
#include "infer/gguf.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include <cmath>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <functional>
#include <nlohmann/json.hpp>
#include <sstream>

#include "core/atomic_file.h"
#include "core/hash.h"

namespace flywheel::infer {
namespace {

namespace fs = std::filesystem;

std::span<const std::byte> as_bytes(const std::string& s) {
  return {reinterpret_cast<const std::byte*>(s.data()), s.size()};
}

// Raw little-endian GGUF bytes, written field by field so that tests can make
// files the writer would refuse to.
struct Raw {
  std::string out;
  template <typename T>
  Raw& put(T v) {
    char buf[sizeof(T)];
    std::memcpy(buf, &v, sizeof(T));
    out.append(buf, sizeof(T));
    return *this;
  }
  Raw& str(std::string_view s) {
    put<uint64_t>(s.size());
    out.append(s);
    return *this;
  }
  Raw& header(uint64_t tensors, uint64_t kvs, uint32_t version = 3) {
    out.append("GGUF");
    put<uint32_t>(version);
    put<uint64_t>(tensors);
    return put<uint64_t>(kvs);
  }
  // A tensor info: name, dims, type, offset.
  Raw& tensor(std::string_view name, std::vector<uint64_t> dims, uint32_t type, uint64_t offset) {
    str(name);
    put<uint32_t>(static_cast<uint32_t>(dims.size()));
    for (uint64_t d : dims) put<uint64_t>(d);
    put<uint32_t>(type);
    return put<uint64_t>(offset);
  }
  Raw& pad(size_t alignment = 32) {
    while (out.size() % alignment) out.push_back('\0');
    return *this;
  }
  Raw& zeros(size_t n) {
    out.append(n, '\0');
    return *this;
  }
};

Status parse_error(const std::string& bytes) {
  Result<GgufFile> f = GgufFile::parse(as_bytes(bytes), "test.gguf");
  return f.ok() ? Status::OK() : f.status();
}

// The parse fails with `code` and a message containing every one of `words`.
void expect_error(const std::string& bytes, StatusCode code, std::initializer_list<std::string_view> words) {
  const Status s = parse_error(bytes);
  ASSERT_FALSE(s.ok()) << "accepted a malformed file";
  EXPECT_EQ(s.code(), code) << s.to_string();
  for (std::string_view w : words) EXPECT_NE(s.message().find(w), std::string::npos) << s.to_string() << " lacks " << w;
}

std::vector<std::pair<std::string, GgufValue>> sample_metadata() {
  GgufValue nested;
  nested.type = GgufValueType::kArray;
  nested.element_type = GgufValueType::kArray;
  nested.items = {GgufValue::int_array(GgufValueType::kInt16, {-3, 4}),
                  GgufValue::int_array(GgufValueType::kInt16, {})};
  GgufValue i8;
  i8.type = GgufValueType::kInt8;
  i8.integer = -5;
  GgufValue f64;
  f64.type = GgufValueType::kFloat64;
  f64.real = 0.1;
  return {{"general.architecture", GgufValue::str("llama")},
          {"general.name", GgufValue::str("t\xC3\xA9st")},
          {"llama.block_count", GgufValue::u32(2)},
          {"big", GgufValue::u64(0xfedcba9876543210ull)},
          {"neg", GgufValue::i32(-7)},
          {"eps", GgufValue::f32(1e-5f)},
          {"flag", GgufValue::boolean(true)},
          {"i8", i8},
          {"f64", f64},
          {"tokens", GgufValue::string_array({"a", "", "<s>"})},
          {"scores", GgufValue::float_array(GgufValueType::kFloat32, {0.5, -1.25})},
          {"types", GgufValue::int_array(GgufValueType::kInt32, {1, 2, 3})},
          {"nested", nested}};
}

TEST(Gguf, RoundTripKeepsMetadataAndTensors) {
  std::vector<float> a(2 * 64);
  for (size_t i = 0; i < a.size(); ++i) a[i] = static_cast<float>(i) * 0.5f - 3.0f;
  std::vector<uint16_t> b(3 * 5);  // an f16 tensor of odd size: the next one needs padding
  for (size_t i = 0; i < b.size(); ++i) b[i] = static_cast<uint16_t>(i * 977);
  std::vector<std::byte> q(4 * 34);  // q8_0: 4 rows of 32
  for (size_t i = 0; i < q.size(); ++i) q[i] = static_cast<std::byte>(i * 7);
  const std::vector<GgufTensorToWrite> tensors = {
      {"a", TensorType::kF32, {64, 2}, std::as_bytes(std::span(a))},
      {"b", TensorType::kF16, {5, 3}, std::as_bytes(std::span(b))},
      {"blk.0.q", TensorType::kQ8_0, {32, 2, 2}, q},
  };
  const auto metadata = sample_metadata();
  for (uint32_t alignment : {32u, 64u}) {
    Result<std::string> bytes = serialize_gguf(metadata, tensors, alignment);
    ASSERT_TRUE(bytes.ok()) << bytes.status().to_string();
    Result<GgufFile> f = GgufFile::parse(as_bytes(*bytes));
    ASSERT_TRUE(f.ok()) << f.status().to_string();
    EXPECT_EQ(f->version(), 3u);
    EXPECT_EQ(f->alignment(), alignment);
    EXPECT_EQ(f->data_offset() % alignment, 0u);
    // The alignment key is added only when not the default.
    ASSERT_EQ(f->metadata().size(), metadata.size() + (alignment == 32 ? 0 : 1));
    for (size_t i = 0; i < metadata.size(); ++i) {
      EXPECT_EQ(f->metadata()[i].first, metadata[i].first);
      EXPECT_TRUE(f->metadata()[i].second == metadata[i].second) << metadata[i].first;
    }
    EXPECT_EQ(f->get_string("general.name").value(), "t\xC3\xA9st");
    EXPECT_EQ(f->get_int("llama.block_count").value(), 2);
    EXPECT_EQ(static_cast<uint64_t>(f->find("big")->integer), 0xfedcba9876543210ull);
    EXPECT_FLOAT_EQ(static_cast<float>(f->get_float("eps").value()), 1e-5f);
    EXPECT_EQ(f->get_int("general.name").status().code(), StatusCode::kCorruption);
    EXPECT_EQ(f->get_int("missing").status().code(), StatusCode::kNotFound);
    ASSERT_EQ(f->tensors().size(), tensors.size());
    for (size_t i = 0; i < tensors.size(); ++i) {
      const GgufTensor& t = f->tensors()[i];
      EXPECT_EQ(t.name, tensors[i].name);
      EXPECT_EQ(t.type, tensors[i].type);
      EXPECT_EQ(t.dims, tensors[i].dims);
      EXPECT_EQ(t.offset % alignment, 0u);
      ASSERT_EQ(t.data.size(), tensors[i].data.size());
      EXPECT_EQ(std::memcmp(t.data.data(), tensors[i].data.data(), t.data.size()), 0) << t.name;
    }
    EXPECT_EQ(f->find_tensor("blk.0.q")->rows(), 4);
    EXPECT_EQ(f->find_tensor("blk.0.q")->cols(), 32);
  }
}

TEST(Gguf, WriteIsAtomicAndOpenMaps) {
  const fs::path dir = fs::temp_directory_path() / ("gguf_test_" + std::to_string(::getpid()));
  fs::create_directories(dir);
  std::vector<float> a(32, 1.5f);
  const std::vector<GgufTensorToWrite> tensors = {{"a", TensorType::kF32, {32}, std::as_bytes(std::span(a))}};
  ASSERT_TRUE(write_gguf(dir / "m.gguf", sample_metadata(), tensors).ok());
  Result<GgufFile> f = GgufFile::open(dir / "m.gguf");
  ASSERT_TRUE(f.ok()) << f.status().to_string();
  float v;
  std::memcpy(&v, f->find_tensor("a")->data.data() + 4 * 31, 4);
  EXPECT_EQ(v, 1.5f);
  // The streamed file is the serialized one, byte for byte.
  EXPECT_EQ(read_file(dir / "m.gguf").value(), serialize_gguf(sample_metadata(), tensors).value());
  // No temporary file left beside it.
  int entries = 0;
  for (const auto& e : fs::directory_iterator(dir)) entries += e.is_regular_file();
  EXPECT_EQ(entries, 1);
  EXPECT_EQ(GgufFile::open(dir / "missing.gguf").status().code(), StatusCode::kNotFound);
  fs::remove_all(dir);
}

TEST(Gguf, WriterRefusesInconsistentTensors) {
  std::vector<float> a(30);
  auto status = [&](GgufTensorToWrite t) { return serialize_gguf({}, {t}).status(); };
  EXPECT_EQ(status({"a", TensorType::kF32, {31}, std::as_bytes(std::span(a))}).code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(status({"a", TensorType::kQ8_0, {30}, std::as_bytes(std::span(a))}).code(), StatusCode::kInvalidArgument);
  const std::vector<GgufTensorToWrite> twice = {{"a", TensorType::kF32, {30}, std::as_bytes(std::span(a))},
                                                {"a", TensorType::kF32, {30}, std::as_bytes(std::span(a))}};
  EXPECT_EQ(serialize_gguf({}, twice).status().code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(serialize_gguf({{"k", GgufValue::u32(1)}, {"k", GgufValue::u32(2)}}, {}).status().code(),
            StatusCode::kInvalidArgument);
}

TEST(Gguf, AcceptsVersion2AndAnEmptyFile) {
  Raw v2;
  v2.header(1, 1, 2).str("k").put<uint32_t>(8).str("v").tensor("t", {32}, 0, 0).pad().zeros(128);
  Result<GgufFile> f = GgufFile::parse(as_bytes(v2.out));
  ASSERT_TRUE(f.ok()) << f.status().to_string();
  EXPECT_EQ(f->version(), 2u);
  EXPECT_EQ(f->get_string("k").value(), "v");
  Raw empty;
  empty.header(0, 0);
  EXPECT_TRUE(GgufFile::parse(as_bytes(empty.out)).ok());
}

TEST(Gguf, TruncatedFilesAreCorruptionAtEveryLength) {
  std::vector<float> a(64, 2.0f);
  const std::string bytes =
      serialize_gguf(sample_metadata(), {{"a", TensorType::kF32, {64}, std::as_bytes(std::span(a))}}).value();
  for (size_t n = 0; n < bytes.size(); ++n) {
    const Status s = parse_error(bytes.substr(0, n));
    ASSERT_FALSE(s.ok()) << "accepted the first " << n << " bytes";
    ASSERT_EQ(s.code(), StatusCode::kCorruption) << s.to_string();
  }
  expect_error(bytes.substr(0, 10), StatusCode::kCorruption, {"test.gguf", "tensor_count"});
  expect_error(bytes.substr(0, bytes.size() - 1), StatusCode::kCorruption, {"tensor a", "past the end"});
}

TEST(Gguf, BadMagicAndVersions) {
  Raw r;
  r.header(0, 0);
  std::string bad = r.out;
  bad[0] = 'X';
  expect_error(bad, StatusCode::kCorruption, {"magic"});
  Raw v1, v4;
  v1.header(0, 0, 1);
  v4.header(0, 0, 4);
  expect_error(v1.out, StatusCode::kCorruption, {"version 1"});
  expect_error(v4.out, StatusCode::kCorruption, {"version 4"});
  // A big-endian file's version reads as 0x03000000.
  Raw be;
  be.header(0, 0, 0x03000000);
  expect_error(be.out, StatusCode::kCorruption, {"version"});
}

TEST(Gguf, HugeCountsFailBeforeAllocating) {
  Raw kv, tensors, array, string;
  kv.header(0, uint64_t{1} << 60);
  expect_error(kv.out, StatusCode::kCorruption, {"metadata_kv_count"});
  tensors.header(~uint64_t{0}, 0);
  expect_error(tensors.out, StatusCode::kCorruption, {"tensor_count"});
  array.header(0, 1).str("tokens").put<uint32_t>(9).put<uint32_t>(8).put<uint64_t>(uint64_t{1} << 62);
  expect_error(array.out, StatusCode::kCorruption, {"metadata tokens count"});
  string.header(0, 1).str("name").put<uint32_t>(8).put<uint64_t>(~uint64_t{0});
  expect_error(string.out, StatusCode::kCorruption, {"metadata name", "past the end"});
}

TEST(Gguf, StringsAndValuesPastTheEnd) {
  Raw key, value, element;
  key.header(0, 1).put<uint64_t>(100).out.append("short");
  expect_error(key.out, StatusCode::kCorruption, {"metadata key 0", "past the end"});
  value.header(0, 1).str("k").put<uint32_t>(8).put<uint64_t>(10).out.append("abc");
  expect_error(value.out, StatusCode::kCorruption, {"metadata k", "past the end"});
  element.header(0, 1).str("arr").put<uint32_t>(9).put<uint32_t>(8).put<uint64_t>(2).str("x").put<uint64_t>(50);
  expect_error(element.out, StatusCode::kCorruption, {"metadata arr element", "past the end"});
  Raw u32;
  u32.header(0, 1).str("n").put<uint32_t>(4).put<uint16_t>(1);
  expect_error(u32.out, StatusCode::kCorruption, {"metadata n"});
}

TEST(Gguf, UnknownValueTypesAndDuplicates) {
  Raw type, element, dup, boolean, align;
  type.header(0, 1).str("k").put<uint32_t>(13).put<uint32_t>(0);
  expect_error(type.out, StatusCode::kCorruption, {"metadata k", "unknown value type 13"});
  element.header(0, 1).str("k").put<uint32_t>(9).put<uint32_t>(99).put<uint64_t>(0);
  expect_error(element.out, StatusCode::kCorruption, {"metadata k", "element type 99"});
  dup.header(0, 2).str("k").put<uint32_t>(4).put<uint32_t>(1).str("k").put<uint32_t>(4).put<uint32_t>(2);
  expect_error(dup.out, StatusCode::kCorruption, {"metadata key k", "twice"});
  boolean.header(0, 1).str("b").put<uint32_t>(7).put<uint8_t>(2);
  expect_error(boolean.out, StatusCode::kCorruption, {"metadata b", "bool"});
  align.header(0, 1).str("general.alignment").put<uint32_t>(4).put<uint32_t>(24);
  expect_error(align.out, StatusCode::kCorruption, {"general.alignment"});
  // Found by gguf_fuzz: a 1 GiB alignment made the writer pad a gigabyte.
  Raw huge;
  huge.header(0, 1).str("general.alignment").put<uint32_t>(4).put<uint32_t>(1u << 30);
  expect_error(huge.out, StatusCode::kCorruption, {"general.alignment"});
}

TEST(Gguf, TensorInfoErrorsNameTheTensor) {
  auto one = [](std::vector<uint64_t> dims, uint32_t type, uint64_t offset, size_t data) {
    Raw r;
    r.header(1, 0).tensor("blk.0.attn_q.weight", dims, type, offset).pad().zeros(data);
    return r.out;
  };
  EXPECT_TRUE(parse_error(one({32, 2}, 0, 0, 256)).ok());
  expect_error(one({32, 2}, 3, 0, 256), StatusCode::kUnsupported, {"blk.0.attn_q.weight", "type 3"});
  expect_error(one({32, 2}, 77, 0, 256), StatusCode::kUnsupported, {"blk.0.attn_q.weight", "type 77"});
  expect_error(one({48, 2}, 8, 0, 256), StatusCode::kCorruption, {"blk.0.attn_q.weight", "ne0 48", "q8_0"});
  expect_error(one({128, 1}, 12, 0, 256), StatusCode::kCorruption, {"blk.0.attn_q.weight", "ne0 128", "q4_K"});
  expect_error(one({}, 0, 0, 0), StatusCode::kCorruption, {"blk.0.attn_q.weight", "n_dims 0"});
  expect_error(one({1, 1, 1, 1, 1}, 0, 0, 4), StatusCode::kCorruption, {"blk.0.attn_q.weight", "n_dims 5"});
  expect_error(one({uint64_t{1} << 32, uint64_t{1} << 32}, 0, 0, 0), StatusCode::kCorruption,
               {"blk.0.attn_q.weight", "overflow"});
  expect_error(one({~uint64_t{0}}, 0, 0, 0), StatusCode::kCorruption, {"blk.0.attn_q.weight", "too large"});
  expect_error(one({uint64_t{1} << 62}, 0, 0, 0), StatusCode::kCorruption, {"blk.0.attn_q.weight", "overflow"});
  expect_error(one({32, 2}, 0, 16, 512), StatusCode::kCorruption, {"blk.0.attn_q.weight", "offset 16", "alignment"});
  expect_error(one({32, 2}, 0, 0, 255), StatusCode::kCorruption, {"blk.0.attn_q.weight", "past the end"});
  // Found by gguf_fuzz: an empty tensor in a file that ends before the data
  // section's padding pointed past the end of the input.
  Raw unpadded;
  unpadded.header(1, 0).tensor("empty", {0}, 0, 0);
  expect_error(unpadded.out, StatusCode::kCorruption, {"data section", "past the end"});
  expect_error(one({32, 2}, 0, uint64_t{1} << 63, 255), StatusCode::kCorruption,
               {"blk.0.attn_q.weight", "past the end"});
}

TEST(Gguf, OverlappingAndDuplicateTensors) {
  Raw overlap, dup;
  overlap.header(2, 0).tensor("a", {64}, 0, 0).tensor("b", {32}, 0, 224).pad().zeros(512);
  expect_error(overlap.out, StatusCode::kCorruption, {"overlaps", "a"});
  Raw fine;
  fine.header(2, 0).tensor("a", {64}, 0, 0).tensor("b", {32}, 0, 256).pad().zeros(512);
  EXPECT_TRUE(parse_error(fine.out).ok());
  dup.header(2, 0).tensor("a", {8}, 0, 0).tensor("a", {8}, 0, 32).pad().zeros(64);
  expect_error(dup.out, StatusCode::kCorruption, {"tensor name a", "twice"});
}

// The independent reader (tests/reference/gguf_reference.py, from the spec)
// parses what the writer wrote: every key, type and value, every tensor's
// dims, type, offset and bytes.
TEST(Gguf, PythonReferenceReadsFlywheelFile) {
  const fs::path dir = fs::temp_directory_path() / ("gguf_py_" + std::to_string(::getpid()));
  fs::create_directories(dir);
  std::vector<float> a(64 * 3);
  for (size_t i = 0; i < a.size(); ++i) a[i] = std::sin(static_cast<float>(i));
  std::vector<uint16_t> b(7);
  for (size_t i = 0; i < b.size(); ++i) b[i] = static_cast<uint16_t>(0x3c00 + i);
  std::vector<std::byte> q(2 * 34, std::byte{0x5a});
  const std::vector<GgufTensorToWrite> tensors = {{"b", TensorType::kF16, {7}, std::as_bytes(std::span(b))},
                                                  {"a", TensorType::kF32, {64, 3}, std::as_bytes(std::span(a))},
                                                  {"q", TensorType::kQ8_0, {64}, q}};
  const auto metadata = sample_metadata();
  ASSERT_TRUE(write_gguf(dir / "m.gguf", metadata, tensors, 64).ok());
  const std::string cmd = "/usr/bin/python3 '" + std::string(FLYWHEEL_SOURCE_DIR) +
                          "/tests/reference/gguf_reference.py' '" + (dir / "m.gguf").string() + "' > '" +
                          (dir / "out.json").string() + "'";
  ASSERT_EQ(std::system(cmd.c_str()), 0) << cmd;
  const nlohmann::json j = nlohmann::json::parse(read_file(dir / "out.json").value());
  EXPECT_EQ(j["version"], 3);
  EXPECT_EQ(j["alignment"], 64);
  const nlohmann::json& md = j["metadata"];
  ASSERT_EQ(md.size(), metadata.size() + 1);  // + general.alignment
  std::function<void(const GgufValue&, GgufValueType, const nlohmann::json&, const std::string&)> same =
      [&](const GgufValue& v, GgufValueType type, const nlohmann::json& value, const std::string& key) {
        switch (type) {
          case GgufValueType::kString:
            EXPECT_EQ(value.get<std::string>(), v.string) << key;
            break;
          case GgufValueType::kBool:
            EXPECT_EQ(value.get<bool>(), v.integer != 0) << key;
            break;
          case GgufValueType::kFloat32:
            EXPECT_EQ(value.get<double>(), static_cast<double>(static_cast<float>(v.real))) << key;
            break;
          case GgufValueType::kFloat64:
            EXPECT_EQ(value.get<double>(), v.real) << key;
            break;
          case GgufValueType::kUint64:
            EXPECT_EQ(value.get<uint64_t>(), static_cast<uint64_t>(v.integer)) << key;
            break;
          case GgufValueType::kArray: {
            EXPECT_EQ(value["element_type"], gguf_value_type_name(v.element_type)) << key;
            const nlohmann::json& items = value["items"];
            ASSERT_EQ(items.size(), v.array_size()) << key;
            for (size_t i = 0; i < items.size(); ++i) {
              GgufValue item;
              item.type = v.element_type;
              if (v.element_type == GgufValueType::kString)
                item.string = v.strings[i];
              else if (v.element_type == GgufValueType::kArray)
                item = v.items[i];
              else if (v.is_float() || v.element_type == GgufValueType::kFloat32 ||
                       v.element_type == GgufValueType::kFloat64)
                item.real = v.reals[i];
              else
                item.integer = v.integers[i];
              same(item, v.element_type, items[i], key + "[" + std::to_string(i) + "]");
            }
            break;
          }
          default:
            EXPECT_EQ(value.get<int64_t>(), v.integer) << key;
        }
      };
  for (const auto& [key, v] : metadata) {
    ASSERT_TRUE(md.contains(key)) << key;
    EXPECT_EQ(md[key]["type"], gguf_value_type_name(v.type)) << key;
    same(v, v.type, md[key]["value"], key);
  }
  ASSERT_EQ(j["tensors"].size(), tensors.size());
  for (size_t i = 0; i < tensors.size(); ++i) {
    const nlohmann::json& t = j["tensors"][i];
    EXPECT_EQ(t["name"], tensors[i].name);
    EXPECT_EQ(t["type"], type_name(tensors[i].type));
    EXPECT_EQ(t["dims"].get<std::vector<int64_t>>(), tensors[i].dims);
    EXPECT_EQ(t["hex"].get<std::string>(),
              to_hex(std::string_view(reinterpret_cast<const char*>(tensors[i].data.data()), tensors[i].data.size())))
        << tensors[i].name;
  }
  fs::remove_all(dir);
}

}  // namespace
}  // namespace flywheel::infer
