// The fused kernels (model/fused_ops.h) against the composite libtorch
// formulas they replace: values and every input's gradient, on contiguous and
// strided inputs, and deterministic across thread counts.
#include "model/fused_ops.h"

#include <ATen/Parallel.h>
#include <gtest/gtest.h>

#include <functional>
#include <vector>

namespace flywheel::model {
namespace {

namespace F = torch::nn::functional;

// Max |a - b| over two tensors of the same shape.
double max_diff(const torch::Tensor& a, const torch::Tensor& b) {
  EXPECT_EQ(a.sizes(), b.sizes());
  return (a - b).abs().max().item<double>();
}

// Gradients of sum(f(inputs) * probe) for each input, probe fixed.
std::vector<torch::Tensor> grads_of(const std::function<torch::Tensor(std::vector<torch::Tensor>&)>& f,
                                    std::vector<torch::Tensor> inputs, const torch::Tensor& probe) {
  for (auto& t : inputs) t = t.detach().clone().requires_grad_(true);
  torch::Tensor y = f(inputs);
  (y * probe).sum().backward();
  std::vector<torch::Tensor> out;
  for (auto& t : inputs) out.push_back(t.grad());
  return out;
}

torch::Tensor composite_rms(const torch::Tensor& x, const torch::Tensor& w, double eps) {
  return w * (x * torch::rsqrt(x.pow(2).mean(-1, true) + eps));
}

torch::Tensor composite_rotary(const torch::Tensor& x, const torch::Tensor& cos, const torch::Tensor& sin,
                               double scale) {
  const int64_t half = x.size(-1) / 2;
  torch::Tensor rotated = torch::cat({-x.narrow(-1, half, half), x.narrow(-1, 0, half)}, -1);
  return (x * cos.unsqueeze(-2) + rotated * sin.unsqueeze(-2)) * scale;
}

TEST(FusedOps, RmsNormMatchesCompositeValuesAndGradients) {
  torch::manual_seed(1);
  torch::Tensor x = torch::randn({3, 37, 96}), w = torch::randn({96}), probe = torch::randn({3, 37, 96});
  EXPECT_LT(max_diff(fused_rms_norm(x, w, 1e-5), composite_rms(x, w, 1e-5)), 1e-5);
  auto fused = grads_of([](auto& in) { return fused_rms_norm(in[0], in[1], 1e-5); }, {x, w}, probe);
  auto ref = grads_of([](auto& in) { return composite_rms(in[0], in[1], 1e-5); }, {x, w}, probe);
  EXPECT_LT(max_diff(fused[0], ref[0]), 1e-5);
  EXPECT_LT(max_diff(fused[1], ref[1]), 1e-4);  // summed over 111 rows
}

TEST(FusedOps, RmsNormWeightGradientDoesNotDependOnThreads) {
  torch::manual_seed(2);
  torch::Tensor x = torch::randn({4096, 64}), w = torch::randn({64}), probe = torch::randn({4096, 64});
  const int threads = at::get_num_threads();
  auto f = [](auto& in) { return fused_rms_norm(in[0], in[1], 1e-6); };
  at::set_num_threads(1);
  auto one = grads_of(f, {x, w}, probe);
  at::set_num_threads(std::max(2, threads));
  auto many = grads_of(f, {x, w}, probe);
  at::set_num_threads(threads);
  EXPECT_TRUE(torch::equal(one[0], many[0]));
  EXPECT_TRUE(torch::equal(one[1], many[1]));
}

TEST(FusedOps, RotaryMatchesCompositeOnAStridedSliceWithScale) {
  torch::manual_seed(3);
  const int64_t B = 2, T = 9, H = 4, D = 16;
  // q as a slice of a wider fused projection: rows strided by 3 * H * D.
  torch::Tensor wide = torch::randn({B, T, 3 * H * D});
  torch::Tensor cos = torch::randn({T, D}), sin = torch::randn({T, D}), probe = torch::randn({B, T, H, D});
  auto slice = [&](const torch::Tensor& t) { return t.narrow(-1, H * D, H * D).view({B, T, H, D}); };
  const double scale = 0.25;
  EXPECT_LT(max_diff(fused_rotary(slice(wide), cos, sin, scale), composite_rotary(slice(wide), cos, sin, scale)), 1e-6);
  auto fused = grads_of([&](auto& in) { return fused_rotary(slice(in[0]), cos, sin, scale); }, {wide}, probe);
  auto ref = grads_of([&](auto& in) { return composite_rotary(slice(in[0]), cos, sin, scale); }, {wide}, probe);
  EXPECT_LT(max_diff(fused[0], ref[0]), 1e-6);
}

TEST(FusedOps, RotaryOverARaggedBatchUsesOnePositionPerRow) {
  torch::manual_seed(4);
  torch::Tensor x = torch::randn({5, 3, 8}), cos = torch::randn({5, 8}), sin = torch::randn({5, 8});
  torch::NoGradGuard no_grad;
  EXPECT_LT(max_diff(fused_rotary(x, cos, sin, 1.0), composite_rotary(x, cos, sin, 1.0)), 1e-6);
}

TEST(FusedOps, SwigluMatchesComposite) {
  torch::manual_seed(5);
  torch::Tensor gu = torch::randn({2, 11, 2 * 40}) * 4, probe = torch::randn({2, 11, 40});
  auto composite = [](const torch::Tensor& t) { return F::silu(t.narrow(-1, 0, 40)) * t.narrow(-1, 40, 40); };
  EXPECT_LT(max_diff(fused_swiglu(gu), composite(gu)), 1e-5);
  auto fused = grads_of([](auto& in) { return fused_swiglu(in[0]); }, {gu}, probe);
  auto ref = grads_of([&](auto& in) { return composite(in[0]); }, {gu}, probe);
  EXPECT_LT(max_diff(fused[0], ref[0]), 1e-5);
}

TEST(FusedOps, LinearCrossEntropyMatchesLogitsThenCrossEntropy) {
  torch::manual_seed(6);
  const int64_t R = 700, E = 24, V = 5000;  // several blocks of rows, the last one partial
  torch::Tensor h = torch::randn({R, E}), w = torch::randn({V, E}) * 0.3;
  torch::Tensor targets = torch::randint(0, V, {R}, torch::kInt64);
  torch::Tensor weights = (torch::rand({R}) > 0.3).to(torch::kFloat32) / 17.0;  // a mask over a count
  auto composite = [&](auto& in) {
    torch::Tensor losses =
        F::cross_entropy(F::linear(in[0], in[1]), targets, F::CrossEntropyFuncOptions().reduction(torch::kNone));
    return (losses * weights).sum();
  };
  auto fused_f = [&](auto& in) { return fused_linear_cross_entropy(in[0], in[1], targets, weights); };
  std::vector<torch::Tensor> in = {h, w};
  EXPECT_NEAR(fused_f(in).item<double>(), composite(in).item<double>(), 1e-4);
  const torch::Tensor probe = torch::tensor(1.7);  // an incoming gradient other than 1
  auto fused = grads_of(fused_f, {h, w}, probe);
  auto ref = grads_of(composite, {h, w}, probe);
  EXPECT_LT(max_diff(fused[0], ref[0]), 1e-5);
  EXPECT_LT(max_diff(fused[1], ref[1]), 1e-5);
  // Without autograd it gives the same loss.
  torch::NoGradGuard no_grad;
  EXPECT_NEAR(fused_f(in).item<double>(), composite(in).item<double>(), 1e-4);
}

TEST(FusedOps, LinearCrossEntropyRejectsATargetOutsideTheVocabulary) {
  torch::Tensor h = torch::randn({2, 4}), w = torch::randn({10, 4});
  torch::Tensor targets = torch::tensor({3, 10}, torch::kInt64), weights = torch::ones({2});
  EXPECT_THROW(fused_linear_cross_entropy(h, w, targets, weights), c10::Error);
}

}  // namespace
}  // namespace flywheel::model
