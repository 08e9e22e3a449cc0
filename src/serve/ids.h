// Random ids for what the server hands out: "cmpl-<24 hex>" completions,
// "call_<24 hex>" tool calls, "swap-<24 hex>" admin jobs. 96 random bits:
// unique without coordination between replicas sharing one event store.
//
// Thread-safety: safe from any thread (a generator per thread).
#pragma once

#include <string>
#include <string_view>

namespace flywheel::serve {

std::string new_id(std::string_view prefix);

}  // namespace flywheel::serve
