#include "serve/tool_calls.h"

#include "serve/ids.h"

namespace flywheel::serve {
namespace {

constexpr std::string_view kOpen = "<tool_call>";
constexpr std::string_view kClose = "</tool_call>";

std::string tools_description(const ChatRequest& request) {
  std::string text = "You may call functions to help with the user's request. The functions, as JSON:\n";
  for (const ToolSpec& tool : request.tools) {
    nlohmann::json spec = {{"name", tool.name}, {"description", tool.description}, {"parameters", tool.parameters}};
    text += spec.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace) + "\n";
  }
  text +=
      "To call a function, answer with one line per call: <tool_call>{\"name\": \"<function name>\", "
      "\"arguments\": {<arguments as JSON>}}</tool_call>";
  if (request.tool_choice == "required")
    text += "\nYou must call at least one function.";
  else if (request.tool_choice != "auto")
    text += "\nYou must call the function \"" + request.tool_choice + "\".";
  return text;
}

std::string trim(std::string_view s) {
  const size_t begin = s.find_first_not_of(" \t\r\n");
  if (begin == std::string_view::npos) return {};
  const size_t end = s.find_last_not_of(" \t\r\n");
  return std::string(s.substr(begin, end - begin + 1));
}

}  // namespace

std::vector<ChatMessage> chat_messages_with_tools(const ChatRequest& request) {
  std::vector<ChatMessage> out;
  const bool with_tools = !request.tools.empty() && request.tool_choice != "none";
  size_t first = 0;
  if (with_tools) {
    std::string system = tools_description(request);
    if (!request.messages.empty() && request.messages[0].role == "system") {
      system = request.messages[0].content + "\n\n" + system;
      first = 1;
    }
    out.push_back({"system", std::move(system)});
  }
  for (size_t i = first; i < request.messages.size(); ++i) {
    const ChatTurn& turn = request.messages[i];
    std::string content = turn.content;
    for (const ToolCall& call : turn.tool_calls) {
      nlohmann::json arguments = nlohmann::json::parse(call.arguments, nullptr, false);
      if (arguments.is_discarded()) arguments = call.arguments;  // kept as the string the client sent
      nlohmann::json body = {{"name", call.name}, {"arguments", arguments}};
      if (!content.empty()) content += "\n";
      content += std::string(kOpen) + body.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace) +
                 std::string(kClose);
    }
    out.push_back({turn.role, std::move(content)});
  }
  return out;
}

ParsedToolOutput parse_tool_output(std::string_view text) {
  ParsedToolOutput out;
  std::string content;
  size_t pos = 0;
  while (pos < text.size()) {
    const size_t open = text.find(kOpen, pos);
    if (open == std::string_view::npos) break;
    const size_t body_start = open + kOpen.size();
    const size_t close = text.find(kClose, body_start);
    // An unclosed tag (cut by max_tokens): parse to the end.
    const size_t body_end = close == std::string_view::npos ? text.size() : close;
    const size_t after = close == std::string_view::npos ? text.size() : close + kClose.size();
    nlohmann::json body = nlohmann::json::parse(text.substr(body_start, body_end - body_start), nullptr, false);
    if (!body.is_discarded() && body.is_object() && body.contains("name") && body["name"].is_string()) {
      content.append(text.substr(pos, open - pos));
      ToolCall call;
      call.id = new_id("call_");
      call.name = body["name"].get<std::string>();
      const auto args = body.find("arguments");
      if (args == body.end() || args->is_null())
        call.arguments = "{}";
      else if (args->is_string())
        call.arguments = args->get<std::string>();
      else
        call.arguments = args->dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
      out.calls.push_back(std::move(call));
    } else {
      content.append(text.substr(pos, after - pos));
    }
    pos = after;
  }
  if (pos < text.size()) content.append(text.substr(pos));
  out.content = out.calls.empty() ? std::string(text) : trim(content);
  return out;
}

}  // namespace flywheel::serve
