// switchyard::rabbitmq::parse_url (switchyard/rabbitmq.hpp): an AMQP URI, as RabbitMQ's URI
// spec writes it, into RabbitOptions.
//
//   amqp_URI       = "amqp://" amqp_authority [ "/" vhost ] [ "?" query ]
//   amqp_authority = [ amqp_userinfo "@" ] host [ ":" port ]
//   amqp_userinfo  = username [ ":" password ]
//
// Ours, not rabbitmq-c's amqp_parse_url: that one answers only "bad URL", edits its input in
// place, and takes an empty vhost as the name "" (which no server has by default). Messages
// never repeat the URL: it may hold a password.
#include <fmt/format.h>

#include <charconv>
#include <cstdint>
#include <string>
#include <string_view>

#include "switchyard/error.hpp"
#include "switchyard/rabbitmq.hpp"

namespace switchyard::rabbitmq {
namespace {

[[noreturn]] void bad(std::string_view problem) {
  throw Error(Errc::invalid_argument, fmt::format("rabbitmq: AMQP URL: {}", problem));
}

int hex_digit(char c) noexcept {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

/// `part` percent-decoded; `what` names it in the error.
std::string decode(std::string_view part, std::string_view what) {
  std::string out;
  out.reserve(part.size());
  for (std::size_t i = 0; i < part.size(); ++i) {
    if (part[i] != '%') {
      out += part[i];
      continue;
    }
    const bool two = i + 2 < part.size();
    const int high = two ? hex_digit(part[i + 1]) : -1;
    const int low = two ? hex_digit(part[i + 2]) : -1;
    if (high < 0 || low < 0) {
      bad(fmt::format("the {} has a '%' not followed by two hex digits", what));
    }
    out += static_cast<char>(high * 16 + low);
    i += 2;
  }
  return out;
}

bool starts_with_scheme(std::string_view url, std::string_view scheme) noexcept {
  if (url.size() < scheme.size()) return false;
  for (std::size_t i = 0; i < scheme.size(); ++i) {
    const char c = url[i] >= 'A' && url[i] <= 'Z' ? static_cast<char>(url[i] - 'A' + 'a') : url[i];
    if (c != scheme[i]) return false;
  }
  return true;
}

}  // namespace

RabbitOptions parse_url(std::string_view url) {
  RabbitOptions options;
  std::string_view rest;
  if (starts_with_scheme(url, "amqps://")) {
    // TLS, on RabbitMQ's TLS port unless the URL names one; the certificate files are the
    // caller's to add (RabbitOptions::tls).
    options.tls.enabled = true;
    options.port = 5671;
    rest = url.substr(8);
  } else if (starts_with_scheme(url, "amqp://")) {
    rest = url.substr(7);
  } else {
    bad("it does not begin with amqp:// or amqps://");
  }
  if (const auto hash = rest.find('#'); hash != std::string_view::npos) {
    bad("a fragment ('#...') has no meaning in an AMQP URL");
  }
  if (const auto query = rest.find('?'); query != std::string_view::npos) {
    bad(fmt::format("query parameters are not supported yet ('{}')", rest.substr(query + 1)));
  }
  const auto slash = rest.find('/');
  const std::string_view authority = rest.substr(0, slash);
  if (slash != std::string_view::npos) {
    const std::string_view vhost = rest.substr(slash + 1);
    if (vhost.find('/') != std::string_view::npos) {
      bad("the vhost holds a '/': encode it as %2F (the vhost \"/\" is amqp://host/%2F)");
    }
    if (!vhost.empty()) options.vhost = decode(vhost, "vhost");
  }

  std::string_view hostport = authority;
  if (const auto at = authority.rfind('@'); at != std::string_view::npos) {
    const std::string_view userinfo = authority.substr(0, at);
    if (userinfo.find('@') != std::string_view::npos) {
      bad("more than one '@': encode an '@' in the user or password as %40");
    }
    const auto colon = userinfo.find(':');
    options.user = decode(userinfo.substr(0, colon), "user");
    options.password = colon == std::string_view::npos
                           ? std::string()
                           : decode(userinfo.substr(colon + 1), "password");
    hostport = authority.substr(at + 1);
  }

  std::string_view host = hostport;
  std::string_view port;
  bool has_port = false;
  if (hostport.starts_with('[')) {
    const auto close = hostport.find(']');
    if (close == std::string_view::npos) bad("an IPv6 host has no closing ']'");
    host = hostport.substr(1, close - 1);
    if (host.empty()) bad("the IPv6 host between '[' and ']' is empty");
    const std::string_view after = hostport.substr(close + 1);
    if (!after.empty() && !after.starts_with(':'))
      bad("the host ends at ']'; a ':port' may follow");
    has_port = !after.empty();
    if (has_port) port = after.substr(1);
  } else if (const auto colon = hostport.find(':'); colon != std::string_view::npos) {
    host = hostport.substr(0, colon);
    port = hostport.substr(colon + 1);
    has_port = true;
  }
  if (!host.empty()) options.host = decode(host, "host");
  if (has_port && !port.empty()) {
    unsigned value = 0;
    const auto [end, ec] = std::from_chars(port.data(), port.data() + port.size(), value);
    if (ec == std::errc::result_out_of_range ||
        (ec == std::errc{} && end == port.data() + port.size() && (value == 0 || value > 65'535))) {
      bad(fmt::format("port '{}' is out of range (1 to 65535)", port));
    }
    if (ec != std::errc{} || end != port.data() + port.size()) {
      bad(fmt::format("port '{}' is not a number", port));
    }
    options.port = static_cast<std::uint16_t>(value);
  }
  return options;
}

}  // namespace switchyard::rabbitmq
