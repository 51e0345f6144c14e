// switchyard/testing/catch.hpp — Catch2 (v2) glue for the test kit. Include after
// <catch2/catch.hpp>; the kit itself depends on no test framework.
//
//   REQUIRE(recorder->await_dead_lettered("email-failed"));  // on failure prints expected,
//                                                             // seen, and the recent trace
//   CHECK_THAT(*recorder, testing::Sent("orders", 3));
#pragma once

#include <string>
#include <string_view>

#include "switchyard/testing/recorder.hpp"

namespace Catch {
/// An `Awaited` prints its failure message (what was expected, what was seen, the trace).
template <>
struct StringMaker<switchyard::testing::Awaited> {
  static std::string convert(const switchyard::testing::Awaited& a) {
    return a.met ? std::string("met") : "\n" + a.message;
  }
};
}  // namespace Catch

namespace switchyard::testing {

/// Matches a recorder that holds exactly `count` events of `kind` on `destination`.
class RecordedMatcher : public Catch::MatcherBase<Recorder> {
 public:
  RecordedMatcher(EventKind kind, std::string destination, std::size_t count)
      : kind_(kind), destination_(std::move(destination)), count_(count) {}
  bool match(const Recorder& recorder) const override {
    seen_ = recorder.count(kind_, destination_);
    trace_ = recorder.trace();
    return seen_ == count_;
  }
  std::string describe() const override {
    return "has " + std::to_string(count_) + " " + std::string(to_string(kind_)) + " on '" +
           destination_ + "' (saw " + std::to_string(seen_) + "); recent trace:\n" + trace_;
  }

 private:
  EventKind kind_;
  std::string destination_;
  std::size_t count_;
  mutable std::size_t seen_ = 0;
  mutable std::string trace_;
};

inline RecordedMatcher Sent(std::string destination, std::size_t count) {
  return {EventKind::sent, std::move(destination), count};
}
inline RecordedMatcher Consumed(std::string queue, std::size_t count) {
  return {EventKind::acked, std::move(queue), count};
}
inline RecordedMatcher DeadLettered(std::string queue, std::size_t count) {
  return {EventKind::dead_lettered, std::move(queue), count};
}
inline RecordedMatcher Delivered(std::string channel, std::size_t count) {
  return {EventKind::delivered, std::move(channel), count};
}

}  // namespace switchyard::testing

namespace Catch {
template <>
struct StringMaker<switchyard::testing::Recorder> {
  static std::string convert(const switchyard::testing::Recorder&) { return "the recorder"; }
};
}  // namespace Catch
