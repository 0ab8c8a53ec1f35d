// Reader for tests/fixtures/quant_reference/quant_reference.bin, the gguf-py reference data that
// make_quant_reference.py (next to it) regenerates; the file format is described there.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "kernels/base/ggml_type.h"

namespace hobbit::kernels {

// One row of reference data: `bytes` are the encoded row and `floats` the decoded one.
// kDequantize: floats = gguf.quants.dequantize(bytes). kQuantize: bytes =
// gguf.quants.quantize(floats).
struct QuantReferenceRecord {
  enum class Kind : uint32_t { kDequantize = 0, kQuantize = 1 };
  GgmlType type;
  Kind kind;
  int64_t n;
  std::vector<uint8_t> bytes;
  std::vector<float> floats;
};

// All records of the file at `path`; an error names the path and the offset of a bad record.
absl::StatusOr<std::vector<QuantReferenceRecord>> LoadQuantReference(const std::string& path);

// The fixture's path in the source tree.
std::string QuantReferencePath();

}  // namespace hobbit::kernels
