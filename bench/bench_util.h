// Helpers shared by the benchmark binaries.
#pragma once

#include <cstdio>
#include <functional>
#include <iostream>
#include <nlohmann/json.hpp>
#include <stdexcept>
#include <string>

#include "tests/tokenizer/tiny_tokenizers.h"

namespace flywheel::bench {

// The benches use random token ids; a model only needs a tokenizer whose
// vocabulary fits: the 256 byte symbols of a byte-level BPE, as tokenizer.json text.
inline std::string byte_tokenizer_json() { return flywheel::testing::byte_level_tokenizer({}).dump(); }

inline std::string shell_quote(const std::string& s) {
  std::string out = "'";
  for (char c : s) out += c == '\'' ? std::string("'\\''") : std::string(1, c);
  return out + "'";
}

// Runs a reference program (PyTorch, Node) that prints one JSON report on
// stdout; its progress lines go to our stderr. Null with a reason on stderr
// when it fails or prints something unreadable.
inline nlohmann::json run_json_command(const std::string& bench_name, const std::string& command) {
  FILE* pipe = popen(command.c_str(), "r");
  if (pipe == nullptr) return nullptr;
  std::string out;
  char buf[4096];
  size_t got;
  while ((got = fread(buf, 1, sizeof buf, pipe)) > 0) out.append(buf, got);
  const int rc = pclose(pipe);
  if (rc != 0) {
    std::cerr << bench_name << ": the reference failed (exit " << rc << "): " << command << "\n";
    return nullptr;
  }
  try {
    return nlohmann::json::parse(out);
  } catch (const std::exception& e) {
    std::cerr << bench_name << ": unreadable reference report: " << e.what() << "\n";
    return nullptr;
  }
}

// Walks the command line: `handle(flag, value)` is called for each argument;
// value() takes the next one. `handle` returns false for an unknown flag.
// Usage errors (unknown flag, missing or bad value) print `usage` and exit 2;
// --help prints it and exits 0.
inline void parse_flags(int argc, char** argv, const std::string& bench_name, const std::string& usage,
                        const std::function<bool(const std::string&, const std::function<std::string()>&)>& handle) {
  auto fail = [&](const std::string& message) {
    std::cerr << bench_name << ": " << message << "\n" << usage;
    std::exit(2);
  };
  for (int i = 1; i < argc; ++i) {
    const std::string flag = argv[i];
    if (flag == "--help" || flag == "-h") {
      std::cout << usage;
      std::exit(0);
    }
    auto value = [&]() -> std::string {
      if (i + 1 >= argc) fail(flag + " needs a value");
      return argv[++i];
    };
    try {
      if (!handle(flag, value)) fail("unknown argument " + flag);
    } catch (const std::logic_error&) {
      fail("bad value for " + flag);
    }
  }
}

}  // namespace flywheel::bench
