// Tools in chat (OpenAI's `tools` / `tool_calls`), for models that have no
// tool template of their own. The convention (Qwen2.5's and Hermes'):
//
// - The request's tools go into the prompt as a system message (appended to
//   the request's own system message when there is one) that lists each
//   function as JSON ({"name", "description", "parameters"}) and asks the
//   model to answer a call as
//       <tool_call>{"name": "fn", "arguments": {...}}</tool_call>
//   tool_choice "none" leaves the tools out; "required" or a function name
//   adds one line saying so (the model is asked, not forced).
// - Earlier assistant turns with tool_calls are written back in that form;
//   "tool" turns keep their role (chatml writes it as is).
// - In the output, every <tool_call>{json}</tool_call> whose JSON has a
//   string "name" becomes a tool call (arguments re-serialized as JSON text,
//   "{}" when absent); the text outside the tags is the message content.
//   Text that does not parse stays in the content. Streaming with tools
//   holds a choice's text back until it ends (a tag cannot be parsed half
//   way), then sends the content, the calls and the finish reason.
//
// Thread-safety: pure functions.
#pragma once

#include <string>
#include <string_view>
#include <vector>

#include "model/prompt_format.h"
#include "serve/api_types.h"

namespace flywheel::serve {

// The chat the model sees: the request's turns with the tools folded in.
std::vector<ChatMessage> chat_messages_with_tools(const ChatRequest& request);

struct ParsedToolOutput {
  std::string content;  // text outside <tool_call> tags, trimmed
  std::vector<ToolCall> calls;
};

ParsedToolOutput parse_tool_output(std::string_view text);

}  // namespace flywheel::serve
