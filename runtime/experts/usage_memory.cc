#include "runtime/experts/usage_memory.h"

#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <fstream>
#include <sstream>
#include <utility>

#include "absl/strings/str_cat.h"

namespace hobbit::runtime {

absl::StatusOr<std::vector<uint64_t>> UsageMemory::Read() const {
  std::ifstream in(path_);
  if (!in) return absl::NotFoundError(absl::StrCat("no expert usage file ", path_));
  auto bad = [&](const std::string& why) { return absl::DataLossError(absl::StrCat(path_, ": ", why)); };
  std::string magic;
  int version = 0;
  int64_t layers = 0, experts = 0;
  if (!(in >> magic >> version >> layers >> experts) || magic != "hobbit-expert-usage" || version != 1) {
    return bad("not an expert usage file of version 1");
  }
  if (layers != n_layer_ || experts != n_expert_) {
    return bad(absl::StrCat("written for ", layers, " layers of ", experts, " experts, the model has ", n_layer_,
                            " of ", n_expert_));
  }
  std::vector<uint64_t> counts(static_cast<size_t>(n_layer_) * n_expert_);
  for (uint64_t& c : counts) {
    if (!(in >> c)) return bad("too few counts");
  }
  std::string extra;
  if (in >> extra) return bad("more than the counts of its shape");
  return counts;
}

absl::Status UsageMemory::Write(const std::vector<uint64_t>& counts) const {
  if (counts.size() != static_cast<size_t>(n_layer_) * n_expert_) {
    return absl::InvalidArgumentError("expert usage: counts do not match the shape");
  }
  std::ostringstream text;
  text << "hobbit-expert-usage 1 " << n_layer_ << " " << n_expert_ << "\n";
  for (int32_t l = 0; l < n_layer_; ++l) {
    for (int32_t e = 0; e < n_expert_; ++e) text << (e ? " " : "") << counts[static_cast<size_t>(l) * n_expert_ + e];
    text << "\n";
  }
  const std::string tmp = absl::StrCat(path_, ".tmp.", ::getpid());
  {
    std::ofstream out(tmp, std::ios::trunc);
    out << text.str();
    out.flush();
    if (!out) {
      std::remove(tmp.c_str());
      return absl::UnavailableError(absl::StrCat("cannot write ", tmp));
    }
  }
  if (std::rename(tmp.c_str(), path_.c_str()) != 0) {
    std::remove(tmp.c_str());
    return absl::UnavailableError(absl::StrCat("cannot rename ", tmp, " to ", path_));
  }
  return absl::OkStatus();
}

std::vector<std::pair<int32_t, int32_t>> UsageMemory::MostUsed(const std::vector<uint64_t>& counts,
                                                               int32_t n_expert) {
  std::vector<std::pair<int32_t, int32_t>> pairs;
  for (size_t i = 0; i < counts.size(); ++i) {
    if (counts[i] > 0) pairs.emplace_back(static_cast<int32_t>(i / n_expert), static_cast<int32_t>(i % n_expert));
  }
  // Stable: equal counts keep layer order, so the result does not depend on the sort.
  std::stable_sort(pairs.begin(), pairs.end(), [&](const auto& a, const auto& b) {
    return counts[static_cast<size_t>(a.first) * n_expert + a.second] >
           counts[static_cast<size_t>(b.first) * n_expert + b.second];
  });
  return pairs;
}

}  // namespace hobbit::runtime
