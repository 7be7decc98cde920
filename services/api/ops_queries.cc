#include "services/api/ops_queries.h"

#include <map>
#include <vector>

#include "services/api/cursor.h"
#include "services/api/sql_text.h"

namespace jobsched::api {
namespace {

using nlohmann::json;
using sql::Micros;
using sql::Millis;

json MillisOrNull(const pqxx::field& f) {
  return f.is_null() ? json(nullptr) : json(FormatRfc3339(FromUnixMillis(f.as<int64_t>())));
}

json TextOrNull(const pqxx::field& f) {
  return f.is_null() ? json(nullptr) : json(f.as<std::string>());
}

// A jsonb column's text, parsed (ours: always valid JSON).
json JsonField(const pqxx::field& f) {
  json v = json::parse(f.as<std::string>(), nullptr, /*allow_exceptions=*/false);
  return v.is_discarded() ? json::object() : v;
}

// Integral amounts as integers ({"cpu": 4}, not 4.0), as in the job view.
json IntegralNumbers(json object) {
  for (auto& [name, value] : object.items()) {
    if (value.is_number_float()) {
      double d = value.get<double>();
      if (d == static_cast<double>(static_cast<int64_t>(d))) value = static_cast<int64_t>(d);
    }
  }
  return object;
}

}  // namespace

json ListExecutors(pqxx::connection& c, TimePoint now, std::chrono::milliseconds timeout) {
  pqxx::read_transaction tx(c);
  pqxx::result rows = tx.exec(
      "SELECT executor_id, host, pool, slots, resources::text, running, held_runs, incarnation,"
      " task_partition, " +
      Millis("started_at") + ", " + Millis("last_heartbeat") +
      ", stopping FROM executors ORDER BY executor_id");
  json executors = json::array();
  for (const auto& row : rows) {
    const TimePoint last = FromUnixMillis(row[10].as<int64_t>());
    const bool stopping = row[11].as<bool>();
    const bool stale = stopping || now - last > timeout;
    executors.push_back({{"id", row[0].as<std::string>()},
                         {"host", row[1].as<std::string>()},
                         {"pool", row[2].as<std::string>()},
                         {"capacity",
                          {{"slots", row[3].as<int>()},
                           {"resources", IntegralNumbers(JsonField(row[4]))}}},
                         {"slots", row[3].as<int>()},
                         {"resources", IntegralNumbers(JsonField(row[4]))},
                         {"running", row[5].as<int>()},
                         {"held_runs", row[6].as<int>()},
                         {"incarnation", row[7].as<std::string>()},
                         {"task_partition", row[8].as<int>()},
                         {"started_at", MillisOrNull(row[9])},
                         {"last_heartbeat", FormatRfc3339(last)},
                         {"stopping", stopping},
                         {"status", stale ? "STALE" : "ACTIVE"}});
  }
  return json{{"executors", std::move(executors)}};
}

json QueueStats(pqxx::connection& c) {
  pqxx::read_transaction tx(c);
  // The WHERE clause is jobs_in_flight_idx's predicate: only jobs with runs
  // in flight are read, however many jobs have ever run.
  constexpr char kInFlight[] = "(queued_runs > 0 OR running_runs > 0 OR retrying_runs > 0)";
  pqxx::result groups = tx.exec(
      std::string("SELECT priority, pool, sum(queued_runs), sum(running_runs),"
                  " sum(retrying_runs) FROM jobs WHERE ") +
      kInFlight + " GROUP BY priority, pool");
  std::map<int, int64_t> by_priority;
  std::map<std::string, int64_t> by_pool;
  int64_t queued = 0, running = 0, retrying = 0;
  for (const auto& row : groups) {
    const int64_t q = row[2].as<int64_t>();
    if (q > 0) {
      by_priority[row[0].as<int>()] += q;
      by_pool[row[1].as<std::string>()] += q;
    }
    queued += q;
    running += row[3].as<int64_t>();
    retrying += row[4].as<int64_t>();
  }
  json priorities = json::object();
  for (auto it = by_priority.rbegin(); it != by_priority.rend(); ++it) {
    priorities[std::to_string(it->first)] = it->second;
  }
  json pools = json::object();
  for (const auto& [pool, n] : by_pool) pools[pool] = n;
  const int64_t dead =
      tx.exec("SELECT count(*) FROM jobs WHERE status = 'DEAD'")[0][0].as<int64_t>();
  json reasons = json::array();
  for (const auto& row :
       tx.exec(std::string("SELECT queue_reason, count(*) FROM jobs WHERE ") + kInFlight +
               " AND queued_runs > 0 AND queue_reason IS NOT NULL"
               " GROUP BY queue_reason ORDER BY count(*) DESC, queue_reason LIMIT 100")) {
    reasons.push_back({{"reason", row[0].as<std::string>()}, {"count", row[1].as<int64_t>()}});
  }
  return json{{"queued", {{"by_priority", std::move(priorities)},
                          {"by_pool", std::move(pools)},
                          {"total", queued}}},
              {"running", running},
              {"retrying", retrying},
              {"dead", dead},
              {"waiting_reasons", std::move(reasons)}};
}

json DeadLettersPage(pqxx::connection& c, const DeadLettersQuery& query) {
  std::vector<std::string> params;
  std::string sql =
      "SELECT d.job_id::text, d.name, d.type, d.pool, d.priority, j.status, d.last_run_id::text,"
      " d.attempts, d.reason, d.last_error, " +
      Millis("d.dead_at") + ", " + Millis("d.requeued_at") + ", d.requeues, " +
      Micros("d.dead_at") + " FROM dead_letters d LEFT JOIN jobs j ON j.job_id = d.job_id WHERE " +
      (query.include_requeued ? "true" : "d.requeued_at IS NULL");
  sql::AppendNewestFirstPage(sql, params, "d.dead_at", "d.job_id",
                             query.cursor ? &query.cursor->dead_at : nullptr,
                             query.cursor ? &query.cursor->job_id : nullptr, query.limit);
  pqxx::read_transaction tx(c);
  pqxx::result rows = tx.exec_params(sql, pqxx::prepare::make_dynamic_params(params));
  return sql::NewestFirstPage(
      rows, query.limit, "dead_letters",
      [](const pqxx::row& row) -> json {
        return {{"job_id", row[0].as<std::string>()},
                {"name", row[1].as<std::string>()},
                {"type", row[2].as<std::string>()},
                {"pool", row[3].as<std::string>()},
                {"priority", row[4].as<int>()},
                {"status", TextOrNull(row[5])},
                {"last_run_id", TextOrNull(row[6])},
                {"attempts", row[7].as<int>()},
                {"reason", TextOrNull(row[8])},
                {"last_error", TextOrNull(row[9])},
                {"dead_at", MillisOrNull(row[10])},
                {"requeued_at", MillisOrNull(row[11])},
                {"requeues", row[12].as<int>()}};
      },
      [](const pqxx::row& last) {
        return EncodeDeadLetterCursor({last[13].as<std::string>(), last[0].as<std::string>()});
      });
}

}  // namespace jobsched::api
