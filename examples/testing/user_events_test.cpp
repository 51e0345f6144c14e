// User events over pub/sub (examples/user_events.cpp): a session tracker on "user.login" and an
// auditor on every channel it is given, run on the test's thread.
#include <catch2/catch.hpp>
#include <switchyard/switchyard.hpp>
#include <switchyard/testing.hpp>
#include <switchyard/testing/catch.hpp>

#include <algorithm>
#include <set>
#include <string>
#include <vector>

using namespace switchyard;

TEST_CASE("a login opens a session and every user event is audited") {
  auto clock = std::make_shared<testing::VirtualClock>();
  auto recorder = std::make_shared<testing::Recorder>(clock);
  Broker broker({.clock = clock, .interceptors = {recorder}});
  testing::Dispatcher dispatcher(broker, clock);
  std::set<std::string> sessions;
  std::vector<std::string> audit;
  dispatcher.subscribe("user.login",
                       [&](const Message& m) { sessions.emplace(m.payload().as_string()); });
  for (const char* channel : {"user.login", "user.signup"}) {
    dispatcher.subscribe(channel, [&audit, channel](const Message& m) {
      audit.push_back(std::string(channel) + ":" + std::string(m.payload().as_string()));
    });
  }
  CHECK(broker.publish("user.signup", "ada") == 1);
  CHECK(broker.publish("user.login", "ada") == 2);
  dispatcher.run_until_idle();
  CHECK(sessions == std::set<std::string>{"ada"});
  // Subscriptions are independent: each sees its channel in order, not in one global order.
  std::sort(audit.begin(), audit.end());
  CHECK(audit == std::vector<std::string>{"user.login:ada", "user.signup:ada"});
  CHECK_THAT(*recorder, testing::Delivered("user.login", 2));
}
