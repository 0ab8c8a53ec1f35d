// ThreadSanitizer support for -DHOBBIT_SANITIZE=thread builds: Debian's libabsl is not built with ThreadSanitizer,
// so TSan cannot see absl::Mutex / CondVar ordering. The linker's --wrap routes our calls here,
// and these tell TSan about the happens-before edges the real mutex provides.
#include <sanitizer/tsan_interface.h>

#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"

using absl::CondVar;
using absl::Condition;
using absl::Duration;
using absl::Mutex;
using absl::Time;

namespace {
// Conditions may be evaluated inside the real Await after it re-took the mutex internally
// (before our wrapper's acquire); acquiring in the evaluation itself covers those reads.
struct CondContext {
  Mutex* mu;
  const Condition* cond;
};
bool EvalWithAcquire(CondContext* ctx) {
  __tsan_acquire(ctx->mu);
  const bool result = ctx->cond->Eval();
  // The real Await may now sleep and release the mutex without passing through our wrappers.
  __tsan_release(ctx->mu);
  return result;
}
}  // namespace

extern "C" {
void __real__ZN4absl7debian35Mutex4LockEv(Mutex*);
void __real__ZN4absl7debian35Mutex6UnlockEv(Mutex*);
void __real__ZN4absl7debian35Mutex10ReaderLockEv(Mutex*);
void __real__ZN4absl7debian35Mutex12ReaderUnlockEv(Mutex*);
void __real__ZN4absl7debian35Mutex5AwaitERKNS0_9ConditionE(Mutex*, const Condition&);
bool __real__ZN4absl7debian35Mutex16AwaitWithTimeoutERKNS0_9ConditionENS0_8DurationE(Mutex*, const Condition&, Duration);
bool __real__ZN4absl7debian37CondVar15WaitWithTimeoutEPNS0_5MutexENS0_8DurationE(CondVar*, Mutex*, Duration);
bool __real__ZN4absl7debian37CondVar16WaitWithDeadlineEPNS0_5MutexENS0_4TimeE(CondVar*, Mutex*, Time);

void __wrap__ZN4absl7debian35Mutex4LockEv(Mutex* mu) {
  __real__ZN4absl7debian35Mutex4LockEv(mu);
  __tsan_acquire(mu);
}
void __wrap__ZN4absl7debian35Mutex6UnlockEv(Mutex* mu) {
  __tsan_release(mu);
  __real__ZN4absl7debian35Mutex6UnlockEv(mu);
}
// Shared holders (absl::ReaderMutexLock) see what the last writer released, and a writer sees
// what every reader did before it released.
void __wrap__ZN4absl7debian35Mutex10ReaderLockEv(Mutex* mu) {
  __real__ZN4absl7debian35Mutex10ReaderLockEv(mu);
  __tsan_acquire(mu);
}
void __wrap__ZN4absl7debian35Mutex12ReaderUnlockEv(Mutex* mu) {
  __tsan_release(mu);
  __real__ZN4absl7debian35Mutex12ReaderUnlockEv(mu);
}
void __wrap__ZN4absl7debian35Mutex5AwaitERKNS0_9ConditionE(Mutex* mu, const Condition& c) {
  __tsan_release(mu);
  CondContext ctx{mu, &c};
  __real__ZN4absl7debian35Mutex5AwaitERKNS0_9ConditionE(mu, Condition(&EvalWithAcquire, &ctx));
  __tsan_acquire(mu);
}
bool __wrap__ZN4absl7debian35Mutex16AwaitWithTimeoutERKNS0_9ConditionENS0_8DurationE(Mutex* mu, const Condition& c,
                                                                                      Duration d) {
  __tsan_release(mu);
  CondContext ctx{mu, &c};
  bool r = __real__ZN4absl7debian35Mutex16AwaitWithTimeoutERKNS0_9ConditionENS0_8DurationE(
      mu, Condition(&EvalWithAcquire, &ctx), d);
  __tsan_acquire(mu);
  return r;
}
bool __wrap__ZN4absl7debian37CondVar15WaitWithTimeoutEPNS0_5MutexENS0_8DurationE(CondVar* cv, Mutex* mu, Duration d) {
  __tsan_release(mu);
  bool r = __real__ZN4absl7debian37CondVar15WaitWithTimeoutEPNS0_5MutexENS0_8DurationE(cv, mu, d);
  __tsan_acquire(mu);
  return r;
}
bool __wrap__ZN4absl7debian37CondVar16WaitWithDeadlineEPNS0_5MutexENS0_4TimeE(CondVar* cv, Mutex* mu, Time t) {
  __tsan_release(mu);
  bool r = __real__ZN4absl7debian37CondVar16WaitWithDeadlineEPNS0_5MutexENS0_4TimeE(cv, mu, t);
  __tsan_acquire(mu);
  return r;
}
}
