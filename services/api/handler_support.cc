// The helpers every handler file shares (api_internal.h): request checks,
// and the job reads with read-your-writes (ReadJob, WithJob, WithJobQuery).
#include <algorithm>
#include <cctype>
#include <chrono>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <utility>

#include "events/ids.h"
#include "services/api/api_internal.h"
#include "services/api/job_spec.h"
#include "services/api/job_submit.h"
#include "services/api/job_view.h"

namespace jobsched::api {
namespace {

// Read your writes: the pause before the n-th look at projection_offsets.
SteadyClock::duration ProjectionPollDelay(int attempt) {
  return std::chrono::milliseconds(std::min(5 << std::min(attempt, 4), 50));
}

}  // namespace

ApiError JobNotFound(const std::string& id) {
  return {"job_not_found",
          "no job with id " + id + " (a job just submitted may take a moment to appear)", ""};
}

std::optional<ApiError> CheckJobId(const std::string& id) {
  if (LooksLikeUuid(id)) return std::nullopt;
  return ApiError{"invalid_job_id", "job ids are UUIDs, got " + DescribeValue(json(id)), "job_id"};
}

std::variant<json, ApiError> ParseBody(const RequestInfo& req) { return ParseJsonBody(req.body); }

std::optional<ApiError> CheckIdempotencyKeyHeader(const RequestInfo& req) {
  return CheckIdempotencyKey(req.idempotency_key);
}

std::string UnconfirmedAdvice(const std::string& id, bool submission, bool keyed,
                              const std::string& noun) {
  std::string lookup = "look it up with GET /api/v1/" + noun + "s/" + id;
  if (!submission) return "it may still take effect: " + lookup + " before repeating the command";
  if (keyed) {
    return "the " + noun + " may still be stored: " + lookup +
           ", or retry with the same Idempotency-Key (that finds the " + noun +
           " instead of creating a second one)";
  }
  return "the " + noun + " may still be stored: " + lookup +
         " before submitting again (without an Idempotency-Key a retry creates a second " + noun +
         ")";
}

// Job ids as stored and appended (lower case), whatever case a path used.
std::string CanonicalJobId(std::string id) {
  for (char& c : id) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return id;
}

void ApiApplication::Impl::ReadJob(const ResponderPtr& r, const std::string& id,
                                   std::function<void(std::optional<v1::JobState>)> then,
                                   std::function<void(const Status&)> failed) {
  std::optional<RecentJob> recent = recent_->Find(CanonicalJobId(id));
  if (!recent) {
    WithDatabase<std::optional<v1::JobState>>(
        r, [id](ApiQueries& q) { return q.GetJob(id); }, std::move(then), std::move(failed));
    return;
  }
  AwaitProjection(r, id, std::make_shared<const RecentJob>(std::move(*recent)),
                  SteadyClock::now() + options_.projection_wait, 0, std::move(then),
                  std::move(failed));
}

void ApiApplication::Impl::AwaitProjection(const ResponderPtr& r, const std::string& id,
                                           std::shared_ptr<const RecentJob> recent,
                                           SteadyClock::time_point deadline, int attempt,
                                           std::function<void(std::optional<v1::JobState>)> then,
                                           std::function<void(const Status&)> failed) {
  if (r->answered()) return;  // e.g. answered 503 shutting_down while waiting
  const int32_t partition = recent->partition;
  WithDatabase<ProjectedJob>(
      r,
      [id, projection = options_.projection, topic = topics_.job_events, partition](ApiQueries& q) {
        return q.GetProjectedJob(id, projection, topic, partition);
      },
      [this, r, id, recent, deadline, attempt, then, failed](ProjectedJob projected) {
        if (projected.next_offset > recent->last_offset() ||
            (projected.state &&
             ReflectsAppends(*projected.state, projected.next_offset, *recent))) {
          return then(std::move(projected.state));
        }
        const auto now = SteadyClock::now();
        if (now < deadline) {
          const auto delay = std::min(ProjectionPollDelay(attempt), deadline - now);
          timer_.At(now + delay, [this, r, id, recent, deadline, attempt, then, failed] {
            AwaitProjection(r, id, recent, deadline, attempt + 1, then, failed);
          });
          return;
        }
        services::Log(*logger_, spdlog::level::info,
                      "projection behind this process's appends: answering from them",
                      {{"job_id", id},
                       {"partition", std::to_string(recent->partition)},
                       {"projected_to", std::to_string(projected.next_offset)},
                       {"appended_at", std::to_string(recent->last_offset())}});
        then(UnprojectedState(std::move(projected.state), projected.next_offset, *recent));
      },
      failed);
}

void ApiApplication::Impl::WithJob(const ResponderPtr& r, const std::string& id,
                                   std::function<void(v1::JobState)> found) {
  if (auto error = CheckJobId(id)) return r->SendError(*error);
  r->SetJobId(id);
  ReadJob(r, id, [r, id, found = std::move(found)](std::optional<v1::JobState> state) {
    if (!state) return r->SendError(JobNotFound(id));
    if (state->workflow_run()) {  // known from this process's appends: no jobs row
      return r->SendError(
          {"job_not_found", id + " is a workflow, not a job: GET /api/v1/workflows/" + id, ""});
    }
    if (state->status() == v1::JOB_STATUS_DELETED) {
      return r->SendError(
          {"job_not_found",
           "job " + id + " was deleted; its history stays under /logs and /executions", ""});
    }
    found(std::move(*state));
  });
}

void ApiApplication::Impl::WithJobQuery(
    const ResponderPtr& r, const std::string& id,
    std::function<Result<std::optional<json>>(ApiQueries&)> query) {
  if (auto error = CheckJobId(id)) return r->SendError(*error);
  r->SetJobId(id);
  auto run = [this, r, id, query = std::move(query)] {
    WithDatabase<std::optional<json>>(r, query, [r, id](std::optional<json> answer) {
      if (!answer) return r->SendError(JobNotFound(id));
      r->SendJson(200, *answer);
    });
  };
  if (!recent_->Find(CanonicalJobId(id))) return run();
  // Read your writes: first let the projection reach this process's appends.
  ReadJob(r, id, [run](std::optional<v1::JobState>) { run(); });
}

}  // namespace jobsched::api
