// A simulated power cut, stronger than kill -9 (which keeps the page cache). A recording
// FaultInjector, installed for the whole process, notes what each successful msync / fsync made
// durable (the bytes of the synced pages at that moment) and which directory entries a
// directory fsync made durable. At random cut points of a workload it builds the image a
// power loss could leave: synced bytes exact; every other 4 KiB page kept, dropped (its last
// synced content, or zeros) or torn (512-byte sectors old or new at random); entries not yet
// made durable by a directory fsync present or absent; removals not yet durable undone. Then a
// Broker recovers each image (salvage off, then on) and must hold every send whose completion
// said synced, undo no synced acknowledgement or commit, serve nothing never sent, and report
// damage as `corrupt` (salvage off) rather than serve it.
#include <catch2/catch.hpp>

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <atomic>
#include <cstdio>
#include <cstdlib>
#include <map>
#include <mutex>
#include <optional>
#include <random>
#include <set>
#include <string>
#include <vector>

#include "storage/file.hpp"
#include "support/storage_support.hpp"
#include "switchyard/switchyard.hpp"

using namespace switchyard;
using namespace switchyard::detail;
namespace fs = std::filesystem;
using switchyard::test::ScratchDir;

namespace {

using switchyard::test::Installed;
using switchyard::test::kSanitizer;

constexpr std::size_t kPage = 4096;
constexpr std::size_t kSector = 512;

using Bytes = std::vector<std::byte>;

Bytes read_range(const std::string& path, std::size_t from, std::size_t length) {
  Bytes out(length);
  const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return {};
  const ssize_t n = ::pread(fd, out.data(), length, static_cast<off_t>(from));
  ::close(fd);
  out.resize(n > 0 ? static_cast<std::size_t>(n) : 0);
  return out;
}

std::size_t file_size(const std::string& path) {
  struct stat st {};
  return ::stat(path.c_str(), &st) == 0 ? static_cast<std::size_t>(st.st_size) : 0;
}

/// What a workload was told, up to some moment. Guarded by the owner's mutex.
struct Ledger {
  std::set<std::string> synced;                      // sends whose completion said synced
  std::set<std::string> maybe_sent;                  // every payload ever passed to send
  std::set<std::string> synced_acks;                 // acks that returned success at `always`
  std::set<std::string> maybe_acked;                 // every payload an ack was attempted for
  std::map<std::uint32_t, std::uint64_t> committed;  // commits that returned success
};

/// One power-cut image waiting to be recovered, with what the workload had been told when
/// the power went (`told`) and every send and ack it had tried by the end of building it
/// (`tried`, `tried_acks`): other threads run on while the image is read.
struct Image {
  fs::path dir;
  Ledger told;
  std::set<std::string> tried;
  std::set<std::string> tried_acks;
};

/// The recorder, and the cutter: at chosen call numbers it builds an image of `root`.
class PowerCut : public FaultInjector {
 public:
  PowerCut(fs::path root, fs::path images, std::uint64_t seed, std::set<std::uint64_t> cuts,
           std::mutex& ledger_mutex, const Ledger& ledger)
      : root_(std::move(root)),
        images_(std::move(images)),
        rng_(seed),
        cuts_(std::move(cuts)),
        ledger_mutex_(ledger_mutex),
        ledger_(ledger) {}

  int on_call(const FileOp& op) noexcept override {
    std::lock_guard lock(mutex_);
    ++calls_;
    const std::string path(op.path);
    if (cuts_.contains(calls_)) cut();
    if (!path.starts_with(root_.string())) return 0;
    switch (op.call) {
      case FileCall::msync: {
        // The kernel writes whole pages: everything in them at this moment becomes durable.
        const std::size_t from = op.offset - op.offset % kPage;
        const std::size_t to = op.offset + op.length;
        auto& f = files_[path];
        const std::size_t size = file_size(path);
        if (f.synced.size() < size) f.synced.resize(size);
        const Bytes now = read_range(path, from, to - from);
        std::copy(now.begin(), now.end(), f.synced.begin() + static_cast<std::ptrdiff_t>(from));
        break;
      }
      case FileCall::fsync:
      case FileCall::fdatasync: {
        auto& f = files_[path];
        f.synced = read_range(path, 0, file_size(path));
        break;
      }
      case FileCall::rename: {
        const std::string to(op.to);
        File moved = files_[path];
        files_.erase(path);
        File& target = files_[to];
        if (target.entry_durable) target.displaced = target.synced;
        target.synced = std::move(moved.synced);
        target.entry_durable = false;
        break;
      }
      case FileCall::unlink: {
        // A file, or a whole tree: gone now, back after a power cut until a directory fsync.
        for (auto it = files_.begin(); it != files_.end();) {
          if (it->first == path || it->first.starts_with(path + "/")) {
            if (it->second.entry_durable || it->second.displaced) {
              it->second.removed = true;
              ++it;
            } else {
              it = files_.erase(it);
            }
          } else {
            ++it;
          }
        }
        for (auto& [dir, state] : dirs_) {
          if (dir == path || dir.starts_with(path + "/")) state.removed = true;
        }
        break;
      }
      case FileCall::sync_directory: {
        std::error_code ec;
        for (const auto& e : fs::directory_iterator(path, ec)) {
          const std::string child = e.path().string();
          if (e.is_directory(ec)) {
            dirs_[child] = {.durable = true, .removed = false};
          } else {
            auto& f = files_[child];
            f.entry_durable = true;
            f.displaced.reset();
            f.removed = false;
          }
        }
        // Removals under this directory are durable now.
        for (auto it = files_.begin(); it != files_.end();) {
          const bool child = fs::path(it->first).parent_path() == fs::path(path);
          if (child && (it->second.removed || !fs::exists(it->first, ec))) {
            it = files_.erase(it);
          } else {
            ++it;
          }
        }
        for (auto it = dirs_.begin(); it != dirs_.end();) {
          const fs::path d(it->first);
          if (d.parent_path() == fs::path(path) && !fs::exists(d, ec)) {
            // The tree below went with it.
            const std::string prefix = it->first + "/";
            for (auto f = files_.begin(); f != files_.end();) {
              f = f->first.starts_with(prefix) ? files_.erase(f) : std::next(f);
            }
            it = dirs_.erase(it);
          } else {
            ++it;
          }
        }
        break;
      }
      default:
        break;
    }
    return 0;
  }

  [[nodiscard]] std::vector<Image>& images() noexcept { return built_; }
  [[nodiscard]] std::uint64_t calls() const {
    std::lock_guard lock(mutex_);
    return calls_;
  }

 private:
  struct File {
    Bytes synced;                    // content as of its last sync (zeros where never synced)
    bool entry_durable = false;      // its name survives a power cut
    std::optional<Bytes> displaced;  // the durable file a not-yet-durable rename replaced
    bool removed = false;            // unlinked, not yet durably
  };
  struct Dir {
    bool durable = false;
    bool removed = false;
  };

  bool coin() { return std::uniform_int_distribution<int>(0, 1)(rng_) == 1; }

  /// The content a power cut may leave of a file now holding `now`, last synced as `synced`.
  Bytes mix(const Bytes& now, const Bytes& synced) {
    Bytes out(now.size());
    std::uniform_int_distribution<int> fate(0, 2);  // keep, drop, tear
    for (std::size_t page = 0; page < now.size(); page += kPage) {
      const std::size_t end = std::min(now.size(), page + kPage);
      auto old_at = [&](std::size_t i) { return i < synced.size() ? synced[i] : std::byte{0}; };
      bool same = true;
      for (std::size_t i = page; i < end && same; ++i) same = now[i] == old_at(i);
      const int f = same ? 0 : fate(rng_);
      for (std::size_t sector = page; sector < end; sector += kSector) {
        const bool keep = f == 0 || (f == 2 && coin());
        for (std::size_t i = sector; i < std::min(end, sector + kSector); ++i) {
          out[i] = keep ? now[i] : old_at(i);
        }
      }
    }
    return out;
  }

  static void write_image_file(const fs::path& path, const Bytes& bytes) {
    fs::create_directories(path.parent_path());
    switchyard::test::write_all(path, bytes);
  }

  bool dir_present(const fs::path& dir, std::map<std::string, bool>& decided) {
    if (dir == root_ || !dir.string().starts_with(root_.string())) return true;
    const std::string key = dir.string();
    if (auto it = decided.find(key); it != decided.end()) return it->second;
    bool present = dir_present(dir.parent_path(), decided);
    if (present) {
      auto it = dirs_.find(key);
      const bool durable = it != dirs_.end() && it->second.durable && !it->second.removed;
      if (!durable) present = coin();
    }
    decided[key] = present;
    return present;
  }

  void cut() {
    Image image;
    {
      std::lock_guard lock(ledger_mutex_);
      image.told = ledger_;
    }
    image.dir = images_ / std::to_string(built_.size());
    fs::create_directories(image.dir);
    std::map<std::string, bool> decided;
    std::set<std::string> done;
    std::error_code ec;
    for (auto it = fs::recursive_directory_iterator(root_, ec); !ec && it != fs::end(it);
         it.increment(ec)) {
      const fs::path p = it->path();
      const std::string key = p.string();
      const fs::path rel = fs::relative(p, root_);
      std::error_code type_ec;
      if (it->is_directory(type_ec)) {
        if (dir_present(p, decided)) fs::create_directories(image.dir / rel);
        continue;
      }
      if (!dir_present(p.parent_path(), decided)) continue;
      done.insert(key);
      const Bytes now = read_range(key, 0, file_size(key));
      auto f = files_.find(key);
      if (f == files_.end()) {
        // Never synced, its name never made durable: absent, or whatever writeback left.
        if (coin()) write_image_file(image.dir / rel, mix(now, {}));
        continue;
      }
      if (f->second.entry_durable || coin()) {
        write_image_file(image.dir / rel, mix(now, f->second.synced));
      } else if (f->second.displaced) {
        write_image_file(image.dir / rel, *f->second.displaced);
      }
    }
    // Removed files whose removal is not durable yet may come back.
    for (const auto& [key, f] : files_) {
      if (done.contains(key) || !f.removed) continue;
      const fs::path p(key);
      if (!dir_present(p.parent_path(), decided) || !coin()) continue;
      const Bytes& content = f.displaced ? *f.displaced : f.synced;
      write_image_file(image.dir / fs::relative(p, root_), content);
    }
    {
      std::lock_guard lock(ledger_mutex_);
      image.tried = ledger_.maybe_sent;
      image.tried_acks = ledger_.maybe_acked;
    }
    if (std::getenv("SWITCHYARD_POWER_CUT_KEEP") != nullptr) {
      fs::copy(image.dir, image.dir.string() + ".pristine", fs::copy_options::recursive, ec);
    }
    built_.push_back(std::move(image));
  }

  const fs::path root_, images_;
  std::mt19937_64 rng_;
  const std::set<std::uint64_t> cuts_;
  std::mutex& ledger_mutex_;
  const Ledger& ledger_;
  mutable std::mutex mutex_;  // guards everything below
  std::uint64_t calls_ = 0;
  std::map<std::string, File> files_;
  std::map<std::string, Dir> dirs_;
  std::vector<Image> built_;
};

constexpr std::uint64_t kSegment = 8192;  // two pages: rolls, and pages to tear

/// Durable queue and topic at `level`: sends with completions, acks, commits, rolls, a reopen.
void workload(const fs::path& dir, Durability level, std::mutex& m, Ledger& ledger) {
  auto clock = std::make_shared<ManualClock>();
  for (int round = 0; round < 2; ++round) {
    Broker broker({.clock = clock, .data_dir = dir, .storage = {.segment_bytes = kSegment}});
    broker.declare_queue(
        "jobs", QueueOptions{.visibility_timeout = std::chrono::seconds(0), .durability = level});
    broker.declare_topic("events", TopicOptions{.partitions = 2, .durability = level});
    auto producer = broker.producer();
    auto send = [&](const std::string& to, const std::string& payload, SendOptions options) {
      {
        std::lock_guard lock(m);
        ledger.maybe_sent.insert(payload);
      }
      options.on_complete = [&m, &ledger, payload](const Result<SendReceipt>& r) {
        if (r && r->persisted == Persisted::synced) {
          std::lock_guard lock(m);
          ledger.synced.insert(payload);
        }
      };
      (void)producer.send(to, payload, std::move(options));
    };
    auto consumer = broker.consumer("jobs");
    for (int i = 0; i < 24; ++i) {
      send("jobs", "job-" + std::to_string(round) + "-" + switchyard::test::payload_for(i, 150),
           {});
      send("events", "event-" + std::to_string(round) + "-" + switchyard::test::payload_for(i, 150),
           {.partition = static_cast<std::uint32_t>(i % 2)});
      if (i % 3 == 2) {
        if (auto d = consumer.receive()) {
          const std::string payload(d->payload().as_string());
          {
            std::lock_guard lock(m);
            ledger.maybe_acked.insert(payload);
          }
          if (d->ack() && level == Durability::always) {
            std::lock_guard lock(m);
            ledger.synced_acks.insert(payload);
          }
        }
      }
    }
    auto group = broker.group_consumer("events", "g", {.start = Start::earliest});
    (void)group.poll(100);
    for (std::uint32_t p = 0; p < 2; ++p) {
      const std::uint64_t offset = 3 + 5 * static_cast<std::uint64_t>(round);
      if (group.commit(p, offset)) {
        std::lock_guard lock(m);
        ledger.committed[p] = offset;
      }
    }
  }
}

struct Tally {
  std::uint64_t images = 0, accepted = 0, recovered = 0, detected = 0, lost = 0, resurrected = 0,
                ghosts = 0;
};

/// Recovers one image; returns false (and counts nothing) if recovery reported damage.
bool recover(const Image& image, Durability level, bool salvage, Tally& t,
             std::vector<std::string>& notes) {
  std::optional<Broker> broker;
  try {
    broker.emplace(BrokerOptions{.clock = std::make_shared<ManualClock>(),
                                 .data_dir = image.dir,
                                 .salvage = salvage,
                                 .storage = {.segment_bytes = kSegment}});
    broker->declare_queue(
        "jobs", QueueOptions{.visibility_timeout = std::chrono::seconds(0), .durability = level});
    broker->declare_topic("events", TopicOptions{.partitions = 2, .durability = level});
  } catch (const Error& e) {
    if (e.code() == Errc::corrupt) {
      ++t.detected;
      if (salvage) notes.push_back(std::string("salvage could not open: ") + e.what());
      return !salvage;
    }
    notes.push_back(std::string("recovery failed: ") + e.what());
    ++t.lost;
    return false;
  }
  const Ledger& told = image.told;
  std::multiset<std::string> got;
  {
    auto consumer = broker->consumer("jobs");
    while (auto d = consumer.receive()) got.emplace(d->payload().as_string());
  }
  std::multiset<std::string> records;
  std::map<std::uint32_t, std::uint64_t> ends;  // log end of each partition
  {
    auto reader = broker->group_consumer("events", "check", {.start = Start::earliest});
    for (int i = 0; i < 1000; ++i) {
      auto batch = reader.poll(1000);
      if (!batch) {
        notes.push_back("poll failed: " + batch.message());
        ++t.lost;
        break;
      }
      if (batch->empty()) break;
      for (const auto& r : *batch) {
        records.emplace(r.payload().as_string());
        ends[r.partition] = std::max(ends[r.partition], r.offset + 1);
      }
    }
  }
  for (const auto& p : told.synced) {
    const bool queue = p.starts_with("job-");
    // An ack tried by the end of the cut may be in the image: the image is read while the
    // workload runs on (a cut from the flusher's thread does not stop the sender's), so what
    // may be there is judged by what was tried by the end, what must be by what was told.
    if (queue && image.tried_acks.contains(p)) continue;
    if (!(queue ? got : records).contains(p)) {
      ++t.lost;
      notes.push_back("synced but lost: " + p.substr(0, 12));
    }
  }
  for (const auto* set : {&got, &records}) {
    for (const auto& p : *set) {
      if (told.synced_acks.contains(p)) {
        ++t.resurrected;
        notes.push_back("synced ack undone: " + p.substr(0, 12));
      }
      if (!image.tried.contains(p) || set->count(p) > 1) {
        ++t.ghosts;
        notes.push_back("never sent (or twice): " + p.substr(0, 12));
      }
    }
  }
  auto group = broker->group_consumer("events", "g", {.start = Start::earliest});
  for (const auto& [p, offset] : told.committed) {
    // A group resumes at min(commit, log end): at `batch` a commit may point past records the
    // cut dropped, which were not synced; the commit itself must survive up to the log end.
    auto committed = group.committed(p);
    if (!committed || *committed < std::min(offset, ends[p])) {
      ++t.resurrected;
      notes.push_back("commit undone on partition " + std::to_string(p) + ": committed " +
                      (committed ? std::to_string(*committed) : committed.message()) + " < " +
                      std::to_string(offset));
    }
  }
  t.recovered += got.size() + records.size();
  t.accepted += told.synced.size();
  return true;
}

int env_int(const char* name, int otherwise) {
  const char* value = std::getenv(name);
  return value != nullptr ? std::atoi(value) : otherwise;
}

/// A copy of a failing image (before its recovery ran: `image.dir` is recovered in place, so
/// this copies the pristine copy made when the image was built) and what went wrong.
void keep_image(const Image& image, const std::vector<std::string>& notes, const fs::path& to) {
  std::error_code ec;
  fs::create_directories(to.parent_path(), ec);
  fs::copy(image.dir.string() + ".pristine", to, fs::copy_options::recursive, ec);
  std::FILE* f = std::fopen((to.string() + ".notes").c_str(), "w");
  if (f == nullptr) return;
  for (const auto& note : notes) std::fprintf(f, "%s\n", note.c_str());
  for (const auto& p : image.told.synced) std::fprintf(f, "synced %s\n", p.substr(0, 12).c_str());
  std::fclose(f);
}

}  // namespace

TEST_CASE(
    "after a simulated power cut at a random point every synced send is there and no synced "
    "ack or commit is undone") {
  const auto started = std::chrono::steady_clock::now();
  // SWITCHYARD_POWER_CUT_RUNS and _FIRST_RUN replay more or other seeds (a failure names its
  // run); SWITCHYARD_POWER_CUT_KEEP=DIR keeps each image that lost something, with its notes.
  const int runs = env_int("SWITCHYARD_POWER_CUT_RUNS", kSanitizer ? 4 : 24);
  const int first_run = env_int("SWITCHYARD_POWER_CUT_FIRST_RUN", 0);
  const char* keep = std::getenv("SWITCHYARD_POWER_CUT_KEEP");
  constexpr int kCutsPerRun = 48;
  Tally tally;
  std::uint64_t salvage_opened = 0;
  for (int run = first_run; run < first_run + runs; ++run) {
    const Durability level = run % 2 == 0 ? Durability::batch : Durability::always;
    const std::uint64_t seed = 0x5eed0000u + static_cast<std::uint64_t>(run);
    INFO("run " << run << " at " << to_string(level) << ", seed " << seed);
    // A first pass learns how many storage calls the workload makes.
    std::uint64_t calls = 0;
    {
      ScratchDir dir, images;
      std::mutex m;
      Ledger ledger;
      PowerCut counter(dir.path(), images.path(), seed, {}, m, ledger);
      {
        Installed installed(counter);
        workload(dir.path() / "data", level, m, ledger);
      }
      calls = counter.calls();
    }
    REQUIRE(calls > kCutsPerRun);
    std::mt19937_64 rng(seed);
    std::set<std::uint64_t> cuts;
    while (cuts.size() < kCutsPerRun) {
      cuts.insert(std::uniform_int_distribution<std::uint64_t>(1, calls)(rng));
    }
    ScratchDir dir, images;
    std::mutex m;
    Ledger ledger;
    PowerCut cutter(dir.path() / "data", images.path(), seed, cuts, m, ledger);
    {
      Installed installed(cutter);
      workload(dir.path() / "data", level, m, ledger);
    }
    for (const Image& image : cutter.images()) {
      std::vector<std::string> notes;
      ++tally.images;
      const Tally before = tally;
      // Salvage off first: it must either recover everything or say `corrupt`; then on.
      Tally scratch;
      const bool opened = recover(image, level, false, scratch, notes);
      tally.detected += scratch.detected;
      tally.lost += scratch.lost;
      tally.resurrected += scratch.resurrected;
      tally.ghosts += scratch.ghosts;
      (void)opened;
      // Recovery may have repaired the image (torn tails zeroed): salvage sees the result.
      Tally salvaged;
      if (recover(image, level, true, salvaged, notes)) ++salvage_opened;
      tally.accepted += salvaged.accepted;
      tally.recovered += salvaged.recovered;
      tally.lost += salvaged.lost;
      tally.resurrected += salvaged.resurrected;
      tally.ghosts += salvaged.ghosts;
      for (const auto& note : notes) UNSCOPED_INFO(note);
      const bool failed = tally.lost + tally.resurrected + tally.ghosts !=
                          before.lost + before.resurrected + before.ghosts;
      CHECK_FALSE(failed);
      std::error_code ec;
      if (failed && keep != nullptr) {
        keep_image(image, notes,
                   fs::path(keep) / (std::to_string(run) + "-" + image.dir.filename().string()));
      }
      fs::remove_all(image.dir.string() + ".pristine", ec);
      fs::remove_all(image.dir, ec);
    }
  }
  const double seconds =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count();
  std::printf(
      "figures: storage_power_cut_test: cut_images=%llu accepted=%llu recovered=%llu lost=%llu "
      "resurrected=%llu ghosts=%llu seconds=%.1f\n",
      static_cast<unsigned long long>(tally.images),
      static_cast<unsigned long long>(tally.accepted),
      static_cast<unsigned long long>(tally.recovered), static_cast<unsigned long long>(tally.lost),
      static_cast<unsigned long long>(tally.resurrected),
      static_cast<unsigned long long>(tally.ghosts), seconds);
  std::fprintf(
      stderr,
      "power cut: %llu images detected as corrupt (salvage off), %llu opened with salvage\n",
      static_cast<unsigned long long>(tally.detected),
      static_cast<unsigned long long>(salvage_opened));
  CHECK(tally.images >= (kSanitizer ? 100u : 1000u));
  CHECK(tally.lost + tally.resurrected + tally.ghosts == 0);
}
