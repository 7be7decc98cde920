// A varied workload of job-events and heartbeats for the rebuild and
// kill -9 tests: one-off successes, retries, dead jobs (one requeued),
// cancels, a recurring job's fires and skips, a workflow with dependencies,
// redelivered and rejected events, an undecodable record, and executors'
// heartbeats. Built like the services build them (deterministic ids).
// Also: every projection table as text, to compare two databases row by row.
#pragma once

#include <gtest/gtest.h>

#include <algorithm>
#include <map>
#include <pqxx/pqxx>
#include <string>
#include <utility>
#include <vector>

#include "events/envelope.h"
#include "events/event_log.h"
#include "events/ids.h"
#include "events/job_schedule.h"
#include "tests/unit/fold_test_util.h"
#include "tests/unit/recurring_events_util.h"
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
  RecurringEvents r(JobId(base + 6), T(t));
  const auto at = [&](int k) { return r.Slot(k).at; };
  for (const events::Envelope& e :
       {r.Submitted(), r.Due(1, 0), r.Dispatched(r.Run(1), at(1), "exec-1"),
        r.Started(r.Run(1), at(1), "exec-1"),
        r.Succeeded(r.Run(1), at(1) + std::chrono::seconds(3), 3000), r.Skipped(2, 4, 1),
        r.Due(5, 4), r.Dispatched(r.Run(5), at(5), "exec-1")}) {
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

  // Bytes that are no event: archived in undecodable_records, not folded.
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

// Every projection table and its primary key.
inline const std::vector<std::pair<std::string, std::string>>& ProjectionTables() {
  static const std::vector<std::pair<std::string, std::string>> tables = {
      {"jobs", "job_id"},
      {"workflows", "workflow_id"},
      {"job_dependencies", "parent_id, child_id"},
      {"job_executions", "run_id"},
      {"dead_letters", "job_id"},
      {"job_logs", "topic, kafka_partition, kafka_offset"},
      {"undecodable_records", "topic, kafka_partition, kafka_offset"},
      {"executors", "executor_id"},
      {"projection_offsets", "projection, topic, partition"}};
  return tables;
}

// Table → its rows as text (all columns), in primary-key order.
using Snapshot = std::map<std::string, std::vector<std::string>>;

inline Snapshot TakeSnapshot(const std::string& url) {
  pqxx::connection c(url);
  pqxx::nontransaction txn(c);
  Snapshot out;
  for (const auto& [table, key] : ProjectionTables()) {
    std::vector<std::string>& rows = out[table];
    for (const auto& row : txn.exec("SELECT t::text FROM " + table + " t ORDER BY " + key)) {
      rows.push_back(row[0].as<std::string>());
    }
  }
  return out;
}

// Table by table, so a failure names the table and its first differing row.
inline void ExpectSame(const Snapshot& want, const Snapshot& got, const std::string& what) {
  for (const auto& [table, rows] : want) {
    const std::vector<std::string>& other = got.at(table);
    EXPECT_EQ(other.size(), rows.size()) << what << ": " << table;
    for (size_t i = 0; i < std::min(rows.size(), other.size()); ++i) {
      if (rows[i] != other[i]) {
        ADD_FAILURE() << what << ": " << table << " row " << i << "\n want " << rows[i]
                      << "\n  got " << other[i];
        break;
      }
    }
  }
}

inline int64_t QueryInt(const std::string& url, const std::string& sql) {
  pqxx::connection c(url);
  pqxx::nontransaction txn(c);
  return txn.exec(sql)[0][0].as<int64_t>();
}

// Records projected so far: the sum of a projection's stored next offsets.
inline int64_t StoredSum(const std::string& url, const std::string& projection) {
  return QueryInt(url, "SELECT coalesce(sum(next_offset), 0) FROM projection_offsets"
                       " WHERE projection = '" + projection + "'");
}

}  // namespace jobsched::testing::rebuild
