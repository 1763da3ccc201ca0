// Small dense linear algebra in double for the detectors' fit steps (ViM, MDS): a symmetric
// eigensolver (Householder tridiagonalisation + implicit-shift QL) and the pseudo-inverses built on it.
// Matrices are row-major std::vector<double>.
#pragma once
#include <cstdint>
#include <vector>

namespace ish::eval::linalg {

// Eigen-decomposition of the symmetric n x n matrix A (only its values are read; A is not modified).
// Returns eigenvalues ascending in *w and the matching orthonormal eigenvectors as the ROWS of *vt
// (row i of vt is the eigenvector of w[i]), so A = vt^T diag(w) vt.
void sym_eig(int64_t n, const std::vector<double>& A, std::vector<double>* w, std::vector<double>* vt);

// Moore-Penrose pseudo-inverse of the symmetric matrix A (scipy.linalg.pinvh semantics: eigenvalues
// with |l| <= n * eps * max|l| are treated as zero).
std::vector<double> pinvh(int64_t n, const std::vector<double>& A);

// x = pinv(W) * b for W [rows, cols] (float, row-major) and b [rows]: the minimum-norm least-squares
// solution, via the normal equations of the smaller side in double (numpy.linalg.pinv agrees wherever W
// has full rank; singular values below sqrt(n*eps)*s_max are treated as zero).
std::vector<double> pinv_apply(const float* W, int64_t rows, int64_t cols, const float* b);

}  // namespace ish::eval::linalg
