// libFuzzer target for the safetensors header parser (model/safetensors.h).
//
// Each input is parsed as a whole safetensors file from memory, and again
// with a correct length prefix put in front (the header then runs to the
// input's last '}', the rest being data), so that mutations of the JSON reach
// the validator instead of failing the length check. The parser
// must never crash, read out of bounds or hang; when it accepts a file, the
// accepted tensors must lie inside the input, tile the data buffer, and
// survive a write → parse round trip unchanged.
//
//   build: clang, -fsanitize=fuzzer,address (scripts/fuzz, `make fuzz`)
//   run:   build-fuzz/fuzz/safetensors_fuzz WORK_DIR fuzz/safetensors_corpus
//            -dict=fuzz/safetensors.dict -max_total_time=60
#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <span>
#include <string>
#include <vector>

#include "model/safetensors.h"

namespace {

[[noreturn]] void fail(const char* what) {
  std::fprintf(stderr, "safetensors_fuzz: %s\n", what);
  std::abort();
}

void check(std::span<const std::byte> bytes) {
  using namespace flywheel;
  const size_t size = bytes.size();
  Result<SafetensorsFile> file = SafetensorsFile::parse(bytes, "fuzz");
  if (!file.ok()) {
    if (file.status().message().empty()) fail("an error without a message");
    return;
  }

  uint64_t covered = 0;
  std::vector<TensorToWrite> tensors;
  for (const auto& [name, view] : file->tensors()) {
    if (view.data.data() < bytes.data() || view.data.data() + view.data.size() > bytes.data() + bytes.size()) {
      fail("a tensor's data lies outside the input");
    }
    if (view.data.size() != static_cast<uint64_t>(view.numel()) * dtype_size(view.dtype)) {
      fail("a tensor's byte size does not match its shape");
    }
    // Touch every byte so that ASan checks the whole range.
    volatile unsigned sum = 0;
    for (std::byte b : view.data) sum = sum + static_cast<unsigned>(b);
    covered += view.data.size();
    tensors.push_back({name, view.dtype, view.shape, view.data});
  }
  if (covered != size - 8 - file->header_size()) fail("accepted tensors do not cover the data buffer");

  Result<std::string> written = serialize_safetensors(tensors, file->metadata());
  if (!written.ok()) fail("cannot serialize what was parsed");
  const std::span<const std::byte> again_bytes(reinterpret_cast<const std::byte*>(written->data()), written->size());
  Result<SafetensorsFile> again = SafetensorsFile::parse(again_bytes, "fuzz-roundtrip");
  if (!again.ok()) fail("cannot parse what was written");
  if (again->names() != file->names() || again->metadata() != file->metadata()) fail("round trip changed the names");
  for (const auto& [name, view] : file->tensors()) {
    const TensorView* other = again->find(name);
    if (other == nullptr || other->dtype != view.dtype || other->shape != view.shape ||
        !std::equal(other->data.begin(), other->data.end(), view.data.begin(), view.data.end())) {
      fail("round trip changed a tensor");
    }
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::span<const std::byte> input(reinterpret_cast<const std::byte*>(data), size);
  check(input);

  size_t header = size;
  while (header > 0 && data[header - 1] != '}') --header;
  if (header == 0) header = size;
  std::vector<std::byte> fixed(8 + size);
  for (size_t i = 0; i < 8; ++i) fixed[i] = static_cast<std::byte>((static_cast<uint64_t>(header) >> (8 * i)) & 0xff);
  std::copy(input.begin(), input.end(), fixed.begin() + 8);
  check(fixed);
  return 0;
}
