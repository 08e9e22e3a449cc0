#include "data/language.h"

#include <algorithm>
#include <array>
#include <cctype>
#include <string>
#include <utility>

#include "core/text.h"

namespace flywheel::data {
namespace {

using Entry = std::pair<std::string_view, std::string_view>;

// Whole file names (exact, case-sensitive as they appear in repositories).
constexpr std::array kFileNames = {
    Entry{"CMakeLists.txt", "cmake"}, Entry{"Makefile", "makefile"},     Entry{"makefile", "makefile"},
    Entry{"GNUmakefile", "makefile"}, Entry{"Dockerfile", "dockerfile"}, Entry{"Containerfile", "dockerfile"},
    Entry{"Rakefile", "ruby"},        Entry{"Gemfile", "ruby"},          Entry{"BUILD", "starlark"},
    Entry{"BUILD.bazel", "starlark"}, Entry{"WORKSPACE", "starlark"},    Entry{"meson.build", "meson"},
    Entry{"Jenkinsfile", "groovy"},   Entry{"Vagrantfile", "ruby"},      Entry{"SConstruct", "python"},
    Entry{"SConscript", "python"},    Entry{"Kconfig", "kconfig"},       Entry{"README", "text"},
};

// Extensions, lowercase, with the dot.
constexpr std::array kExtensions = {
    Entry{".py", "python"},
    Entry{".pyi", "python"},
    Entry{".pyw", "python"},
    Entry{".pyx", "cython"},
    Entry{".pxd", "cython"},
    Entry{".c", "c"},
    Entry{".h", "c"},
    Entry{".cc", "cpp"},
    Entry{".cpp", "cpp"},
    Entry{".cxx", "cpp"},
    Entry{".c++", "cpp"},
    Entry{".hh", "cpp"},
    Entry{".hpp", "cpp"},
    Entry{".hxx", "cpp"},
    Entry{".h++", "cpp"},
    Entry{".ipp", "cpp"},
    Entry{".tpp", "cpp"},
    Entry{".inl", "cpp"},
    Entry{".cu", "cuda"},
    Entry{".cuh", "cuda"},
    Entry{".m", "objective-c"},
    Entry{".mm", "objective-c"},
    Entry{".js", "javascript"},
    Entry{".mjs", "javascript"},
    Entry{".cjs", "javascript"},
    Entry{".jsx", "javascript"},
    Entry{".ts", "typescript"},
    Entry{".tsx", "typescript"},
    Entry{".mts", "typescript"},
    Entry{".cts", "typescript"},
    Entry{".go", "go"},
    Entry{".rs", "rust"},
    Entry{".java", "java"},
    Entry{".kt", "kotlin"},
    Entry{".kts", "kotlin"},
    Entry{".scala", "scala"},
    Entry{".groovy", "groovy"},
    Entry{".gradle", "groovy"},
    Entry{".cs", "csharp"},
    Entry{".fs", "fsharp"},
    Entry{".swift", "swift"},
    Entry{".dart", "dart"},
    Entry{".rb", "ruby"},
    Entry{".php", "php"},
    Entry{".pl", "perl"},
    Entry{".pm", "perl"},
    Entry{".lua", "lua"},
    Entry{".r", "r"},
    Entry{".jl", "julia"},
    Entry{".hs", "haskell"},
    Entry{".ml", "ocaml"},
    Entry{".mli", "ocaml"},
    Entry{".ex", "elixir"},
    Entry{".exs", "elixir"},
    Entry{".erl", "erlang"},
    Entry{".clj", "clojure"},
    Entry{".el", "elisp"},
    Entry{".vim", "vim"},
    Entry{".zig", "zig"},
    Entry{".nim", "nim"},
    Entry{".sh", "shell"},
    Entry{".bash", "shell"},
    Entry{".zsh", "shell"},
    Entry{".ksh", "shell"},
    Entry{".fish", "fish"},
    Entry{".ps1", "powershell"},
    Entry{".bat", "batch"},
    Entry{".cmd", "batch"},
    Entry{".sql", "sql"},
    Entry{".html", "html"},
    Entry{".htm", "html"},
    Entry{".css", "css"},
    Entry{".scss", "scss"},
    Entry{".sass", "sass"},
    Entry{".less", "less"},
    Entry{".vue", "vue"},
    Entry{".svelte", "svelte"},
    Entry{".md", "markdown"},
    Entry{".markdown", "markdown"},
    Entry{".mdx", "markdown"},
    Entry{".rst", "restructuredtext"},
    Entry{".txt", "text"},
    Entry{".tex", "tex"},
    Entry{".json", "json"},
    Entry{".jsonc", "json"},
    Entry{".yml", "yaml"},
    Entry{".yaml", "yaml"},
    Entry{".toml", "toml"},
    Entry{".ini", "ini"},
    Entry{".cfg", "ini"},
    Entry{".xml", "xml"},
    Entry{".xsd", "xml"},
    Entry{".cmake", "cmake"},
    Entry{".mk", "makefile"},
    Entry{".mak", "makefile"},
    Entry{".proto", "protobuf"},
    Entry{".thrift", "thrift"},
    Entry{".graphql", "graphql"},
    Entry{".s", "assembly"},
    Entry{".asm", "assembly"},
    Entry{".f90", "fortran"},
    Entry{".f", "fortran"},
    Entry{".nix", "nix"},
    Entry{".bzl", "starlark"},
    Entry{".dockerfile", "dockerfile"},
    Entry{".tf", "terraform"},
    Entry{".sol", "solidity"},
    Entry{".v", "verilog"},
    Entry{".sv", "verilog"},
    Entry{".vhd", "vhdl"},
    Entry{".tcl", "tcl"},
    Entry{".awk", "awk"},
};

// Interpreters named on a #! line.
constexpr std::array kInterpreters = {
    Entry{"python", "python"}, Entry{"sh", "shell"},   Entry{"bash", "shell"},      Entry{"zsh", "shell"},
    Entry{"ksh", "shell"},     Entry{"dash", "shell"}, Entry{"node", "javascript"}, Entry{"perl", "perl"},
    Entry{"ruby", "ruby"},     Entry{"php", "php"},    Entry{"lua", "lua"},         Entry{"awk", "awk"},
    Entry{"fish", "fish"},     Entry{"Rscript", "r"},  Entry{"julia", "julia"},     Entry{"tclsh", "tcl"},
};

}  // namespace

std::string_view language_from_path(std::string_view path) {
  const size_t slash = path.rfind('/');
  const std::string_view name = slash == std::string_view::npos ? path : path.substr(slash + 1);
  for (const auto& [file, language] : kFileNames)
    if (name == file) return language;
  if (name.starts_with("Dockerfile.")) return "dockerfile";
  const size_t dot = name.rfind('.');
  if (dot == std::string_view::npos || dot == 0) return "";
  const std::string ext = ascii_lower(name.substr(dot));
  for (const auto& [e, language] : kExtensions)
    if (ext == e) return language;
  return "";
}

std::string_view language_from_shebang(std::string_view head) {
  if (!head.starts_with("#!")) return "";
  std::string_view line =
      head.substr(2, head.find('\n') == std::string_view::npos ? head.size() - 2 : head.find('\n') - 2);
  // "/usr/bin/env -S python3 -u" or "/bin/bash -e": the program is the first
  // word that is not env or an option.
  size_t i = 0;
  while (i < line.size()) {
    while (i < line.size() && (line[i] == ' ' || line[i] == '\t')) ++i;
    size_t end = i;
    while (end < line.size() && line[end] != ' ' && line[end] != '\t' && line[end] != '\r') ++end;
    std::string_view word = line.substr(i, end - i);
    i = end;
    if (word.empty()) break;
    const size_t slash = word.rfind('/');
    if (slash != std::string_view::npos) word = word.substr(slash + 1);
    if (word == "env" || word.starts_with("-")) continue;
    // python3.11 → python
    while (!word.empty() && (std::isdigit(static_cast<unsigned char>(word.back())) || word.back() == '.'))
      word.remove_suffix(1);
    for (const auto& [name, language] : kInterpreters)
      if (word == name) return language;
    return "";
  }
  return "";
}

bool is_prose_language(std::string_view language) {
  return language == "markdown" || language == "text" || language == "restructuredtext" || language == "tex";
}

}  // namespace flywheel::data
