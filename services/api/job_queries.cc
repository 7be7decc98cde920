#include "services/api/job_queries.h"

#include <stdexcept>
#include <vector>

#include "events/fold.h"
#include "events/ids.h"
#include "services/api/job_spec.h"
#include "services/api/job_view.h"
#include "services/api/sql_text.h"
#include "services/api/why.h"

namespace jobsched::api {
namespace {

using nlohmann::json;
using sql::Micros;
using sql::Millis;
using sql::Param;

std::string Bytes(const pqxx::field& field) {
  pqxx::binarystring bytes(field);
  return std::string(bytes.get(), bytes.size());
}

v1::JobState DecodeFoldState(const pqxx::field& field) {
  v1::JobState state;
  if (!state.ParseFromString(Bytes(field))) {
    throw std::runtime_error("jobs.fold_state is not a jobsched.v1.JobState");
  }
  return state;
}

events::Envelope DecodeLogEnvelope(const pqxx::field& field) {
  auto e = events::DecodeEnvelope(Bytes(field));
  if (!e.ok()) throw std::runtime_error("job_logs.envelope: " + e.status().message());
  return std::move(e).value();
}

template <typename T>
std::optional<T> OptionalField(const pqxx::field& f) {
  if (f.is_null()) return std::nullopt;
  return f.as<T>();
}

std::optional<TimePoint> OptionalMillis(const pqxx::field& f) {
  if (f.is_null()) return std::nullopt;
  return FromUnixMillis(f.as<int64_t>());
}

bool JobExists(pqxx::transaction_base& tx, const std::string& job_id) {
  return !tx.exec_params("SELECT 1 FROM jobs WHERE job_id = $1::uuid", job_id).empty();
}

// Status and attempt count of the latest attempt of fire `fire_id`'s run.
// Attempts' run ids derive from (job, fire, attempt): primary-key lookups.
void AddRunOutcome(pqxx::transaction_base& tx, const std::string& job_id,
                   const std::string& fire_id, json& answer) {
  std::vector<std::string> params = {job_id};
  std::string ids;
  for (int k = 1; k <= kMaxRetries + 1; ++k) {
    ids += (ids.empty() ? "" : ", ") + Param(params, ids::RunId(job_id, fire_id, k)) + "::uuid";
  }
  pqxx::result rows = tx.exec_params(
      "SELECT attempt, status FROM job_executions WHERE job_id = $1::uuid AND run_id IN (" + ids +
          ") ORDER BY attempt DESC LIMIT 1",
      pqxx::prepare::make_dynamic_params(params));
  answer["status"] =
      rows.empty() ? json(nullptr) : json(ExecutionStatusName(rows[0][1].as<std::string>()));
  answer["attempts"] = rows.empty() ? json(nullptr) : json(rows[0][0].as<int>());
}

}  // namespace

std::optional<v1::JobState> LoadJob(pqxx::connection& c, const std::string& job_id) {
  pqxx::read_transaction tx(c);
  pqxx::result rows = tx.exec_params("SELECT fold_state FROM jobs WHERE job_id = $1::uuid", job_id);
  if (rows.empty()) return std::nullopt;
  return DecodeFoldState(rows[0][0]);
}

std::map<std::string, v1::JobState> LoadJobs(pqxx::connection& c,
                                             const std::vector<std::string>& job_ids) {
  std::map<std::string, v1::JobState> out;
  if (job_ids.empty()) return out;
  std::string array = "{";  // the ids are UUIDs: nothing to quote or escape
  for (const std::string& id : job_ids) array += (array.size() > 1 ? "," : "") + id;
  array += "}";
  pqxx::read_transaction tx(c);
  pqxx::result rows = tx.exec_params(
      "SELECT job_id::text, fold_state FROM jobs WHERE job_id = ANY($1::uuid[])", array);
  for (const auto& row : rows) out.emplace(row[0].as<std::string>(), DecodeFoldState(row[1]));
  return out;
}

ProjectedJob LoadProjectedJob(pqxx::connection& c, const std::string& job_id,
                              const std::string& projection, const std::string& topic,
                              int32_t partition) {
  pqxx::read_transaction tx(c);
  // One statement: one snapshot of both tables.
  pqxx::result rows = tx.exec_params(
      "SELECT (SELECT next_offset FROM projection_offsets"
      "         WHERE projection = $2 AND topic = $3 AND partition = $4),"
      "       (SELECT fold_state FROM jobs WHERE job_id = $1::uuid)",
      job_id, projection, topic, partition);
  ProjectedJob out;
  if (!rows[0][0].is_null()) out.next_offset = rows[0][0].as<int64_t>();
  if (!rows[0][1].is_null()) out.state = DecodeFoldState(rows[0][1]);
  return out;
}

json ListJobsPage(pqxx::connection& c, const JobListQuery& query) {
  std::vector<std::string> params;
  std::string sql = "SELECT fold_state, job_id::text, " + Micros("created_at") +
                    " FROM jobs WHERE status <> 'DELETED'";
  if (!query.status.empty()) sql += " AND status = " + Param(params, query.status);
  sql::AppendNewestFirstPage(sql, params, "created_at", "job_id",
                             query.cursor ? &query.cursor->created_at : nullptr,
                             query.cursor ? &query.cursor->job_id : nullptr, query.limit);
  pqxx::read_transaction tx(c);
  pqxx::result rows = tx.exec_params(sql, pqxx::prepare::make_dynamic_params(params));
  return sql::NewestFirstPage(
      rows, query.limit, "jobs",
      [](const pqxx::row& row) { return RenderJob(DecodeFoldState(row[0])); },
      [](const pqxx::row& last) {
        return EncodeCursor({last[2].as<std::string>(), last[1].as<std::string>()});
      });
}

std::optional<json> ExecutionsPage(pqxx::connection& c, const std::string& job_id,
                                   const ExecutionsQuery& query) {
  pqxx::read_transaction tx(c);
  if (!JobExists(tx, job_id)) return std::nullopt;
  std::vector<std::string> params = {job_id};
  std::string sql = "SELECT run_id::text, attempt, status, " + Millis("scheduled_for") + ", " +
                    Millis("started_at") + ", " + Millis("finished_at") +
                    ", http_status, duration_ms, error, executor_id, fire_id::text, kind, "
                    "nominal_time, drift_ms, " +
                    Micros("due_at") +
                    ", lease_epoch, releases, permanent, retry_after_ms, wait_reason"
                    " FROM job_executions WHERE job_id = $1::uuid AND due_at IS NOT NULL";
  if (query.cursor) {
    std::string due = Param(params, query.cursor->due_at) + "::timestamptz";
    std::string attempt = Param(params, std::to_string(query.cursor->attempt)) + "::int";
    std::string run = Param(params, query.cursor->run_id) + "::uuid";
    // The first condition lets the (job_id, due_at) index start at the cursor.
    sql += " AND due_at <= " + due + " AND (due_at, attempt, run_id) < (" + due + ", " + attempt +
           ", " + run + ")";
  }
  sql +=
      " ORDER BY due_at DESC, attempt DESC, run_id DESC LIMIT " + std::to_string(query.limit + 1);
  pqxx::result rows = tx.exec_params(sql, pqxx::prepare::make_dynamic_params(params));
  json executions = json::array();
  json next = nullptr;
  for (pqxx::result::size_type i = 0; i < rows.size(); ++i) {
    const auto& row = rows[i];
    if (static_cast<int>(i) == query.limit) {
      const auto& last = rows[i - 1];
      next = EncodeExecutionCursor(
          {last[14].as<std::string>(), last[1].as<int>(), last[0].as<std::string>()});
      break;
    }
    ExecutionRow e;
    e.run_id = row[0].as<std::string>();
    e.attempt = row[1].as<int>();
    e.status = row[2].as<std::string>();
    e.scheduled_for = OptionalMillis(row[3]);
    e.started_at = OptionalMillis(row[4]);
    e.finished_at = OptionalMillis(row[5]);
    e.http_status = OptionalField<int>(row[6]);
    e.duration_ms = OptionalField<int64_t>(row[7]);
    e.error = OptionalField<std::string>(row[8]);
    e.executor_id = OptionalField<std::string>(row[9]);
    e.fire_id = OptionalField<std::string>(row[10]);
    e.kind = OptionalField<std::string>(row[11]);
    e.nominal_time = OptionalField<std::string>(row[12]);
    e.drift_ms = OptionalField<int64_t>(row[13]);
    e.lease_epoch = row[15].as<int64_t>();
    e.releases = row[16].as<int>();
    e.permanent = row[17].as<bool>();
    e.retry_after_ms = OptionalField<int64_t>(row[18]).value_or(0);
    e.wait_reason = OptionalField<std::string>(row[19]);
    executions.push_back(RenderExecution(e));
  }
  return json{{"executions", std::move(executions)}, {"next_cursor", std::move(next)}};
}

std::optional<json> JobStats(pqxx::connection& c, const std::string& job_id) {
  pqxx::read_transaction tx(c);
  pqxx::result job = tx.exec_params("SELECT fold_state FROM jobs WHERE job_id = $1::uuid", job_id);
  if (job.empty()) return std::nullopt;
  v1::JobState state = DecodeFoldState(job[0][0]);
  auto pct = [](const char* p, const char* column) {
    return std::string("percentile_disc(") + p + ") WITHIN GROUP (ORDER BY " + column + ")";
  };
  pqxx::result rows = tx.exec_params(
      "WITH w AS (SELECT duration_ms, drift_ms FROM job_executions"
      " WHERE job_id = $1::uuid AND due_at IS NOT NULL"
      " AND status IN ('SUCCEEDED', 'FAILED', 'TIMED_OUT')"
      " ORDER BY due_at DESC, attempt DESC LIMIT " +
          std::to_string(kStatsWindow) + ") SELECT count(*), " + pct("0.5", "duration_ms") + ", " +
          pct("0.99", "duration_ms") + ", max(duration_ms), " + pct("0.5", "drift_ms") + ", " +
          pct("0.99", "drift_ms") + ", max(drift_ms) FROM w",
      job_id);
  const auto& r = rows[0];
  StatsWindow window;
  window.attempts = r[0].as<int64_t>();
  window.duration_ms = {OptionalField<int64_t>(r[1]), OptionalField<int64_t>(r[2]),
                        OptionalField<int64_t>(r[3])};
  window.drift_ms = {OptionalField<int64_t>(r[4]), OptionalField<int64_t>(r[5]),
                     OptionalField<int64_t>(r[6])};
  return RenderStats(state, window);
}

std::optional<json> LogsPage(pqxx::connection& c, const std::string& job_id,
                             const LogsQuery& query) {
  pqxx::read_transaction tx(c);
  if (!JobExists(tx, job_id)) return std::nullopt;
  std::vector<std::string> params = {job_id};
  std::string sql = "SELECT kafka_offset, " + Millis("ts") +
                    ", level, event_type, outcome, message, event_id::text, run_id::text"
                    " FROM job_logs WHERE job_id = $1::uuid";
  if (query.before_offset) {
    sql +=
        " AND kafka_offset < " + Param(params, std::to_string(*query.before_offset)) + "::bigint";
  }
  if (!query.levels.empty()) {
    std::string in;
    for (const std::string& level : query.levels) {
      in += (in.empty() ? "" : ", ") + Param(params, level);
    }
    sql += " AND level IN (" + in + ")";
  }
  if (query.since) {
    sql += " AND ts >= " + Param(params, FormatRfc3339(*query.since)) + "::timestamptz";
  }
  if (query.until) {
    sql += " AND ts < " + Param(params, FormatRfc3339(*query.until)) + "::timestamptz";
  }
  if (!query.event_type.empty()) sql += " AND event_type = " + Param(params, query.event_type);
  sql += " ORDER BY kafka_offset DESC LIMIT " + std::to_string(query.limit + 1);
  pqxx::result rows = tx.exec_params(sql, pqxx::prepare::make_dynamic_params(params));
  json logs = json::array();
  json next = nullptr;
  for (pqxx::result::size_type i = 0; i < rows.size(); ++i) {
    const auto& row = rows[i];
    if (static_cast<int>(i) == query.limit) {
      next = EncodeLogCursor(rows[i - 1][0].as<int64_t>());
      break;
    }
    LogRow l;
    l.offset = row[0].as<int64_t>();
    l.ts = FromUnixMillis(row[1].as<int64_t>());
    l.level = row[2].as<std::string>();
    l.event_type = row[3].as<std::string>();
    l.outcome = row[4].as<std::string>();
    l.message = row[5].as<std::string>();
    l.event_id = row[6].as<std::string>();
    l.run_id = OptionalField<std::string>(row[7]);
    logs.push_back(RenderLog(l));
  }
  return json{{"logs", std::move(logs)}, {"next_cursor", std::move(next)}};
}

std::optional<json> ExplainAt(pqxx::connection& c, const std::string& job_id, TimePoint at,
                              TimePoint now) {
  pqxx::read_transaction tx(c);
  pqxx::result job = tx.exec_params("SELECT fold_state FROM jobs WHERE job_id = $1::uuid", job_id);
  if (job.empty()) return std::nullopt;
  WhyFacts facts;
  facts.at = at;
  facts.now = now;
  facts.current = DecodeFoldState(job[0][0]);

  pqxx::result lifecycle = tx.exec_params(
      "SELECT envelope FROM job_logs WHERE job_id = $1::uuid AND outcome = 'applied'"
      " AND event_type IN ('JobSubmitted', 'JobUpdated', 'PauseRequested', 'ResumeRequested',"
      " 'CancelRequested', 'JobCanceled', 'JobCompleted', 'JobSucceeded', 'JobDead',"
      " 'DeleteRequested') ORDER BY kafka_offset",
      job_id);
  for (const auto& row : lifecycle) facts.lifecycle.push_back(DecodeLogEnvelope(row[0]));

  const TimePoint second = std::chrono::floor<std::chrono::seconds>(at);
  const std::string from = FormatRfc3339(second);
  const std::string to = FormatRfc3339(second + std::chrono::seconds(1));
  pqxx::result at_t = tx.exec_params(
      "SELECT envelope FROM job_logs WHERE job_id = $1::uuid AND scheduled_for IS NOT NULL"
      " AND scheduled_for >= $2::timestamptz AND scheduled_for < $3::timestamptz"
      " AND outcome = 'applied'"
      " AND event_type IN ('RunDue', 'FireSkipped') ORDER BY kafka_offset",
      job_id, from, to);
  for (const auto& row : at_t) facts.slots.push_back(DecodeLogEnvelope(row[0]));
  // The slot record before T's second: a skip that began earlier may cover T.
  // Retries and manual runs (RunDue rows too) lie between slots, never inside
  // a skip's range of slots, so the first scheduled fire or skip found going
  // back decides; two, as a fire and a skip may share an instant (a DST gap).
  // Ordered by the index alone (job_logs_job_slot_idx), so the scan stops
  // there.
  pqxx::result before = tx.exec_params(
      "SELECT envelope FROM job_logs WHERE job_id = $1::uuid AND scheduled_for IS NOT NULL"
      " AND scheduled_for < $2::timestamptz AND outcome = 'applied'"
      " AND (event_type = 'FireSkipped' OR (event_type = 'RunDue'"
      " AND fields->'run_due'->>'attempt' = '1'"
      " AND coalesce(fields->'run_due'->>'kind', '') <> 'FIRE_KIND_MANUAL'))"
      " ORDER BY scheduled_for DESC LIMIT 2",
      job_id, from);
  for (const auto& row : before) facts.slots.push_back(DecodeLogEnvelope(row[0]));

  WhyVerdict verdict = ExplainWhy(facts);
  json answer = RenderWhy(at, verdict);
  if (verdict.verdict == "fired")
    AddRunOutcome(tx, facts.current.job_id(), verdict.fire_id, answer);
  return answer;
}

}  // namespace jobsched::api
