// Data parallelism end to end: ranks of train_dist_worker started the way
// torchrun would (RANK, WORLD_SIZE, ... on 127.0.0.1 and a free port), then
// through mpirun and torchrun when they exist. Checks that 2 ranks end with
// the parameters of single-process training on the whole batch, that
// collectives give the right values, and that a dead, hung or missing rank
// makes the others fail with a clear error within the timeout.
#include <fcntl.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <functional>
#include <map>
#include <memory>
#include <nlohmann/json.hpp>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "tests/common/dependency.h"
#include "train/local_launcher.h"

namespace {

namespace fs = std::filesystem;
using Clock = std::chrono::steady_clock;

const char* kWorker = FLYWHEEL_DIST_WORKER;

// Launcher variables of whatever runs these tests must not leak into ranks.
const char* kLauncherVars[] = {"RANK",
                               "WORLD_SIZE",
                               "LOCAL_RANK",
                               "MASTER_ADDR",
                               "MASTER_PORT",
                               "TORCHELASTIC_USE_AGENT_STORE",
                               "OMPI_COMM_WORLD_RANK",
                               "OMPI_COMM_WORLD_SIZE",
                               "OMPI_COMM_WORLD_LOCAL_RANK",
                               "OMPI_COMM_WORLD_LOCAL_SIZE",
                               "PMI_RANK",
                               "PMI_SIZE",
                               "SLURM_PROCID",
                               "SLURM_NTASKS",
                               "SLURM_STEP_NUM_TASKS",
                               "SLURM_LOCALID",
                               "GLOO_SOCKET_IFNAME"};

int free_port() {
  int fd = socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  addr.sin_port = 0;
  bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr);
  socklen_t len = sizeof addr;
  getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len);
  close(fd);
  return ntohs(addr.sin_port);
}

struct Process {
  pid_t pid = -1;
  fs::path out, err;
  // Exit status, -signal, or -1000 while running; shared by copies so that a
  // process is reaped (and its pid forgotten) once.
  std::shared_ptr<int> code = std::make_shared<int>(-1000);
  bool running() const { return *code == -1000; }
  std::string stdout_text() const { return read(out); }
  std::string stderr_text() const { return read(err); }
  static std::string read(const fs::path& p) {
    std::ifstream f(p);
    std::stringstream s;
    s << f.rdbuf();
    return s.str();
  }
};

Process spawn(const std::vector<std::string>& argv, const std::map<std::string, std::string>& env,
              const fs::path& log_stem) {
  Process p;
  p.out = log_stem.string() + ".out";
  p.err = log_stem.string() + ".err";
  p.pid = fork();
  if (p.pid == 0) {
    int out = open(p.out.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
    int err = open(p.err.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
    dup2(out, 1);
    dup2(err, 2);
    setpgid(0, 0);  // mpirun/torchrun children die with their group
    for (const char* name : kLauncherVars) unsetenv(name);
    // One OpenBLAS thread in every process (ranks, references, launchers'
    // children): how OpenBLAS splits a GEMM between threads changes which
    // kernel sums which block, and so the float32 rounding, on some core
    // types (Haswell's kernels: the reference with 2 threads and torchrun's
    // ranks with OMP_NUM_THREADS=1 differed by 1.2e-7). The bit-identical
    // comparisons need the same sums in the same order on both sides.
    setenv("OPENBLAS_NUM_THREADS", "1", 1);
    for (const auto& [k, v] : env) setenv(k.c_str(), v.c_str(), 1);
    std::vector<char*> args;
    for (const auto& a : argv) args.push_back(const_cast<char*>(a.c_str()));
    args.push_back(nullptr);
    execvp(args[0], args.data());
    std::perror("execvp");
    _exit(127);
  }
  return p;
}

// Waits up to `limit` for the process; kills its group on overrun.
int wait_for(Process& p, std::chrono::duration<double> limit) {
  if (!p.running() || p.pid <= 0) return *p.code;
  const auto deadline = Clock::now() + std::chrono::duration_cast<Clock::duration>(limit);
  while (true) {
    int status = 0;
    pid_t r = waitpid(p.pid, &status, WNOHANG);
    if (r == p.pid) {
      *p.code = WIFEXITED(status) ? WEXITSTATUS(status) : -WTERMSIG(status);
      return *p.code;
    }
    if (r < 0) return *p.code = -998;
    if (Clock::now() > deadline) {
      kill(-p.pid, SIGKILL);  // its process group: mpirun's and torchrun's children too
      kill(p.pid, SIGKILL);
      waitpid(p.pid, &status, 0);
      return *p.code = -999;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
}

// dist_worker.cpp's AdamW: lr 1e-3 (and weight decay 0.1), libtorch's default betas and eps.
constexpr double kLr = 1e-3, kBeta1 = 0.9, kBeta2 = 0.999, kEps = 1e-8;
constexpr double kUnitRoundoff = 0x1p-24;  // float32's u

// For each parameter, how far two AdamW runs from the same start can end
// apart after `steps` steps, given each run's gradients (grads_a, grads_b:
// `steps` blocks of N) and one run's final parameters (N).
//
// Two ranks and one process on the whole batch sum the same gradient terms in
// another order, so their gradients differ by float32 rounding (on the order
// of n·u·Σ|terms|). AdamW's step is θ ← θ·(1 - lr·wd) - lr·r with
// r = m̂ / (√v̂ + ε); at the first step r = g / (|g| + ε), about sign(g) when
// |g| >> ε (rounding changes nothing) but of slope 1/ε near 0: an element
// whose gradient is within rounding of zero can move up to 2·lr differently,
// so no fixed tolerance short of 2·lr·steps holds for every element on every
// BLAS kernel (1e-5 failed on Haswell's). The bound is AdamW applied to the two
// runs' own gradients: from the same start, Δθ_T = Σ_t (1 - lr·wd)^(T-t)·lr·Δr_t,
// so |Δθ_T| ≤ Σ_t lr·|r_t(a) - r_t(b)|, r computed here in double (that the
// gradients themselves agree is the SGD tests' part: SGD is linear in them); plus float32
// rounding in each run: r within 40u (m and v gather ≤ 3u a step, then √, +ε,
// ÷ and the β's as floats; relative to |r| ≤ 1.01 for t ≤ 4, by Cauchy-Schwarz
// on m and v), and two roundings of θ a step, u·(|θ| + 2·lr·steps) each.
std::vector<double> adamw_bound(const std::vector<float>& grads_a, const std::vector<float>& grads_b,
                                const std::vector<float>& final_params, int steps) {
  const size_t n = final_params.size();
  EXPECT_EQ(grads_a.size(), n * steps);
  EXPECT_EQ(grads_b.size(), n * steps);
  if (grads_a.size() != n * steps || grads_b.size() != n * steps) return std::vector<double>(n, 0.0);
  std::vector<double> bound(n, 0.0);
  for (size_t i = 0; i < n; ++i) {
    double m_a = 0, v_a = 0, m_b = 0, v_b = 0, moved = 0;
    for (int t = 1; t <= steps; ++t) {
      const double g_a = grads_a[(t - 1) * n + i], g_b = grads_b[(t - 1) * n + i];
      m_a = kBeta1 * m_a + (1 - kBeta1) * g_a;
      v_a = kBeta2 * v_a + (1 - kBeta2) * g_a * g_a;
      m_b = kBeta1 * m_b + (1 - kBeta1) * g_b;
      v_b = kBeta2 * v_b + (1 - kBeta2) * g_b * g_b;
      const double c1 = 1 - std::pow(kBeta1, t), c2 = 1 - std::pow(kBeta2, t);
      const double r_a = (m_a / c1) / (std::sqrt(v_a / c2) + kEps);
      const double r_b = (m_b / c1) / (std::sqrt(v_b / c2) + kEps);
      moved += kLr * (std::fabs(r_a - r_b) + 2 * 40 * kUnitRoundoff);
    }
    const double theta = std::fabs(double(final_params[i])) + 2 * kLr * steps;
    bound[i] = moved + steps * 2 * 2 * kUnitRoundoff * theta;
  }
  return bound;
}

class Distributed : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = fs::temp_directory_path() / ("flywheel_dist_" + std::to_string(getpid()) + "_" +
                                        ::testing::UnitTest::GetInstance()->current_test_info()->name());
    fs::remove_all(dir_);
    fs::create_directories(dir_);
  }
  void TearDown() override {
    for (auto& p : running_) wait_for(p, std::chrono::seconds(0));
    if (!HasFailure()) fs::remove_all(dir_);
  }

  // N ranks with torchrun's variables on 127.0.0.1.
  std::vector<Process> launch(int world, const std::vector<std::string>& args, int port = 0) {
    if (port == 0) port = free_port();
    std::vector<Process> ranks;
    for (int r = 0; r < world; ++r) {
      std::vector<std::string> argv{kWorker};
      argv.insert(argv.end(), args.begin(), args.end());
      ranks.push_back(spawn(argv,
                            {{"RANK", std::to_string(r)},
                             {"WORLD_SIZE", std::to_string(world)},
                             {"LOCAL_RANK", std::to_string(r)},
                             {"MASTER_ADDR", "127.0.0.1"},
                             {"MASTER_PORT", std::to_string(port)}},
                            dir_ / ("rank" + std::to_string(r))));
    }
    running_.insert(running_.end(), ranks.begin(), ranks.end());
    return ranks;
  }

  void expect_success(std::vector<Process>& ranks, double limit_s = 40) {
    for (auto& p : ranks) {
      int code = wait_for(p, std::chrono::duration<double>(limit_s));
      EXPECT_EQ(code, 0) << "stdout:\n" << p.stdout_text() << "\nstderr:\n" << p.stderr_text();
    }
  }

  std::vector<float> read_floats(const fs::path& path) {
    std::ifstream f(path, std::ios::binary);
    std::vector<char> bytes((std::istreambuf_iterator<char>(f)), std::istreambuf_iterator<char>());
    std::vector<float> v(bytes.size() / sizeof(float));
    std::memcpy(v.data(), bytes.data(), v.size() * sizeof(float));
    return v;
  }

  // The single-process reference: the worker with no launcher variables.
  std::vector<float> reference(const std::string& name, std::vector<std::string> train_args) {
    std::vector<std::string> argv{kWorker, "train", (dir_ / name).string()};
    argv.insert(argv.end(), train_args.begin(), train_args.end());
    Process p = spawn(argv, {}, dir_ / name);
    EXPECT_EQ(wait_for(p, std::chrono::seconds(40)), 0) << p.stderr_text();
    return read_floats(dir_ / (name + ".rank0"));
  }

  double max_difference(const std::vector<float>& a, const std::vector<float>& b) {
    EXPECT_EQ(a.size(), b.size());
    EXPECT_GT(a.size(), 1000u);
    double worst = a.size() == b.size() ? 0 : INFINITY;
    for (size_t i = 0; i < std::min(a.size(), b.size()); ++i) worst = std::max(worst, std::fabs(double(a[i]) - b[i]));
    return worst;
  }

  // The largest |2 ranks - 1 process| allowed: one for every parameter, or a
  // function of the runs' output files giving one per parameter.
  struct Tolerance {
    Tolerance(double uniform) : uniform(uniform) {}  // NOLINT: a number reads best at the call
    Tolerance(std::function<std::vector<double>()> per_parameter) : per_parameter(std::move(per_parameter)) {}
    double uniform = 0;
    std::function<std::vector<double>()> per_parameter;
  };

  // Runs `train_args` on 2 ranks (started by `start`) and compares with the
  // single-process reference; returns rank 0's summary.
  // With `bitwise`, also checks that the ranks end bit-identical to one
  // process accumulating the ranks' slices in rank order (the same sums in
  // the same order: only the sync differs), which holds without accumulation.
  //
  // Against the whole batch in one process the sums run in another order, so
  // float32 rounding differs: about 1e-8 with SGD (the same difference as
  // between one process on the whole batch and one accumulating two halves);
  // AdamW magnifies it (adamw_bound).
  nlohmann::json check_equivalence(const std::vector<std::string>& train_args,
                                   const std::function<std::vector<Process>(const std::vector<std::string>&)>& start,
                                   const Tolerance& tolerance, bool bitwise = false) {
    const std::vector<float> single = reference("single", train_args);
    std::vector<std::string> args{"train", (dir_ / "dp").string()};
    args.insert(args.end(), train_args.begin(), train_args.end());
    auto ranks = start(args);
    expect_success(ranks);
    if (HasFailure()) return {};
    const auto rank0 = read_floats(dir_ / "dp.rank0"), rank1 = read_floats(dir_ / "dp.rank1");
    EXPECT_EQ(rank0, rank1) << "the ranks' parameters differ";
    const double diff = max_difference(rank0, single);
    std::printf("2 ranks vs 1 process, max |difference| of %zu parameters: %.3g\n", single.size(), diff);
    RecordProperty("max_difference", std::to_string(diff));
    if (tolerance.per_parameter) {
      const std::vector<double> bound = tolerance.per_parameter();
      EXPECT_EQ(bound.size(), single.size());
      size_t over = 0;
      double tightest = 0;  // the largest difference / bound
      for (size_t i = 0; i < std::min(bound.size(), std::min(single.size(), rank0.size())); ++i) {
        const double d = std::fabs(double(rank0[i]) - single[i]);
        tightest = std::max(tightest, d / bound[i]);
        if (d > bound[i] && ++over <= 5)
          ADD_FAILURE() << "parameter " << i << ": |2 ranks - 1 process| = " << d << " > its bound " << bound[i];
      }
      std::printf("largest difference / its bound: %.3g\n", tightest);
      EXPECT_EQ(over, 0u);
    } else {
      EXPECT_LE(diff, tolerance.uniform);
    }
    if (bitwise) {
      std::vector<std::string> sliced_args = train_args;
      sliced_args.push_back("ref_slices=2");
      const std::vector<float> sliced = reference("sliced", sliced_args);
      const double sliced_diff = max_difference(rank0, sliced);
      std::printf("2 ranks vs 1 process accumulating the same 2 slices: %.3g\n", sliced_diff);
      EXPECT_EQ(sliced_diff, 0.0);
    }
    // Rank 0's summary is the JSON line on its stdout (mpirun and torchrun
    // may add lines of their own).
    std::istringstream lines(ranks[0].stdout_text());
    std::string line;
    nlohmann::json summary;
    while (std::getline(lines, line)) {
      auto start_brace = line.find('{');
      if (start_brace == std::string::npos) continue;
      auto j = nlohmann::json::parse(line.substr(start_brace), nullptr, false);
      if (!j.is_discarded() && j.value("rank", -1) == 0) summary = j;
    }
    EXPECT_FALSE(summary.is_null()) << ranks[0].stdout_text();
    return summary;
  }

  fs::path dir_;
  std::vector<Process> running_;
};

TEST_F(Distributed, Collectives) {
  auto ranks = launch(2, {"collectives"});
  expect_success(ranks);
}

TEST_F(Distributed, TwoRanksMatchOneProcessSgd) {
  auto summary = check_equivalence(
      {"steps=4", "optimizer=sgd"}, [&](const auto& args) { return launch(2, args); }, 1e-6, /*bitwise=*/true);
  EXPECT_EQ(summary.value("launcher", ""), "torchrun");
  // Small buckets: several, every one launched from the autograd hooks
  // during backward rather than after it.
  EXPECT_GT(summary.value("buckets", 0), 3);
  EXPECT_EQ(summary.value("launched_during_backward", -1), summary.value("buckets", 0));
}

TEST_F(Distributed, TwoRanksWithAccumulationMatchOneProcess) {
  // 2 ranks x 2 micro-batches of 2 sequences against 8 sequences at once;
  // only the last micro-step's backward synchronizes.
  auto summary = check_equivalence(
      {"steps=4", "optimizer=sgd", "accum=2", "bucket_bytes=100000"}, [&](const auto& args) { return launch(2, args); },
      1e-6);
  EXPECT_EQ(summary.value("launched_during_backward", -1), summary.value("buckets", 0));
}

TEST_F(Distributed, TwoRanksMatchOneProcessAdamW) {
  // Bit-identical to one process accumulating the two slices; against the
  // whole batch at once, within what AdamW makes of the gradients' rounding.
  const int steps = 4;
  check_equivalence(
      {"steps=" + std::to_string(steps), "optimizer=adamw", "grads=1"},
      [&](const auto& args) { return launch(2, args); }, Tolerance([&] {
        return adamw_bound(read_floats(dir_ / "dp.grads.rank0"), read_floats(dir_ / "single.grads.rank0"),
                           read_floats(dir_ / "single.rank0"), steps);
      }),
      /*bitwise=*/true);
}

TEST_F(Distributed, WithoutOverlapTheResultIsTheSame) {
  auto summary = check_equivalence(
      {"steps=3", "optimizer=sgd", "overlap=0"}, [&](const auto& args) { return launch(2, args); }, 1e-6, true);
  EXPECT_EQ(summary.value("launched_during_backward", -1), 0);
}

TEST_F(Distributed, KilledRankMakesTheOthersFailFast) {
  const fs::path ready = dir_ / "ready";
  auto ranks = launch(2, {"die", ready.string(), "timeout_ms=15000"});
  const auto wait_start = Clock::now();
  while (!fs::exists(ready) && Clock::now() - wait_start < std::chrono::seconds(30))
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  ASSERT_TRUE(fs::exists(ready)) << ranks[1].stderr_text();
  std::this_thread::sleep_for(std::chrono::milliseconds(200));  // rank 0 is inside all_reduce
  const auto killed = Clock::now();
  kill(ranks[1].pid, SIGKILL);
  wait_for(ranks[1], std::chrono::seconds(5));
  const int code = wait_for(ranks[0], std::chrono::seconds(30));
  const double seconds = std::chrono::duration<double>(Clock::now() - killed).count();
  const std::string err = ranks[0].stderr_text();
  EXPECT_EQ(code, 3) << err;
  EXPECT_LT(seconds, 15.0) << "rank 0 took longer than its timeout to notice";
  EXPECT_NE(err.find("all_reduce failed on rank 0 of 2"), std::string::npos) << err;
  EXPECT_EQ(err.find("barrier after a failure succeeded"), std::string::npos) << err;
  std::printf("rank 0 exited %.2f s after rank 1 was killed:\n%s", seconds, err.c_str());
}

TEST_F(Distributed, HungRankMakesTheOthersFailAtTheTimeout) {
  const fs::path ready = dir_ / "ready";
  auto ranks = launch(2, {"die", ready.string(), "timeout_ms=2000"});
  const auto start = Clock::now();
  const int code = wait_for(ranks[0], std::chrono::seconds(30));
  const double seconds = std::chrono::duration<double>(Clock::now() - start).count();
  const std::string err = ranks[0].stderr_text();
  EXPECT_EQ(code, 3) << err;
  EXPECT_LT(seconds, 15.0);
  EXPECT_NE(err.find("deadline exceeded"), std::string::npos) << err;
  EXPECT_NE(err.find("timeout (2 s)"), std::string::npos) << err;
  std::printf("rank 0 exited after %.2f s (hung peer, timeout 2 s):\n%s", seconds, err.c_str());
  kill(ranks[1].pid, SIGKILL);
  wait_for(ranks[1], std::chrono::seconds(5));
}

TEST_F(Distributed, MissingRankFailsTheRendezvous) {
  const int port = free_port();
  Process rank0 =
      spawn({kWorker, "rendezvous", "timeout_ms=1500"},
            {{"RANK", "0"}, {"WORLD_SIZE", "2"}, {"MASTER_ADDR", "127.0.0.1"}, {"MASTER_PORT", std::to_string(port)}},
            dir_ / "rank0");
  running_.push_back(rank0);
  const int code = wait_for(rank0, std::chrono::seconds(20));
  const std::string err = rank0.stderr_text();
  EXPECT_EQ(code, 3) << err;
  EXPECT_NE(err.find("rendezvous failed on rank 0 of 2"), std::string::npos) << err;
}

bool has_program(const std::string& command) { return std::system((command + " >/dev/null 2>&1").c_str()) == 0; }

TEST_F(Distributed, ThroughMpirun) {
  FLYWHEEL_REQUIRE_DEPENDENCY(has_program("command -v mpirun"), "mpirun (Debian openmpi-bin)");
  const int port = free_port();
  auto summary = check_equivalence(
      {"steps=3", "optimizer=sgd"},
      [&](const std::vector<std::string>& args) {
        std::vector<std::string> argv{"mpirun",
                                      "--allow-run-as-root",
                                      "--oversubscribe",
                                      "--bind-to",
                                      "none",
                                      "-np",
                                      "2",
                                      "-x",
                                      "MASTER_PORT=" + std::to_string(port),
                                      kWorker};
        argv.insert(argv.end(), args.begin(), args.end());
        // Rank 1's output comes through mpirun too; one process stands for both.
        Process p = spawn(argv, {}, dir_ / "mpirun");
        running_.push_back(p);
        return std::vector<Process>{p};
      },
      1e-6, true);
  EXPECT_EQ(summary.value("launcher", ""), "mpi");
}

TEST_F(Distributed, ThroughTorchrun) {
  FLYWHEEL_REQUIRE_DEPENDENCY(has_program("/usr/bin/python3 -m torch.distributed.run --help"),
                              "/usr/bin/python3 -m torch.distributed.run (Debian python3-torch)");
  const int port = free_port();
  auto summary = check_equivalence(
      {"steps=3", "optimizer=sgd"},
      [&](const std::vector<std::string>& args) {
        // --redirects/--tee: their default "0" breaks torch 1.13's launcher on
        // Python 3.11 (Std.from_str finds no member for 0 and returns None).
        std::vector<std::string> argv{"/usr/bin/python3",
                                      "-m",
                                      "torch.distributed.run",
                                      "--nproc_per_node",
                                      "2",
                                      "--master_addr",
                                      "127.0.0.1",
                                      "--master_port",
                                      std::to_string(port),
                                      "--redirects",
                                      "1",
                                      "--tee",
                                      "1",
                                      "--log_dir",
                                      (dir_ / "torchrun_logs").string(),
                                      "--monitor_interval",
                                      "0.2",
                                      "--no_python",
                                      kWorker};
        argv.insert(argv.end(), args.begin(), args.end());
        Process p = spawn(argv, {{"OMP_NUM_THREADS", "1"}}, dir_ / "torchrun");
        running_.push_back(p);
        return std::vector<Process>{p};
      },
      1e-6, true);
  EXPECT_EQ(summary.value("launcher", ""), "torchrun");
}

// `flywheel train --nproc N`'s launcher.
TEST(LocalLauncher, RunsRanksAndReportsTheFirstFailure) {
  flywheel::train::LocalLaunchOptions options;
  options.nproc = 2;
  flywheel::Status ok = flywheel::train::run_local_ranks({kWorker, "collectives"}, options);
  EXPECT_TRUE(ok.ok()) << ok.to_string();

  options.grace = std::chrono::seconds(20);
  const auto start = Clock::now();
  flywheel::Status failed = flywheel::train::run_local_ranks({kWorker, "exit", "timeout_ms=20000"}, options);
  ASSERT_FALSE(failed.ok());
  EXPECT_EQ(failed.code(), flywheel::StatusCode::kUnavailable);
  EXPECT_NE(failed.message().find("rank 1: exited with code 7"), std::string::npos) << failed.message();
  EXPECT_NE(failed.message().find("rank 0: exited with code 3"), std::string::npos) << failed.message();
  EXPECT_LT(std::chrono::duration<double>(Clock::now() - start).count(), 15.0);

  EXPECT_EQ(flywheel::train::run_local_ranks({kWorker}, {.nproc = 0}).code(), flywheel::StatusCode::kInvalidArgument);
  flywheel::Status missing = flywheel::train::run_local_ranks({"/nonexistent/program"}, {.nproc = 1});
  EXPECT_NE(missing.message().find("rank 0 exited with code 127"), std::string::npos) << missing.to_string();
}

}  // namespace
