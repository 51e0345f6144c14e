// switchyard::rabbitmq::parse_url: AMQP URIs (RabbitMQ's URI spec) into RabbitOptions, and a
// typed invalid_argument naming the problem for each malformed one. No server needed.
#include <catch2/catch.hpp>

#include <string>

#include "switchyard/rabbitmq.hpp"

using namespace switchyard;
using switchyard::rabbitmq::parse_url;

namespace {

/// The message of the `invalid_argument` parsing `url` throws ("" when it does not throw one).
std::string refusal(const std::string& url) {
  try {
    (void)parse_url(url);
  } catch (const Error& e) {
    if (e.code() == Errc::invalid_argument) return e.what();
    return "another code: " + std::string(e.what());
  }
  return "";
}

}  // namespace

TEST_CASE("an AMQP URL with every part names the user, password, host, port and vhost") {
  const auto o = parse_url("amqp://alice:s3cret@rabbit.example:5673/orders");
  CHECK(o.user == "alice");
  CHECK(o.password == "s3cret");
  CHECK(o.host == "rabbit.example");
  CHECK(o.port == 5673);
  CHECK(o.vhost == "orders");
}

TEST_CASE(
    "an AMQP URL's missing parts keep the defaults, and an empty vhost is the default "
    "vhost") {
  const rabbitmq::RabbitOptions defaults;
  for (const char* url : {"amqp://", "amqp://127.0.0.1", "amqp://127.0.0.1/", "amqp://:5672/",
                          "AMQP://127.0.0.1:/"}) {
    INFO(url);
    const auto o = parse_url(url);
    CHECK(o.user == defaults.user);
    CHECK(o.password == defaults.password);
    CHECK(o.host == defaults.host);
    CHECK(o.port == defaults.port);
    CHECK(o.vhost == "/");
  }
  const auto o = parse_url("amqp://guest:guest@127.0.0.1:40123/");
  CHECK(o.port == 40123);
  CHECK(o.vhost == "/");
}

TEST_CASE("an AMQP URL's user, password, host and vhost are percent-decoded") {
  const auto o = parse_url("amqp://us%40er:p%3Aa%2Fss@my%2Dhost/%2F");
  CHECK(o.user == "us@er");
  CHECK(o.password == "p:a/ss");
  CHECK(o.host == "my-host");
  CHECK(o.vhost == "/");
  CHECK(parse_url("amqp://h/a%2fb%20c").vhost == "a/b c");
  CHECK(parse_url("amqp://user@h").password.empty());
  const auto empty = parse_url("amqp://:@h");
  CHECK(empty.user.empty());
  CHECK(empty.password.empty());
}

TEST_CASE("an AMQP URL's IPv6 host is written in brackets") {
  const auto o = parse_url("amqp://[::1]:5674/v");
  CHECK(o.host == "::1");
  CHECK(o.port == 5674);
  CHECK(parse_url("amqp://u:p@[fe80::1]").host == "fe80::1");
  CHECK_THAT(refusal("amqp://[::1/v"), Catch::Contains("closing ']'"));
  CHECK_THAT(refusal("amqp://[::1]x/"), Catch::Contains("']'"));
}

TEST_CASE("an amqps URL turns TLS on, on port 5671 unless it names one") {
  const rabbitmq::RabbitOptions tls = parse_url("amqps://guest:guest@h/");
  CHECK(tls.tls.enabled);
  CHECK(tls.port == 5671);
  CHECK(tls.host == "h");
  CHECK(parse_url("AMQPS://h:5999/").port == 5999);
  CHECK_FALSE(parse_url("amqp://h/").tls.enabled);
  CHECK(parse_url("amqp://h/").port == 5672);
}

TEST_CASE("an AMQP URL that is malformed is invalid_argument naming the problem") {
  CHECK_THAT(refusal("http://h/"), Catch::Contains("amqp://"));
  CHECK_THAT(refusal("127.0.0.1:5672"), Catch::Contains("amqp://"));
  CHECK_THAT(refusal(""), Catch::Contains("amqp://"));
  CHECK_THAT(refusal("amqp://h:99999/"), Catch::Contains("out of range"));
  CHECK_THAT(refusal("amqp://h:0/"), Catch::Contains("out of range"));
  CHECK_THAT(refusal("amqp://h:123456789012345678901234567890/"), Catch::Contains("out of range"));
  CHECK_THAT(refusal("amqp://h:56x/"), Catch::Contains("not a number"));
  CHECK_THAT(refusal("amqp://h:-1/"), Catch::Contains("not a number"));
  CHECK_THAT(refusal("amqp://h/a/b"), Catch::Contains("%2F"));
  CHECK_THAT(refusal("amqp://a@b@h/"), Catch::Contains("%40"));
  CHECK_THAT(refusal("amqp://h/%2"), Catch::Contains("vhost"));
  CHECK_THAT(refusal("amqp://h/%zz"), Catch::Contains("two hex digits"));
  CHECK_THAT(refusal("amqp://u:p%g1@h/"), Catch::Contains("password"));
  CHECK_THAT(refusal("amqp://h/?heartbeat=10"), Catch::Contains("heartbeat=10"));
  CHECK_THAT(refusal("amqp://h/#x"), Catch::Contains("fragment"));
}

TEST_CASE("an AMQP URL's error does not repeat the password") {
  const std::string why = refusal("amqp://user:hunter2@h:bad/");
  CHECK_THAT(why, Catch::Contains("not a number"));
  CHECK_THAT(why, !Catch::Contains("hunter2"));
}
