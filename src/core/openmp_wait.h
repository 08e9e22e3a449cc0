// Training runs best with OpenMP's idle threads sleeping rather than
// spinning. libtorch's elementwise kernels run on an OpenMP pool and its
// GEMMs on OpenBLAS's own pthreads; on a machine with as many cores as
// threads, OpenMP workers spinning after each parallel region (libgomp's
// default) steal the cores OpenBLAS needs. Measured on the 2-core machine
// (bench_train): OMP_WAIT_POLICY=PASSIVE made a 20M-parameter training step
// 1.25x and the default model's 1.9x faster. Inference wants the opposite
// (decode of the default model ran 3.7x slower with it: each token is many
// short parallel regions), so only training asks for it.
//
// libgomp reads the variable once, when it is loaded, so the setting takes a
// re-exec of the program before any work. A user's own OMP_WAIT_POLICY (or
// FLYWHEEL_NO_REEXEC=1) is left alone.
//
// Thread-safety: call first thing in main(), before any thread exists.
#pragma once

namespace flywheel {

// Re-executes /proc/self/exe with `argv` and OMP_WAIT_POLICY=PASSIVE when the
// variable is unset. Returns only when it did not (already set, opted out,
// or exec failed: the run goes on with the default policy).
void reexec_with_passive_openmp_wait(char** argv);

}  // namespace flywheel
