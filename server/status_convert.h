// ToGrpcStatus: the one place where an absl::Status becomes a grpc::Status.
//
//   return ToGrpcStatus(engine->Submit(...).status());
//
// Codes map one to one (both follow google.rpc.Code); the message is kept as it is.
#pragma once

#include <grpcpp/support/status.h>

#include "absl/status/status.h"

namespace hobbit::server {

grpc::Status ToGrpcStatus(const absl::Status& status);

}  // namespace hobbit::server
