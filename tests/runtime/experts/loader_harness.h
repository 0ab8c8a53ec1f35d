// The harness of the expert loader's tests: the tiny real Mixtral fixture (8 experts, top-2,
// 2 layers) loaded resident or with an OffloadedExpertFfn on a CPU backend that counts the bytes
// copied into the expert pools, and a prompt-then-greedy sequence to run through it.
#pragma once

#include <algorithm>
#include <cstdint>
#include <fstream>
#include <memory>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "gtest/gtest.h"
#include "runtime/experts/offloaded_expert_ffn.h"
#include "runtime/gguf/gguf_file.h"
#include "runtime/model/model.h"
#include "runtime/model/sequence_runner.h"
#include "tests/support/forwarding_backend.h"

namespace hobbit::runtime::loader_test {

inline const std::string kMixtral = std::string(HOBBIT_SOURCE_DIR) + "/tests/fixtures/hf_tiny/mixtral/";

inline std::vector<int32_t> Prompt() {
  std::ifstream in(kMixtral + "prompt.txt");
  std::vector<int32_t> ids;
  int32_t v;
  while (in >> v) ids.push_back(v);
  return ids;
}

// The CPU backend, counting the bytes of every host->device copy.
class CountingBackend final : public test_support::ForwardingBackend {
 public:
  std::string_view name() const override { return "counting-cpu"; }
  // As a GPU does: the store pins (here: copies) its host copies, so the tests run that path.
  bool copies_want_pinned_host() const override { return true; }
  absl::Status CopyToDevice(void* dst, const void* src, size_t bytes) override {
    Count(dst, bytes);
    return ForwardingBackend::CopyToDevice(dst, src, bytes);
  }
  absl::StatusOr<CopyFence> CopyToDeviceAsync(void* dst, const void* src, size_t bytes) override {
    Count(dst, bytes);
    return ForwardingBackend::CopyToDeviceAsync(dst, src, bytes);
  }

  // Counts copies that land in these [begin, end) ranges (the expert pools), not the model's
  // own uploads of step inputs.
  std::vector<std::pair<const void*, const uint8_t*>> counted;
  uint64_t copied = 0;

 private:
  void Count(const void* dst, size_t bytes) {
    for (const auto& [begin, end] : counted) {
      if (dst >= begin && static_cast<const uint8_t*>(dst) + bytes <= end) copied += bytes;
    }
  }
};

struct Loaded {
  std::shared_ptr<const GgufFile> file;
  std::unique_ptr<CountingBackend> backend;
  std::unique_ptr<Model> model;
  OffloadedExpertFfn* loader = nullptr;  // owned by the model; null when resident
};

inline Loaded Load(const std::string& path, std::optional<ExpertOptions> experts) {
  Loaded l;
  auto file = GgufFile::Open(path);
  EXPECT_TRUE(file.ok()) << file.status();
  l.file = std::move(*file);
  l.backend = std::make_unique<CountingBackend>();
  ModelLoadOptions mo;
  if (experts) {
    auto ffn = std::make_unique<OffloadedExpertFfn>(*experts, l.file);
    l.loader = ffn.get();
    mo.expert_ffn = std::move(ffn);
  }
  auto model = Model::Load(l.file, *l.backend, std::move(mo));
  EXPECT_TRUE(model.ok()) << model.status();
  if (model.ok()) l.model = std::move(*model);
  if (l.loader != nullptr && model.ok()) {
    for (Precision p : {Precision::kHigh, Precision::kLow}) {
      const ExpertCache& c = l.loader->cache();
      if (c.num_slots(p) == 0) continue;
      const uint8_t* base = c.slot_data(p, 0);
      l.backend->counted.emplace_back(base, base + c.allocated_bytes(p));
    }
  }
  return l;
}

// Bytes of one high-precision expert slot of the fixture (three matrices, 64-byte aligned).
inline int64_t HighSlotBytes(const Loaded& l) {
  const GgufTensorInfo* gate = l.file->FindTensor("blk.0.ffn_gate_exps.weight");
  const GgufTensorInfo* down = l.file->FindTensor("blk.0.ffn_down_exps.weight");
  auto align = [](int64_t n) { return (n + 63) / 64 * 64; };
  const int64_t n_expert = gate->ne[2];
  return 2 * align(static_cast<int64_t>(gate->nbytes) / n_expert) + static_cast<int64_t>(down->nbytes) / n_expert;
}

// Prompt prefill in chunks of 5 (several experts per layer per step), then 8 greedy decode steps;
// returns every logit produced.
inline std::vector<float> RunSequence(Loaded& l) {
  SequenceRunner runner(*l.model, *l.backend);
  EXPECT_TRUE(runner.Init(64, /*chunk=*/5).ok());
  StepOutput out;
  std::vector<float> all;
  const std::vector<int32_t> prompt = Prompt();
  EXPECT_TRUE(runner.Append(prompt, LogitsWanted::kAll, &out).ok());
  all.insert(all.end(), out.logits.begin(), out.logits.end());
  for (int i = 0; i < 8; ++i) {
    const float* last = out.logits.data() + static_cast<size_t>(out.n_rows - 1) * out.n_vocab;
    const int32_t next = static_cast<int32_t>(std::max_element(last, last + out.n_vocab) - last);
    auto s = runner.Append({&next, 1}, LogitsWanted::kLast, &out);
    EXPECT_TRUE(s.ok()) << s;
    all.insert(all.end(), out.logits.begin(), out.logits.end());
  }
  return all;
}

inline void ExpectCountersAddUp(const ExpertStats& s, uint64_t copied_bytes) {
  EXPECT_EQ(s.hits_high + s.hits_low + s.misses_high + s.misses_low + s.misses_skip, s.lookups);
  EXPECT_LE(s.low_served_high, s.hits_low);
  EXPECT_EQ(s.bytes_demand + s.bytes_prefetch, copied_bytes);
  EXPECT_EQ(s.prefetch_used + s.prefetch_wasted, s.prefetch_issued);
  EXPECT_LE(s.prefetch_late, s.prefetch_used);
}

}  // namespace hobbit::runtime::loader_test
