// The scheduler in simulated time (SimulatedScheduler): a fire per slot,
// misfire and concurrency policies, pause and resume, downtime, DST, bounds.
// No threads and no real waits: advancing the clock fires the timers.
#include <gtest/gtest.h>

#include <set>

#include "events/fold.h"
#include "tests/unit/scheduler_sim.h"

namespace jobsched::testing {
namespace {

using events::Envelope;
using std::chrono::hours;
using std::chrono::milliseconds;
using std::chrono::minutes;
using std::chrono::seconds;

const std::string kJob = "00000000-0000-4000-8000-00000000c0de";

TimePoint Utc(const char* rfc3339) { return *ParseRfc3339(rfc3339); }

Envelope Submit(TimePoint at, const std::string& cron, const std::string& tz = "UTC",
                std::function<void(v1::JobSpec&)> tweak = nullptr) {
  Envelope e = events::MakeEnvelope(ids::EventId("JobSubmitted", kJob, ""), kJob,
                                    {"api", at, "corr", ""});
  v1::JobSpec* spec = e.mutable_job_submitted()->mutable_spec();
  spec->set_name("recurring");
  spec->set_type(v1::JOB_TYPE_ECHO);
  spec->set_priority(5);
  spec->mutable_schedule()->set_cron(cron);
  spec->mutable_schedule()->set_timezone(tz);
  if (tweak) tweak(*spec);
  return e;
}

Envelope Request(TimePoint at, const std::string& type) {
  Envelope e = events::MakeEnvelope(ids::EventId(type, kJob, FormatRfc3339(at)), kJob,
                                    {"api", at, "corr", ""});
  if (type == "PauseRequested") e.mutable_pause_requested();
  if (type == "ResumeRequested") e.mutable_resume_requested();
  if (type == "CancelRequested") e.mutable_cancel_requested()->set_reason("test");
  return e;
}

std::vector<TimePoint> FireTimes(const SimulatedScheduler& sim) {
  std::vector<TimePoint> out;
  for (const auto& e : sim.EventsOf(kJob, "RunDue")) {
    if (e.run_due().attempt() == 1) out.push_back(FromProto(e.run_due().scheduled_for()));
  }
  return out;
}

std::vector<Envelope> Skips(const SimulatedScheduler& sim) {
  return sim.EventsOf(kJob, "FireSkipped");
}

int Rejections(const SimulatedScheduler& sim) {
  int n = 0;
  for (auto o : sim.outcomes()) n += o == events::Outcome::kRejected;
  return n;
}

// Every slot is accounted for: fired or inside a skip record, each once.
void ExpectEverySlotOnce(const SimulatedScheduler& sim, TimePoint from, TimePoint to, Millis step) {
  std::map<TimePoint, int> seen;
  for (TimePoint t : FireTimes(sim)) ++seen[t];
  for (const auto& k : Skips(sim)) {
    TimePoint a = FromProto(k.fire_skipped().scheduled_for());
    TimePoint b = FromProto(k.fire_skipped().last_scheduled_for());
    int64_t count = 0;
    for (TimePoint t = a; t <= b; t += step) {
      ++seen[t];
      ++count;
    }
    EXPECT_EQ(count, k.fire_skipped().count());
  }
  for (TimePoint t = from; t <= to; t += step) {
    EXPECT_EQ(seen[t], 1) << "slot " << FormatRfc3339(t);
  }
}

TEST(SimulatedScheduler, EverySecondJobFiresOncePerSlotForAnHour) {
  TimePoint t0 = Utc("2026-06-01T00:00:00.250Z");
  SimulatedScheduler sim(t0);
  sim.Append(Submit(t0, "* * * * * *"));
  sim.AdvanceTo(t0 + hours(1));
  std::vector<TimePoint> fires = FireTimes(sim);
  ASSERT_EQ(fires.size(), 3600u);
  for (size_t i = 0; i < fires.size(); ++i) {
    EXPECT_EQ(fires[i], Utc("2026-06-01T00:00:01Z") + seconds(i)) << i;
  }
  std::set<std::string> fire_ids;
  for (const auto& e : sim.EventsOf(kJob, "RunDue")) fire_ids.insert(e.run_due().fire_id());
  EXPECT_EQ(fire_ids.size(), 3600u);
  EXPECT_EQ(Rejections(sim), 0);
  EXPECT_TRUE(Skips(sim).empty());
  const auto* s = sim.Find(kJob);
  EXPECT_EQ(s->summary().fires(), 3600);
  EXPECT_EQ(s->summary().succeeded(), 3600);
  EXPECT_EQ(s->runs_size(), 0);
  EXPECT_EQ(FromProto(s->next_fire_at()), Utc("2026-06-01T01:00:01Z"));
  // Keyed timers: one per job, however often it was rescheduled.
  EXPECT_EQ(sim.core().timers(), 1u);
  EXPECT_EQ(sim.core().in_flight(), 0u);
}

TEST(SimulatedScheduler, DowntimeFiresTheLatestMissedSlotOnceByDefault) {
  TimePoint t0 = Utc("2026-06-01T00:00:00Z");
  SimulatedScheduler sim(t0);
  sim.Append(Submit(t0, "*/10 * * * * *"));
  sim.AdvanceTo(t0 + seconds(5));
  sim.Down();
  sim.AdvanceTo(t0 + seconds(47));
  sim.Up();
  // 10, 20, 30 skipped as one record; 40 fired once, 7 s late; then on time.
  std::vector<Envelope> skips = Skips(sim);
  ASSERT_EQ(skips.size(), 1u);
  const v1::FireSkipped& k = skips[0].fire_skipped();
  EXPECT_EQ(k.reason(), v1::SKIP_REASON_MISFIRE);
  EXPECT_EQ(k.count(), 3);
  EXPECT_EQ(FromProto(k.scheduled_for()), t0 + seconds(10));
  EXPECT_EQ(FromProto(k.last_scheduled_for()), t0 + seconds(30));
  EXPECT_NE(k.detail().find("misfire_policy fire_once"), std::string::npos) << k.detail();
  sim.AdvanceTo(t0 + seconds(65));
  EXPECT_EQ(FireTimes(sim), (std::vector<TimePoint>{t0 + seconds(40), t0 + seconds(50),
                                                   t0 + seconds(60)}));
  ExpectEverySlotOnce(sim, t0 + seconds(10), t0 + seconds(60), seconds(10));
}

TEST(SimulatedScheduler, MisfirePolicySkipFiresNothingMissed) {
  TimePoint t0 = Utc("2026-06-01T00:00:00Z");
  SimulatedScheduler sim(t0);
  sim.Append(Submit(t0, "*/10 * * * * *", "UTC", [](v1::JobSpec& s) {
    s.mutable_schedule()->set_misfire_policy(v1::MISFIRE_POLICY_SKIP);
  }));
  sim.Down();
  sim.AdvanceTo(t0 + seconds(47));
  sim.Up();
  ASSERT_EQ(Skips(sim).size(), 1u);
  EXPECT_EQ(Skips(sim)[0].fire_skipped().count(), 4);
  EXPECT_TRUE(FireTimes(sim).empty());
  sim.AdvanceTo(t0 + seconds(50));
  EXPECT_EQ(FireTimes(sim), std::vector<TimePoint>{t0 + seconds(50)});
}

TEST(SimulatedScheduler, MisfirePolicyFireAllCatchesUpEachSlot) {
  TimePoint t0 = Utc("2026-06-01T00:00:00Z");
  SimulatedScheduler sim(t0);
  sim.Append(Submit(t0, "*/10 * * * * *", "UTC", [](v1::JobSpec& s) {
    s.mutable_schedule()->set_misfire_policy(v1::MISFIRE_POLICY_FIRE_ALL);
    s.mutable_schedule()->set_concurrency_policy(v1::CONCURRENCY_POLICY_ALLOW);
  }));
  sim.Down();
  sim.AdvanceTo(t0 + seconds(47));
  sim.Up();
  EXPECT_TRUE(Skips(sim).empty());
  EXPECT_EQ(FireTimes(sim), (std::vector<TimePoint>{t0 + seconds(10), t0 + seconds(20),
                                                   t0 + seconds(30), t0 + seconds(40)}));
}

TEST(SimulatedScheduler, FireAllIsBoundedAtOneHundred) {
  TimePoint t0 = Utc("2026-06-01T00:00:00Z");
  SimulatedScheduler sim(t0);
  sim.Append(Submit(t0, "* * * * * *", "UTC", [](v1::JobSpec& s) {
    s.mutable_schedule()->set_misfire_policy(v1::MISFIRE_POLICY_FIRE_ALL);
    s.mutable_schedule()->set_concurrency_policy(v1::CONCURRENCY_POLICY_ALLOW);
  }));
  sim.Down();
  sim.AdvanceTo(t0 + seconds(300) + milliseconds(500));
  sim.Up();
  // 300 missed (the last one at 300 s is on time): the oldest 199 skipped, the
  // latest 100 missed fired, plus the on-time one. At most 32 in flight at once.
  ASSERT_EQ(Skips(sim).size(), 2u);
  EXPECT_EQ(Skips(sim)[0].fire_skipped().count(), 199);
  EXPECT_EQ(Skips(sim)[0].fire_skipped().reason(), v1::SKIP_REASON_MISFIRE);
  EXPECT_EQ(Skips(sim)[1].fire_skipped().reason(), v1::SKIP_REASON_OVERLAP);
  EXPECT_EQ(FireTimes(sim).size(), 32u) << "the in-flight bound applies to catch-up fires";
  ExpectEverySlotOnce(sim, t0 + seconds(1), t0 + seconds(300), seconds(1));
}

TEST(SimulatedScheduler, ForbidRecordsTheSlotsARunOverlapsAsOneRangeWhenItEnds) {
  TimePoint t0 = Utc("2026-06-01T00:00:00.500Z");
  SimulatedScheduler::Options o;
  o.run_duration = milliseconds(2500);
  SimulatedScheduler sim(t0, o);
  sim.Append(Submit(t0, "* * * * * *"));
  sim.AdvanceTo(t0 + seconds(10));
  // Runs at 1, 4, 7, 10 (each takes 2.5 s); 2-3, 5-6, 8-9 skipped as overlaps,
  // each pair recorded once, when the run that overlapped it ended.
  TimePoint s0 = Utc("2026-06-01T00:00:00Z");
  EXPECT_EQ(FireTimes(sim), (std::vector<TimePoint>{s0 + seconds(1), s0 + seconds(4),
                                                   s0 + seconds(7), s0 + seconds(10)}));
  std::vector<Envelope> skips = Skips(sim);
  ASSERT_EQ(skips.size(), 3u);
  for (size_t i = 0; i < skips.size(); ++i) {
    const v1::FireSkipped& k = skips[i].fire_skipped();
    EXPECT_EQ(k.reason(), v1::SKIP_REASON_OVERLAP);
    EXPECT_EQ(k.count(), 2);
    EXPECT_EQ(FromProto(k.scheduled_for()), s0 + seconds(2 + 3 * i));
    EXPECT_EQ(FromProto(skips[i].occurred_at()), s0 + milliseconds(3500 + 3000 * i))
        << "recorded when the run ended";
  }
  ExpectEverySlotOnce(sim, s0 + seconds(1), s0 + seconds(10), seconds(1));
}

TEST(SimulatedScheduler, ALongRunIsRecordedAsOverlapEveryMinuteAtMost) {
  TimePoint t0 = Utc("2026-06-01T00:00:00.500Z");
  SimulatedScheduler::Options o;
  o.run_duration = seconds(150);
  SimulatedScheduler sim(t0, o);
  sim.Append(Submit(t0, "* * * * * *"));
  sim.AdvanceTo(t0 + seconds(152));
  // The run fired at 1 ends at 151. The oldest slot waiting for a record is
  // recorded a minute after it came, with every slot due by then: 2-62 at 62,
  // 63-123 at 123; 124-150 when the run ends; 151 (the run ended at that
  // very instant) fires, and 152 waits for that run.
  std::vector<Envelope> skips = Skips(sim);
  ASSERT_EQ(skips.size(), 3u);
  EXPECT_EQ(skips[0].fire_skipped().count(), 61);
  EXPECT_EQ(skips[1].fire_skipped().count(), 61);
  EXPECT_EQ(skips[2].fire_skipped().count(), 27);
  EXPECT_EQ(FromProto(skips[0].occurred_at()), Utc("2026-06-01T00:01:02Z"));
  TimePoint s0 = Utc("2026-06-01T00:00:00Z");
  EXPECT_EQ(FireTimes(sim), (std::vector<TimePoint>{s0 + seconds(1), s0 + seconds(151)}));
  ExpectEverySlotOnce(sim, s0 + seconds(1), s0 + seconds(151), seconds(1));
}

TEST(SimulatedScheduler, SlotsARunOverlappedAreOverlapsEvenWhenTheSchedulerWasDown) {
  TimePoint t0 = Utc("2026-06-01T00:00:00.500Z");
  SimulatedScheduler::Options o;
  o.run_duration = seconds(5);
  SimulatedScheduler sim(t0, o);
  sim.Append(Submit(t0, "* * * * * *"));
  sim.AdvanceTo(t0 + seconds(2));  // the run of slot 1 is in flight until 6
  sim.Down();
  sim.AdvanceTo(t0 + seconds(20));
  sim.Up();
  // 2-5 came while the run (1.0 to 6.0) was in flight: overlap. 6-19 were
  // missed while the scheduler was down: misfire (fire_once: 20 is on time).
  std::vector<Envelope> skips = Skips(sim);
  ASSERT_EQ(skips.size(), 2u);
  EXPECT_EQ(skips[0].fire_skipped().reason(), v1::SKIP_REASON_OVERLAP);
  EXPECT_EQ(skips[0].fire_skipped().count(), 4);
  EXPECT_EQ(skips[1].fire_skipped().reason(), v1::SKIP_REASON_MISFIRE);
  EXPECT_EQ(skips[1].fire_skipped().count(), 14);
  TimePoint s0 = Utc("2026-06-01T00:00:00Z");
  EXPECT_EQ(FireTimes(sim), (std::vector<TimePoint>{s0 + seconds(1), s0 + seconds(20)}));
}

TEST(SimulatedScheduler, AllowRunsAlongsideAndReplaceCancels) {
  TimePoint t0 = Utc("2026-06-01T00:00:00.500Z");
  SimulatedScheduler::Options o;
  o.run_duration = milliseconds(2500);
  {
    SimulatedScheduler sim(t0, o);
    sim.Append(Submit(t0, "* * * * * *", "UTC", [](v1::JobSpec& s) {
      s.mutable_schedule()->set_concurrency_policy(v1::CONCURRENCY_POLICY_ALLOW);
    }));
    sim.AdvanceTo(t0 + seconds(10));
    EXPECT_EQ(FireTimes(sim).size(), 10u);
    EXPECT_TRUE(Skips(sim).empty());
    EXPECT_EQ(sim.Find(kJob)->runs_size(), 2) << "runs of 9 and 10 are in flight (8 ended at 10.5)";
  }
  {
    SimulatedScheduler sim(t0, o);
    sim.Append(Submit(t0, "* * * * * *", "UTC", [](v1::JobSpec& s) {
      s.mutable_schedule()->set_concurrency_policy(v1::CONCURRENCY_POLICY_REPLACE);
    }));
    sim.AdvanceTo(t0 + seconds(10));
    EXPECT_EQ(FireTimes(sim).size(), 10u);
    EXPECT_EQ(sim.EventsOf(kJob, "RunCanceled").size(), 9u);
    EXPECT_EQ(sim.Find(kJob)->runs_size(), 1);
    EXPECT_EQ(sim.Find(kJob)->summary().canceled(), 9);
  }
}

TEST(SimulatedScheduler, MaxRunsThenCompleted) {
  TimePoint t0 = Utc("2026-06-01T00:00:00Z");
  SimulatedScheduler sim(t0);
  sim.Append(Submit(t0, "*/5 * * * * *", "UTC",
                    [](v1::JobSpec& s) { s.mutable_schedule()->set_max_runs(3); }));
  sim.AdvanceTo(t0 + minutes(1));
  EXPECT_EQ(FireTimes(sim).size(), 3u);
  EXPECT_EQ(sim.Find(kJob)->status(), v1::JOB_STATUS_COMPLETED);
  auto done = sim.EventsOf(kJob, "JobCompleted");
  ASSERT_EQ(done.size(), 1u);
  EXPECT_EQ(done[0].job_completed().reason(), "max_runs reached: 3 fires");
  EXPECT_EQ(FromProto(done[0].occurred_at()), t0 + seconds(15)) << "when the last run ended";
}

TEST(SimulatedScheduler, EndAtThenCompleted) {
  TimePoint t0 = Utc("2026-06-01T00:00:00Z");
  SimulatedScheduler sim(t0);
  sim.Append(Submit(t0, "*/5 * * * * *", "UTC", [&](v1::JobSpec& s) {
    *s.mutable_schedule()->mutable_start_at() = ToProto(t0 + seconds(20));
    *s.mutable_schedule()->mutable_end_at() = ToProto(t0 + seconds(32));
  }));
  sim.AdvanceTo(t0 + minutes(1));
  EXPECT_EQ(FireTimes(sim), (std::vector<TimePoint>{t0 + seconds(20), t0 + seconds(25),
                                                   t0 + seconds(30)}));
  EXPECT_EQ(sim.Find(kJob)->status(), v1::JOB_STATUS_COMPLETED);
}

TEST(SimulatedScheduler, PausedWindowIsNotFiredAndResumeAppliesTheMisfirePolicy) {
  TimePoint t0 = Utc("2026-06-01T00:00:00Z");
  SimulatedScheduler sim(t0);
  sim.Append(Submit(t0, "* * * * * *"));
  sim.AdvanceTo(t0 + milliseconds(5500));
  sim.Append(Request(sim.now(), "PauseRequested"));
  EXPECT_EQ(sim.Find(kJob)->status(), v1::JOB_STATUS_PAUSED);
  EXPECT_FALSE(IsSet(sim.Find(kJob)->next_fire_at()));
  sim.AdvanceTo(t0 + milliseconds(20500));
  EXPECT_EQ(FireTimes(sim).size(), 5u) << "nothing fires while paused";
  size_t events_while_paused = sim.log().size();
  sim.Append(Request(sim.now(), "ResumeRequested"));
  // Slots 6..19 missed (one record), 20 is on time and fires.
  ASSERT_EQ(Skips(sim).size(), 1u);
  EXPECT_EQ(Skips(sim)[0].fire_skipped().count(), 14);
  EXPECT_EQ(FireTimes(sim).back(), t0 + seconds(20));
  EXPECT_GT(sim.log().size(), events_while_paused);
  sim.AdvanceTo(t0 + seconds(30));
  ExpectEverySlotOnce(sim, t0 + seconds(1), t0 + seconds(30), seconds(1));
}

TEST(SimulatedScheduler, ManualRunWhilePaused) {
  TimePoint t0 = Utc("2026-06-01T00:00:00Z");
  SimulatedScheduler sim(t0);
  sim.Append(Submit(t0, "0 0 * * * *"));
  sim.Append(Request(t0 + seconds(1), "PauseRequested"));
  sim.AdvanceTo(t0 + seconds(2));
  Envelope run = events::MakeEnvelope(ids::EventId("RunRequested", kJob, "r1"), kJob,
                                      {"api", sim.now(), "corr", ""});
  std::string fire = ids::ManualFireId(kJob, run.event_id());
  run.mutable_run_requested()->set_fire_id(fire);
  run.mutable_run_requested()->set_run_id(ids::RunId(kJob, fire, 1));
  sim.Append(run);
  sim.AdvanceTo(t0 + seconds(3));
  auto due = sim.EventsOf(kJob, "RunDue");
  ASSERT_EQ(due.size(), 1u);
  EXPECT_EQ(due[0].run_due().kind(), v1::FIRE_KIND_MANUAL);
  EXPECT_EQ(due[0].run_due().run_id(), ids::RunId(kJob, fire, 1));
  EXPECT_EQ(sim.Find(kJob)->summary().manual_fires(), 1);
  EXPECT_EQ(sim.Find(kJob)->summary().fires(), 0);
  sim.Append(run);  // a repeated request is a duplicate
  EXPECT_EQ(sim.outcomes().back(), events::Outcome::kDuplicate);
}

TEST(SimulatedScheduler, FailingRunsAreRetriedThenGiveUpWhileTheScheduleGoesOn) {
  TimePoint t0 = Utc("2026-06-01T00:00:00Z");
  SimulatedScheduler::Options o;
  o.runs_succeed = false;
  SimulatedScheduler sim(t0, o);
  sim.Append(Submit(t0, "*/10 * * * * *", "UTC", [](v1::JobSpec& s) {
    s.set_max_retries(1);
    s.mutable_retry_policy()->set_strategy(v1::RETRY_STRATEGY_FIXED);
    s.mutable_retry_policy()->set_base_delay_ms(2000);
  }));
  sim.AdvanceTo(t0 + seconds(35));
  EXPECT_EQ(FireTimes(sim).size(), 3u);
  EXPECT_EQ(sim.EventsOf(kJob, "RetryScheduled").size(), 3u);
  EXPECT_EQ(sim.EventsOf(kJob, "RunDead").size(), 3u);
  EXPECT_EQ(sim.Find(kJob)->summary().failed(), 3);
  EXPECT_EQ(sim.Find(kJob)->summary().attempts(), 6);
  EXPECT_EQ(sim.Find(kJob)->status(), v1::JOB_STATUS_ACTIVE);
  EXPECT_EQ(Rejections(sim), 0);
}

TEST(SimulatedScheduler, RestartWithNothingMissedDecidesNothingTwice) {
  TimePoint t0 = Utc("2026-06-01T00:00:00.500Z");
  SimulatedScheduler sim(t0);
  sim.Append(Submit(t0, "* * * * * *"));
  for (int i = 0; i < 20; ++i) {
    sim.Advance(milliseconds(700));
    sim.Down();
    sim.Up();  // restart from the folded state, within the misfire grace
  }
  ExpectEverySlotOnce(sim, Utc("2026-06-01T00:00:01Z"), Utc("2026-06-01T00:00:14Z"), seconds(1));
  EXPECT_TRUE(Skips(sim).empty());
  EXPECT_EQ(Rejections(sim), 0);
}

TEST(SimulatedScheduler, DecisionsFromAStaleStateAreRejectedNotFired) {
  TimePoint t0 = Utc("2026-06-01T00:00:00Z");
  SimulatedScheduler sim(t0);
  sim.Append(Submit(t0, "* * * * * *"));
  sim.AdvanceTo(t0 + seconds(2));
  // A zombie scheduler decides slot 3 from a state that has seen slot 1 only.
  Envelope zombie = sim.EventsOf(kJob, "RunDue")[1];
  zombie.set_event_id(ids::EventId("RunDue", kJob, "zombie"));
  zombie.mutable_run_due()->set_after_fire_id(sim.EventsOf(kJob, "RunDue")[0].run_due().fire_id());
  zombie.mutable_run_due()->set_fire_id("zombie-fire");
  *zombie.mutable_run_due()->mutable_scheduled_for() = ToProto(t0 + seconds(3));
  zombie.mutable_run_due()->set_nominal_time("2026-06-01T00:00:03");
  sim.Append(zombie);
  EXPECT_EQ(sim.outcomes().back(), events::Outcome::kRejected);
  sim.AdvanceTo(t0 + seconds(5));
  ExpectEverySlotOnce(sim, t0 + seconds(1), t0 + seconds(5), seconds(1));
}

// ---- DST, in simulated time, on real transitions ---------------------------

struct Fire {
  std::string nominal;
  int occurrence;
  std::string at;  // RFC 3339 UTC, seconds
  bool operator==(const Fire&) const = default;
};

std::ostream& operator<<(std::ostream& os, const Fire& f) {
  return os << "{" << f.nominal << " #" << f.occurrence << " at " << f.at << "}";
}

std::vector<Fire> Fires(const SimulatedScheduler& sim) {
  std::vector<Fire> out;
  for (const auto& e : sim.EventsOf(kJob, "RunDue")) {
    std::string at = FormatRfc3339(FromProto(e.run_due().scheduled_for()));
    out.push_back({e.run_due().nominal_time(), e.run_due().occurrence(),
                   at.substr(0, 19) + "Z"});
  }
  return out;
}

std::vector<std::string> SkippedNominals(const SimulatedScheduler& sim) {
  std::vector<std::string> out;
  for (const auto& k : Skips(sim)) {
    EXPECT_EQ(k.fire_skipped().reason(), v1::SKIP_REASON_DST_GAP);
    out.push_back(k.fire_skipped().nominal_time());
    if (k.fire_skipped().count() > 1) out.push_back(k.fire_skipped().last_nominal_time());
  }
  return out;
}

TEST(SimulatedSchedulerDst, NewYorkFixedTimeShiftsOutOfTheGapAndFiresOnceInTheOverlap) {
  // 02:30 does not exist on 2026-03-08 (02:00 -> 03:00 EDT): fires at 03:00 EDT.
  TimePoint t0 = Utc("2026-03-07T12:00:00Z");
  SimulatedScheduler sim(t0);
  sim.Append(Submit(t0, "0 30 2 * * *", "America/New_York"));
  sim.AdvanceTo(Utc("2026-03-10T00:00:00Z"));
  EXPECT_EQ(Fires(sim), (std::vector<Fire>{{"2026-03-08T02:30:00", 1, "2026-03-08T07:00:00Z"},
                                           {"2026-03-09T02:30:00", 1, "2026-03-09T06:30:00Z"}}));
  EXPECT_TRUE(Skips(sim).empty());
}

TEST(SimulatedSchedulerDst, NewYorkRepeatedHourFiresOnTheFirstOccurrenceOnly) {
  TimePoint t0 = Utc("2026-10-31T12:00:00Z");
  SimulatedScheduler sim(t0);
  sim.Append(Submit(t0, "0 30 1 * * *", "America/New_York"));
  sim.AdvanceTo(Utc("2026-11-02T12:00:00Z"));
  EXPECT_EQ(Fires(sim), (std::vector<Fire>{{"2026-11-01T01:30:00", 1, "2026-11-01T05:30:00Z"},
                                           {"2026-11-02T01:30:00", 1, "2026-11-02T06:30:00Z"}}));
}

TEST(SimulatedSchedulerDst, NewYorkIntervalSkipsTheGapAndFiresBothOccurrences) {
  TimePoint t0 = Utc("2026-03-08T06:20:00Z");  // 01:20 EST
  SimulatedScheduler sim(t0);
  sim.Append(Submit(t0, "0 */30 * * * *", "America/New_York"));
  sim.AdvanceTo(Utc("2026-03-08T07:40:00Z"));  // 03:40 EDT
  EXPECT_EQ(Fires(sim), (std::vector<Fire>{{"2026-03-08T01:30:00", 1, "2026-03-08T06:30:00Z"},
                                           {"2026-03-08T03:00:00", 1, "2026-03-08T07:00:00Z"},
                                           {"2026-03-08T03:30:00", 1, "2026-03-08T07:30:00Z"}}));
  EXPECT_EQ(SkippedNominals(sim),
            (std::vector<std::string>{"2026-03-08T02:00:00", "2026-03-08T02:30:00"}));

  TimePoint t1 = Utc("2026-11-01T04:50:00Z");  // 00:50 EDT
  SimulatedScheduler fall(t1);
  fall.Append(Submit(t1, "0 */30 * * * *", "America/New_York"));
  fall.AdvanceTo(Utc("2026-11-01T07:10:00Z"));  // 02:10 EST
  EXPECT_EQ(Fires(fall), (std::vector<Fire>{{"2026-11-01T01:00:00", 1, "2026-11-01T05:00:00Z"},
                                            {"2026-11-01T01:30:00", 1, "2026-11-01T05:30:00Z"},
                                            {"2026-11-01T01:00:00", 2, "2026-11-01T06:00:00Z"},
                                            {"2026-11-01T01:30:00", 2, "2026-11-01T06:30:00Z"},
                                            {"2026-11-01T02:00:00", 1, "2026-11-01T07:00:00Z"}}));
  std::set<std::string> ids;
  for (const auto& e : fall.EventsOf(kJob, "RunDue")) ids.insert(e.run_due().fire_id());
  EXPECT_EQ(ids.size(), 5u) << "both occurrences of 01:00 have fire ids of their own";
}

TEST(SimulatedSchedulerDst, ExplicitPoliciesOverrideAuto) {
  // Fixed time with dst_gap skip and dst_overlap both.
  TimePoint t0 = Utc("2026-03-07T12:00:00Z");
  SimulatedScheduler sim(t0);
  sim.Append(Submit(t0, "0 30 2 * * *", "America/New_York", [](v1::JobSpec& s) {
    s.mutable_schedule()->set_dst_gap(v1::DST_GAP_POLICY_SKIP);
  }));
  sim.AdvanceTo(Utc("2026-03-09T12:00:00Z"));
  EXPECT_EQ(SkippedNominals(sim), std::vector<std::string>{"2026-03-08T02:30:00"});
  EXPECT_EQ(Fires(sim), (std::vector<Fire>{{"2026-03-09T02:30:00", 1, "2026-03-09T06:30:00Z"}}));

  TimePoint t1 = Utc("2026-10-31T12:00:00Z");
  SimulatedScheduler both(t1);
  both.Append(Submit(t1, "0 30 1 * * *", "America/New_York", [](v1::JobSpec& s) {
    s.mutable_schedule()->set_dst_overlap(v1::DST_OVERLAP_POLICY_BOTH);
  }));
  both.AdvanceTo(Utc("2026-11-01T12:00:00Z"));
  EXPECT_EQ(Fires(both), (std::vector<Fire>{{"2026-11-01T01:30:00", 1, "2026-11-01T05:30:00Z"},
                                            {"2026-11-01T01:30:00", 2, "2026-11-01T06:30:00Z"}}));
}

TEST(SimulatedSchedulerDst, BerlinCoalescesShiftedTimesIntoOneFire) {
  // 2026-03-29 02:00 -> 03:00 CEST: 02:00 and 02:30 shift onto 03:00, which
  // also fires on its own: one fire, three nominal times.
  TimePoint t0 = Utc("2026-03-28T23:00:00Z");
  SimulatedScheduler sim(t0);
  sim.Append(Submit(t0, "0 0,30 2,3 * * *", "Europe/Berlin"));
  sim.AdvanceTo(Utc("2026-03-29T02:00:00Z"));
  auto due = sim.EventsOf(kJob, "RunDue");
  ASSERT_EQ(due.size(), 2u);
  EXPECT_EQ(due[0].run_due().nominal_time(), "2026-03-29T02:00:00");
  EXPECT_EQ(FormatRfc3339(FromProto(due[0].run_due().scheduled_for())), "2026-03-29T01:00:00.000Z");
  EXPECT_EQ(due[0].run_due().coalesced(), 3);
  EXPECT_EQ(due[1].run_due().nominal_time(), "2026-03-29T03:30:00");
  // Autumn, 2026-10-25 03:00 -> 02:00: 02:30 (fixed time) fires once.
  TimePoint t1 = Utc("2026-10-24T22:00:00Z");
  SimulatedScheduler fall(t1);
  fall.Append(Submit(t1, "0 30 2 * * *", "Europe/Berlin"));
  fall.AdvanceTo(Utc("2026-10-25T12:00:00Z"));
  EXPECT_EQ(Fires(fall), (std::vector<Fire>{{"2026-10-25T02:30:00", 1, "2026-10-25T00:30:00Z"}}));
}

TEST(SimulatedSchedulerDst, LordHoweHalfHourShift) {
  // 2026-10-04 02:00 -> 02:30 (+10:30 -> +11): 02:15 does not exist.
  TimePoint t0 = Utc("2026-10-03T14:00:00Z");  // 00:30 local
  SimulatedScheduler sim(t0);
  sim.Append(Submit(t0, "0 */15 * * * *", "Australia/Lord_Howe"));
  sim.AdvanceTo(Utc("2026-10-03T15:50:00Z"));  // 02:50 local (+11)
  EXPECT_EQ(SkippedNominals(sim),
            (std::vector<std::string>{"2026-10-04T02:00:00", "2026-10-04T02:15:00"}));
  std::vector<std::string> nominals;
  for (const Fire& f : Fires(sim)) nominals.push_back(f.nominal);
  EXPECT_EQ(nominals, (std::vector<std::string>{"2026-10-04T00:45:00", "2026-10-04T01:00:00",
                                                "2026-10-04T01:15:00", "2026-10-04T01:30:00",
                                                "2026-10-04T01:45:00", "2026-10-04T02:30:00",
                                                "2026-10-04T02:45:00"}));
  // 2026-04-05 02:00 -> 01:30 (+11 -> +10:30): 01:30-02:00 happens twice.
  TimePoint t1 = Utc("2026-04-04T14:10:00Z");  // 01:10 local (+11)
  SimulatedScheduler fall(t1);
  fall.Append(Submit(t1, "0 */15 * * * *", "Australia/Lord_Howe"));
  fall.AdvanceTo(Utc("2026-04-04T15:20:00Z"));  // 01:50 local (+10:30)
  EXPECT_EQ(Fires(fall), (std::vector<Fire>{{"2026-04-05T01:15:00", 1, "2026-04-04T14:15:00Z"},
                                            {"2026-04-05T01:30:00", 1, "2026-04-04T14:30:00Z"},
                                            {"2026-04-05T01:45:00", 1, "2026-04-04T14:45:00Z"},
                                            {"2026-04-05T01:30:00", 2, "2026-04-04T15:00:00Z"},
                                            {"2026-04-05T01:45:00", 2, "2026-04-04T15:15:00Z"}}));
}

Envelope SubmitOneOff(TimePoint at, std::optional<TimePoint> run_at, int max_retries = 0,
                      int64_t fixed_delay_ms = 0) {
  Envelope e = events::MakeEnvelope(ids::EventId("JobSubmitted", kJob, ""), kJob,
                                    {"api", at, "corr", ""});
  auto* spec = e.mutable_job_submitted()->mutable_spec();
  spec->set_type(v1::JOB_TYPE_ECHO);
  spec->set_max_retries(max_retries);
  if (run_at) *spec->mutable_run_at() = ToProto(*run_at);
  if (fixed_delay_ms > 0) {
    spec->mutable_retry_policy()->set_strategy(v1::RETRY_STRATEGY_FIXED);
    spec->mutable_retry_policy()->set_base_delay_ms(fixed_delay_ms);
  }
  return e;
}

TEST(SimulatedScheduler, DelayedOneOffJobWaitsForItsTime) {
  TimePoint t0 = Utc("2026-06-01T00:00:00Z");
  SimulatedScheduler::Options o;
  o.executor_enabled = false;  // the run stays due: we look at the scheduler only
  SimulatedScheduler sim(t0, o);
  sim.Append(SubmitOneOff(t0, t0 + seconds(60)));
  sim.AdvanceTo(t0 + seconds(60) - milliseconds(1));
  EXPECT_TRUE(sim.EventsOf(kJob, "RunDue").empty());
  EXPECT_EQ(sim.Find(kJob)->status(), v1::JOB_STATUS_SCHEDULED);
  sim.AdvanceTo(t0 + seconds(60));
  auto due = sim.EventsOf(kJob, "RunDue");
  ASSERT_EQ(due.size(), 1u);
  EXPECT_EQ(FromProto(due[0].occurred_at()), t0 + seconds(60)) << "decided on time";
  EXPECT_EQ(FromProto(due[0].run_due().scheduled_for()), t0 + seconds(60));
  EXPECT_EQ(sim.Find(kJob)->status(), v1::JOB_STATUS_QUEUED);
}

TEST(SimulatedScheduler, FailedOneOffRunIsRetriedAfterItsBackoffThenDead) {
  TimePoint t0 = Utc("2026-06-01T00:00:00Z");
  SimulatedScheduler::Options o;
  o.runs_succeed = false;
  SimulatedScheduler sim(t0, o);
  sim.Append(SubmitOneOff(t0, std::nullopt, /*max_retries=*/1, /*fixed_delay_ms=*/5000));
  sim.AdvanceTo(t0);
  auto retry = sim.EventsOf(kJob, "RetryScheduled");
  ASSERT_EQ(retry.size(), 1u);
  EXPECT_EQ(FromProto(retry[0].retry_scheduled().retry_at()), t0 + seconds(5))
      << "from the run's end";
  EXPECT_EQ(sim.Find(kJob)->status(), v1::JOB_STATUS_RETRYING);
  sim.AdvanceTo(t0 + seconds(5) - milliseconds(1));
  EXPECT_EQ(sim.EventsOf(kJob, "RunDue").size(), 1u) << "not before its time";
  sim.AdvanceTo(t0 + seconds(5));
  ASSERT_EQ(sim.EventsOf(kJob, "RunDue").size(), 2u);
  EXPECT_EQ(sim.Find(kJob)->status(), v1::JOB_STATUS_DEAD);
  EXPECT_EQ(sim.Find(kJob)->summary().attempts(), 2);
  EXPECT_EQ(sim.EventsOf(kJob, "JobDead").size(), 1u);
}

TEST(SimulatedScheduler, CanceledBeforeRunAtNeverRuns) {
  TimePoint t0 = Utc("2026-06-01T00:00:00Z");
  SimulatedScheduler sim(t0);
  sim.Append(SubmitOneOff(t0, t0 + seconds(30)));
  sim.Append(Request(t0 + seconds(1), "CancelRequested"));
  EXPECT_EQ(sim.Find(kJob)->status(), v1::JOB_STATUS_CANCELED);
  sim.AdvanceTo(t0 + seconds(31));
  EXPECT_TRUE(sim.EventsOf(kJob, "RunDue").empty());
}

TEST(SimulatedScheduler, OneOffJobIsTheCaseOfOneFire) {
  TimePoint t0 = Utc("2026-06-01T00:00:00Z");
  SimulatedScheduler sim(t0);
  sim.Append(SubmitOneOff(t0, t0 + minutes(5)));
  sim.AdvanceTo(t0 + minutes(10));
  auto due = sim.EventsOf(kJob, "RunDue");
  ASSERT_EQ(due.size(), 1u);
  EXPECT_EQ(FromProto(due[0].run_due().scheduled_for()), t0 + minutes(5));
  EXPECT_EQ(due[0].run_due().fire_id(), ids::OnceFireId(kJob));
  EXPECT_EQ(sim.Find(kJob)->status(), v1::JOB_STATUS_SUCCEEDED);
}

}  // namespace
}  // namespace jobsched::testing
