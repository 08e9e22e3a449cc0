// Runs tests/reference/hf_tokenize.js (Hugging Face's tokenizers under node)
// on a batch of texts and id lists, in one node process per call, and reads
// back its ids and decoded text. See hf_tokenize.js for the file formats.
#pragma once

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <vector>

#include "core/status.h"
#include "reference_support.h"

namespace flywheel::testing {

inline std::string base64_encode(std::string_view in) {
  static const char* const kAlphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
  std::string out;
  out.reserve((in.size() + 2) / 3 * 4);
  size_t i = 0;
  for (; i + 2 < in.size(); i += 3) {
    uint32_t v = (uint8_t(in[i]) << 16) | (uint8_t(in[i + 1]) << 8) | uint8_t(in[i + 2]);
    out += kAlphabet[v >> 18];
    out += kAlphabet[(v >> 12) & 63];
    out += kAlphabet[(v >> 6) & 63];
    out += kAlphabet[v & 63];
  }
  if (i + 1 == in.size()) {
    uint32_t v = uint8_t(in[i]) << 16;
    out += kAlphabet[v >> 18];
    out += kAlphabet[(v >> 12) & 63];
    out += "==";
  } else if (i + 2 == in.size()) {
    uint32_t v = (uint8_t(in[i]) << 16) | (uint8_t(in[i + 1]) << 8);
    out += kAlphabet[v >> 18];
    out += kAlphabet[(v >> 12) & 63];
    out += kAlphabet[(v >> 6) & 63];
    out += '=';
  }
  return out;
}

inline std::string base64_decode(std::string_view in) {
  auto value = [](char c) -> int {
    if (c >= 'A' && c <= 'Z') return c - 'A';
    if (c >= 'a' && c <= 'z') return c - 'a' + 26;
    if (c >= '0' && c <= '9') return c - '0' + 52;
    if (c == '+') return 62;
    if (c == '/') return 63;
    return -1;
  };
  std::string out;
  uint32_t buffer = 0;
  int bits = 0;
  for (char c : in) {
    int v = value(c);
    if (v < 0) continue;  // '=' padding
    buffer = (buffer << 6) | static_cast<uint32_t>(v);
    bits += 6;
    if (bits >= 8) {
      bits -= 8;
      out += static_cast<char>((buffer >> bits) & 0xFF);
    }
  }
  return out;
}

struct HfRequest {
  fs::path tokenizer;              // tokenizer.json for Hugging Face to load
  std::vector<std::string> texts;  // valid UTF-8
  std::vector<std::vector<TokenId>> decode_ids;
  std::vector<std::string> lossy;  // arbitrary bytes
  std::vector<TokenId> id_to_token;
};

struct HfTextResult {
  std::vector<TokenId> ids;                         // add_special_tokens=false
  std::vector<TokenId> ids_special;                 // add_special_tokens=true
  std::string decode, decode_skip;                  // of ids, skip_special_tokens false/true
  std::string decode_special, decode_special_skip;  // of ids_special
};

struct HfDecodeResult {
  std::string decode, decode_skip;
};

struct HfResponse {
  std::string tokenizers_version;
  size_t vocab_size = 0;                           // with added tokens
  std::vector<HfTextResult> results;               // one per request text
  std::vector<HfDecodeResult> decoded_ids;         // one per request id list
  std::vector<std::string> lossy;                  // one per request lossy entry
  std::vector<std::optional<std::string>> tokens;  // one per request id_to_token entry
};

inline std::string shell_quote(const std::string& s) {
  std::string out = "'";
  for (char c : s) out += c == '\'' ? std::string("'\\''") : std::string(1, c);
  return out + "'";
}

// Writes the request under `work_dir`, runs node once, parses the response.
inline Result<HfResponse> run_hf(const HfRequest& request, const fs::path& work_dir) {
  std::error_code ec;
  fs::create_directories(work_dir, ec);
  const fs::path request_path = work_dir / "hf_request.json";
  const fs::path response_path = work_dir / "hf_response.json";
  const fs::path stderr_path = work_dir / "hf_stderr.txt";
  fs::remove(response_path, ec);

  nlohmann::json j;
  j["tokenizer"] = fs::absolute(request.tokenizer).string();
  auto& texts = j["texts"] = nlohmann::json::array();
  for (const auto& t : request.texts) texts.push_back(base64_encode(t));
  j["decode_ids"] = request.decode_ids;
  j["id_to_token"] = request.id_to_token;
  auto& lossy = j["lossy"] = nlohmann::json::array();
  for (const auto& t : request.lossy) lossy.push_back(base64_encode(t));
  {
    std::ofstream out(request_path, std::ios::binary);
    out << j.dump();
    if (!out) return Status::io_error("cannot write " + request_path.string());
  }

  const std::string command = "node " + shell_quote((reference_dir() / "hf_tokenize.js").string()) + " " +
                              shell_quote(request_path.string()) + " " + shell_quote(response_path.string()) + " 2>" +
                              shell_quote(stderr_path.string());
  const int rc = std::system(command.c_str());
  if (rc != 0) {
    return Status::internal("Hugging Face reference run failed (exit status " + std::to_string(rc) +
                            "): " + read_file_bytes(stderr_path).value_or("(no stderr)") + "\ncommand: " + command);
  }
  auto text = read_file_bytes(response_path);
  if (!text) return Status::io_error("hf_tokenize.js wrote no response at " + response_path.string());

  HfResponse response;
  try {
    auto r = nlohmann::json::parse(*text);
    response.tokenizers_version = r.at("tokenizers_version").get<std::string>();
    response.vocab_size = r.at("vocab_size").get<size_t>();
    for (const auto& x : r.at("results")) {
      HfTextResult t;
      t.ids = x.at("ids").get<std::vector<TokenId>>();
      t.ids_special = x.at("ids_special").get<std::vector<TokenId>>();
      t.decode = base64_decode(x.at("decode").get<std::string>());
      t.decode_skip = base64_decode(x.at("decode_skip").get<std::string>());
      t.decode_special = base64_decode(x.at("decode_special").get<std::string>());
      t.decode_special_skip = base64_decode(x.at("decode_special_skip").get<std::string>());
      response.results.push_back(std::move(t));
    }
    for (const auto& x : r.at("decoded_ids")) {
      response.decoded_ids.push_back(
          {base64_decode(x.at("decode").get<std::string>()), base64_decode(x.at("decode_skip").get<std::string>())});
    }
    for (const auto& x : r.at("lossy")) response.lossy.push_back(base64_decode(x.get<std::string>()));
    for (const auto& x : r.at("tokens")) {
      response.tokens.push_back(x.is_null() ? std::nullopt : std::optional(base64_decode(x.get<std::string>())));
    }
  } catch (const std::exception& e) {
    return Status::corruption("cannot parse " + response_path.string() + ": " + e.what());
  }
  if (response.results.size() != request.texts.size() || response.decoded_ids.size() != request.decode_ids.size() ||
      response.lossy.size() != request.lossy.size() || response.tokens.size() != request.id_to_token.size()) {
    return Status::corruption("hf_tokenize.js answered a different number of items than asked");
  }
  return response;
}

}  // namespace flywheel::testing
