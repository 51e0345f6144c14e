#include <catch2/catch.hpp>

#include <csignal>

#include <sys/wait.h>
#include <unistd.h>

#include "storage/dir_lock.hpp"
#include "support/storage_support.hpp"

using namespace switchyard;
using namespace switchyard::detail;
using switchyard::test::ScratchDir;

namespace {

// Forks a child that takes the lock, tells the parent over a pipe, then waits to be killed.
pid_t spawn_lock_holder(const std::filesystem::path& dir) {
  int fds[2];
  REQUIRE(::pipe(fds) == 0);
  const pid_t child = ::fork();
  REQUIRE(child >= 0);
  if (child == 0) {
    ::close(fds[0]);
    auto lock = DirLock::acquire(dir);
    const char ok = lock ? 'y' : 'n';
    (void)::write(fds[1], &ok, 1);
    for (;;) ::pause();
  }
  ::close(fds[1]);
  char ok = 0;
  REQUIRE(::read(fds[0], &ok, 1) == 1);
  ::close(fds[0]);
  REQUIRE(ok == 'y');
  return child;
}

void kill_and_reap(pid_t child) {
  ::kill(child, SIGKILL);
  int status = 0;
  ::waitpid(child, &status, 0);
}

}  // namespace

TEST_CASE("a second opener while the owner lives gets Errc::locked naming the owner pid") {
  ScratchDir dir;
  const pid_t child = spawn_lock_holder(dir.path());
  auto lock = DirLock::acquire(dir.path());
  kill_and_reap(child);
  REQUIRE_FALSE(lock);
  CHECK(lock.code() == Errc::locked);
  CHECK_THAT(lock.message(),
             Catch::Contains(std::to_string(child)) && Catch::Contains(dir.path().string()));
}

TEST_CASE("a lock left by a killed owner is taken over and the stale pid reported") {
  ScratchDir dir;
  const pid_t child = spawn_lock_holder(dir.path());
  kill_and_reap(child);
  auto lock = DirLock::acquire(dir.path());
  REQUIRE(lock);
  CHECK(lock->stale_owner() == child);
}

TEST_CASE("a second lock in the same process is refused too") {
  ScratchDir dir;
  auto first = DirLock::acquire(dir.path());
  REQUIRE(first);
  auto second = DirLock::acquire(dir.path());
  REQUIRE_FALSE(second);
  CHECK(second.code() == Errc::locked);
  CHECK_THAT(second.message(), Catch::Contains(std::to_string(::getpid())));
}

TEST_CASE("a lock released cleanly leaves no stale owner") {
  ScratchDir dir;
  { REQUIRE(DirLock::acquire(dir.path())); }
  auto lock = DirLock::acquire(dir.path());
  REQUIRE(lock);
  CHECK(lock->stale_owner() == 0);
}
