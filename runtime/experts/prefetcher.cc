#include "runtime/experts/prefetcher.h"

#include <algorithm>

#include "absl/strings/str_cat.h"
#include "kernels/base/ggml_type.h"
#include "kernels/base/status_macros.h"
#include "kernels/quant/dequantize.h"

namespace hobbit::runtime {

absl::StatusOr<std::unique_ptr<Prefetcher>> Prefetcher::Create(const GgufFile& file, const ModelConfig& config,
                                                               Backend& backend, int32_t depth) {
  if (depth <= 0) return absl::InvalidArgumentError(absl::StrCat("prefetcher: depth ", depth, " must be >= 1"));
  std::unique_ptr<Prefetcher> p(new Prefetcher(backend, config, depth));
  const int64_t n_embd = config.n_embd;
  const int64_t rows = int64_t{config.n_layer} * config.n_expert;
  std::vector<float> stacked(static_cast<size_t>(rows * n_embd));
  for (int32_t l = 0; l < config.n_layer; ++l) {
    const std::string name = absl::StrCat("blk.", l, ".ffn_gate_inp.weight");
    const GgufTensorInfo* t = file.FindTensor(name);
    if (t == nullptr) return absl::InvalidArgumentError(absl::StrCat("prefetcher: tensor '", name, "' is missing"));
    auto row_bytes = kernels::GgmlRowBytes(t->type, t->ne[0]);
    if (t->ne[0] != n_embd || t->ne[1] != config.n_expert || !row_bytes) {
      return absl::InvalidArgumentError(absl::StrCat("prefetcher: tensor '", name, "' is not [", n_embd, ", ",
                                                     config.n_expert, "]"));
    }
    for (int32_t e = 0; e < config.n_expert; ++e) {
      HOBBIT_RETURN_IF_ERROR(kernels::DequantizeRow(static_cast<kernels::GgmlType>(t->type), t->data + e * *row_bytes,
                                                    &stacked[(static_cast<size_t>(l) * config.n_expert + e) * n_embd],
                                                    n_embd));
    }
  }
  const size_t bytes = stacked.size() * sizeof(float);
  HOBBIT_ASSIGN_OR_RETURN(p->routers_, backend.Allocate(bytes, "prefetcher: stacked routers"));
  HOBBIT_RETURN_IF_ERROR(backend.CopyToDevice(p->routers_->data(), stacked.data(), bytes));
  return p;
}

absl::Status Prefetcher::Predict(int32_t layer, const float* x, int32_t n_tokens) {
  n_predicted_ = std::clamp(config_.n_layer - 1 - layer, 0, depth_);
  if (n_predicted_ == 0 || n_tokens <= 0) return absl::OkStatus();
  const int32_t n_expert = config_.n_expert;
  if (n_tokens > logits_tokens_) {
    HOBBIT_ASSIGN_OR_RETURN(logits_, backend_.Allocate(sizeof(float) * n_tokens * depth_ * n_expert,
                                                       "prefetcher: predicted router logits"));
    logits_tokens_ = n_tokens;
  }
  WeightView stacked;
  stacked.type = static_cast<uint32_t>(kernels::GgmlType::kF32);
  stacked.rows = int64_t{n_predicted_} * n_expert;
  stacked.cols = config_.n_embd;
  stacked.row_bytes = int64_t{config_.n_embd} * sizeof(float);
  stacked.data = routers_->as<float>() + int64_t{layer + 1} * n_expert * config_.n_embd;
  // logits [n_tokens, n_predicted * n_expert] = n_tokens * n_predicted rows of one layer each.
  HOBBIT_RETURN_IF_ERROR(backend_.MatMul(stacked, x, n_tokens, logits_->as<float>()));
  const size_t n = static_cast<size_t>(n_tokens) * n_predicted_ * config_.n_expert_used;
  ids_.resize(n);
  weights_.resize(n);
  RouterParams rp;
  rp.logits = logits_->as<float>();
  rp.n_tokens = n_tokens * n_predicted_;
  rp.n_expert = n_expert;
  rp.k = config_.n_expert_used;
  rp.renormalize = config_.norm_topk;
  rp.ids_host = ids_.data();
  rp.weights_host = weights_.data();
  return backend_.Router(rp);
}

}  // namespace hobbit::runtime
