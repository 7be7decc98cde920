#include "services/api/job_spec.h"

#include <algorithm>
#include <array>
#include <cctype>
#include <optional>
#include <span>
#include <string_view>

#include "services/api/schedule_spec.h"
#include "services/api/workflow_spec.h"

namespace jobsched::api {
namespace {

using nlohmann::json;

constexpr std::array<std::string_view, 24> kTopLevelFields = {"name",
                                                              "type",
                                                              "http",
                                                              "payload",
                                                              "run_at",
                                                              "priority",
                                                              "max_retries",
                                                              "retry_policy",
                                                              "timeout_seconds",
                                                              "resources",
                                                              "pool",
                                                              "execution_type",
                                                              "idempotency_key",
                                                              "schedule",
                                                              "timezone",
                                                              "dst_gap",
                                                              "dst_overlap",
                                                              "start_at",
                                                              "end_at",
                                                              "max_runs",
                                                              "concurrency_policy",
                                                              "misfire_policy",
                                                              "depends_on",
                                                              "workflow"};
// The fields that configure a recurring job besides `schedule` itself.
constexpr std::array<std::string_view, 8> kScheduleOnlyFields = {
    "timezone", "dst_gap",  "dst_overlap",        "start_at",
    "end_at",   "max_runs", "concurrency_policy", "misfire_policy"};
constexpr std::array<std::string_view, 4> kHttpFields = {"url", "method", "headers", "body"};
constexpr std::array<std::string_view, 3> kRetryPolicyFields = {"strategy", "base_delay_ms",
                                                                "max_delay_ms"};
constexpr std::array<std::string_view, 6> kHttpMethods = {"GET",   "POST",   "PUT",
                                                          "PATCH", "DELETE", "HEAD"};

// Returns early from the enclosing function with the error, if any.
#define RETURN_IF_ERROR(expr)                              \
  do {                                                     \
    if (std::optional<FieldError> e_ = (expr)) return *e_; \
  } while (0)

FieldError Invalid(std::string field, std::string message) {
  return {"invalid_field", std::move(message), std::move(field)};
}

FieldError Missing(std::string field, std::string message) {
  return {"missing_field", std::move(message), std::move(field)};
}

std::string Join(const auto& names) {
  std::string out;
  for (std::string_view n : names) {
    if (!out.empty()) out += ", ";
    out += n;
  }
  return out;
}

std::string Quote(std::string_view s) { return DescribeValue(json(std::string(s))); }

// Levenshtein distance, for "did you mean" hints on short field names.
size_t EditDistance(std::string_view a, std::string_view b) {
  std::vector<size_t> row(b.size() + 1);
  for (size_t j = 0; j <= b.size(); ++j) row[j] = j;
  for (size_t i = 1; i <= a.size(); ++i) {
    size_t diag = row[0];
    row[0] = i;
    for (size_t j = 1; j <= b.size(); ++j) {
      size_t up = row[j];
      row[j] = std::min({row[j] + 1, row[j - 1] + 1, diag + (a[i - 1] == b[j - 1] ? 0 : 1)});
      diag = up;
    }
  }
  return row[b.size()];
}

// The member `key` of object `obj`, or nullptr when absent or null: an explicit
// null means "use the default" for every optional field.
const json* Member(const json& obj, std::string_view key) {
  auto it = obj.find(key);
  if (it == obj.end() || it->is_null()) return nullptr;
  return &*it;
}

}  // namespace

std::optional<FieldError> CheckKnownFields(const nlohmann::json& obj,
                                           std::span<const std::string_view> allowed,
                                           const std::string& prefix) {
  for (const auto& [key, value] : obj.items()) {
    if (std::find(allowed.begin(), allowed.end(), key) != allowed.end()) continue;
    std::string message = "is not a known field";
    std::string_view hint;
    for (std::string_view candidate : allowed) {
      bool prefix = key.size() >= 3 &&
                    (candidate.starts_with(key) || std::string_view(key).starts_with(candidate));
      if (prefix || EditDistance(key, candidate) <= 2) {
        hint = candidate;
        break;
      }
    }
    message += hint.empty() ? "." : "; did you mean \"" + std::string(hint) + "\"?";
    message += " Allowed fields: " + Join(allowed) + ".";
    return FieldError{"unknown_field", message, prefix + key};
  }
  return std::nullopt;
}

namespace {

size_t Utf8Length(std::string_view s) {
  return static_cast<size_t>(std::count_if(
      s.begin(), s.end(), [](char c) { return (static_cast<unsigned char>(c) & 0xC0) != 0x80; }));
}

std::optional<FieldError> ReadString(const json& v, const std::string& field, std::string* out) {
  if (!v.is_string()) return Invalid(field, "must be a string, got " + DescribeValue(v));
  *out = v.get<std::string>();
  return std::nullopt;
}

std::optional<FieldError> ReadInt(const json& v, const std::string& field, int64_t min, int64_t max,
                                  int64_t* out, std::string_view note = "") {
  auto fail = [&] {
    std::string m = "must be an integer from " + std::to_string(min) + " to " + std::to_string(max);
    if (!note.empty()) m += " (" + std::string(note) + ")";
    return Invalid(field, m + ", got " + DescribeValue(v));
  };
  if (v.is_number_unsigned()) {
    auto u = v.get<uint64_t>();
    if (u > static_cast<uint64_t>(max) || (min > 0 && u < static_cast<uint64_t>(min)))
      return fail();
    *out = static_cast<int64_t>(u);
    return std::nullopt;
  }
  if (v.is_number_integer()) {
    auto i = v.get<int64_t>();
    if (i < min || i > max) return fail();
    *out = i;
    return std::nullopt;
  }
  return fail();
}

// Reads an optional integer field with a default.
std::optional<FieldError> OptionalInt(const json& obj, std::string_view key,
                                      const std::string& field, int64_t min, int64_t max,
                                      int64_t fallback, int64_t* out) {
  const json* v = Member(obj, key);
  if (v == nullptr) {
    *out = fallback;
    return std::nullopt;
  }
  return ReadInt(*v, field, min, max, out);
}

// Reads an RFC 3339 date-time.
std::optional<FieldError> ReadTime(const json& v, const std::string& field, TimePoint* out) {
  std::optional<TimePoint> t;
  if (v.is_string()) t = ParseRfc3339(v.get_ref<const std::string&>());
  if (!t) {
    return Invalid(field, "must be an RFC 3339 date-time such as \"2030-01-02T15:04:05Z\", got " +
                              DescribeValue(v));
  }
  *out = *t;
  return std::nullopt;
}

// Reads one of the names `parse` accepts (an enum of the schedule).
template <typename Enum>
std::optional<FieldError> ReadChoice(const json& v, const std::string& field,
                                     std::optional<Enum> (*parse)(std::string_view),
                                     std::string_view choices, Enum* out) {
  std::optional<Enum> parsed;
  if (v.is_string()) parsed = parse(v.get_ref<const std::string&>());
  if (!parsed) {
    return Invalid(field, "must be one of " + std::string(choices) + ", got " + DescribeValue(v));
  }
  *out = *parsed;
  return std::nullopt;
}

// Why `url` is not an absolute http(s) URL with a host, or nullopt if it is.
std::optional<std::string> UrlProblem(std::string_view url) {
  if (url.size() > kMaxUrlBytes) {
    return "must be at most " + std::to_string(kMaxUrlBytes) + " bytes, got " +
           std::to_string(url.size());
  }
  for (unsigned char c : url) {
    if (c <= 0x20 || c == 0x7f) return "must not contain spaces or control characters";
  }
  auto sep = url.find("://");
  std::string scheme(url.substr(0, sep == std::string_view::npos ? 0 : sep));
  std::transform(scheme.begin(), scheme.end(), scheme.begin(),
                 [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  if (sep == std::string_view::npos || (scheme != "http" && scheme != "https")) {
    return "must be an absolute URL with the http or https scheme, got " + Quote(url);
  }
  std::string_view authority = url.substr(sep + 3);
  authority = authority.substr(0, authority.find_first_of("/?#"));
  if (auto at = authority.rfind('@'); at != std::string_view::npos) {
    authority = authority.substr(at + 1);
  }
  std::string_view host = authority;
  std::optional<std::string_view> port;
  if (!authority.empty() && authority.front() == '[') {  // IPv6 literal
    auto close = authority.find(']');
    if (close == std::string_view::npos) return "has an unterminated IPv6 address: " + Quote(url);
    host = authority.substr(1, close - 1);
    std::string_view rest = authority.substr(close + 1);
    if (!rest.empty()) {
      if (rest.front() != ':') return "has unexpected text after the IPv6 address: " + Quote(url);
      port = rest.substr(1);
    }
  } else if (auto colon = authority.find(':'); colon != std::string_view::npos) {
    host = authority.substr(0, colon);
    port = authority.substr(colon + 1);
  }
  if (host.empty()) return "must include a host, got " + Quote(url);
  if (port) {
    bool digits = !port->empty() && port->size() <= 5 &&
                  std::all_of(port->begin(), port->end(),
                              [](unsigned char c) { return std::isdigit(c) != 0; });
    int number = digits ? std::stoi(std::string(*port)) : 0;
    if (number < 1 || number > 65535) return "has an invalid port (1 to 65535): " + Quote(url);
  }
  return std::nullopt;
}

bool IsTokenChar(unsigned char c) {
  return std::isalnum(c) ||
         std::string_view("!#$%&'*+-.^_`|~").find(static_cast<char>(c)) != std::string_view::npos;
}

std::optional<FieldError> ParseHttp(const json& http, v1::HttpRequestSpec* out) {
  if (!http.is_object()) {
    return Invalid("http",
                   "must be an object such as {\"url\": \"https://example.com/hook\"}, got " +
                       DescribeValue(http));
  }
  RETURN_IF_ERROR(CheckKnownFields(http, kHttpFields, "http."));

  const json* url = Member(http, "url");
  if (url == nullptr) return Missing("http.url", "is required for type \"http\": the URL to call");
  std::string url_text;
  RETURN_IF_ERROR(ReadString(*url, "http.url", &url_text));
  if (auto problem = UrlProblem(url_text)) return Invalid("http.url", *problem);
  out->set_url(url_text);

  std::string method = "POST";
  if (const json* m = Member(http, "method")) {
    RETURN_IF_ERROR(ReadString(*m, "http.method", &method));
    std::transform(method.begin(), method.end(), method.begin(),
                   [](unsigned char c) { return static_cast<char>(std::toupper(c)); });
    if (std::find(kHttpMethods.begin(), kHttpMethods.end(), method) == kHttpMethods.end()) {
      return Invalid("http.method",
                     "must be one of " + Join(kHttpMethods) + ", got " + DescribeValue(*m));
    }
  }
  out->set_method(method);

  if (const json* headers = Member(http, "headers")) {
    if (!headers->is_object()) {
      return Invalid("http.headers", "must be an object of header names to string values, got " +
                                         DescribeValue(*headers));
    }
    for (const auto& [name, value] : headers->items()) {
      std::string field = "http.headers." + name;
      if (name.empty() || !std::all_of(name.begin(), name.end(), [](char c) {
            return IsTokenChar(static_cast<unsigned char>(c));
          })) {
        return Invalid(field,
                       "is not a valid HTTP header name (letters, digits and !#$%&'*+-.^_`|~)");
      }
      if (!value.is_string())
        return Invalid(field, "must be a string, got " + DescribeValue(value));
      const auto& text = value.get_ref<const std::string&>();
      if (text.find_first_of(std::string_view("\r\n\0", 3)) != std::string::npos) {
        return Invalid(field, "must not contain CR, LF or NUL characters");
      }
      (*out->mutable_headers())[name] = text;
    }
  }

  if (const json* body = Member(http, "body")) {
    std::string text;
    RETURN_IF_ERROR(ReadString(*body, "http.body", &text));
    out->set_body(std::move(text));
  }
  return std::nullopt;
}

std::optional<FieldError> ParseRetryPolicy(const json* policy, v1::RetryPolicy* out) {
  static const json kEmpty = json::object();
  const json& p = policy == nullptr ? kEmpty : *policy;
  if (!p.is_object()) {
    return Invalid(
        "retry_policy",
        "must be an object such as {\"strategy\": \"exponential\", \"base_delay_ms\": 1000}, got " +
            DescribeValue(p));
  }
  RETURN_IF_ERROR(CheckKnownFields(p, kRetryPolicyFields, "retry_policy."));

  v1::RetryStrategy strategy = v1::RETRY_STRATEGY_EXPONENTIAL;
  if (const json* s = Member(p, "strategy")) {
    std::string name;
    if (s->is_string()) name = s->get<std::string>();
    if (name == "fixed") {
      strategy = v1::RETRY_STRATEGY_FIXED;
    } else if (name == "exponential") {
      strategy = v1::RETRY_STRATEGY_EXPONENTIAL;
    } else if (name == "jitter") {
      strategy = v1::RETRY_STRATEGY_JITTER;
    } else {
      return Invalid("retry_policy.strategy",
                     "must be one of fixed, exponential, jitter, got " + DescribeValue(*s));
    }
  }
  int64_t base = 0;
  RETURN_IF_ERROR(
      OptionalInt(p, "base_delay_ms", "retry_policy.base_delay_ms", 1, 3'600'000, 1000, &base));
  int64_t max_delay = std::max<int64_t>(60'000, base);
  if (const json* m = Member(p, "max_delay_ms")) {
    RETURN_IF_ERROR(ReadInt(*m, "retry_policy.max_delay_ms", base, kMaxDelayMs, &max_delay,
                            "at least base_delay_ms"));
  }
  out->set_strategy(strategy);
  out->set_base_delay_ms(base);
  out->set_max_delay_ms(max_delay);
  return std::nullopt;
}

std::optional<FieldError> ParsePayload(const json* payload, v1::JobType type, v1::JobSpec* spec) {
  if (type == v1::JOB_TYPE_SLEEP) {
    if (payload == nullptr) {
      return Missing("payload.ms", "is required for type \"sleep\": milliseconds to sleep, 0 to " +
                                       std::to_string(kMaxSleepMs) + ", e.g. {\"ms\": 1000}");
    }
    if (!payload->is_object()) {
      return Invalid("payload",
                     "must be an object such as {\"ms\": 1000} for type \"sleep\", got " +
                         DescribeValue(*payload));
    }
    const json* ms = Member(*payload, "ms");
    if (ms == nullptr) {
      return Missing("payload.ms", "is required for type \"sleep\": milliseconds to sleep, 0 to " +
                                       std::to_string(kMaxSleepMs));
    }
    int64_t unused = 0;
    RETURN_IF_ERROR(ReadInt(*ms, "payload.ms", 0, kMaxSleepMs, &unused));
  }
  if (payload == nullptr) return std::nullopt;
  // Replace, not throw, on invalid UTF-8 (possible only for programmatic JSON:
  // the parser rejects it).
  std::string text = payload->dump(-1, ' ', false, json::error_handler_t::replace);
  if (text.size() > kMaxPayloadBytes) {
    return FieldError{"payload_too_large",
                      "must be at most " + std::to_string(kMaxPayloadBytes) +
                          " bytes as serialized JSON, got " + std::to_string(text.size()) +
                          " bytes",
                      "payload"};
  }
  spec->set_payload_json(std::move(text));
  return std::nullopt;
}

bool IsResourceName(std::string_view name) {
  if (name.empty() || name.size() > kMaxResourceNameChars) return false;
  if (name[0] < 'a' || name[0] > 'z') return false;
  return std::all_of(name.begin(), name.end(), [](char c) {
    return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_';
  });
}

bool IsPoolName(std::string_view name) {
  auto lower_or_digit = [](char c) { return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9'); };
  if (name.empty() || name.size() > kMaxPoolChars || !lower_or_digit(name[0])) return false;
  return std::all_of(name.begin(), name.end(), [&](char c) {
    return lower_or_digit(c) || c == '_' || c == '.' || c == '-';
  });
}

// What one run needs of an executor: {"cpu": 2, "memory_mb": 512, "gpu_units": 1}.
std::optional<FieldError> ParseResources(const json* resources, v1::JobSpec* spec) {
  if (resources == nullptr) return std::nullopt;
  if (!resources->is_object()) {
    return Invalid("resources",
                   "must be an object of resource names to non-negative numbers such as "
                   "{\"cpu\": 2, \"memory_mb\": 512, \"gpu_units\": 1}, got " +
                       DescribeValue(*resources));
  }
  if (resources->size() > kMaxResources) {
    return Invalid("resources", "must name at most " + std::to_string(kMaxResources) +
                                    " resources, got " + std::to_string(resources->size()));
  }
  for (const auto& [name, value] : resources->items()) {
    const std::string field = "resources." + name;
    if (!IsResourceName(name)) {
      return Invalid(field, "is not a valid resource name: 1 to " +
                                std::to_string(kMaxResourceNameChars) +
                                " lower-case letters, digits and '_', starting with a letter "
                                "(e.g. \"cpu\", \"memory_mb\", \"gpu_units\")");
    }
    // JSON has no NaN or infinity, so a number here is finite.
    if (!value.is_number() || value.get<double>() < 0) {
      return Invalid(field, "must be a non-negative number, got " + DescribeValue(value));
    }
    (*spec->mutable_resources())[name] = value.get<double>();
  }
  return std::nullopt;
}

std::optional<FieldError> ParsePool(const json* pool, v1::JobSpec* spec) {
  std::string name(kDefaultPool);
  if (pool != nullptr) {
    RETURN_IF_ERROR(ReadString(*pool, "pool", &name));
    if (!IsPoolName(name)) {
      return Invalid("pool", "must be 1 to " + std::to_string(kMaxPoolChars) +
                                 " lower-case letters, digits, '_', '.' and '-', starting with a "
                                 "letter or digit (e.g. \"default\", \"gpu\"), got " +
                                 DescribeValue(*pool));
    }
  }
  spec->set_pool(std::move(name));
  return std::nullopt;
}

std::optional<FieldError> ParseExecutionType(const json* type, v1::JobSpec* spec) {
  v1::ExecutionType parsed = v1::EXECUTION_TYPE_AT_LEAST_ONCE;
  if (type != nullptr) {
    std::string name = type->is_string() ? type->get<std::string>() : "";
    if (name == ExecutionTypeName(v1::EXECUTION_TYPE_AT_MOST_ONCE)) {
      parsed = v1::EXECUTION_TYPE_AT_MOST_ONCE;
    } else if (name != ExecutionTypeName(v1::EXECUTION_TYPE_AT_LEAST_ONCE)) {
      return Invalid("execution_type",
                     "must be one of at_least_once (a run whose executor is lost runs again), "
                     "at_most_once (it fails instead), got " +
                         DescribeValue(*type));
    }
  }
  spec->set_execution_type(parsed);
  return std::nullopt;
}

// The schedule fields of a recurring job (see ParseJobSpec).
std::optional<FieldError> ParseSchedule(const json& body, TimePoint now,
                                        const SpecParseOptions& options, v1::JobSpec* spec) {
  const json* cron = Member(body, "schedule");
  if (cron == nullptr) {
    for (std::string_view field : kScheduleOnlyFields) {
      if (Member(body, field) != nullptr) {
        return Invalid(std::string(field),
                       "is only allowed with \"schedule\", which makes the job recurring");
      }
    }
    return std::nullopt;
  }
  v1::ScheduleSpec sched;
  std::string text;
  RETURN_IF_ERROR(ReadString(*cron, "schedule", &text));
  if (text.empty() || Utf8Length(text) > kMaxCronChars) {
    return Invalid("schedule", "must be a cron expression of 1 to " +
                                   std::to_string(kMaxCronChars) +
                                   " characters such as \"*/30 * * * * *\", \"0 9 * * MON-FRI\" "
                                   "or \"@every 90s\", got " +
                                   DescribeValue(*cron));
  }
  sched.set_cron(std::move(text));

  std::string zone = "UTC";
  if (const json* tz = Member(body, "timezone")) {
    RETURN_IF_ERROR(ReadString(*tz, "timezone", &zone));
    if (zone.empty()) {
      return Invalid("timezone",
                     "must be an IANA time zone name such as \"Europe/Paris\", got \"\"");
    }
  }
  sched.set_timezone(std::move(zone));

  if (const json* v = Member(body, "dst_gap")) {
    v1::DstGapPolicy gap = v1::DST_GAP_POLICY_UNSPECIFIED;
    RETURN_IF_ERROR(ReadChoice(*v, "dst_gap", &ParseDstGap, "auto, shift, skip", &gap));
    sched.set_dst_gap(gap);
  }
  if (const json* v = Member(body, "dst_overlap")) {
    v1::DstOverlapPolicy overlap = v1::DST_OVERLAP_POLICY_UNSPECIFIED;
    RETURN_IF_ERROR(ReadChoice(*v, "dst_overlap", &ParseDstOverlap, "auto, first, both", &overlap));
    sched.set_dst_overlap(overlap);
  }

  std::optional<TimePoint> start;
  if (const json* v = Member(body, "start_at")) {
    TimePoint t;
    RETURN_IF_ERROR(ReadTime(*v, "start_at", &t));
    start = t;
    *sched.mutable_start_at() = ToProto(t);
  }
  auto made = MakeSchedule(sched, start.value_or(now), "schedule");
  if (auto* error = std::get_if<FieldError>(&made)) return *error;

  if (const json* v = Member(body, "end_at")) {
    TimePoint end;
    RETURN_IF_ERROR(ReadTime(*v, "end_at", &end));
    if (start && end <= *start) {
      return Invalid("end_at", "must be after start_at (" + FormatRfc3339(*start) + "), got " +
                                   DescribeValue(*v));
    }
    if (options.check_end_at_future && end <= now) {
      return Invalid("end_at", "must be in the future (after " + FormatRfc3339(now) + "), got " +
                                   DescribeValue(*v));
    }
    *sched.mutable_end_at() = ToProto(end);
  }
  int64_t max_runs = 0;
  RETURN_IF_ERROR(OptionalInt(body, "max_runs", "max_runs", 1, kMaxRuns, 0, &max_runs));
  sched.set_max_runs(max_runs);

  v1::ConcurrencyPolicy concurrency = v1::CONCURRENCY_POLICY_FORBID;
  if (const json* v = Member(body, "concurrency_policy")) {
    RETURN_IF_ERROR(ReadChoice(*v, "concurrency_policy", &ParseConcurrencyPolicy,
                               "allow, forbid, replace", &concurrency));
  }
  sched.set_concurrency_policy(concurrency);
  v1::MisfirePolicy misfire = v1::MISFIRE_POLICY_FIRE_ONCE;
  if (const json* v = Member(body, "misfire_policy")) {
    RETURN_IF_ERROR(ReadChoice(*v, "misfire_policy", &ParseMisfirePolicy,
                               "fire_once, skip, fire_all", &misfire));
  }
  sched.set_misfire_policy(misfire);
  *spec->mutable_schedule() = std::move(sched);
  return std::nullopt;
}

std::variant<v1::JobSpec, FieldError> Parse(const json& body, TimePoint now,
                                            const SpecParseOptions& options) {
  if (!body.is_object()) {
    return FieldError{"invalid_json",
                      "the request body must be a JSON object describing the job, got " +
                          std::string(body.type_name()),
                      ""};
  }
  RETURN_IF_ERROR(CheckKnownFields(body, kTopLevelFields, ""));
  v1::JobSpec spec;

  // name (absent: derived once type and http are known)
  if (const json* name = Member(body, "name")) {
    std::string name_text;
    RETURN_IF_ERROR(ReadString(*name, "name", &name_text));
    size_t chars = Utf8Length(name_text);
    if (chars < 1 || chars > kMaxNameChars) {
      return Invalid("name", "must be 1 to " + std::to_string(kMaxNameChars) + " characters, got " +
                                 std::to_string(chars));
    }
    spec.set_name(std::move(name_text));
  }

  // type (absent: http when http is given)
  const json* type = Member(body, "type");
  static const json kHttpType = "http";
  if (type == nullptr && Member(body, "http") != nullptr) type = &kHttpType;
  if (type == nullptr) {
    return Missing("type",
                   "is required: one of http, echo, sleep, fail, workflow (http when "
                   "\"http\" is given)");
  }
  std::string type_name = type->is_string() ? type->get<std::string>() : "";
  v1::JobType job_type = v1::JOB_TYPE_UNSPECIFIED;
  for (auto t : {v1::JOB_TYPE_HTTP, v1::JOB_TYPE_ECHO, v1::JOB_TYPE_SLEEP, v1::JOB_TYPE_FAIL,
                 v1::JOB_TYPE_WORKFLOW}) {
    if (JobTypeName(t) == type_name) job_type = t;
  }
  if (job_type == v1::JOB_TYPE_UNSPECIFIED) {
    return Invalid("type",
                   "must be one of http, echo, sleep, fail, workflow, got " + DescribeValue(*type));
  }
  spec.set_type(job_type);

  // http
  const json* http = Member(body, "http");
  if (job_type == v1::JOB_TYPE_HTTP) {
    if (http == nullptr) {
      return Missing("http",
                     "is required for type \"http\", e.g. {\"url\": \"https://example.com/hook\"}");
    }
    RETURN_IF_ERROR(ParseHttp(*http, spec.mutable_http()));
  } else if (http != nullptr) {
    return Invalid("http", "is only allowed when type is \"http\", got type " + Quote(type_name));
  }
  // workflow: the template each fire of a trigger starts (workflow_spec.h).
  const json* workflow = Member(body, "workflow");
  if (job_type == v1::JOB_TYPE_WORKFLOW) {
    if (workflow == nullptr) {
      return Missing("workflow",
                     "is required for type \"workflow\": the workflow each fire starts, "
                     "{\"name\": \"etl\", \"jobs\": [{\"key\": \"extract\", ...}]}");
    }
    auto parsed = ParseWorkflow(*workflow, now, "workflow");
    if (auto* e = std::get_if<FieldError>(&parsed)) return std::move(*e);
    *spec.mutable_workflow() = std::move(std::get<v1::WorkflowSpec>(parsed));
    if (Member(body, "payload") != nullptr) {
      return Invalid("payload",
                     "is not used by type \"workflow\": give each job of the workflow its own");
    }
  } else if (workflow != nullptr) {
    return Invalid("workflow",
                   "is only allowed when type is \"workflow\", got type " + Quote(type_name));
  }
  if (spec.name().empty()) spec.set_name(DefaultJobName(spec));

  RETURN_IF_ERROR(ParsePayload(Member(body, "payload"), job_type, &spec));

  // run_at
  if (const json* run_at = Member(body, "run_at")) {
    if (Member(body, "schedule") != nullptr) {
      return Invalid("run_at",
                     "cannot be combined with \"schedule\"; use start_at to choose when a "
                     "recurring job starts");
    }
    TimePoint t;
    RETURN_IF_ERROR(ReadTime(*run_at, "run_at", &t));
    TimePoint latest = now + kMaxRunAtAhead;
    if (t > latest) {
      return Invalid("run_at", "must be at most one year ahead (no later than " +
                                   FormatRfc3339(latest) + "), got " + DescribeValue(*run_at));
    }
    *spec.mutable_run_at() = ToProto(std::max(t, now));
  }

  int64_t n = 0;
  RETURN_IF_ERROR(OptionalInt(body, "priority", "priority", 0, 10, 5, &n));
  spec.set_priority(static_cast<int32_t>(n));
  RETURN_IF_ERROR(OptionalInt(body, "max_retries", "max_retries", 0, kMaxRetries, 3, &n));
  spec.set_max_retries(static_cast<int32_t>(n));
  RETURN_IF_ERROR(ParseRetryPolicy(Member(body, "retry_policy"), spec.mutable_retry_policy()));
  RETURN_IF_ERROR(OptionalInt(body, "timeout_seconds", "timeout_seconds", 1, 86'400, 300, &n));
  spec.set_timeout_seconds(static_cast<int32_t>(n));
  RETURN_IF_ERROR(ParseResources(Member(body, "resources"), &spec));
  RETURN_IF_ERROR(ParsePool(Member(body, "pool"), &spec));
  RETURN_IF_ERROR(ParseExecutionType(Member(body, "execution_type"), &spec));

  if (const json* key = Member(body, "idempotency_key")) {
    std::string text;
    RETURN_IF_ERROR(ReadString(*key, "idempotency_key", &text));
    size_t key_chars = Utf8Length(text);
    if (key_chars < 1 || key_chars > kMaxIdempotencyKeyChars) {
      return Invalid("idempotency_key", "must be 1 to " + std::to_string(kMaxIdempotencyKeyChars) +
                                            " characters, got " + std::to_string(key_chars));
    }
    spec.set_idempotency_key(std::move(text));
  }
  RETURN_IF_ERROR(ParseDependsOn(Member(body, "depends_on"), &spec));
  RETURN_IF_ERROR(ParseSchedule(body, now, options, &spec));
  if (spec.has_schedule() && spec.depends_on_size() > 0) {
    return Invalid("depends_on",
                   "cannot be combined with \"schedule\": a recurring job would wait for its "
                   "parents only once; only one-off jobs can depend on other jobs");
  }
  return spec;
}

#undef RETURN_IF_ERROR

}  // namespace

std::variant<v1::JobSpec, FieldError> ParseJobSpec(const nlohmann::json& body, TimePoint now,
                                                   const SpecParseOptions& options) {
  return Parse(body, now, options);
}

std::string DefaultJobName(const v1::JobSpec& spec) {
  std::string name = JobTypeName(spec.type());
  if (spec.type() == v1::JOB_TYPE_WORKFLOW) name += " " + spec.workflow().name();
  if (spec.type() == v1::JOB_TYPE_HTTP) {
    name = (spec.http().method().empty() ? std::string("POST") : spec.http().method()) + " " +
           spec.http().url();
  }
  // Keep at most kMaxNameChars UTF-8 characters.
  size_t chars = 0;
  for (size_t i = 0; i < name.size(); ++i) {
    if ((static_cast<unsigned char>(name[i]) & 0xC0) == 0x80) continue;
    if (++chars > kMaxNameChars) return name.substr(0, i);
  }
  return name;
}

std::string JobTypeName(v1::JobType type) {
  switch (type) {
    case v1::JOB_TYPE_HTTP:
      return "http";
    case v1::JOB_TYPE_ECHO:
      return "echo";
    case v1::JOB_TYPE_SLEEP:
      return "sleep";
    case v1::JOB_TYPE_FAIL:
      return "fail";
    case v1::JOB_TYPE_WORKFLOW:
      return "workflow";
    default:
      return "";
  }
}

std::string ExecutionTypeName(v1::ExecutionType type) {
  return type == v1::EXECUTION_TYPE_AT_MOST_ONCE ? "at_most_once" : "at_least_once";
}

std::string_view PoolOf(const v1::JobSpec& spec) {
  return spec.pool().empty() ? kDefaultPool : std::string_view(spec.pool());
}

std::string RetryStrategyName(v1::RetryStrategy strategy) {
  switch (strategy) {
    case v1::RETRY_STRATEGY_FIXED:
      return "fixed";
    case v1::RETRY_STRATEGY_EXPONENTIAL:
      return "exponential";
    case v1::RETRY_STRATEGY_JITTER:
      return "jitter";
    default:
      return "";
  }
}

std::string DescribeValue(const nlohmann::json& value) {
  constexpr size_t kMax = 60;
  std::string text = value.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
  if (text.size() > kMax) {
    size_t cut = kMax;
    // Do not cut a UTF-8 sequence in half.
    while (cut > 0 && (static_cast<unsigned char>(text[cut]) & 0xC0) == 0x80) --cut;
    text = text.substr(0, cut) + "…";
  }
  return text;
}

}  // namespace jobsched::api
