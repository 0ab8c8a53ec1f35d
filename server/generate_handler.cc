#include "server/generate_handler.h"

#include <utility>

#include "absl/strings/escaping.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "runtime/engine/engine.h"
#include "server/logger.h"
#include "server/metrics_registry.h"
#include "server/proto_convert.h"
#include "server/request_decoder.h"
#include "server/serving_state.h"
#include "server/status_convert.h"

namespace hobbit::server {

namespace v1 = ::hobbit::v1;

grpc::ServerWriteReactor<grpc::ByteBuffer>* GenerateHandler::Start(
    grpc::CallbackServerContext* context, const grpc::ByteBuffer& request,
    const ServingState& state) {
  std::shared_ptr<GenerateHandler> handler(new GenerateHandler(context->peer()));
  handler->self_ = handler;
  handler->Submit(request, state);
  return handler.get();
}

void GenerateHandler::Submit(const grpc::ByteBuffer& buffer, const ServingState& state) {
  v1::GenerateRequest request;
  absl::Status decoded = DecodeRequest(buffer, &request);
  // Logged before it is validated (a rejected request is logged too): escaped, so an id with a
  // newline cannot forge a log line.
  request_id_ = request.request_id().size() <= kMaxRequestIdBytes ? absl::CHexEscape(request.request_id()) : "";
  absl::StatusOr<const ServingContext*> serving = state.ForGenerate();
  absl::StatusOr<runtime::GenerateRequest> engine_request = absl::UnknownError("not converted");
  if (!decoded.ok()) {
    engine_request = decoded;
  } else if (!serving.ok()) {
    engine_request = serving.status();
  } else {
    engine_request = ToEngineRequest(request, (*serving)->limits, *(*serving)->encoder);
  }
  absl::StatusOr<runtime::RequestId> id = absl::UnknownError("not submitted");
  if (engine_request.ok()) {
    engine_ = (*serving)->engine;
    std::shared_ptr<GenerateHandler> self = self_;  // the engine's reference
    id = engine_->Submit(std::move(*engine_request), [self](runtime::GenerateEvent&& event) {
      self->OnEngineEvent(std::move(event));
    });
  } else {
    id = engine_request.status();
  }
  bool cancel_now = false;
  {
    absl::MutexLock lock(&mu_);
    if (!id.ok()) {
      Logger::Info(absl::StrCat("request id=", request_id_, " peer=", peer_, " rejected: ",
                                id.status().ToString()));
      FinishLocked(ToGrpcStatus(id.status()));
      return;
    }
    submitted_ = true;
    id_ = *id;
    cancel_now = cancelled_;
  }
  if (cancel_now) CancelEngineRequest();
}

void GenerateHandler::OnEngineEvent(runtime::GenerateEvent&& event) {
  if (event.is_final) {
    LogFinal(event.final);
    MetricsRegistry::ObserveFinal(event.final);
  }
  absl::MutexLock lock(&mu_);
  if (finished_) return;
  if (!event.is_final) {
    AppendChunk(event.chunk, pending_chunk_.mutable_chunk());
    has_chunk_ = true;
  } else if (cancelled_) {
    // Nobody is listening; the status reaches a client that is still there.
    FinishLocked(grpc::Status(grpc::StatusCode::CANCELLED, "the request was cancelled"));
    return;
  } else {
    ToProtoFinal(event.final, pending_final_.mutable_final());
    has_final_ = true;
  }
  WriteNextLocked();
}

void GenerateHandler::WriteNextLocked() {
  if (writing_ || finished_) return;
  if (has_chunk_) {
    EncodeResponse(pending_chunk_, &in_flight_);
    pending_chunk_.Clear();
    has_chunk_ = false;
  } else if (has_final_) {
    EncodeResponse(pending_final_, &in_flight_);
    has_final_ = false;
    final_written_ = true;
  } else {
    if (final_written_) FinishLocked(grpc::Status::OK);
    return;
  }
  writing_ = true;
  StartWrite(&in_flight_);
}

void GenerateHandler::OnWriteDone(bool ok) {
  bool cancel = false;
  {
    absl::MutexLock lock(&mu_);
    writing_ = false;
    if (ok) {
      WriteNextLocked();
      return;
    }
    // The stream broke (client gone): stop writing, free the sequence.
    cancel = !cancelled_ && submitted_ && !final_written_;
    cancelled_ = true;
    FinishLocked(grpc::Status(grpc::StatusCode::CANCELLED, "the stream was closed"));
  }
  if (cancel) CancelEngineRequest();
}

void GenerateHandler::OnCancel() {
  bool cancel = false;
  {
    absl::MutexLock lock(&mu_);
    cancel = !cancelled_ && submitted_;
    cancelled_ = true;
  }
  if (cancel) CancelEngineRequest();
}

void GenerateHandler::OnDone() {
  std::shared_ptr<GenerateHandler> self = std::move(self_);
  // `self` may be the last reference: nothing below may touch members.
}

void GenerateHandler::FinishLocked(const grpc::Status& status) {
  if (finished_) return;
  finished_ = true;
  MetricsRegistry::ObserveCall(status.error_code());
  Finish(status);
}

void GenerateHandler::CancelEngineRequest() {
  runtime::RequestId id;
  {
    absl::MutexLock lock(&mu_);
    id = id_;
  }
  engine_->Cancel(id);
}

void GenerateHandler::LogFinal(const runtime::GenerateFinal& final) const {
  Logger::Info(absl::StrFormat(
      "request id=%s peer=%s prompt_tokens=%d generated_tokens=%d queue=%.3fs ttft=%.3fs "
      "total=%.3fs finish=%s%s",
      request_id_, peer_, final.prompt_tokens, final.generated_tokens,
      absl::ToDoubleSeconds(final.queue_time), absl::ToDoubleSeconds(final.time_to_first_token),
      absl::ToDoubleSeconds(final.total_time), FinishReasonName(final.reason),
      final.message.empty() ? "" : absl::StrCat(" message=\"", final.message, "\"")));
}

}  // namespace hobbit::server
