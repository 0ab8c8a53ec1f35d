// HobbitService: the hobbit.v1.Hobbit service registered with gRPC; it routes each RPC to its
// handler (GenerateHandler per streaming call, AdminHandler for the unary ones). Generate and
// Tokenize are registered raw (request_decoder.h says why).
#pragma once

#include <grpcpp/grpcpp.h>

#include "hobbit/v1/hobbit.grpc.pb.h"
#include "server/admin_handler.h"

namespace hobbit::server {

class ServingState;

// Thread-safe; `state` must outlive the service.
using HobbitServiceBase = hobbit::v1::Hobbit::WithRawCallbackMethod_Generate<
    hobbit::v1::Hobbit::WithRawCallbackMethod_Tokenize<
        hobbit::v1::Hobbit::WithCallbackMethod_GetModelInfo<
            hobbit::v1::Hobbit::WithCallbackMethod_GetCacheStats<hobbit::v1::Hobbit::Service>>>>;

class HobbitService final : public HobbitServiceBase {
 public:
  explicit HobbitService(const ServingState* state) : state_(state), admin_(state) {}

  grpc::ServerWriteReactor<grpc::ByteBuffer>* Generate(grpc::CallbackServerContext* context,
                                                       const grpc::ByteBuffer* request) override;
  grpc::ServerUnaryReactor* Tokenize(grpc::CallbackServerContext* context,
                                     const grpc::ByteBuffer* request,
                                     grpc::ByteBuffer* response) override;
  grpc::ServerUnaryReactor* GetModelInfo(grpc::CallbackServerContext* context,
                                         const hobbit::v1::GetModelInfoRequest* request,
                                         hobbit::v1::GetModelInfoResponse* response) override;
  grpc::ServerUnaryReactor* GetCacheStats(grpc::CallbackServerContext* context,
                                          const hobbit::v1::GetCacheStatsRequest* request,
                                          hobbit::v1::GetCacheStatsResponse* response) override;

 private:
  const ServingState* const state_;
  const AdminHandler admin_;
};

}  // namespace hobbit::server
