// A child process for kill -9 tests: it runs a body that reports each step to the parent over a
// pipe (fixed-size records, well under PIPE_BUF so each write is atomic), and the parent kills
// it with SIGKILL at a moment of its choosing.
#pragma once

#include <poll.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstddef>
#include <stdexcept>
#include <type_traits>
#include <vector>

namespace switchyard::test {

template <class Report>
class CrashChild {
  static_assert(std::is_trivially_copyable_v<Report> && sizeof(Report) <= 512,
                "reports cross a pipe as raw bytes, one atomic write each");

 public:
  /// Forks. The child runs `body(fd)`, which writes Reports to `fd` and never returns (it ends
  /// with _exit; an exit code tells the parent the child failed on its own).
  template <class Body>
  explicit CrashChild(Body&& body) {
    int fds[2];
    if (::pipe(fds) != 0) throw std::runtime_error("pipe failed");
    pid_ = ::fork();
    if (pid_ < 0) throw std::runtime_error("fork failed");
    if (pid_ == 0) {
      ::close(fds[0]);
      body(fds[1]);
      ::_exit(0);
    }
    ::close(fds[1]);
    fd_ = fds[0];
  }
  CrashChild(const CrashChild&) = delete;
  CrashChild& operator=(const CrashChild&) = delete;
  ~CrashChild() {
    if (pid_ > 0 && !reaped_) kill_and_reap();
    if (fd_ >= 0) ::close(fd_);
  }

  /// Reads what the child reported, waiting up to `timeout_ms` for something. False if nothing
  /// came (or the pipe closed).
  bool drain(int timeout_ms) {
    pollfd p{fd_, POLLIN, 0};
    if (::poll(&p, 1, timeout_ms) <= 0) return false;
    Report buffer[256];
    const ssize_t n = ::read(fd_, buffer, sizeof buffer);
    if (n <= 0) return false;
    reports_.insert(reports_.end(), buffer, buffer + n / static_cast<ssize_t>(sizeof(Report)));
    return true;
  }

  /// Lets the child run for `delay`, draining the pipe meanwhile so it never blocks on a full
  /// pipe, then kills and reaps it (see kill_and_reap).
  bool kill_after(std::chrono::microseconds delay) {
    const auto kill_at = std::chrono::steady_clock::now() + delay;
    while (std::chrono::steady_clock::now() < kill_at) drain(1);
    return kill_and_reap();
  }

  /// SIGKILL, wait for the child, then collect every report it wrote before it died. Returns
  /// true if it died by the signal (false: it exited on its own, a child-side failure).
  bool kill_and_reap() {
    ::kill(pid_, SIGKILL);
    ::waitpid(pid_, &status_, 0);
    reaped_ = true;
    while (drain(0)) {
    }
    return WIFSIGNALED(status_);
  }

  [[nodiscard]] const std::vector<Report>& reports() const noexcept { return reports_; }
  [[nodiscard]] pid_t pid() const noexcept { return pid_; }
  [[nodiscard]] int status() const noexcept { return status_; }

 private:
  pid_t pid_ = -1;
  int fd_ = -1;
  int status_ = 0;
  bool reaped_ = false;
  std::vector<Report> reports_;
};

}  // namespace switchyard::test
