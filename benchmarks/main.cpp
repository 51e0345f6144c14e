// benchmarks/main.cpp — Google Benchmark's main for switchyard_bench.
#include <benchmark/benchmark.h>

BENCHMARK_MAIN();
