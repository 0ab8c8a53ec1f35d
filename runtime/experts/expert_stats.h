// ExpertStats: the figures every offloading run reports (hobbit-algorithms.md §5), kept per
// sequence and in total by the expert loader.
//
// Lookups count (token, expert) pairs of routed experts; each pair is a hit (served by what was
// resident) or a miss classified by what the loader did for its expert in that step (copied
// high, copied low, skipped). So hits_high + hits_low + misses_high + misses_low + misses_skip
// == lookups, and bytes_demand + bytes_prefetch == the sum of the sizes of all copies made.
#pragma once

#include <cstdint>

namespace hobbit::runtime {

struct ExpertStats {
  uint64_t lookups = 0;
  uint64_t hits_high = 0;
  uint64_t hits_low = 0;
  uint64_t low_served_high = 0;  // hits on a low copy by pairs whose score asked for high
  uint64_t misses_high = 0;
  uint64_t misses_low = 0;
  uint64_t misses_skip = 0;
  uint64_t misses_host = 0;      // of misses_high + misses_low: computed on the CPU, not copied
  uint64_t copies = 0;           // host->device expert copies (on demand and prefetch)
  uint64_t bytes_demand = 0;     // host->device bytes of on-demand copies
  uint64_t bytes_prefetch = 0;   // host->device bytes of prefetch copies
  uint64_t prefetch_issued = 0;
  uint64_t prefetch_used = 0;    // prefetched copy used by the layer it was predicted for
  uint64_t prefetch_wasted = 0;  // layer ran without using it
  uint64_t prefetch_late = 0;    // used, but its copy had not finished when the layer ran
  uint64_t tokens = 0;           // tokens that went through layer 0
  double load_wait_seconds = 0.0;  // time a layer waited for copies (on-demand and late prefetch)

  ExpertStats& operator+=(const ExpertStats& o) {
    lookups += o.lookups;
    hits_high += o.hits_high;
    hits_low += o.hits_low;
    low_served_high += o.low_served_high;
    misses_high += o.misses_high;
    misses_low += o.misses_low;
    misses_skip += o.misses_skip;
    misses_host += o.misses_host;
    copies += o.copies;
    bytes_demand += o.bytes_demand;
    bytes_prefetch += o.bytes_prefetch;
    prefetch_issued += o.prefetch_issued;
    prefetch_used += o.prefetch_used;
    prefetch_wasted += o.prefetch_wasted;
    prefetch_late += o.prefetch_late;
    tokens += o.tokens;
    load_wait_seconds += o.load_wait_seconds;
    return *this;
  }
};

}  // namespace hobbit::runtime
