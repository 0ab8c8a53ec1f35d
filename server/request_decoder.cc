#include "server/request_decoder.h"

#include <google/protobuf/descriptor.h>
#include <google/protobuf/io/coded_stream.h>
#include <google/protobuf/message.h>
#include <google/protobuf/wire_format_lite.h>
#include <grpcpp/support/slice.h>

#include <map>
#include <optional>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "server/utf8_validator.h"

namespace hobbit::server {
namespace {

using google::protobuf::Descriptor;
using google::protobuf::FieldDescriptor;
using google::protobuf::io::CodedInputStream;
using google::protobuf::internal::WireFormatLite;

constexpr int kMaxNesting = 16;

std::string FieldPath(const std::string& prefix, const FieldDescriptor& field, int index) {
  std::string name = prefix.empty() ? field.name() : absl::StrCat(prefix, ".", field.name());
  return field.is_repeated() ? absl::StrCat(name, "[", index, "]") : name;
}

// Walks the wire format of `bytes` as a `descriptor` message and returns the message
// "<field path>: not valid UTF-8 (at byte N)" for the first string field that is not UTF-8.
std::optional<std::string> FindInvalidUtf8Field(const std::string& bytes,
                                                const Descriptor& descriptor,
                                                const std::string& prefix, int depth) {
  if (depth > kMaxNesting) return std::nullopt;
  CodedInputStream input(reinterpret_cast<const uint8_t*>(bytes.data()),
                         static_cast<int>(bytes.size()));
  std::map<int, int> seen;  // field number -> occurrences, for list indexes
  while (uint32_t tag = input.ReadTag()) {
    const FieldDescriptor* field = descriptor.FindFieldByNumber(WireFormatLite::GetTagFieldNumber(tag));
    if (WireFormatLite::GetTagWireType(tag) != WireFormatLite::WIRETYPE_LENGTH_DELIMITED) {
      if (!WireFormatLite::SkipField(&input, tag)) return std::nullopt;
      continue;
    }
    uint32_t length = 0;
    std::string payload;
    if (!input.ReadVarint32(&length) || !input.ReadString(&payload, static_cast<int>(length))) {
      return std::nullopt;
    }
    if (field == nullptr) continue;
    int index = seen[field->number()]++;
    if (field->type() == FieldDescriptor::TYPE_STRING) {
      size_t bad = FindInvalidUtf8(payload);
      if (bad != absl::string_view::npos) {
        return absl::StrCat(FieldPath(prefix, *field, index), ": not valid UTF-8 (at byte ", bad,
                            ")");
      }
    } else if (field->type() == FieldDescriptor::TYPE_MESSAGE) {
      std::optional<std::string> inner = FindInvalidUtf8Field(
          payload, *field->message_type(), FieldPath(prefix, *field, index), depth + 1);
      if (inner) return inner;
    }
  }
  return std::nullopt;
}

}  // namespace

absl::Status DecodeRequest(const grpc::ByteBuffer& buffer, google::protobuf::Message* message) {
  std::vector<grpc::Slice> slices;
  std::string bytes;
  if (!buffer.Dump(&slices).ok()) return absl::InvalidArgumentError("request: unreadable message");
  for (const grpc::Slice& slice : slices) {
    bytes.append(reinterpret_cast<const char*>(slice.begin()), slice.size());
  }
  message->Clear();
  if (message->ParseFromString(bytes)) return absl::OkStatus();
  std::optional<std::string> utf8 = FindInvalidUtf8Field(bytes, *message->GetDescriptor(), "", 0);
  if (utf8) return absl::InvalidArgumentError(*utf8);
  return absl::InvalidArgumentError(
      absl::StrCat("request: not a valid ", message->GetDescriptor()->full_name(), " message"));
}

void EncodeResponse(const google::protobuf::Message& message, grpc::ByteBuffer* buffer) {
  std::string bytes = message.SerializeAsString();
  grpc::Slice slice(bytes);
  grpc::ByteBuffer encoded(&slice, 1);
  buffer->Swap(&encoded);
}

}  // namespace hobbit::server
