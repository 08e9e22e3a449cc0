// Model: checkpoint loading and saving, and inference entry points over the
// libtorch CausalLm module.
#include "model/model.h"

#include <thread>

#include "core/atomic_file.h"
#include "model/checkpoint.h"
#include "model/show_head.h"
#include "model/transformer.h"

namespace flywheel {

struct Model::State {
  ModelConfig config;
  Tokenizer tokenizer;
  model::CausalLm module{nullptr};
  WeightDtype dtype = WeightDtype::kFloat32;
  std::optional<ShowHead> show_head;
  State(ModelConfig c, Tokenizer t) : config(std::move(c)), tokenizer(std::move(t)) {}
};

struct KvCache::State {
  model::KvCacheTensors tensors;
  const model::CausalLmImpl* module = nullptr;
};

KvCache::KvCache(std::unique_ptr<State> state) : state_(std::move(state)) {}
KvCache::~KvCache() = default;
int64_t KvCache::length() const { return state_->tensors.length; }
int64_t KvCache::capacity() const { return state_->tensors.capacity(); }
int64_t KvCache::bytes() const {
  int64_t total = 0;
  for (const auto& k : state_->tensors.k) total += static_cast<int64_t>(k.nbytes());
  for (const auto& v : state_->tensors.v) total += static_cast<int64_t>(v.nbytes());
  return total;
}
void KvCache::truncate(int64_t length) {
  state_->tensors.length = std::clamp<int64_t>(length, 0, state_->tensors.length);
}
void KvCache::reserve(int64_t capacity) {
  model::KvCacheTensors& t = state_->tensors;
  if (capacity <= t.capacity()) return;
  c10::InferenceMode guard;
  model::KvCacheTensors grown = state_->module->new_cache(capacity);
  for (size_t layer = 0; layer < t.k.size(); ++layer) {
    grown.k[layer].narrow(1, 0, t.length).copy_(t.k[layer].narrow(1, 0, t.length));
    grown.v[layer].narrow(1, 0, t.length).copy_(t.v[layer].narrow(1, 0, t.length));
  }
  grown.length = t.length;
  t = std::move(grown);
}

Model::Model(std::unique_ptr<State> state) : state_(std::move(state)) {}
Model::Model(Model&&) noexcept = default;
Model& Model::operator=(Model&&) noexcept = default;
Model::~Model() = default;

const ModelConfig& Model::config() const { return state_->config; }
const Tokenizer& Model::tokenizer() const { return state_->tokenizer; }
WeightDtype Model::weight_dtype() const { return state_->dtype; }
model::CausalLmImpl& Model::module() { return *state_->module; }
const ShowHead* Model::show_head() const { return state_->show_head ? &*state_->show_head : nullptr; }
void Model::set_show_head(const ShowHead& head) { state_->show_head = head; }

namespace {

void set_threads(int threads) {
  int n = threads > 0 ? threads : static_cast<int>(std::max(1u, std::thread::hardware_concurrency()));
  if (at::get_num_threads() != n) at::set_num_threads(n);
}

Status check_tokenizer_fits(const ModelConfig& config, const Tokenizer& tokenizer) {
  if (static_cast<int64_t>(tokenizer.vocab_size()) > config.vocab_size)
    return Status::corruption("the tokenizer has " + std::to_string(tokenizer.vocab_size()) +
                              " tokens but the model's vocab_size is " + std::to_string(config.vocab_size));
  return Status::OK();
}

}  // namespace

Result<Model> Model::load(const std::filesystem::path& dir, const LoadOptions& options) {
  if (!std::filesystem::is_directory(dir))
    return Status::not_found("model directory '" + dir.string() + "' does not exist");
  FW_ASSIGN_OR_RETURN(ModelConfig config, ModelConfig::from_file((dir / "config.json").string()));
  FW_ASSIGN_OR_RETURN(Tokenizer tokenizer, Tokenizer::from_file(dir / "tokenizer.json"));
  FW_RETURN_IF_ERROR(check_tokenizer_fits(config, tokenizer));
  set_threads(options.threads);
  auto state = std::make_unique<State>(std::move(config), std::move(tokenizer));
  try {
    state->module = model::CausalLm(state->config);
    state->module->eval();
    FW_RETURN_IF_ERROR(model::load_weights(dir, *state->module));
    if (options.show_head) {
      FW_ASSIGN_OR_RETURN(state->show_head, load_show_head(dir, state->config.hidden_size));
    }
    if (options.dtype == WeightDtype::kBFloat16) state->module->set_weight_dtype(torch::kBFloat16);
    state->dtype = options.dtype;
  } catch (const c10::Error& e) {
    return Status::internal("loading " + dir.string() + ": " + e.what_without_backtrace());
  }
  return Model(std::move(state));
}

Result<Model> Model::create_random(const ModelConfig& config, Tokenizer tokenizer, uint64_t seed) {
  FW_RETURN_IF_ERROR(config.validate());
  FW_RETURN_IF_ERROR(check_tokenizer_fits(config, tokenizer));
  auto state = std::make_unique<State>(config, std::move(tokenizer));
  try {
    torch::manual_seed(seed);
    state->module = model::CausalLm(state->config);
    torch::NoGradGuard no_grad;
    for (auto& p : state->module->named_parameters()) {
      if (p.key().find("norm") != std::string::npos)
        p.value().fill_(1.0);
      else if (p.key().ends_with(".bias"))
        p.value().zero_();
      else
        p.value().normal_(0.0, 0.02);
    }
  } catch (const c10::Error& e) {
    return Status::internal(std::string("creating a model: ") + e.what_without_backtrace());
  }
  return Model(std::move(state));
}

Status Model::save(const std::filesystem::path& dir, const std::string& lineage_json,
                   const std::function<Status(const std::filesystem::path& temp_dir)>& extra) const {
  std::vector<std::pair<std::string, torch::Tensor>> head_tensors;
  if (state_->show_head) {
    head_tensors.emplace_back(kShowHeadWeight, torch::tensor(state_->show_head->weight, torch::kFloat32));
    head_tensors.emplace_back(kShowHeadBias,
                              torch::tensor(std::vector<float>{state_->show_head->bias}, torch::kFloat32));
  }
  return model::save_checkpoint(dir, state_->config, state_->tokenizer, *state_->module,
                                lineage_json.empty() ? "{}\n" : lineage_json, extra, head_tensors);
}

std::unique_ptr<KvCache> Model::new_cache(int64_t capacity) const {
  auto state = std::make_unique<KvCache::State>();
  state->module = state_->module.get();
  {
    c10::InferenceMode guard;
    state->tensors = state_->module->new_cache(std::max<int64_t>(capacity, 1));
  }
  return std::unique_ptr<KvCache>(new KvCache(std::move(state)));
}

namespace {

Status check_tokens(std::span<const TokenId> tokens, int64_t vocab_size) {
  for (TokenId id : tokens)
    if (id < 0 || id >= vocab_size)
      return Status::invalid_argument("token id " + std::to_string(id) + " is outside the vocabulary (size " +
                                      std::to_string(vocab_size) + ")");
  return Status::OK();
}

std::vector<float> to_floats(const torch::Tensor& t) {
  torch::Tensor c = t.to(torch::kFloat32).contiguous();
  return std::vector<float>(c.data_ptr<float>(), c.data_ptr<float>() + c.numel());
}

torch::Tensor to_token_tensor(std::span<const TokenId> tokens) {
  std::vector<int64_t> ids(tokens.begin(), tokens.end());
  return torch::tensor(ids, torch::kInt64);
}

}  // namespace

Result<std::vector<std::vector<float>>> Model::forward(std::span<ForwardItem> items) {
  const ModelConfig& c = state_->config;
  std::vector<model::SequenceInput> batch;
  batch.reserve(items.size());
  try {
    for (ForwardItem& item : items) {
      if (item.cache == nullptr || item.tokens.empty())
        return Status::invalid_argument("forward: each item needs a cache and at least one token");
      FW_RETURN_IF_ERROR(check_tokens(item.tokens, c.vocab_size));
      const int64_t needed = item.cache->length() + static_cast<int64_t>(item.tokens.size());
      if (needed > c.max_position_embeddings)
        return Status::out_of_range("the sequence needs " + std::to_string(needed) +
                                    " positions but the model's context is " +
                                    std::to_string(c.max_position_embeddings) + " tokens");
      if (needed > item.cache->capacity())
        item.cache->reserve(std::min(c.max_position_embeddings, std::max(needed, 2 * item.cache->capacity())));
      batch.push_back({&item.cache->state_->tensors, to_token_tensor(item.tokens), item.all_logits});
    }
    const ShowHead* head = show_head();
    std::vector<torch::Tensor> hidden;  // only when a head is asked for: decode steps stay as they were
    if (head != nullptr) {
      hidden.resize(items.size());
      for (size_t i = 0; i < items.size(); ++i)
        if (items[i].show_probability != nullptr) batch[i].last_hidden = &hidden[i];
    }
    std::vector<torch::Tensor> logits = state_->module->forward_cached(batch);
    for (size_t i = 0; i < hidden.size(); ++i)
      if (hidden[i].defined()) *items[i].show_probability = apply_show_head(*head, to_floats(hidden[i]));
    std::vector<std::vector<float>> out;
    out.reserve(logits.size());
    for (const torch::Tensor& l : logits) out.push_back(to_floats(l));
    return out;
  } catch (const c10::Error& e) {
    return Status::internal(std::string("forward: ") + e.what_without_backtrace());
  }
}

Result<std::vector<float>> Model::logits(std::span<const TokenId> tokens) {
  const ModelConfig& c = state_->config;
  if (tokens.empty()) return Status::invalid_argument("logits: no tokens");
  FW_RETURN_IF_ERROR(check_tokens(tokens, c.vocab_size));
  if (static_cast<int64_t>(tokens.size()) > c.max_position_embeddings)
    return Status::out_of_range("the sequence has " + std::to_string(tokens.size()) +
                                " tokens but the model's context is " + std::to_string(c.max_position_embeddings));
  try {
    c10::InferenceMode guard;
    return to_floats(state_->module->forward(to_token_tensor(tokens).unsqueeze(0))[0]);
  } catch (const c10::Error& e) {
    return Status::internal(std::string("logits: ") + e.what_without_backtrace());
  }
}

}  // namespace flywheel
