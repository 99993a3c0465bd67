#include "core/runtime.h"

#include <cblas.h>
#include <omp.h>

namespace moegrad {

std::string blas_core_name() { return openblas_get_corename(); }
int blas_num_threads() { return openblas_get_num_threads(); }
int omp_max_threads() { return omp_get_max_threads(); }

bool cpu_has_avx512() {
  __builtin_cpu_init();
  return __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512bw") &&
         __builtin_cpu_supports("avx512dq") && __builtin_cpu_supports("avx512vl");
}

}  // namespace moegrad
