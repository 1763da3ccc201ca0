#include "eval/npy.h"

#include <sys/stat.h>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <fstream>

#include "engine/error.h"
#include "util/fs.h"

namespace ish::eval {

std::string npy_header(const std::string& descr, const std::vector<int64_t>& shape) {
  std::string sh = "(";
  for (size_t i = 0; i < shape.size(); i++) sh += (i ? ", " : "") + std::to_string(shape[i]);
  if (shape.size() == 1) sh += ",";
  sh += ")";
  std::string h = "{'descr': '" + descr + "', 'fortran_order': False, 'shape': " + sh + ", }";
  if (!shape.empty()) h += std::string(21 - std::to_string(shape[0]).size(), ' ');  // GROWTH_AXIS_MAX_DIGITS
  const size_t hlen = h.size() + 1;
  const size_t padlen = 64 - ((6 + 2 + 2 + hlen) % 64);  // magic + version + uint16 length; 64 when aligned
  const size_t total = hlen + padlen;
  ISH_CHECK(total <= 65535, "npy header too long");
  std::string out = "\x93NUMPY";
  out += '\x01';
  out += '\x00';
  out += (char)(total & 0xff);
  out += (char)((total >> 8) & 0xff);
  out += h;
  out += std::string(padlen, ' ');
  out += '\n';
  return out;
}

void write_npy(const std::string& path, const std::string& descr, size_t itemsize, const std::vector<int64_t>& shape,
               const void* data) {
  int64_t n = 1;
  for (int64_t s : shape) n *= s;
  const std::string hdr = npy_header(descr, shape);
  util::atomic_write(path, {{hdr.data(), hdr.size()}, {data, n > 0 ? (size_t)n * itemsize : 0}});
}

void write_npy(const std::string& path, const std::vector<float>& v) {
  write_npy(path, "<f4", 4, {(int64_t)v.size()}, v.data());
}
void write_npy(const std::string& path, const std::vector<double>& v) {
  write_npy(path, "<f8", 8, {(int64_t)v.size()}, v.data());
}
void write_npy(const std::string& path, const std::vector<int64_t>& v) {
  write_npy(path, "<i8", 8, {(int64_t)v.size()}, v.data());
}

static const char* descr_of(DType t) {
  switch (t) {
    case DType::F32: return "<f4";
    case DType::F64: return "<f8";
    case DType::I64: return "<i8";
    case DType::I32: return "<i4";
    case DType::U8: return "|u1";
    default: return nullptr;
  }
}

void write_npy(const std::string& path, const Tensor& t) {
  const char* d = descr_of(t.dtype());
  ISH_CHECK(d, "write_npy ", path, ": unsupported dtype ", dtype_name(t.dtype()));
  Tensor c = t.is_cuda() ? t.to(Device::CPU) : t;
  write_npy(path, d, itemsize(t.dtype()), c.shape(), c.raw());
}

Tensor read_npy(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  ISH_CHECK(in, "cannot open ", path);
  char magic[8];
  in.read(magic, 8);
  ISH_CHECK(in && std::memcmp(magic, "\x93NUMPY", 6) == 0, path, ": not a .npy file");
  size_t hlen = 0;
  if (magic[6] == 1) {
    unsigned char b[2];
    in.read((char*)b, 2);
    hlen = b[0] | (b[1] << 8);
  } else {
    ISH_CHECK(magic[6] == 2 || magic[6] == 3, path, ": unsupported .npy version ", (int)magic[6]);
    unsigned char b[4];
    in.read((char*)b, 4);
    hlen = (size_t)b[0] | ((size_t)b[1] << 8) | ((size_t)b[2] << 16) | ((size_t)b[3] << 24);
  }
  ISH_CHECK(in && hlen < (1u << 20), path, ": bad .npy header length");
  std::string h(hlen, '\0');
  in.read(&h[0], hlen);
  ISH_CHECK(in, path, ": truncated .npy header");
  auto field = [&](const std::string& key) {
    size_t p = h.find("'" + key + "'");
    ISH_CHECK(p != std::string::npos, path, ": .npy header lacks ", key);
    p = h.find(':', p);
    ISH_CHECK(p != std::string::npos, path, ": bad .npy header");
    return p + 1;
  };
  size_t p = h.find('\'', field("descr"));
  size_t q = h.find('\'', p + 1);
  ISH_CHECK(p != std::string::npos && q != std::string::npos, path, ": bad descr");
  std::string descr = h.substr(p + 1, q - p - 1);
  ISH_CHECK(h.compare(field("fortran_order"), 6, " False") == 0, path, ": fortran_order arrays are not supported");
  size_t s0 = h.find('(', field("shape")), s1 = h.find(')', s0);
  ISH_CHECK(s0 != std::string::npos && s1 != std::string::npos, path, ": bad shape");
  Shape shape;
  std::string dims = h.substr(s0 + 1, s1 - s0 - 1);
  size_t i = 0;
  while (i < dims.size()) {
    while (i < dims.size() && (dims[i] == ' ' || dims[i] == ',')) i++;
    if (i >= dims.size()) break;
    size_t j = i;
    while (j < dims.size() && dims[j] >= '0' && dims[j] <= '9') j++;
    ISH_CHECK(j > i, path, ": bad shape '", dims, "'");
    shape.push_back(std::stoll(dims.substr(i, j - i)));
    i = j;
  }
  DType dt;
  if (descr == "<f4") dt = DType::F32;
  else if (descr == "<f8") dt = DType::F64;
  else if (descr == "<i8") dt = DType::I64;
  else if (descr == "<i4") dt = DType::I32;
  else if (descr == "|u1") dt = DType::U8;
  else fail(path, ": unsupported dtype ", descr);
  Tensor t = Tensor::empty(shape, dt);
  in.read((char*)t.raw(), (std::streamsize)t.nbytes());
  ISH_CHECK(in || t.nbytes() == 0, path, ": truncated data (", t.nbytes(), " bytes expected)");
  return t;
}

}  // namespace ish::eval
