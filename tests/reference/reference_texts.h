// The text set the reference tests feed to flywheel and to Hugging Face's
// tokenizers: real source files found on the machine (Python standard library,
// C and C++ headers, Perl modules, JavaScript and TypeScript from the npm
// packages, this repository), written snippets of other languages, Unicode in
// many scripts and normalization forms, emoji sequences, whitespace runs, CRLF,
// 100 KB lines, special tokens inside text, numbers, contractions, and random
// mixtures from a fixed seed. No expected ids: the reference provides them.
#pragma once

#include <filesystem>
#include <random>
#include <string>
#include <vector>

#include "tokenizer/utf8.h"
#include "reference_support.h"

namespace flywheel::testing {

struct TextCase {
  std::string name;
  std::string text;  // bytes; valid UTF-8 except in invalid_utf8_texts()
};

inline constexpr uint64_t kReferenceTextSeed = 0x5EED'F1E1;

namespace detail {

// Cuts `s` to at most `max_bytes` without splitting a UTF-8 character.
inline std::string utf8_prefix(std::string s, size_t max_bytes) {
  if (s.size() <= max_bytes) return s;
  size_t end = max_bytes;
  while (end > 0 && (static_cast<unsigned char>(s[end]) & 0xC0) == 0x80) --end;
  s.resize(end);
  return s;
}

inline std::string repeat_to(std::string_view unit, size_t bytes) {
  std::string out;
  while (out.size() < bytes) out += unit;
  return out;
}

inline std::vector<fs::path> sorted_glob(const fs::path& dir, std::string_view extension, size_t limit) {
  std::vector<fs::path> out;
  std::error_code ec;
  if (!fs::is_directory(dir, ec)) return out;
  for (const auto& entry : fs::directory_iterator(dir, ec)) {
    if (entry.is_regular_file(ec) && entry.path().extension() == extension) out.push_back(entry.path());
  }
  std::sort(out.begin(), out.end());
  if (out.size() > limit) out.resize(limit);
  return out;
}

inline fs::path first_existing(const std::vector<fs::path>& candidates) {
  for (const auto& p : candidates) {
    if (fs::exists(p)) return p;
  }
  return {};
}

// Real source files: whichever of these the machine has.
inline std::vector<fs::path> real_source_files() {
  std::vector<fs::path> files;
  auto add = [&](const fs::path& p) {
    if (!p.empty() && fs::is_regular_file(p)) files.push_back(p);
  };
  fs::path python;
  for (const auto& dir : {"/usr/lib/python3.13", "/usr/lib/python3.12", "/usr/lib/python3.11", "/usr/lib/python3.10"}) {
    if (fs::is_directory(dir)) {
      python = dir;
      break;
    }
  }
  if (!python.empty()) {
    for (const char* rel : {"json/decoder.py", "textwrap.py", "difflib.py", "string.py", "asyncio/base_events.py",
                            "email/_header_value_parser.py", "locale.py", "unicodedata.py", "tokenize.py"}) {
      add(python / rel);
    }
  }
  for (const char* p : {"/usr/include/stdio.h", "/usr/include/stdlib.h", "/usr/include/string.h",
                        "/usr/include/pcre2.h", "/usr/include/zlib.h", "/usr/include/linux/input.h",
                        "/usr/include/utf8proc.h", "/usr/include/nlohmann/detail/input/lexer.hpp"}) {
    add(p);
  }
  for (const auto& cxx : sorted_glob("/usr/include/c++", "", 100)) {
    add(cxx / "bits" / "stl_vector.h");
    add(cxx / "bits" / "basic_string.h");
    break;
  }
  add(first_existing({"/usr/share/perl5/Debconf/Config.pm", "/usr/lib/x86_64-linux-gnu/perl-base/Carp.pm",
                      "/usr/lib/aarch64-linux-gnu/perl-base/Carp.pm"}));
  add(first_existing({"/usr/bin/bzdiff", "/usr/bin/zdiff", "/usr/bin/ldd"}));  // shell scripts
  const fs::path npm = reference_node_modules() / "@lenml" / "tokenizers";
  add(npm / "src" / "tokenizers" / "tokenizers.js");
  add(npm / "src" / "tokenizers" / "utils" / "maths.js");
  add(npm / "src" / "types.ts");
  add(npm / "readme.md");
  add(reference_node_modules() / "tokenizers" / "index.d.ts");
  const fs::path root(FLYWHEEL_SOURCE_DIR);
  for (const auto& p : sorted_glob(root / "src" / "tokenizer", ".h", 20)) add(p);
  for (const auto& p : sorted_glob(root / "src" / "tokenizer", ".cpp", 20)) add(p);
  for (const auto& p : sorted_glob(root / "src" / "core", ".cpp", 6)) add(p);
  for (const char* rel : {"CMakeLists.txt", "Makefile", "scripts/install-deps", "tests/reference/hf_tokenize.js",
                          "tests/reference/package.json", ".clang-format"}) {
    add(root / rel);
  }
  return files;
}

inline std::vector<TextCase> code_snippets() {
  return {
      {"snippet/javascript", R"~~(// Debounce: call fn once the caller has been quiet for `ms`.
export function debounce(fn, ms = 250) {
  let timer = null;
  return (...args) => {
    clearTimeout(timer);
    timer = setTimeout(() => fn.apply(this, args), ms);
  };
}
const users = await fetch(`/api/users?page=${page}&limit=${limit}`).then(r => r.json());
console.log(users?.data?.[0] ?? "none", 0x1F, 1e-3, 10_000n, /^\s*(\d+)\s*$/gu.test(" 42 "));
)~~"},
      {"snippet/typescript", R"~~(interface Repo<T extends { id: number }> {
  find(id: number): Promise<T | undefined>;
  save(item: Readonly<T>): Promise<void>;
}
type Handler = (req: Request, res: Response) => void | Promise<void>;
enum Color { Red = "RED", Green = "GREEN" }
)~~"},
      {"snippet/rust", R"~~(use std::collections::HashMap;

#[derive(Debug, Clone, PartialEq)]
pub struct Token<'a> { text: &'a str, id: u32 }

impl<'a> Token<'a> {
    pub fn new(text: &'a str, id: u32) -> Self { Self { text, id } }
}

fn count_words(s: &str) -> HashMap<&str, usize> {
    let mut m = HashMap::new();
    for w in s.split_whitespace() { *m.entry(w).or_insert(0) += 1; }
    m
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let v: Vec<u64> = (0..10).map(|x| x * x).filter(|&x| x % 2 == 0).collect();
    println!("{:?} {:#x} {}", v, 255u8, r#"raw "string""#);
    Ok(())
}
)~~"},
      {"snippet/go", R"~~(package main

import (
	"fmt"
	"net/http"
	"sync"
)

type Server struct {
	mu    sync.Mutex
	count map[string]int
}

func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.count[r.URL.Path]++
	fmt.Fprintf(w, "%s: %d\n", r.URL.Path, s.count[r.URL.Path])
}

func main() {
	if err := http.ListenAndServe(":8080", &Server{count: map[string]int{}}); err != nil {
		panic(err)
	}
}
)~~"},
      {"snippet/java", R"~~(package com.example.app;

import java.util.*;
import java.util.stream.Collectors;

public final class WordCount {
    private static final int LIMIT = 1_000;

    @Override
    public String toString() { return "WordCount{limit=" + LIMIT + "}"; }

    public static Map<String, Long> count(List<String> lines) {
        return lines.stream()
            .flatMap(l -> Arrays.stream(l.split("\\s+")))
            .collect(Collectors.groupingBy(w -> w.toLowerCase(Locale.ROOT), Collectors.counting()));
    }
}
)~~"},
      {"snippet/sql", R"~~(-- Top customers by revenue in 2023
SELECT c.id, c.name, SUM(o.total) AS revenue
FROM customers AS c
JOIN orders o ON o.customer_id = c.id
WHERE o.created_at >= '2023-01-01' AND o.status IN ('paid', 'shipped')
GROUP BY c.id, c.name
HAVING SUM(o.total) > 10000.00
ORDER BY revenue DESC
LIMIT 10;
CREATE INDEX IF NOT EXISTS idx_orders_customer ON orders (customer_id, created_at DESC);
)~~"},
      {"snippet/shell", R"~~(#!/usr/bin/env bash
set -euo pipefail
for f in "${@:-.}"/*.log; do
  [[ -s "$f" ]] || continue
  n=$(grep -c 'ERROR' "$f" || true)
  printf '%-40s %5d\n' "$(basename "$f")" "$n"
done | sort -k2 -nr | head -n 20 > /tmp/report.txt 2>&1 && echo "done: $?"
)~~"},
      {"snippet/cpp", R"~~(template <typename T, std::size_t N>
constexpr auto sum(const std::array<T, N>& a) -> T {
  T s{};
  for (const auto& x : a) s += x;
  return s;
}
int main(int argc, char** argv) {
  std::vector<std::unique_ptr<Base>> v;
  v.emplace_back(std::make_unique<Derived>(42));
  if (argc > 1 && std::string_view(argv[1]) == "--help") { std::cout << "usage\n"; return 0; }
  return v.size() == 1 ? EXIT_SUCCESS : EXIT_FAILURE;
}
)~~"},
      {"snippet/csharp",
       "namespace App {\r\n    public class Program {\r\n        static async Task Main(string[] args) {\r\n           "
       " var list = new List<int> { 1, 2, 3 };\r\n            Console.WriteLine($\"Sum: {list.Sum()}\");\r\n        "
       "}\r\n    }\r\n}\r\n"},
      {"snippet/kotlin",
       "data class User(val id: Int, val name: String?)\nfun main() {\n    val users = listOf(User(1, \"a\"), User(2, "
       "null))\n    users.filter { it.name != null }.forEach { println(it.name!!.uppercase()) }\n}\n"},
      {"snippet/haskell",
       "module Main where\n\nimport qualified Data.Map as M\n\nmain :: IO ()\nmain = do\n  let m = M.fromListWith (+) "
       "[(w, 1 :: Int) | w <- words \"a b a\"]\n  print (M.toList m) >> return ()\n"},
      {"snippet/lisp", "(defun fact (n)\n  (if (<= n 1) 1 (* n (fact (- n 1)))))\n(format t \"~a~%\" (fact 20))\n"},
      {"snippet/html",
       "<!DOCTYPE html>\n<html lang=\"en\">\n<head><meta charset=\"utf-8\"><title>Test &amp; "
       "page</title></head>\n<body>\n  <div class=\"a b\" id='x' data-n=\"1\">Hello&nbsp;world &lt;3</div>\n  "
       "<script>window.onload = () => alert('hi');</script>\n</body>\n</html>\n"},
      {"snippet/css",
       ".btn:hover, .btn:focus-visible {\n  color: #fff;\n  background: rgba(0, 0, 0, .5);\n  transition: all 150ms "
       "ease-in-out;\n}\n@media (max-width: 600px) { .btn { padding: 0 1rem; } }\n"},
      {"snippet/json",
       "{\"name\": \"flywheel\", \"version\": \"0.1.0\", \"tags\": [\"a\", \"b\"], \"n\": -1.5e+10, \"ok\": true, "
       "\"nested\": {\"x\": null, \"\\u00e9\": \"\\ud83d\\ude00\"}}"},
      {"snippet/yaml",
       "version: 2.1\njobs:\n  build:\n    docker:\n      - image: debian:bookworm\n    steps:\n      - checkout\n     "
       " - run: make test  # all tests\n"},
      {"snippet/markdown",
       "# Title\n\nSome *emphasis*, **bold**, `code` and a "
       "[link](https://example.com/a_b?c=d#e).\n\n```python\nprint('hi')\n```\n\n| a | b |\n|---|---|\n| 1 | 2 |\n"},
      {"snippet/python-tabs",
       "class A:\n\tdef f(self, x):\n\t\tif x:\n\t\t\treturn x  # tab indented\n\t\treturn None\n"},
      {"snippet/diff",
       "diff --git a/x.py b/x.py\n--- a/x.py\n+++ b/x.py\n@@ -1,3 +1,4 @@\n-import os\n+import os, sys\n \n def "
       "main():\n+    sys.exit(0)\n"},
      {"snippet/makefile",
       "all: build\n\nbuild: $(OBJS)\n\t$(CC) $(CFLAGS) -o $@ $^ $(LDLIBS)\n\n%.o: %.c\n\t$(CC) -c $< -o $@\n"},
      {"snippet/regex",
       R"~~(pattern = r"(?i)^(?:[a-z0-9!#$%&'*+/=?^_`{|}~-]+(?:\.[a-z0-9!#$%&'*+/=?^_`{|}~-]+)*)@(?:[a-z0-9](?:[a-z0-9-]*[a-z0-9])?\.)+$")~~"},
  };
}

inline std::vector<TextCase> unicode_texts() {
  return {
      {"unicode/chinese", "编码器将文本转换为标记序列。机器学习模型使用这些标记。"},
      {"unicode/japanese", "東京は日本の首都です。カタカナとひらがなを混ぜて書きます。ｶﾀｶﾅ半角"},
      {"unicode/korean", "안녕하세요, 세계! 토크나이저 테스트입니다."},
      {"unicode/arabic", "مرحبا بالعالم! هذا اختبار للمحلل اللغوي. ١٢٣٤٥"},
      {"unicode/hebrew", "שלום עולם, זה מבחן."},
      {"unicode/hindi", "नमस्ते दुनिया! यह एक परीक्षण है। क़ ख़ ग़ १२३"},
      {"unicode/thai", "สวัสดีชาวโลก นี่คือการทดสอบ"},
      {"unicode/russian", "Привет, мир! Ёжик в тумане. ПРОПИСНЫЕ буквы."},
      {"unicode/greek", "Γειά σου Κόσμε! αβγδε ΑΒΓΔΕ ϐϑϕ ς"},
      {"unicode/vietnamese-nfc", "Tiếng Việt có dấu: ắ ằ ẳ ẵ ặ"},
      {"unicode/vietnamese-nfd", "Tie\xCC\x82\xCC\x81ng Vie\xCC\xA3\xCC\x82t co\xCC\x81 da\xCC\x82\xCC\x81u"},
      {"unicode/e-acute-nfc", "caf\xC3\xA9 r\xC3\xA9sum\xC3\xA9 na\xC3\xAFve"},
      {"unicode/e-acute-nfd", "cafe\xCC\x81 re\xCC\x81sume\xCC\x81 nai\xCC\x88ve"},
      {"unicode/hangul-jamo-nfd", "\xE1\x84\x92\xE1\x85\xA1\xE1\x86\xAB\xE1\x84\x80\xE1\x85\xB3\xE1\x86\xAF"},
      {"unicode/angstrom-ohm-sign", "\xE2\x84\xAB \xE2\x84\xA6 \xC3\x85 \xCE\xA9 A\xCC\x8A"},
      {"unicode/compatibility",
       "\xEF\xAC\x81le \xEF\xAC\x80 \xE2\x91\xA0 \xC2\xB2 \xE2\x85\xA3 \xEF\xBC\xA1\xEF\xBC\xA2 \xE3\x8E\x8F"},
      {"unicode/combining-stack",
       "Z\xCC\x80\xCC\x81\xCC\x82\xCC\x83\xCC\x84"
       "a\xCC\x85\xCC\x86\xCC\x87\xCD\x8F\xCD\xA3lgo"},
      {"unicode/combining-reorder", "a\xCC\x81\xCC\xA3 a\xCC\xA3\xCC\x81 q\xCC\x87\xCC\xA3"},
      {"unicode/math-astral",
       "\xF0\x9D\x94\x98\xF0\x9D\x94\xAB\xF0\x9D\x94\xA6 \xF0\x9D\x90\x80\xF0\x9D\x90\x81 \xF0\x9F\x84\xB0 "
       "\xF0\xA0\x80\x80"},
      {"unicode/zero-width",
       "a\xE2\x80\x8B"
       "b\xE2\x80\x8C"
       "c\xE2\x80\x8D"
       "d\xEF\xBB\xBF"
       "e\xE2\x80\x8E"
       "f\xE2\x80\x8F"
       "g"},
      {"unicode/bom-start", "\xEF\xBB\xBFimport os\n"},
      {"unicode/private-use-nonchar", "\xEE\x80\x80\xEF\xBF\xBF\xEF\xBF\xBE\xF4\x8F\xBF\xBF\xEF\xBF\xBD"},
      {"unicode/special-spaces",
       "a\xC2\xA0"
       "b\xE3\x80\x80"
       "c\xE2\x80\xA8"
       "d\xE2\x80\xA9"
       "e\xE2\x80\x83"
       "f\xC2\x85"
       "g\x0B"
       "h\x0C"
       "i"},
      {"unicode/mixed-scripts", "def 函数(参数): return f\"Привет {参数} مرحبا\"  # コメント 🎉"},
      {"unicode/identifiers", "let π = 3.14159; const café = 'ok'; var ñandú = Δx * λ;"},
      {"unicode/quotes-dashes",
       "\xE2\x80\x9CSmart quotes\xE2\x80\x9D \xE2\x80\x98single\xE2\x80\x99 \xE2\x80\x94 em \xE2\x80\x93 en "
       "\xE2\x80\xA6 \xC2\xAB\xC2\xBB"},
      {"emoji/simple", "I \xE2\x9D\xA4\xEF\xB8\x8F code 😀😃😄 🚀🔥 ✨"},
      {"emoji/zwj-family",
       "👨‍👩‍👧‍👦 👩‍💻 🧑🏽‍🚀 🏳️‍🌈 🏴‍☠️ ❤️‍🔥"},
      {"emoji/flags",
       "🇺🇸🇯🇵🇩🇪🇫🇷🇧🇷 "
       "🏴\xF3\xA0\x81\xA7\xF3\xA0\x81\xA2\xF3\xA0\x81\xA5\xF3\xA0\x81\xAE\xF3\xA0\x81\xA7\xF3\xA0\x81\xBF"},
      {"emoji/skin-tones", "👍🏻👍🏼👍🏽👍🏾👍🏿 👋🏽 hello"},
      {"emoji/keycaps-variation", "1️⃣ #️⃣ *️⃣ ☺︎ ☺️ ©️ ™️"},
      {"emoji/in-code", "// TODO 🐛 fix\nprint(\"✅ passed\") # 🎉\nlet x = \"🙂\".len();"},
  };
}

inline std::vector<TextCase> whitespace_texts() {
  using namespace std::string_view_literals;
  std::vector<TextCase> out;
  // (Names built with append: GCC 12 warns falsely on "literal" + std::string.)
  auto name = [](std::string prefix, int n) { return prefix.append(std::to_string(n)); };
  for (int n : {1, 2, 3, 4, 5, 7, 8, 15, 16, 17, 31, 64, 100}) {
    out.push_back({name("spaces/run-", n), std::string("x").append(n, ' ').append("y").append(n, ' ')});
  }
  for (int n : {1, 2, 3, 4, 8}) {
    out.push_back({name("tabs/run-", n), std::string(n, '\t').append("z").append(n, '\t')});
  }
  out.push_back({"spaces/only-one", " "});
  out.push_back({"spaces/only-many", std::string(37, ' ')});
  out.push_back({"whitespace/mixed", " \t \t\t  \n \n\n\t\n   \r\n \v\f x \t"});
  out.push_back({"whitespace/newlines", "\n\n\n\na\n\n\nb\n"});
  out.push_back({"whitespace/leading-trailing", "   leading and trailing   "});
  out.push_back({"whitespace/indent-before-newline", "if x:\n    \n    pass\n        \n"});
  out.push_back({"crlf/code", "int main() {\r\n    return 0;\r\n}\r\n\r\n"});
  out.push_back({"crlf/lone-cr", "a\rb\r\rc\r"});
  out.push_back({"crlf/mixed", "line1\r\nline2\nline3\r\n\r\n  \r\n\tline4\n\r"});
  out.push_back({"newline/only", "\n"});
  out.push_back({"empty", ""});
  out.push_back({"single/a", "a"});
  out.push_back({"single/nul", std::string("\0", 1)});
  out.push_back({"controls", std::string("\x01\x02\x03\x1b[31mred\x1b[0m\x7f\x08\x00 end"sv)});
  return out;
}

inline std::vector<TextCase> token_texts() {
  return {
      {"special/endoftext", "Hello<|endoftext|>World"},
      {"special/endoftext-spaced", "end of file \n<|endoftext|>\n next file "},
      {"special/endoftext-twice", "<|endoftext|><|endoftext|>"},
      {"special/fim", "<|fim_prefix|>def fib(n):\n    <|fim_suffix|>\n    return a<|fim_middle|>"},
      {"special/fim-pad-file-sep", "<|repo_name|>flywheel\n<|file_sep|>src/a.py\nx = 1<|fim_pad|><|fim_pad|>"},
      {"special/chat-qwen", "<|im_start|>system\nYou are helpful.<|im_end|>\n<|im_start|>user\nhi<|im_end|>\n"},
      {"special/chat-llama3", "<|begin_of_text|><|start_header_id|>user<|end_header_id|>\n\nhi<|eot_id|>"},
      {"special/llama2", "<s>[INST] <<SYS>>\nhelp\n<</SYS>>\n\nhi [/INST] ok </s><s>[INST] again [/INST]"},
      {"special/unk-and-brackets", "<unk> <pad> <|unknown|> <| endoftext |> <|endoftext| > <|ENDOFTEXT|>"},
      {"special/partial", "<|endoftext <|fim_prefix <s <|im_start"},
      {"special/in-word", "abc<|endoftext|>def<s>ghi</s>jkl"},
      {"special/qwen-think-tool", "<think>\nhmm\n</think>\n<tool_call>{\"a\": 1}</tool_call>"},
      {"numbers/integers", "0 1 12 123 1234 12345 123456 1234567 12345678901234567890"},
      {"numbers/decimals", "3.14159 -2.5e-10 1E+6 .5 5. 0x1F 0b1010 0o777 1_000_000 1,000,000.00"},
      {"numbers/unicode-digits", "١٢٣ ٤٥٦ १२३ ０１２３ ² ³ ½ ⅓ Ⅻ ①②"},
      {"numbers/in-identifiers", "var2 x86_64 utf8 sha256sum v1.2.3-rc.4 2024-06-11T12:34:56Z 192.168.0.1:8080"},
      {"contractions/lower", "don't won't can't I'm you're he's she'd we've they'll it's"},
      {"contractions/upper", "DON'T WON'T CAN'T I'M YOU'RE HE'S SHE'D WE'VE THEY'LL IT'S"},
      {"contractions/mixed-case", "Don'T dOn't I'm I'M i'M You'Re WE'Ve tHeY'lL 'S 's 'T 'll 'LL"},
      {"contractions/odd", "O'Neil rock 'n' roll ''quoted'' 'tis y'all ma'am don’t DON’T 'xyz"},
      {"punctuation/runs", "!!!??? ... --- *** ___ === +++ ~~~ ### @@@ $$$ %%% ^^^ &&& ||| \\\\ //// ;;; ::"},
      {"punctuation/brackets", "((()))[[[]]]{{{}}}<<<>>> ({[<>]}) f(g(h(x)))[0]{1}"},
      {"urls-paths", "https://user:pw@example.com:8080/a/b_c/d.html?q=1&r=%20#frag C:\\Windows\\System32 ~/.config/x"},
      {"email-hash", "someone@example.org 0123456789abcdef0123456789abcdef sha256-AbC+/dEf=="},
      {"words/case", "Hello HELLO hello hElLo HeLLo WORLD World camelCaseWord PascalCase snake_case SCREAMING_CASE"},
  };
}

inline std::vector<TextCase> long_texts() {
  constexpr size_t kLong = 100 * 1024;
  return {
      {"long/code-line", repeat_to("var a=b+c*d;if(a>0){f(a,\"s\")}else{g[0]=h.k(1.5)}", kLong)},
      {"long/letters", std::string(kLong, 'a')},
      {"long/spaces", std::string(kLong, ' ')},
      {"long/digits", std::string(kLong, '7')},
      {"long/cjk", repeat_to("汉字测试", kLong)},
      {"long/emoji", repeat_to("😀", kLong)},
      {"long/json-line", repeat_to("{\"k\":[1,2,3],\"v\":\"x y\"},", kLong)},
      {"long/lines", repeat_to("    x += 1  # comment\n", kLong)},
  };
}

// Random mixtures of the fragments above and random code points, from a fixed seed.
inline std::vector<TextCase> random_texts(size_t count) {
  std::mt19937_64 rng(kReferenceTextSeed);
  std::vector<std::string> fragments;
  for (const auto& list : {code_snippets(), unicode_texts(), token_texts()}) {
    for (const auto& c : list) {
      // A piece of each, cut anywhere (on a character boundary).
      fragments.push_back(c.text);
    }
  }
  for (const char* s : {" ", "  ", "\t", "\n", "\r\n", "    ", "\n\n", "<|endoftext|>", "<s>", "</s>", "<|fim_middle|>",
                        "'s", "'LL", "123", "4567", "_", "::", "->"}) {
    fragments.push_back(s);
  }
  auto random_code_point = [&]() -> uint32_t {
    static const std::vector<std::pair<uint32_t, uint32_t>> ranges = {
        {0x20, 0x7E},     {0x09, 0x0D},       {0xA0, 0x24F},      {0x300, 0x36F},     {0x370, 0x3FF},
        {0x400, 0x4FF},   {0x590, 0x6FF},     {0x900, 0x97F},     {0xE00, 0xE7F},     {0x1100, 0x11FF},
        {0x2000, 0x206F}, {0x3000, 0x30FF},   {0x4E00, 0x9FFF},   {0xAC00, 0xD7A3},   {0xFE00, 0xFE0F},
        {0xFF00, 0xFFEF}, {0x1F300, 0x1FAFF}, {0x1D400, 0x1D7FF}, {0x20000, 0x2A6DF}, {0xE0000, 0xE007F}};
    const auto& r = ranges[rng() % ranges.size()];
    return r.first + static_cast<uint32_t>(rng() % (r.second - r.first + 1));
  };

  std::vector<TextCase> out;
  for (size_t n = 0; n < count; ++n) {
    std::string text;
    const size_t parts = 1 + rng() % 12;
    for (size_t p = 0; p < parts; ++p) {
      if (rng() % 3 == 0) {
        const size_t chars = 1 + rng() % 20;
        for (size_t k = 0; k < chars; ++k) tokenizer::append_utf8(random_code_point(), text);
      } else {
        const std::string& f = fragments[rng() % fragments.size()];
        // A random slice of the fragment, on character boundaries.
        size_t begin = f.empty() ? 0 : rng() % f.size();
        while (begin > 0 && (static_cast<unsigned char>(f[begin]) & 0xC0) == 0x80) --begin;
        std::string slice = utf8_prefix(f.substr(begin), 1 + rng() % 80);
        text += slice;
      }
    }
    out.push_back({"random/" + std::to_string(n), std::move(text)});
  }
  return out;
}

}  // namespace detail

// Valid UTF-8 texts, each with a name that says what it exercises.
inline const std::vector<TextCase>& reference_texts() {
  static const std::vector<TextCase> texts = [] {
    std::vector<TextCase> out;
    for (const auto& path : detail::real_source_files()) {
      auto bytes = read_file_bytes(path);
      if (!bytes || !is_strict_utf8(*bytes)) continue;  // invalid input has its own set
      out.push_back({"file:" + path.string(), detail::utf8_prefix(std::move(*bytes), 100 * 1024)});
    }
    for (auto list : {detail::code_snippets(), detail::unicode_texts(), detail::whitespace_texts(),
                      detail::token_texts(), detail::long_texts(), detail::random_texts(300)}) {
      for (auto& c : list) out.push_back(std::move(c));
    }
    return out;
  }();
  return texts;
}

// Byte strings that are not valid UTF-8: lone continuation bytes, truncated
// sequences, overlong forms, surrogates, code points past U+10FFFF, 0xFE/0xFF,
// mixed into code and around special tokens.
inline const std::vector<TextCase>& invalid_utf8_texts() {
  static const std::vector<TextCase> texts = {
      {"invalid/lone-continuation",
       "a\x80"
       "b\xBF"
       "c"},
      {"invalid/truncated-2", "x = \"\xC3\""},
      {"invalid/truncated-3", "\xE4\xB8 middle \xE4"},
      {"invalid/truncated-4", "\xF0\x9F\x98 emoji cut \xF0\x9F"},
      {"invalid/at-end", "ends with \xE2\x82"},
      {"invalid/overlong", "\xC0\xAF \xC1\xBF \xE0\x80\xAF \xF0\x80\x80\xAF"},
      {"invalid/surrogates", "\xED\xA0\x80\xED\xBF\xBF \xED\xA0\xBD\xED\xB8\x80"},
      {"invalid/above-max", "\xF4\x90\x80\x80 \xF5\x80\x80\x80 \xF8\x88\x80\x80\x80"},
      {"invalid/fe-ff", "\xFE\xFF\xFF\xFE text \xFF"},
      {"invalid/latin1-file", "# caf\xE9 na\xEFve r\xE9sum\xE9\nprint('\xA9 2024')\n"},
      {"invalid/in-code", "def f():\n    return b'\x80\x81\x82'  # \xC3\x28 bad\n\tpass\r\n"},
      {"invalid/around-special", "\xE4<|endoftext|>\xB8\xAD<s>\x80</s>\xF0<|fim_prefix|>"},
      {"invalid/all-high-bytes",
       [] {
         std::string s;
         for (int b = 0x80; b < 0x100; ++b) s += static_cast<char>(b);
         return s;
       }()},
      {"invalid/all-bytes",
       [] {
         std::string s;
         for (int b = 0; b < 0x100; ++b) s += static_cast<char>(b);
         return s;
       }()},
      {"invalid/long-run", std::string(5000, '\x80')},
      {"invalid/mixed-with-spaces", "  \xFF  \xFE\t\t\xC0\n\n\xE0 "},
  };
  return texts;
}

}  // namespace flywheel::testing
