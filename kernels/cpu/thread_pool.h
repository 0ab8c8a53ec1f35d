// ThreadPool: the CPU kernels' workers. ParallelFor splits a range over the workers and the
// calling thread and returns when every chunk is done.
#pragma once

#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <functional>
#include <mutex>
#include <thread>
#include <vector>

namespace hobbit::kernels {

// Thread-safe for one ParallelFor at a time per pool (callers serialize; the engine thread is
// the only caller in the daemon). Nested ParallelFor calls run inline.
class ThreadPool {
 public:
  // n_threads <= 0: one per hardware thread. The calling thread counts as one.
  explicit ThreadPool(int n_threads);
  ~ThreadPool();
  ThreadPool(const ThreadPool&) = delete;
  ThreadPool& operator=(const ThreadPool&) = delete;

  int n_threads() const { return static_cast<int>(workers_.size()) + 1; }

  // Calls fn(begin, end) over [0, n) in chunks of at least min_chunk items.
  void ParallelFor(int64_t n, int64_t min_chunk, const std::function<void(int64_t, int64_t)>& fn);

 private:
  void WorkerLoop(int index);
  void RunChunks();

  std::vector<std::thread> workers_;
  std::mutex mu_;
  std::condition_variable work_cv_;
  std::condition_variable done_cv_;
  uint64_t generation_ = 0;       // bumped for each ParallelFor
  bool stop_ = false;
  int active_ = 0;                // workers still running the current job
  // The current job (valid while active_ > 0 or the caller runs).
  const std::function<void(int64_t, int64_t)>* fn_ = nullptr;
  int64_t n_ = 0;
  int64_t chunk_ = 0;
  std::atomic<int64_t>* next_ = nullptr;
};

}  // namespace hobbit::kernels
