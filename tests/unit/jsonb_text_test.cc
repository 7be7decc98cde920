// JsonbText against events::ToJson: the same JSON value for every event type,
// with every field filled at random (edge values included), compared after
// canonicalisation the way jsonb stores a value (keys sorted, escapes decoded,
// number text kept as written).
#include <cmath>
#include <cstdint>
#include <limits>
#include <map>
#include <random>
#include <stdexcept>
#include <string>
#include <vector>

#include <google/protobuf/descriptor.h>
#include <google/protobuf/stubs/logging.h>
#include <gtest/gtest.h>

#include "events/envelope.h"
#include "projections/jsonb_text.h"
#include "projections/pg_internal.h"
#include "tests/unit/fold_test_util.h"

namespace jobsched::projections {
namespace {

using google::protobuf::Descriptor;
using google::protobuf::FieldDescriptor;
using google::protobuf::Message;
using google::protobuf::Reflection;

// ---------------------------------------------------------------------------
// A JSON value in canonical text: object keys sorted, strings decoded and
// re-encoded one way, numbers and literals exactly as written. Two texts
// with equal canonical forms are one jsonb value; different number texts
// ("1" and "1.0") stay different, as they do in jsonb.
class Canonical {
 public:
  static std::string Of(const std::string& text) {
    Canonical c(text);
    std::string out = c.Value();
    c.Space();
    if (c.pos_ != text.size()) throw std::runtime_error("trailing text in " + text);
    return out;
  }

 private:
  explicit Canonical(const std::string& s) : s_(s) {}

  void Space() {
    while (pos_ < s_.size() && (s_[pos_] == ' ' || s_[pos_] == '\n' || s_[pos_] == '\t' ||
                                s_[pos_] == '\r')) {
      ++pos_;
    }
  }
  char Peek() {
    Space();
    if (pos_ >= s_.size()) throw std::runtime_error("unexpected end of " + s_);
    return s_[pos_];
  }
  void Expect(char c) {
    if (Peek() != c) throw std::runtime_error(std::string("expected ") + c + " in " + s_);
    ++pos_;
  }

  std::string Value() {
    switch (Peek()) {
      case '{': return Object();
      case '[': return Array();
      case '"': return "s:" + Quote(String());
      default: {
        size_t begin = pos_;
        while (pos_ < s_.size() && std::string_view(",]} \n\t\r").find(s_[pos_]) ==
                                       std::string_view::npos) {
          ++pos_;
        }
        return "n:" + s_.substr(begin, pos_ - begin);
      }
    }
  }

  std::string Object() {
    Expect('{');
    std::map<std::string, std::string> members;
    if (Peek() != '}') {
      while (true) {
        std::string key = String();
        Expect(':');
        members[key] = Value();
        if (Peek() == ',') {
          ++pos_;
          continue;
        }
        break;
      }
    }
    Expect('}');
    std::string out = "{";
    for (const auto& [k, v] : members) out += Quote(k) + ":" + v + ",";
    return out + "}";
  }

  std::string Array() {
    Expect('[');
    std::string out = "[";
    if (Peek() != ']') {
      while (true) {
        out += Value() + ",";
        if (Peek() == ',') {
          ++pos_;
          continue;
        }
        break;
      }
    }
    Expect(']');
    return out + "]";
  }

  // The decoded string as UTF-8.
  std::string String() {
    Expect('"');
    std::string out;
    while (true) {
      if (pos_ >= s_.size()) throw std::runtime_error("unterminated string in " + s_);
      char c = s_[pos_++];
      if (c == '"') return out;
      if (c != '\\') {
        out.push_back(c);
        continue;
      }
      char e = s_[pos_++];
      switch (e) {
        case 'n': out.push_back('\n'); break;
        case 'r': out.push_back('\r'); break;
        case 't': out.push_back('\t'); break;
        case 'b': out.push_back('\b'); break;
        case 'f': out.push_back('\f'); break;
        case 'u': {
          uint32_t cp = std::stoul(s_.substr(pos_, 4), nullptr, 16);
          pos_ += 4;
          if (cp >= 0xD800 && cp < 0xDC00 && s_.compare(pos_, 2, "\\u") == 0) {
            uint32_t low = std::stoul(s_.substr(pos_ + 2, 4), nullptr, 16);
            pos_ += 6;
            cp = 0x10000 + ((cp - 0xD800) << 10) + (low - 0xDC00);
          }
          AppendUtf8(cp, out);
          break;
        }
        default: out.push_back(e);  // \" \\ \/
      }
    }
  }

  static void AppendUtf8(uint32_t cp, std::string& out) {
    if (cp < 0x80) {
      out.push_back(static_cast<char>(cp));
    } else if (cp < 0x800) {
      out.push_back(static_cast<char>(0xC0 | (cp >> 6)));
      out.push_back(static_cast<char>(0x80 | (cp & 0x3F)));
    } else if (cp < 0x10000) {
      out.push_back(static_cast<char>(0xE0 | (cp >> 12)));
      out.push_back(static_cast<char>(0x80 | ((cp >> 6) & 0x3F)));
      out.push_back(static_cast<char>(0x80 | (cp & 0x3F)));
    } else {
      out.push_back(static_cast<char>(0xF0 | (cp >> 18)));
      out.push_back(static_cast<char>(0x80 | ((cp >> 12) & 0x3F)));
      out.push_back(static_cast<char>(0x80 | ((cp >> 6) & 0x3F)));
      out.push_back(static_cast<char>(0x80 | (cp & 0x3F)));
    }
  }

  // One unambiguous spelling: every byte below 0x20, '"' and '\' as \xNN.
  static std::string Quote(const std::string& s) {
    std::string out = "\"";
    for (unsigned char c : s) {
      if (c < 0x20 || c == '"' || c == '\\') {
        char buf[8];
        std::snprintf(buf, sizeof buf, "\\x%02x", c);
        out += buf;
      } else {
        out.push_back(static_cast<char>(c));
      }
    }
    return out + "\"";
  }

  const std::string& s_;
  size_t pos_ = 0;
};

// ---------------------------------------------------------------------------
// Fills a message's fields at random, edge values favoured, through
// reflection: every event type of the Envelope's oneof in turn.
class Filler {
 public:
  explicit Filler(uint32_t seed) : rng_(seed) {}

  bool Coin(int percent) { return std::uniform_int_distribution<int>(0, 99)(rng_) < percent; }
  template <typename T>
  T Pick(const std::vector<T>& v) {
    return v[std::uniform_int_distribution<size_t>(0, v.size() - 1)(rng_)];
  }

  std::string Text() {
    static const std::vector<std::string> kTexts = {
        "",
        "plain",
        "with \"quotes\" and \\backslashes\\",
        "control \x01 \x1f \n\r\t\b\f chars",
        std::string("NUL \0 inside", 12),
        "ünïcödé ✓ 🎉 \u2028 \u2029 \xc2\xad",
        "<script>&'</script>",
        "/slash/",
        "00000000-0000-4000-8000-000000000001"};
    return Pick(kTexts);
  }

  void FillTimestamp(Message& m) {
    const Descriptor* d = m.GetDescriptor();
    const Reflection* r = m.GetReflection();
    // Mostly valid instants; now and then one out of Protobuf's JSON range.
    int64_t seconds = Pick<int64_t>({0, 1, -1, 1'800'000'000, -62135596800, 253402300799,
                                     1'234'567'890, -86'400 * 365});
    if (Coin(3)) seconds = Pick<int64_t>({-62135596801, 253402300800});
    int32_t nanos = Pick<int32_t>({0, 0, 1'000'000, 123'000'000, 5'000, 123'456'000, 1,
                                   999'999'999});
    if (Coin(2)) nanos = -1;
    r->SetInt64(&m, d->FindFieldByNumber(1), seconds);
    r->SetInt32(&m, d->FindFieldByNumber(2), nanos);
  }

  void Fill(Message& m, int depth) {
    const Descriptor* d = m.GetDescriptor();
    if (d->full_name() == "google.protobuf.Timestamp") return FillTimestamp(m);
    const Reflection* r = m.GetReflection();
    for (int i = 0; i < d->field_count(); ++i) {
      const FieldDescriptor* f = d->field(i);
      if (f->real_containing_oneof() != nullptr) continue;  // below
      if (!Coin(65)) continue;
      if (f->is_repeated()) {
        int n = std::uniform_int_distribution<int>(0, 3)(rng_);
        for (int k = 0; k < n; ++k) Add(m, r, f, depth);
      } else {
        Set(m, r, f, depth);
      }
    }
    for (int i = 0; i < d->real_oneof_decl_count(); ++i) {
      const auto* oneof = d->oneof_decl(i);
      if (!Coin(85)) continue;
      const FieldDescriptor* f =
          oneof->field(std::uniform_int_distribution<int>(0, oneof->field_count() - 1)(rng_));
      Set(m, r, f, depth);
    }
  }

  void Set(Message& m, const Reflection* r, const FieldDescriptor* f, int depth) {
    switch (f->cpp_type()) {
      case FieldDescriptor::CPPTYPE_INT32: r->SetInt32(&m, f, Int32()); break;
      case FieldDescriptor::CPPTYPE_UINT32:
        r->SetUInt32(&m, f, static_cast<uint32_t>(Int64()));
        break;
      case FieldDescriptor::CPPTYPE_INT64: r->SetInt64(&m, f, Int64()); break;
      case FieldDescriptor::CPPTYPE_UINT64:
        r->SetUInt64(&m, f, static_cast<uint64_t>(Int64()));
        break;
      case FieldDescriptor::CPPTYPE_DOUBLE: r->SetDouble(&m, f, Double()); break;
      case FieldDescriptor::CPPTYPE_FLOAT: r->SetFloat(&m, f, static_cast<float>(Double())); break;
      case FieldDescriptor::CPPTYPE_BOOL: r->SetBool(&m, f, Coin(50)); break;
      case FieldDescriptor::CPPTYPE_ENUM: r->SetEnumValue(&m, f, Enum(f)); break;
      case FieldDescriptor::CPPTYPE_STRING:
        r->SetString(&m, f, f->type() == FieldDescriptor::TYPE_BYTES ? Bytes() : Text());
        break;
      case FieldDescriptor::CPPTYPE_MESSAGE: {
        Message* sub = r->MutableMessage(&m, f);
        if (depth < 5) Fill(*sub, depth + 1);
        break;
      }
    }
  }

  void Add(Message& m, const Reflection* r, const FieldDescriptor* f, int depth) {
    switch (f->cpp_type()) {
      case FieldDescriptor::CPPTYPE_INT32: r->AddInt32(&m, f, Int32()); break;
      case FieldDescriptor::CPPTYPE_UINT32:
        r->AddUInt32(&m, f, static_cast<uint32_t>(Int64()));
        break;
      case FieldDescriptor::CPPTYPE_INT64: r->AddInt64(&m, f, Int64()); break;
      case FieldDescriptor::CPPTYPE_UINT64:
        r->AddUInt64(&m, f, static_cast<uint64_t>(Int64()));
        break;
      case FieldDescriptor::CPPTYPE_DOUBLE: r->AddDouble(&m, f, Double()); break;
      case FieldDescriptor::CPPTYPE_FLOAT: r->AddFloat(&m, f, static_cast<float>(Double())); break;
      case FieldDescriptor::CPPTYPE_BOOL: r->AddBool(&m, f, Coin(50)); break;
      case FieldDescriptor::CPPTYPE_ENUM: r->AddEnumValue(&m, f, Enum(f)); break;
      case FieldDescriptor::CPPTYPE_STRING:
        r->AddString(&m, f, f->type() == FieldDescriptor::TYPE_BYTES ? Bytes() : Text());
        break;
      case FieldDescriptor::CPPTYPE_MESSAGE: {
        Message* sub = r->AddMessage(&m, f);  // a map entry too: key and value at random
        if (depth < 5) Fill(*sub, depth + 1);
        break;
      }
    }
  }

  int32_t Int32() {
    return Pick<int32_t>({0, 1, -1, 42, std::numeric_limits<int32_t>::max(),
                          std::numeric_limits<int32_t>::min(),
                          std::uniform_int_distribution<int32_t>()(rng_)});
  }
  int64_t Int64() {
    return Pick<int64_t>({0, 1, -1, 1'800'000'000'000, std::numeric_limits<int64_t>::max(),
                          std::numeric_limits<int64_t>::min(),
                          std::uniform_int_distribution<int64_t>()(rng_)});
  }
  double Double() {
    return Pick<double>({0.0, -0.0, 1.0, 4.0, 0.5, 0.1, 1.5, 8192, 1e300, -1e-300, 5e-324,
                         123456.789, 1.0 / 3, 2e15, 9e15, 1e21,
                         std::numeric_limits<double>::quiet_NaN(),
                         std::numeric_limits<double>::infinity(),
                         -std::numeric_limits<double>::infinity(),
                         std::uniform_real_distribution<double>(-1e6, 1e6)(rng_)});
  }
  int Enum(const FieldDescriptor* f) {
    const auto* e = f->enum_type();
    if (Coin(10)) return 977;  // a value newer than this schema
    return e->value(std::uniform_int_distribution<int>(0, e->value_count() - 1)(rng_))->number();
  }
  std::string Bytes() {
    std::string out(std::uniform_int_distribution<size_t>(0, 7)(rng_), '\0');
    for (char& c : out) c = static_cast<char>(std::uniform_int_distribution<int>(0, 255)(rng_));
    return out;
  }

 private:
  std::mt19937 rng_;
};

std::string Expected(const Message& m) { return internal::PgJson(events::ToJson(m)); }

TEST(JsonbTextTest, SameValueAsToJsonForEveryEventTypeWithRandomFields) {
  const Descriptor* envelope = events::Envelope::descriptor();
  const auto* oneof = envelope->FindOneofByName("event");
  ASSERT_NE(oneof, nullptr);
  google::protobuf::LogSilencer quiet;  // ToJson warns about each out-of-range timestamp
  Filler filler(20261128);
  int compared = 0, invalid = 0;
  for (int round = 0; round < 40; ++round) {
    for (int i = 0; i < oneof->field_count(); ++i) {
      events::Envelope e;
      filler.Fill(e, 0);
      // This event type, whatever the filler chose for the oneof.
      filler.Set(e, e.GetReflection(), oneof->field(i), 0);
      const std::string expected = Expected(e);
      const std::string actual = JsonbText(e);
      SCOPED_TRACE(oneof->field(i)->name() + ": " + e.ShortDebugString());
      ASSERT_EQ(Canonical::Of(actual), Canonical::Of(expected))
          << "JsonbText: " << actual << "\nToJson:    " << expected;
      ++compared;
      if (expected == "{}") ++invalid;
    }
  }
  // The run covered out-of-range timestamps (the whole text "{}") and valid events.
  EXPECT_GT(invalid, 0);
  EXPECT_LT(invalid, compared / 2);
}

TEST(JsonbTextTest, RealEventsPinned) {
  jobsched::testing::EventFactory f;
  events::Envelope submitted = f.Submitted(jobsched::testing::T(0));
  auto* spec = submitted.mutable_job_submitted()->mutable_spec();
  spec->set_payload_json("{\"a\":1}");
  (*spec->mutable_resources())["cpu"] = 4;
  (*spec->mutable_resources())["memory_mb"] = 0.5;
  EXPECT_EQ(Canonical::Of(JsonbText(submitted)), Canonical::Of(Expected(submitted)));
  // Proto field names, int64 quoted, timestamps in RFC 3339, NUL as U+FFFD.
  events::Envelope succeeded = f.Succeeded(jobsched::testing::T(1), f.RunId(1), 3);
  succeeded.mutable_run_succeeded()->set_output(std::string("a\0b", 3));
  EXPECT_EQ(Canonical::Of(JsonbText(succeeded)), Canonical::Of(Expected(succeeded)));
  const std::string text = JsonbText(succeeded);
  EXPECT_NE(text.find("\"lease_epoch\":\"3\""), std::string::npos) << text;
  EXPECT_NE(text.find("\"occurred_at\":\"2027-01-15T08:00:01Z\""), std::string::npos) << text;
  EXPECT_NE(text.find("\"output\":\"a\\ufffdb\""), std::string::npos) << text;
  EXPECT_NE(text.find("\"duration_ms\":\"12\""), std::string::npos) << text;
  EXPECT_NE(text.find("\"http_status\":200"), std::string::npos) << text;
}

TEST(JsonbTextTest, AnEmptyEnvelopeIsAnEmptyObject) {
  EXPECT_EQ(JsonbText(events::Envelope()), "{}");
}

}  // namespace
}  // namespace jobsched::projections
