#include "events/ids.h"

#include <openssl/rand.h>
#include <openssl/sha.h>

#include <cctype>
#include <cstdint>
#include <stdexcept>

namespace jobsched {
namespace {

std::string FormatUuid(unsigned char b[16]) {
  static const char kHex[] = "0123456789abcdef";
  std::string out;
  out.reserve(36);
  for (int i = 0; i < 16; ++i) {
    if (i == 4 || i == 6 || i == 8 || i == 10) out.push_back('-');
    out.push_back(kHex[b[i] >> 4]);
    out.push_back(kHex[b[i] & 0xf]);
  }
  return out;
}

}  // namespace

std::string DeterministicId(std::initializer_list<std::string_view> parts) {
  std::string input;
  for (std::string_view p : parts) {
    uint64_t n = p.size();
    for (int i = 0; i < 8; ++i) input.push_back(static_cast<char>(n >> (8 * i)));
    input.append(p);
  }
  unsigned char digest[SHA256_DIGEST_LENGTH];
  SHA256(reinterpret_cast<const unsigned char*>(input.data()), input.size(), digest);
  digest[6] = static_cast<unsigned char>((digest[6] & 0x0f) | 0x80);  // version 8
  digest[8] = static_cast<unsigned char>((digest[8] & 0x3f) | 0x80);  // RFC 4122 variant
  return FormatUuid(digest);
}

std::string RandomId() {
  unsigned char b[16];
  if (RAND_bytes(b, sizeof b) != 1) throw std::runtime_error("RAND_bytes failed");
  b[6] = static_cast<unsigned char>((b[6] & 0x0f) | 0x40);
  b[8] = static_cast<unsigned char>((b[8] & 0x3f) | 0x80);
  return FormatUuid(b);
}

namespace ids {

std::string JobIdForIdempotencyKey(std::string_view key) {
  return DeterministicId({"job", key});
}

std::string FireId(std::string_view job_id, std::string_view nominal_time, int occurrence) {
  return DeterministicId({"fire", job_id, nominal_time, std::to_string(occurrence)});
}

std::string OnceFireId(std::string_view job_id) {
  return DeterministicId({"fire", job_id, "once"});
}

std::string WorkflowJobId(std::string_view workflow_id, std::string_view key) {
  return DeterministicId({"workflow-job", workflow_id, key});
}

std::string WorkflowRunId(std::string_view trigger_job_id, std::string_view fire_id) {
  return DeterministicId({"workflow-run", trigger_job_id, fire_id});
}

std::string ManualFireId(std::string_view job_id, std::string_view request_event_id) {
  return DeterministicId({"fire", job_id, "manual", request_event_id});
}

std::string RunId(std::string_view job_id, std::string_view fire_id, int attempt) {
  return DeterministicId({"run", job_id, fire_id, std::to_string(attempt)});
}

std::string EventId(std::string_view event_type, std::string_view job_id, std::string_view cause) {
  return DeterministicId({"event", event_type, job_id, cause});
}

}  // namespace ids

bool LooksLikeUuid(std::string_view s) {
  if (s.size() != 36) return false;
  for (size_t i = 0; i < s.size(); ++i) {
    bool dash = i == 8 || i == 13 || i == 18 || i == 23;
    if (dash ? s[i] != '-' : !std::isxdigit(static_cast<unsigned char>(s[i]))) return false;
  }
  return true;
}

}  // namespace jobsched
