// libFuzzer target for the GGUF reader (infer/gguf.h).
//
// Each input is parsed as a whole GGUF file from memory, and again with a
// valid "GGUF", version 3 prefix put in front (so that mutations reach the
// counts, metadata and tensor infos instead of failing the magic check). The
// parser must never crash, read out of bounds, hang or allocate without bound;
// when it accepts a file, every tensor lies inside the input, aligned and
// without overlap, and a write -> parse round trip keeps metadata and tensors.
//
//   build: clang, -fsanitize=fuzzer,address (scripts/fuzz, `make fuzz`)
//   run:   build-fuzz/fuzz/gguf_fuzz WORK_DIR -max_total_time=60
#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <span>
#include <string>
#include <vector>

#include "infer/gguf.h"

namespace {

[[noreturn]] void fail(const char* what) {
  std::fprintf(stderr, "gguf_fuzz: %s\n", what);
  std::abort();
}

void check(std::span<const std::byte> bytes) {
  using namespace flywheel;
  using namespace flywheel::infer;
  Result<GgufFile> file = GgufFile::parse(bytes, "fuzz");
  if (!file.ok()) {
    if (file.status().message().empty()) fail("an error without a message");
    return;
  }
  std::vector<GgufTensorToWrite> tensors;
  std::vector<std::pair<uint64_t, uint64_t>> ranges;
  for (const GgufTensor& t : file->tensors()) {
    if (t.data.data() < bytes.data() || t.data.data() + t.data.size() > bytes.data() + bytes.size())
      fail("a tensor's data lies outside the input");
    if (t.offset % file->alignment() != 0) fail("a tensor is not aligned");
    if (static_cast<int64_t>(t.data.size()) != t.rows() * row_bytes(t.type, t.cols()) && t.cols() != 0)
      fail("a tensor's byte size does not match its dims");
    volatile unsigned sum = 0;
    for (std::byte b : t.data) sum = sum + static_cast<unsigned>(b);
    ranges.emplace_back(t.offset, t.offset + t.data.size());
    tensors.push_back({t.name, t.type, t.dims, t.data});
  }
  std::sort(ranges.begin(), ranges.end());
  for (size_t i = 1; i < ranges.size(); ++i)
    if (ranges[i].first < ranges[i - 1].second) fail("accepted overlapping tensors");

  // The writer adds general.alignment itself when it is not the default.
  std::vector<std::pair<std::string, GgufValue>> metadata;
  for (const auto& kv : file->metadata())
    if (kv.first != "general.alignment") metadata.push_back(kv);
  Result<std::string> written = serialize_gguf(metadata, tensors, file->alignment());
  if (!written.ok()) fail("cannot serialize what was parsed");
  const std::span<const std::byte> again_bytes(reinterpret_cast<const std::byte*>(written->data()), written->size());
  Result<GgufFile> again = GgufFile::parse(again_bytes, "fuzz-roundtrip");
  if (!again.ok()) fail("cannot parse what was written");
  if (again->tensors().size() != file->tensors().size()) fail("round trip changed the tensor count");
  for (const GgufTensor& t : file->tensors()) {
    const GgufTensor* other = again->find_tensor(t.name);
    if (other == nullptr || other->type != t.type || other->dims != t.dims ||
        !std::equal(other->data.begin(), other->data.end(), t.data.begin(), t.data.end()))
      fail("round trip changed a tensor");
  }
  for (const auto& [key, value] : metadata) {
    const GgufValue* other = again->find(key);
    // NaN floats compare unequal to themselves; compare their bytes instead.
    if (other == nullptr || other->type != value.type) fail("round trip lost a key");
    if (!value.is_float() && value.type != GgufValueType::kArray && !(*other == value))
      fail("round trip changed a value");
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::span<const std::byte> input(reinterpret_cast<const std::byte*>(data), size);
  check(input);
  std::vector<std::byte> fixed(8 + size);
  std::memcpy(fixed.data(), "GGUF\x03\x00\x00\x00", 8);
  std::copy(input.begin(), input.end(), fixed.begin() + 8);
  check(fixed);
  return 0;
}
