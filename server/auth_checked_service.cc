#include "server/auth_checked_service.h"

#include <iterator>

#include "absl/strings/string_view.h"

namespace hobbit::server {

namespace v1 = ::hobbit::v1;

namespace {

// The same text for a missing and a wrong token, so a caller learns nothing about the set.
const grpc::Status& Unauthenticated() {
  static const grpc::Status* const status = new grpc::Status(
      grpc::StatusCode::UNAUTHENTICATED,
      "this server requires 'authorization: Bearer <token>' metadata with a valid token");
  return *status;
}

grpc::ServerUnaryReactor* Reject(grpc::CallbackServerContext* context) {
  grpc::ServerUnaryReactor* reactor = context->DefaultReactor();
  reactor->Finish(Unauthenticated());
  return reactor;
}

// A stream that ends with UNAUTHENTICATED before writing anything; deletes itself when done.
class RejectedStream final : public grpc::ServerWriteReactor<grpc::ByteBuffer> {
 public:
  RejectedStream() { Finish(Unauthenticated()); }
  void OnDone() override { delete this; }
};

}  // namespace

bool AuthCheckedService::Authenticated(const grpc::CallbackServerContext& context) const {
  const auto& metadata = context.client_metadata();
  auto [begin, end] = metadata.equal_range("authorization");
  // Exactly one authorization entry: a second one would make "which one counts" ambiguous.
  if (begin == end || std::next(begin) != end) return false;
  return tokens_->AcceptsAuthorization(
      absl::string_view(begin->second.data(), begin->second.size()));
}

grpc::ServerWriteReactor<grpc::ByteBuffer>* AuthCheckedService::Generate(
    grpc::CallbackServerContext* context, const grpc::ByteBuffer* request) {
  if (!Authenticated(*context)) return new RejectedStream();
  return inner_->Generate(context, request);
}

grpc::ServerUnaryReactor* AuthCheckedService::Tokenize(grpc::CallbackServerContext* context,
                                                       const grpc::ByteBuffer* request,
                                                       grpc::ByteBuffer* response) {
  if (!Authenticated(*context)) return Reject(context);
  return inner_->Tokenize(context, request, response);
}

grpc::ServerUnaryReactor* AuthCheckedService::GetModelInfo(grpc::CallbackServerContext* context,
                                                           const v1::GetModelInfoRequest* request,
                                                           v1::GetModelInfoResponse* response) {
  if (!Authenticated(*context)) return Reject(context);
  return inner_->GetModelInfo(context, request, response);
}

grpc::ServerUnaryReactor* AuthCheckedService::GetCacheStats(grpc::CallbackServerContext* context,
                                                            const v1::GetCacheStatsRequest* request,
                                                            v1::GetCacheStatsResponse* response) {
  if (!Authenticated(*context)) return Reject(context);
  return inner_->GetCacheStats(context, request, response);
}

}  // namespace hobbit::server
