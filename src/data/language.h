// Which programming language a file is written in, from its name alone (and
// the #! line of extension-less scripts). Private to the data module; the
// names it returns are listed in docs/formats.md and stored in the documents'
// metadata.
//
// Thread-safety: pure functions.
#pragma once

#include <string_view>

namespace flywheel::data {

// "python", "c", "cpp", "javascript", "typescript", "go", "rust", "java",
// "shell", "markdown", "json", "yaml", "toml", "cmake", "makefile", ... or ""
// when the name says nothing. `path` is '/'-separated; only its last
// component is looked at.
std::string_view language_from_path(std::string_view path);

// The language named by a "#!" first line ("#!/usr/bin/env python3" → "python"),
// or "".
std::string_view language_from_shebang(std::string_view head);

// True for prose formats (markdown, text, reStructuredText), where long lines
// are paragraphs rather than a sign of generated code.
bool is_prose_language(std::string_view language);

}  // namespace flywheel::data
