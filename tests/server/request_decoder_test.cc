#include "server/request_decoder.h"

#include <gtest/gtest.h>
#include <grpcpp/support/slice.h>

#include <string>

#include "hobbit/v1/hobbit.pb.h"

namespace hobbit::server {
namespace {

namespace v1 = ::hobbit::v1;

grpc::ByteBuffer Buffer(const std::string& bytes) {
  grpc::Slice slice(bytes);
  return grpc::ByteBuffer(&slice, 1);
}

// Serializes with a marker string, then swaps the marker for invalid bytes: protobuf would log
// and refuse to serialize invalid UTF-8 in a proto3 string, but a client can still send it.
std::string WithInvalidUtf8(const v1::GenerateRequest& request, const std::string& marker,
                            const std::string& bad) {
  std::string bytes = request.SerializeAsString();
  size_t at = bytes.find(marker);
  EXPECT_NE(at, std::string::npos);
  EXPECT_EQ(marker.size(), bad.size());
  bytes.replace(at, marker.size(), bad);
  return bytes;
}

TEST(RequestDecoderTest, ValidRequestRoundTrips) {
  v1::GenerateRequest request;
  request.set_text("héllo");
  request.set_max_tokens(5);
  grpc::ByteBuffer buffer;
  EncodeResponse(request, &buffer);
  v1::GenerateRequest decoded;
  ASSERT_TRUE(DecodeRequest(buffer, &decoded).ok());
  EXPECT_EQ(decoded.text(), "héllo");
  EXPECT_EQ(decoded.max_tokens(), 5);
}

TEST(RequestDecoderTest, InvalidUtf8IsNamedByFieldPath) {
  v1::GenerateRequest request;
  request.set_text("abcd");
  v1::GenerateRequest decoded;
  absl::Status status =
      DecodeRequest(Buffer(WithInvalidUtf8(request, "abcd", "ab\xC3(")), &decoded);
  EXPECT_EQ(status.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(status.message(), "text: not valid UTF-8 (at byte 2)");

  request.clear_text();
  auto* chat = request.mutable_chat();
  chat->add_messages()->set_role("user");
  chat->add_messages()->set_content("QQQQ");
  request.add_stop("x");
  status = DecodeRequest(Buffer(WithInvalidUtf8(request, "QQQQ", "\xFF\xFF\xFF\xFF")), &decoded);
  EXPECT_EQ(status.message(), "chat.messages[1].content: not valid UTF-8 (at byte 0)");

  request.clear_chat();
  request.set_text("ok");
  request.add_stop("ZZ");
  status = DecodeRequest(Buffer(WithInvalidUtf8(request, "ZZ", "\xED\xA0")), &decoded);
  EXPECT_EQ(status.message(), "stop[1]: not valid UTF-8 (at byte 0)");
}

TEST(RequestDecoderTest, GarbageIsNamedAsTheRequest) {
  v1::GenerateRequest decoded;
  absl::Status status = DecodeRequest(Buffer("\xFF\xFF\xFF\xFF\xFF"), &decoded);
  EXPECT_EQ(status.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(status.message(), "request: not a valid hobbit.v1.GenerateRequest message");
}

}  // namespace
}  // namespace hobbit::server
