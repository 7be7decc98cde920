#include "services/api/workflow_spec.h"

#include <algorithm>
#include <array>
#include <cctype>
#include <unordered_map>
#include <unordered_set>
#include <utility>
#include <vector>

#include "events/ids.h"
#include "services/api/job_update.h"

namespace jobsched::api {
namespace {

using nlohmann::json;

constexpr std::array<std::string_view, 2> kWorkflowFields = {"name", "jobs"};
// A workflow job: POST /jobs's fields without the schedule, the idempotency
// key and the trigger's `workflow`, plus its key and its parents' keys.
constexpr std::array<std::string_view, 14> kWorkflowJobFields = {
    "key",       "name",     "type",           "http",         "payload",
    "run_at",    "priority", "max_retries",    "retry_policy", "timeout_seconds",
    "resources", "pool",     "execution_type", "depends_on"};
// Fields of POST /jobs a workflow job cannot have, and why.
constexpr std::array<std::pair<std::string_view, std::string_view>, 11> kRefusedJobFields = {{
    {"schedule",
     "a workflow's jobs run once; to run the whole workflow on a schedule, submit a trigger: "
     "POST /api/v1/jobs with type \"workflow\", this workflow and the schedule"},
    {"timezone", "belongs to a schedule, and a workflow's jobs have none"},
    {"dst_gap", "belongs to a schedule, and a workflow's jobs have none"},
    {"dst_overlap", "belongs to a schedule, and a workflow's jobs have none"},
    {"start_at", "belongs to a schedule, and a workflow's jobs have none"},
    {"end_at", "belongs to a schedule, and a workflow's jobs have none"},
    {"max_runs", "belongs to a schedule, and a workflow's jobs have none"},
    {"concurrency_policy", "belongs to a schedule, and a workflow's jobs have none"},
    {"misfire_policy", "belongs to a schedule, and a workflow's jobs have none"},
    {"idempotency_key",
     "is not allowed on a workflow's jobs: send an Idempotency-Key header with the workflow, "
     "which makes its id and so every job id deterministic"},
    {"workflow", "is not allowed on a workflow's jobs: workflows do not nest"},
}};

std::string Prefixed(std::string_view path, std::string_view field) {
  if (path.empty()) return std::string(field);
  if (field.empty()) return std::string(path);
  return std::string(path) + "." + std::string(field);
}

std::string JobPath(std::string_view path, size_t i) {
  return Prefixed(path, "jobs[" + std::to_string(i) + "]");
}

std::string Quote(std::string_view s) { return DescribeValue(json(std::string(s))); }

FieldError Graph(std::string field, std::string message) {
  return {std::string(kInvalidWorkflow), std::move(message), std::move(field)};
}

FieldError Invalid(std::string field, std::string message) {
  return {"invalid_field", std::move(message), std::move(field)};
}

bool IsKey(std::string_view key) {
  if (key.empty() || key.size() > kMaxWorkflowKeyChars) return false;
  return std::all_of(key.begin(), key.end(), [](char c) {
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_' ||
           c == '.' || c == '-';
  });
}

std::string JoinQuoted(const std::vector<std::string>& names) {
  std::string out;
  for (const std::string& n : names) out += (out.empty() ? "" : ", ") + Quote(n);
  return out;
}

// One job of the workflow: its key, depends_on and job fields.
std::optional<FieldError> ParseWorkflowJob(const json& job, TimePoint now, const std::string& at,
                                           v1::WorkflowJob* out) {
  if (!job.is_object()) {
    return Invalid(at,
                   "must be an object such as {\"key\": \"extract\", \"type\": \"echo\"}, got " +
                       DescribeValue(job));
  }
  for (const auto& [field, why] : kRefusedJobFields) {
    if (job.contains(field)) return Invalid(Prefixed(at, field), std::string(why));
  }
  if (auto e = CheckKnownFields(job, kWorkflowJobFields, at + ".")) return e;

  auto key = job.find("key");
  if (key == job.end() || key->is_null()) {
    return FieldError{"missing_field",
                      "is required: the job's name within the workflow, which depends_on refers "
                      "to ([A-Za-z0-9_.-], 1 to " +
                          std::to_string(kMaxWorkflowKeyChars) + " characters)",
                      at + ".key"};
  }
  if (!key->is_string() || !IsKey(key->get_ref<const std::string&>())) {
    return Invalid(at + ".key", "must be 1 to " + std::to_string(kMaxWorkflowKeyChars) +
                                    " letters, digits, '_', '.' or '-', got " +
                                    DescribeValue(*key));
  }
  const std::string& key_text = key->get_ref<const std::string&>();
  out->set_key(key_text);

  if (auto deps = job.find("depends_on"); deps != job.end() && !deps->is_null()) {
    const std::string field = at + ".depends_on";
    if (!deps->is_array()) {
      return Invalid(
          field, "must be an array of keys of this workflow's jobs, got " + DescribeValue(*deps));
    }
    if (deps->size() > kMaxDependsOn) {
      return Graph(field, "job " + Quote(key_text) + " depends on " + std::to_string(deps->size()) +
                              " jobs; the limit is " + std::to_string(kMaxDependsOn));
    }
    for (const json& d : *deps) {
      if (!d.is_string()) {
        return Invalid(field,
                       "must list keys (strings) of this workflow's jobs, got " + DescribeValue(d));
      }
      out->add_depends_on(d.get<std::string>());
    }
  }

  json fields = job;
  fields.erase("key");
  fields.erase("depends_on");
  if (!fields.contains("name") || fields["name"].is_null()) fields["name"] = key_text;
  auto type = fields.find("type");
  if (type != fields.end() && type->is_string() && *type == "workflow") {
    return Invalid(at + ".type", "cannot be \"workflow\" in a workflow: workflows do not nest");
  }
  auto parsed = ParseJobSpec(fields, now);
  if (auto* e = std::get_if<FieldError>(&parsed)) {
    e->field = Prefixed(at, e->field);
    e->message = "job " + Quote(key_text) + ": " + e->message;
    return std::move(*e);
  }
  *out->mutable_spec() = std::move(std::get<v1::JobSpec>(parsed));
  return std::nullopt;
}

// The first cycle of the graph (edges parent -> child), as key indexes in
// edge order starting at the lowest index, or empty. Iterative depth-first
// search: white (0) / on the path (1) / done (2).
std::vector<int> FindCycle(const std::vector<std::vector<int>>& children) {
  const int n = static_cast<int>(children.size());
  std::vector<uint8_t> color(n, 0);
  std::vector<int> position(n, -1);          // on the path: its index in `path`
  std::vector<std::pair<int, size_t>> path;  // (node, next child to visit)
  for (int start = 0; start < n; ++start) {
    if (color[start] != 0) continue;
    path.push_back({start, 0});
    color[start] = 1;
    position[start] = 0;
    while (!path.empty()) {
      auto& [node, next] = path.back();
      if (next == children[node].size()) {
        color[node] = 2;
        path.pop_back();
        continue;
      }
      const int child = children[node][next++];
      if (color[child] == 0) {
        color[child] = 1;
        position[child] = static_cast<int>(path.size());
        path.push_back({child, 0});
      } else if (color[child] == 1) {
        std::vector<int> cycle;
        for (size_t i = static_cast<size_t>(position[child]); i < path.size(); ++i) {
          cycle.push_back(path[i].first);
        }
        std::rotate(cycle.begin(), std::min_element(cycle.begin(), cycle.end()), cycle.end());
        return cycle;
      }
    }
  }
  return {};
}

}  // namespace

std::variant<v1::WorkflowSpec, FieldError> ParseWorkflow(const json& body, TimePoint now,
                                                         std::string_view path) {
  const std::string at(path);
  if (!body.is_object()) {
    std::string message =
        "must be an object such as {\"name\": \"etl\", \"jobs\": [{\"key\": "
        "\"extract\", \"type\": \"echo\"}]}, got " +
        DescribeValue(body);
    if (path.empty()) {
      return FieldError{"invalid_json", "the request body " + message, ""};
    }
    return Invalid(at, message);
  }
  if (auto e = CheckKnownFields(body, kWorkflowFields, path.empty() ? "" : at + ".")) return *e;
  v1::WorkflowSpec spec;

  auto name = body.find("name");
  if (name == body.end() || name->is_null()) {
    return FieldError{"missing_field", "is required: the workflow's name", Prefixed(at, "name")};
  }
  size_t name_chars = 0;  // UTF-8 characters
  if (name->is_string()) {
    for (char c : name->get_ref<const std::string&>()) {
      name_chars += (static_cast<unsigned char>(c) & 0xC0) != 0x80 ? 1 : 0;
    }
  }
  if (!name->is_string() || name_chars < 1 || name_chars > kMaxNameChars) {
    return Invalid(Prefixed(at, "name"), "must be a string of 1 to " +
                                             std::to_string(kMaxNameChars) + " characters, got " +
                                             DescribeValue(*name));
  }
  spec.set_name(name->get<std::string>());

  auto jobs = body.find("jobs");
  const std::string jobs_field = Prefixed(at, "jobs");
  if (jobs == body.end() || jobs->is_null()) {
    return FieldError{"missing_field",
                      "is required: the workflow's jobs, e.g. [{\"key\": \"extract\", \"type\": "
                      "\"echo\"}, {\"key\": \"load\", \"type\": \"echo\", \"depends_on\": "
                      "[\"extract\"]}]",
                      jobs_field};
  }
  if (!jobs->is_array()) {
    return Invalid(jobs_field, "must be an array of jobs, got " + DescribeValue(*jobs));
  }
  // Before parsing anything: a huge array costs nothing to refuse.
  if (jobs->empty() || jobs->size() > kMaxWorkflowJobs) {
    return Graph(jobs_field, jobs->empty()
                                 ? "the workflow is empty: list at least one job"
                                 : "the workflow has " + std::to_string(jobs->size()) +
                                       " jobs; the limit is " + std::to_string(kMaxWorkflowJobs) +
                                       ": split the workflow");
  }
  for (size_t i = 0; i < jobs->size(); ++i) {
    if (auto e = ParseWorkflowJob((*jobs)[i], now, JobPath(path, i), spec.add_jobs())) return *e;
  }
  if (auto e = CheckWorkflowGraph(spec, path)) return *e;
  return spec;
}

std::optional<FieldError> CheckWorkflowGraph(const v1::WorkflowSpec& spec, std::string_view path) {
  const std::string jobs_field = Prefixed(path, "jobs");
  const size_t n = static_cast<size_t>(spec.jobs_size());
  if (n == 0) return Graph(jobs_field, "the workflow is empty: list at least one job");
  if (n > kMaxWorkflowJobs) {
    return Graph(jobs_field, "the workflow has " + std::to_string(n) + " jobs; the limit is " +
                                 std::to_string(kMaxWorkflowJobs) + ": split the workflow");
  }
  std::unordered_map<std::string_view, int> index;
  index.reserve(n);
  for (size_t i = 0; i < n; ++i) {
    const std::string& key = spec.jobs(static_cast<int>(i)).key();
    auto [it, fresh] = index.emplace(key, static_cast<int>(i));
    if (!fresh) {
      return Graph(JobPath(path, i) + ".key", "duplicate key " + Quote(key) + " (also " +
                                                  JobPath(path, it->second) +
                                                  "): keys must be unique within a workflow");
    }
  }
  std::vector<std::vector<int>> children(n);
  for (size_t i = 0; i < n; ++i) {
    const v1::WorkflowJob& job = spec.jobs(static_cast<int>(i));
    const std::string field = JobPath(path, i) + ".depends_on";
    if (static_cast<size_t>(job.depends_on_size()) > kMaxDependsOn) {
      return Graph(field, "job " + Quote(job.key()) + " depends on " +
                              std::to_string(job.depends_on_size()) + " jobs; the limit is " +
                              std::to_string(kMaxDependsOn));
    }
    std::vector<std::string> unknown;
    std::unordered_set<std::string_view> seen;
    for (const std::string& parent : job.depends_on()) {
      if (parent == job.key()) {
        return Graph(field, "job " + Quote(job.key()) +
                                " depends on itself; a job can only depend on other jobs");
      }
      if (!seen.insert(parent).second) {
        return Graph(field, "job " + Quote(job.key()) + " lists " + Quote(parent) +
                                " more than once in depends_on");
      }
      auto p = index.find(parent);
      if (p == index.end()) {
        unknown.push_back(parent);
        continue;
      }
      children[static_cast<size_t>(p->second)].push_back(static_cast<int>(i));
    }
    if (!unknown.empty()) {
      return Graph(field, "job " + Quote(job.key()) + " depends on " +
                              (unknown.size() == 1 ? "an unknown key: " : "unknown keys: ") +
                              JoinQuoted(unknown) +
                              "; depends_on names keys of jobs in this workflow");
    }
  }
  for (size_t p = 0; p < n; ++p) {
    if (children[p].size() > kMaxDependents) {
      return Graph(JobPath(path, p), "job " + Quote(spec.jobs(static_cast<int>(p)).key()) +
                                         " has " + std::to_string(children[p].size()) +
                                         " dependents; the limit is " +
                                         std::to_string(kMaxDependents) +
                                         " (add an intermediate job, or split the workflow)");
    }
  }
  std::vector<int> cycle = FindCycle(children);
  if (!cycle.empty()) {
    std::string text = "cycle: ";
    for (int k : cycle) text += spec.jobs(k).key() + " -> ";
    text += spec.jobs(cycle.front()).key();
    return Graph(jobs_field, std::move(text));
  }
  return std::nullopt;
}

std::optional<FieldError> CheckWorkflowEventSize(const events::Envelope& event,
                                                 std::string_view path) {
  const size_t bytes = event.ByteSizeLong();
  if (bytes <= kMaxWorkflowEventBytes) return std::nullopt;
  return Graph(Prefixed(path, "jobs"), "the workflow is " + std::to_string(bytes) +
                                           " bytes as an event; the limit is " +
                                           std::to_string(kMaxWorkflowEventBytes) +
                                           ": split the workflow (or make its payloads smaller)");
}

std::optional<FieldError> ParseDependsOn(const json* value, v1::JobSpec* spec) {
  if (value == nullptr || value->is_null()) return std::nullopt;
  if (!value->is_array()) {
    return Invalid("depends_on", "must be an array of job ids (UUIDs) this job waits for, got " +
                                     DescribeValue(*value));
  }
  if (value->size() > kMaxDependsOn) {
    return Invalid("depends_on", "must list at most " + std::to_string(kMaxDependsOn) +
                                     " jobs, got " + std::to_string(value->size()));
  }
  std::unordered_set<std::string> seen;
  for (const json& id : *value) {
    if (!id.is_string() || !LooksLikeUuid(id.get_ref<const std::string&>())) {
      return Invalid("depends_on", "must list job ids (UUIDs), got " + DescribeValue(id));
    }
    std::string canonical = id.get<std::string>();
    std::transform(canonical.begin(), canonical.end(), canonical.begin(),
                   [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
    if (!seen.insert(canonical).second) {
      return Invalid("depends_on", "lists job " + canonical + " more than once");
    }
    spec->add_depends_on(std::move(canonical));
  }
  return std::nullopt;
}

json WorkflowToBody(const v1::WorkflowSpec& spec) {
  json jobs = json::array();
  for (const v1::WorkflowJob& job : spec.jobs()) {
    json body = SpecToBody(job.spec());
    body["key"] = job.key();
    if (IsSet(job.spec().run_at())) body["run_at"] = FormatRfc3339(FromProto(job.spec().run_at()));
    if (job.depends_on_size() > 0) {
      body["depends_on"] =
          json(std::vector<std::string>(job.depends_on().begin(), job.depends_on().end()));
    }
    jobs.push_back(std::move(body));
  }
  return {{"name", spec.name()}, {"jobs", std::move(jobs)}};
}

std::string WorkflowIdForIdempotencyKey(std::string_view key) {
  return DeterministicId({"workflow", "idempotency-key", key});
}

}  // namespace jobsched::api
