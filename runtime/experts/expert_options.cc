#include "runtime/experts/expert_options.h"

#include <algorithm>

#include "absl/strings/str_cat.h"

namespace hobbit::runtime {

std::optional<ExpertMode> ParseExpertMode(std::string_view name) {
  if (name == "resident") return ExpertMode::kResident;
  if (name == "ondemand-lru") return ExpertMode::kOndemandLru;
  if (name == "static-low") return ExpertMode::kStaticLow;
  if (name == "hobbit") return ExpertMode::kHobbit;
  return std::nullopt;
}

const char* ExpertModeName(ExpertMode mode) {
  switch (mode) {
    case ExpertMode::kResident:
      return "resident";
    case ExpertMode::kOndemandLru:
      return "ondemand-lru";
    case ExpertMode::kStaticLow:
      return "static-low";
    case ExpertMode::kHobbit:
      return "hobbit";
  }
  return "unknown";
}

std::optional<LowFormat> ParseLowFormat(std::string_view name) {
  if (name == "int4") return LowFormat::kInt4;
  if (name == "int2") return LowFormat::kInt2;
  if (name == "auto") return LowFormat::kAuto;
  return std::nullopt;
}

const char* LowFormatName(LowFormat format) {
  switch (format) {
    case LowFormat::kInt4:
      return "int4";
    case LowFormat::kInt2:
      return "int2";
    case LowFormat::kAuto:
      return "auto";
  }
  return "unknown";
}

std::optional<ExpertPolicy> ParseExpertPolicy(std::string_view name) {
  if (name == "quality") return ExpertPolicy::kQuality;
  if (name == "balanced") return ExpertPolicy::kBalanced;
  if (name == "speed") return ExpertPolicy::kSpeed;
  return std::nullopt;
}

namespace {

absl::Status OutOfRange(const char* key, double value, const char* range) {
  return absl::InvalidArgumentError(absl::StrCat("experts.", key, ": ", value, " is out of range ", range));
}

absl::Status CheckThresholds(const PrecisionThresholds& t, const char* t1_key, const char* t2_key) {
  if (!(t.t1 >= 0.0f && t.t1 <= 1.0f)) return OutOfRange(t1_key, t.t1, "[0, 1]");
  if (!(t.t2 >= t.t1 && t.t2 <= 1.0f)) return OutOfRange(t2_key, t.t2, absl::StrCat("[", t.t1, ", 1]").c_str());
  return absl::OkStatus();
}

}  // namespace

absl::Status ValidateExpertOptions(const ExpertOptions& o) {
  if (o.mode != ExpertMode::kResident && o.gpu_cache_bytes <= 0) {
    return absl::InvalidArgumentError(absl::StrCat("experts.gpu_cache_bytes: ", o.gpu_cache_bytes,
                                                   " must be > 0 for mode \"", ExpertModeName(o.mode), "\""));
  }
  if (!(o.high_pool_fraction >= 0.0 && o.high_pool_fraction <= 1.0)) {
    return OutOfRange("high_pool_fraction", o.high_pool_fraction, "[0, 1]");
  }
  if (absl::Status s = CheckThresholds(o.balanced, "t1", "t2"); !s.ok()) return s;
  if (absl::Status s = CheckThresholds(o.speed, "speed_t1", "speed_t2"); !s.ok()) return s;
  const std::pair<const char*, double> weights[] = {
      {"w_lru", o.w_lru}, {"w_lfu", o.w_lfu}, {"w_lhu", o.w_lhu}, {"w_fld", o.w_fld}};
  for (const auto& [key, w] : weights) {
    if (!(w >= 0.0)) return OutOfRange(key, w, "[0, inf)");
  }
  if (o.w_lru + o.w_lfu + o.w_lhu + o.w_fld <= 0.0) {
    return absl::InvalidArgumentError("experts.w_lru/w_lfu/w_lhu/w_fld: at least one weight must be > 0");
  }
  if (o.prefetch_depth < 0 || o.prefetch_depth > 16) return OutOfRange("prefetch_depth", o.prefetch_depth, "[0, 16]");
  if (!(o.copy_bandwidth >= 0.0)) return OutOfRange("copy_bandwidth", o.copy_bandwidth, "[0, inf)");
  if (o.build_threads < 0) return OutOfRange("build_threads", o.build_threads, "[0, inf)");
  if (o.cpu_path_threads < 0) return OutOfRange("cpu_path_threads", o.cpu_path_threads, "[0, inf)");
  return absl::OkStatus();
}

PrecisionThresholds ThresholdsFor(const ExpertOptions& options, std::optional<ExpertPolicy> requested) {
  ExpertPolicy policy = requested.value_or(options.default_policy);
  // Enumerators run from most to least precise: the cap is a maximum.
  policy = static_cast<ExpertPolicy>(std::min(static_cast<int>(policy), static_cast<int>(options.fastest_policy)));
  switch (policy) {
    case ExpertPolicy::kQuality:
      return PrecisionThresholds{1.0f, 1.0f};
    case ExpertPolicy::kBalanced:
      return options.balanced;
    case ExpertPolicy::kSpeed:
      return options.speed;
  }
  return options.balanced;
}

}  // namespace hobbit::runtime
