// Unit tests of "why didn't it fire at T?" (why.h) on hand-built event
// sequences. The facts are selected from the sequence the way job_queries.cc
// selects rows of job_logs: applied records only, lifecycle events in log
// order, and the slot records at T's second plus the last scheduled fire or
// skip before it.
#include <gtest/gtest.h>

#include <algorithm>
#include <chrono>
#include <deque>
#include <nlohmann/json.hpp>
#include <string>
#include <utility>
#include <vector>

#include "events/envelope.h"
#include "events/fold.h"
#include "events/ids.h"
#include "services/api/why.h"

namespace jobsched::api {
namespace {

using nlohmann::json;
using std::chrono::seconds;

TimePoint At(const char* text) { return *ParseRfc3339(text); }

class WhyTest : public ::testing::Test {
 protected:
  // Appends an event the fold must apply (the queries select applied records
  // only) and folds it into the job's current state.
  const events::Envelope& Add(events::Envelope e) {
    EXPECT_TRUE(events::Apply(state_, e).applied()) << e.DebugString();
    log_.push_back(std::move(e));
    return log_.back();
  }

  events::Envelope New(const std::string& type, TimePoint at) {
    return events::MakeEnvelope(ids::EventId(type, job_, std::to_string(++seq_)), job_,
                                {"test", at, "corr", ""});
  }

  const events::Envelope& Submit(const std::string& cron, TimePoint at,
                                 const std::string& zone = "UTC") {
    events::Envelope e = New("JobSubmitted", at);
    v1::JobSpec* spec = e.mutable_job_submitted()->mutable_spec();
    spec->set_name("tick");
    spec->set_type(v1::JOB_TYPE_ECHO);
    spec->set_max_retries(1);
    if (!cron.empty()) {
      spec->mutable_schedule()->set_cron(cron);
      spec->mutable_schedule()->set_timezone(zone);
      spec->mutable_schedule()->set_max_runs(max_runs_);
      if (start_at_) *spec->mutable_schedule()->mutable_start_at() = ToProto(*start_at_);
      if (end_at_) *spec->mutable_schedule()->mutable_end_at() = ToProto(*end_at_);
    } else if (run_at_) {
      *spec->mutable_run_at() = ToProto(*run_at_);
    }
    return Add(std::move(e));
  }

  // A scheduled fire of slot `slot` (UTC schedules: nominal = UTC wall time).
  const events::Envelope& Fire(TimePoint slot, std::string nominal = "") {
    if (nominal.empty() && events::IsRecurring(state_)) {
      nominal = FormatRfc3339(slot).substr(0, 19);
    }
    std::string fire_id = nominal.empty() ? ids::OnceFireId(job_) : ids::FireId(job_, nominal, 1);
    events::Envelope e = New("RunDue", slot + Millis(20));
    auto* d = e.mutable_run_due();
    d->set_run_id(ids::RunId(job_, fire_id, 1));
    d->set_attempt(1);
    *d->mutable_scheduled_for() = ToProto(slot);
    d->set_fire_id(fire_id);
    d->set_nominal_time(nominal);
    d->set_occurrence(1);
    d->set_kind(v1::FIRE_KIND_SCHEDULED);
    d->set_after_fire_id(state_.cursor().fire_id());
    return Add(std::move(e));
  }

  // Ends the run in flight successfully (so the next fire is not an overlap).
  void Succeed(TimePoint at) {
    const v1::RunRecord& run = state_.runs(0);
    std::string run_id = run.run_id();
    events::Envelope d = New("RunDispatched", at);
    d.mutable_run_dispatched()->set_run_id(run_id);
    d.mutable_run_dispatched()->set_lease_epoch(1);
    Add(std::move(d));
    events::Envelope s = New("RunSucceeded", at + Millis(1));
    s.mutable_run_succeeded()->set_run_id(run_id);
    s.mutable_run_succeeded()->set_lease_epoch(1);
    Add(std::move(s));
  }

  const events::Envelope& Skip(TimePoint first, TimePoint last, int64_t count,
                               v1::SkipReason reason, const std::string& detail) {
    std::string first_nominal = FormatRfc3339(first).substr(0, 19);
    std::string last_nominal = FormatRfc3339(last).substr(0, 19);
    events::Envelope e = New("FireSkipped", last + Millis(20));
    auto* k = e.mutable_fire_skipped();
    k->set_fire_id(ids::FireId(job_, first_nominal, 1));
    k->set_reason(reason);
    *k->mutable_scheduled_for() = ToProto(first);
    k->set_nominal_time(first_nominal);
    k->set_occurrence(1);
    k->set_last_fire_id(ids::FireId(job_, last_nominal, 1));
    *k->mutable_last_scheduled_for() = ToProto(last);
    k->set_last_nominal_time(last_nominal);
    k->set_last_occurrence(1);
    k->set_count(count);
    k->set_after_fire_id(state_.cursor().fire_id());
    k->set_detail(detail);
    return Add(std::move(e));
  }

  const events::Envelope& Simple(const std::string& type, TimePoint at) {
    events::Envelope e = New(type, at);
    if (type == "PauseRequested") e.mutable_pause_requested();
    if (type == "ResumeRequested") e.mutable_resume_requested();
    if (type == "DeleteRequested") e.mutable_delete_requested();
    if (type == "CancelRequested") e.mutable_cancel_requested();
    if (type == "JobCanceled") e.mutable_job_canceled()->set_reason("canceled by request");
    if (type == "JobCompleted") e.mutable_job_completed()->set_reason("max_runs reached: 2 fires");
    return Add(std::move(e));
  }

  const events::Envelope& Update(const std::string& cron, TimePoint at) {
    events::Envelope e = New("JobUpdated", at);
    *e.mutable_job_updated()->mutable_spec() = state_.spec();
    e.mutable_job_updated()->mutable_spec()->mutable_schedule()->set_cron(cron);
    e.mutable_job_updated()->add_changed("schedule");
    return Add(std::move(e));
  }

  WhyFacts Facts(TimePoint t, TimePoint now) const {
    WhyFacts f;
    f.at = t;
    f.now = now;
    f.current = state_;
    const TimePoint second = std::chrono::floor<seconds>(t);
    std::vector<std::pair<TimePoint, const events::Envelope*>> before;
    for (const events::Envelope& e : log_) {
      if (e.has_job_submitted() || e.has_job_updated() || e.has_pause_requested() ||
          e.has_resume_requested() || e.has_cancel_requested() || e.has_job_canceled() ||
          e.has_job_completed() || e.has_job_succeeded() || e.has_job_dead() ||
          e.has_delete_requested()) {
        f.lifecycle.push_back(e);
      }
      if (!e.has_run_due() && !e.has_fire_skipped()) continue;
      TimePoint slot = FromProto(e.has_run_due() ? e.run_due().scheduled_for()
                                                 : e.fire_skipped().scheduled_for());
      if (slot >= second && slot < second + seconds(1)) f.slots.push_back(e);
      bool slot_record = e.has_fire_skipped() ||
                         (e.run_due().attempt() == 1 && e.run_due().kind() != v1::FIRE_KIND_MANUAL);
      if (slot_record && slot < second) before.emplace_back(slot, &e);
    }
    // The last two by slot instant, as the query orders them.
    std::stable_sort(before.begin(), before.end(),
                     [](const auto& a, const auto& b) { return a.first > b.first; });
    for (size_t i = 0; i < before.size() && i < 2; ++i) f.slots.push_back(*before[i].second);
    return f;
  }

  WhyVerdict Why(const char* t, const char* now = "2026-03-02T00:00:00Z") const {
    return ExplainWhy(Facts(At(t), At(now)));
  }

  std::string job_ = RandomId();
  v1::JobState state_;
  std::deque<events::Envelope> log_;  // stable references for the tests
  int seq_ = 0;
  int64_t max_runs_ = 0;
  std::optional<TimePoint> start_at_;
  std::optional<TimePoint> end_at_;
  std::optional<TimePoint> run_at_;
};

const TimePoint kCreated = At("2026-03-01T12:00:00.400Z");

TEST_F(WhyTest, FiredNamesTheRunAtSecondPrecision) {
  Submit("0 */5 * * * *", kCreated);
  const events::Envelope& due = Fire(At("2026-03-01T12:05:00Z"));
  for (const char* t :
       {"2026-03-01T12:05:00Z", "2026-03-01T12:05:00.999Z", "2026-03-01T13:05:00+01:00"}) {
    SCOPED_TRACE(t);
    WhyVerdict v = Why(t);
    EXPECT_EQ(v.verdict, "fired");
    EXPECT_EQ(v.run_id, due.run_due().run_id());
    EXPECT_EQ(v.fire_id, due.run_due().fire_id());
    EXPECT_EQ(v.events, std::vector<std::string>{due.event_id()});
    EXPECT_EQ(v.details, (json{{"scheduled_for", "2026-03-01T12:05:00.000Z"},
                               {"nominal_time", "2026-03-01T12:05:00"}}));
  }
  json rendered = RenderWhy(At("2026-03-01T12:05:00.999Z"), Why("2026-03-01T12:05:00.999Z"));
  EXPECT_EQ(rendered["at"], "2026-03-01T12:05:00.000Z");
  EXPECT_EQ(rendered["verdict"], "fired");
  EXPECT_EQ(rendered["run_id"], due.run_due().run_id());
  EXPECT_EQ(rendered["fire_id"], due.run_due().fire_id());
  EXPECT_EQ(rendered["scheduled_for"], "2026-03-01T12:05:00.000Z");
  EXPECT_EQ(rendered["events"], json::array({due.event_id()}));
  EXPECT_TRUE(rendered["reason"].get<std::string>().starts_with(
      "the slot at 2026-03-01T12:05:00.000Z (local 2026-03-01T12:05:00) fired: run "))
      << rendered["reason"];
}

TEST_F(WhyTest, SkippedGivesTheReasonDetailAndRange) {
  Submit("0 */5 * * * *", kCreated);
  Fire(At("2026-03-01T12:05:00Z"));
  const events::Envelope& skip =
      Skip(At("2026-03-01T12:10:00Z"), At("2026-03-01T12:10:00Z"), 1, v1::SKIP_REASON_OVERLAP,
           "a run was in flight (concurrency_policy forbid)");
  WhyVerdict v = Why("2026-03-01T12:10:00Z");
  EXPECT_EQ(v.verdict, "skipped");
  EXPECT_EQ(v.fire_id, skip.fire_skipped().fire_id());
  EXPECT_EQ(v.run_id, "");
  EXPECT_EQ(v.reason,
            "the slot was skipped (overlap): a run was in flight (concurrency_policy forbid); the "
            "record covers 1 slot from 2026-03-01T12:10:00.000Z to 2026-03-01T12:10:00.000Z");
  EXPECT_EQ(v.details, (json{{"skip_reason", "overlap"},
                             {"detail", "a run was in flight (concurrency_policy forbid)"},
                             {"from", "2026-03-01T12:10:00.000Z"},
                             {"to", "2026-03-01T12:10:00.000Z"},
                             {"count", 1}}));
  EXPECT_EQ(v.events, std::vector<std::string>{skip.event_id()});
}

TEST_F(WhyTest, ASkipThatBeganEarlierCoversItsSlotsButNotTheTimesBetween) {
  Submit("0 */5 * * * *", kCreated);
  Fire(At("2026-03-01T12:05:00Z"));
  Succeed(At("2026-03-01T12:05:01Z"));
  const events::Envelope& skip =
      Skip(At("2026-03-01T12:10:00Z"), At("2026-03-01T12:25:00Z"), 4, v1::SKIP_REASON_MISFIRE,
           "missed by more than 1000 ms (scheduler down or job paused); misfire_policy skip");
  WhyVerdict v = Why("2026-03-01T12:20:00Z");
  EXPECT_EQ(v.verdict, "skipped");
  EXPECT_EQ(v.details["skip_reason"], "misfire");
  EXPECT_EQ(v.details["count"], 4);
  EXPECT_EQ(v.details["to"], "2026-03-01T12:25:00.000Z");
  EXPECT_EQ(v.events, std::vector<std::string>{skip.event_id()});

  WhyVerdict between = Why("2026-03-01T12:22:00Z");
  EXPECT_EQ(between.verdict, "not_a_slot");
  EXPECT_EQ(between.details, (json{{"previous_fire", "2026-03-01T12:20:00.000Z"},
                                   {"next_fire", "2026-03-01T12:25:00.000Z"}}));
}

TEST_F(WhyTest, PausedBetweenPauseAndResume) {
  const events::Envelope& submitted = Submit("0 */5 * * * *", kCreated);
  Fire(At("2026-03-01T12:05:00Z"));
  Succeed(At("2026-03-01T12:05:01Z"));
  const events::Envelope& pause = Simple("PauseRequested", At("2026-03-01T12:07:00Z"));
  const events::Envelope& resume = Simple("ResumeRequested", At("2026-03-01T12:31:00Z"));
  const events::Envelope& skip =
      Skip(At("2026-03-01T12:10:00Z"), At("2026-03-01T12:25:00Z"), 4, v1::SKIP_REASON_MISFIRE,
           "missed by more than 1000 ms (scheduler down or job paused); misfire_policy fire_once");
  const events::Envelope& fired = Fire(At("2026-03-01T12:30:00Z"));

  WhyVerdict v = Why("2026-03-01T12:15:00Z");
  EXPECT_EQ(v.verdict, "paused");
  EXPECT_EQ(v.reason,
            "the job was paused at 2026-03-01T12:07:00.000Z and resumed at "
            "2026-03-01T12:31:00.000Z; on resume the slot was skipped as a misfire (fire_once)");
  EXPECT_EQ(v.details, (json{{"paused_at", "2026-03-01T12:07:00.000Z"},
                             {"resumed_at", "2026-03-01T12:31:00.000Z"}}));
  EXPECT_EQ(v.events,
            (std::vector<std::string>{pause.event_id(), resume.event_id(), skip.event_id()}));
  // The latest missed slot fired on resume (fire_once): that is what happened at 12:30.
  WhyVerdict last = Why("2026-03-01T12:30:00Z");
  EXPECT_EQ(last.verdict, "fired");
  EXPECT_EQ(last.run_id, fired.run_due().run_id());
  // A time inside the pause that is no slot: still paused.
  EXPECT_EQ(Why("2026-03-01T12:12:34Z").verdict, "paused");
  // Before the pause: the schedule decides.
  EXPECT_EQ(Why("2026-03-01T12:06:00Z").verdict, "not_a_slot");
  EXPECT_EQ(Why("2026-03-01T12:06:00Z").events, std::vector<std::string>{submitted.event_id()});

  // Paused again and not resumed: open-ended.
  const events::Envelope& again = Simple("PauseRequested", At("2026-03-01T12:40:00Z"));
  WhyVerdict open = Why("2026-03-01T12:45:00Z");
  EXPECT_EQ(open.verdict, "paused");
  EXPECT_EQ(open.details["resumed_at"], nullptr);
  EXPECT_EQ(open.events, std::vector<std::string>{again.event_id()});
  EXPECT_EQ(open.reason, "the job was paused at 2026-03-01T12:40:00.000Z and has not been resumed");
}

TEST_F(WhyTest, NotASlotNamesTheNearestFiresOfTheScheduleInForce) {
  const events::Envelope& submitted = Submit("0 */5 * * * *", kCreated);
  Fire(At("2026-03-01T12:05:00Z"));
  Succeed(At("2026-03-01T12:05:01Z"));
  const events::Envelope& update = Update("0 0 * * * *", At("2026-03-01T12:07:00Z"));

  WhyVerdict v = Why("2026-03-01T12:02:30Z");
  EXPECT_EQ(v.verdict, "not_a_slot");
  EXPECT_EQ(v.details,
            (json{{"previous_fire", nullptr}, {"next_fire", "2026-03-01T12:05:00.000Z"}}));
  EXPECT_EQ(v.events, std::vector<std::string>{submitted.event_id()});
  EXPECT_EQ(v.reason,
            "T is not a fire time of the schedule \"0 */5 * * * *\" in UTC; the nearest fires are "
            "none before and 2026-03-01T12:05:00.000Z after");

  // After the update, 12:10 is no longer a slot: hourly from then on (and the
  // hourly 12:00:00 precedes the submission, so there is no fire before).
  WhyVerdict later = Why("2026-03-01T12:10:00Z");
  EXPECT_EQ(later.verdict, "not_a_slot");
  EXPECT_EQ(later.details,
            (json{{"previous_fire", nullptr}, {"next_fire", "2026-03-01T13:00:00.000Z"}}));
  EXPECT_EQ(Why("2026-03-01T14:30:00Z").details,
            (json{{"previous_fire", "2026-03-01T14:00:00.000Z"},
                  {"next_fire", "2026-03-01T15:00:00.000Z"}}));
  EXPECT_EQ(later.events, std::vector<std::string>{update.event_id()});
}

TEST_F(WhyTest, BeforeTheSubmissionOrStartAt) {
  const events::Envelope& submitted = Submit("0 */5 * * * *", kCreated);
  WhyVerdict v = Why("2026-03-01T11:55:00Z");
  EXPECT_EQ(v.verdict, "before_start");
  EXPECT_EQ(v.reason, "the job was submitted later, at 2026-03-01T12:00:00.400Z");
  EXPECT_EQ(v.details, (json{{"start", "2026-03-01T12:00:00.400Z"}}));
  EXPECT_EQ(v.events, std::vector<std::string>{submitted.event_id()});
  // The slot in the submission's own second precedes it.
  EXPECT_EQ(Why("2026-03-01T12:00:00.500Z").verdict, "before_start");
}

TEST_F(WhyTest, BeforeStartAt) {
  start_at_ = At("2026-03-01T13:00:00Z");
  Submit("0 */5 * * * *", kCreated);
  WhyVerdict v = Why("2026-03-01T12:30:00Z");
  EXPECT_EQ(v.verdict, "before_start");
  EXPECT_EQ(v.reason, "the schedule starts at start_at 2026-03-01T13:00:00.000Z");
  // start_at itself is the first slot (not yet decided: pending).
  EXPECT_EQ(Why("2026-03-01T13:00:00Z").verdict, "pending");
}

TEST_F(WhyTest, AfterTheEnd) {
  max_runs_ = 2;
  Submit("0 */5 * * * *", kCreated);
  Fire(At("2026-03-01T12:05:00Z"));
  Succeed(At("2026-03-01T12:05:01Z"));
  Fire(At("2026-03-01T12:10:00Z"));
  // Max runs reached, the run still in flight: not completed yet.
  WhyVerdict v = Why("2026-03-01T12:15:00Z");
  EXPECT_EQ(v.verdict, "after_end");
  EXPECT_EQ(v.reason, "max_runs 2 was reached; the last fire was at 2026-03-01T12:10:00.000Z");
  Succeed(At("2026-03-01T12:10:01Z"));
  const events::Envelope& completed = Simple("JobCompleted", At("2026-03-01T12:10:02Z"));
  WhyVerdict done = Why("2026-03-01T12:15:00Z");
  EXPECT_EQ(done.verdict, "after_end");
  EXPECT_EQ(done.reason,
            "the job completed at 2026-03-01T12:10:02.000Z (max_runs reached: 2 fires), before "
            "2026-03-01T12:15:00.000Z");
  EXPECT_EQ(done.details, (json{{"ended_at", "2026-03-01T12:10:02.000Z"}}));
  EXPECT_EQ(done.events, std::vector<std::string>{completed.event_id()});
}

TEST_F(WhyTest, AfterEndAtCancelOrDelete) {
  end_at_ = At("2026-03-01T12:20:00Z");
  Submit("0 */5 * * * *", kCreated);
  EXPECT_EQ(Why("2026-03-01T12:25:00Z", "2026-03-01T12:30:00Z").reason,
            "the schedule ends at end_at 2026-03-01T12:20:00.000Z");
  Simple("CancelRequested", At("2026-03-01T12:01:00Z"));
  const events::Envelope& canceled = Simple("JobCanceled", At("2026-03-01T12:01:01Z"));
  WhyVerdict v = Why("2026-03-01T12:05:00Z");
  EXPECT_EQ(v.verdict, "after_end");
  EXPECT_EQ(v.reason,
            "the job was canceled at 2026-03-01T12:01:01.000Z, before 2026-03-01T12:05:00.000Z");
  EXPECT_EQ(v.events, std::vector<std::string>{canceled.event_id()});
}

TEST_F(WhyTest, DeletedJobsEndWhenDeleted) {
  Submit("0 */5 * * * *", kCreated);
  const events::Envelope& deleted = Simple("DeleteRequested", At("2026-03-01T12:03:00Z"));
  WhyVerdict v = Why("2026-03-01T12:05:00Z");
  EXPECT_EQ(v.verdict, "after_end");
  EXPECT_EQ(v.events, std::vector<std::string>{deleted.event_id()});
  EXPECT_TRUE(v.reason.starts_with("the job was deleted at 2026-03-01T12:03:00.000Z")) << v.reason;
}

TEST_F(WhyTest, FutureAndPendingSlots) {
  Submit("0 */5 * * * *", kCreated);
  Fire(At("2026-03-01T12:05:00Z"));
  Succeed(At("2026-03-01T12:05:01Z"));
  WhyVerdict future = Why("2026-03-01T13:00:00Z", "2026-03-01T12:06:00Z");
  EXPECT_EQ(future.verdict, "not_yet");
  EXPECT_EQ(future.details,
            (json{{"next_fire_at", "2026-03-01T12:10:00.000Z"}, {"is_slot", true}}));
  EXPECT_EQ(Why("2026-03-01T13:00:01Z", "2026-03-01T12:06:00Z").details["is_slot"], false);

  // 12:10 is due at 12:10:30, and the scheduler has not decided it yet.
  WhyVerdict pending = Why("2026-03-01T12:10:00Z", "2026-03-01T12:10:30Z");
  EXPECT_EQ(pending.verdict, "pending");
  EXPECT_EQ(pending.details, (json{{"cursor_at", "2026-03-01T12:05:00.000Z"}}));
  EXPECT_TRUE(pending.events.empty());
}

TEST_F(WhyTest, APassedSlotWithoutARecordIsUnknown) {
  Submit("0 */5 * * * *", kCreated);
  Fire(At("2026-03-01T12:05:00Z"));
  Succeed(At("2026-03-01T12:05:01Z"));
  Fire(At("2026-03-01T12:10:00Z"));
  WhyFacts facts = Facts(At("2026-03-01T12:05:00Z"), At("2026-03-01T13:00:00Z"));
  facts.slots.clear();  // the fire's record is missing
  WhyVerdict v = ExplainWhy(facts);
  EXPECT_EQ(v.verdict, "unknown");
}

TEST_F(WhyTest, DstShiftedSlotsAndTheTimesAround) {
  Submit("0 30 2 * * *", At("2026-03-01T00:00:00Z"), "America/New_York");
  // 02:30 does not exist on 2026-03-08: it fires at 03:00 EDT (07:00Z).
  const events::Envelope& due = Fire(At("2026-03-08T07:00:00Z"), "2026-03-08T02:30:00");
  EXPECT_EQ(Why("2026-03-08T07:00:00Z", "2026-03-10T00:00:00Z").run_id, due.run_due().run_id());
  WhyVerdict v = Why("2026-03-08T07:30:00Z", "2026-03-10T00:00:00Z");
  EXPECT_EQ(v.verdict, "not_a_slot");
  EXPECT_EQ(v.details, (json{{"previous_fire", "2026-03-08T07:00:00.000Z"},
                             {"next_fire", "2026-03-09T06:30:00.000Z"}}));
}

TEST_F(WhyTest, OneOffJobsHaveOneSlot) {
  run_at_ = At("2026-03-01T13:00:00.250Z");
  Submit("", kCreated);
  WhyVerdict before = Why("2026-03-01T12:30:00Z", "2026-03-01T12:40:00Z");
  EXPECT_EQ(before.verdict, "not_a_slot");
  EXPECT_EQ(before.reason, "a one-off job has one slot, at 2026-03-01T13:00:00.250Z");
  EXPECT_EQ(before.details,
            (json{{"previous_fire", nullptr}, {"next_fire", "2026-03-01T13:00:00.250Z"}}));
  EXPECT_EQ(Why("2026-03-01T13:00:00Z", "2026-03-01T13:00:05Z").verdict, "pending");
  const events::Envelope& due = Fire(At("2026-03-01T13:00:00.250Z"));
  WhyVerdict fired = Why("2026-03-01T13:00:00Z", "2026-03-01T13:00:05Z");
  EXPECT_EQ(fired.verdict, "fired");
  EXPECT_EQ(fired.run_id, due.run_due().run_id());
  EXPECT_EQ(fired.details["nominal_time"], nullptr);
  // Ended: later times are after the end.
  Simple("CancelRequested", At("2026-03-01T13:00:01Z"));
  Simple("JobCanceled", At("2026-03-01T13:00:02Z"));
  EXPECT_EQ(Why("2026-03-01T14:00:00Z").verdict, "after_end");
}

}  // namespace
}  // namespace jobsched::api
