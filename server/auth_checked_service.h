// AuthCheckedService: the hobbit.v1.Hobbit service registered instead of HobbitService when
// auth.tokens_file is set. Each call must carry `authorization: Bearer <token>` metadata with a
// token of the AuthTokenSet; otherwise it finishes with UNAUTHENTICATED before its handler runs,
// and with it, it is handed to the wrapped HobbitService.
//
// The check runs per call in the handler because gRPC 1.51 aborts the process when an
// AuthMetadataProcessor is set on insecure credentials, and tokens must work on plaintext
// listeners too. grpc.health.v1 (probes) and server reflection (the API schema only) are other
// services and stay open.
#pragma once

#include <grpcpp/grpcpp.h>

#include "server/auth_token_set.h"
#include "server/hobbit_service.h"

namespace hobbit::server {

// Thread-safe; `inner` and `tokens` must outlive the service.
class AuthCheckedService final : public HobbitServiceBase {
 public:
  AuthCheckedService(HobbitService* inner, const AuthTokenSet* tokens)
      : inner_(inner), tokens_(tokens) {}

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
  // Whether the call's metadata holds an accepted token.
  bool Authenticated(const grpc::CallbackServerContext& context) const;

  HobbitService* const inner_;
  const AuthTokenSet* const tokens_;
};

}  // namespace hobbit::server
