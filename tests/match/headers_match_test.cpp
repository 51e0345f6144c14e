#include "match/headers_match.hpp"

#include <catch2/catch.hpp>

#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

using switchyard::Errc;
using switchyard::detail::HeaderArgument;
using switchyard::detail::headers_match;
using switchyard::detail::HeadersBinding;
using switchyard::detail::HeadersMatch;
using switchyard::detail::make_headers_binding;
using switchyard::detail::parse_headers_match;

namespace {

using Headers = std::vector<std::pair<std::string, std::string>>;

HeadersBinding binding(std::vector<HeaderArgument> arguments) {
  auto made = make_headers_binding(std::move(arguments));
  REQUIRE(made);
  return *made;
}

}  // namespace

TEST_CASE("x-match all requires every argument to match") {
  const auto b = binding({{"x-match", "all"}, {"format", "pdf"}, {"type", "report"}});
  CHECK(headers_match(b, Headers{{"format", "pdf"}, {"type", "report"}}));
  CHECK(headers_match(b, Headers{{"type", "report"}, {"format", "pdf"}, {"extra", "1"}}));
  CHECK_FALSE(headers_match(b, Headers{{"format", "pdf"}}));
  CHECK_FALSE(headers_match(b, Headers{{"format", "pdf"}, {"type", "log"}}));
}

TEST_CASE("a binding without x-match behaves as all") {
  const auto b = binding({{"format", "pdf"}, {"type", "report"}});
  CHECK(b.mode == HeadersMatch::all);
  CHECK(headers_match(b, Headers{{"format", "pdf"}, {"type", "report"}}));
  CHECK_FALSE(headers_match(b, Headers{{"format", "pdf"}}));
}

TEST_CASE("x-match any requires at least one argument to match") {
  const auto b = binding({{"x-match", "any"}, {"format", "pdf"}, {"type", "report"}});
  CHECK(headers_match(b, Headers{{"type", "report"}}));
  CHECK(headers_match(b, Headers{{"format", "pdf"}, {"type", "log"}}));
  CHECK_FALSE(headers_match(b, Headers{{"type", "log"}}));
  CHECK_FALSE(headers_match(b, Headers{}));
}

TEST_CASE("values compare exactly and case-sensitively") {
  const auto b = binding({{"format", "pdf"}});
  CHECK_FALSE(headers_match(b, Headers{{"format", "PDF"}}));
  CHECK_FALSE(headers_match(b, Headers{{"Format", "pdf"}}));
  CHECK_FALSE(headers_match(b, Headers{{"format", "pdf "}}));
}

TEST_CASE("an argument without a value matches on the header's presence alone") {
  const auto b = binding({{"trace-id", std::nullopt}});
  CHECK(headers_match(b, Headers{{"trace-id", "abc"}}));
  CHECK(headers_match(b, Headers{{"trace-id", ""}}));
  CHECK_FALSE(headers_match(b, Headers{{"span-id", "abc"}}));
}

TEST_CASE("an argument with an empty value requires the header to be present and empty") {
  const auto b = binding({{"note", ""}});
  CHECK(headers_match(b, Headers{{"note", ""}}));
  CHECK_FALSE(headers_match(b, Headers{{"note", "x"}}));
  CHECK_FALSE(headers_match(b, Headers{}));
}

TEST_CASE("all and any skip arguments named x- but the with-x modes compare them") {
  const std::vector<HeaderArgument> args{{"x-tenant", "a"}, {"format", "pdf"}};
  const Headers pdf_only{{"format", "pdf"}};
  const Headers pdf_tenant{{"format", "pdf"}, {"x-tenant", "a"}};
  const Headers tenant_only{{"x-tenant", "a"}};
  CHECK(headers_match(HeadersMatch::all, args, pdf_only));
  CHECK_FALSE(headers_match(HeadersMatch::all_with_x, args, pdf_only));
  CHECK(headers_match(HeadersMatch::all_with_x, args, pdf_tenant));
  CHECK_FALSE(headers_match(HeadersMatch::any, args, tenant_only));
  CHECK(headers_match(HeadersMatch::any_with_x, args, tenant_only));
}

TEST_CASE("a binding with no usable arguments matches everything under all and nothing under any") {
  const Headers some{{"a", "1"}};
  CHECK(headers_match(HeadersMatch::all, {}, some));
  CHECK(headers_match(HeadersMatch::all, {}, Headers{}));
  CHECK_FALSE(headers_match(HeadersMatch::any, {}, some));
  const std::vector<HeaderArgument> only_x{{"x-tenant", "a"}};
  CHECK(headers_match(HeadersMatch::all, only_x, Headers{}));
  CHECK_FALSE(headers_match(HeadersMatch::any, only_x, Headers{{"x-tenant", "a"}}));
}

TEST_CASE("the x-match argument itself never takes part in matching") {
  const std::vector<HeaderArgument> args{{"x-match", "all-with-x"}, {"k", "v"}};
  CHECK(headers_match(HeadersMatch::all_with_x, args, Headers{{"k", "v"}}));
  const auto b = binding({{"x-match", "any-with-x"}, {"k", "v"}});
  CHECK(b.arguments == std::vector<HeaderArgument>{{"k", "v"}});
  CHECK(b.mode == HeadersMatch::any_with_x);
}

TEST_CASE("an unknown or valueless x-match is rejected at binding time") {
  auto bad = make_headers_binding({{"x-match", "some"}, {"k", "v"}});
  CHECK(bad.code() == Errc::invalid_argument);
  CHECK_THAT(bad.message(), Catch::Contains("\"some\""));
  CHECK(make_headers_binding({{"x-match", std::nullopt}}).code() == Errc::invalid_argument);
  CHECK(make_headers_binding({{"x-match", "ALL"}}).code() == Errc::invalid_argument);
  for (auto mode : {"all", "any", "all-with-x", "any-with-x"}) {
    CHECK(parse_headers_match(mode));
  }
}

TEST_CASE("a header repeated in a message satisfies an argument if any copy matches") {
  const auto b = binding({{"tag", "blue"}});
  CHECK(headers_match(b, Headers{{"tag", "red"}, {"tag", "blue"}}));
  CHECK_FALSE(headers_match(b, Headers{{"tag", "red"}, {"tag", "green"}}));
}

TEST_CASE("headers may come from a map or from string views") {
  const auto b = binding({{"x-match", "any"}, {"a", "1"}});
  CHECK(headers_match(b, std::map<std::string, std::string>{{"a", "1"}}));
  CHECK(headers_match(b, std::vector<std::pair<std::string_view, std::string_view>>{{"a", "1"}}));
}
