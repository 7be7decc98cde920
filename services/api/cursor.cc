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

// A decimal number without sign or leading zeros, below 10^18.
std::optional<int64_t> ParseCount(std::string_view s) {
  if (s.empty() || s.size() > 18 || (s.size() > 1 && s[0] == '0')) return std::nullopt;
  int64_t n = 0;
  for (char c : s) {
    if (!std::isdigit(static_cast<unsigned char>(c))) return std::nullopt;
    n = n * 10 + (c - '0');
  }
  return n;
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

namespace {

// "<tag><time>|<uuid>" -> (time, uuid), both well-formed.
std::optional<std::pair<std::string, std::string>> DecodeTimeAndId(std::string_view text,
                                                                   std::string_view tag) {
  auto raw = Base64UrlDecode(text);
  if (!raw || !std::string_view(*raw).starts_with(tag)) return std::nullopt;
  std::string rest = raw->substr(tag.size());
  auto bar = rest.find('|');
  if (bar == std::string::npos) return std::nullopt;
  std::pair<std::string, std::string> out{rest.substr(0, bar), rest.substr(bar + 1)};
  if (!IsMicrosTimestamp(out.first) || !LooksLikeUuid(out.second)) return std::nullopt;
  return out;
}

constexpr std::string_view kDeadLetterTag = "dead|";
constexpr std::string_view kWorkflowTag = "wf|";

}  // namespace

std::optional<ListCursor> DecodeCursor(std::string_view text) {
  auto d = DecodeTimeAndId(text, "");
  if (!d) return std::nullopt;
  return ListCursor{std::move(d->first), std::move(d->second)};
}

std::string EncodeDeadLetterCursor(const DeadLetterCursor& cursor) {
  return Base64UrlEncode(std::string(kDeadLetterTag) + cursor.dead_at + "|" + cursor.job_id);
}

std::optional<DeadLetterCursor> DecodeDeadLetterCursor(std::string_view text) {
  auto d = DecodeTimeAndId(text, kDeadLetterTag);
  if (!d) return std::nullopt;
  return DeadLetterCursor{std::move(d->first), std::move(d->second)};
}

std::string EncodeWorkflowCursor(const WorkflowCursor& cursor) {
  return Base64UrlEncode(std::string(kWorkflowTag) + cursor.submitted_at + "|" +
                         cursor.workflow_id);
}

std::optional<WorkflowCursor> DecodeWorkflowCursor(std::string_view text) {
  auto d = DecodeTimeAndId(text, kWorkflowTag);
  if (!d) return std::nullopt;
  return WorkflowCursor{std::move(d->first), std::move(d->second)};
}

std::string EncodeExecutionCursor(const ExecutionCursor& cursor) {
  return Base64UrlEncode("x|" + cursor.due_at + "|" + std::to_string(cursor.attempt) + "|" +
                         cursor.run_id);
}

std::optional<ExecutionCursor> DecodeExecutionCursor(std::string_view text) {
  auto raw = Base64UrlDecode(text);
  if (!raw || !raw->starts_with("x|")) return std::nullopt;
  std::string_view rest = std::string_view(*raw).substr(2);
  auto bar1 = rest.find('|');
  if (bar1 == std::string_view::npos) return std::nullopt;
  auto bar2 = rest.find('|', bar1 + 1);
  if (bar2 == std::string_view::npos) return std::nullopt;
  ExecutionCursor c;
  c.due_at = std::string(rest.substr(0, bar1));
  auto attempt = ParseCount(rest.substr(bar1 + 1, bar2 - bar1 - 1));
  c.run_id = std::string(rest.substr(bar2 + 1));
  if (!IsMicrosTimestamp(c.due_at) || !attempt || *attempt < 1 || *attempt > 1'000'000 ||
      !LooksLikeUuid(c.run_id)) {
    return std::nullopt;
  }
  c.attempt = static_cast<int>(*attempt);
  return c;
}

namespace {

// "<tag><offset>": the cursors of routes that page one job's records by offset.
std::string EncodeOffsetCursor(std::string_view tag, int64_t offset) {
  return Base64UrlEncode(std::string(tag) + std::to_string(offset));
}

std::optional<int64_t> DecodeOffsetCursor(std::string_view tag, std::string_view text) {
  auto raw = Base64UrlDecode(text);
  if (!raw || !raw->starts_with(tag)) return std::nullopt;
  return ParseCount(std::string_view(*raw).substr(tag.size()));
}

}  // namespace

std::string EncodeLogCursor(int64_t offset) { return EncodeOffsetCursor("log|", offset); }

std::optional<int64_t> DecodeLogCursor(std::string_view text) {
  return DecodeOffsetCursor("log|", text);
}

std::string EncodeEventCursor(int64_t offset) { return EncodeOffsetCursor("ev|", offset); }

std::optional<int64_t> DecodeEventCursor(std::string_view text) {
  return DecodeOffsetCursor("ev|", text);
}

}  // namespace jobsched::api
