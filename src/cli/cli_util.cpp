#include "cli/cli_util.h"

#include <fmt/format.h>
#include <unistd.h>

#include <cstdio>

namespace flywheel::cli {

namespace fs = std::filesystem;

void print_text(const std::string& text) { std::fwrite(text.data(), 1, text.size(), stdout); }

Result<std::string> read_stdin() {
  if (::isatty(STDIN_FILENO) == 1) {
    std::fprintf(stderr, "flywheel: reading standard input (end with Ctrl-D)\n");
  }
  std::string out;
  char buffer[1 << 16];
  for (;;) {
    size_t n = std::fread(buffer, 1, sizeof buffer, stdin);
    out.append(buffer, n);
    if (n < sizeof buffer) break;
  }
  if (std::ferror(stdin)) return Status::io_error("cannot read standard input");
  return out;
}

fs::path find_project_root() {
  auto is_root = [](const fs::path& dir) {
    std::error_code ec;
    return fs::exists(dir / "src" / "core" / "status.h", ec) && fs::exists(dir / "CMakeLists.txt", ec);
  };
  std::vector<fs::path> starts;
  std::error_code ec;
  if (fs::path exe = fs::read_symlink("/proc/self/exe", ec); !ec) starts.push_back(exe.parent_path());
  if (fs::path cwd = fs::current_path(ec); !ec) starts.push_back(cwd);
  for (fs::path dir : starts) {
    for (int depth = 0; depth < 8 && !dir.empty(); ++depth) {
      if (is_root(dir)) return dir;
      if (dir == dir.parent_path()) break;
      dir = dir.parent_path();
    }
  }
  return {};
}

Result<Tokenizer> load_tokenizer(const std::string& path) {
  if (path.empty()) return Status::invalid_argument("--tokenizer FILE is required");
  std::error_code ec;
  if (!fs::exists(path, ec)) return Status::not_found("tokenizer file '" + path + "' does not exist");
  auto tokenizer = Tokenizer::from_file(path);
  if (!tokenizer.ok()) return tokenizer.status().with_context("cannot load tokenizer '" + path + "'");
  return tokenizer;
}

std::string join(const std::vector<std::string>& items, std::string_view separator) {
  std::string out;
  for (size_t i = 0; i < items.size(); ++i) {
    if (i > 0) out += separator;
    out += items[i];
  }
  return out;
}

std::string human_bytes(uint64_t bytes) {
  if (bytes < 1000) return std::to_string(bytes) + " B";
  if (bytes < 1000 * 1000) return fmt::format("{:.1f} KB", static_cast<double>(bytes) / 1e3);
  if (bytes < uint64_t{1000} * 1000 * 1000) return fmt::format("{:.1f} MB", static_cast<double>(bytes) / 1e6);
  return fmt::format("{:.2f} GB", static_cast<double>(bytes) / 1e9);
}

namespace {
std::vector<std::string>& arguments_storage() {
  static std::vector<std::string> arguments;
  return arguments;
}
}  // namespace

void set_original_arguments(int argc, char** argv) { arguments_storage().assign(argv, argv + argc); }

const std::vector<std::string>& original_arguments() { return arguments_storage(); }

}  // namespace flywheel::cli
