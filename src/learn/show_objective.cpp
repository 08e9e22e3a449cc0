// The show/no-show head's training (objective.h, model/show_head.h): the
// policy stays frozen, so each row's feature (the final hidden state at its
// last prompt token) is computed once and cached.
#include "learn/feedback_rows.h"
#include "learn/objective.h"
#include "model/show_head.h"

namespace flywheel::learn {
namespace {

class ShowObjective final : public Objective {
 public:
  ShowObjective(std::vector<std::vector<TokenId>> prompts, std::vector<float> labels, const ShowHead& initial,
                TokenId pad)
      : prompts_(std::move(prompts)), labels_(std::move(labels)), features_(prompts_.size()), pad_(pad) {
    weight_ = torch::tensor(initial.weight, torch::kFloat32).requires_grad_(true);
    bias_ = torch::tensor(std::vector<float>{initial.bias}, torch::kFloat32).requires_grad_(true);
  }

  size_t rows() const override { return prompts_.size(); }

  std::vector<std::pair<std::string, torch::Tensor>> parameters(Model&) override {
    return {{kShowHeadWeight, weight_}, {kShowHeadBias, bias_}};
  }
  std::optional<ShowHead> show_head() const override {
    const torch::Tensor w = weight_.detach().contiguous();
    return ShowHead{std::vector<float>(w.data_ptr<float>(), w.data_ptr<float>() + w.numel()), bias_.item<float>()};
  }
  Status restore(const std::filesystem::path& checkpoint) override {
    FW_ASSIGN_OR_RETURN(std::optional<ShowHead> head, load_show_head(checkpoint, weight_.size(0)));
    if (!head) return Status::corruption(checkpoint.string() + " has no show head to resume from");
    torch::NoGradGuard no_grad;
    weight_.copy_(torch::tensor(head->weight, torch::kFloat32));
    bias_.fill_(head->bias);
    return Status::OK();
  }

  Result<ObjectiveLoss> loss(Model& policy, std::span<const size_t> rows) override {
    ObjectiveLoss out;
    out.positions = compute_missing_features(policy, rows);
    std::vector<torch::Tensor> features;
    std::vector<float> labels;
    for (size_t i : rows) {
      features.push_back(features_[i]);
      labels.push_back(labels_[i]);
    }
    const torch::Tensor z = torch::stack(features).matmul(weight_) + bias_;
    const torch::Tensor y = torch::tensor(labels, torch::kFloat32);
    out.loss = torch::nn::functional::binary_cross_entropy_with_logits(z, y);
    torch::NoGradGuard no_grad;
    out.metrics = {{"accuracy", ((z > 0).to(torch::kFloat32) == y).to(torch::kFloat64).mean().item<double>()},
                   {"accept_probability", torch::sigmoid(z).mean().item<double>()}};
    return out;
  }

 private:
  // Runs the frozen model once over the rows whose feature is not cached yet.
  int64_t compute_missing_features(Model& policy, std::span<const size_t> rows) {
    std::vector<size_t> missing;
    for (size_t i : rows)
      if (!features_[i].defined() && std::find(missing.begin(), missing.end(), i) == missing.end())
        missing.push_back(i);
    if (missing.empty()) return 0;
    size_t width = 1;
    for (size_t i : missing) width = std::max(width, prompts_[i].size());
    std::vector<int64_t> tokens(missing.size() * width, pad_);
    for (size_t k = 0; k < missing.size(); ++k)
      std::copy(prompts_[missing[k]].begin(), prompts_[missing[k]].end(), tokens.begin() + k * width);
    torch::NoGradGuard no_grad;
    const torch::Tensor input = torch::from_blob(
        tokens.data(), {static_cast<int64_t>(missing.size()), static_cast<int64_t>(width)}, torch::kInt64);
    // Right padding is invisible to earlier positions under causal attention.
    const torch::Tensor hidden = policy.module().hidden_states(input).to(torch::kFloat32);
    for (size_t k = 0; k < missing.size(); ++k)
      features_[missing[k]] =
          hidden[static_cast<int64_t>(k)][static_cast<int64_t>(prompts_[missing[k]].size()) - 1].clone();
    return static_cast<int64_t>(tokens.size());
  }

  std::vector<std::vector<TokenId>> prompts_;
  std::vector<float> labels_;
  std::vector<torch::Tensor> features_;
  torch::Tensor weight_, bias_;
  TokenId pad_;
};

}  // namespace

Result<std::unique_ptr<Objective>> make_show_objective(const LearnOptions& options, const std::filesystem::path& file,
                                                       const Tokenizer& tokenizer, Model& policy,
                                                       const std::filesystem::path& init) {
  FW_ASSIGN_OR_RETURN(TokenId eot, end_of_text(tokenizer));
  FW_ASSIGN_OR_RETURN(std::vector<UnpairedRow> rows, read_unpaired_rows(file));
  FW_RETURN_IF_ERROR(require_both_labels(file, rows, "the show head"));
  std::vector<std::vector<TokenId>> prompts;
  std::vector<float> labels;
  const auto keep = static_cast<size_t>(options.train.seq_len);
  for (const UnpairedRow& r : rows) {
    std::vector<TokenId> prompt = tokenizer.encode(r.prompt);
    if (prompt.empty()) prompt.push_back(eot);
    // The end of the prompt (at the cursor) decides; its start goes first.
    if (prompt.size() > keep) prompt.erase(prompt.begin(), prompt.end() - static_cast<std::ptrdiff_t>(keep));
    prompts.push_back(std::move(prompt));
    labels.push_back(r.desirable ? 1.0f : 0.0f);
  }
  const int64_t hidden_size = policy.config().hidden_size;
  FW_ASSIGN_OR_RETURN(std::optional<ShowHead> head, load_show_head(init, hidden_size));
  if (!head) head = ShowHead{std::vector<float>(static_cast<size_t>(hidden_size), 0.0f), 0.0f};
  return std::unique_ptr<Objective>(std::make_unique<ShowObjective>(std::move(prompts), std::move(labels), *head, eot));
}

}  // namespace flywheel::learn
