// What every fragment of README.md and docs/*.md is compiled after (tests/docs/docs_snippets.py):
// the headers a user would include, stand-ins for the free names fragments use, and the
// runner of a fragment. A fragment is the body of a function taking `broker` and `producer`;
// its own declarations shadow these.
#pragma once

#include <switchyard/switchyard.hpp>

#include <cassert>
#include <chrono>
#include <cstdio>
#include <iostream>
#include <memory>
#include <stdexcept>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

using namespace std::chrono_literals;

/// A payload to send.
inline const std::string payload = R"({"order": 42})";
/// A partition key.
inline const std::string order_id = "order-42";
/// An application type sent by ownership (`switchyard::object(Order{...})`).
struct Order {
  int id = 0;
  std::string item;
};
/// The application's work: send an email for a delivery's payload (throws on failure).
inline void send_email(std::string_view /*payload*/) {}
/// The application's work on one record of a topic.
inline void handle(const switchyard::Record& /*record*/) {}

/// Runs the fragment `run` (at `where`, "README.md:157"): 0, or 1 if it threw, said on stderr.
template <class F>
int switchyard_snippet_run(const char* where, F&& run) {
  try {
    run();
    return 0;
  } catch (const std::exception& e) {
    std::cerr << where << ": the block threw: " << e.what() << '\n';
    return 1;
  }
}
