#include "core/openmp_wait.h"

#include <unistd.h>

#include <cstdlib>

namespace flywheel {

void reexec_with_passive_openmp_wait(char** argv) {
  if (std::getenv("OMP_WAIT_POLICY") != nullptr) return;
  const char* opt_out = std::getenv("FLYWHEEL_NO_REEXEC");
  if (opt_out != nullptr && opt_out[0] != '\0' && opt_out[0] != '0') return;
  if (setenv("OMP_WAIT_POLICY", "PASSIVE", 0) != 0) return;
  execv("/proc/self/exe", argv);
  unsetenv("OMP_WAIT_POLICY");  // exec failed: go on as we were
}

}  // namespace flywheel
