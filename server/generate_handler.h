// GenerateHandler: serves one Generate call with gRPC's callback API.
//
// The engine's sink runs on the engine thread and must never block, so it only queues: chunks
// waiting for the same write are merged, and one write is in flight at a time (StartWrite,
// next one from OnWriteDone). Client cancellation, a passed deadline and a broken stream all
// reach OnCancel / a failed write, which cancel the engine request; the engine frees the
// sequence at its next step and sends its final event, after which the call finishes.
#pragma once

#include <grpcpp/grpcpp.h>

#include <memory>
#include <string>
#include <utility>

#include "absl/base/thread_annotations.h"
#include "absl/synchronization/mutex.h"
#include "hobbit/v1/hobbit.grpc.pb.h"
#include "runtime/engine/generate_types.h"

namespace hobbit::runtime {
class Engine;
}  // namespace hobbit::runtime

namespace hobbit::server {

class ServingState;

// Owned jointly by gRPC (until OnDone) and by the engine sink (until the final event): it is
// deleted when both are done with it. All state is guarded by mu_; engine methods are never
// called with mu_ held (the engine thread takes mu_ inside the sink).
class GenerateHandler : public grpc::ServerWriteReactor<grpc::ByteBuffer> {
 public:
  // Validates and submits the request; the returned reactor is owned as described above.
  static grpc::ServerWriteReactor<grpc::ByteBuffer>* Start(grpc::CallbackServerContext* context,
                                                            const grpc::ByteBuffer& request,
                                                            const ServingState& state);

  ~GenerateHandler() override = default;

  void OnWriteDone(bool ok) override;
  void OnCancel() override;
  void OnDone() override;

 private:
  explicit GenerateHandler(std::string peer) : peer_(std::move(peer)) {}

  void Submit(const grpc::ByteBuffer& request, const ServingState& state);
  void OnEngineEvent(runtime::GenerateEvent&& event);
  void FinishLocked(const grpc::Status& status) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  void WriteNextLocked() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  void CancelEngineRequest();
  void LogFinal(const runtime::GenerateFinal& final) const;

  std::shared_ptr<GenerateHandler> self_;  // gRPC's reference, dropped in OnDone
  runtime::Engine* engine_ = nullptr;
  std::string request_id_;
  std::string peer_;

  absl::Mutex mu_;
  bool submitted_ ABSL_GUARDED_BY(mu_) = false;
  runtime::RequestId id_ ABSL_GUARDED_BY(mu_) = 0;
  bool cancelled_ ABSL_GUARDED_BY(mu_) = false;     // OnCancel or a failed write
  bool writing_ ABSL_GUARDED_BY(mu_) = false;       // a StartWrite awaits OnWriteDone
  bool finished_ ABSL_GUARDED_BY(mu_) = false;      // Finish was called
  bool final_written_ ABSL_GUARDED_BY(mu_) = false; // the Final message is in flight or sent
  bool has_chunk_ ABSL_GUARDED_BY(mu_) = false;
  bool has_final_ ABSL_GUARDED_BY(mu_) = false;
  hobbit::v1::GenerateResponse pending_chunk_ ABSL_GUARDED_BY(mu_);
  hobbit::v1::GenerateResponse pending_final_ ABSL_GUARDED_BY(mu_);
  grpc::ByteBuffer in_flight_ ABSL_GUARDED_BY(mu_);
};

}  // namespace hobbit::server
