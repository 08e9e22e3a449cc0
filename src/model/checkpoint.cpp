#include "model/checkpoint.h"

#include "core/atomic_file.h"
#include "core/atomic_writer.h"
#include "model/dtype.h"
#include "model/safetensors.h"

namespace flywheel::model {
namespace {

std::optional<torch::Dtype> torch_dtype(DType d) {
  switch (d) {
    case DType::kF32:
      return torch::kFloat32;
    case DType::kF16:
      return torch::kFloat16;
    case DType::kBF16:
      return torch::kBFloat16;
    case DType::kF64:
      return torch::kFloat64;
    default:
      return std::nullopt;
  }
}

Result<DType> safetensors_dtype(torch::Dtype d) {
  if (d == torch::kFloat32) return DType::kF32;
  if (d == torch::kBFloat16) return DType::kBF16;
  if (d == torch::kFloat16) return DType::kF16;
  return Status::internal("cannot store a tensor of dtype " + std::string(c10::toString(d)));
}

std::string shape_string(c10::IntArrayRef shape) {
  std::string s = "[";
  for (size_t i = 0; i < shape.size(); ++i) s += (i ? ", " : "") + std::to_string(shape[i]);
  return s + "]";
}

}  // namespace

Status load_weights(const std::filesystem::path& dir, CausalLmImpl& module) {
  FW_ASSIGN_OR_RETURN(SafetensorsCheckpoint checkpoint, SafetensorsCheckpoint::open(dir));
  torch::NoGradGuard no_grad;
  for (auto& param : module.named_parameters()) {
    const std::string& name = param.key();
    const TensorView* view = checkpoint.find(name);
    if (view == nullptr) return Status::corruption(dir.string() + ": the checkpoint has no tensor '" + name + "'");
    auto dtype = torch_dtype(view->dtype);
    if (!dtype)
      return Status::corruption(dir.string() + ": tensor '" + name + "' has dtype " +
                                std::string(dtype_name(view->dtype)) + "; expected F32, F16, BF16 or F64");
    if (c10::IntArrayRef(view->shape) != param.value().sizes())
      return Status::corruption(dir.string() + ": tensor '" + name + "' has shape " + shape_string(view->shape) +
                                " but the config needs " + shape_string(param.value().sizes()));
    // from_blob does not copy; the copy_ into the parameter does, so the
    // mapping may go away afterwards.
    torch::Tensor source =
        torch::from_blob(const_cast<std::byte*>(view->data.data()), view->shape, torch::TensorOptions().dtype(*dtype));
    param.value().copy_(source);
  }
  return Status::OK();
}

Status save_tensors(const std::filesystem::path& path,
                    const std::vector<std::pair<std::string, torch::Tensor>>& named) {
  std::vector<torch::Tensor> keep_alive;
  std::vector<TensorToWrite> tensors;
  for (const auto& [name, tensor] : named) {
    torch::Tensor t = tensor.detach().contiguous();
    FW_ASSIGN_OR_RETURN(DType dtype, safetensors_dtype(t.scalar_type()));
    tensors.push_back({name, dtype, t.sizes().vec(),
                       std::span<const std::byte>(static_cast<const std::byte*>(t.data_ptr()), t.nbytes())});
    keep_alive.push_back(std::move(t));
  }
  return write_safetensors(path, tensors);
}

Result<std::map<std::string, torch::Tensor>> load_tensors(const std::filesystem::path& path) {
  FW_ASSIGN_OR_RETURN(SafetensorsFile file, SafetensorsFile::open(path));
  std::map<std::string, torch::Tensor> out;
  for (const auto& [name, view] : file.tensors()) {
    auto dtype = torch_dtype(view.dtype);
    if (!dtype)
      return Status::corruption(path.string() + ": tensor '" + name + "' has unsupported dtype " +
                                std::string(dtype_name(view.dtype)));
    out[name] =
        torch::from_blob(const_cast<std::byte*>(view.data.data()), view.shape, torch::TensorOptions().dtype(*dtype))
            .clone();
  }
  return out;
}

Status save_checkpoint(const std::filesystem::path& dir, const ModelConfig& config, const Tokenizer& tokenizer,
                       CausalLmImpl& module, const std::string& lineage_json,
                       const std::function<Status(const std::filesystem::path& temp_dir)>& extra,
                       const std::vector<std::pair<std::string, torch::Tensor>>& extra_tensors) {
  std::vector<std::pair<std::string, torch::Tensor>> tensors;
  bool any_bf16 = false;
  for (auto& param : module.named_parameters()) {
    any_bf16 |= param.value().scalar_type() == torch::kBFloat16;
    tensors.emplace_back(param.key(), param.value());
  }
  tensors.insert(tensors.end(), extra_tensors.begin(), extra_tensors.end());
  ModelConfig written = config;
  written.torch_dtype = any_bf16 ? "bfloat16" : "float32";
  return write_directory_atomically(dir, [&](const std::filesystem::path& tmp) -> Status {
    FW_RETURN_IF_ERROR(write_file_atomically(tmp / "config.json", written.to_json()));
    FW_RETURN_IF_ERROR(write_file_atomically(tmp / "generation_config.json", written.generation_config_json()));
    FW_RETURN_IF_ERROR(write_file_atomically(tmp / "tokenizer.json", tokenizer.to_json()));
    FW_RETURN_IF_ERROR(write_file_atomically(tmp / "flywheel.json", lineage_json));
    FW_RETURN_IF_ERROR(save_tensors(tmp / "model.safetensors", tensors));
    return extra ? extra(tmp) : Status::OK();
  });
}

}  // namespace flywheel::model
