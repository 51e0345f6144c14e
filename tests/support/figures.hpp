// The one summary line a fault test prints: `figures: <test>: key=value key=value ...` on
// stdout (scripts/run-tests collects every such line from the tests' output and prints them).
// Keys, where they apply: kills sequences operations cut_images faults fuzz_execs accepted
// recovered acked redelivered dead_lettered lost resurrected ghosts msgs_per_s seconds.
#pragma once

#include <chrono>
#include <concepts>
#include <cstdio>
#include <initializer_list>
#include <string>
#include <string_view>

namespace switchyard::test {

/// One `key=value` of a figures line (an integer as is, a floating value with one decimal).
struct Figure {
  template <std::integral T>
  Figure(std::string_view k, T v) : key(k), value(std::to_string(v)) {}
  Figure(std::string_view k, double v) : key(k) {
    char buffer[32];
    std::snprintf(buffer, sizeof buffer, "%.1f", v);
    value = buffer;
  }
  std::string_view key;
  std::string value;
};

/// Prints the figures line of `test` in one write, flushed (a killed or failing process
/// after it cannot lose it).
inline void print_figures(std::string_view test, std::initializer_list<Figure> figures) {
  std::string line = "figures: ";
  line += test;
  line += ':';
  for (const Figure& f : figures) {
    line += ' ';
    line += f.key;
    line += '=';
    line += f.value;
  }
  line += '\n';
  std::fwrite(line.data(), 1, line.size(), stdout);
  std::fflush(stdout);
}

/// Seconds since `started` on the steady clock (for the `seconds` and `msgs_per_s` figures).
inline double seconds_since(std::chrono::steady_clock::time_point started) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count();
}

}  // namespace switchyard::test
