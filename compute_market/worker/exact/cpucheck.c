/* Built for the baseline x86-64 ISA, so it runs on any x86-64 CPU: reports whether the CPU and the OS
 * support what kernels.c is built for (AVX2 and FMA3; `__builtin_cpu_supports` also checks that the OS
 * saves the AVX registers). */
int gx_cpu_supports_kernels(void) {
    __builtin_cpu_init();
    return __builtin_cpu_supports("avx") && __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma");
}
