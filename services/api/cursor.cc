#include "services/api/cursor.h"

#include <cctype>

#include "events/ids.h"

namespace jobsched::api {
namespace {

constexpr char kAlphabet[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";

int Sextet(char c) {
  if (c >= 'A' && c <= 'Z') return c - 'A';
  if (c >= 'a' && c <= 'z') return c - 'a' + 26;
  if (c >= '0' && c <= '9') return c - '0' + 52;
  if (c == '-') return 62;
  if (c == '_') return 63;
  return -1;
}

// "YYYY-MM-DDTHH:MM:SS.ffffffZ": digits where the pattern has 'd'.
bool IsMicrosTimestamp(std::string_view s) {
  constexpr std::string_view kPattern = "dddd-dd-ddTdd:dd:dd.ddddddZ";
  if (s.size() != kPattern.size()) return false;
  for (size_t i = 0; i < s.size(); ++i) {
    bool ok = kPattern[i] == 'd' ? std::isdigit(static_cast<unsigned char>(s[i])) != 0
                                 : s[i] == kPattern[i];
    if (!ok) return false;
  }
  return true;
}

}  // namespace

std::string Base64UrlEncode(std::string_view bytes) {
  std::string out;
  out.reserve((bytes.size() * 4 + 2) / 3);
  size_t i = 0;
  for (; i + 2 < bytes.size(); i += 3) {
    uint32_t n = (static_cast<uint8_t>(bytes[i]) << 16) |
                 (static_cast<uint8_t>(bytes[i + 1]) << 8) | static_cast<uint8_t>(bytes[i + 2]);
    out += kAlphabet[(n >> 18) & 63];
    out += kAlphabet[(n >> 12) & 63];
    out += kAlphabet[(n >> 6) & 63];
    out += kAlphabet[n & 63];
  }
  size_t rest = bytes.size() - i;
  if (rest > 0) {
    uint32_t n = static_cast<uint8_t>(bytes[i]) << 16;
    if (rest == 2) n |= static_cast<uint8_t>(bytes[i + 1]) << 8;
    out += kAlphabet[(n >> 18) & 63];
    out += kAlphabet[(n >> 12) & 63];
    if (rest == 2) out += kAlphabet[(n >> 6) & 63];
  }
  return out;
}

std::optional<std::string> Base64UrlDecode(std::string_view text) {
  if (text.size() % 4 == 1) return std::nullopt;
  std::string out;
  out.reserve(text.size() * 3 / 4);
  uint32_t acc = 0;
  int bits = 0;
  for (char c : text) {
    int v = Sextet(c);
    if (v < 0) return std::nullopt;
    acc = (acc << 6) | static_cast<uint32_t>(v);
    bits += 6;
    if (bits >= 8) {
      bits -= 8;
      out += static_cast<char>((acc >> bits) & 0xFF);
    }
  }
  // Leftover bits must be zero, so every string has exactly one encoding.
  if ((acc & ((1u << bits) - 1)) != 0) return std::nullopt;
  return out;
}

std::string EncodeCursor(const ListCursor& cursor) {
  return Base64UrlEncode(cursor.created_at + "|" + cursor.job_id);
}

std::optional<ListCursor> DecodeCursor(std::string_view text) {
  auto raw = Base64UrlDecode(text);
  if (!raw) return std::nullopt;
  auto bar = raw->find('|');
  if (bar == std::string::npos) return std::nullopt;
  ListCursor c{raw->substr(0, bar), raw->substr(bar + 1)};
  if (!IsMicrosTimestamp(c.created_at) || !LooksLikeUuid(c.job_id)) return std::nullopt;
  return c;
}

}  // namespace jobsched::api
