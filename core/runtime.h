// Facts about the running process that users and benchmarks report: the
// BLAS kernel in use, thread counts, and the CPU-speed advice for embedders.
//
// Debian's OpenBLAS picks its kernel when the library loads, from the
// environment variable OPENBLAS_CORETYPE or else from CPU detection, which
// chooses the AVX2 (Haswell) kernel even on AVX-512 CPUs. SkylakeX's AVX-512
// kernel runs sgemm about 1.9x faster there. The `moegrad` binary picks it
// and re-executes itself (apps/moegrad.cpp); a program embedding moegrad
// should export OPENBLAS_CORETYPE=SkylakeX before it starts, on a CPU where
// cpu_has_avx512() is true.
#pragma once

#include <string>

namespace moegrad {

std::string blas_core_name();  // e.g. "Haswell", "SkylakeX"
int blas_num_threads();
int omp_max_threads();
bool cpu_has_avx512();         // AVX-512 F, BW, DQ and VL: what SkylakeX kernels use

}  // namespace moegrad
