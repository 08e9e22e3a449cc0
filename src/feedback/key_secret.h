// API key secrets: made from 256 random bits (OpenSSL RAND_bytes), stored
// only as their SHA-256, compared in constant time.
//
// Thread-safety: plain functions. Errors: only when the system's random
// source fails.
#pragma once

#include <string>
#include <string_view>

#include "core/status.h"

namespace flywheel::feedback {

constexpr std::string_view kKeySecretPrefix = "fw-";
constexpr size_t kKeySecretLength = 3 + 43;    // "fw-" + 32 bytes in unpadded url-safe base64
constexpr size_t kKeyDisplayPrefixLength = 7;  // "fw-" and 4 characters: 24 of the 256 bits

// "fw-" + 43 url-safe base64 characters.
Result<std::string> new_key_secret();
// "key_" + 12 hex digits; public, not derived from the secret.
Result<std::string> new_key_id();
// Unpadded url-safe base64 (RFC 4648 section 5).
std::string base64url(std::string_view bytes);
// The shape of a secret (prefix, length, alphabet); says nothing of whether it exists.
bool is_well_formed_key_secret(std::string_view secret);
// sha256 hex of the secret: what the store keeps and looks up.
std::string key_secret_hash(std::string_view secret);
// CRYPTO_memcmp: the time taken does not depend on where the strings differ.
bool constant_time_equal(std::string_view a, std::string_view b);

}  // namespace flywheel::feedback
