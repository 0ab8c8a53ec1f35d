// The K-quant block encoders behind QuantizeRow. Internal to kernels/quant.
//
// Each encodes n floats (REQUIRES n % 256 == 0, all finite) into n / 256 blocks at dst.
#pragma once

#include <cstdint>

namespace hobbit::kernels::quant_internal {

void QuantizeRowQ2_K(const float* src, uint8_t* dst, int64_t n);
void QuantizeRowQ3_K(const float* src, uint8_t* dst, int64_t n);
void QuantizeRowQ4_K(const float* src, uint8_t* dst, int64_t n);
void QuantizeRowQ5_K(const float* src, uint8_t* dst, int64_t n);
void QuantizeRowQ6_K(const float* src, uint8_t* dst, int64_t n);

}  // namespace hobbit::kernels::quant_internal
