#include "quant_reference.h"

#include <cstring>
#include <fstream>
#include <iterator>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"

namespace hobbit::kernels {
namespace {

bool ReadU32(const std::vector<uint8_t>& data, size_t* pos, uint32_t* v) {
  if (data.size() - *pos < 4) return false;
  std::memcpy(v, data.data() + *pos, 4);
  *pos += 4;
  return true;
}

}  // namespace

std::string QuantReferencePath() {
  return std::string(HOBBIT_SOURCE_DIR) + "/tests/fixtures/quant_reference/quant_reference.bin";
}

absl::StatusOr<std::vector<QuantReferenceRecord>> LoadQuantReference(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return absl::NotFoundError(absl::StrCat("cannot open ", path));
  const std::vector<uint8_t> data((std::istreambuf_iterator<char>(in)),
                                  std::istreambuf_iterator<char>());
  if (data.size() < 12 || std::memcmp(data.data(), "HQREF001", 8) != 0) {
    return absl::InvalidArgumentError(absl::StrCat(path, ": not a quant reference file (magic)"));
  }
  size_t pos = 8;
  uint32_t count = 0;
  ReadU32(data, &pos, &count);
  std::vector<QuantReferenceRecord> records;
  for (uint32_t r = 0; r < count; ++r) {
    const size_t start = pos;
    uint32_t type, kind, n, n_bytes;
    if (!ReadU32(data, &pos, &type) || !ReadU32(data, &pos, &kind) || !ReadU32(data, &pos, &n) ||
        !ReadU32(data, &pos, &n_bytes) || kind > 1 ||
        data.size() - pos < static_cast<size_t>(n_bytes) + 4ull * n) {
      return absl::InvalidArgumentError(
          absl::StrCat(path, ": bad record ", r, " at offset ", start));
    }
    QuantReferenceRecord rec{static_cast<GgmlType>(type),
                             static_cast<QuantReferenceRecord::Kind>(kind), n,
                             std::vector<uint8_t>(n_bytes), std::vector<float>(n)};
    const size_t float_bytes = 4ull * n;
    const size_t bytes_at = kind == 0 ? pos : pos + float_bytes;
    const size_t floats_at = kind == 0 ? pos + n_bytes : pos;
    std::memcpy(rec.bytes.data(), data.data() + bytes_at, n_bytes);
    std::memcpy(rec.floats.data(), data.data() + floats_at, float_bytes);
    pos += n_bytes + float_bytes;
    records.push_back(std::move(rec));
  }
  return records;
}

}  // namespace hobbit::kernels
