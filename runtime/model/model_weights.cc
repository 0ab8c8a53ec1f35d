#include "runtime/model/model_weights.h"

#include <array>
#include <string>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "kernels/base/ggml_type.h"
#include "kernels/base/status_macros.h"
#include "runtime/gguf/gguf_file.h"

namespace hobbit::runtime {
namespace {

using kernels::GgmlType;

std::string ShapeString(const GgufTensorInfo& t) {
  std::vector<int64_t> dims(t.ne.begin(), t.ne.begin() + std::max(1, t.n_dims));
  return absl::StrCat("[", absl::StrJoin(dims, ", "), "]");
}

// Loads tensors of one file through one backend, with errors that name the tensor.
class TensorLoader {
 public:
  TensorLoader(const GgufFile& file, Backend& backend) : file_(file), backend_(backend) {}

  const GgufTensorInfo* Find(const std::string& name) const { return file_.FindTensor(name); }

  // A 2-D matrix [cols = ne0, rows = ne1] (or the e-th slab of a 3-D tensor).
  absl::StatusOr<WeightView> Matrix(const std::string& name, int64_t cols, int64_t rows) {
    const GgufTensorInfo* t = Find(name);
    if (t == nullptr) return absl::InvalidArgumentError(absl::StrCat("model: tensor '", name, "' is missing"));
    if (t->ne[0] != cols || t->ne[1] != rows || t->ne[2] != 1 || t->ne[3] != 1) {
      return absl::InvalidArgumentError(absl::StrCat("model: tensor '", name, "' has shape ", ShapeString(*t),
                                                     ", expected [", cols, ", ", rows, "]"));
    }
    return Upload(*t, 0, rows);
  }

  absl::StatusOr<std::vector<WeightView>> Stacked(const std::string& name, int64_t cols, int64_t rows, int64_t n) {
    const GgufTensorInfo* t = Find(name);
    if (t == nullptr) return absl::InvalidArgumentError(absl::StrCat("model: tensor '", name, "' is missing"));
    if (t->ne[0] != cols || t->ne[1] != rows || t->ne[2] != n || t->ne[3] != 1) {
      return absl::InvalidArgumentError(absl::StrCat("model: tensor '", name, "' has shape ", ShapeString(*t),
                                                     ", expected [", cols, ", ", rows, ", ", n, "]"));
    }
    std::vector<WeightView> out;
    for (int64_t e = 0; e < n; ++e) {
      HOBBIT_ASSIGN_OR_RETURN(WeightView w, Upload(*t, e, rows));
      out.push_back(w);
    }
    return out;
  }

  // A float32 vector of n elements (norm weights, biases); null if optional and absent.
  absl::StatusOr<const float*> Vector(const std::string& name, int64_t n, bool optional = false) {
    const GgufTensorInfo* t = Find(name);
    if (t == nullptr) {
      if (optional) return nullptr;
      return absl::InvalidArgumentError(absl::StrCat("model: tensor '", name, "' is missing"));
    }
    if (t->n_elements() != n || t->ne[0] != n) {
      return absl::InvalidArgumentError(absl::StrCat("model: tensor '", name, "' has shape ", ShapeString(*t),
                                                     ", expected [", n, "]"));
    }
    if (t->type != static_cast<uint32_t>(GgmlType::kF32)) {
      return absl::InvalidArgumentError(absl::StrCat("model: tensor '", name, "' is ", kernels::GgmlTypeName(t->type),
                                                     "; norm weights and biases must be F32"));
    }
    HOBBIT_ASSIGN_OR_RETURN(WeightView w, Upload(*t, 0, 1));
    return static_cast<const float*>(w.data);
  }

  // While false, Matrix/Stacked return host views into the file instead of uploading.
  bool upload = true;

 private:
  absl::StatusOr<WeightView> Upload(const GgufTensorInfo& t, int64_t slab, int64_t rows) {
    auto row_bytes = kernels::GgmlRowBytes(t.type, t.ne[0]);
    if (!row_bytes) {
      return absl::InvalidArgumentError(absl::StrCat("model: tensor '", t.name, "' of type ",
                                                     kernels::GgmlTypeName(t.type), " has an unusable row length ",
                                                     t.ne[0]));
    }
    WeightView host;
    host.type = t.type;
    host.rows = rows;
    host.cols = t.ne[0];
    host.row_bytes = *row_bytes;
    host.data = t.data + slab * rows * *row_bytes;
    if (!upload) return host;
    return backend_.UploadWeight(host, t.name);
  }

  const GgufFile& file_;
  Backend& backend_;
};

absl::Status LoadAttention(TensorLoader& ld, const ModelConfig& c, const std::string& p, LayerWeights& lw) {
  const int64_t q_width = int64_t{c.n_head} * c.head_dim_k;
  const int64_t k_width = int64_t{c.n_head_kv} * c.head_dim_k;
  const int64_t v_width = int64_t{c.n_head_kv} * c.head_dim_v;
  HOBBIT_ASSIGN_OR_RETURN(lw.attn_norm, ld.Vector(p + "attn_norm.weight", c.n_embd));
  HOBBIT_ASSIGN_OR_RETURN(lw.wq, ld.Matrix(p + "attn_q.weight", c.n_embd, q_width));
  HOBBIT_ASSIGN_OR_RETURN(lw.wk, ld.Matrix(p + "attn_k.weight", c.n_embd, k_width));
  HOBBIT_ASSIGN_OR_RETURN(lw.wv, ld.Matrix(p + "attn_v.weight", c.n_embd, v_width));
  HOBBIT_ASSIGN_OR_RETURN(lw.wo, ld.Matrix(p + "attn_output.weight", int64_t{c.n_head} * c.head_dim_v, c.n_embd));
  HOBBIT_ASSIGN_OR_RETURN(lw.bq, ld.Vector(p + "attn_q.bias", q_width, true));
  HOBBIT_ASSIGN_OR_RETURN(lw.bk, ld.Vector(p + "attn_k.bias", k_width, true));
  HOBBIT_ASSIGN_OR_RETURN(lw.bv, ld.Vector(p + "attn_v.bias", v_width, true));
  if (c.qk_norm != QkNorm::kNone) {
    const int64_t qn = c.qk_norm == QkNorm::kPerHead ? c.head_dim_k : q_width;
    const int64_t kn = c.qk_norm == QkNorm::kPerHead ? c.head_dim_k : k_width;
    HOBBIT_ASSIGN_OR_RETURN(lw.q_norm, ld.Vector(p + "attn_q_norm.weight", qn));
    HOBBIT_ASSIGN_OR_RETURN(lw.k_norm, ld.Vector(p + "attn_k_norm.weight", kn));
  }
  return absl::OkStatus();
}

absl::Status LoadExperts(TensorLoader& ld, const ModelConfig& c, const std::string& p, LayerExperts& ex) {
  if (ld.Find(p + "ffn_gate_exps.weight") != nullptr) {
    HOBBIT_ASSIGN_OR_RETURN(ex.gate, ld.Stacked(p + "ffn_gate_exps.weight", c.n_embd, c.n_ff_exp, c.n_expert));
    HOBBIT_ASSIGN_OR_RETURN(ex.up, ld.Stacked(p + "ffn_up_exps.weight", c.n_embd, c.n_ff_exp, c.n_expert));
    HOBBIT_ASSIGN_OR_RETURN(ex.down, ld.Stacked(p + "ffn_down_exps.weight", c.n_ff_exp, c.n_embd, c.n_expert));
    return absl::OkStatus();
  }
  // Older files: one 2-D tensor per expert (blk.N.ffn_gate.E.weight).
  for (int32_t e = 0; e < c.n_expert; ++e) {
    const std::string s = absl::StrCat(".", e, ".weight");
    HOBBIT_ASSIGN_OR_RETURN(WeightView g, ld.Matrix(p + "ffn_gate" + s, c.n_embd, c.n_ff_exp));
    HOBBIT_ASSIGN_OR_RETURN(WeightView u, ld.Matrix(p + "ffn_up" + s, c.n_embd, c.n_ff_exp));
    HOBBIT_ASSIGN_OR_RETURN(WeightView d, ld.Matrix(p + "ffn_down" + s, c.n_ff_exp, c.n_embd));
    ex.gate.push_back(g);
    ex.up.push_back(u);
    ex.down.push_back(d);
  }
  return absl::OkStatus();
}

absl::Status LoadFfn(TensorLoader& ld, const ModelConfig& c, const std::string& p, LayerWeights& lw,
                     bool upload_experts) {
  HOBBIT_ASSIGN_OR_RETURN(lw.ffn_norm, ld.Vector(p + "ffn_norm.weight", c.n_embd));
  HOBBIT_ASSIGN_OR_RETURN(lw.router, ld.Matrix(p + "ffn_gate_inp.weight", c.n_embd, c.n_expert));
  ld.upload = upload_experts;
  absl::Status experts = LoadExperts(ld, c, p, lw.experts);
  ld.upload = true;
  HOBBIT_RETURN_IF_ERROR(experts);
  if (c.n_ff_shexp > 0) {
    HOBBIT_ASSIGN_OR_RETURN(lw.shexp_gate, ld.Matrix(p + "ffn_gate_shexp.weight", c.n_embd, c.n_ff_shexp));
    HOBBIT_ASSIGN_OR_RETURN(lw.shexp_up, ld.Matrix(p + "ffn_up_shexp.weight", c.n_embd, c.n_ff_shexp));
    HOBBIT_ASSIGN_OR_RETURN(lw.shexp_down, ld.Matrix(p + "ffn_down_shexp.weight", c.n_ff_shexp, c.n_embd));
    if (c.shared_expert_gated) {
      HOBBIT_ASSIGN_OR_RETURN(lw.shexp_router, ld.Matrix(p + "ffn_gate_inp_shexp.weight", c.n_embd, 1));
    }
  }
  return absl::OkStatus();
}

// Widths that only the tensors state reliably: vocabulary, expert FFN, shared expert, q/k norm.
absl::Status InferShapes(const TensorLoader& ld, ModelConfig& c) {
  const GgufTensorInfo* embd = ld.Find("token_embd.weight");
  if (embd == nullptr) return absl::InvalidArgumentError("model: tensor 'token_embd.weight' is missing");
  if (embd->ne[0] != c.n_embd || embd->ne[1] <= 0 || embd->ne[1] > (1 << 24)) {
    return absl::InvalidArgumentError(absl::StrCat("model: tensor 'token_embd.weight' has shape ", ShapeString(*embd),
                                                   ", expected [", c.n_embd, ", n_vocab]"));
  }
  c.n_vocab = static_cast<int32_t>(embd->ne[1]);
  const GgufTensorInfo* gate = ld.Find("blk.0.ffn_gate_exps.weight");
  if (gate == nullptr) gate = ld.Find("blk.0.ffn_gate.0.weight");
  if (gate == nullptr) {
    return absl::InvalidArgumentError("model: no expert tensors in layer 0 ('blk.0.ffn_gate_exps.weight' or "
                                      "'blk.0.ffn_gate.0.weight')");
  }
  c.n_ff_exp = static_cast<int32_t>(gate->ne[1]);
  if (const GgufTensorInfo* sh = ld.Find("blk.0.ffn_gate_shexp.weight")) c.n_ff_shexp = static_cast<int32_t>(sh->ne[1]);
  if (const GgufTensorInfo* qn = ld.Find("blk.0.attn_q_norm.weight")) {
    c.qk_norm = qn->ne[0] == c.head_dim_k ? QkNorm::kPerHead : QkNorm::kFullWidth;
  }
  return absl::OkStatus();
}

}  // namespace

absl::StatusOr<std::unique_ptr<ModelWeights>> LoadModelWeights(const GgufFile& file, Backend& backend,
                                                               ModelConfig& config, bool upload_experts) {
  TensorLoader ld(file, backend);
  HOBBIT_RETURN_IF_ERROR(InferShapes(ld, config));
  auto w = std::make_unique<ModelWeights>();
  HOBBIT_ASSIGN_OR_RETURN(w->token_embd, ld.Matrix("token_embd.weight", config.n_embd, config.n_vocab));
  HOBBIT_ASSIGN_OR_RETURN(w->output_norm, ld.Vector("output_norm.weight", config.n_embd));
  if (ld.Find("output.weight") != nullptr) {
    HOBBIT_ASSIGN_OR_RETURN(w->output, ld.Matrix("output.weight", config.n_embd, config.n_vocab));
  } else {
    w->output = w->token_embd;  // tied embeddings
  }
  w->layers.resize(config.n_layer);
  for (int32_t l = 0; l < config.n_layer; ++l) {
    const std::string p = absl::StrCat("blk.", l, ".");
    HOBBIT_RETURN_IF_ERROR(LoadAttention(ld, config, p, w->layers[l]));
    HOBBIT_RETURN_IF_ERROR(LoadFfn(ld, config, p, w->layers[l], upload_experts));
  }
  return w;
}

}  // namespace hobbit::runtime
