// NumPy .npy files, format v1.0, written exactly as numpy 1.24's np.save writes them: the header dict
// "{'descr': ..., 'fortran_order': False, 'shape': (...), }", 21 - len(repr(shape[0])) spare spaces,
// then spaces and '\n' so the data starts at a multiple of 64. Little-endian, C order.
#pragma once
#include <cstdint>
#include <string>
#include <vector>

#include "engine/tensor.h"
#include "util/fs.h"

namespace ish::eval {

// descr is numpy's type string: "<f4", "<f8", "<i8", "<i4", "|u1".
std::string npy_header(const std::string& descr, const std::vector<int64_t>& shape);
// Writes atomically (util::atomic_write: temp file + rename); creates missing parent directories.
void write_npy(const std::string& path, const std::string& descr, size_t itemsize, const std::vector<int64_t>& shape,
               const void* data);
void write_npy(const std::string& path, const std::vector<float>& v);
void write_npy(const std::string& path, const std::vector<double>& v);
void write_npy(const std::string& path, const std::vector<int64_t>& v);
void write_npy(const std::string& path, const Tensor& t);  // CPU tensor of F32/F64/I64/I32/U8

// Reads a v1.0/v2.0 little-endian C-order .npy of those dtypes into a CPU tensor.
Tensor read_npy(const std::string& path);

// mkdir -p lives in util/fs.h; this name stays while eval/features.cpp still calls eval::make_dirs.
using util::make_dirs;

}  // namespace ish::eval
