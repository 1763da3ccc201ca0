// Element types and devices.
#pragma once
#include <cstddef>
#include <cstdint>
#include <string>

namespace ish {

enum class DType : uint8_t { F32, F64, BF16, F16, I64, I32, U8 };
enum class Device : uint8_t { CPU, CUDA };

inline size_t itemsize(DType t) {
  switch (t) {
    case DType::F64: case DType::I64: return 8;
    case DType::F32: case DType::I32: return 4;
    case DType::BF16: case DType::F16: return 2;
    case DType::U8: return 1;
  }
  return 0;
}
// Names as safetensors spells them.
inline const char* dtype_name(DType t) {
  switch (t) {
    case DType::F32: return "F32"; case DType::F64: return "F64"; case DType::BF16: return "BF16";
    case DType::F16: return "F16"; case DType::I64: return "I64"; case DType::I32: return "I32";
    case DType::U8: return "U8";
  }
  return "?";
}
bool dtype_from_name(const std::string& s, DType* out);
inline const char* device_name(Device d) { return d == Device::CPU ? "cpu" : "cuda"; }

// bf16/f16 <-> f32 conversions (round to nearest even), used by loaders and casts.
float bf16_to_f32(uint16_t h);
uint16_t f32_to_bf16(float f);
float f16_to_f32(uint16_t h);
uint16_t f32_to_f16(float f);

}  // namespace ish
