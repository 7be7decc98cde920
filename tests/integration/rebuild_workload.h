// A varied workload of job-events and heartbeats for the rebuild and
// kill -9 tests: one-off successes, retries, dead jobs (one requeued),
// cancels, a recurring job's fires and skips, a workflow with dependencies,
// redelivered and rejected events, an undecodable record, and executors'
// heartbeats. Built like the services build them (deterministic ids).
#pragma once

#include <ctime>
#include <string>
#include <utility>
#include <vector>

#include "events/envelope.h"
#include "events/event_log.h"
#include "events/ids.h"
#include "events/job_schedule.h"
#include "tests/unit/fold_test_util.h"
#include "tests/unit/workflow_events_util.h"

namespace jobsched::testing::rebuild {

// One record to append: topic, key, value.
struct Item {
  std::string topic;
  std::string key;
  std::string value;
};

inline Item Event(const std::string& topic, const events::Envelope& e) {
  return {topic, e.job_id(), events::Encode(e)};
}

// Events of a recurring job ("* * * * * *", forbid overlap), ids as the
// scheduler derives them.
class RecurringJob {
 public:
  RecurringJob(std::string job_id, TimePoint t0) : job_(std::move(job_id)), t0_(t0) {}

  events::Envelope Make(std::string_view type, std::string_view cause, TimePoint at) const {
    return events::MakeEnvelope(ids::EventId(type, job_, cause), job_, {"test", at, "corr", ""});
  }
  events::Envelope Submitted() const {
    events::Envelope e = Make("JobSubmitted", "", t0_);
    v1::JobSpec* spec = e.mutable_job_submitted()->mutable_spec();
    spec->set_name("every second");
    spec->set_type(v1::JOB_TYPE_ECHO);
    spec->set_max_retries(1);
    spec->mutable_schedule()->set_cron("* * * * * *");
    spec->mutable_schedule()->set_concurrency_policy(v1::CONCURRENCY_POLICY_FORBID);
    return e;
  }
  events::JobSlot Slot(int k) const {
    events::JobSlot s;
    s.at = t0_ + std::chrono::seconds(k);
    std::time_t tt = static_cast<std::time_t>(ToUnixMillis(s.at) / 1000);
    std::tm tm{};
    gmtime_r(&tt, &tm);
    char buf[64];
    std::snprintf(buf, sizeof buf, "%04d-%02d-%02dT%02d:%02d:%02d", tm.tm_year + 1900,
                  tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec);
    s.nominal_time = buf;
    s.fire_id = ids::FireId(job_, s.nominal_time, 1);
    return s;
  }
  std::string Run(int k) const { return ids::RunId(job_, Slot(k).fire_id, 1); }
  events::Envelope Due(int k, int after) const {
    events::JobSlot s = Slot(k);
    events::Envelope e = Make("RunDue", Run(k), s.at);
    v1::RunDue* d = e.mutable_run_due();
    d->set_run_id(Run(k));
    d->set_attempt(1);
    *d->mutable_scheduled_for() = ToProto(s.at);
    d->set_fire_id(s.fire_id);
    d->set_nominal_time(s.nominal_time);
    d->set_occurrence(1);
    d->set_kind(v1::FIRE_KIND_SCHEDULED);
    d->set_after_fire_id(after == 0 ? "" : Slot(after).fire_id);
    return e;
  }
  events::Envelope Skipped(int first, int last, int after) const {
    events::Envelope e = Make("FireSkipped", Slot(first).fire_id, Slot(last).at);
    v1::FireSkipped* k = e.mutable_fire_skipped();
    k->set_fire_id(Slot(first).fire_id);
    k->set_reason(v1::SKIP_REASON_MISFIRE);
    *k->mutable_scheduled_for() = ToProto(Slot(first).at);
    k->set_nominal_time(Slot(first).nominal_time);
    k->set_last_fire_id(Slot(last).fire_id);
    *k->mutable_last_scheduled_for() = ToProto(Slot(last).at);
    k->set_last_nominal_time(Slot(last).nominal_time);
    k->set_count(last - first + 1);
    k->set_after_fire_id(after == 0 ? "" : Slot(after).fire_id);
    return e;
  }
  events::Envelope Dispatched(int k) const {
    events::Envelope e = Make("RunDispatched", Run(k) + "/1", Slot(k).at);
    e.mutable_run_dispatched()->set_run_id(Run(k));
    e.mutable_run_dispatched()->set_lease_epoch(1);
    e.mutable_run_dispatched()->set_executor_id("exec-1");
    return e;
  }
  events::Envelope Started(int k) const {
    events::Envelope e = Make("RunStarted", Run(k) + "/1", Slot(k).at);
    e.mutable_run_started()->set_run_id(Run(k));
    e.mutable_run_started()->set_lease_epoch(1);
    e.mutable_run_started()->set_executor_id("exec-1");
    return e;
  }
  events::Envelope Succeeded(int k) const {
    events::Envelope e = Make("RunSucceeded", Run(k) + "/1", Slot(k).at + std::chrono::seconds(3));
    e.mutable_run_succeeded()->set_run_id(Run(k));
    e.mutable_run_succeeded()->set_lease_epoch(1);
    e.mutable_run_succeeded()->set_duration_ms(3000);
    return e;
  }

 private:
  std::string job_;
  TimePoint t0_;
};

// Workload number `n` (ids of workload n never collide with another n's),
// its times from T(t). Every job-events record keyed by its job.
inline std::vector<Item> JobEvents(const std::string& topic, int n, int64_t t = 0) {
  std::vector<Item> out;
  auto add = [&](const events::Envelope& e) { out.push_back(Event(topic, e)); };
  const int base = n * 100;

  // A one-off job that succeeds at once, and one that fails, retries, succeeds.
  EventFactory ok(JobId(base + 1));
  for (const events::Envelope& e :
       {ok.Submitted(T(t)), ok.Due(T(t + 1), T(t), 1), ok.Dispatched(T(t + 1), ok.RunId(1)),
        ok.Started(T(t + 2), ok.RunId(1)), ok.Succeeded(T(t + 3), ok.RunId(1)),
        ok.JobSucceeded(T(t + 3), ok.RunId(1))}) {
    add(e);
  }
  std::vector<events::Envelope> retried = Lifecycle(EventFactory(JobId(base + 2)), t);
  for (const events::Envelope& e : retried) add(e);
  add(retried[1]);  // a redelivered RunDue: a "duplicate" row

  // A job that dies and is requeued; one that dies and stays dead.
  for (int j : {3, 4}) {
    EventFactory d(JobId(base + j));
    for (const events::Envelope& e :
         {d.Submitted(T(t), std::nullopt, /*max_retries=*/0), d.Due(T(t + 1), T(t), 1),
          d.Dispatched(T(t + 1), d.RunId(1)), d.Started(T(t + 2), d.RunId(1)),
          d.Failed(T(t + 3), d.RunId(1)), d.Dead(T(t + 4), d.RunId(1))}) {
      add(e);
    }
    if (j == 3) {
      events::Envelope requeued = d.Base("JobRequeued", "1", T(t + 6));
      requeued.mutable_job_requeued()->set_reason("requested through the API");
      add(requeued);
    }
  }
  // A late result for the dead job's run from a stale lease: rejected.
  {
    EventFactory d(JobId(base + 4));
    add(d.Succeeded(T(t + 7), d.RunId(1), /*epoch=*/7));
  }

  // A cancel before it ran.
  EventFactory c(JobId(base + 5));
  for (const events::Envelope& e :
       {c.Submitted(T(t), T(t + 3600)), c.CancelRequested(T(t + 5)), c.Canceled(T(t + 6))}) {
    add(e);
  }

  // A recurring job: slot 1 fires and runs past slots 2..4, which are
  // skipped; slot 5 fires.
  RecurringJob r(JobId(base + 6), T(t));
  for (const events::Envelope& e :
       {r.Submitted(), r.Due(1, 0), r.Dispatched(1), r.Started(1), r.Succeeded(1),
        r.Skipped(2, 4, 1), r.Due(5, 4), r.Dispatched(5)}) {
    add(e);
  }

  // A workflow a → b, a → c: a succeeds, b and c become due.
  WorkflowFactory w(JobId(base + 7), "etl " + std::to_string(n),
                    {{"a", {}}, {"b", {"a"}}, {"c", {"a"}}});
  add(w.Submitted(T(t)));
  for (const events::Envelope& e : w.Expansion(T(t + 1))) add(e);
  add(w.Expanded(T(t + 1)));
  EventFactory a = w.Job("a");
  for (const events::Envelope& e :
       {a.Due(T(t + 2), T(t + 1), 1), a.Dispatched(T(t + 2), a.RunId(1)),
        a.Started(T(t + 2), a.RunId(1)), a.Succeeded(T(t + 3), a.RunId(1)),
        a.JobSucceeded(T(t + 3), a.RunId(1))}) {
    add(e);
  }
  add(w.Notified(T(t + 4), "a", v1::DEPENDENCY_STATUS_SATISFIED, {"b", "c"}));
  add(w.Satisfied(T(t + 4), "b", "a"));
  add(w.Satisfied(T(t + 4), "c", "a"));

  // Bytes that are no event: skipped by the projector (not archived).
  out.push_back({topic, JobId(base + 8), "not a protobuf envelope"});
  return out;
}

// Heartbeats of two executors (the later one wins) and a tombstone.
inline std::vector<Item> Heartbeats(const std::string& topic, int n, int64_t t = 0) {
  std::vector<Item> out;
  for (int i = 0; i < 3; ++i) {
    v1::ExecutorHeartbeat hb;
    hb.set_executor_id("exec-" + std::to_string(n) + "-" + std::to_string(i % 2));
    hb.set_host("host");
    hb.set_slots(4);
    hb.set_running(i);
    (*hb.mutable_resources())["cpu"] = 4;
    hb.set_incarnation("inc-" + std::to_string(i));
    *hb.mutable_started_at() = ToProto(T(t));
    *hb.mutable_sent_at() = ToProto(T(t + i));
    out.push_back({topic, hb.executor_id(), events::Encode(hb)});
  }
  out.push_back({topic, "exec-" + std::to_string(n) + "-gone", ""});
  return out;
}

inline std::vector<events::Record> ToRecords(const std::vector<Item>& items) {
  std::vector<events::Record> out;
  for (const Item& i : items) out.push_back({.topic = i.topic, .key = i.key, .value = i.value});
  return out;
}

}  // namespace jobsched::testing::rebuild
