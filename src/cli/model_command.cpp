// `flywheel model init|info|convert`: create a random-init model in checkpoint
// layout, describe a checkpoint (or GGUF file) without loading its weights,
// and convert between checkpoints and GGUF (model_convert.cpp).
#include <fmt/format.h>

#include <filesystem>
#include <nlohmann/json.hpp>

#include "cli/cli_util.h"
#include "cli/commands.h"
#include "cli/model_convert.h"
#include "core/atomic_file.h"
#include "core/json_output.h"
#include "model/model.h"
#include "model/prompt_format.h"
#include "model/safetensors.h"

namespace flywheel::cli {
namespace {

namespace fs = std::filesystem;

struct InitOptions {
  std::string arch = "llama";
  std::string preset = "small";
  std::string tokenizer;
  std::string out;
  uint64_t seed = 0;
  int64_t context = 0;
  // Shape overrides of the preset (0: the preset's).
  int64_t hidden = 0, ffn = 0, layers = 0, heads = 0, kv_heads = 0;
};

struct InfoOptions {
  std::string model;
};

Status run_init(const InitOptions& o, const GlobalOptions& global) {
  if (o.out.empty()) return Status::invalid_argument("--out DIR is required");
  FW_ASSIGN_OR_RETURN(Tokenizer tokenizer, load_tokenizer(o.tokenizer));
  FW_ASSIGN_OR_RETURN(ModelConfig config,
                      ModelConfig::preset(o.preset, o.arch, static_cast<int64_t>(tokenizer.vocab_size())));
  if (o.context > 0) config.max_position_embeddings = o.context;
  if (o.hidden > 0) config.hidden_size = o.hidden;
  if (o.ffn > 0) config.intermediate_size = o.ffn;
  if (o.layers > 0) config.num_hidden_layers = o.layers;
  if (o.heads > 0) config.num_attention_heads = o.heads;
  if (o.kv_heads > 0) config.num_key_value_heads = o.kv_heads;
  if (o.hidden > 0 || o.heads > 0) config.head_dim = config.hidden_size / config.num_attention_heads;
  FW_RETURN_IF_ERROR(config.validate());
  // GPT-2 style: <|endoftext|> both starts an empty prompt and ends a document.
  for (const char* name : {"<|endoftext|>", "</s>", "<|end_of_text|>"}) {
    if (auto id = tokenizer.token_to_id(name)) {
      config.eos_token_ids = {*id};
      break;
    }
  }
  for (const char* name : {"<s>", "<|begin_of_text|>", "<|endoftext|>"}) {
    if (auto id = tokenizer.token_to_id(name)) {
      config.bos_token_id = *id;
      break;
    }
  }
  FW_ASSIGN_OR_RETURN(Model model, Model::create_random(config, std::move(tokenizer), o.seed));
  nlohmann::json lineage = {{"parent", nullptr},
                            {"created_by", "flywheel model init"},
                            {"recipe", {{"arch", o.arch}, {"preset", o.preset}, {"seed", o.seed}}}};
  FW_RETURN_IF_ERROR(model.save(o.out, lineage.dump(2) + "\n"));
  if (global.json) {
    print_json_line({{"out", o.out}, {"parameters", config.parameter_count()}, {"model_type", config.model_type}});
  } else {
    print_text(fmt::format("wrote {} ({} {}, {:.2f}M parameters)\n", o.out, o.arch, o.preset,
                           static_cast<double>(config.parameter_count()) / 1e6));
  }
  return Status::OK();
}

Status run_info(const InfoOptions& o, const GlobalOptions& global) {
  fs::path dir(o.model);
  if (fs::is_regular_file(dir) && dir.extension() == ".gguf") return run_gguf_info(o.model, global);
  if (!fs::is_directory(dir)) return Status::not_found("model directory '" + o.model + "' does not exist");
  FW_ASSIGN_OR_RETURN(ModelConfig config, ModelConfig::from_file((dir / "config.json").string()));
  FW_ASSIGN_OR_RETURN(Tokenizer tokenizer, load_tokenizer((dir / "tokenizer.json").string()));
  FW_ASSIGN_OR_RETURN(SafetensorsCheckpoint weights, SafetensorsCheckpoint::open(dir));
  uint64_t weight_bytes = 0;
  std::map<std::string, uint64_t> dtypes;
  for (const std::string& name : weights.names()) {
    const TensorView* t = weights.find(name);
    weight_bytes += t->data.size();
    dtypes[std::string(dtype_name(t->dtype))] += 1;
  }
  auto format = detect_prompt_format(tokenizer, config.model_type);
  nlohmann::json lineage;
  if (auto text = read_file(dir / "flywheel.json"); text.ok())
    lineage = nlohmann::json::parse(*text, nullptr, /*allow_exceptions=*/false);
  nlohmann::json info = {{"model", o.model},
                         {"model_type", config.model_type},
                         {"parameters", config.parameter_count()},
                         {"layers", config.num_hidden_layers},
                         {"hidden_size", config.hidden_size},
                         {"intermediate_size", config.intermediate_size},
                         {"attention_heads", config.num_attention_heads},
                         {"kv_heads", config.num_key_value_heads},
                         {"head_dim", config.head_dim},
                         {"context", config.max_position_embeddings},
                         {"rope_theta", config.rope_theta},
                         {"rope_scaling", config.rope_scaling.type},
                         {"tied_embeddings", config.tie_word_embeddings},
                         {"vocab_size", config.vocab_size},
                         {"tokenizer", {{"kind", tokenizer.kind()}, {"vocab_size", tokenizer.vocab_size()}}},
                         {"prompt_format", format.ok() ? nlohmann::json(format->name) : nlohmann::json(nullptr)},
                         {"tensors", weights.size()},
                         {"weight_bytes", weight_bytes},
                         {"dtypes", dtypes},
                         {"lineage", lineage.is_discarded() ? nlohmann::json(nullptr) : lineage}};
  if (global.json) {
    print_json_line(info);
    return Status::OK();
  }
  std::string dtype_list;
  for (const auto& [name, count] : dtypes)
    dtype_list += fmt::format("{}{} x{}", dtype_list.empty() ? "" : ", ", name, count);
  print_text(fmt::format(
      "{}\n  architecture: {} ({:.2f}M parameters)\n  layers {}, hidden {}, ffn {}, heads {} (kv {}), head dim {}\n"
      "  context {}, rope theta {}, rope scaling {}, tied embeddings {}\n"
      "  tokenizer: {} with {} tokens; prompt format: {}\n  weights: {} tensors, {} ({})\n",
      o.model, config.model_type, static_cast<double>(config.parameter_count()) / 1e6, config.num_hidden_layers,
      config.hidden_size, config.intermediate_size, config.num_attention_heads, config.num_key_value_heads,
      config.head_dim, config.max_position_embeddings, config.rope_theta, config.rope_scaling.type,
      config.tie_word_embeddings ? "yes" : "no", tokenizer.kind(), tokenizer.vocab_size(),
      format.ok() ? format->name : "none (" + format.status().message() + ")", weights.size(),
      human_bytes(weight_bytes), dtype_list));
  return Status::OK();
}

}  // namespace

void add_model_command(CLI::App& app, const GlobalOptions& global, CommandAction* action) {
  CLI::App* model = app.add_subcommand("model", "Create and inspect model checkpoints");
  model->require_subcommand(1);
  model->footer(global_options_footer());

  auto init_options = std::make_shared<InitOptions>();
  CLI::App* init =
      model->add_subcommand("init", "Write a randomly initialized model in Hugging Face checkpoint layout");
  init->add_option("--arch", init_options->arch, "Architecture: llama, qwen2 or mistral")->capture_default_str();
  init->add_option("--preset", init_options->preset, "Shape: " + join(ModelConfig::preset_names(), ", "))
      ->capture_default_str();
  init->add_option("--tokenizer", init_options->tokenizer, "tokenizer.json to build the model for")->type_name("FILE");
  init->add_option("--out", init_options->out, "Checkpoint directory to write")->type_name("DIR");
  init->add_option("--seed", init_options->seed, "Random seed of the initialization")->capture_default_str();
  init->add_option("--context", init_options->context, "Context length (default: the preset's)")
      ->check(positive_integer());
  init->add_option("--hidden", init_options->hidden, "Hidden size (default: the preset's)");
  init->add_option("--ffn", init_options->ffn, "MLP intermediate size (default: the preset's)");
  init->add_option("--layers", init_options->layers, "Decoder layers (default: the preset's)");
  init->add_option("--heads", init_options->heads, "Attention heads (default: the preset's)");
  init->add_option("--kv-heads", init_options->kv_heads, "Key-value heads (default: the preset's)");
  init->footer(global_options_footer());
  init->callback([init_options, &global, action] {
    *action = [init_options, &global] { return run_init(*init_options, global); };
  });

  auto info_options = std::make_shared<InfoOptions>();
  CLI::App* info =
      model->add_subcommand("info", "Describe a checkpoint or GGUF file (config, tokenizer, weights, lineage)");
  info->add_option("model", info_options->model, "Checkpoint directory or .gguf file")->required()->type_name("DIR");
  info->footer(global_options_footer());
  info->callback([info_options, &global, action] {
    *action = [info_options, &global] { return run_info(*info_options, global); };
  });

  add_model_convert_command(*model, global, action);
}

}  // namespace flywheel::cli
