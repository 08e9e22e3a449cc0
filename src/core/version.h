// flywheel's version, shown by `flywheel --version` and recorded in files
// flywheel writes (checkpoint lineage), so a file can be traced to the code
// that made it.
//
// Thread-safety: a constant. Errors: none.
#pragma once

#include <string_view>

namespace flywheel {

inline constexpr std::string_view kVersion = "0.1.0";

}  // namespace flywheel
