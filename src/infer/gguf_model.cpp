// Placeholder until the GGUF reader lands.
#include "infer/gguf_model.h"

namespace flywheel::infer {

Result<GgufModel> open_gguf_model(const std::filesystem::path& path) {
  return Status::unsupported("GGUF is not readable yet: " + path.string());
}

}  // namespace flywheel::infer
