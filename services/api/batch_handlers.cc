// POST /api/v1/jobs/batch: thin handlers on ApiApplication::Impl's plumbing
// (api_internal.h); the validation and the decisions are pure (job_batch.h),
// the SQL is in job_queries.h and workflow_queries.h.
//
// One batch is one answer after one wait for Kafka: every accepted item's
// JobSubmitted is handed to the producer before any acknowledgement is
// awaited (librdkafka sends them together), and the 200 goes out when the
// last acknowledgement arrives, or at ack_timeout with the items still
// unconfirmed answered 503 append_unconfirmed. Each acknowledged item is
// remembered in RecentAppends before the answer (read your writes).
#include <algorithm>
#include <map>
#include <memory>
#include <mutex>
#include <nlohmann/json.hpp>
#include <string>
#include <unordered_set>
#include <utility>
#include <vector>

#include "events/envelope.h"
#include "services/api/api_internal.h"
#include "services/api/job_batch.h"
#include "services/api/job_queries.h"
#include "services/api/workflow_queries.h"
#include "services/api/workflow_routes.h"
#include "services/common/logging.h"

namespace jobsched::api {

struct ApiApplication::Impl::BatchRun {
  BatchRun(ResponderPtr responder, BatchPlan p)
      : r(std::move(responder)), plan(std::move(p)), keys(KeyedJobIds(plan)) {}

  const ResponderPtr r;
  BatchPlan plan;                       // one step at a time owns it
  const std::vector<std::string> keys;  // job ids of the keyed items, sorted

  // The keys taken so far, released once their items' outcome is known.
  // Guarded by mu: a resume (another request's thread) and the deadline of
  // the wait for a key holder may run at once. Never release a hold while
  // holding mu: that runs other requests' resumes.
  std::mutex mu;
  std::map<std::string, std::shared_ptr<KeyHold>> holds;
  bool acquired = false;  // every key taken; guarded by mu
  bool awaiting = false;  // the key holder's deadline is set; guarded by mu
};

namespace {

// Shared by a batch's acknowledgements and its deadline, which may run after
// the Impl is gone: they touch only what they hold.
struct BatchAcks {
  ResponderPtr r;
  std::mutex mu;
  BatchPlan plan;                // guarded by mu
  std::vector<size_t> appended;  // the items handed to the producer
  size_t left = 0;               // acknowledgements not yet in; guarded by mu
  bool answered = false;         // guarded by mu
  size_t late = 0;               // acknowledgements after the answer; guarded by mu
};

std::string RenderBody(const BatchPlan& plan) {
  return RenderBatch(plan).dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
}

}  // namespace

void ApiApplication::Impl::SubmitBatch(const ResponderPtr& r, const RequestInfo& req) {
  auto body = ParseBody(req);
  if (auto* error = std::get_if<ApiError>(&body)) return r->SendError(*error);
  if (req.idempotency_key) {
    return r->SendError({"invalid_field",
                         "a batch takes no Idempotency-Key header: give each job that needs one "
                         "its own \"idempotency_key\" in the body",
                         "Idempotency-Key"});
  }
  auto jobs = ParseBatchBody(std::move(std::get<json>(body)));
  if (auto* error = std::get_if<ApiError>(&jobs)) return r->SendError(*error);
  BatchPlan plan = PlanBatch(std::get<json>(jobs), clock_.Now(), MakeOrigin(req));
  const bool any_valid = std::any_of(plan.items.begin(), plan.items.end(),
                                     [](const BatchItem& item) { return item.event.has_value(); });
  if (any_valid && !producer_.Reachable()) {
    // Fail fast, as POST /jobs: nothing was handed to the producer.
    return r->SendError({"kafka_unavailable",
                         "no Kafka broker is reachable; nothing was appended: retry later", ""});
  }
  AcquireBatchKeys(std::make_shared<BatchRun>(r, std::move(plan)), 0);
}

void ApiApplication::Impl::AcquireBatchKeys(const std::shared_ptr<BatchRun>& run, size_t next) {
  std::map<std::string, std::shared_ptr<KeyHold>> release;
  bool acquired = false;
  {
    std::lock_guard<std::mutex> lock(run->mu);
    if (run->r->answered()) {  // the wait for a key holder timed out
      release.swap(run->holds);
    } else {
      for (; next < run->keys.size(); ++next) {
        const std::string& id = run->keys[next];
        auto resume = [guard = guard_, run, next] {
          std::lock_guard<std::recursive_mutex> lock(guard->mu);
          if (guard->impl != nullptr) guard->impl->AcquireBatchKeys(run, next);
        };
        if (!in_flight_->Begin(id, std::move(resume))) break;
        run->holds.emplace(id, std::make_shared<KeyHold>(in_flight_, id));
      }
      run->acquired = acquired = next == run->keys.size();
      if (!run->acquired && !run->awaiting && options_.ack_timeout.count() > 0) {
        // Another request holds a key: as POST /jobs, wait for its outcome,
        // but not longer than this request would wait for its own.
        run->awaiting = true;
        std::weak_ptr<BatchRun> weak = run;
        timer_.At(SteadyClock::now() + options_.ack_timeout, [weak] {
          auto run = weak.lock();
          if (!run) return;
          std::map<std::string, std::shared_ptr<KeyHold>> release;
          std::string waiting_for;
          {
            std::lock_guard<std::mutex> lock(run->mu);
            if (run->acquired) return;
            release.swap(run->holds);
            for (const std::string& id : run->keys) {
              if (release.count(id) == 0) {
                waiting_for = id;
                break;
              }
            }
          }
          run->r->TrySendError(
              {"append_unconfirmed",
               "a submission with the same idempotency key as a job of this batch (job " +
                   waiting_for +
                   ") is still waiting for the event log; nothing of this batch was appended: "
                   "retry it (jobs with a key that were stored meanwhile answer 409)",
               "", json{{"job_id", waiting_for}}});
        });
      }
    }
  }
  release.clear();
  if (acquired) LookUpBatch(run);
}

// What exists: the keyed items' jobs and the depends_on parents, from
// PostgreSQL (one worker task) and this process's appends, as POST /jobs
// reads them. A batch with neither skips PostgreSQL.
void ApiApplication::Impl::LookUpBatch(const std::shared_ptr<BatchRun>& run) {
  std::vector<std::string> parent_ids = ParentJobIds(run->plan);
  auto decide = [this, run, parent_ids](std::map<std::string, v1::JobState> rows,
                                        std::vector<ParentInfo> parents,
                                        std::optional<ApiError> parents_unavailable) {
    BatchLookups lookups;
    for (const std::string& id : run->keys) {
      std::optional<v1::JobState> row;
      if (auto it = rows.find(id); it != rows.end()) row = std::move(it->second);
      // Every remembered append on top of the row: those it reflects fold as duplicates.
      if (std::optional<RecentJob> recent = recent_->Find(id)) {
        row = UnprojectedState(row, 0, *recent);
      }
      if (row) lookups.existing.emplace(id, std::move(*row));
    }
    // Parents not projected yet may have been accepted here a moment ago.
    std::unordered_set<std::string> projected;
    for (const ParentInfo& p : parents) projected.insert(p.job_id);
    for (const std::string& id : parent_ids) {
      if (projected.count(id) > 0) continue;
      std::optional<RecentJob> recent = recent_->Find(id);
      if (!recent) continue;
      if (auto state = UnprojectedState(std::nullopt, 0, *recent)) {
        parents.push_back(ParentFromState(*state));
      }
    }
    lookups.parents = std::move(parents);
    lookups.parents_unavailable = std::move(parents_unavailable);
    DecideBatch(run->plan, lookups);
    AppendBatch(run);
  };
  if (run->keys.empty() && parent_ids.empty()) return decide({}, {}, std::nullopt);

  WithDatabase<BatchRows>(
      run->r,
      [keys = run->keys, parent_ids](ApiQueries& q) { return q.BatchLookup(keys, parent_ids); },
      [decide](BatchRows rows) {
        decide(std::move(rows.jobs), std::move(rows.parents), std::nullopt);
      },
      [this, run, decide](const Status& s) {
        // As POST /jobs: without PostgreSQL a key is checked against this
        // process's appends only (a second JobSubmitted of a key changes
        // nothing), and depends_on cannot be checked at all.
        services::Log(*logger_, spdlog::level::warn,
                      "batch: PostgreSQL unavailable; idempotency keys checked against this "
                      "process's appends only",
                      {{"reason", s.message()}, {"jobs", std::to_string(run->plan.items.size())}});
        decide({}, {}, FromStatus(s, "database_unavailable"));
      });
}

void ApiApplication::Impl::AppendBatch(const std::shared_ptr<BatchRun>& run) {
  const ResponderPtr& r = run->r;
  std::map<std::string, std::shared_ptr<KeyHold>> holds;
  {
    std::lock_guard<std::mutex> lock(run->mu);
    holds.swap(run->holds);
  }
  std::vector<size_t> order = AppendOrder(run->plan);
  if (order.empty()) {  // every item rejected or found: nothing to wait for
    r->TrySendBody(200, RenderBody(run->plan));
    return;
  }
  if (!producer_.Reachable()) {
    r->TrySendError({"kafka_unavailable",
                     "no Kafka broker is reachable; nothing was appended: retry later", ""});
    return;
  }

  // Everything is encoded before the first record is handed over: an
  // acknowledgement may arrive (on the producer's thread) at once.
  struct Pending {
    size_t index;
    events::Record record;
    std::shared_ptr<const events::Envelope> event;
    std::shared_ptr<KeyHold> hold;
  };
  std::vector<Pending> pending;
  pending.reserve(order.size());
  for (size_t i : order) {
    BatchItem& item = run->plan.items[i];
    auto event = std::make_shared<const events::Envelope>(std::move(*item.event));
    item.event.reset();
    events::Record record;
    record.topic = topics_.job_events;
    record.key = event->job_id();
    record.value = events::Encode(*event);
    std::shared_ptr<KeyHold> hold;
    if (auto it = holds.find(event->job_id()); it != holds.end()) hold = it->second;
    pending.push_back({i, std::move(record), std::move(event), std::move(hold)});
  }
  holds.clear();  // the appended items' holds live on in their callbacks

  auto acks = std::make_shared<BatchAcks>();
  acks->r = r;
  acks->plan = std::move(run->plan);
  acks->appended = std::move(order);
  acks->left = pending.size();
  if (options_.ack_timeout.count() > 0) {
    std::weak_ptr<BatchAcks> weak = acks;
    const std::string ms = std::to_string(options_.ack_timeout.count());
    timer_.At(SteadyClock::now() + options_.ack_timeout, [weak, ms] {
      auto acks = weak.lock();
      if (!acks) return;  // every acknowledgement came in
      std::string body;
      {
        std::lock_guard<std::mutex> lock(acks->mu);
        if (acks->answered) return;
        acks->answered = true;
        for (size_t i : acks->appended) {
          BatchItemResult& result = acks->plan.items[i].result;
          if (result.status != 0) continue;
          const bool keyed = acks->plan.items[i].keyed;
          result.status = 503;
          result.error = ApiError{"append_unconfirmed",
                                  "the event log did not confirm the request within " + ms +
                                      " ms; " + UnconfirmedAdvice(result.job_id, true, keyed),
                                  "", json{{"job_id", result.job_id}}};
        }
        body = RenderBody(acks->plan);
      }
      acks->r->TrySendBody(200, body);
    });
  }

  auto logger = logger_;
  for (Pending& p : pending) {
    producer_.AppendAsync(
        std::move(p.record), [acks, logger, recent = recent_, metrics = metrics_, index = p.index,
                              event = std::move(p.event), hold = std::move(p.hold)](
                                 const Status& s, const events::Record& acked) mutable {
          // Remembered before the answer: the client's next request must find it.
          if (s.ok()) {
            recent->Record(event, acked.partition, acked.offset);
            metrics->JobsSubmitted(1);
          }
          std::string body;
          size_t late = 0;
          {
            std::lock_guard<std::mutex> lock(acks->mu);
            BatchItem& item = acks->plan.items[index];
            if (acks->answered) {
              ++acks->late;
            } else {
              SetAppendOutcome(
                  item.result, s,
                  s.ok() ? "" : UnconfirmedAdvice(item.result.job_id, true, item.keyed));
            }
            if (--acks->left == 0) {
              if (acks->answered) {
                late = acks->late;
              } else {
                acks->answered = true;
                body = RenderBody(acks->plan);
              }
            }
          }
          hold.reset();  // after Record: a submission waiting for the key finds the job
          if (!body.empty()) {
            acks->r->TrySendBody(200, body);
          } else if (late > 0) {
            services::Log(*logger, spdlog::level::warn,
                          "event log answered a batch after the client was told 503",
                          {{"late", std::to_string(late)},
                           {"appended", std::to_string(acks->appended.size())}});
          }
        });
  }
}

}  // namespace jobsched::api
