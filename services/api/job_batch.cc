#include "services/api/job_batch.h"

#include <algorithm>
#include <array>
#include <set>
#include <string_view>
#include <unordered_map>
#include <utility>

#include "events/fold.h"
#include "events/ids.h"
#include "services/api/job_spec.h"
#include "services/api/job_view.h"
#include "services/api/workflow_routes.h"
#include "services/api/workflow_spec.h"

namespace jobsched::api {
namespace {

using nlohmann::json;

std::string JobLocation(const std::string& job_id) { return "/api/v1/jobs/" + job_id; }

// A rejected item names no job: the id it was given will never exist.
void Reject(BatchItem& item, ApiError error) {
  item.result.status = HttpStatusOf(error.code);
  item.result.job_id.clear();
  item.result.error = std::move(error);
}

}  // namespace

std::variant<json, ApiError> ParseBatchBody(json body) {
  if (!body.is_object()) {
    return ApiError{"invalid_json",
                    "the request body must be a JSON object {\"jobs\": [<job>, ...]}, got " +
                        std::string(body.type_name()),
                    ""};
  }
  static constexpr std::array<std::string_view, 1> kFields = {"jobs"};
  if (auto error = CheckKnownFields(body, kFields, "")) return FromFieldError(std::move(*error));
  auto it = body.find("jobs");
  const std::string limit = "1 to " + std::to_string(kMaxBatchJobs);
  if (it == body.end()) {
    return ApiError{
        "missing_field",
        "is required: an array of " + limit + " jobs, each what POST /api/v1/jobs accepts", "jobs"};
  }
  if (!it->is_array()) {
    return ApiError{"invalid_field",
                    "must be an array of " + limit +
                        " jobs, each what POST /api/v1/jobs accepts, got " + DescribeValue(*it),
                    "jobs"};
  }
  if (it->empty()) {
    return ApiError{"invalid_field", "is empty: send " + limit + " jobs", "jobs"};
  }
  if (it->size() > kMaxBatchJobs) {
    return ApiError{"invalid_field",
                    "has " + std::to_string(it->size()) + " jobs; the limit is " +
                        std::to_string(kMaxBatchJobs) +
                        " per batch: split it into several requests (nothing was appended)",
                    "jobs"};
  }
  return std::move(*it);
}

BatchPlan PlanBatch(const json& jobs, TimePoint now, const events::Origin& origin) {
  BatchPlan plan;
  plan.items.resize(jobs.size());
  events::Origin at = origin;
  at.occurred_at = now;
  for (size_t i = 0; i < jobs.size(); ++i) {
    BatchItem& item = plan.items[i];
    // The steps of POST /jobs (Submit), minus the Idempotency-Key header:
    // a batch's items carry their keys in their bodies.
    auto parsed = ParseJobSpec(jobs[i], now);
    if (auto* error = std::get_if<FieldError>(&parsed)) {
      Reject(item, FromFieldError(std::move(*error)));
      continue;
    }
    v1::JobSpec& spec = std::get<v1::JobSpec>(parsed);
    item.keyed = !spec.idempotency_key().empty();
    const std::string job_id =
        item.keyed ? ids::JobIdForIdempotencyKey(spec.idempotency_key()) : RandomId();
    events::Envelope event =
        events::MakeEnvelope(ids::EventId("JobSubmitted", job_id, ""), job_id, at);
    *event.mutable_job_submitted()->mutable_spec() = std::move(spec);
    if (event.job_submitted().spec().has_workflow()) {
      if (auto error = CheckWorkflowEventSize(event, "workflow")) {
        Reject(item, FromFieldError(std::move(*error)));
        continue;
      }
    }
    item.result.job_id = job_id;
    item.event = std::move(event);
  }
  return plan;
}

std::vector<std::string> KeyedJobIds(const BatchPlan& plan) {
  std::set<std::string> ids;
  for (const BatchItem& item : plan.items) {
    if (item.event && item.keyed) ids.insert(item.event->job_id());
  }
  return {ids.begin(), ids.end()};
}

std::vector<std::string> ParentJobIds(const BatchPlan& plan) {
  std::set<std::string> ids;
  for (const BatchItem& item : plan.items) {
    if (!item.event) continue;
    for (const std::string& id : item.event->job_submitted().spec().depends_on()) ids.insert(id);
  }
  return {ids.begin(), ids.end()};
}

void DecideBatch(BatchPlan& plan, const BatchLookups& lookups) {
  std::unordered_map<std::string, ParentInfo> parents;
  for (const ParentInfo& p : lookups.parents) parents.emplace(p.job_id, p);
  // Job ids accepted so far in this batch, with the item that claimed each.
  std::unordered_map<std::string, size_t> claimed;
  for (size_t i = 0; i < plan.items.size(); ++i) {
    BatchItem& item = plan.items[i];
    if (!item.event || item.result.status != 0) continue;
    const std::string& job_id = item.event->job_id();
    if (item.keyed) {
      if (auto it = lookups.existing.find(job_id); it != lookups.existing.end()) {
        Reject(item, DuplicateJobError(it->second));
        item.result.job_id = job_id;
        item.result.location = JobLocation(job_id);
        item.result.job = RenderJob(it->second);
        continue;
      }
      if (auto it = claimed.find(job_id); it != claimed.end()) {
        item.repeat_of = it->second;
        continue;
      }
    }
    const v1::JobSpec& spec = item.event->job_submitted().spec();
    if (spec.depends_on_size() > 0) {
      if (lookups.parents_unavailable) {
        Reject(item, *lookups.parents_unavailable);
        continue;
      }
      std::vector<std::string> in_batch;
      std::vector<ParentInfo> found;
      for (const std::string& id : spec.depends_on()) {
        if (claimed.count(id) > 0) in_batch.push_back(id);
        if (auto it = parents.find(id); it != parents.end()) found.push_back(it->second);
      }
      if (!in_batch.empty()) {
        std::string list;
        for (const std::string& id : in_batch) list += (list.empty() ? "" : ", ") + id;
        Reject(item, {"invalid_dependency",
                      "depends on " + list +
                          ", submitted in this same batch: a parent must be accepted before its "
                          "children; submit the children in a later request",
                      "depends_on", json{{"job_ids", in_batch}}});
        continue;
      }
      auto resolved = ResolveParents(spec, found);
      if (auto* error = std::get_if<ApiError>(&resolved)) {
        Reject(item, std::move(*error));
        continue;
      }
      for (v1::ParentStatus& p : std::get<std::vector<v1::ParentStatus>>(resolved)) {
        *item.event->mutable_job_submitted()->add_parents() = std::move(p);
      }
    }
    // As POST /jobs: the answer is the fold of exactly the event appended.
    events::FoldResult folded = events::Apply(item.folded, *item.event);
    if (!folded.applied()) {
      Reject(item, {"internal", "the submission could not be folded: " + folded.reason, ""});
      continue;
    }
    // Accepted: its parents gain a child toward their kMaxDependents.
    for (const std::string& id : spec.depends_on()) {
      if (auto it = parents.find(id); it != parents.end()) ++it->second.dependents;
    }
    claimed.emplace(job_id, i);
  }
}

std::vector<size_t> AppendOrder(const BatchPlan& plan) {
  std::vector<size_t> out;
  for (size_t i = 0; i < plan.items.size(); ++i) {
    const BatchItem& item = plan.items[i];
    if (item.event && item.result.status == 0 && !item.repeat_of) out.push_back(i);
  }
  return out;
}

void SetAppendOutcome(BatchItemResult& result, const Status& status, const std::string& advice) {
  if (status.ok()) {
    result.status = 201;
    result.location = JobLocation(result.job_id);
    return;
  }
  ApiError error;
  if (status.code() == ErrorCode::kTimeout) {
    error = {"append_unconfirmed",
             "the event log did not confirm the request (" + status.message() + "); " + advice, "",
             json{{"job_id", result.job_id}}};
  } else {
    error = {"kafka_unavailable",
             "the event log did not take the request (" + status.message() +
                 "); nothing was appended: retry later",
             ""};
  }
  result.status = HttpStatusOf(error.code);
  result.error = std::move(error);
}

ApiError DuplicateJobError(const v1::JobState& existing) {
  const std::string& id = existing.job_id();
  const std::string status(events::JobStatusName(existing.status()));
  std::string message = "a job with this idempotency key exists: job " + id + " (" + status +
                        "), shown in \"job\" as it is now; nothing was appended. Look it up "
                        "with GET /api/v1/jobs/" +
                        id + "; use another key for a new job";
  return {"duplicate_idempotency_key", std::move(message), "", json{{"job_id", id}}};
}

json RenderBatch(const BatchPlan& plan) {
  json results = json::array();
  size_t accepted = 0;
  for (size_t i = 0; i < plan.items.size(); ++i) {
    const BatchItem& item = plan.items[i];
    BatchItemResult result = item.result;
    if (item.repeat_of) {
      const BatchItem& first = plan.items[*item.repeat_of];
      result = first.result;
      if (result.status == 201) {  // the first item's job now exists
        const ApiError error = DuplicateJobError(first.folded);
        result.status = HttpStatusOf(error.code);
        result.error = error;
        result.job = RenderJob(first.folded);
      }
    }
    json out = {{"index", i}, {"status", result.status}};
    if (!result.job_id.empty()) out["job_id"] = result.job_id;
    if (!result.location.empty()) out["location"] = result.location;
    if (result.error) out["error"] = ErrorBody(*result.error)["error"];
    if (result.job) out["job"] = *result.job;
    if (result.status == 201) ++accepted;
    results.push_back(std::move(out));
  }
  return {{"accepted", accepted},
          {"rejected", plan.items.size() - accepted},
          {"results", std::move(results)}};
}

}  // namespace jobsched::api
