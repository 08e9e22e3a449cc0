// A throwaway PostgreSQL 15 server for the store tests: initdb into a
// temporary folder, listen on a free loopback port, one fresh database per
// test. Started on first use, stopped (pg_ctl stop -m fast) and removed when
// the test process exits, whether the tests passed or not.
//
// The store tests run it with fsync off: their subject is not durability,
// and fsync on makes feedback_tests' 9 other PostgreSQL tests take 24-26 s
// instead of 2.5-3.1 s (this 2-core machine, two runs each of
// feedback_tests --gtest_filter='*Postgres*:-*Durability*'). The durability
// tests ask for a durable server (fsync, synchronous_commit and
// full_page_writes on), run it under extra environment (crash_fs), crash()
// it and start() it again.
//
// initdb and postgres refuse to run as root; as root they run as the
// `postgres` user (runuser). Missing binaries are an error, not a skip: CI
// installs them (scripts/install-deps, Debian package postgresql).
#pragma once

#include <netinet/in.h>
#include <pwd.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <pqxx/pqxx>
#include <sstream>
#include <string>
#include <vector>

#include "core/status.h"

namespace flywheel::feedback::testing {

struct PostgresServerOptions {
  bool durable = false;
};

class PostgresServer {
 public:
  static constexpr const char* kBin = "/usr/lib/postgresql/15/bin";

  explicit PostgresServer(PostgresServerOptions options = {}) : options_(std::move(options)) {}
  ~PostgresServer() { stop(); }
  PostgresServer(const PostgresServer&) = delete;
  PostgresServer& operator=(const PostgresServer&) = delete;

  // initdb, without starting the server (new_database() starts it).
  Status init() {
    if (!initialized_) {
      initialized_ = true;
      init_status_ = initdb();
    }
    return init_status_;
  }
  std::string data_dir() const { return (dir_ / "data").string(); }
  // NAME=value assignments (e.g. LD_PRELOAD) for the server's processes, until start().
  void set_environment(std::vector<std::string> environment) { environment_ = std::move(environment); }
  std::string work_dir() const { return dir_.string(); }

  // Immediate shutdown: every server process quits at once without writing
  // anything more (what a power cut does to the processes). A postmaster
  // that is dead already is fine.
  Status crash() {
    if (!running_) return Status::internal("the PostgreSQL server is not running");
    running_ = false;
    if (alive() && run("pg_ctl -D " + data_dir() + " -m immediate -w stop") != 0 && alive())
      return Status::internal("pg_ctl stop -m immediate failed:\n" + log_tail());
    return Status::OK();
  }

  // Whether the postmaster runs (false once it was killed, even before anyone reaped it).
  bool alive() const {
    std::ifstream pid_file(dir_ / "data" / "postmaster.pid");
    long pid = 0;
    if (!(pid_file >> pid) || pid <= 0) return false;
    std::ifstream stat("/proc/" + std::to_string(pid) + "/stat");
    std::string ignored, state;
    return static_cast<bool>(stat >> ignored >> ignored >> state) && state != "Z" && state != "X";
  }

  // Starts the server again on the same data directory and port, now without
  // the extra environment and with fsync off: crash recovery runs here, and
  // what it reads back is under test, not its own durability (with fsync on,
  // recovery first fsyncs every file of the data directory: 10 s here).
  Status start() {
    environment_.clear();
    options_.durable = false;
    started_ = true;
    start_status_ = launch();
    return start_status_;
  }

  // postgresql://postgres@127.0.0.1:PORT/NAME for a new, empty database.
  Result<std::string> new_database() {
    if (!started_) {
      started_ = true;
      start_status_ = init();
      if (start_status_.ok()) start_status_ = launch();
    }
    if (!start_status_.ok()) return start_status_;
    const std::string name = "t" + std::to_string(databases_++);
    try {
      pqxx::connection admin(url("postgres"));
      pqxx::nontransaction work(admin);
      work.exec("CREATE DATABASE " + name);
    } catch (const std::exception& e) {
      return Status::internal("CREATE DATABASE " + name + ": " + e.what());
    }
    return url(name);
  }

 private:
  std::string url(const std::string& database) const {
    return "postgresql://postgres@127.0.0.1:" + std::to_string(port_) + "/" + database;
  }

  // Runs a server binary, as `postgres` when we are root, with `environment`
  // added; output goes to log_.
  int run(const std::string& args, const std::vector<std::string>& environment = {}) const {
    std::string command = ::getuid() == 0 ? "runuser -u postgres -- " : "";
    if (!environment.empty()) {
      command += "env";
      for (const auto& assignment : environment) command += " '" + assignment + "'";
      command += " ";
    }
    command += kBin + std::string("/") + args + " >>" + log_.string() + " 2>&1";
    return std::system(command.c_str());
  }

  std::string log_tail() const {
    std::ifstream in(log_);
    std::stringstream text;
    text << in.rdbuf();
    std::string s = text.str();
    return s.size() > 2000 ? s.substr(s.size() - 2000) : s;
  }

  static int free_port() {
    const int fd = ::socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in address{};
    address.sin_family = AF_INET;
    address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t length = sizeof(address);
    int port = 0;
    if (::bind(fd, reinterpret_cast<sockaddr*>(&address), sizeof(address)) == 0 &&
        ::getsockname(fd, reinterpret_cast<sockaddr*>(&address), &length) == 0)
      port = ntohs(address.sin_port);
    ::close(fd);
    return port;
  }

  Status initdb() {
    namespace fs = std::filesystem;
    for (const char* binary : {"initdb", "pg_ctl", "postgres"})
      if (!fs::exists(fs::path(kBin) / binary))
        return Status::not_found(std::string("PostgreSQL 15 server binaries are missing (") + kBin + "/" + binary +
                                 "): the PostgreSQL store tests need them; install them with scripts/install-deps "
                                 "(Debian package postgresql)");
    static std::atomic<int> counter{0};
    dir_ = fs::temp_directory_path() / ("flywheel-pg-" + std::to_string(::getpid()) + "-" + std::to_string(counter++));
    fs::remove_all(dir_);
    fs::create_directories(dir_ / "socket");
    log_ = dir_ / "server.log";
    std::ofstream(log_).flush();
    if (::getuid() == 0) {
      const passwd* user = ::getpwnam("postgres");
      if (user == nullptr) return Status::not_found("running as root, but there is no 'postgres' user to run initdb");
      for (const auto& entry : fs::recursive_directory_iterator(dir_))
        if (::chown(entry.path().c_str(), user->pw_uid, user->pw_gid) != 0) return Status::from_errno("chown", errno);
      if (::chown(dir_.c_str(), user->pw_uid, user->pw_gid) != 0) return Status::from_errno("chown", errno);
    }
    if (run("initdb --no-sync -A trust -U postgres -E UTF8 --locale=C -D " + data_dir()) != 0)
      return Status::internal("initdb failed:\n" + log_tail());
    port_ = free_port();
    return Status::OK();
  }

  Status launch() {
    // wal_sync_method is named because crash_fs models fdatasync, not O_DSYNC writes.
    const std::string durability = options_.durable ? "-c fsync=on -c synchronous_commit=on -c full_page_writes=on "
                                                      "-c wal_sync_method=fdatasync"
                                                    : "-c fsync=off -c synchronous_commit=off -c full_page_writes=off";
    const std::string options = "-p " + std::to_string(port_) + " -k " + (dir_ / "socket").string() +
                                " -c listen_addresses=127.0.0.1 " + durability;
    if (run("pg_ctl -D " + data_dir() + " -l " + (dir_ / "postgres.log").string() + " -w -t 60 -o '" + options +
                "' start",
            environment_) != 0) {
      std::ifstream server_log(dir_ / "postgres.log");
      std::stringstream text;
      text << server_log.rdbuf();
      return Status::internal("pg_ctl start failed:\n" + log_tail() + "\n" + text.str());
    }
    running_ = true;
    return Status::OK();
  }

  void stop() {
    if (running_) (void)run("pg_ctl -D " + (dir_ / "data").string() + " -m fast -w stop");
    running_ = false;
    std::error_code ec;
    if (!dir_.empty()) std::filesystem::remove_all(dir_, ec);
  }

  PostgresServerOptions options_;
  std::vector<std::string> environment_;
  bool initialized_ = false;
  Status init_status_;
  bool started_ = false;
  bool running_ = false;
  Status start_status_;
  std::filesystem::path dir_, log_;
  int port_ = 0;
  int databases_ = 0;
};

// One server per test process.
inline PostgresServer& postgres_server() {
  static PostgresServer server;
  return server;
}

}  // namespace flywheel::feedback::testing
