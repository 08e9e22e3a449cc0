// `flywheel model convert SRC --to gguf|hf --type T --out PATH`, and
// `flywheel model info FILE.gguf`.
#include "cli/model_convert.h"

#include <fmt/format.h>

#include <filesystem>
#include <map>
#include <nlohmann/json.hpp>

#include "cli/cli_util.h"
#include "core/json_output.h"
#include "infer/gguf.h"
#include "infer/gguf_model.h"
#include "infer/kernels.h"

namespace flywheel::cli {
namespace {

namespace fs = std::filesystem;

struct ConvertOptions {
  std::string source;
  std::string to;
  std::string type = "f16";
  std::string out;
};

bool is_gguf_file(const fs::path& p) { return fs::is_regular_file(p) && p.extension() == ".gguf"; }

Status run_convert(const ConvertOptions& o, const GlobalOptions& global) {
  if (o.out.empty()) return Status::invalid_argument("--out PATH is required");
  const fs::path source(o.source);
  if (!fs::exists(source)) return Status::not_found("'" + o.source + "' does not exist");
  if (o.to == "gguf") {
    if (is_gguf_file(source))
      return Status::unsupported("'" + o.source + "' is already GGUF: convert it --to hf, then back --to gguf");
    const std::optional<infer::TensorType> type = infer::parse_type(o.type);
    if (!type || *type == infer::TensorType::kQ8_K)
      return Status::invalid_argument("--type '" + o.type +
                                      "' is not one of f32, f16, bf16, q8_0, q4_0, q4_k, q5_k, q6_k");
    FW_RETURN_IF_ERROR(infer::write_gguf_from_checkpoint(source, *type, o.out));
  } else if (o.to == "hf") {
    if (!is_gguf_file(source)) return Status::invalid_argument("--to hf needs a .gguf file, not '" + o.source + "'");
    FW_RETURN_IF_ERROR(infer::write_checkpoint_from_gguf(source, o.out));
  } else {
    return Status::invalid_argument("--to must be gguf or hf");
  }
  if (global.json)
    print_json_line({{"source", o.source}, {"out", o.out}, {"to", o.to}, {"type", o.to == "gguf" ? o.type : "f32"}});
  else
    print_text(
        fmt::format("wrote {} ({})\n", o.out, o.to == "gguf" ? "GGUF, " + o.type : "Hugging Face checkpoint, f32"));
  return Status::OK();
}

}  // namespace

Status run_gguf_info(const std::string& path, const GlobalOptions& global) {
  FW_ASSIGN_OR_RETURN(infer::GgufFile file, infer::GgufFile::open(path));
  FW_ASSIGN_OR_RETURN(infer::GgufModel model, infer::open_gguf_model(path));
  const ModelConfig& c = model.config;
  std::map<std::string, int> types;
  uint64_t bytes = 0;
  for (const infer::GgufTensor& t : file.tensors()) {
    types[std::string(infer::type_name(t.type))] += 1;
    bytes += t.data.size();
  }
  const std::string name = file.get_string("general.name").ok() ? *file.get_string("general.name") : "";
  const std::string kernels(infer::path_name(infer::resolve_path()));
  const std::string features = infer::cpu_features();
  if (global.json) {
    print_json_line({{"model", path},
                     {"format", "gguf"},
                     {"gguf_version", file.version()},
                     {"name", name},
                     {"architecture", *file.get_string("general.architecture")},
                     {"model_type", c.model_type},
                     {"parameters", c.parameter_count()},
                     {"layers", c.num_hidden_layers},
                     {"hidden_size", c.hidden_size},
                     {"intermediate_size", c.intermediate_size},
                     {"attention_heads", c.num_attention_heads},
                     {"kv_heads", c.num_key_value_heads},
                     {"head_dim", c.head_dim},
                     {"context", c.max_position_embeddings},
                     {"rope_theta", c.rope_theta},
                     {"rope_scaling", c.rope_scaling.type},
                     {"tied_embeddings", c.tie_word_embeddings},
                     {"vocab_size", c.vocab_size},
                     {"tokenizer", {{"kind", model.tokenizer.kind()}, {"vocab_size", model.tokenizer.vocab_size()}}},
                     {"chat_template", !model.chat_template.empty()},
                     {"tensors", file.tensors().size()},
                     {"weight_bytes", bytes},
                     {"tensor_types", types},
                     {"kernels", kernels},
                     {"cpu_features", features}});
    return Status::OK();
  }
  std::string type_list;
  for (const auto& [t, n] : types) type_list += fmt::format("{}{} x{}", type_list.empty() ? "" : ", ", t, n);
  print_text(
      fmt::format("{} (GGUF v{}{})\n  architecture: {} ({:.2f}M parameters)\n"
                  "  layers {}, hidden {}, ffn {}, heads {} (kv {}), head dim {}\n"
                  "  context {}, rope theta {}, rope scaling {}, tied embeddings {}\n"
                  "  tokenizer: {} with {} tokens; chat template: {}\n  weights: {} tensors, {} ({})\n"
                  "  kernels: {} (CPU: {})\n",
                  path, file.version(), name.empty() ? "" : ", " + name, c.model_type,
                  static_cast<double>(c.parameter_count()) / 1e6, c.num_hidden_layers, c.hidden_size,
                  c.intermediate_size, c.num_attention_heads, c.num_key_value_heads, c.head_dim,
                  c.max_position_embeddings, c.rope_theta, c.rope_scaling.type, c.tie_word_embeddings ? "yes" : "no",
                  model.tokenizer.kind(), model.tokenizer.vocab_size(), model.chat_template.empty() ? "no" : "yes",
                  file.tensors().size(), human_bytes(bytes), type_list, kernels, features));
  return Status::OK();
}

void add_model_convert_command(CLI::App& model, const GlobalOptions& global, CommandAction* action) {
  auto o = std::make_shared<ConvertOptions>();
  CLI::App* convert = model.add_subcommand(
      "convert", "Convert a Hugging Face checkpoint to GGUF (llama.cpp, Ollama) or a GGUF file to a checkpoint");
  convert->add_option("source", o->source, "Checkpoint directory, or a .gguf file for --to hf")
      ->required()
      ->type_name("SRC");
  convert->add_option("--to", o->to, "Output format: gguf or hf")->required()->check(CLI::IsMember({"gguf", "hf"}));
  convert
      ->add_option("--type", o->type,
                   "Weight type of a GGUF's matrices: f32, f16, bf16, q8_0, q4_0, q4_k, q5_k, q6_k (norms stay f32)")
      ->capture_default_str();
  convert->add_option("--out", o->out, "GGUF file or checkpoint directory to write")->required()->type_name("PATH");
  convert->footer(global_options_footer());
  convert->callback([o, &global, action] { *action = [o, &global] { return run_convert(*o, global); }; });
}

}  // namespace flywheel::cli
