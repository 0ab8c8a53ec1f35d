#include "runtime/model/model.h"

#include <algorithm>
#include <cmath>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "kernels/base/status_macros.h"
#include "runtime/gguf/gguf_file.h"
#include "runtime/model/expert_ffn.h"
#include "runtime/model/model_weights.h"
#include "runtime/model/step_scratch.h"

namespace hobbit::runtime {

Model::Model(std::shared_ptr<const GgufFile> file, Backend& backend, ModelConfig config)
    : file_(std::move(file)), backend_(backend), config_(std::move(config)) {}

Model::~Model() {
  for (const Recording& r : recordings_) Drop(r);
}

absl::StatusOr<std::unique_ptr<Model>> Model::Load(std::shared_ptr<const GgufFile> file, Backend& backend,
                                                   ModelLoadOptions options) {
  if (file == nullptr) return absl::InvalidArgumentError("model: no file");
  HOBBIT_ASSIGN_OR_RETURN(ModelConfig config, ReadModelConfig(*file));
  std::unique_ptr<Model> model(new Model(std::move(file), backend, config));
  // A replacement ExpertFfn (offloading) takes the experts from host memory itself.
  const bool upload_experts = options.expert_ffn == nullptr;
  HOBBIT_ASSIGN_OR_RETURN(model->weights_,
                          LoadModelWeights(*model->file_, backend, model->config_, upload_experts));
  model->expert_ffn_ = options.expert_ffn ? std::move(options.expert_ffn) : std::make_unique<ResidentExpertFfn>(options.device_routing);
  model->record_steps_ = options.record_steps;
  std::vector<LayerExperts> experts;
  for (const LayerWeights& lw : model->weights_->layers) experts.push_back(lw.experts);
  model->layer_experts_ = std::move(experts);
  HOBBIT_RETURN_IF_ERROR(model->expert_ffn_->Init(model->config_, model->layer_experts_, backend));
  model->scratch_ = std::make_unique<StepScratch>(backend, model->config_);
  return model;
}

KvCacheShape Model::kv_shape() const {
  return KvCacheShape{config_.n_layer, config_.n_head_kv, config_.head_dim_k, config_.head_dim_v};
}

absl::Status Model::ValidatePlan(const StepPlan& plan, const KvCache& kv) const {
  const KvCacheShape want = kv_shape();
  const KvCacheShape& have = kv.shape();
  if (have.n_layers != want.n_layers || have.n_head_kv != want.n_head_kv || have.head_dim_k != want.head_dim_k ||
      have.head_dim_v != want.head_dim_v) {
    return absl::InvalidArgumentError("step: the KV cache was made for another model shape");
  }
  if (plan.tokens.empty() || plan.seqs.empty()) return absl::InvalidArgumentError("step: no tokens planned");
  int32_t expected_first = 0;
  for (size_t s = 0; s < plan.seqs.size(); ++s) {
    const StepSequence& seq = plan.seqs[s];
    if (seq.first_token != expected_first || seq.n_tokens <= 0 || seq.n_past < 0) {
      return absl::InvalidArgumentError(absl::StrCat("step: sequence ", s, " has inconsistent token counts"));
    }
    expected_first += seq.n_tokens;
    const int64_t needed = (int64_t{seq.n_past} + seq.n_tokens + kv.block_size() - 1) / kv.block_size();
    if (static_cast<int64_t>(seq.block_table.size()) < needed) {
      return absl::InvalidArgumentError(absl::StrCat("step: sequence ", s, " needs ", needed,
                                                     " KV blocks but its block table has ", seq.block_table.size()));
    }
    for (int32_t b : seq.block_table) {
      if (b < 0 || b >= kv.num_blocks()) {
        return absl::InvalidArgumentError(absl::StrCat("step: sequence ", s, " uses KV block ", b, " of ",
                                                       kv.num_blocks()));
      }
    }
  }
  if (expected_first != plan.n_tokens()) {
    return absl::InvalidArgumentError("step: sequences do not cover the planned tokens");
  }
  for (int32_t t : plan.tokens) {
    if (t < 0 || t >= config_.n_vocab) {
      return absl::InvalidArgumentError(absl::StrCat("step: token id ", t, " is out of range [0, ", config_.n_vocab, ")"));
    }
  }
  return absl::OkStatus();
}

absl::Status Model::Forward(const StepPlan& plan, KvCache& kv, StepOutput* out) {
  HOBBIT_RETURN_IF_ERROR(ValidatePlan(plan, kv));
  StepScratch& s = *scratch_;
  // The step's one upload: every op below reads backend memory, so the whole step (embedding,
  // layers, logits) may be recorded (RunStep).
  HOBBIT_RETURN_IF_ERROR(s.Prepare(plan, kv.block_size(), config_.n_vocab));
  const int32_t n_rows = s.n_logit_rows();
  HOBBIT_RETURN_IF_ERROR(RunStep(kv, plan.n_tokens(), n_rows));
  out->n_rows = n_rows;
  out->n_vocab = config_.n_vocab;
  out->logits.resize(static_cast<size_t>(n_rows) * config_.n_vocab);
  if (n_rows == 0) return absl::OkStatus();
  return backend_.CopyToHost(out->logits.data(), s.logits(), out->logits.size() * sizeof(float));
}

absl::Status Model::RunStepPart(KvCache& kv, int32_t n, int32_t n_rows, int32_t begin, int32_t end) {
  StepScratch& s = *scratch_;
  if (begin == 0) HOBBIT_RETURN_IF_ERROR(backend_.GetRowsDevice(weights_->token_embd, s.tokens(), n, s.x()));
  for (int32_t l = begin; l < end; ++l) {
    HOBBIT_RETURN_IF_ERROR(AttentionBlock(l, kv, n));
    HOBBIT_RETURN_IF_ERROR(MoeBlock(l, n));
  }
  return end == config_.n_layer ? Logits(n, n_rows) : absl::OkStatus();
}

std::vector<int32_t> Model::RecordingParts() const {
  // The first part is short so that it starts soon; the rest is launched while it runs. On the
  // H200 launching a step's graph took 39 us of the host's time for the 8-layer mixtral shape
  // (75 kernels) and 73 us for qwen3-30b-a3b (435), while the GPU waited: an eighth of the
  // layers (one mixtral layer: ~140 us; six qwen3 layers: ~360 us) covers the rest's launch.
  const int32_t n_layer = config_.n_layer;
  if (n_layer < 2) return {0, n_layer};
  return {0, std::max(1, n_layer / 8), n_layer};
}

bool Model::DecodeRoutesOnDevice() {
  for (int32_t l = 0; l < config_.n_layer; ++l) {
    if (!expert_ffn_->CanRunRouted(l, 1)) return false;
  }
  return true;
}

absl::Status Model::RunStep(KvCache& kv, int32_t n, int32_t n_rows) {
  if (!record_steps_ || !backend_.can_record()) return RunStepDirect(kv, n, n_rows);
  // Only steps that never wait for the host can be recorded: every MoE layer routed on the
  // device (asking here, outside any recording, also builds the backend's expert tables).
  for (int32_t l = 0; l < config_.n_layer; ++l) {
    if (!expert_ffn_->CanRunRouted(l, n)) return RunStepDirect(kv, n, n_rows);
  }
  const StepScratch& s = *scratch_;
  // Every layer's K/V buffer is an argument of the recorded ops: they enter the key as a hash.
  uint64_t kv_hash = static_cast<uint64_t>(kv.block_size());
  for (int32_t l = 0; l < config_.n_layer; ++l) {
    for (const void* p : {static_cast<const void*>(kv.k(l)), static_cast<const void*>(kv.v(l))}) {
      kv_hash = (kv_hash ^ reinterpret_cast<uintptr_t>(p)) * 0x100000001b3ull;
    }
  }
  const RecordingKey key{n, n_rows, s.max_blocks(), s.generation(), backend_.buffers_epoch(), kv_hash};
  auto it = std::find_if(recordings_.begin(), recordings_.end(), [&](const Recording& r) { return r.key == key; });
  if (it == recordings_.end()) {
    // Recordings of moved buffers are useless: drop them when they pile up.
    constexpr size_t kMaxRecordings = 32;
    if (recordings_.size() >= kMaxRecordings) {
      for (const Recording& r : recordings_) Drop(r);
      recordings_.clear();
    }
    recordings_.push_back({.key = key, .ids = {}});
    it = recordings_.end() - 1;
  }
  Recording& r = *it;
  if (r.ids.empty()) {
    // A shape's first step runs directly: lazily made buffers and tables are made outside a
    // recording. Its second is recorded, then replayed (a recording runs nothing by itself).
    if (r.failed || ++r.runs < 2) return RunStepDirect(kv, n, n_rows);
    const std::vector<int32_t> parts = RecordingParts();
    for (size_t i = 0; i + 1 < parts.size(); ++i) {
      absl::StatusOr<int64_t> id = RecordPart(kv, n, n_rows, parts[i], parts[i + 1]);
      if (!id.ok()) {
        // Nothing ran: run the step directly; this shape is not recorded again.
        Drop(r);
        r.ids.clear();
        r.failed = true;
        ++recording_stats_.failed;
        return RunStepDirect(kv, n, n_rows);
      }
      r.ids.push_back(*id);
    }
    ++recording_stats_.recorded;
  }
  for (int64_t id : r.ids) HOBBIT_RETURN_IF_ERROR(backend_.Replay(id));
  ++recording_stats_.replayed;
  return absl::OkStatus();
}

absl::StatusOr<int64_t> Model::RecordPart(KvCache& kv, int32_t n, int32_t n_rows, int32_t begin, int32_t end) {
  HOBBIT_RETURN_IF_ERROR(backend_.BeginRecording());
  const absl::Status queued = RunStepPart(kv, n, n_rows, begin, end);
  absl::StatusOr<int64_t> id = backend_.EndRecording();
  if (id.ok() && !queued.ok()) {
    // An op that failed for its own reason leaves a recording of the ops before it: not kept.
    backend_.DropRecording(*id);
    return queued;
  }
  return id;
}

void Model::Drop(const Recording& r) {
  for (int64_t id : r.ids) backend_.DropRecording(id);
}

absl::Status Model::AttentionBlock(int32_t l, KvCache& kv, int32_t n) {
  const LayerWeights& w = weights_->layers[l];
  const ModelConfig& c = config_;
  StepScratch& s = *scratch_;
  HOBBIT_RETURN_IF_ERROR(backend_.RmsNormForProducts(s.x(), w.attn_norm, n, c.n_embd, c.rms_eps, s.h()));
  {
    const WeightView* qkv[] = {&w.wq, &w.wk, &w.wv};
    float* out[] = {s.q(), s.k(), s.v()};
    HOBBIT_RETURN_IF_ERROR(backend_.MatMuls(qkv, s.h(), n, out));
  }
  const int64_t q_width = int64_t{c.n_head} * c.head_dim_k;
  const int64_t k_width = int64_t{c.n_head_kv} * c.head_dim_k;
  const int64_t v_width = int64_t{c.n_head_kv} * c.head_dim_v;
  if (w.bq) HOBBIT_RETURN_IF_ERROR(backend_.AddRowBias(s.q(), w.bq, n, q_width));
  if (w.bk) HOBBIT_RETURN_IF_ERROR(backend_.AddRowBias(s.k(), w.bk, n, k_width));
  if (w.bv) HOBBIT_RETURN_IF_ERROR(backend_.AddRowBias(s.v(), w.bv, n, v_width));
  if (c.qk_norm == QkNorm::kFullWidth) {
    HOBBIT_RETURN_IF_ERROR(backend_.RmsNorm(s.q(), w.q_norm, n, q_width, c.rms_eps, s.q()));
    HOBBIT_RETURN_IF_ERROR(backend_.RmsNorm(s.k(), w.k_norm, n, k_width, c.rms_eps, s.k()));
  }
  RopeParams rope;
  rope.positions = s.positions();
  rope.n_tokens = n;
  rope.head_dim = c.head_dim_k;
  rope.n_rot = c.n_rot;
  rope.freq_base = c.rope_freq_base;
  rope.freq_scale = c.rope_freq_scale;
  rope.style = c.rope_style;
  rope.x = s.q();
  rope.n_heads = c.n_head;
  rope.x2 = s.k();
  rope.n_heads2 = c.n_head_kv;
  if (c.qk_norm == QkNorm::kPerHead) {  // normalized in the rotation's call
    rope.head_norm = w.q_norm;
    rope.head_norm2 = w.k_norm;
    rope.head_norm_eps = c.rms_eps;
  }

  KvWriteParams kw;
  kw.k = s.k();
  kw.v = s.v();
  kw.k_cache = kv.k(l);
  kw.v_cache = kv.v(l);
  kw.kv_type = kv.type();
  kw.slots = s.slots();
  kw.n_tokens = n;
  kw.k_row = static_cast<int32_t>(k_width);
  kw.v_row = static_cast<int32_t>(v_width);
  rope.kv_write = &kw;  // Q and K rotated and the cache written in one call
  HOBBIT_RETURN_IF_ERROR(backend_.Rope(rope));

  AttentionParams ap;
  ap.q = s.q();
  ap.out = s.attn();
  ap.n_tokens = n;
  ap.n_head = c.n_head;
  ap.n_head_kv = c.n_head_kv;
  ap.head_dim_k = c.head_dim_k;
  ap.head_dim_v = c.head_dim_v;
  ap.scale = 1.0f / std::sqrt(static_cast<float>(c.head_dim_k));
  ap.k_cache = kv.k(l);
  ap.v_cache = kv.v(l);
  ap.kv_type = kv.type();
  ap.block_size = kv.block_size();
  ap.token_seq = s.token_seq();
  ap.token_pos = s.positions();
  ap.block_tables = s.block_tables();
  ap.max_blocks = s.max_blocks();
  HOBBIT_RETURN_IF_ERROR(backend_.Attention(ap));
  return backend_.MatMulAdd(w.wo, s.attn(), n, s.h(), s.x());
}

absl::Status Model::MoeBlock(int32_t l, int32_t n) {
  const LayerWeights& w = weights_->layers[l];
  const ModelConfig& c = config_;
  StepScratch& s = *scratch_;
  const int64_t width = int64_t{n} * c.n_embd;
  RouterParams rp;
  rp.n_tokens = n;
  rp.n_expert = c.n_expert;
  rp.k = c.n_expert_used;
  rp.renormalize = c.norm_topk;
  rp.ids_host = s.expert_ids();
  rp.weights_host = s.expert_weights();
  const bool routed = expert_ffn_->CanRunRouted(l, n);
  if (routed) {
    rp.ids_device = s.expert_ids_device();
    rp.weights_device = s.expert_weights_device();
  }
  HOBBIT_RETURN_IF_ERROR(backend_.RmsNormRoute(s.x(), w.ffn_norm, n, c.n_embd, c.rms_eps, s.h(), w.router,
                                                 s.router_logits(), rp));
  if (routed && c.n_ff_shexp == 0) {
    // Straight into the residual stream: x + (sum of the experts) is what the zeroed buffer and
    // the Add below give, two launches fewer per layer.
    return expert_ffn_->RunRouted(l, s.h(), s.expert_ids_device(), s.expert_weights_device(), n, c.n_expert_used,
                                  s.x());
  }
  HOBBIT_RETURN_IF_ERROR(backend_.Fill(s.moe_out(), 0.0f, width));
  if (routed) {
    HOBBIT_RETURN_IF_ERROR(expert_ffn_->RunRouted(l, s.h(), s.expert_ids_device(), s.expert_weights_device(), n,
                                                  c.n_expert_used, s.moe_out()));
  } else {
    // The experts are looked up by these ids on the host: one out of range (a backend's bug) is an
    // error of the step, not a read past the layer's experts.
    const int32_t* ids = s.expert_ids();
    for (int64_t i = 0; i < int64_t{n} * c.n_expert_used; ++i) {
      if (ids[i] < 0 || ids[i] >= c.n_expert) {
        return absl::InternalError(absl::StrCat("layer ", l, ": the router chose expert ", ids[i], " of ", c.n_expert));
      }
    }
    ExpertRouting routing{n, c.n_expert_used, s.expert_ids(), s.expert_weights(), s.seq_ids()};
    HOBBIT_RETURN_IF_ERROR(expert_ffn_->Run(l, s.h(), routing, s.moe_out()));
  }
  if (c.n_ff_shexp > 0) {
    const int64_t ff = int64_t{n} * c.n_ff_shexp;
    const WeightView* gate_up[] = {&w.shexp_gate, &w.shexp_up};
    float* gate_up_out[] = {s.shexp_gate(), s.shexp_up()};
    HOBBIT_RETURN_IF_ERROR(backend_.MatMuls(gate_up, s.h(), n, gate_up_out));
    HOBBIT_RETURN_IF_ERROR(backend_.SiluMul(s.shexp_gate(), s.shexp_up(), ff, s.shexp_gate()));
    HOBBIT_RETURN_IF_ERROR(backend_.MatMul(w.shexp_down, s.shexp_gate(), n, s.attn()));
    if (c.shared_expert_gated) {
      HOBBIT_RETURN_IF_ERROR(backend_.MatMul(w.shexp_router, s.h(), n, s.router_logits()));
      HOBBIT_RETURN_IF_ERROR(backend_.ScaleRowsBySigmoid(s.attn(), s.router_logits(), n, c.n_embd));
    }
    HOBBIT_RETURN_IF_ERROR(backend_.Add(s.moe_out(), s.attn(), width));
  }
  return backend_.Add(s.x(), s.moe_out(), width);
}

absl::Status Model::Logits(int32_t n, int32_t n_rows) {
  if (n_rows == 0) return absl::OkStatus();
  StepScratch& s = *scratch_;
  // The norm writes h, which the output product reads (on the CUDA backend through the int8 copy
  // the norm also makes; it does not run in place). When every token's logits are wanted (a
  // decode step: one row per sequence), the rows are all of x in order (ValidatePlan keeps the
  // sequences' tokens contiguous and in order) and are read from there; otherwise they are
  // gathered into attn, free after the layers.
  const float* rows = s.x();
  if (n_rows != n) {
    HOBBIT_RETURN_IF_ERROR(backend_.GatherRowsDevice(s.x(), s.logit_rows(), n_rows, config_.n_embd, s.attn()));
    rows = s.attn();
  }
  HOBBIT_RETURN_IF_ERROR(
      backend_.RmsNormForProducts(rows, weights_->output_norm, n_rows, config_.n_embd, config_.rms_eps, s.h()));
  return backend_.MatMul(weights_->output, s.h(), n_rows, s.logits());
}

}  // namespace hobbit::runtime
