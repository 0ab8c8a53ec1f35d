// FakeStepExecutor: a deterministic stand-in for the model, for engine tests.
//
// It keeps a paged "KV cache" of token ids (each planned token is written to its slot
// block_table[pos / block_size] * block_size + pos % block_size) and, for each sequence that
// asks for logits, makes one token the clear argmax:
//  - kSuccessor: (last token + 1) % n_vocab, so the generated text is predictable;
//  - kContextHash: a hash of every token the sequence's block table reads back, so wrong block
//    tables, positions or recompute after preemption change the output.
// Tests can make a step slow, hold it at a gate, or fail it when it contains a poison token.
#pragma once

#include <cstdint>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/str_format.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/clock.h"
#include "runtime/engine/step_executor.h"

namespace hobbit::runtime {

class FakeStepExecutor final : public StepExecutor {
 public:
  enum class Mode { kSuccessor, kContextHash };

  FakeStepExecutor(Mode mode, int32_t n_vocab, int32_t num_blocks, int32_t block_size)
      : mode_(mode), n_vocab_(n_vocab), block_size_(block_size), slots_(int64_t{num_blocks} * block_size, -1) {}

  // Settings; set them before the engine runs steps, or under the gate.
  void set_step_delay(absl::Duration d) { step_delay_ = d; }
  void set_poison_token(int32_t t) { poison_token_ = t; }
  // What Recordings() reports (decode steps recorded and replayed, as a CUDA model would).
  void set_recordings(StepRecordingStats r) { recordings_ = r; }
  StepRecordingStats Recordings() const override { return recordings_; }

  // While closed, Execute blocks at its start; entered() counts steps that reached the gate.
  void CloseGate() {
    absl::MutexLock lock(&mu_);
    gate_open_ = false;
  }
  void OpenGate() {
    absl::MutexLock lock(&mu_);
    gate_open_ = true;
  }
  void WaitUntilEntered(int n) {
    absl::MutexLock lock(&mu_);
    auto reached = [this, n]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) { return entered_ >= n; };
    mu_.Await(absl::Condition(&reached));
  }

  absl::Status Execute(const StepPlan& plan, StepOutput* out) override {
    {
      absl::MutexLock lock(&mu_);
      ++entered_;
      mu_.Await(absl::Condition(&gate_open_));
    }
    if (step_delay_ > absl::ZeroDuration()) absl::SleepFor(step_delay_);
    for (int32_t t : plan.tokens) {
      if (t == poison_token_) return absl::InternalError(absl::StrFormat("poison token %d in the step", t));
    }
    out->n_vocab = n_vocab_;
    out->n_rows = 0;
    out->logits.clear();
    for (const StepSequence& seq : plan.seqs) {
      for (int32_t i = 0; i < seq.n_tokens; ++i) {
        slots_.at(Slot(seq, seq.n_past + i)) = plan.tokens[seq.first_token + i];
      }
      if (seq.logits == LogitsWanted::kNone) continue;
      const int32_t last_pos = seq.n_past + seq.n_tokens - 1;
      int32_t next = 0;
      if (mode_ == Mode::kSuccessor) {
        next = (slots_.at(Slot(seq, last_pos)) + 1) % n_vocab_;
      } else {
        uint32_t h = 2166136261u;
        for (int32_t pos = 0; pos <= last_pos; ++pos) h = (h ^ static_cast<uint32_t>(slots_.at(Slot(seq, pos)))) * 16777619u;
        // Keep clear of the special ids 0..2 so hashed sequences run to max_tokens.
        next = 3 + static_cast<int32_t>(h % static_cast<uint32_t>(n_vocab_ - 3));
      }
      const size_t row = out->logits.size();
      out->logits.resize(row + n_vocab_);
      for (int32_t v = 0; v < n_vocab_; ++v) out->logits[row + v] = -0.01f * static_cast<float>(v % 7);
      out->logits[row + next] = 5.0f;
      ++out->n_rows;
    }
    return absl::OkStatus();
  }

 private:
  int64_t Slot(const StepSequence& seq, int32_t pos) const {
    return int64_t{seq.block_table.at(pos / block_size_)} * block_size_ + pos % block_size_;
  }

  const Mode mode_;
  const int32_t n_vocab_;
  const int32_t block_size_;
  std::vector<int32_t> slots_;  // engine thread only
  absl::Duration step_delay_ = absl::ZeroDuration();
  int32_t poison_token_ = -1;
  StepRecordingStats recordings_;
  absl::Mutex mu_;
  bool gate_open_ ABSL_GUARDED_BY(mu_) = true;
  int entered_ ABSL_GUARDED_BY(mu_) = 0;
};

}  // namespace hobbit::runtime
