// POST /api/v1/jobs/batch, the pure part: the body's items validated one by
// one exactly as POST /api/v1/jobs validates a body (ParseJobSpec, the same
// event and the same checks), the decisions that need what exists
// (idempotency keys, depends_on parents: looked up by the handler, passed in
// here) and the 200 answer with one result per item. Not all-or-nothing:
// each valid item is accepted, each invalid one answers its own error.
// Pure (no I/O, no clock reads), thread-compatible.
//
// An item is answered as POST /jobs would answer its body submitted alone,
// in item order: 201 {job_id, location}, 400 with the same error object,
// 409 duplicate_idempotency_key {job_id, location, error, job} when its key
// names an existing job, 503 when its append failed. An item whose key an
// earlier item of the batch claimed refers to that item's job (no second
// job): 409 duplicate_idempotency_key with the first item's job once that
// one is accepted, else the first item's own failure.
#pragma once

#include <cstddef>
#include <map>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <variant>
#include <vector>

#include "events/envelope.h"
#include "events/status.h"
#include "events/time.h"
#include "services/api/api_error.h"
#include "services/api/workflow_queries.h"

namespace jobsched::api {

inline constexpr size_t kMaxBatchJobs = 1000;

// The items of a batch body, {"jobs": [<item>, ...]} with 1 to kMaxBatchJobs
// items (each checked later, by PlanBatch). Errors (400, nothing appended):
// invalid_json for a body that is not an object, unknown_field beside
// "jobs", missing_field without "jobs", invalid_field (field "jobs") when it
// is not an array, is empty or has more than kMaxBatchJobs items.
std::variant<nlohmann::json, ApiError> ParseBatchBody(nlohmann::json body);

// What one item answers, as POST /jobs would for its body.
struct BatchItemResult {
  int status = 0;        // 0: not decided yet
  std::string job_id;    // "" for an item rejected before it had one (400)
  std::string location;  // /api/v1/jobs/<id> beside 201 and 409
  std::optional<ApiError> error;
  std::optional<nlohmann::json> job;  // beside a 409: the job as GET shows it
};

struct BatchItem {
  BatchItemResult result;
  // The JobSubmitted of an item that passed ParseJobSpec (its id from the
  // idempotency key, else random), with JobSubmitted.parents once resolved.
  std::optional<events::Envelope> event;
  bool keyed = false;  // event's job id derives from spec.idempotency_key
  // An earlier item of this batch that claimed the same idempotency key:
  // this one answers as its repeat (DecideBatch).
  std::optional<size_t> repeat_of;
  v1::JobState folded;  // the fold of `event`, once DecideBatch accepted it
};

struct BatchPlan {
  std::vector<BatchItem> items;  // in request order
};

// Validates every item of `jobs` (ParseBatchBody's array) with ParseJobSpec
// against `now` and builds its JobSubmitted as POST /jobs does (event id
// ids::EventId("JobSubmitted", job_id, ""), headers from `origin`, the
// workflow event size check for triggers). Invalid items get their 400.
BatchPlan PlanBatch(const nlohmann::json& jobs, TimePoint now, const events::Origin& origin);

// What DecideBatch needs looked up: the job ids of the keyed items (sorted,
// unique) and every depends_on parent of the valid items (sorted, unique).
std::vector<std::string> KeyedJobIds(const BatchPlan& plan);
std::vector<std::string> ParentJobIds(const BatchPlan& plan);

// What exists, as the handler found it (PostgreSQL, plus this process's own
// appends: read your writes).
struct BatchLookups {
  std::map<std::string, v1::JobState> existing;  // jobs among KeyedJobIds
  std::vector<ParentInfo> parents;               // jobs among ParentJobIds
  // Set when the parents could not be read (PostgreSQL down): each item with
  // depends_on answers it, as POST /jobs would.
  std::optional<ApiError> parents_unavailable;
};

// Decides each valid item in request order, as a sequence of POST /jobs
// would: a keyed item whose job exists answers 409 duplicate_idempotency_key
// with it; one whose key an earlier accepted item of this batch claimed is
// that item's repeat; depends_on goes through ResolveParents (an earlier
// item's dependents count toward a parent's limit; a parent that is an item
// of this batch is 400 invalid_dependency: it must be acknowledged first);
// then the event is folded (a fold rejection is 500 internal). The items
// left undecided (status 0) are the ones to append: AppendOrder.
void DecideBatch(BatchPlan& plan, const BatchLookups& lookups);

// The indexes of the items to append, in request order.
std::vector<size_t> AppendOrder(const BatchPlan& plan);

// An appended item's answer, from its append's outcome as POST /jobs maps it:
// ok 201 with its location; kTimeout (outcome unknown: it may be stored) 503
// append_unconfirmed naming the job and `advice` (what to do about it); any
// other failure 503 kafka_unavailable (not stored). result.job_id must be set.
void SetAppendOutcome(BatchItemResult& result, const Status& status, const std::string& advice);

// The 409 POST /jobs answers when an idempotency key names `existing`.
ApiError DuplicateJobError(const v1::JobState& existing);

// 200 {"accepted": A, "rejected": R, "results": [{index, status, job_id?,
// location?, error?, job?}, ...]}: A counts the 201s, R every other item.
// Repeats take their first item's answer here (a 201 becomes the 409 that
// refers to it). Every item must be decided.
nlohmann::json RenderBatch(const BatchPlan& plan);

}  // namespace jobsched::api
