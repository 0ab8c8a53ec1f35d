// CudaStagingRing: host-to-device copies through pinned memory, in stream order.
//
// The backend's interface hands ops host arrays (token ids, expert rows and scales) and host
// buffers to copy; pageable memory moves at a fraction of the link's speed, so every such copy
// goes through this ring: memcpy into pinned memory, then an async copy on the compute stream.
// The ring is three segments used in turn. An op stages all its arrays and is enqueued before
// the next op stages anything, so when the ring moves on from segment s to s + 1, every user of
// segment s - 1 is enqueued: an event recorded then marks them. Entering a segment waits for the
// event recorded one move earlier, so neither the pinned bytes nor the ring's device copies are
// overwritten while a queued copy or op may still read them, and the host rarely waits.
//
// Not thread-safe: used from the backend's (engine) thread only. Owns its memory and events.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>

#include "absl/status/statusor.h"

struct CUstream_st;
struct CUevent_st;

namespace hobbit::runtime {

class CudaStagingRing {
 public:
  // segment_bytes: bytes per segment (pinned host and device memory each hold 3 segments).
  static absl::StatusOr<std::unique_ptr<CudaStagingRing>> Create(size_t segment_bytes, CUstream_st* stream);
  ~CudaStagingRing();
  CudaStagingRing(const CudaStagingRing&) = delete;
  CudaStagingRing& operator=(const CudaStagingRing&) = delete;

  // Copies `bytes` of host memory into ring device memory and returns its address, valid for the
  // op that the caller enqueues next (REQUIRES: it is enqueued before the next op's staging).
  // Arrays larger than a segment grow the ring (after a stream synchronization).
  absl::StatusOr<void*> Upload(const void* host, size_t bytes);

  // Copies `bytes` of host memory to device memory `dst` through the ring, in chunks of at most
  // one segment. Returns once the host bytes are no longer needed (the copies may still be queued).
  absl::Status CopyToDevice(void* dst, const void* host, size_t bytes);

 private:
  CudaStagingRing(CUstream_st* stream) : stream_(stream) {}
  static constexpr int kSegments = 3;
  absl::Status Allocate(size_t segment_bytes);
  void Release();
  // Reserves `bytes` in the current segment, moving to the next one when it is full.
  absl::StatusOr<size_t> Reserve(size_t bytes);

  CUstream_st* stream_;
  // users_done_[k]: recorded when the ring moved on from segment k + 1 (all users of k enqueued).
  CUevent_st* users_done_[kSegments] = {};
  uint8_t* host_ = nullptr;    // pinned, kSegments * segment_
  uint8_t* device_ = nullptr;  // kSegments * segment_
  size_t segment_ = 0;
  int current_ = 0;
  size_t used_ = 0;
};

}  // namespace hobbit::runtime
