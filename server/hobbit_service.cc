#include "server/hobbit_service.h"

#include "server/generate_handler.h"
#include "server/request_decoder.h"
#include "server/status_convert.h"

namespace hobbit::server {

namespace v1 = ::hobbit::v1;

namespace {

grpc::ServerUnaryReactor* FinishNow(grpc::CallbackServerContext* context,
                                    const grpc::Status& status) {
  grpc::ServerUnaryReactor* reactor = context->DefaultReactor();
  reactor->Finish(status);
  return reactor;
}

}  // namespace

grpc::ServerWriteReactor<grpc::ByteBuffer>* HobbitService::Generate(
    grpc::CallbackServerContext* context, const grpc::ByteBuffer* request) {
  return GenerateHandler::Start(context, *request, *state_);
}

grpc::ServerUnaryReactor* HobbitService::Tokenize(grpc::CallbackServerContext* context,
                                                  const grpc::ByteBuffer* request,
                                                  grpc::ByteBuffer* response) {
  v1::TokenizeRequest decoded;
  if (absl::Status status = DecodeRequest(*request, &decoded); !status.ok()) {
    return FinishNow(context, ToGrpcStatus(status));
  }
  v1::TokenizeResponse result;
  grpc::Status status = admin_.Tokenize(decoded, &result);
  if (status.ok()) EncodeResponse(result, response);
  return FinishNow(context, status);
}

grpc::ServerUnaryReactor* HobbitService::GetModelInfo(grpc::CallbackServerContext* context,
                                                      const v1::GetModelInfoRequest* request,
                                                      v1::GetModelInfoResponse* response) {
  return FinishNow(context, admin_.GetModelInfo(*request, response));
}

grpc::ServerUnaryReactor* HobbitService::GetCacheStats(grpc::CallbackServerContext* context,
                                                       const v1::GetCacheStatsRequest* request,
                                                       v1::GetCacheStatsResponse* response) {
  return FinishNow(context, admin_.GetCacheStats(*request, response));
}

}  // namespace hobbit::server
