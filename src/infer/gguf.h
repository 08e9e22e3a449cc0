// GGUF, llama.cpp's model file format: read (memory-mapped, validated) and
// written (streamed, atomically).
//
// Layout (little-endian; the GGUF specification in ggml's docs/gguf.md):
//   "GGUF"  u32 version (2 or 3; 1 had 32-bit counts and is refused)
//   u64 tensor_count  u64 metadata_kv_count
//   metadata_kv_count x { string key; u32 value_type; value }
//   tensor_count x { string name; u32 n_dims; u64 dims[n_dims]; u32 type; u64 offset }
//   padding to general.alignment (u32, default 32), then the data section.
// A string is u64 length + bytes (no NUL); an array is u32 element type +
// u64 count + elements. dims[0] (ne0) is the innermost dimension: a matrix of
// R rows by C columns has dims {C, R}. A tensor's offset is relative to the
// data section and a multiple of the alignment.
//
// The reader checks: magic, version, counts against the bytes left (so a huge
// count fails before anything is allocated), every string and array inside the
// file, known value types, unique keys and tensor names, n_dims <= 4, the
// dims' product and byte size without overflow, a known tensor type
// (tensor_type.h) with ne0 a multiple of its block size, general.alignment a
// power of two, offsets aligned, inside the file and not overlapping.
// Errors are kCorruption (kUnsupported for a tensor type flywheel does not
// read) naming the file and the field or tensor.
//
// Thread-safety: a GgufFile is immutable after open() and may be read from
// many threads. Tensor data views live as long as the file (or the bytes given
// to parse()).
#pragma once

#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <map>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "core/mapped_file.h"
#include "core/status.h"
#include "infer/tensor_type.h"

namespace flywheel::infer {

enum class GgufValueType : uint32_t {
  kUint8 = 0,
  kInt8 = 1,
  kUint16 = 2,
  kInt16 = 3,
  kUint32 = 4,
  kInt32 = 5,
  kFloat32 = 6,
  kBool = 7,
  kString = 8,
  kArray = 9,
  kUint64 = 10,
  kInt64 = 11,
  kFloat64 = 12,
};

std::string_view gguf_value_type_name(GgufValueType type);

// One metadata value. Scalars: integers (and bool) in `integer` (a uint64 as
// its bit pattern), floats in `real`, a string in `string`. Arrays: the element
// type in `element_type` and the elements in the vector for that kind
// (`strings`, `integers`, `reals`, or `items` for arrays of arrays).
struct GgufValue {
  GgufValueType type = GgufValueType::kUint32;
  int64_t integer = 0;
  double real = 0.0;
  std::string string;
  GgufValueType element_type = GgufValueType::kUint8;
  std::vector<std::string> strings;
  std::vector<int64_t> integers;
  std::vector<double> reals;
  std::vector<GgufValue> items;

  static GgufValue u32(uint32_t v);
  static GgufValue i32(int32_t v);
  static GgufValue u64(uint64_t v);
  static GgufValue f32(float v);
  static GgufValue boolean(bool v);
  static GgufValue str(std::string v);
  static GgufValue string_array(std::vector<std::string> v);
  static GgufValue int_array(GgufValueType element, std::vector<int64_t> v);
  static GgufValue float_array(GgufValueType element, std::vector<double> v);

  bool is_integer() const;  // any integer type or bool
  bool is_float() const;
  size_t array_size() const;
  bool operator==(const GgufValue& other) const = default;
};

struct GgufTensor {
  std::string name;
  std::vector<int64_t> dims;  // ne0 first
  TensorType type = TensorType::kF32;
  uint64_t offset = 0;  // in the data section
  std::span<const std::byte> data;

  int64_t elements() const;
  int64_t cols() const { return dims.empty() ? 1 : dims[0]; }
  int64_t rows() const { return cols() == 0 ? 0 : elements() / cols(); }
};

class GgufFile {
 public:
  static Result<GgufFile> open(const std::filesystem::path& path);
  // Validates bytes in memory; views point into `bytes`, which must outlive it.
  static Result<GgufFile> parse(std::span<const std::byte> bytes, std::string source = "<memory>");

  uint32_t version() const { return version_; }
  uint32_t alignment() const { return alignment_; }
  uint64_t data_offset() const { return data_offset_; }  // start of the data section in the file
  const std::string& source() const { return source_; }

  // In file order.
  const std::vector<std::pair<std::string, GgufValue>>& metadata() const { return metadata_; }
  const std::vector<GgufTensor>& tensors() const { return tensors_; }
  const GgufValue* find(std::string_view key) const;
  const GgufTensor* find_tensor(std::string_view name) const;

  // Typed reads: kNotFound when absent, kCorruption naming the key for a value
  // of another type (any integer type reads as an integer, any float or
  // integer as a double).
  Result<std::string> get_string(std::string_view key) const;
  Result<int64_t> get_int(std::string_view key) const;
  Result<double> get_float(std::string_view key) const;
  std::optional<int64_t> int_or(std::string_view key) const;

  // Moving keeps the views valid (the mapping stays where it is).
  GgufFile(GgufFile&& other) noexcept = default;
  GgufFile& operator=(GgufFile&& other) noexcept = default;

 private:
  GgufFile() = default;

  std::string source_;
  MappedFile mapping_;  // before the views into it, so they go first
  uint32_t version_ = 3;
  uint32_t alignment_ = 32;
  uint64_t data_offset_ = 0;
  std::vector<std::pair<std::string, GgufValue>> metadata_;
  std::map<std::string, size_t, std::less<>> metadata_index_;
  std::vector<GgufTensor> tensors_;
  std::map<std::string, size_t, std::less<>> tensor_index_;
};

struct GgufTensorToWrite {
  std::string name;
  TensorType type = TensorType::kF32;
  std::vector<int64_t> dims;        // ne0 first
  std::span<const std::byte> data;  // row_bytes(type, dims[0]) * rows bytes
};

// Writes a version-3 GGUF atomically (temporary file, fsync, rename): the
// metadata in the given order, tensors in the given order, each at the next
// multiple of `alignment` (general.alignment is written when not 32).
// Errors: kInvalidArgument naming a tensor whose size does not match its type
// and dims, or a duplicate key or name; I/O errors.
Status write_gguf(const std::filesystem::path& path, const std::vector<std::pair<std::string, GgufValue>>& metadata,
                  const std::vector<GgufTensorToWrite>& tensors, uint32_t alignment = 32);
// The same bytes in memory.
Result<std::string> serialize_gguf(const std::vector<std::pair<std::string, GgufValue>>& metadata,
                                   const std::vector<GgufTensorToWrite>& tensors, uint32_t alignment = 32);

}  // namespace flywheel::infer
