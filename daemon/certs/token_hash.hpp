// token_hash: bearer tokens for the control plane. relayd stores only their SHA-256 (a stolen
// token file grants nothing) and compares in constant time.
#pragma once

#include <array>
#include <string>
#include <string_view>

namespace relay::certs {

using TokenHash = std::array<unsigned char, 32>;

TokenHash hash_token(std::string_view token);
// "sha256:" followed by 64 lowercase hex digits, as the token file holds it.
std::string token_hash_text(const TokenHash& hash);
// Parses token_hash_text's form; false when it is not one.
bool parse_token_hash(std::string_view text, TokenHash& out);
// Constant time in the contents (CRYPTO_memcmp): how much of a guess matched never shows in timing.
bool same_hash(const TokenHash& a, const TokenHash& b) noexcept;
// A new random token: "rly_" and 43 base64url characters (256 bits from the system's CSPRNG).
std::string new_token();

}  // namespace relay::certs
