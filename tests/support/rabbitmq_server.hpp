// tests/support/rabbitmq_server.hpp — a private RabbitMQ for tests: the installed server
// (Debian's rabbitmq-server) on loopback ports of its own, with its node name, data, logs,
// cookie, plugins and feature flags in a temporary directory, so it neither sees nor disturbs
// a system broker. One per test process (RabbitmqServer::shared()), started on first use and
// stopped at exit; stop() and start() restart it on the same port and data for durability
// tests. Needs librabbitmq (-lrabbitmq) for its readiness probe. Linux only (/proc, prctl).
//
// As root the server runs as the `rabbitmq` user (the Erlang VM misbehaves as root with a
// root-owned cookie); otherwise as the current user. It and an epmd of its own (on a private
// port, in the foreground, so it is not a daemon that outlives the test) run in process
// groups the fixture signals at stop(): nothing is left running when the test process exits.
#pragma once

#include <amqp.h>
#include <amqp_framing.h>
#include <amqp_tcp_socket.h>
#include <arpa/inet.h>
#include <dirent.h>
#include <fcntl.h>
#include <grp.h>
#include <netinet/in.h>
#include <pwd.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <initializer_list>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

extern char** environ;

namespace switchyard::test {

class RabbitmqServer {
 public:
  /// The test process's server: started on first use, stopped (and its directory removed) at
  /// exit. When it could not start, available() is false and error() says why.
  static RabbitmqServer& shared() {
    static RabbitmqServer server;
    return server;
  }

  RabbitmqServer(const RabbitmqServer&) = delete;
  RabbitmqServer& operator=(const RabbitmqServer&) = delete;

  ~RabbitmqServer() {
    // A forked child of the test process that calls exit() runs this too: only the process
    // that started the server stops it.
    if (::getpid() != owner_) return;
    stop();
    if (!dir_.empty() && std::getenv("SWITCHYARD_RABBITMQ_KEEP_DIR") == nullptr) {
      std::error_code ec;
      std::filesystem::remove_all(dir_, ec);
    }
  }

  bool available() const { return available_; }
  const std::string& error() const { return error_; }
  std::uint16_t port() const { return port_; }
  std::string host() const { return "127.0.0.1"; }
  /// The temporary directory: data (mnesia/), the server's output (server.log), its config.
  const std::string& directory() const { return dir_; }
  /// How long the last start() took, from fork to the first successful AMQP login.
  std::chrono::milliseconds last_start_time() const { return last_start_time_; }

  /// One AMQP login as guest/guest on vhost "/" (`timeout` for the connect and for the
  /// handshake); false with the reason in `why`.
  static bool try_login(const std::string& host, std::uint16_t port, std::string* why = nullptr,
                        std::chrono::milliseconds timeout = std::chrono::milliseconds(1000)) {
    amqp_connection_state_t conn = amqp_new_connection();
    if (conn == nullptr) return fail(why, "amqp_new_connection failed");
    amqp_socket_t* socket = amqp_tcp_socket_new(conn);
    if (socket == nullptr) {
      amqp_destroy_connection(conn);
      return fail(why, "amqp_tcp_socket_new failed");
    }
    timeval tv = to_timeval(timeout);
    int status = amqp_socket_open_noblock(socket, host.c_str(), port, &tv);
    if (status != AMQP_STATUS_OK) {
      amqp_destroy_connection(conn);
      return fail(why, std::string("connect: ") + amqp_error_string2(status));
    }
    amqp_set_handshake_timeout(conn, &tv);
    amqp_set_rpc_timeout(conn, &tv);
    amqp_rpc_reply_t reply =
        amqp_login(conn, "/", 0, 131072, 0, AMQP_SASL_METHOD_PLAIN, "guest", "guest");
    bool ok = reply.reply_type == AMQP_RESPONSE_NORMAL;
    if (ok) {
      amqp_connection_close(conn, AMQP_REPLY_SUCCESS);
    } else if (why != nullptr) {
      *why = reply.reply_type == AMQP_RESPONSE_LIBRARY_EXCEPTION
                 ? std::string("login: ") + amqp_error_string2(reply.library_error)
                 : std::string("login: refused by the server");
    }
    amqp_destroy_connection(conn);
    return ok;
  }

  /// Starts the server (and its epmd) on the ports and directory chosen at construction, so a
  /// restart keeps durable queues. Waits until an AMQP login works (90 s at most); on failure
  /// kills what it started, returns false and error() has the reason and the log's tail.
  /// Call it from a thread that outlives the server (in Catch2 tests, the main thread): the
  /// children get SIGTERM when the thread that forked them ends (PR_SET_PDEATHSIG), so a
  /// crashed test process does not leave a broker behind.
  bool start() {
    if (pid_ > 0) return available_;
    available_ = false;
    if (dir_.empty()) return false;  // the constructor failed; error_ says why
    auto began = std::chrono::steady_clock::now();
    if (!start_epmd()) return false;
    if (!start_server()) return false;
    auto deadline = began + std::chrono::seconds(90);
    std::string why;
    while (!try_login(host(), port_, &why)) {
      int status = 0;
      if (::waitpid(pid_, &status, WNOHANG) == pid_) {
        pid_ = -1;
        kill_group(pgid_);  // what it left (its VM's own children end with the VM)
        stop_epmd();
        return failed("rabbitmq-server exited (" + describe(status) + ") before it accepted " +
                      "a login");
      }
      if (std::chrono::steady_clock::now() >= deadline) {
        stop();
        return failed("rabbitmq-server did not accept a login within 90 s (last: " + why + ")");
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(100));
    }
    last_start_time_ = std::chrono::duration_cast<std::chrono::milliseconds>(
        std::chrono::steady_clock::now() - began);
    available_ = true;
    error_.clear();
    return true;
  }

  /// SIGSTOP / SIGCONT to the server's process group: a paused server keeps its sockets open
  /// and answers nothing (a hung server, or a network that drops every packet without a
  /// reset) until resumed.
  void pause() {
    if (pid_ > 0) ::kill(-pgid_, SIGSTOP);
  }
  void resume() {
    if (pid_ > 0) ::kill(-pgid_, SIGCONT);
  }

  /// SIGTERM to the server's process group (RabbitMQ shuts down cleanly on it), then waits;
  /// SIGKILL to the group after 15 s. Then its epmd. Returns once none of them runs.
  void stop() {
    available_ = false;
    if (pid_ > 0) {
      std::vector<ProcStat> tree = descendants(pid_);
      ::kill(-pgid_, SIGTERM);
      auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(15);
      while (pid_ > 0 || group_alive(pgid_)) {
        reap(pid_);
        if (std::chrono::steady_clock::now() >= deadline) {
          kill_group(pgid_);
          break;
        }
        if (pid_ > 0 || group_alive(pgid_)) {
          std::this_thread::sleep_for(std::chrono::milliseconds(20));
        }
      }
      pid_ = -1;
      end_stragglers(tree);
    }
    stop_epmd();
  }

 private:
  RabbitmqServer() : owner_(::getpid()) {
    if (!prepare()) return;
    start();
  }

  // ---- setup ----

  bool prepare() {
    if (::geteuid() == 0) {
      passwd* pw = ::getpwnam("rabbitmq");
      if (pw == nullptr) return failed("running as root and there is no `rabbitmq` user");
      uid_ = pw->pw_uid;
      gid_ = pw->pw_gid;
      drop_privileges_ = true;
    } else {
      uid_ = ::getuid();
      gid_ = ::getgid();
    }
    server_binary_ =
        find_executable("SWITCHYARD_RABBITMQ_SERVER",
                        {"/usr/lib/rabbitmq/bin/rabbitmq-server", "/usr/sbin/rabbitmq-server"});
    if (server_binary_.empty()) return failed("no rabbitmq-server binary found");
    epmd_binary_ =
        find_executable("SWITCHYARD_EPMD", {"/usr/bin/epmd", "/usr/lib/erlang/bin/epmd"});
    if (epmd_binary_.empty()) return failed("no epmd binary found");

    std::uint16_t ports[3] = {};
    if (!free_ports(ports, 3)) return failed("could not find free loopback ports");
    port_ = ports[0];
    dist_port_ = ports[1];
    epmd_port_ = ports[2];

    const char* tmp = std::getenv("TMPDIR");
    std::string pattern =
        std::string(tmp != nullptr && *tmp != '\0' ? tmp : "/tmp") + "/switchyard-rabbitmq-XXXXXX";
    std::vector<char> buf(pattern.begin(), pattern.end());
    buf.push_back('\0');
    if (::mkdtemp(buf.data()) == nullptr)
      return failed("mkdtemp: " + std::string(std::strerror(errno)));
    std::string dir = buf.data();
    log_path_ = dir + "/server.log";
    bool ok = write_file(dir + "/enabled_plugins", "[].\n") &&
              // loopback_users.guest: guest may log in from loopback only (the default, said
              // here so a changed default does not lock the tests out). The disk limit keeps a
              // nearly full test machine from blocking publishers.
              write_file(dir + "/rabbitmq.conf",
                         "loopback_users.guest = true\n"
                         "disk_free_limit.absolute = 1MB\n") &&
              write_file(dir + "/rabbitmq-env.conf", "") && write_file(log_path_, "");
    for (const char* sub : {"", "/mnesia", "/log"}) {
      std::string path = dir + sub;
      if (*sub != '\0' && ::mkdir(path.c_str(), 0700) != 0) ok = false;
    }
    if (ok && drop_privileges_) {
      for (const char* sub : {"", "/mnesia", "/log", "/enabled_plugins", "/rabbitmq.conf",
                              "/rabbitmq-env.conf", "/server.log"}) {
        if (::chown((dir + sub).c_str(), uid_, gid_) != 0) ok = false;
      }
    }
    dir_ = dir;  // set even on failure, so the destructor removes it
    if (!ok) return failed("could not prepare " + dir + ": " + std::strerror(errno));

    std::string node = "sy" + std::to_string(::getpid()) + "@localhost";
    env_ = inherited_environment();
    for (std::string var : std::initializer_list<std::string>{
             "HOME=" + dir,
             "RABBITMQ_NODENAME=" + node,
             "RABBITMQ_NODE_IP_ADDRESS=127.0.0.1",
             "RABBITMQ_NODE_PORT=" + std::to_string(port_),
             "RABBITMQ_DIST_PORT=" + std::to_string(dist_port_),
             "ERL_EPMD_PORT=" + std::to_string(epmd_port_),
             "ERL_EPMD_ADDRESS=127.0.0.1",
             "RABBITMQ_MNESIA_BASE=" + dir + "/mnesia",
             "RABBITMQ_LOG_BASE=" + dir + "/log",
             "RABBITMQ_LOGS=-",  // the log on stdout, which is server.log
             "RABBITMQ_ENABLED_PLUGINS_FILE=" + dir + "/enabled_plugins",
             "RABBITMQ_FEATURE_FLAGS_FILE=" + dir + "/feature_flags",
             "RABBITMQ_PID_FILE=" + dir + "/rabbitmq.pid",
             "RABBITMQ_CONFIG_FILE=" + dir + "/rabbitmq.conf",
             "RABBITMQ_ADVANCED_CONFIG_FILE=" + dir + "/advanced.config",
             "RABBITMQ_CONF_ENV_FILE=" + dir + "/rabbitmq-env.conf",
             // Our epmd runs before the server does; if it were gone the VM would start a
             // daemon epmd that outlives the test. -start_epmd false makes that a failure.
             "RABBITMQ_SERVER_ADDITIONAL_ERL_ARGS=-start_epmd false",
         }) {
      env_.push_back(std::move(var));
    }
    return true;
  }

  /// The test process's environment without what would point the server elsewhere.
  static std::vector<std::string> inherited_environment() {
    std::vector<std::string> env;
    for (char** e = environ; e != nullptr && *e != nullptr; ++e) {
      std::string var = *e;
      if (var.rfind("RABBITMQ_", 0) == 0 || var.rfind("ERL_", 0) == 0 ||
          var.rfind("HOME=", 0) == 0 || var.rfind("NOTIFY_SOCKET=", 0) == 0) {
        continue;
      }
      env.push_back(std::move(var));
    }
    return env;
  }

  static std::string find_executable(const char* override_var, std::vector<std::string> paths) {
    if (const char* p = std::getenv(override_var)) paths.insert(paths.begin(), p);
    for (const auto& p : paths) {
      if (::access(p.c_str(), X_OK) == 0) return p;
    }
    return {};
  }

  /// Ports the kernel hands out for 127.0.0.1:0, all held at once so they differ.
  static bool free_ports(std::uint16_t* out, int n) {
    std::vector<int> fds;
    bool ok = true;
    for (int i = 0; i < n && ok; ++i) {
      int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
      if (fd < 0) {
        ok = false;
        break;
      }
      fds.push_back(fd);
      sockaddr_in addr{};
      addr.sin_family = AF_INET;
      addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
      addr.sin_port = 0;
      socklen_t len = sizeof addr;
      if (::bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0 ||
          ::getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len) != 0) {
        ok = false;
        break;
      }
      out[i] = ntohs(addr.sin_port);
    }
    for (int fd : fds) ::close(fd);
    return ok;
  }

  static bool write_file(const std::string& path, const std::string& text) {
    std::ofstream f(path, std::ios::trunc);
    f << text;
    return static_cast<bool>(f.flush());
  }

  // ---- processes ----

  /// Forks a child in process group `pgid` (0: a new group it leads) as the server's user,
  /// its stdout and stderr appended to server.log, and execs `argv` with env_.
  pid_t spawn(const std::vector<std::string>& args, pid_t pgid) {
    std::vector<char*> argv;
    for (const auto& a : args) argv.push_back(const_cast<char*>(a.c_str()));
    argv.push_back(nullptr);
    std::vector<char*> envp;
    for (const auto& e : env_) envp.push_back(const_cast<char*>(e.c_str()));
    envp.push_back(nullptr);
    int log = ::open(log_path_.c_str(), O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0600);
    int null = ::open("/dev/null", O_RDONLY | O_CLOEXEC);
    if (log < 0 || null < 0) {
      if (log >= 0) ::close(log);
      if (null >= 0) ::close(null);
      return -1;
    }
    pid_t parent = ::getpid();
    pid_t pid = ::fork();
    if (pid == 0) {
      // Only async-signal-safe calls from here to execve.
      ::setpgid(0, pgid);
      if (drop_privileges_) {
        if (::setgroups(0, nullptr) != 0 || ::setgid(gid_) != 0 || ::setuid(uid_) != 0) {
          ::_exit(126);
        }
      }
      // After the uid change, which clears it.
      ::prctl(PR_SET_PDEATHSIG, SIGTERM);
      if (::getppid() != parent) ::_exit(125);
      ::dup2(null, 0);
      ::dup2(log, 1);
      ::dup2(log, 2);
      ::close_range(3, ~0U, 0);
      if (::chdir(dir_.c_str()) != 0) ::_exit(124);
      ::execve(argv[0], argv.data(), envp.data());
      ::_exit(127);
    }
    ::close(log);
    ::close(null);
    if (pid > 0) ::setpgid(pid, pgid == 0 ? pid : pgid);  // both sides, so no race
    return pid;
  }

  bool start_epmd() {
    epmd_pid_ =
        spawn({epmd_binary_, "-port", std::to_string(epmd_port_), "-address", "127.0.0.1"}, 0);
    if (epmd_pid_ < 0) return failed("fork failed: " + std::string(std::strerror(errno)));
    // The server must find it listening, or it would fail to register its node name.
    auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(10);
    while (!port_accepts(epmd_port_)) {
      int status = 0;
      if (::waitpid(epmd_pid_, &status, WNOHANG) == epmd_pid_) {
        epmd_pid_ = -1;
        return failed("epmd exited (" + describe(status) + ")");
      }
      if (std::chrono::steady_clock::now() >= deadline) {
        stop_epmd();
        return failed("epmd did not listen on port " + std::to_string(epmd_port_) + " within 10 s");
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(20));
    }
    return true;
  }

  bool start_server() {
    pid_ = spawn({server_binary_}, 0);
    if (pid_ < 0) {
      stop_epmd();
      return failed("fork failed: " + std::string(std::strerror(errno)));
    }
    pgid_ = pid_;
    return true;
  }

  void stop_epmd() {
    if (epmd_pid_ <= 0) return;
    ::kill(-epmd_pid_, SIGTERM);
    auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(5);
    while (epmd_pid_ > 0) {
      reap(epmd_pid_);
      if (epmd_pid_ > 0 && std::chrono::steady_clock::now() >= deadline) {
        ::kill(-epmd_pid_, SIGKILL);
        ::waitpid(epmd_pid_, nullptr, 0);
        epmd_pid_ = -1;
      }
      if (epmd_pid_ > 0) std::this_thread::sleep_for(std::chrono::milliseconds(10));
    }
  }

  /// Reaps `pid` if it has exited (then sets it to -1).
  static void reap(pid_t& pid) {
    if (pid <= 0) return;
    pid_t r = ::waitpid(pid, nullptr, WNOHANG);
    if (r == pid || (r < 0 && errno == ECHILD)) pid = -1;
  }

  /// SIGKILL to the group, then waits (5 s at most) until no live member is left.
  static void kill_group(pid_t pgid) {
    ::kill(-pgid, SIGKILL);
    ::waitpid(pgid, nullptr, 0);
    auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(5);
    while (group_alive(pgid) && std::chrono::steady_clock::now() < deadline) {
      std::this_thread::sleep_for(std::chrono::milliseconds(10));
    }
  }

  /// A process as /proc/<pid>/stat shows it; start (clock ticks after boot) tells a pid's
  /// reuse from the process it named.
  struct ProcStat {
    pid_t pid = 0;
    char state = 0;
    pid_t ppid = 0;
    pid_t pgrp = 0;
    unsigned long long start = 0;
    bool live() const { return state != 0 && state != 'Z' && state != 'X'; }
  };

  static ProcStat proc_stat(pid_t pid) {
    ProcStat p;
    std::ifstream f("/proc/" + std::to_string(pid) + "/stat");
    std::string stat((std::istreambuf_iterator<char>(f)), std::istreambuf_iterator<char>());
    auto paren = stat.rfind(')');
    if (paren == std::string::npos) return p;
    std::istringstream rest(stat.substr(paren + 1));
    std::string skip;
    rest >> p.state >> p.ppid >> p.pgrp;
    for (int field = 6; field < 22 && rest; ++field) rest >> skip;  // session .. itrealvalue
    rest >> p.start;
    if (!rest) p.state = 0;
    p.pid = pid;
    return p;
  }

  static std::vector<ProcStat> all_processes() {
    std::vector<ProcStat> all;
    DIR* proc = ::opendir("/proc");
    if (proc == nullptr) return all;
    while (dirent* e = ::readdir(proc)) {
      if (e->d_name[0] < '0' || e->d_name[0] > '9') continue;
      ProcStat p = proc_stat(static_cast<pid_t>(std::atol(e->d_name)));
      if (p.state != 0) all.push_back(p);
    }
    ::closedir(proc);
    return all;
  }

  /// Whether a process other than a zombie is in group `pgid`. The beam VM is the wrapper
  /// script's child: once the script is gone it is reparented, and a container's pid 1 may
  /// never reap it, so a zombie counts as gone (kill(-pgid, 0) would say it is there).
  static bool group_alive(pid_t pgid) {
    for (const auto& p : all_processes()) {
      if (p.pgrp == pgid && p.live()) return true;
    }
    return false;
  }

  /// `root`'s descendants. The VM's erl_child_setup and inet_gethost call setsid(), so they
  /// are not in the server's process group; stop() remembers them and makes sure they end.
  static std::vector<ProcStat> descendants(pid_t root) {
    std::vector<ProcStat> all = all_processes();
    std::vector<ProcStat> found;
    std::vector<pid_t> parents{root};
    while (!parents.empty()) {
      pid_t parent = parents.back();
      parents.pop_back();
      for (const auto& p : all) {
        if (p.ppid == parent && p.live()) {
          found.push_back(p);
          parents.push_back(p.pid);
        }
      }
    }
    return found;
  }

  /// Waits (2 s at most) for the remembered processes to end on their own (they do when the
  /// VM closes their pipes), then SIGKILLs those still running.
  static void end_stragglers(const std::vector<ProcStat>& procs) {
    auto running = [](const ProcStat& p) {
      ProcStat now = proc_stat(p.pid);
      return now.live() && now.start == p.start;
    };
    auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(2);
    for (const auto& p : procs) {
      while (running(p) && std::chrono::steady_clock::now() < deadline) {
        std::this_thread::sleep_for(std::chrono::milliseconds(10));
      }
      if (running(p)) ::kill(p.pid, SIGKILL);
    }
  }

  static bool port_accepts(std::uint16_t port) {
    int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0) return false;
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    addr.sin_port = htons(port);
    bool ok = ::connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) == 0;
    ::close(fd);
    return ok;
  }

  // ---- reporting ----

  static std::string describe(int status) {
    if (WIFEXITED(status)) return "exit code " + std::to_string(WEXITSTATUS(status));
    if (WIFSIGNALED(status)) return "signal " + std::to_string(WTERMSIG(status));
    return "status " + std::to_string(status);
  }

  /// The last `lines` lines of server.log.
  std::string log_tail(std::size_t lines = 40) const {
    std::ifstream f(log_path_);
    std::vector<std::string> all;
    for (std::string line; std::getline(f, line);) all.push_back(line);
    std::string tail;
    for (std::size_t i = all.size() > lines ? all.size() - lines : 0; i < all.size(); ++i) {
      tail += all[i] + "\n";
    }
    return tail;
  }

  bool failed(const std::string& why) {
    available_ = false;
    error_ = "RabbitmqServer: " + why;
    if (!log_path_.empty()) error_ += "\n--- " + log_path_ + " (tail) ---\n" + log_tail();
    return false;
  }

  static bool fail(std::string* why, const std::string& text) {
    if (why != nullptr) *why = text;
    return false;
  }

  static timeval to_timeval(std::chrono::milliseconds d) {
    timeval tv{};
    tv.tv_sec = static_cast<time_t>(d.count() / 1000);
    tv.tv_usec = static_cast<suseconds_t>((d.count() % 1000) * 1000);
    return tv;
  }

  pid_t owner_;
  bool available_ = false;
  std::string error_;
  std::string dir_;
  std::string log_path_;
  std::string server_binary_;
  std::string epmd_binary_;
  std::vector<std::string> env_;
  bool drop_privileges_ = false;
  uid_t uid_ = 0;
  gid_t gid_ = 0;
  std::uint16_t port_ = 0;
  std::uint16_t dist_port_ = 0;
  std::uint16_t epmd_port_ = 0;
  pid_t pid_ = -1;  // the server (the rabbitmq-server script), leader of its process group
  pid_t pgid_ = -1;
  pid_t epmd_pid_ = -1;  // epmd, leader of a group of its own
  std::chrono::milliseconds last_start_time_{0};
};

}  // namespace switchyard::test
