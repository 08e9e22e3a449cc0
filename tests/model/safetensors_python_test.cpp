// safetensors against an independent implementation: files written by Python
// (struct + json + numpy, no safetensors package) read here, and files written
// here read by a Python reader that checks the format on its own.
#include <gtest/gtest.h>

#include <cstring>
#include <fstream>
#include <nlohmann/json.hpp>
#include <sstream>
#include <vector>

#include "model/safetensors.h"
#include "tests/core/test_util.h"
#include "tests/model/python_runner.h"

namespace flywheel {
namespace {

using testing_util::TempDir;

nlohmann::json read_json(const std::filesystem::path& path) {
  std::ifstream in(path);
  std::stringstream s;
  s << in.rdbuf();
  return nlohmann::json::parse(s.str());
}

// Tensors in an order that is not the reference writer's, and a header that
// is neither compact nor padded: the data is then unaligned, as files from
// other writers may be.
constexpr const char* kWriterScript = R"PY(
import json, struct, sys
import numpy as np
out_path, expected_path = sys.argv[1], sys.argv[2]
bf16_source = np.array([1.0, -2.5, 3.140625, 1e-3, 65504.0, -0.0], dtype=np.float32)
tensors = [
    ("model.norm.weight", "F16", np.array([1.5, -0.25, 65504, 6e-8, 0.1], dtype=np.float16)),
    ("tokens", "U8", np.array([[1, 2], [3, 255]], dtype=np.uint8)),
    ("model.embed_tokens.weight", "F32", (np.arange(6, dtype=np.float32) * 0.5 - 1).reshape(2, 3)),
    ("lm_head.weight", "BF16", (bf16_source.view(np.uint32) >> 16).astype(np.uint16).reshape(3, 2)),
    ("positions", "I64", np.array([-3, 0, 7, 2**40 + 1], dtype=np.int64)),
    ("mask", "BOOL", np.array([True, False, True], dtype=np.bool_)),
    ("scale", "F64", np.array(2.5, dtype=np.float64)),
    ("small", "I16", np.array([-32768, 32767], dtype=np.int16)),
    ("counts", "I32", np.array([[7], [-9]], dtype=np.int32)),
    ("empty", "F32", np.zeros((0, 4), dtype=np.float32)),
]
header = {"__metadata__": {"format": "pt", "written_by": "python"}}
blobs, offset, expected = [], 0, {}
for name, dtype, array in tensors:
    raw = array.astype(array.dtype.newbyteorder("<")).tobytes()
    header[name] = {"dtype": dtype, "shape": list(array.shape), "data_offsets": [offset, offset + len(raw)]}
    offset += len(raw)
    blobs.append(raw)
    if dtype == "BF16":
        values = (array.astype(np.uint32) << 16).view(np.float32).astype(np.float64)
    elif dtype in ("F16", "F32", "F64"):
        values = array.astype(np.float64)
    else:
        values = array
    expected[name] = {"dtype": dtype, "shape": list(array.shape), "values": values.ravel().tolist()}
text = json.dumps(header).encode("utf-8")
if len(text) % 8 == 0:
    text += b" "
with open(out_path, "wb") as f:
    f.write(struct.pack("<Q", len(text)))
    f.write(text)
    f.write(b"".join(blobs))
with open(expected_path, "w") as f:
    json.dump({"metadata": header["__metadata__"], "tensors": expected}, f)
)PY";

template <typename T>
std::vector<T> copy_as(const TensorView& view) {
  std::vector<T> out(view.data.size() / sizeof(T));
  if (!out.empty()) std::memcpy(out.data(), view.data.data(), view.data.size());
  return out;
}

TEST(SafetensorsPythonTest, ReadsAFileWrittenByPython) {
  FW_REQUIRE_PYTHON_NUMPY();
  TempDir dir;
  const auto file_path = dir / "python.safetensors";
  const auto expected_path = dir / "expected.json";
  std::string log;
  ASSERT_EQ(testing_util::run_python(dir.path(), "writer.py", kWriterScript,
                                     testing_util::quoted_args({file_path, expected_path}), &log),
            0)
      << log;
  const nlohmann::json expected = read_json(expected_path);

  Result<SafetensorsFile> file = SafetensorsFile::open(file_path);
  ASSERT_TRUE(file.ok()) << file.status().to_string();
  EXPECT_NE(file->header_size() % 8, 0u);  // the unaligned case
  EXPECT_EQ(file->metadata(), (expected["metadata"].get<std::map<std::string, std::string>>()));
  ASSERT_EQ(file->size(), expected["tensors"].size());

  for (const auto& [name, want] : expected["tensors"].items()) {
    SCOPED_TRACE(name);
    const TensorView* view = file->find(name);
    ASSERT_NE(view, nullptr);
    EXPECT_EQ(dtype_name(view->dtype), want["dtype"].get<std::string>());
    EXPECT_EQ(view->shape, want["shape"].get<std::vector<int64_t>>());
    const nlohmann::json& values = want["values"];
    ASSERT_EQ(static_cast<size_t>(view->numel()), values.size());
    if (dtype_is_float(view->dtype)) {
      std::vector<float> got(values.size());
      ASSERT_TRUE(convert_to_f32(view->dtype, view->data, got));
      for (size_t i = 0; i < got.size(); ++i) {
        EXPECT_EQ(got[i], static_cast<float>(values[i].get<double>())) << "element " << i;
        if (values[i].get<double>() == 0.0) {
          EXPECT_EQ(std::signbit(got[i]), std::signbit(values[i].get<double>())) << "element " << i;
        }
      }
    } else if (view->dtype == DType::kI64) {
      EXPECT_EQ(copy_as<int64_t>(*view), values.get<std::vector<int64_t>>());
    } else if (view->dtype == DType::kI32) {
      EXPECT_EQ(copy_as<int32_t>(*view), values.get<std::vector<int32_t>>());
    } else if (view->dtype == DType::kI16) {
      EXPECT_EQ(copy_as<int16_t>(*view), values.get<std::vector<int16_t>>());
    } else if (view->dtype == DType::kU8) {
      EXPECT_EQ(copy_as<uint8_t>(*view), values.get<std::vector<uint8_t>>());
    } else if (view->dtype == DType::kBool) {
      std::vector<uint8_t> want_bytes;
      for (const auto& v : values) want_bytes.push_back(v.get<bool>() ? 1 : 0);
      EXPECT_EQ(copy_as<uint8_t>(*view), want_bytes);
    } else {
      ADD_FAILURE() << "unexpected dtype " << dtype_name(view->dtype);
    }
  }
}

// An independent reader: checks the layout rules itself (8-byte padded
// header, tensors tiling the buffer in the reference writer's order) and dumps
// the values as JSON.
constexpr const char* kReaderScript = R"PY(
import json, struct, sys
import numpy as np
path, out_path = sys.argv[1], sys.argv[2]
buf = open(path, "rb").read()
(n,) = struct.unpack("<Q", buf[:8])
assert n % 8 == 0, "header length %d is not a multiple of 8" % n
text = buf[8:8 + n].decode("utf-8")
assert text.rstrip(" ") == text.rstrip(" ").strip(), "padding must be trailing spaces"
header = json.loads(text)
assert list(header)[0] == "__metadata__", "metadata first"
metadata = header.pop("__metadata__", {})
data = buf[8 + n:]
order = ["BOOL", "U8", "I8", "F8_E5M2", "F8_E4M3", "I16", "U16", "F16", "BF16", "I32", "U32", "F32", "F64", "I64", "U64"]
spans = sorted((tuple(v["data_offsets"]), k) for k, v in header.items())
position = 0
for (begin, end), name in spans:
    assert begin == position, "hole or overlap at %s" % name
    position = end
assert position == len(data), "data buffer is %d bytes, tensors cover %d" % (len(data), position)
layout = [k for _, k in spans if header[k]["data_offsets"][0] != header[k]["data_offsets"][1]]
reference = sorted(layout, key=lambda k: (-order.index(header[k]["dtype"]), k))
assert layout == reference, "layout %s, reference order %s" % (layout, reference)
types = {"F64": "<f8", "F32": "<f4", "F16": "<f2", "BF16": "<u2", "I64": "<i8", "I32": "<i4",
         "I16": "<i2", "I8": "i1", "U8": "u1", "BOOL": "?"}
tensors = {}
for name, info in header.items():
    begin, end = info["data_offsets"]
    array = np.frombuffer(data[begin:end], dtype=np.dtype(types[info["dtype"]])).reshape(info["shape"])
    if info["dtype"] == "BF16":
        array = (array.astype(np.uint32) << 16).view(np.float32)
    if array.dtype.kind == "f":
        array = array.astype(np.float64)
    tensors[name] = {"dtype": info["dtype"], "shape": list(info["shape"]), "values": array.ravel().tolist()}
json.dump({"metadata": metadata, "tensors": tensors}, open(out_path, "w"))
)PY";

TEST(SafetensorsPythonTest, PythonReadsAFileWrittenHere) {
  FW_REQUIRE_PYTHON_NUMPY();
  TempDir dir;
  std::vector<float> f32 = {0.5f, -1.25f, 3e-5f, 1000.0f, -0.0f, 7.0f};
  std::vector<uint16_t> bf16, f16;
  for (float v : f32) {
    bf16.push_back(f32_to_bf16(v));
    f16.push_back(f32_to_fp16(v));
  }
  std::vector<int64_t> i64 = {-5, 1LL << 50, 3};
  std::vector<int32_t> i32 = {-7, 9};
  std::vector<uint8_t> u8 = {0, 200, 17};
  std::vector<uint8_t> flags = {0, 1};
  std::vector<double> f64 = {0.1, -1e300};
  std::vector<float> none;
  const std::vector<TensorToWrite> tensors = {
      {"model.layers.0.mlp.up_proj.weight", DType::kF32, {3, 2}, std::as_bytes(std::span(f32))},
      {"model.layers.0.mlp.down_proj.weight", DType::kBF16, {2, 3}, std::as_bytes(std::span(bf16))},
      {"model.norm.weight", DType::kF16, {6}, std::as_bytes(std::span(f16))},
      {"step", DType::kI64, {3}, std::as_bytes(std::span(i64))},
      {"pair", DType::kI32, {1, 2}, std::as_bytes(std::span(i32))},
      {"bytes", DType::kU8, {3}, std::as_bytes(std::span(u8))},
      {"flags", DType::kBool, {2}, std::as_bytes(std::span(flags))},
      {"doubles", DType::kF64, {2}, std::as_bytes(std::span(f64))},
      {"empty", DType::kF32, {2, 0}, std::as_bytes(std::span(none))},
  };
  const auto file_path = dir / "ours.safetensors";
  const auto out_path = dir / "read.json";
  ASSERT_TRUE(write_safetensors(file_path, tensors, {{"format", "pt"}, {"origin", "flywheel"}}).is_ok());
  std::string log;
  ASSERT_EQ(testing_util::run_python(dir.path(), "reader.py", kReaderScript,
                                     testing_util::quoted_args({file_path, out_path}), &log),
            0)
      << log;
  const nlohmann::json read = read_json(out_path);
  EXPECT_EQ(read["metadata"], (nlohmann::json{{"format", "pt"}, {"origin", "flywheel"}}));
  ASSERT_EQ(read["tensors"].size(), tensors.size());

  auto values = [&](const std::string& name) { return read["tensors"].at(name).at("values"); };
  for (const TensorToWrite& t : tensors) {
    EXPECT_EQ(read["tensors"].at(t.name).at("dtype").get<std::string>(), dtype_name(t.dtype)) << t.name;
    EXPECT_EQ(read["tensors"].at(t.name).at("shape").get<std::vector<int64_t>>(), t.shape) << t.name;
  }
  for (size_t i = 0; i < f32.size(); ++i) {
    EXPECT_EQ(values("model.layers.0.mlp.up_proj.weight")[i].get<double>(), f32[i]);
    EXPECT_EQ(values("model.layers.0.mlp.down_proj.weight")[i].get<double>(), bf16_to_f32(bf16[i]));
    EXPECT_EQ(values("model.norm.weight")[i].get<double>(), fp16_to_f32(f16[i]));
  }
  EXPECT_EQ(values("step").get<std::vector<int64_t>>(), i64);
  EXPECT_EQ(values("pair").get<std::vector<int32_t>>(), i32);
  EXPECT_EQ(values("bytes").get<std::vector<uint8_t>>(), u8);
  EXPECT_EQ(values("flags").get<std::vector<bool>>(), (std::vector<bool>{false, true}));
  EXPECT_EQ(values("doubles").get<std::vector<double>>(), f64);
  EXPECT_TRUE(values("empty").empty());
}

}  // namespace
}  // namespace flywheel
