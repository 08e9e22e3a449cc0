// From a request's text to the token ids the engine runs: fill-in-the-middle
// (OpenAI `suffix`, /infill, Tabby), plain text (/v1/completions without a
// suffix, /completion) and chat, each checked against the model's context.
//
// Too long: a prompt that does not fit the context (context_length - 1 ids,
// the engine's bound) is an out_of_range naming the counts, unless the
// prompt is to be fitted (GenerationSettings: FIM prompts unless the request
// says "truncate": false, plain prompts when it says true): then FIM prompts lose their least relevant
// extra files, the start of their prefix and the end of their suffix (cut
// in bytes first, then tokenized once: see build_fim; cuts at line starts
// where one is near, never inside a UTF-8 character) and plain prompts their
// first tokens. Chat is never truncated.
//
// Single-line rule (FIM, editors' inline completion): single_line when the
// text before the cursor on its line has non-whitespace and does not end in
// a block opener ({ [ ( : or "=>", ignoring trailing whitespace). So after
// "x = foo(" or "def f():" the model may write a block; after "return x +"
// it finishes the line; on an empty line it may write several. A request's
// `single_line` field overrides the rule.
//
// Thread-safety: pure functions (the tokenizer is only read).
#pragma once

#include <string>
#include <string_view>
#include <vector>

#include "core/status.h"
#include "model/prompt_format.h"
#include "serve/engine.h"

namespace flywheel::serve {

struct BuiltPrompt {
  std::vector<TokenId> tokens;
  StopConditions stop;
  // For the event record: the text before and after the cursor (FIM), or
  // the whole prompt as `prefix`.
  std::string prefix, suffix;
  bool truncated = false;
};

// `middle_start` is text that starts the middle (llama.cpp's /infill
// `prompt`: placed after the middle marker, so the model continues it); it
// belongs to the prefix in the event record.
Result<BuiltPrompt> build_fim(const ServedModel& model, FimRequest request, std::string_view middle_start,
                              bool truncate);
Result<BuiltPrompt> build_plain(const ServedModel& model, const std::string& prompt, bool truncate);
Result<BuiltPrompt> build_chat(const ServedModel& model, const std::vector<ChatMessage>& messages);

bool single_line_rule(std::string_view prefix);

}  // namespace flywheel::serve
