#include "server/admin_handler.h"

#include "runtime/engine/engine.h"
#include "server/proto_convert.h"
#include "server/serving_state.h"
#include "server/status_convert.h"

namespace hobbit::server {

namespace v1 = ::hobbit::v1;

grpc::Status AdminHandler::Tokenize(const v1::TokenizeRequest& request,
                                    v1::TokenizeResponse* response) const {
  absl::StatusOr<const ServingContext*> serving = state_->ForAdmin();
  if (!serving.ok()) return ToGrpcStatus(serving.status());
  absl::StatusOr<std::vector<int32_t>> ids = TokenizeText(request, *(*serving)->encoder);
  if (!ids.ok()) return ToGrpcStatus(ids.status());
  for (int32_t id : *ids) {
    response->add_ids(id);
    if (request.return_pieces()) response->add_pieces((*serving)->encoder->TokenPiece(id));
  }
  return grpc::Status::OK;
}

grpc::Status AdminHandler::GetModelInfo(const v1::GetModelInfoRequest& /*request*/,
                                        v1::GetModelInfoResponse* response) const {
  absl::StatusOr<const ServingContext*> serving = state_->ForAdmin();
  if (!serving.ok()) return ToGrpcStatus(serving.status());
  const ServingContext& context = **serving;
  ToProtoModelInfo(context.engine->model_config(), context.options, context.limits,
                   context.has_chat_template, response);
  return grpc::Status::OK;
}

grpc::Status AdminHandler::GetCacheStats(const v1::GetCacheStatsRequest& /*request*/,
                                         v1::GetCacheStatsResponse* response) const {
  absl::StatusOr<const ServingContext*> serving = state_->ForAdmin();
  if (!serving.ok()) return ToGrpcStatus(serving.status());
  ToProtoCacheStats((*serving)->engine->GetStats(), response);
  return grpc::Status::OK;
}

}  // namespace hobbit::server
