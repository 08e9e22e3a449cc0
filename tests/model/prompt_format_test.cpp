// Prompt formats: the exact prompt text of each family's FIM (PSM and SPM),
// repo-level and chat layouts on small hand-made tokenizers; detection; and,
// on the real Qwen3, Llama 3 and Llama 2 tokenizer.json files
// (tests/reference/node_modules, `make npm-deps`), that every marker is one id
// and that encode_prompt() gives the ids Hugging Face's tokenizer(text) gives.
#include "model/prompt_format.h"

#include <gtest/gtest.h>

#include <map>

#include "tests/reference/reference_support.h"
#include "tests/tokenizer/tiny_tokenizers.h"

namespace flywheel {
namespace {

using testing::OJson;

OJson added(std::initializer_list<const char*> tokens) {
  OJson out = OJson::array();
  for (const char* t : tokens) out.push_back({{"content", t}, {"special", true}});
  return out;
}

Tokenizer load_json(const std::string& json) {
  auto t = Tokenizer::from_json(json);
  EXPECT_TRUE(t.ok()) << t.status().to_string();
  return std::move(t).value();
}

Tokenizer tiny(std::initializer_list<const char*> tokens) {
  return load_json(testing::byte_level_tokenizer({}, added(tokens)).dump());
}

const Tokenizer& qwen_tiny() {
  static const Tokenizer t = tiny({"<|endoftext|>", "<|im_start|>", "<|im_end|>", "<|fim_prefix|>", "<|fim_middle|>",
                                   "<|fim_suffix|>", "<|fim_pad|>", "<|repo_name|>", "<|file_sep|>"});
  return t;
}
const Tokenizer& flywheel_tiny() {
  static const Tokenizer t = [] {
    OJson tokens = OJson::array();
    for (const auto& s : default_special_tokens()) tokens.push_back({{"content", s}, {"special", true}});
    return load_json(testing::byte_level_tokenizer({}, tokens).dump());
  }();
  return t;
}
const Tokenizer& starcoder2_tiny() {
  static const Tokenizer t =
      tiny({"<|endoftext|>", "<fim_prefix>", "<fim_middle>", "<fim_suffix>", "<fim_pad>", "<repo_name>", "<file_sep>"});
  return t;
}
const Tokenizer& starcoder1_tiny() {
  static const Tokenizer t = tiny({"<|endoftext|>", "<fim_prefix>", "<fim_middle>", "<fim_suffix>", "<fim_pad>",
                                   "<filename>", "<gh_stars>", "<reponame>"});
  return t;
}
const Tokenizer& deepseek_tiny() {
  static const Tokenizer t = tiny({"<｜begin▁of▁sentence｜>", "<｜end▁of▁sentence｜>", "<｜fim▁hole｜>",
                                   "<｜fim▁begin｜>", "<｜fim▁end｜>", "<|EOT|>"});
  return t;
}
const Tokenizer& llama3_tiny() {
  static const Tokenizer t =
      tiny({"<|begin_of_text|>", "<|end_of_text|>", "<|start_header_id|>", "<|end_header_id|>", "<|eot_id|>"});
  return t;
}
// CodeLlama keeps ▁<PRE> ▁<SUF> ▁<MID> ▁<EOT> as vocabulary pieces, not added tokens.
const Tokenizer& codellama_tiny() {
  static const Tokenizer t =
      load_json(testing::sentencepiece_tokenizer({"▁<PRE>", "▁<SUF>", "▁<MID>", "▁<EOT>"}, {}).dump());
  return t;
}

// ---- real tokenizers ----

std::string real_json(std::string_view family) {
  const auto path = testing::real_tokenizer_path(family);
  auto text = testing::read_file_bytes(path);
  if (!text) {
    ADD_FAILURE() << "missing " << path << "\nrun `make npm-deps` (scripts/install-npm-deps)";
    return {};
  }
  return *text;
}

const Tokenizer* real(std::string_view family) {
  static std::map<std::string, std::unique_ptr<Tokenizer>, std::less<>> cache;
  auto it = cache.find(family);
  if (it != cache.end()) return it->second.get();
  std::unique_ptr<Tokenizer> t;
  const std::string json = real_json(family);
  if (!json.empty()) {
    auto loaded = Tokenizer::from_json(json);
    EXPECT_TRUE(loaded.ok()) << loaded.status().to_string();
    if (loaded.ok()) t = std::make_unique<Tokenizer>(std::move(loaded).value());
  }
  return cache.emplace(std::string(family), std::move(t)).first->second.get();
}

// Llama 2's tokenizer.json with CodeLlama's four FIM pieces added to the
// vocabulary at CodeLlama's ids (32007..32010), as in codellama/CodeLlama-*-hf.
const Tokenizer* codellama_real() {
  static std::unique_ptr<Tokenizer> t = []() -> std::unique_ptr<Tokenizer> {
    const std::string json = real_json("llama2");
    if (json.empty()) return nullptr;
    auto j = OJson::parse(json);
    auto& vocab = j["model"]["vocab"];
    vocab["▁<PRE>"] = 32007;
    vocab["▁<SUF>"] = 32008;
    vocab["▁<MID>"] = 32009;
    vocab["▁<EOT>"] = 32010;
    return std::make_unique<Tokenizer>(load_json(j.dump()));
  }();
  return t.get();
}

PromptFormat format(std::string_view name) {
  auto f = prompt_format_from_name(name);
  EXPECT_TRUE(f.ok()) << f.status().to_string();
  return std::move(f).value();
}

std::string fim_text(std::string_view name, const Tokenizer& t, const FimRequest& r, FimOrder order = FimOrder::kPsm) {
  auto p = build_fim_prompt(format(name), t, r, order);
  EXPECT_TRUE(p.ok()) << p.status().to_string();
  return p.ok() ? p->text : "";
}

FimRequest simple() {
  FimRequest r;
  r.prefix = "def f(x):\n    ";
  r.suffix = "\n    return y\n";
  return r;
}

// ---- names ----

TEST(PromptFormat, NamesAndAliases) {
  for (std::string_view name : prompt_format_names()) EXPECT_EQ(format(name).name, name);
  EXPECT_EQ(format("Qwen2.5-Coder").name, "qwen2.5-coder");
  EXPECT_EQ(format("starcoder2").name, "starcoder");
  EXPECT_EQ(format("code_llama").name, "codellama");
  EXPECT_EQ(format("deepseek").name, "deepseek-coder");
  EXPECT_EQ(format("LLAMA-3").name, "llama3");
  const auto unknown = prompt_format_from_name("gpt-j");
  ASSERT_FALSE(unknown.ok());
  EXPECT_EQ(unknown.status().code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(unknown.status().message(),
            "unknown prompt format 'gpt-j'; known formats: qwen2.5-coder, starcoder, codellama, deepseek-coder, "
            "flywheel, chatml, llama3, plain");
}

// ---- FIM: exact text per family ----

TEST(PromptFormat, QwenFim) {
  EXPECT_EQ(fim_text("qwen2.5-coder", qwen_tiny(), simple()),
            "<|fim_prefix|>def f(x):\n    <|fim_suffix|>\n    return y\n<|fim_middle|>");
  const auto spm = build_fim_prompt(format("qwen2.5-coder"), qwen_tiny(), simple(), FimOrder::kSpm);
  ASSERT_FALSE(spm.ok());
  EXPECT_EQ(spm.status().code(), StatusCode::kUnsupported);
  EXPECT_NE(spm.status().message().find("starcoder, codellama, flywheel"), std::string::npos) << spm.status().message();
}

TEST(PromptFormat, FlywheelFim) {
  EXPECT_EQ(fim_text("flywheel", flywheel_tiny(), simple()),
            "<|fim_prefix|>def f(x):\n    <|fim_suffix|>\n    return y\n<|fim_middle|>");
  EXPECT_EQ(fim_text("flywheel", flywheel_tiny(), simple(), FimOrder::kSpm),
            "<|fim_prefix|><|fim_suffix|>\n    return y\n<|fim_middle|>def f(x):\n    ");
}

TEST(PromptFormat, StarCoderFim) {
  EXPECT_EQ(fim_text("starcoder", starcoder2_tiny(), simple()),
            "<fim_prefix>def f(x):\n    <fim_suffix>\n    return y\n<fim_middle>");
  EXPECT_EQ(fim_text("starcoder", starcoder2_tiny(), simple(), FimOrder::kSpm),
            "<fim_prefix><fim_suffix>\n    return y\n<fim_middle>def f(x):\n    ");
}

TEST(PromptFormat, CodeLlamaFim) {
  FimRequest r;
  r.prefix = "def f(x):";
  r.suffix = "return y";
  EXPECT_EQ(fim_text("codellama", codellama_tiny(), r), "<s><PRE> def f(x): <SUF>return y <MID>");
  EXPECT_EQ(fim_text("codellama", codellama_tiny(), r, FimOrder::kSpm), "<s><PRE> <SUF>return y <MID> def f(x):");
}

TEST(PromptFormat, DeepSeekCoderFim) {
  EXPECT_EQ(fim_text("deepseek-coder", deepseek_tiny(), simple()),
            "<｜begin▁of▁sentence｜><｜fim▁begin｜>def f(x):\n    <｜fim▁hole｜>\n    return y\n<｜fim▁end｜>");
  EXPECT_EQ(build_fim_prompt(format("deepseek-coder"), deepseek_tiny(), simple(), FimOrder::kSpm).status().code(),
            StatusCode::kUnsupported);
}

TEST(PromptFormat, FimNeedsAFimFormatAndItsTokens) {
  const auto chat_only = build_fim_prompt(format("llama3"), llama3_tiny(), simple());
  EXPECT_EQ(chat_only.status().code(), StatusCode::kUnsupported);
  EXPECT_NE(chat_only.status().message().find("no fill-in-the-middle layout"), std::string::npos);
  const auto wrong = build_fim_prompt(format("starcoder"), qwen_tiny(), simple());
  ASSERT_FALSE(wrong.ok());
  EXPECT_NE(wrong.status().message().find("<fim_prefix>, <fim_suffix>, <fim_middle>"), std::string::npos)
      << wrong.status().message();
}

// ---- repo-level context ----

FimRequest repo_request() {
  FimRequest r;
  r.repo_name = "library-system";
  r.file_path = "main.py";
  r.prefix = "from library import ";
  r.suffix = "\n";
  r.extra_files = {{"library.py", "class Book:\n    pass\n"}, {"student.py", "class Student: pass"}};
  return r;
}

TEST(PromptFormat, QwenRepoLevel) {
  EXPECT_EQ(fim_text("qwen2.5-coder", qwen_tiny(), repo_request()),
            "<|repo_name|>library-system\n"
            "<|file_sep|>library.py\nclass Book:\n    pass\n"
            "<|file_sep|>student.py\nclass Student: pass\n"
            "<|file_sep|>main.py\n"
            "<|fim_prefix|>from library import <|fim_suffix|>\n<|fim_middle|>");
  // Only a path: the current file's header alone.
  FimRequest path_only = simple();
  path_only.file_path = "src/a.py";
  EXPECT_EQ(fim_text("flywheel", flywheel_tiny(), path_only),
            "<|file_sep|>src/a.py\n<|fim_prefix|>def f(x):\n    <|fim_suffix|>\n    return y\n<|fim_middle|>");
  // SPM keeps the repo context first.
  EXPECT_EQ(fim_text("flywheel", flywheel_tiny(), path_only, FimOrder::kSpm),
            "<|file_sep|>src/a.py\n<|fim_prefix|><|fim_suffix|>\n    return y\n<|fim_middle|>def f(x):\n    ");
}

TEST(PromptFormat, RepoContextIsSkippedWithoutItsTokens) {
  const Tokenizer no_repo = tiny({"<|endoftext|>", "<|fim_prefix|>", "<|fim_middle|>", "<|fim_suffix|>"});
  EXPECT_EQ(fim_text("flywheel", no_repo, repo_request()),
            "<|fim_prefix|>from library import <|fim_suffix|>\n<|fim_middle|>");
  // <|file_sep|> without <|repo_name|>: files, no repo line.
  const Tokenizer no_name = tiny({"<|fim_prefix|>", "<|fim_middle|>", "<|fim_suffix|>", "<|file_sep|>"});
  FimRequest r = repo_request();
  r.extra_files.resize(1);
  EXPECT_EQ(fim_text("flywheel", no_name, r),
            "<|file_sep|>library.py\nclass Book:\n    pass\n<|file_sep|>main.py\n"
            "<|fim_prefix|>from library import <|fim_suffix|>\n<|fim_middle|>");
  // Families without a special-token repo layout ignore it.
  FimRequest c = repo_request();
  c.prefix = "x";
  c.suffix = "y";
  EXPECT_EQ(fim_text("codellama", codellama_tiny(), c), "<s><PRE> x <SUF>y <MID>");
  EXPECT_EQ(fim_text("deepseek-coder", deepseek_tiny(), c),
            "<｜begin▁of▁sentence｜><｜fim▁begin｜>x<｜fim▁hole｜>y<｜fim▁end｜>");
}

TEST(PromptFormat, StarCoderRepoLevel) {
  EXPECT_EQ(fim_text("starcoder", starcoder2_tiny(), repo_request()),
            "<repo_name>library-system"
            "<file_sep>library.py\nclass Book:\n    pass\n"
            "<file_sep>student.py\nclass Student: pass"
            "<file_sep>main.py\n"
            "<fim_prefix>from library import <fim_suffix>\n<fim_middle>");
  // StarCoder 1: repository and file name as document metadata, inside the prefix.
  EXPECT_EQ(fim_text("starcoder", starcoder1_tiny(), repo_request()),
            "<fim_prefix><reponame>library-system<filename>main.py\nfrom library import <fim_suffix>\n<fim_middle>");
  EXPECT_EQ(fim_text("starcoder", starcoder1_tiny(), repo_request(), FimOrder::kSpm),
            "<fim_prefix><fim_suffix>\n<fim_middle><reponame>library-system<filename>main.py\nfrom library import ");
}

// ---- chat ----

std::string chat_text(std::string_view name, const Tokenizer& t, const std::vector<ChatMessage>& messages,
                      const ChatOptions& options = {}) {
  auto p = build_chat_prompt(format(name), t, messages, options);
  EXPECT_TRUE(p.ok()) << p.status().to_string();
  return p.ok() ? p->text : "";
}

const std::vector<ChatMessage> kConversation = {
    {"system", "Be brief."}, {"user", "Hi"}, {"assistant", "Hello."}, {"user", " Sort a list \n"}};

TEST(PromptFormat, ChatMl) {
  EXPECT_EQ(chat_text("chatml", qwen_tiny(), kConversation),
            "<|im_start|>system\nBe brief.<|im_end|>\n"
            "<|im_start|>user\nHi<|im_end|>\n"
            "<|im_start|>assistant\nHello.<|im_end|>\n"
            "<|im_start|>user\n Sort a list \n<|im_end|>\n"
            "<|im_start|>assistant\n");
  ChatOptions qwen2;
  qwen2.default_system_message = std::string(kQwen2DefaultSystemMessage);
  qwen2.add_generation_prompt = false;
  EXPECT_EQ(chat_text("qwen2.5-coder", qwen_tiny(), {{"user", "Hi"}}, qwen2),
            "<|im_start|>system\nYou are a helpful assistant.<|im_end|>\n<|im_start|>user\nHi<|im_end|>\n");
  // An explicit system message wins over the default.
  EXPECT_EQ(chat_text("chatml", qwen_tiny(), {{"system", "S"}}, qwen2), "<|im_start|>system\nS<|im_end|>\n");
}

TEST(PromptFormat, Llama3Chat) {
  EXPECT_EQ(chat_text("llama3", llama3_tiny(), kConversation),
            "<|begin_of_text|>"
            "<|start_header_id|>system<|end_header_id|>\n\nBe brief.<|eot_id|>"
            "<|start_header_id|>user<|end_header_id|>\n\nHi<|eot_id|>"
            "<|start_header_id|>assistant<|end_header_id|>\n\nHello.<|eot_id|>"
            "<|start_header_id|>user<|end_header_id|>\n\nSort a list<|eot_id|>"
            "<|start_header_id|>assistant<|end_header_id|>\n\n");
}

TEST(PromptFormat, PlainChat) {
  auto p = build_chat_prompt(format("flywheel"), flywheel_tiny(), kConversation);
  ASSERT_TRUE(p.ok()) << p.status().to_string();
  EXPECT_EQ(p->text, "System: Be brief.\n\nUser: Hi\n\nAssistant: Hello.\n\nUser:  Sort a list \n\n\nAssistant:");
  ASSERT_EQ(p->segments.size(), 1u);  // text only
  EXPECT_EQ(p->stop.strings, std::vector<std::string>{"\nUser:"});
  EXPECT_EQ(p->stop.token_ids, std::vector<TokenId>{*flywheel_tiny().token_to_id("<|endoftext|>")});
  const auto none = build_chat_prompt(format("starcoder"), starcoder2_tiny(), kConversation);
  EXPECT_EQ(none.status().code(), StatusCode::kUnsupported);
  const auto missing = build_chat_prompt(format("chatml"), flywheel_tiny(), kConversation);
  ASSERT_FALSE(missing.ok());
  EXPECT_NE(missing.status().message().find("<|im_start|>, <|im_end|>"), std::string::npos);
}

// ---- detection ----

TEST(PromptFormat, DetectsFromSpecialTokens) {
  auto name = [](const Tokenizer& t, std::string_view hint = {}) {
    auto f = detect_prompt_format(t, hint);
    EXPECT_TRUE(f.ok()) << f.status().to_string();
    return f.ok() ? f->name : "";
  };
  EXPECT_EQ(name(qwen_tiny()), "qwen2.5-coder");
  EXPECT_EQ(name(flywheel_tiny()), "flywheel");
  EXPECT_EQ(name(starcoder2_tiny()), "starcoder");
  EXPECT_EQ(name(starcoder1_tiny()), "starcoder");
  EXPECT_EQ(name(deepseek_tiny()), "deepseek-coder");
  EXPECT_EQ(name(codellama_tiny()), "codellama");
  EXPECT_EQ(name(llama3_tiny()), "llama3");
  EXPECT_EQ(name(tiny({"<|im_start|>", "<|im_end|>", "<|endoftext|>"})), "chatml");
  EXPECT_EQ(name(tiny({"<|endoftext|>"})), "plain");
  // config.json model types leave it to the tokens; a format name decides.
  EXPECT_EQ(name(qwen_tiny(), "qwen2"), "qwen2.5-coder");
  EXPECT_EQ(name(flywheel_tiny(), "llama"), "flywheel");
  EXPECT_EQ(name(qwen_tiny(), "chatml"), "chatml");
  EXPECT_EQ(name(qwen_tiny(), "flywheel"), "flywheel");
  EXPECT_EQ(name(starcoder2_tiny(), "starcoder2"), "starcoder");
}

TEST(PromptFormat, DetectionErrors) {
  const auto wrong_hint = detect_prompt_format(flywheel_tiny(), "qwen2.5-coder");
  ASSERT_FALSE(wrong_hint.ok());
  EXPECT_NE(wrong_hint.status().message().find("<|im_start|>"), std::string::npos) << wrong_hint.status().message();
  const auto partial = detect_prompt_format(tiny({"<|fim_prefix|>", "<|fim_suffix|>"}), "");
  ASSERT_FALSE(partial.ok());
  EXPECT_NE(partial.status().message().find("<|fim_middle|>"), std::string::npos) << partial.status().message();
}

// ---- real tokenizers ----

TEST(PromptFormatReal, Qwen3MarkersAreSingleIdsAndEncodingMatchesTextEncoding) {
  const Tokenizer* t = real("qwen3");
  ASSERT_NE(t, nullptr);
  auto detected = detect_prompt_format(*t, "qwen3");
  ASSERT_TRUE(detected.ok()) << detected.status().to_string();
  EXPECT_EQ(detected->name, "qwen2.5-coder");
  for (const char* marker : {"<|fim_prefix|>", "<|fim_suffix|>", "<|fim_middle|>", "<|fim_pad|>", "<|file_sep|>",
                             "<|repo_name|>", "<|endoftext|>", "<|im_start|>", "<|im_end|>"}) {
    const auto ids = t->encode(std::string("x") + marker + "y");
    ASSERT_EQ(ids.size(), 3u) << marker;
    EXPECT_EQ(ids[1], t->token_to_id(marker).value()) << marker;
  }

  // encode_prompt() equals tokenizer(text) (no BOS in Qwen), and each marker
  // segment is one id in the result.
  for (const FimRequest& r : {simple(), repo_request()}) {
    auto p = build_fim_prompt(*detected, *t, r);
    ASSERT_TRUE(p.ok()) << p.status().to_string();
    const auto ids = encode_prompt(*t, *p);
    EXPECT_EQ(ids, t->encode(p->text));
    EXPECT_EQ(t->decode(ids), p->text);
    size_t markers = 0;
    for (const auto& s : p->segments) markers += s.token ? 1 : 0;
    size_t special = 0;
    for (TokenId id : ids) special += id >= 151643 ? 1 : 0;  // Qwen3's added tokens start at 151643
    EXPECT_EQ(special, markers);
  }
  auto chat = build_chat_prompt(*detected, *t, kConversation);
  ASSERT_TRUE(chat.ok());
  EXPECT_EQ(encode_prompt(*t, *chat), t->encode(chat->text));

  const StopConditions fim_stop = fim_stop_conditions(*detected, *t);
  for (const char* s : {"<|endoftext|>", "<|fim_pad|>", "<|file_sep|>", "<|repo_name|>", "<|fim_prefix|>"}) {
    const TokenId id = t->token_to_id(s).value();
    EXPECT_TRUE(std::binary_search(fim_stop.token_ids.begin(), fim_stop.token_ids.end(), id)) << s;
  }
  EXPECT_EQ(chat->stop.token_ids,
            (std::vector<TokenId>{t->token_to_id("<|endoftext|>").value(), t->token_to_id("<|im_end|>").value()}));
}

TEST(PromptFormatReal, Llama3Chat) {
  const Tokenizer* t = real("llama3");
  ASSERT_NE(t, nullptr);
  auto detected = detect_prompt_format(*t, "llama");
  ASSERT_TRUE(detected.ok()) << detected.status().to_string();
  EXPECT_EQ(detected->name, "llama3");
  for (const char* marker : {"<|begin_of_text|>", "<|start_header_id|>", "<|end_header_id|>", "<|eot_id|>"}) {
    const auto ids = t->encode(std::string("x") + marker + "y");
    ASSERT_EQ(ids.size(), 3u) << marker;
    EXPECT_EQ(ids[1], t->token_to_id(marker).value()) << marker;
  }
  auto p = build_chat_prompt(*detected, *t, kConversation);
  ASSERT_TRUE(p.ok()) << p.status().to_string();
  const auto ids = encode_prompt(*t, *p);
  // apply_chat_template tokenizes with add_special_tokens=False: BOS comes from the text.
  EXPECT_EQ(ids, t->encode(p->text, false));
  EXPECT_EQ(ids.front(), t->token_to_id("<|begin_of_text|>").value());
  EXPECT_EQ(std::count(ids.begin(), ids.end(), t->token_to_id("<|eot_id|>").value()), 4);
  EXPECT_EQ(std::count(ids.begin(), ids.end(), t->token_to_id("<|start_header_id|>").value()), 5);
  EXPECT_EQ(p->stop.token_ids,
            (std::vector<TokenId>{t->token_to_id("<|end_of_text|>").value(), t->token_to_id("<|eot_id|>").value()}));
  EXPECT_EQ(build_fim_prompt(*detected, *t, simple()).status().code(), StatusCode::kUnsupported);
}

TEST(PromptFormatReal, Llama2IsPlain) {
  const Tokenizer* t = real("llama2");
  ASSERT_NE(t, nullptr);
  auto detected = detect_prompt_format(*t, "llama");
  ASSERT_TRUE(detected.ok());
  EXPECT_EQ(detected->name, "plain");
  auto p = build_chat_prompt(*detected, *t, std::vector<ChatMessage>{{"user", "Hi"}});
  ASSERT_TRUE(p.ok());
  EXPECT_EQ(p->text, "User: Hi\n\nAssistant:");
  EXPECT_TRUE(p->stop.token_ids.empty());
}

TEST(PromptFormatReal, CodeLlamaMatchesMetasInfillingTokens) {
  const Tokenizer* t = codellama_real();
  ASSERT_NE(t, nullptr);
  auto detected = detect_prompt_format(*t, "llama");
  ASSERT_TRUE(detected.ok()) << detected.status().to_string();
  EXPECT_EQ(detected->name, "codellama");

  FimRequest r;
  r.prefix = "def remove_non_ascii(s: str) -> str:\n    \"\"\" ";
  r.suffix = "\n    return result\n";
  const TokenId bos = 1, pre = 32007, suf = 32008, mid = 32009;
  // Meta's generation.py: encode(prefix) with its SentencePiece word start,
  // encode_infilling(suffix) without one.
  const auto prefix_ids = t->encode(r.prefix);
  const auto suffix_ids = encode_verbatim(*t, r.suffix);
  std::string suffix_pieces;
  for (TokenId id : suffix_ids) suffix_pieces += t->id_to_token(id).value();
  EXPECT_EQ(suffix_pieces, "<0x0A>▁▁▁▁return▁result<0x0A>");
  EXPECT_EQ(encode_verbatim(*t, " " + r.prefix), prefix_ids);

  auto psm = build_fim_prompt(*detected, *t, r);
  ASSERT_TRUE(psm.ok()) << psm.status().to_string();
  std::vector<TokenId> want = {bos, pre};
  want.insert(want.end(), prefix_ids.begin(), prefix_ids.end());
  want.push_back(suf);
  want.insert(want.end(), suffix_ids.begin(), suffix_ids.end());
  want.push_back(mid);
  EXPECT_EQ(encode_prompt(*t, *psm), want);
  EXPECT_EQ(psm->text, "<s><PRE> " + r.prefix + " <SUF>" + r.suffix + " <MID>");

  auto spm = build_fim_prompt(*detected, *t, r, FimOrder::kSpm);
  ASSERT_TRUE(spm.ok());
  want = {bos, pre, suf};
  want.insert(want.end(), suffix_ids.begin(), suffix_ids.end());
  want.push_back(mid);
  want.insert(want.end(), prefix_ids.begin(), prefix_ids.end());
  EXPECT_EQ(encode_prompt(*t, *spm), want);

  EXPECT_EQ(psm->stop.token_ids, (std::vector<TokenId>{2, pre, suf, mid, 32010}));
}

TEST(PromptFormatReal, VerbatimEncodingOnByteLevelIsPlainEncoding) {
  const Tokenizer* t = real("qwen3");
  ASSERT_NE(t, nullptr);
  for (const char* text : {"hello", " hello", "\n\tx = 1", "☺ smile"})
    EXPECT_EQ(encode_verbatim(*t, text), t->encode(text)) << text;
}

}  // namespace
}  // namespace flywheel
