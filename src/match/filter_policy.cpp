// SNS filter policies: the JSON reader and the policy's validation. Semantics:
// src/match/filter_policy.hpp.
#include "match/filter_policy.hpp"

#include <cstdlib>
#include <memory>
#include <string>

namespace switchyard::detail {

namespace {

/// A JSON value, just enough of it for policies (objects keep their key order).
struct JsonMember;

struct Json {
  enum class Type : std::uint8_t { null, boolean, number, string, array, object } type = Type::null;
  bool boolean = false;
  double number = 0;
  std::string string;
  std::vector<Json> items;          // array
  std::vector<JsonMember> members;  // object
};

/// An object's member (a struct, not a std::pair: a pair of an incomplete Json is ill-formed).
struct JsonMember {
  std::string first;  // the key
  Json second;        // its value
};

class Reader {
 public:
  explicit Reader(std::string_view text) : text_(text) {}

  /// The one value the text holds, or the first error ("at byte N: ...").
  Result<Json> document() {
    Json value;
    if (!read(value, 0)) return Result<Json>(Errc::invalid_argument, error_);
    skip_space();
    if (pos_ != text_.size()) return Result<Json>(Errc::invalid_argument, at("trailing text"));
    return value;
  }

 private:
  static constexpr int kMaxDepth = 16;
  std::string at(std::string_view what) const {
    return "filter policy: at byte " + std::to_string(pos_) + ": " + std::string(what);
  }
  bool fail(std::string_view what) {
    if (error_.empty()) error_ = at(what);
    return false;
  }
  void skip_space() {
    while (pos_ < text_.size() && (text_[pos_] == ' ' || text_[pos_] == '\n' ||
                                   text_[pos_] == '\t' || text_[pos_] == '\r')) {
      ++pos_;
    }
  }
  bool literal(std::string_view word) {
    if (text_.substr(pos_, word.size()) != word) return fail("invalid literal");
    pos_ += word.size();
    return true;
  }
  bool read_string(std::string& out) {
    ++pos_;  // the opening quote
    while (pos_ < text_.size()) {
      const char c = text_[pos_++];
      if (c == '"') return true;
      if (static_cast<unsigned char>(c) < 0x20) return fail("control character in a string");
      if (c != '\\') {
        out.push_back(c);
        continue;
      }
      if (pos_ >= text_.size()) break;
      const char e = text_[pos_++];
      switch (e) {
        case '"':
          out.push_back('"');
          break;
        case '\\':
          out.push_back('\\');
          break;
        case '/':
          out.push_back('/');
          break;
        case 'b':
          out.push_back('\b');
          break;
        case 'f':
          out.push_back('\f');
          break;
        case 'n':
          out.push_back('\n');
          break;
        case 'r':
          out.push_back('\r');
          break;
        case 't':
          out.push_back('\t');
          break;
        case 'u': {
          if (pos_ + 4 > text_.size()) return fail("short \\u escape");
          unsigned code = 0;
          auto [p, ec] = std::from_chars(text_.data() + pos_, text_.data() + pos_ + 4, code, 16);
          if (ec != std::errc() || p != text_.data() + pos_ + 4) return fail("bad \\u escape");
          pos_ += 4;
          // UTF-8 of a code point of the basic plane (surrogate pairs are kept as written).
          if (code < 0x80) {
            out.push_back(static_cast<char>(code));
          } else if (code < 0x800) {
            out.push_back(static_cast<char>(0xC0 | (code >> 6)));
            out.push_back(static_cast<char>(0x80 | (code & 0x3F)));
          } else {
            out.push_back(static_cast<char>(0xE0 | (code >> 12)));
            out.push_back(static_cast<char>(0x80 | ((code >> 6) & 0x3F)));
            out.push_back(static_cast<char>(0x80 | (code & 0x3F)));
          }
          break;
        }
        default:
          return fail("bad escape in a string");
      }
    }
    return fail("unterminated string");
  }
  bool read(Json& out, int depth) {
    if (depth > kMaxDepth) return fail("nested too deeply");
    skip_space();
    if (pos_ >= text_.size()) return fail("unexpected end");
    const char c = text_[pos_];
    if (c == '{') {
      out.type = Json::Type::object;
      ++pos_;
      skip_space();
      if (pos_ < text_.size() && text_[pos_] == '}') return ++pos_, true;
      for (;;) {
        skip_space();
        if (pos_ >= text_.size() || text_[pos_] != '"') return fail("expected a key string");
        std::string key;
        if (!read_string(key)) return false;
        skip_space();
        if (pos_ >= text_.size() || text_[pos_] != ':') return fail("expected ':'");
        ++pos_;
        Json value;
        if (!read(value, depth + 1)) return false;
        out.members.push_back(JsonMember{std::move(key), std::move(value)});
        skip_space();
        if (pos_ < text_.size() && text_[pos_] == ',') {
          ++pos_;
          continue;
        }
        if (pos_ < text_.size() && text_[pos_] == '}') return ++pos_, true;
        return fail("expected ',' or '}'");
      }
    }
    if (c == '[') {
      out.type = Json::Type::array;
      ++pos_;
      skip_space();
      if (pos_ < text_.size() && text_[pos_] == ']') return ++pos_, true;
      for (;;) {
        Json value;
        if (!read(value, depth + 1)) return false;
        out.items.push_back(std::move(value));
        skip_space();
        if (pos_ < text_.size() && text_[pos_] == ',') {
          ++pos_;
          continue;
        }
        if (pos_ < text_.size() && text_[pos_] == ']') return ++pos_, true;
        return fail("expected ',' or ']'");
      }
    }
    if (c == '"') {
      out.type = Json::Type::string;
      return read_string(out.string);
    }
    if (c == 't') return out.type = Json::Type::boolean, out.boolean = true, literal("true");
    if (c == 'f') return out.type = Json::Type::boolean, literal("false");
    if (c == 'n') return literal("null");
    const std::size_t begin = pos_;
    while (pos_ < text_.size() &&
           std::string_view("+-0123456789.eE").find(text_[pos_]) != std::string_view::npos) {
      ++pos_;
    }
    auto [p, ec] = std::from_chars(text_.data() + begin, text_.data() + pos_, out.number);
    if (begin == pos_ || ec != std::errc() || p != text_.data() + pos_) {
      pos_ = begin;
      return fail("invalid value");
    }
    out.type = Json::Type::number;
    return true;
  }

  std::string_view text_;
  std::size_t pos_ = 0;
  std::string error_;
};

}  // namespace

class FilterPolicyParser {
 public:
  using Condition = FilterPolicy::Condition;
  using Kind = FilterPolicy::Kind;

  std::string error;

  bool bad(const std::string& key, std::string_view what) {
    error = "filter policy: key \"" + key + "\": " + std::string(what);
    return false;
  }

  bool condition(const std::string& key, const Json& v, Condition& out) {
    switch (v.type) {
      case Json::Type::string:
        out.kind = Kind::exact;
        out.text = v.string;
        return true;
      case Json::Type::number:
        out.kind = Kind::number;
        out.number = v.number;
        return true;
      case Json::Type::object:
        break;
      default:
        return bad(key, "a condition is a string, a number or an operator object");
    }
    if (v.members.size() != 1) return bad(key, "an operator object holds exactly one operator");
    const auto& [op, arg] = v.members.front();
    if (op == "prefix" || op == "suffix" || op == "equals-ignore-case") {
      if (arg.type != Json::Type::string) return bad(key, "\"" + op + "\" takes a string");
      out.kind = op == "prefix" ? Kind::prefix : op == "suffix" ? Kind::suffix : Kind::ignore_case;
      out.text = arg.string;
      return true;
    }
    if (op == "exists") {
      if (arg.type != Json::Type::boolean) return bad(key, "\"exists\" takes true or false");
      out.kind = arg.boolean ? Kind::exists : Kind::absent;
      return true;
    }
    if (op == "anything-but") {
      out.kind = Kind::anything_but;
      auto excluded = [&](const Json& e) {
        Condition c;
        if (e.type == Json::Type::object) {
          if (e.members.size() != 1 || e.members.front().first != "prefix" ||
              e.members.front().second.type != Json::Type::string) {
            return bad(key, "\"anything-but\" takes values or {\"prefix\": string}");
          }
          c.kind = Kind::prefix;
          c.text = e.members.front().second.string;
        } else if (e.type == Json::Type::string || e.type == Json::Type::number) {
          if (!condition(key, e, c)) return false;
        } else {
          return bad(key, "\"anything-but\" takes strings, numbers or {\"prefix\": string}");
        }
        out.excluded.push_back(std::move(c));
        return true;
      };
      if (arg.type == Json::Type::array) {
        if (arg.items.empty()) return bad(key, "\"anything-but\" with an empty list");
        for (const Json& e : arg.items) {
          if (e.type == Json::Type::object) return bad(key, "\"anything-but\" list of values only");
          if (!excluded(e)) return false;
        }
        return true;
      }
      return excluded(arg);
    }
    if (op == "numeric") {
      if (arg.type != Json::Type::array || (arg.items.size() != 2 && arg.items.size() != 4)) {
        return bad(key, "\"numeric\" takes [op, number] or [op, number, op, number]");
      }
      out.kind = Kind::numeric_range;
      for (std::size_t i = 0; i < arg.items.size(); i += 2) {
        const Json& o = arg.items[i];
        const Json& n = arg.items[i + 1];
        if (o.type != Json::Type::string || n.type != Json::Type::number) {
          return bad(key, "\"numeric\" takes operator strings each followed by a number");
        }
        const std::string& s = o.string;
        if (s == "=") {
          if (arg.items.size() != 2) return bad(key, "\"=\" cannot be part of a range");
          out.low = {true, true, n.number};
          out.high = {true, true, n.number};
        } else if (s == ">" || s == ">=") {
          if (out.low.set || i != 0) return bad(key, "a range gives its lower bound first, once");
          out.low = {true, s == ">=", n.number};
        } else if (s == "<" || s == "<=") {
          if (out.high.set) return bad(key, "a range has one upper bound");
          out.high = {true, s == "<=", n.number};
        } else {
          return bad(key, "unknown numeric operator \"" + s + "\"");
        }
      }
      if (out.low.set && out.high.set && out.low.value > out.high.value) {
        return bad(key, "numeric range with its lower bound above its upper bound");
      }
      return true;
    }
    return bad(key, "unknown operator \"" + op + "\"");
  }

  Result<FilterPolicy> policy(const Json& root) {
    FilterPolicy policy;
    if (root.type != Json::Type::object) {
      return Result<FilterPolicy>(Errc::invalid_argument, "filter policy: not a JSON object");
    }
    for (const auto& [name, value] : root.members) {
      FilterPolicy::Key key{name, {}};
      // SNS accepts a single condition where it means a list of one.
      const std::vector<Json> single =
          value.type == Json::Type::array ? std::vector<Json>{} : std::vector<Json>{value};
      const std::vector<Json>& list = value.type == Json::Type::array ? value.items : single;
      if (list.empty()) {
        bad(name, "an empty list of conditions matches nothing");
        return Result<FilterPolicy>(Errc::invalid_argument, error);
      }
      for (const Json& item : list) {
        Condition c;
        if (!condition(name, item, c)) return Result<FilterPolicy>(Errc::invalid_argument, error);
        key.conditions.push_back(std::move(c));
      }
      policy.keys_.push_back(std::move(key));
    }
    return policy;
  }
};

Result<FilterPolicy> FilterPolicy::parse(std::string_view json) {
  auto root = Reader(json).document();
  if (!root) return Result<FilterPolicy>(root.failure());
  FilterPolicyParser parser;
  return parser.policy(*root);
}

}  // namespace switchyard::detail
