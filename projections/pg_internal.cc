#include "projections/pg_internal.h"

#include <algorithm>
#include <chrono>
#include <cstdio>

#include <pqxx/except>

namespace jobsched::projections::internal {

Status TranslatePgError(const std::exception& e, std::string_view what) {
  // libpq messages span lines ("...failed\n\tIs the server running..."): one
  // line keeps log records whole.
  std::string message = std::string(what) + ": ";
  for (const char* p = e.what(); *p != '\0'; ++p) {
    bool space = *p == '\n' || *p == '\t' || *p == '\r';
    if (!space) {
      message.push_back(*p);
    } else if (message.back() != ' ') {
      message.push_back(' ');
    }
  }
  while (!message.empty() && message.back() == ' ') message.pop_back();
  if (dynamic_cast<const pqxx::broken_connection*>(&e) != nullptr ||
      dynamic_cast<const pqxx::in_doubt_error*>(&e) != nullptr ||
      dynamic_cast<const pqxx::transaction_rollback*>(&e) != nullptr) {
    return Status::Unavailable(std::move(message));
  }
  if (const auto* sql = dynamic_cast<const pqxx::sql_error*>(&e)) {
    const std::string& state = sql->sqlstate();
    std::string_view cls = std::string_view(state).substr(0, std::min<size_t>(2, state.size()));
    if (cls == "08" || cls == "57" || cls == "53" || cls == "40") {
      return Status::Unavailable(std::move(message));
    }
  }
  return Status::Internal(std::move(message));
}

std::string TimestampText(const google::protobuf::Timestamp& ts) {
  using namespace std::chrono;
  constexpr int64_t kMinSeconds = -62135596800;  // 0001-01-01T00:00:00Z
  constexpr int64_t kMaxSeconds = 253402300799;  // 9999-12-31T23:59:59Z
  int64_t secs = std::clamp<int64_t>(ts.seconds(), kMinSeconds, kMaxSeconds);
  int64_t micros = std::clamp<int64_t>(ts.nanos(), 0, 999999999) / 1000;
  sys_seconds tp{seconds(secs)};
  sys_days day = floor<days>(tp);
  year_month_day ymd{day};
  hh_mm_ss<seconds> hms{tp - day};
  char buf[64];
  std::snprintf(buf, sizeof buf, "%04d-%02u-%02u %02d:%02d:%02d.%06lld+00",
                static_cast<int>(ymd.year()), static_cast<unsigned>(ymd.month()),
                static_cast<unsigned>(ymd.day()), static_cast<int>(hms.hours().count()),
                static_cast<int>(hms.minutes().count()), static_cast<int>(hms.seconds().count()),
                static_cast<long long>(micros));
  return buf;
}

std::string ByteaText(std::string_view bytes) {
  static constexpr char kHex[] = "0123456789abcdef";
  std::string out;
  out.resize(2 + 2 * bytes.size());
  out[0] = '\\';
  out[1] = 'x';
  char* p = out.data() + 2;
  for (unsigned char c : bytes) {
    *p++ = kHex[c >> 4];
    *p++ = kHex[c & 0xF];
  }
  return out;
}

std::string PgText(std::string_view s) {
  std::string out;
  if (s.find('\0') == std::string_view::npos) return std::string(s);
  out.reserve(s.size() + 8);
  for (char c : s) {
    if (c == '\0') {
      out += "\xEF\xBF\xBD";
    } else {
      out.push_back(c);
    }
  }
  return out;
}

std::string PgJson(std::string json) {
  // Walk the text so "\\u0000" (an escaped backslash, then "u0000") is kept.
  size_t pos = json.find("\\u0000");
  if (pos == std::string::npos) return json;
  std::string out;
  out.reserve(json.size());
  for (size_t i = 0; i < json.size(); ++i) {
    char c = json[i];
    if (c != '\\' || i + 1 >= json.size()) {
      out.push_back(c);
      continue;
    }
    if (json.compare(i, 6, "\\u0000") == 0) {
      out += "\\ufffd";
      i += 5;
    } else {
      out.push_back(c);
      out.push_back(json[++i]);  // copy the escaped character verbatim
    }
  }
  return out;
}

}  // namespace jobsched::projections::internal
