// DecodeRequest / EncodeResponse: protobuf <-> grpc::ByteBuffer for the RPCs whose requests carry
// free text (Generate, Tokenize).
//
// gRPC's generated handlers parse requests before our code runs, and protobuf refuses a proto3
// string field holding invalid UTF-8 without saying which field; gRPC then answers with a status
// that names nothing. These methods are registered raw instead, so an unparsable request becomes
// INVALID_ARGUMENT naming the field ("chat.messages[1].content: not valid UTF-8 (at byte 3)"),
// the same words proto_convert uses.
#pragma once

#include <grpcpp/support/byte_buffer.h>

#include "absl/status/status.h"

namespace google::protobuf {
class Message;
}  // namespace google::protobuf

namespace hobbit::server {

// Parses `buffer` into `message` (cleared first). InvalidArgument naming the field on failure.
absl::Status DecodeRequest(const grpc::ByteBuffer& buffer, google::protobuf::Message* message);

// Serializes `message` into `buffer`.
void EncodeResponse(const google::protobuf::Message& message, grpc::ByteBuffer* buffer);

}  // namespace hobbit::server
