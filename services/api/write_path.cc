// The write path of the handlers: appending an event and answering once the
// log acknowledged it (AppendThenRespond), idempotency keys held in this
// process (SubmitKeyed, AwaitKeyHolder) and the 201 of a submission
// (FinishSubmit).
#include <memory>
#include <optional>
#include <string>
#include <utility>

#include "events/fold.h"
#include "services/api/api_internal.h"
#include "services/api/job_batch.h"
#include "services/api/job_spec.h"
#include "services/api/job_view.h"

namespace jobsched::api {

void ApiApplication::Impl::FinishSubmit(const ResponderPtr& r, events::Envelope event, bool keyed) {
  // The answer is the fold of exactly the event appended: the same view GET
  // returns once the projector has caught up.
  v1::JobState state;
  events::FoldResult folded = events::Apply(state, event);
  if (!folded.applied()) {
    r->SendError({"internal", "the submission could not be folded: " + folded.reason, ""});
    return;
  }
  auto sub = std::make_shared<Submission>();
  sub->view = RenderJob(state).dump(-1, ' ', false, json::error_handler_t::replace);
  sub->location = "/api/v1/jobs/" + event.job_id();
  sub->event = std::move(event);
  if (keyed) return SubmitKeyed(r, std::move(sub), /*look_in_recent=*/true);
  AppendThenRespond(r, sub->event, 201, sub->view, sub->location);
}

// An idempotency key names one job (its id derives from the key): if the job
// exists, the answer is 409 with the job as it is, and nothing is appended.
// "Exists" is what PostgreSQL has projected or this process appended
// (recent_). In this process one request per key looks and appends at a
// time; the others wait for its outcome and then look again, so concurrent
// duplicates get one 201 and the rest 409. Across processes two requests can
// both miss the job before it is projected and both append: the fold keeps
// the first JobSubmitted and ignores the second (same event id), so there is
// still one job, which runs once, though both clients got 201.
void ApiApplication::Impl::SubmitKeyed(const ResponderPtr& r, std::shared_ptr<const Submission> sub,
                                       bool look_in_recent) {
  if (r->answered()) return;  // a waiter whose deadline passed
  const std::string job_id = sub->event.job_id();
  if (look_in_recent && recent_->Find(job_id)) {
    // Accepted here before: no need to hold the key to answer 409.
    return ReadJob(
        r, job_id,
        [this, r, sub](std::optional<v1::JobState> existing) {
          // A row-less job whose JobSubmitted is forgotten: look again, as a first request.
          if (!existing) return SubmitKeyed(r, sub, /*look_in_recent=*/false);
          SendDuplicate(r, *existing);
        },
        [this, r, job_id](const Status& s) {
          // PostgreSQL cannot tell; the appended events still show the job.
          std::optional<RecentJob> recent = recent_->Find(job_id);
          std::optional<v1::JobState> state =
              recent ? UnprojectedState(std::nullopt, 0, *recent) : std::nullopt;
          if (!state) return r->SendError(FromStatus(s, "database_unavailable"));
          SendDuplicate(r, *state);
        });
  }
  auto resume = [guard = guard_, r, sub] {
    std::lock_guard<std::recursive_mutex> lock(guard->mu);
    if (guard->impl != nullptr) guard->impl->SubmitKeyed(r, sub, /*look_in_recent=*/true);
  };
  if (!in_flight_->Begin(job_id, std::move(resume))) return AwaitKeyHolder(r, job_id, "job");
  auto hold = std::make_shared<KeyHold>(in_flight_, job_id);
  ReadJob(
      r, job_id,
      [this, r, sub, hold](std::optional<v1::JobState> existing) {
        if (existing) return SendDuplicate(r, *existing);
        AppendThenRespond(r, sub->event, 201, sub->view, sub->location, hold);
      },
      [this, r, sub, hold](const Status& s) {
        // Without PostgreSQL the key cannot be checked; submissions do not
        // depend on it, and a second JobSubmitted of the key changes nothing.
        services::Log(*logger_, spdlog::level::warn,
                      "idempotency key not checked: PostgreSQL unavailable; appending",
                      {{"job_id", sub->event.job_id()}, {"reason", s.message()}});
        AppendThenRespond(r, sub->event, 201, sub->view, sub->location, hold);
      });
}

void ApiApplication::Impl::AwaitKeyHolder(const ResponderPtr& r, const std::string& id,
                                          const std::string& noun) {
  // Waits for the request in flight, but not longer than it would itself.
  if (options_.ack_timeout.count() == 0) return;  // as long as the producer takes
  std::weak_ptr<Responder> weak = r;
  timer_.At(SteadyClock::now() + options_.ack_timeout, [weak, id, noun] {
    if (auto r = weak.lock()) {
      std::string message =
          "a submission with the same Idempotency-Key is still waiting for the event log; " +
          UnconfirmedAdvice(id, /*submission=*/true, /*keyed=*/true, noun);
      r->TrySendError({"append_unconfirmed", std::move(message), "", json{{noun + "_id", id}}});
    }
  });
}

void ApiApplication::Impl::SendDuplicate(const ResponderPtr& r, const v1::JobState& existing) {
  // Try: a request that waited for the key may have been answered by its deadline.
  r->TrySendErrorWith(DuplicateJobError(existing), json{{"job", RenderJob(existing)}},
                      "/api/v1/jobs/" + existing.job_id());
}

void ApiApplication::Impl::AppendThenRespond(const ResponderPtr& r, const events::Envelope& event,
                                             int status, std::string body, std::string location,
                                             std::shared_ptr<KeyHold> hold, bool keyed_workflow) {
  if (r->answered()) return;
  std::string event_type(events::EventType(event));
  const std::string& job_id = event.job_id();
  if (!producer_.Reachable()) {
    // Fail fast, and truthfully: nothing was handed to the producer.
    r->SendError({"kafka_unavailable",
                  "no Kafka broker is reachable; nothing was appended: retry later", ""});
    return;
  }
  const bool workflow = event.has_workflow_submitted();
  const bool submission = event.has_job_submitted() || workflow;
  // A workflow's key is not in its event: the caller says whether it had one.
  const bool keyed = workflow
                         ? keyed_workflow
                         : submission && !event.job_submitted().spec().idempotency_key().empty();
  std::string advice = UnconfirmedAdvice(job_id, submission, keyed, workflow ? "workflow" : "job");
  events::Record record;
  record.topic = topics_.job_events;
  record.key = job_id;
  record.value = events::Encode(event);
  auto logger = logger_;
  if (options_.ack_timeout.count() > 0) {
    std::weak_ptr<Responder> weak = r;
    std::string ms = std::to_string(options_.ack_timeout.count());
    timer_.At(SteadyClock::now() + options_.ack_timeout, [weak, ms, advice, job_id] {
      if (auto r = weak.lock()) {
        r->TrySendError(
            {"append_unconfirmed",
             "the event log did not confirm the request within " + ms + " ms; " + advice, "",
             json{{"job_id", job_id}}});
      }
    });
  }
  // The callback may run after this object is gone: it touches only what it holds.
  producer_.AppendAsync(
      std::move(record),
      [r, logger, recent = recent_, metrics = metrics_,
       appended = std::make_shared<const events::Envelope>(event), status, body = std::move(body),
       location = std::move(location), advice = std::move(advice), event_type,
       hold = std::move(hold)](const Status& s, const events::Record& acked) mutable {
        const std::string& job_id = appended->job_id();
        bool answered = false;
        if (s.ok()) {
          // Remembered before the answer: the client's next request must find it.
          recent->Record(appended, acked.partition, acked.offset);
          if (appended->has_job_submitted()) metrics->JobsSubmitted(1);
          services::Log(*logger, spdlog::level::debug, "event appended",
                        {{"event_type", event_type},
                         {"event_id", appended->event_id()},
                         {"job_id", job_id},
                         {"partition", std::to_string(acked.partition)},
                         {"offset", std::to_string(acked.offset)}});
          answered = r->TrySendBody(status, body, location);
        } else if (s.code() == ErrorCode::kTimeout) {
          answered = r->TrySendError(
              {"append_unconfirmed",
               "the event log did not confirm the request (" + s.message() + "); " + advice, "",
               json{{"job_id", job_id}}});
        } else {
          answered = r->TrySendError({"kafka_unavailable",
                                      "the event log did not take the request (" + s.message() +
                                          "); nothing was appended: retry later",
                                      ""});
        }
        hold.reset();     // after Record: a duplicate waiting for the key finds the job
        if (!answered) {  // the deadline answered 503 first
          services::Log(*logger, spdlog::level::warn,
                        "event log answered after the client was told 503",
                        {{"event_type", event_type},
                         {"event_id", appended->event_id()},
                         {"job_id", job_id},
                         {"outcome", s.ok() ? "appended" : s.message()}});
        }
      });
}

}  // namespace jobsched::api
