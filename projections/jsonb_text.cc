#include "projections/jsonb_text.h"

#include <cfloat>
#include <charconv>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <deque>
#include <string_view>
#include <vector>

#include <google/protobuf/descriptor.h>
#include <google/protobuf/timestamp.pb.h>

#include "events/envelope.h"
#include "projections/pg_internal.h"

namespace jobsched::projections {
namespace {

using google::protobuf::Descriptor;
using google::protobuf::FieldDescriptor;
using google::protobuf::Message;
using google::protobuf::Reflection;

// What Protobuf's JSON printer accepts as a Timestamp (RFC 3339 years 1 to 9999).
constexpr int64_t kMinSeconds = -62135596800;
constexpr int64_t kMaxSeconds = 253402300799;

enum class Outcome {
  kOk,
  kInvalid,      // ToJson fails (a Timestamp out of range): the result is "{}"
  kUnsupported,  // a well-known type this printer does not render: use ToJson
};

void AppendString(std::string_view s, std::string& out) {
  static constexpr char kHex[] = "0123456789abcdef";
  out.push_back('"');
  size_t plain = 0;  // start of the run of characters copied as they are
  for (size_t i = 0; i < s.size(); ++i) {
    const unsigned char c = static_cast<unsigned char>(s[i]);
    if (c >= 0x20 && c != '"' && c != '\\') continue;
    out.append(s.data() + plain, i - plain);
    plain = i + 1;
    switch (c) {
      case '"': out += "\\\""; break;
      case '\\': out += "\\\\"; break;
      case '\n': out += "\\n"; break;
      case '\r': out += "\\r"; break;
      case '\t': out += "\\t"; break;
      case '\b': out += "\\b"; break;
      case '\f': out += "\\f"; break;
      // jsonb cannot hold U+0000; PgJson makes it U+FFFD.
      case 0: out += "\\ufffd"; break;
      default:
        out += "\\u00";
        out.push_back(kHex[c >> 4]);
        out.push_back(kHex[c & 0xF]);
    }
  }
  out.append(s.data() + plain, s.size() - plain);
  out.push_back('"');
}

void AppendBase64(std::string_view s, std::string& out) {
  static constexpr char kAlphabet[] =
      "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
  out.push_back('"');
  size_t i = 0;
  for (; i + 3 <= s.size(); i += 3) {
    const uint32_t v = (uint32_t{static_cast<unsigned char>(s[i])} << 16) |
                       (uint32_t{static_cast<unsigned char>(s[i + 1])} << 8) |
                       uint32_t{static_cast<unsigned char>(s[i + 2])};
    out.push_back(kAlphabet[(v >> 18) & 63]);
    out.push_back(kAlphabet[(v >> 12) & 63]);
    out.push_back(kAlphabet[(v >> 6) & 63]);
    out.push_back(kAlphabet[v & 63]);
  }
  if (i < s.size()) {
    uint32_t v = uint32_t{static_cast<unsigned char>(s[i])} << 16;
    if (i + 1 < s.size()) v |= uint32_t{static_cast<unsigned char>(s[i + 1])} << 8;
    out.push_back(kAlphabet[(v >> 18) & 63]);
    out.push_back(kAlphabet[(v >> 12) & 63]);
    out.push_back(i + 1 < s.size() ? kAlphabet[(v >> 6) & 63] : '=');
    out.push_back('=');
  }
  out.push_back('"');
}

// Protobuf's SimpleDtoa / SimpleFtoa: the shortest of two precisions that
// reads back as the same value. Non-finite values are strings in JSON.
template <typename T>
void AppendFloating(T v, std::string& out) {
  if (std::isnan(v)) {
    out += "\"NaN\"";
    return;
  }
  if (std::isinf(v)) {
    out += v > 0 ? "\"Infinity\"" : "\"-Infinity\"";
    return;
  }
  constexpr bool kDouble = sizeof(T) == sizeof(double);
  char buf[48];
  std::snprintf(buf, sizeof buf, "%.*g", kDouble ? DBL_DIG : FLT_DIG, static_cast<double>(v));
  const bool exact = kDouble ? std::strtod(buf, nullptr) == static_cast<double>(v)
                             : std::strtof(buf, nullptr) == static_cast<float>(v);
  if (!exact) {
    std::snprintf(buf, sizeof buf, "%.*g", kDouble ? DBL_DIG + 2 : FLT_DIG + 3,
                  static_cast<double>(v));
  }
  out += buf;
}

// google.protobuf.Timestamp as Protobuf prints it: "2026-11-22T10:15:30Z",
// with 3, 6 or 9 fraction digits when the nanoseconds need them.
Outcome AppendTimestamp(const Message& m, std::string& out) {
  const Descriptor* d = m.GetDescriptor();
  const Reflection* r = m.GetReflection();
  const int64_t seconds = r->GetInt64(m, d->FindFieldByNumber(1));
  const int32_t nanos = r->GetInt32(m, d->FindFieldByNumber(2));
  if (seconds < kMinSeconds || seconds > kMaxSeconds || nanos < 0 || nanos > 999999999) {
    return Outcome::kInvalid;
  }
  using namespace std::chrono;
  const sys_seconds tp{std::chrono::seconds(seconds)};
  const sys_days day = floor<days>(tp);
  const year_month_day ymd{day};
  const hh_mm_ss<std::chrono::seconds> hms{tp - day};
  char buf[48];
  int n = std::snprintf(buf, sizeof buf, "\"%04d-%02u-%02uT%02d:%02d:%02d",
                        static_cast<int>(ymd.year()), static_cast<unsigned>(ymd.month()),
                        static_cast<unsigned>(ymd.day()), static_cast<int>(hms.hours().count()),
                        static_cast<int>(hms.minutes().count()),
                        static_cast<int>(hms.seconds().count()));
  if (nanos != 0) {
    if (nanos % 1000000 == 0) {
      n += std::snprintf(buf + n, sizeof buf - n, ".%03d", nanos / 1000000);
    } else if (nanos % 1000 == 0) {
      n += std::snprintf(buf + n, sizeof buf - n, ".%06d", nanos / 1000);
    } else {
      n += std::snprintf(buf + n, sizeof buf - n, ".%09d", nanos);
    }
  }
  out.append(buf, n);
  out += "Z\"";
  return Outcome::kOk;
}

Outcome AppendMessage(const Message& m, std::string& out, int depth);

template <typename Int>
void AppendInt(Int v, std::string& out, bool quoted) {
  char buf[24];
  auto [end, ec] = std::to_chars(buf, buf + sizeof buf, v);
  if (quoted) out.push_back('"');
  out.append(buf, end);
  if (quoted) out.push_back('"');
}

// One value of `f` (element `index` of a repeated field, or -1 for a singular one).
Outcome AppendValue(const Message& m, const FieldDescriptor* f, int index, std::string& out,
                    int depth) {
  const Reflection* r = m.GetReflection();
  const bool rep = index >= 0;
  switch (f->cpp_type()) {
    case FieldDescriptor::CPPTYPE_INT32:
      AppendInt(rep ? r->GetRepeatedInt32(m, f, index) : r->GetInt32(m, f), out, false);
      break;
    case FieldDescriptor::CPPTYPE_UINT32:
      AppendInt(rep ? r->GetRepeatedUInt32(m, f, index) : r->GetUInt32(m, f), out, false);
      break;
    case FieldDescriptor::CPPTYPE_INT64:
      AppendInt(rep ? r->GetRepeatedInt64(m, f, index) : r->GetInt64(m, f), out, true);
      break;
    case FieldDescriptor::CPPTYPE_UINT64:
      AppendInt(rep ? r->GetRepeatedUInt64(m, f, index) : r->GetUInt64(m, f), out, true);
      break;
    case FieldDescriptor::CPPTYPE_DOUBLE:
      AppendFloating(rep ? r->GetRepeatedDouble(m, f, index) : r->GetDouble(m, f), out);
      break;
    case FieldDescriptor::CPPTYPE_FLOAT:
      AppendFloating(rep ? r->GetRepeatedFloat(m, f, index) : r->GetFloat(m, f), out);
      break;
    case FieldDescriptor::CPPTYPE_BOOL:
      out += (rep ? r->GetRepeatedBool(m, f, index) : r->GetBool(m, f)) ? "true" : "false";
      break;
    case FieldDescriptor::CPPTYPE_ENUM: {
      const int v = rep ? r->GetRepeatedEnumValue(m, f, index) : r->GetEnumValue(m, f);
      const auto* value = f->enum_type()->FindValueByNumber(v);
      if (value != nullptr) {
        AppendString(value->name(), out);
      } else {
        AppendInt(v, out, false);  // unknown to this schema: its number
      }
      break;
    }
    case FieldDescriptor::CPPTYPE_STRING: {
      std::string scratch;
      const std::string& s = rep ? r->GetRepeatedStringReference(m, f, index, &scratch)
                                 : r->GetStringReference(m, f, &scratch);
      if (f->type() == FieldDescriptor::TYPE_BYTES) {
        AppendBase64(s, out);
      } else {
        AppendString(s, out);
      }
      break;
    }
    case FieldDescriptor::CPPTYPE_MESSAGE:
      return AppendMessage(rep ? r->GetRepeatedMessage(m, f, index) : r->GetMessage(m, f), out,
                           depth + 1);
  }
  return Outcome::kOk;
}

// A map's key as a JSON object key: Protobuf prints every key type as a string.
void AppendMapKey(const Message& entry, const FieldDescriptor* key, std::string& out) {
  const Reflection* r = entry.GetReflection();
  switch (key->cpp_type()) {
    case FieldDescriptor::CPPTYPE_STRING: {
      std::string scratch;
      AppendString(r->GetStringReference(entry, key, &scratch), out);
      return;
    }
    case FieldDescriptor::CPPTYPE_BOOL:
      out += r->GetBool(entry, key) ? "\"true\"" : "\"false\"";
      return;
    default: {
      // Integers: the number, quoted.
      std::string number;
      AppendValue(entry, key, -1, number, 0);
      if (number.front() != '"') number = '"' + number + '"';
      out += number;
      return;
    }
  }
}

Outcome AppendMessage(const Message& m, std::string& out, int depth) {
  const Descriptor* d = m.GetDescriptor();
  if (d == google::protobuf::Timestamp::descriptor()) return AppendTimestamp(m, out);
  if (d->file()->package() == "google.protobuf") return Outcome::kUnsupported;
  const Reflection* r = m.GetReflection();
  // One list per nesting level, kept by the thread: no allocation per message
  // (a deque: growing it leaves the outer levels' lists where they are).
  thread_local std::deque<std::vector<const FieldDescriptor*>> lists;
  if (lists.size() <= static_cast<size_t>(depth)) lists.resize(depth + 1);
  std::vector<const FieldDescriptor*>& fields = lists[depth];
  fields.clear();
  r->ListFields(m, &fields);  // the fields a serialization holds, which is what ToJson prints
  out.push_back('{');
  bool first = true;
  for (const FieldDescriptor* f : fields) {
    if (!first) out.push_back(',');
    first = false;
    AppendString(f->name(), out);
    out.push_back(':');
    if (f->is_map()) {
      const FieldDescriptor* key = f->message_type()->map_key();
      const FieldDescriptor* value = f->message_type()->map_value();
      out.push_back('{');
      const int n = r->FieldSize(m, f);
      for (int i = 0; i < n; ++i) {
        const Message& entry = r->GetRepeatedMessage(m, f, i);
        if (i > 0) out.push_back(',');
        AppendMapKey(entry, key, out);
        out.push_back(':');
        if (Outcome o = AppendValue(entry, value, -1, out, depth); o != Outcome::kOk) return o;
      }
      out.push_back('}');
    } else if (f->is_repeated()) {
      out.push_back('[');
      const int n = r->FieldSize(m, f);
      for (int i = 0; i < n; ++i) {
        if (i > 0) out.push_back(',');
        if (Outcome o = AppendValue(m, f, i, out, depth); o != Outcome::kOk) return o;
      }
      out.push_back(']');
    } else {
      if (Outcome o = AppendValue(m, f, -1, out, depth); o != Outcome::kOk) return o;
    }
  }
  out.push_back('}');
  return Outcome::kOk;
}

}  // namespace

std::string JsonbText(const Message& m) {
  std::string out;
  out.reserve(512);
  switch (AppendMessage(m, out, 0)) {
    case Outcome::kOk: return out;
    case Outcome::kInvalid: return "{}";
    case Outcome::kUnsupported: break;
  }
  return internal::PgJson(events::ToJson(m));
}

}  // namespace jobsched::projections
