// QualityMeter: how far a mode's next-token distributions are from resident's over the same
// teacher-forced token stream: top-1 agreement, mean KL(resident || mode), and the negative
// log-likelihood of the stream's actual next token (perplexity = exp(mean NLL)).
//
//   QualityMeter q;
//   for each position: q.Add(resident_logits_row, mode_logits_row, stream[i + 1]);
//   QualityFigures f = q.Result();
//
// Everything is computed in double from log-softmax, so identical logits give KL exactly 0.
#pragma once

#include <cstdint>
#include <span>
#include <vector>

namespace hobbit::tools {

struct QualityFigures {
  int64_t positions = 0;
  double top1_agreement = 0.0;  // share of positions whose argmax equals resident's
  double mean_kl = 0.0;         // nats
  double max_kl = 0.0;
  double mean_nll = 0.0;        // nats per token
  double perplexity = 0.0;
};

// log-softmax of one row of logits, in double.
std::vector<double> LogSoftmax(std::span<const float> logits);
// The index of the largest logit (the lowest index among ties).
int32_t ArgMax(std::span<const float> logits);

// Not thread-safe.
class QualityMeter {
 public:
  // REQUIRES: reference.size() == got.size(), 0 <= next_token < size.
  void Add(std::span<const float> reference, std::span<const float> got, int32_t next_token);
  QualityFigures Result() const;

 private:
  int64_t positions_ = 0;
  int64_t agree_ = 0;
  double kl_sum_ = 0.0;
  double kl_max_ = 0.0;
  double nll_sum_ = 0.0;
};

}  // namespace hobbit::tools
