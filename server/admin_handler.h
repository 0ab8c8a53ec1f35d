// AdminHandler: the unary RPCs of hobbit.v1.Hobbit that only read: Tokenize, GetModelInfo and
// GetCacheStats. They answer UNAVAILABLE while the model loads and keep working while the
// daemon drains (so operators can watch a drain).
#pragma once

#include <grpcpp/grpcpp.h>

#include "hobbit/v1/hobbit.pb.h"

namespace hobbit::server {

class ServingState;

// Stateless apart from the shared ServingState; thread-safe.
class AdminHandler {
 public:
  // `state` must outlive the handler.
  explicit AdminHandler(const ServingState* state) : state_(state) {}

  grpc::Status Tokenize(const hobbit::v1::TokenizeRequest& request,
                        hobbit::v1::TokenizeResponse* response) const;
  grpc::Status GetModelInfo(const hobbit::v1::GetModelInfoRequest& request,
                            hobbit::v1::GetModelInfoResponse* response) const;
  grpc::Status GetCacheStats(const hobbit::v1::GetCacheStatsRequest& request,
                             hobbit::v1::GetCacheStatsResponse* response) const;

 private:
  const ServingState* const state_;
};

}  // namespace hobbit::server
