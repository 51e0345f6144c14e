// Runs the built switchyard-inspect on a small data directory, good and damaged.
#include <catch2/catch.hpp>

#include <sys/wait.h>

#include <array>
#include <cstdio>

#include "durable/offset_store.hpp"
#include "durable/queue_journal.hpp"
#include "support/storage_support.hpp"

using namespace switchyard;
using namespace switchyard::detail;
using switchyard::test::bytes_of;
using switchyard::test::ScratchDir;

#ifdef SWITCHYARD_INSPECT

namespace {

struct Run {
  int status;
  std::string output;
};

Run inspect(const std::string& args) {
  const std::string command = std::string(SWITCHYARD_INSPECT) + " " + args + " 2>&1";
  FILE* pipe = ::popen(command.c_str(), "r");
  REQUIRE(pipe != nullptr);
  Run run{0, {}};
  std::array<char, 4096> buffer{};
  while (std::fgets(buffer.data(), buffer.size(), pipe) != nullptr) run.output += buffer.data();
  const int status = ::pclose(pipe);
  run.status = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
  return run;
}

std::vector<std::byte> checksum_of_all(const std::filesystem::path& dir) {
  std::vector<std::byte> all;
  for (const auto& e : std::filesystem::recursive_directory_iterator(dir)) {
    if (e.is_regular_file()) {
      auto b = test::read_all(e.path());
      all.insert(all.end(), b.begin(), b.end());
    }
  }
  return all;
}

void make_data_dir(const std::filesystem::path& root) {
  QueueJournalOptions o;
  o.log.segment_bytes = 4096;
  auto journal = QueueJournal::open(root / "queues" / "emails", o);
  REQUIRE(journal);
  for (int i = 0; i < 100; ++i) {
    StoredMessage m;
    m.id = static_cast<std::uint64_t>(i);
    m.key = "key-" + std::to_string(i);
    m.headers = {{"type", "EmailNotification"}};
    m.payload = bytes_of("hello " + std::to_string(i));
    REQUIRE((*journal)->append(fields_of(m)));
  }
  REQUIRE((*journal)->record_ack(0));
  auto cp = OffsetStore::open(root / "topics" / "orders");
  REQUIRE(cp);
  REQUIRE(cp->commit({{{"inventory", 0}, {42, ""}}}));
}

}  // namespace

TEST_CASE("switchyard-inspect lists streams - dumps records and verifies a clean data directory") {
  ScratchDir dir;
  make_data_dir(dir.path());
  const auto before = checksum_of_all(dir.path());

  auto list = inspect("list " + dir.path().string());
  CHECK(list.status == 0);
  CHECK_THAT(list.output, Catch::Contains("queues/emails/messages") &&
                              Catch::Contains("queues/emails/acks-") &&
                              Catch::Contains("checkpoint topics/orders/offsets-"));

  const auto first = test::segment_files(dir / "queues/emails/messages").front();
  auto dump = inspect("dump " + first.string() + " --limit 3");
  CHECK(dump.status == 0);
  CHECK_THAT(dump.output, Catch::Contains("offset 0 ") && Catch::Contains("key=\"key-0\"") &&
                              Catch::Contains("type=EmailNotification") &&
                              Catch::Contains("payload[7]=\"hello 0\"") &&
                              Catch::Contains("(3 shown)"));

  auto verify = inspect("verify " + dir.path().string());
  CHECK(verify.status == 0);
  CHECK_THAT(verify.output, Catch::Contains("all CRCs match"));

  auto stats = inspect("stats " + (dir / "queues/emails/messages").string());
  CHECK(stats.status == 0);
  CHECK_THAT(stats.output, Catch::Contains("records             100"));

  CHECK(checksum_of_all(dir.path()) == before);  // never modifies a file
}

TEST_CASE("switchyard-inspect reports a corrupt segment with its file and offset - exit status 1") {
  ScratchDir dir;
  make_data_dir(dir.path());
  const auto first = test::segment_files(dir / "queues/emails/messages").front();
  auto bytes = test::read_all(first);
  bytes[segment::kFileHeaderSize + 40] ^= std::byte{0x20};
  test::write_all(first, bytes);
  const auto before = checksum_of_all(dir.path());

  auto verify = inspect("verify " + dir.path().string());
  CHECK(verify.status == 1);
  CHECK_THAT(verify.output, Catch::Contains("CORRUPT " + first.string() + ": offset 64: CRC") &&
                                Catch::Contains("DAMAGED"));
  auto dump = inspect("dump " + first.string());
  CHECK(dump.status == 1);
  CHECK_THAT(dump.output, Catch::Contains("damage: offset 64"));
  auto stats = inspect("stats " + (dir / "queues/emails/messages").string());
  CHECK(stats.status == 1);
  CHECK_THAT(stats.output, Catch::Contains("refuse it"));
  CHECK(checksum_of_all(dir.path()) == before);
}

TEST_CASE("switchyard-inspect reports a damaged checkpoint") {
  ScratchDir dir;
  make_data_dir(dir.path());
  std::filesystem::path file;
  for (const auto& e : std::filesystem::directory_iterator(dir / "topics/orders")) file = e.path();
  std::filesystem::resize_file(file, 10);
  auto verify = inspect("verify " + dir.path().string());
  CHECK(verify.status == 1);
  CHECK_THAT(verify.output, Catch::Contains("CORRUPT " + file.string()));
}

TEST_CASE("switchyard-inspect with bad arguments prints usage and exits with 2") {
  auto run = inspect("frobnicate");
  CHECK(run.status == 2);
  CHECK_THAT(run.output, Catch::Contains("usage"));
}

#else
TEST_CASE("switchyard-inspect is not built (SWITCHYARD_BUILD_TOOLS=OFF)") {
  WARN("switchyard-inspect tests skipped");
}
#endif
