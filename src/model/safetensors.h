// safetensors: Hugging Face's weight file format, read (memory-mapped) and
// written (streamed, atomically). Pure C++: no libtorch here, so this file
// compiles fast and the header parser can be fuzzed (fuzz/safetensors_fuzz.cpp).
//
// Format: an 8-byte little-endian header length N, N bytes of JSON
//   {"__metadata__": {"format": "pt"},
//    "<name>": {"dtype": "F32", "shape": [2, 3], "data_offsets": [begin, end]}, ...}
// then the data buffer; offsets are relative to the buffer's start.
//
// The reader validates as the reference library (safetensors 0.4, Rust) does:
// 2 <= N <= 100,000,000 and N <= file size - 8; the header is UTF-8 JSON
// starting with '{' (trailing spaces allowed), an object; each tensor has a
// known dtype, a shape of non-negative integers whose product (and byte size)
// does not overflow, and data_offsets [begin, end] with end - begin equal to
// its byte size; sorted by offset, the tensors tile the data buffer exactly:
// the first begins at 0, each begins where the previous ends (no overlap, no
// hole), the last ends at the end of the file. "__metadata__", if present, is
// an object of strings (or null). Stricter than the reference: duplicate keys
// are an error (the reference keeps the last), and a dimension above 2^63-1
// is an error. Accepted dtypes: BOOL U8 I8 F8_E5M2 F8_E4M3 I16 U16 F16 BF16
// I32 U32 F32 F64 I64 U64 (see model/dtype.h).
//
// Tensor data is a view into the mapping: it lives as long as the
// SafetensorsFile (moving the file keeps views valid) and is little-endian.
// It is aligned to its element size only when the writer padded the header
// to a multiple of 8 and the tensors before it keep alignment (this writer and
// the reference's do); use memcpy or convert_to_f32 for unaligned data.
//
// Thread-safety: after open() everything is const and may be read from many
// threads. Errors: kNotFound for a missing file, kIoError when the OS refuses,
// kCorruption for a malformed file; every message names the file and, when
// one is to blame, the tensor.
#pragma once

#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <functional>
#include <map>
#include <memory>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "core/file_system.h"
#include "core/mapped_file.h"
#include "core/status.h"
#include "model/dtype.h"

namespace flywheel {

// The most header bytes a reader accepts (the reference library's limit).
inline constexpr uint64_t kSafetensorsMaxHeaderSize = 100'000'000;

struct TensorView {
  std::string name;
  DType dtype = DType::kF32;
  std::vector<int64_t> shape;       // [] for a scalar
  std::span<const std::byte> data;  // numel() * dtype_size(dtype) bytes
  uint64_t data_begin = 0;          // offsets in the data buffer (for messages)
  uint64_t data_end = 0;

  int64_t numel() const;
};

class SafetensorsFile {
 public:
  // Memory-maps `path` read-only and validates its header.
  static Result<SafetensorsFile> open(const std::filesystem::path& path);
  // Validates bytes already in memory; the result's views point into `bytes`,
  // which must outlive it. `source` names the bytes in error messages.
  static Result<SafetensorsFile> parse(std::span<const std::byte> bytes, std::string source = "<memory>");

  // Sorted.
  std::vector<std::string> names() const;
  size_t size() const { return tensors_.size(); }
  // nullptr when there is no tensor of that name.
  const TensorView* find(std::string_view name) const;
  const std::map<std::string, TensorView, std::less<>>& tensors() const { return tensors_; }
  // The "__metadata__" object (empty when absent).
  const std::map<std::string, std::string>& metadata() const { return metadata_; }
  // The path given to open(), or parse()'s `source`.
  const std::string& source() const { return source_; }
  // Bytes of the JSON header (N), for tools and tests.
  uint64_t header_size() const { return header_size_; }

  SafetensorsFile(SafetensorsFile&& other) noexcept = default;
  SafetensorsFile& operator=(SafetensorsFile&& other) noexcept = default;

 private:
  SafetensorsFile() = default;

  std::string source_;
  MappedFile mapping_;  // before the views into it, so they go first
  uint64_t header_size_ = 0;
  std::map<std::string, TensorView, std::less<>> tensors_;
  std::map<std::string, std::string> metadata_;
};

// The weights of a checkpoint directory: `model.safetensors`, or the shards
// listed by `model.safetensors.index.json` ({"metadata": {...}, "weight_map":
// {"<tensor>": "<shard file>"}}), each shard opened once. A path to a single
// .safetensors file also works.
//
// Errors: kNotFound when the directory has neither file or a shard is
// missing; kCorruption for a malformed index, a shard name leaving the
// directory, or a listed tensor absent from its shard (naming both).
class SafetensorsCheckpoint {
 public:
  static Result<SafetensorsCheckpoint> open(const std::filesystem::path& dir_or_file);

  // Sorted; for a sharded checkpoint, the index's weight_map keys.
  std::vector<std::string> names() const;
  size_t size() const { return index_.size(); }
  const TensorView* find(std::string_view name) const;
  // The single file's "__metadata__", or the index's "metadata" (non-string
  // values such as total_size as their JSON text).
  const std::map<std::string, std::string>& metadata() const { return metadata_; }
  // The opened files, in the order first listed.
  const std::vector<std::unique_ptr<SafetensorsFile>>& files() const { return files_; }

 private:
  std::vector<std::unique_ptr<SafetensorsFile>> files_;
  std::map<std::string, const TensorView*, std::less<>> index_;
  std::map<std::string, std::string> metadata_;
};

struct TensorToWrite {
  std::string name;
  DType dtype = DType::kF32;
  std::vector<int64_t> shape;
  std::span<const std::byte> data;  // numel * dtype_size bytes, little-endian
};

// Writes a safetensors file atomically (temp file in the same directory,
// fsync, rename, fsync directory), streaming each tensor's bytes straight
// from its span. Layout as the reference library's serialize(): tensors
// sorted by dtype in the reference's enum order, descending (so 8-byte types
// first, which keeps every tensor aligned), then by name; header JSON compact,
// "__metadata__" first (omitted when `metadata` is empty), padded with spaces
// so the data starts at a multiple of 8.
// Errors: kInvalidArgument (naming the tensor) for an empty, duplicate or
// "__metadata__" name, a name or metadata that is not UTF-8, a negative
// dimension, or a data size that does not match dtype and shape; I/O errors
// from the file system.
Status write_safetensors(const std::filesystem::path& path, const std::vector<TensorToWrite>& tensors,
                         const std::map<std::string, std::string>& metadata = {{"format", "pt"}},
                         FileSystem& fs = default_file_system());

// The same bytes write_safetensors would write, in memory (tests, fuzzing,
// small files).
Result<std::string> serialize_safetensors(const std::vector<TensorToWrite>& tensors,
                                          const std::map<std::string, std::string>& metadata = {{"format", "pt"}});

}  // namespace flywheel
