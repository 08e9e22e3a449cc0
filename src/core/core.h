// core: what every flywheel module builds on. This is the module's public
// header; include it (or one of the headers below) and nothing else of core.
//
//   status.h       Status / Result<T>, FW_RETURN_IF_ERROR, FW_ASSIGN_OR_RETURN
//   log.h          spdlog on stderr, --log-level parsing
//   file_system.h  FileSystem interface (POSIX default; tests inject faults)
//   atomic_file.h  write_file_atomically, read_file
//   progress.h     ProgressBar (rate, ETA; only on a terminal)
//   config.h       TOML config flattened to dotted keys, typed getters, overrides
//   json_output.h  --json lines, error objects, Status → exit code
//   hash.h         SHA-256, XXH3-64, hex
//   text.h         trim_spaces_and_tabs, ascii_lower
//   version.h      kVersion
//
// Thread-safety and errors: see each header.
#pragma once

#include "core/atomic_file.h"
#include "core/config.h"
#include "core/file_system.h"
#include "core/hash.h"
#include "core/json_output.h"
#include "core/log.h"
#include "core/progress.h"
#include "core/status.h"
#include "core/text.h"
#include "core/version.h"
