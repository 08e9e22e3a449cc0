// Rank detection from torchrun, Open MPI, MPICH and Slurm variables, and
// Slurm host-list expansion.
#include <gtest/gtest.h>

#include <map>

#include "train/distributed.h"

namespace flywheel::train {
namespace {

using Vars = std::map<std::string, std::string>;

Result<DistributedEnv> detect(const Vars& vars) {
  return detect_distributed_env([&](std::string_view name) -> std::optional<std::string> {
    auto it = vars.find(std::string(name));
    if (it == vars.end()) return std::nullopt;
    return it->second;
  });
}

void expect_error(const Vars& vars, const std::string& needle) {
  auto env = detect(vars);
  ASSERT_FALSE(env.ok()) << "accepted: " << env->describe();
  EXPECT_EQ(env.status().code(), StatusCode::kInvalidArgument);
  EXPECT_NE(env.status().message().find(needle), std::string::npos) << env.status().message();
}

TEST(DistributedEnv, NoLauncherIsASingleProcess) {
  auto env = detect({{"HOME", "/root"}, {"RANK", ""}});
  ASSERT_TRUE(env.ok()) << env.status().to_string();
  EXPECT_EQ(env->launcher, "single");
  EXPECT_EQ(env->rank, 0);
  EXPECT_EQ(env->world_size, 1);
  EXPECT_FALSE(env->is_distributed());
}

TEST(DistributedEnv, Torchrun) {
  auto env = detect({{"RANK", "3"},
                     {"WORLD_SIZE", "8"},
                     {"LOCAL_RANK", "1"},
                     {"MASTER_ADDR", "10.1.2.3"},
                     {"MASTER_PORT", "29511"},
                     {"TORCHELASTIC_USE_AGENT_STORE", "True"},
                     {"TORCHELASTIC_RESTART_COUNT", "2"},
                     // torchrun wins over the Slurm job it may run inside
                     {"SLURM_PROCID", "0"},
                     {"SLURM_NTASKS", "2"}});
  ASSERT_TRUE(env.ok()) << env.status().to_string();
  EXPECT_EQ(env->launcher, "torchrun");
  EXPECT_EQ(env->rank, 3);
  EXPECT_EQ(env->world_size, 8);
  EXPECT_EQ(env->local_rank, 1);
  EXPECT_EQ(env->master_addr, "10.1.2.3");
  EXPECT_EQ(env->master_port, 29511);
  EXPECT_TRUE(env->agent_store);
  EXPECT_EQ(env->store_prefix, "flywheel/2/");
  EXPECT_EQ(env->describe(), "rank 3 of 8 (local 1, torchrun, master 10.1.2.3:29511)");
}

TEST(DistributedEnv, TorchrunErrors) {
  expect_error({{"RANK", "0"}}, "WORLD_SIZE is not set");
  expect_error({{"WORLD_SIZE", "2"}}, "RANK is not set");
  expect_error({{"RANK", "2"}, {"WORLD_SIZE", "2"}, {"MASTER_ADDR", "h"}, {"MASTER_PORT", "1"}},
               "RANK=2 must be in [0, WORLD_SIZE=2)");
  expect_error({{"RANK", "-1"}, {"WORLD_SIZE", "2"}, {"MASTER_ADDR", "h"}, {"MASTER_PORT", "1"}}, "RANK=-1");
  expect_error({{"RANK", "0"}, {"WORLD_SIZE", "0"}}, "WORLD_SIZE=0 must be at least 1");
  expect_error({{"RANK", "one"}, {"WORLD_SIZE", "2"}}, "RANK='one' is not an integer");
  expect_error({{"RANK", "1"}, {"WORLD_SIZE", "2x"}}, "WORLD_SIZE='2x' is not an integer");
  expect_error({{"RANK", "1"}, {"WORLD_SIZE", "2"}}, "MASTER_ADDR or MASTER_PORT");
  expect_error({{"RANK", "1"}, {"WORLD_SIZE", "2"}, {"MASTER_ADDR", "h"}, {"MASTER_PORT", "70000"}},
               "MASTER_PORT=70000 must be in [1, 65535]");
  expect_error({{"RANK", "1"}, {"WORLD_SIZE", "4"}, {"LOCAL_RANK", "2"}, {"MASTER_ADDR", "h"}, {"MASTER_PORT", "5"}},
               "LOCAL_RANK=2");
}

TEST(DistributedEnv, TorchrunSingleNeedsNoMaster) {
  auto env = detect({{"RANK", "0"}, {"WORLD_SIZE", "1"}});
  ASSERT_TRUE(env.ok()) << env.status().to_string();
  EXPECT_EQ(env->master_addr, "127.0.0.1");
  EXPECT_EQ(env->master_port, kDefaultMasterPort);
  EXPECT_FALSE(env->agent_store);
  EXPECT_EQ(env->store_prefix, "flywheel/0/");
}

TEST(DistributedEnv, OpenMpi) {
  auto env = detect({{"OMPI_COMM_WORLD_RANK", "1"},
                     {"OMPI_COMM_WORLD_SIZE", "2"},
                     {"OMPI_COMM_WORLD_LOCAL_RANK", "1"},
                     {"OMPI_COMM_WORLD_LOCAL_SIZE", "2"}});
  ASSERT_TRUE(env.ok()) << env.status().to_string();
  EXPECT_EQ(env->launcher, "mpi");
  EXPECT_EQ(env->rank, 1);
  EXPECT_EQ(env->world_size, 2);
  EXPECT_EQ(env->local_rank, 1);
  EXPECT_EQ(env->master_addr, "127.0.0.1");
  EXPECT_EQ(env->master_port, kDefaultMasterPort);

  auto with_master = detect({{"OMPI_COMM_WORLD_RANK", "5"},
                             {"OMPI_COMM_WORLD_SIZE", "8"},
                             {"OMPI_COMM_WORLD_LOCAL_RANK", "1"},
                             {"OMPI_COMM_WORLD_LOCAL_SIZE", "4"},
                             {"MASTER_ADDR", "node01"},
                             {"MASTER_PORT", "4000"}});
  ASSERT_TRUE(with_master.ok()) << with_master.status().to_string();
  EXPECT_EQ(with_master->master_addr, "node01");
  EXPECT_EQ(with_master->master_port, 4000);
}

TEST(DistributedEnv, OpenMpiErrors) {
  expect_error({{"OMPI_COMM_WORLD_RANK", "5"},
                {"OMPI_COMM_WORLD_SIZE", "8"},
                {"OMPI_COMM_WORLD_LOCAL_RANK", "1"},
                {"OMPI_COMM_WORLD_LOCAL_SIZE", "4"}},
               "spans several nodes");
  expect_error({{"OMPI_COMM_WORLD_RANK", "3"}, {"OMPI_COMM_WORLD_SIZE", "2"}}, "OMPI_COMM_WORLD_RANK=3");
  expect_error({{"OMPI_COMM_WORLD_RANK", "0"}}, "OMPI_COMM_WORLD_SIZE is not set");
}

TEST(DistributedEnv, Mpich) {
  auto env = detect({{"PMI_RANK", "1"}, {"PMI_SIZE", "2"}, {"MPI_LOCALRANKID", "1"}, {"MPI_LOCALNRANKS", "2"}});
  ASSERT_TRUE(env.ok()) << env.status().to_string();
  EXPECT_EQ(env->launcher, "mpi");
  EXPECT_EQ(env->rank, 1);
  EXPECT_EQ(env->local_rank, 1);
}

TEST(DistributedEnv, Slurm) {
  auto env = detect({{"SLURM_PROCID", "5"},
                     {"SLURM_NTASKS", "8"},
                     {"SLURM_STEP_NUM_TASKS", "8"},
                     {"SLURM_LOCALID", "1"},
                     {"SLURM_JOB_ID", "123456"},
                     {"SLURM_JOB_NODELIST", "big[1-9]"},
                     {"SLURM_STEP_NODELIST", "gpu[007-008,010],cpu1"}});
  ASSERT_TRUE(env.ok()) << env.status().to_string();
  EXPECT_EQ(env->launcher, "slurm");
  EXPECT_EQ(env->rank, 5);
  EXPECT_EQ(env->world_size, 8);
  EXPECT_EQ(env->local_rank, 1);
  EXPECT_EQ(env->master_addr, "gpu007");
  EXPECT_EQ(env->master_port, 23456);  // 20000 + job id % 10000

  auto job_list = detect({{"SLURM_PROCID", "0"},
                          {"SLURM_STEP_NUM_TASKS", "2"},
                          {"SLURM_JOB_NODELIST", "node[01-04,07],gpu5"},
                          {"MASTER_PORT", "31000"}});
  ASSERT_TRUE(job_list.ok()) << job_list.status().to_string();
  EXPECT_EQ(job_list->master_addr, "node01");
  EXPECT_EQ(job_list->master_port, 31000);

  auto overridden = detect({{"SLURM_PROCID", "1"},
                            {"SLURM_STEP_NUM_TASKS", "2"},
                            {"SLURM_JOB_NODELIST", "node[01-04]"},
                            {"MASTER_ADDR", "login1"}});
  ASSERT_TRUE(overridden.ok()) << overridden.status().to_string();
  EXPECT_EQ(overridden->master_addr, "login1");
  EXPECT_EQ(overridden->master_port, kDefaultMasterPort);
}

TEST(DistributedEnv, SlurmErrors) {
  // The batch script itself, not an srun step.
  expect_error({{"SLURM_PROCID", "0"}, {"SLURM_NTASKS", "4"}, {"SLURM_JOB_NODELIST", "n[1-4]"}}, "srun");
  expect_error({{"SLURM_PROCID", "4"}, {"SLURM_STEP_NUM_TASKS", "4"}, {"SLURM_JOB_NODELIST", "n[1-4]"}},
               "SLURM_PROCID=4");
  expect_error({{"SLURM_PROCID", "1"}, {"SLURM_STEP_NUM_TASKS", "4"}}, "no node list");
  expect_error({{"SLURM_PROCID", "1"}, {"SLURM_STEP_NUM_TASKS", "4"}, {"SLURM_JOB_NODELIST", "n[1-"}},
               "SLURM_JOB_NODELIST: unbalanced");
  // One task under sbatch alone is fine.
  auto one = detect({{"SLURM_PROCID", "0"}, {"SLURM_NTASKS", "1"}, {"SLURM_JOB_NODELIST", "n1"}});
  ASSERT_TRUE(one.ok()) << one.status().to_string();
  EXPECT_EQ(one->world_size, 1);
}

TEST(SlurmNodelist, Expands) {
  auto hosts = expand_slurm_nodelist("node[01-04,07],gpu5");
  ASSERT_TRUE(hosts.ok()) << hosts.status().to_string();
  EXPECT_EQ(*hosts, (std::vector<std::string>{"node01", "node02", "node03", "node04", "node07", "gpu5"}));

  auto multi = expand_slurm_nodelist("rack[1-2]-n[08-9]");
  ASSERT_TRUE(multi.ok()) << multi.status().to_string();
  EXPECT_EQ(*multi, (std::vector<std::string>{"rack1-n08", "rack1-n09", "rack2-n08", "rack2-n09"}));

  auto plain = expand_slurm_nodelist("a, b,c[9-11]");
  ASSERT_TRUE(plain.ok()) << plain.status().to_string();
  EXPECT_EQ(*plain, (std::vector<std::string>{"a", "b", "c9", "c10", "c11"}));

  auto first = first_slurm_host("gpu[0100-0900],x");
  ASSERT_TRUE(first.ok());
  EXPECT_EQ(*first, "gpu0100");
  auto first_plain = first_slurm_host("login");
  ASSERT_TRUE(first_plain.ok());
  EXPECT_EQ(*first_plain, "login");
}

TEST(SlurmNodelist, RejectsMalformedLists) {
  for (const char* bad : {"", "node[01-", "node]", "node[3-1]", "node[a]", "n[]", "a,,b", "n[1-2[3]]", "n[1,]"}) {
    auto hosts = expand_slurm_nodelist(bad);
    EXPECT_FALSE(hosts.ok()) << "accepted '" << bad << "'";
  }
  auto huge = expand_slurm_nodelist("n[1-100000]", 10);
  ASSERT_FALSE(huge.ok());
  EXPECT_EQ(huge.status().code(), StatusCode::kOutOfRange);
  // The first host does not need the rest expanded.
  auto first = first_slurm_host("n[1-999999999]");
  ASSERT_TRUE(first.ok());
  EXPECT_EQ(*first, "n1");
}

}  // namespace
}  // namespace flywheel::train
