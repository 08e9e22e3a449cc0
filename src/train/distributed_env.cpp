// Rank, world size and master address from the launcher's environment
// (torchrun, Open MPI / MPICH, Slurm), and Slurm host-list expansion.
#include <charconv>
#include <cstdlib>

#include "train/distributed.h"

namespace flywheel::train {

namespace {

std::string_view trim(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t' || s.front() == '\n')) s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t' || s.back() == '\n')) s.remove_suffix(1);
  return s;
}

Result<long long> parse_integer(std::string_view name, std::string_view text) {
  std::string_view t = trim(text);
  long long value = 0;
  auto [end, ec] = std::from_chars(t.data(), t.data() + t.size(), value);
  if (t.empty() || ec != std::errc() || end != t.data() + t.size())
    return Status::invalid_argument(std::string(name) + "='" + std::string(text) + "' is not an integer");
  return value;
}

// The launcher's view of one variable; empty values count as unset.
class Vars {
 public:
  explicit Vars(const EnvLookup& getenv) : getenv_(getenv) {}

  std::optional<std::string> get(std::string_view name) const {
    auto v = getenv_(name);
    if (v && trim(*v).empty()) return std::nullopt;
    return v;
  }
  bool has(std::string_view name) const { return get(name).has_value(); }

  // The integer value of `name`, `fallback` when unset (an error when unset and no fallback).
  Result<int> integer(std::string_view name, std::optional<int> fallback, std::string_view launcher) const {
    auto v = get(name);
    if (!v) {
      if (fallback) return *fallback;
      return Status::invalid_argument(std::string(name) + " is not set, but the environment looks like a " +
                                      std::string(launcher) + " launch (it sets the rank and the world size)");
    }
    FW_ASSIGN_OR_RETURN(long long value, parse_integer(name, *v));
    if (value < INT32_MIN || value > INT32_MAX)
      return Status::invalid_argument(std::string(name) + "=" + *v + " is out of range");
    return static_cast<int>(value);
  }

 private:
  const EnvLookup& getenv_;
};

Status check_consistent(const DistributedEnv& env, std::string_view rank_var, std::string_view size_var,
                        std::string_view local_var) {
  const std::string where = " (launcher " + env.launcher + ")";
  if (env.world_size < 1)
    return Status::invalid_argument(std::string(size_var) + "=" + std::to_string(env.world_size) +
                                    " must be at least 1" + where);
  if (env.rank < 0 || env.rank >= env.world_size)
    return Status::invalid_argument(std::string(rank_var) + "=" + std::to_string(env.rank) + " must be in [0, " +
                                    std::string(size_var) + "=" + std::to_string(env.world_size) + ")" + where);
  if (env.local_rank < 0 || env.local_rank >= env.world_size || env.local_rank > env.rank)
    return Status::invalid_argument(std::string(local_var) + "=" + std::to_string(env.local_rank) + " must be in [0, " +
                                    std::string(rank_var) + "=" + std::to_string(env.rank) + "]" + where);
  if (env.master_port < 1 || env.master_port > 65535)
    return Status::invalid_argument("MASTER_PORT=" + std::to_string(env.master_port) + " must be in [1, 65535]" +
                                    where);
  if (env.master_addr.empty()) return Status::invalid_argument("MASTER_ADDR is empty" + where);
  return Status::OK();
}

Result<DistributedEnv> from_torchrun(const Vars& vars) {
  DistributedEnv env;
  env.launcher = "torchrun";
  FW_ASSIGN_OR_RETURN(env.rank, vars.integer("RANK", std::nullopt, "torchrun"));
  FW_ASSIGN_OR_RETURN(env.world_size, vars.integer("WORLD_SIZE", std::nullopt, "torchrun"));
  // A hand-made single-node launch may leave LOCAL_RANK out: then it is the rank.
  FW_ASSIGN_OR_RETURN(env.local_rank, vars.integer("LOCAL_RANK", env.rank, "torchrun"));
  if (env.world_size > 1) {
    auto addr = vars.get("MASTER_ADDR");
    if (!addr || !vars.has("MASTER_PORT"))
      return Status::invalid_argument(
          "RANK and WORLD_SIZE are set but MASTER_ADDR or MASTER_PORT is not: torchrun sets them; for a launch by "
          "hand export MASTER_ADDR=<host of rank 0> and MASTER_PORT=<a free port> on every rank");
    env.master_addr = std::string(trim(*addr));
  }
  FW_ASSIGN_OR_RETURN(env.master_port, vars.integer("MASTER_PORT", kDefaultMasterPort, "torchrun"));
  auto agent = vars.get("TORCHELASTIC_USE_AGENT_STORE");
  env.agent_store = agent && (*agent == "True" || *agent == "true" || *agent == "1");
  FW_ASSIGN_OR_RETURN(int restart, vars.integer("TORCHELASTIC_RESTART_COUNT", 0, "torchrun"));
  env.store_prefix = "flywheel/" + std::to_string(restart) + "/";
  FW_RETURN_IF_ERROR(check_consistent(env, "RANK", "WORLD_SIZE", "LOCAL_RANK"));
  return env;
}

// MASTER_ADDR/PORT for launchers that do not set them: the environment's, or
// loopback when every rank runs on this node.
Status mpi_master(const Vars& vars, DistributedEnv& env, std::optional<int> local_size, std::string_view size_var) {
  if (auto addr = vars.get("MASTER_ADDR")) {
    env.master_addr = std::string(trim(*addr));
  } else if (local_size && *local_size != env.world_size) {
    return Status::invalid_argument("the MPI job spans several nodes (" + std::string(size_var) + "=" +
                                    std::to_string(env.world_size) + ", " + std::to_string(*local_size) +
                                    " on this node): set MASTER_ADDR to the host of rank 0 (mpirun -x "
                                    "MASTER_ADDR=<host> -x MASTER_PORT=<port>)");
  }
  FW_ASSIGN_OR_RETURN(env.master_port, vars.integer("MASTER_PORT", kDefaultMasterPort, "mpi"));
  return Status::OK();
}

Result<DistributedEnv> from_open_mpi(const Vars& vars) {
  DistributedEnv env;
  env.launcher = "mpi";
  FW_ASSIGN_OR_RETURN(env.rank, vars.integer("OMPI_COMM_WORLD_RANK", std::nullopt, "Open MPI"));
  FW_ASSIGN_OR_RETURN(env.world_size, vars.integer("OMPI_COMM_WORLD_SIZE", std::nullopt, "Open MPI"));
  FW_ASSIGN_OR_RETURN(env.local_rank, vars.integer("OMPI_COMM_WORLD_LOCAL_RANK", env.rank, "Open MPI"));
  std::optional<int> local_size;
  if (vars.has("OMPI_COMM_WORLD_LOCAL_SIZE")) {
    FW_ASSIGN_OR_RETURN(local_size, vars.integer("OMPI_COMM_WORLD_LOCAL_SIZE", std::nullopt, "Open MPI"));
  }
  FW_RETURN_IF_ERROR(mpi_master(vars, env, local_size, "OMPI_COMM_WORLD_SIZE"));
  FW_RETURN_IF_ERROR(
      check_consistent(env, "OMPI_COMM_WORLD_RANK", "OMPI_COMM_WORLD_SIZE", "OMPI_COMM_WORLD_LOCAL_RANK"));
  return env;
}

Result<DistributedEnv> from_mpich(const Vars& vars) {
  DistributedEnv env;
  env.launcher = "mpi";
  FW_ASSIGN_OR_RETURN(env.rank, vars.integer("PMI_RANK", std::nullopt, "MPICH"));
  FW_ASSIGN_OR_RETURN(env.world_size, vars.integer("PMI_SIZE", std::nullopt, "MPICH"));
  FW_ASSIGN_OR_RETURN(env.local_rank, vars.integer("MPI_LOCALRANKID", env.rank, "MPICH"));
  std::optional<int> local_size;
  if (vars.has("MPI_LOCALNRANKS")) {
    FW_ASSIGN_OR_RETURN(local_size, vars.integer("MPI_LOCALNRANKS", std::nullopt, "MPICH"));
  }
  FW_RETURN_IF_ERROR(mpi_master(vars, env, local_size, "PMI_SIZE"));
  FW_RETURN_IF_ERROR(check_consistent(env, "PMI_RANK", "PMI_SIZE", "MPI_LOCALRANKID"));
  return env;
}

Result<DistributedEnv> from_slurm(const Vars& vars) {
  DistributedEnv env;
  env.launcher = "slurm";
  FW_ASSIGN_OR_RETURN(env.rank, vars.integer("SLURM_PROCID", std::nullopt, "Slurm"));
  // srun sets SLURM_STEP_NUM_TASKS; the batch script itself (task 0 of no
  // step) only has the job's SLURM_NTASKS, and would wait for ranks that never come.
  const char* size_var = vars.has("SLURM_STEP_NUM_TASKS") ? "SLURM_STEP_NUM_TASKS"
                         : vars.has("SLURM_NTASKS")       ? "SLURM_NTASKS"
                                                          : "SLURM_NPROCS";
  FW_ASSIGN_OR_RETURN(env.world_size, vars.integer(size_var, std::nullopt, "Slurm"));
  if (env.world_size > 1 && std::string_view(size_var) != "SLURM_STEP_NUM_TASKS")
    return Status::invalid_argument(std::string(size_var) + "=" + std::to_string(env.world_size) +
                                    " but this process is not part of an srun step (SLURM_STEP_NUM_TASKS is unset): "
                                    "launch the ranks with `srun flywheel train ...` inside the batch script");
  FW_ASSIGN_OR_RETURN(env.local_rank, vars.integer("SLURM_LOCALID", 0, "Slurm"));
  if (auto addr = vars.get("MASTER_ADDR")) {
    env.master_addr = std::string(trim(*addr));
  } else if (env.world_size > 1) {
    // The step's node list: srun places task 0 on its first node.
    const char* list_var = vars.has("SLURM_STEP_NODELIST")  ? "SLURM_STEP_NODELIST"
                           : vars.has("SLURM_JOB_NODELIST") ? "SLURM_JOB_NODELIST"
                                                            : "SLURM_NODELIST";
    auto list = vars.get(list_var);
    if (!list)
      return Status::invalid_argument(
          "SLURM_PROCID is set but no node list (SLURM_STEP_NODELIST, SLURM_JOB_NODELIST) "
          "is: set MASTER_ADDR to the host of rank 0");
    auto host = first_slurm_host(*list);
    if (!host.ok()) return host.status().with_context(list_var);
    env.master_addr = *host;
  }
  int port_fallback = kDefaultMasterPort;
  if (vars.has("SLURM_JOB_ID")) {
    FW_ASSIGN_OR_RETURN(int job, vars.integer("SLURM_JOB_ID", std::nullopt, "Slurm"));
    port_fallback = 20000 + (job < 0 ? 0 : job % 10000);
  }
  FW_ASSIGN_OR_RETURN(env.master_port, vars.integer("MASTER_PORT", port_fallback, "Slurm"));
  FW_RETURN_IF_ERROR(check_consistent(env, "SLURM_PROCID", size_var, "SLURM_LOCALID"));
  return env;
}

// One "[...]" group of a Slurm host list: its values, padded as written.
Result<std::vector<std::string>> expand_group(std::string_view group, bool first_only) {
  std::vector<std::string> out;
  size_t start = 0;
  while (start <= group.size()) {
    size_t comma = group.find(',', start);
    std::string_view item = group.substr(start, comma == std::string_view::npos ? group.npos : comma - start);
    size_t dash = item.find('-');
    std::string_view lo_text = item.substr(0, dash);
    std::string_view hi_text = dash == item.npos ? lo_text : item.substr(dash + 1);
    auto digits = [](std::string_view s) {
      if (s.empty() || s.size() > 9) return false;
      for (char c : s)
        if (c < '0' || c > '9') return false;
      return true;
    };
    if (!digits(lo_text) || !digits(hi_text))
      return Status::invalid_argument("bad range '" + std::string(item) + "' in host list group [" +
                                      std::string(group) + "]");
    long lo = std::stol(std::string(lo_text)), hi = std::stol(std::string(hi_text));
    if (hi < lo)
      return Status::invalid_argument("descending range '" + std::string(item) + "' in host list group [" +
                                      std::string(group) + "]");
    for (long v = lo; v <= hi; ++v) {
      std::string s = std::to_string(v);
      if (s.size() < lo_text.size()) s.insert(0, lo_text.size() - s.size(), '0');
      out.push_back(std::move(s));
      if (first_only) return out;
      if (out.size() > (1u << 20))
        return Status::out_of_range("host list group [" + std::string(group) + "] is too large");
    }
    if (comma == std::string_view::npos) break;
    start = comma + 1;
  }
  return out;
}

// Splits a host list at the commas outside brackets.
Result<std::vector<std::string_view>> split_hosts(std::string_view list) {
  std::vector<std::string_view> items;
  int depth = 0;
  size_t start = 0;
  for (size_t i = 0; i <= list.size(); ++i) {
    char c = i < list.size() ? list[i] : ',';
    if (c == '[') {
      if (++depth > 1) return Status::invalid_argument("nested '[' in host list '" + std::string(list) + "'");
    } else if (c == ']') {
      if (--depth < 0) return Status::invalid_argument("unbalanced ']' in host list '" + std::string(list) + "'");
    } else if (c == ',' && depth == 0) {
      std::string_view item = trim(list.substr(start, i - start));
      if (item.empty()) return Status::invalid_argument("empty host name in host list '" + std::string(list) + "'");
      items.push_back(item);
      start = i + 1;
    }
  }
  if (depth != 0) return Status::invalid_argument("unbalanced '[' in host list '" + std::string(list) + "'");
  return items;
}

// Expands one host expression ("rack[1-2]-n[01-02]") into `out`.
Status expand_host(std::string_view host, bool first_only, size_t limit, std::vector<std::string>& out) {
  std::vector<std::string> partial{""};
  size_t pos = 0;
  while (pos < host.size()) {
    size_t open = host.find('[', pos);
    std::string_view literal = host.substr(pos, open == host.npos ? host.npos : open - pos);
    for (auto& p : partial) p += literal;
    if (open == host.npos) break;
    size_t close = host.find(']', open);  // split_hosts checked the balance
    std::string_view group = host.substr(open + 1, close - open - 1);
    if (group.empty()) return Status::invalid_argument("empty brackets in host '" + std::string(host) + "'");
    FW_ASSIGN_OR_RETURN(auto values, expand_group(group, first_only));
    std::vector<std::string> next;
    for (const auto& p : partial)
      for (const auto& v : values) {
        next.push_back(p + v);
        if (out.size() + next.size() > limit)
          return Status::out_of_range("host list expands to more than " + std::to_string(limit) + " names");
      }
    partial = std::move(next);
    pos = close + 1;
  }
  for (auto& p : partial) out.push_back(std::move(p));
  return Status::OK();
}

}  // namespace

std::string DistributedEnv::describe() const {
  return "rank " + std::to_string(rank) + " of " + std::to_string(world_size) + " (local " +
         std::to_string(local_rank) + ", " + launcher + ", master " + master_addr + ":" + std::to_string(master_port) +
         ")";
}

Result<std::vector<std::string>> expand_slurm_nodelist(std::string_view list, size_t limit) {
  if (trim(list).empty()) return Status::invalid_argument("empty host list");
  FW_ASSIGN_OR_RETURN(auto items, split_hosts(list));
  std::vector<std::string> hosts;
  for (auto item : items) FW_RETURN_IF_ERROR(expand_host(item, false, limit, hosts));
  return hosts;
}

Result<std::string> first_slurm_host(std::string_view list) {
  if (trim(list).empty()) return Status::invalid_argument("empty host list");
  FW_ASSIGN_OR_RETURN(auto items, split_hosts(list));
  std::vector<std::string> hosts;
  FW_RETURN_IF_ERROR(expand_host(items.front(), true, 1, hosts));
  return hosts.front();
}

Result<DistributedEnv> detect_distributed_env(const EnvLookup& getenv) {
  Vars vars(getenv);
  if (vars.has("RANK") || vars.has("WORLD_SIZE")) return from_torchrun(vars);
  if (vars.has("OMPI_COMM_WORLD_RANK") || vars.has("OMPI_COMM_WORLD_SIZE")) return from_open_mpi(vars);
  if (vars.has("PMI_RANK") && vars.has("PMI_SIZE")) return from_mpich(vars);
  if (vars.has("SLURM_PROCID")) return from_slurm(vars);
  return DistributedEnv{};
}

Result<DistributedEnv> detect_distributed_env() {
  return detect_distributed_env([](std::string_view name) -> std::optional<std::string> {
    const char* v = std::getenv(std::string(name).c_str());
    if (!v) return std::nullopt;
    return std::string(v);
  });
}

}  // namespace flywheel::train
