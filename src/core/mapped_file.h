// MappedFile: a regular file memory-mapped read-only (MAP_PRIVATE), unmapped
// when the last owner goes. The one place flywheel's mapped formats
// (safetensors, GGUF) open, check and map a file, so each format's code is
// only its parser. An empty file maps nothing and gives an empty span.
//
// Thread-safety: the bytes are immutable and may be read from many threads.
// Errors: status_from_errno() codes (ENOENT → kNotFound) with a message that
// names `what` and the path; kInvalidArgument for a path that is not a
// regular file.
#pragma once

#include <cstddef>
#include <filesystem>
#include <span>
#include <string_view>

#include "core/status.h"

namespace flywheel {

class MappedFile {
 public:
  // `what` names the file's kind in messages ("GGUF file", "safetensors file").
  static Result<MappedFile> open(const std::filesystem::path& path, std::string_view what);

  std::span<const std::byte> bytes() const { return {static_cast<const std::byte*>(data_), size_}; }

  MappedFile() = default;
  MappedFile(MappedFile&& other) noexcept;
  MappedFile& operator=(MappedFile&& other) noexcept;
  MappedFile(const MappedFile&) = delete;
  MappedFile& operator=(const MappedFile&) = delete;
  ~MappedFile();

 private:
  MappedFile(void* data, size_t size) : data_(data), size_(size) {}
  void unmap();
  void* data_ = nullptr;  // owned when non-null
  size_t size_ = 0;
};

}  // namespace flywheel
