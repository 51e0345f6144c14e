// switchyard-inspect — a read-only look into a switchyard data directory (kafka-dump-log and
// kcat for switchyard). Commands, options and output: docs/inspect.md; `--help` on each.
//
// Never writes: files are opened O_RDONLY and mapped PROT_READ, no lock is taken.
// Exit status: 0 clean, 1 damage found, 2 usage or I/O error.
#include <charconv>
#include <cstdio>
#include <optional>
#include <string>

#include <CLI/CLI.hpp>

#include "inspect/commands.hpp"
#include "inspect/text.hpp"

using namespace switchyard::inspect;
namespace fs = std::filesystem;

namespace {

/// A time option: RFC 3339 (UTC) or nanoseconds since the epoch.
struct TimeOption {
  std::string text;
  [[nodiscard]] std::optional<std::int64_t> value() const {
    if (text.empty()) return std::nullopt;
    return parse_time(text);
  }
};

const CLI::Validator kTime(
    [](std::string& text) -> std::string {
      return parse_time(text) ? std::string()
                              : "not a time (RFC 3339 in UTC, e.g. "
                                "2023-11-14T22:13:20Z, or ns since the epoch)";
    },
    "TIME");

/// A count or an offset: decimal digits that fit 64 bits (CLI11's own check lets "-1" through
/// an unsigned option as a huge number, and prints its range as a 300-digit double).
const CLI::Validator kCount(
    [](std::string& text) -> std::string {
      std::uint64_t value = 0;
      const auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), value);
      if (text.empty() || ec != std::errc() || end != text.data() + text.size()) {
        return "'" + text + "' is not a whole number from 0 to 18446744073709551615";
      }
      return {};
    },
    "N");

/// The options that choose records: --partition, offsets, times, --key, --limit, --payload.
struct FilterOptions {
  std::optional<std::uint32_t> partition;
  std::optional<std::uint64_t> from_offset, to_offset, limit;
  std::string from_time, to_time;
  std::optional<std::string> key;
  std::string payload_name = "text";

  void add_to(CLI::App* app, bool partitions) {
    if (partitions)
      app->add_option("--partition", partition, "Only this topic partition")->check(kCount);
    app->add_option("--from-offset", from_offset, "First offset (a queue's seq) shown")
        ->check(kCount);
    app->add_option("--to-offset", to_offset, "Show offsets below this one")->check(kCount);
    app->add_option("--from-time", from_time, "Records at or after this time")->check(kTime);
    app->add_option("--to-time", to_time, "Records before this time")->check(kTime);
    app->add_option("--key", key, "Only records with this key");
    app->add_option("--limit", limit, "Show at most N records")->check(kCount);
    app->add_option("--payload", payload_name, "Payloads as text (UTF-8, default), hex or json")
        ->check(CLI::IsMember({"text", "hex", "json"}));
  }
  [[nodiscard]] RecordFilter filter() const {
    RecordFilter f;
    f.partition = partition;
    f.from_offset = from_offset.value_or(0);
    f.to_offset = to_offset;
    f.from_time = TimeOption{from_time}.value();
    f.to_time = TimeOption{to_time}.value();
    f.key = key;
    f.limit = limit;
    f.payload = payload_name == "hex"    ? PayloadFormat::hex
                : payload_name == "json" ? PayloadFormat::json
                                         : PayloadFormat::text;
    return f;
  }
};

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{
      "switchyard-inspect: a read-only look into a switchyard data directory.\n"
      "Never writes and takes no lock. Exit status: 0 clean, 1 damage found, 2 usage or I/O "
      "error."};
  app.require_subcommand(1);
  Common common;
  std::string path;
  std::optional<std::string> destination, topic, group;
  std::string queue;
  FilterOptions filters;
  bool salvage = false, follow = false;
  std::optional<std::uint64_t> max_records;
  std::uint32_t interval_ms = 100;

  auto add_dir = [&](CLI::App* c, const char* what) {
    c->add_option("DIR", path, what)->required();
    c->add_flag("--json", common.json, "JSON output");
  };
  auto* list = app.add_subcommand("list",
                                  "Durable queues and topics: kind, partitions, "
                                  "records, bytes, pending messages");
  add_dir(list, "Data directory");
  auto* catalog = app.add_subcommand("catalog", "The catalog's declarations");
  add_dir(catalog, "Data directory");
  auto* offsets = app.add_subcommand("offsets", "Committed group offsets and lag per partition");
  add_dir(offsets, "Data directory");
  offsets->add_option("--topic", topic, "Only this topic");
  offsets->add_option("--group", group, "Only this group");
  auto* dump = app.add_subcommand("dump", "Records of a destination, or of one segment file");
  add_dir(dump, "Data directory (with --destination), or one segment file");
  dump->add_option("--destination", destination, "Queue or topic name");
  filters.add_to(dump, true);
  auto* pending = app.add_subcommand(
      "pending", "A queue's messages as recovery would deliver them (with attempt counts)");
  add_dir(pending, "Data directory");
  pending->add_option("--queue", queue, "Queue name")->required();
  pending->add_flag("--salvage", salvage, "Recover as BrokerOptions::salvage would");
  filters.add_to(pending, false);
  auto* stats = app.add_subcommand("stats", "What recovery would find, per stream");
  add_dir(stats, "Data directory, or one stream's directory");
  auto* verify = app.add_subcommand("verify", "Check every CRC of every segment and checkpoint");
  add_dir(verify, "Data directory, stream directory, segment or checkpoint file");
  auto* tail = app.add_subcommand("tail", "Follow a durable topic while a broker writes it");
  add_dir(tail, "Data directory");
  tail->add_flag("-f,--follow", follow, "Keep following (the only mode; accepted for habit)");
  tail->add_option("--destination", destination, "Topic name")->required();
  tail->add_option("--max-records", max_records, "Exit after N records")->check(kCount);
  tail->add_option("--interval-ms", interval_ms, "How often to look at the files")
      ->check(CLI::Range(1u, 60'000u));
  filters.add_to(tail, true);
  tail->footer("Starts at each partition's end, or at --from-offset when given.");

  try {
    app.parse(argc, argv);
  } catch (const CLI::CallForHelp& e) {
    return app.exit(e);  // 0
  } catch (const CLI::CallForAllHelp& e) {
    return app.exit(e);
  } catch (const CLI::ParseError& e) {
    (void)app.exit(e);  // prints the message
    return kError;
  }
  const fs::path where = path;
  const RecordFilter filter = filters.filter();
  // A command reports what it finds itself; anything thrown (out of memory, a bug) is still
  // an error message and status 2, never an abort.
  try {
    if (list->parsed()) return cmd_list(where, common);
    if (catalog->parsed()) return cmd_catalog(where, common);
    if (offsets->parsed()) return cmd_offsets(where, topic, group, common);
    if (dump->parsed()) return cmd_dump(where, destination, filter, common);
    if (pending->parsed()) return cmd_pending(where, queue, filter, salvage, common);
    if (stats->parsed()) return cmd_stats(where, common);
    if (verify->parsed()) return cmd_verify(where, common);
    if (tail->parsed()) {
      TailOptions options;
      options.filter = filter;
      options.from_start = filters.from_offset.has_value();
      options.max_records = max_records;
      options.interval_ms = interval_ms;
      return cmd_tail(where, *destination, options, common);
    }
  } catch (const std::exception& e) {
    return fail(std::string("unexpected error: ") + e.what());
  }
  return kError;
}
