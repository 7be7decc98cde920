#include "projections/pg_projection_store.h"

#include <algorithm>
#include <cctype>
#include <cmath>
#include <optional>
#include <set>
#include <stdexcept>
#include <tuple>
#include <unordered_map>

#include <nlohmann/json.hpp>
#include <pqxx/pqxx>

#include "events/fold.h"
#include "events/ids.h"
#include "projections/describe.h"
#include "projections/migrations.h"
#include "projections/pg_copy.h"
#include "projections/pg_internal.h"

namespace jobsched::projections {
namespace {

using internal::PgJson;
using internal::PgText;

constexpr size_t kIdsPerSelect = 1000;

// Thrown inside a Write transaction to roll it back as a fencing conflict.
class OffsetConflict : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

std::string Lower(std::string_view s) {
  std::string out(s);
  std::transform(out.begin(), out.end(), out.begin(),
                 [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  return out;
}

// Rows travel with binary COPY (pg_copy.h). Rows that cannot exist yet (a
// job or run the batch created, every job_logs record) are copied straight
// into their table; the others are copied into session-local temporary
// stage tables shaped like the targets (created once per connection, emptied
// at every commit) and merged with one INSERT … SELECT … ON CONFLICT per
// table. One statement per table per batch, whatever the batch's size.
struct Table {
  std::string name;
  std::string stage;
  std::vector<std::string> columns;
  std::string conflict;  // the ON CONFLICT clause
};

std::string Join(const std::vector<std::string>& columns) {
  std::string out;
  for (const std::string& c : columns) {
    if (!out.empty()) out += ", ";
    out += c;
  }
  return out;
}

// "ON CONFLICT (key) DO UPDATE SET c = EXCLUDED.c, ..." for every non-key column.
std::string UpsertClause(const std::vector<std::string>& columns, const std::string& key) {
  std::string out = "ON CONFLICT (" + key + ") DO UPDATE SET ";
  bool first = true;
  for (const std::string& c : columns) {
    if (c == key) continue;
    if (!first) out += ", ";
    first = false;
    out += c + " = EXCLUDED." + c;
  }
  return out;
}

const Table& JobsTable() {
  static const Table t = [] {
    Table t{"jobs", "jobs_stage",
            {"job_id", "name", "type", "status", "priority", "max_retries", "attempts", "run_at",
             "next_fire_at", "cancel_requested", "last_error", "correlation_id", "created_at",
             "updated_at", "version", "fold_state", "schedule", "timezone", "pool",
             "execution_type", "queued_runs", "running_runs", "retrying_runs", "queue_reason",
             "workflow_id", "workflow_key"},
            ""};
    t.conflict = UpsertClause(t.columns, "job_id");
    return t;
  }();
  return t;
}

const Table& ExecutionsTable() {
  static const Table t = [] {
    Table t{"job_executions", "job_executions_stage",
            {"run_id", "job_id", "attempt", "status", "scheduled_for", "due_at", "dispatched_at",
             "started_at", "finished_at", "executor_id", "lease_epoch", "http_status",
             "duration_ms", "error", "output", "fire_id", "nominal_time", "kind",
             "executor_incarnation", "releases", "permanent", "retry_after_ms", "wait_reason"},
            ""};
    t.conflict = UpsertClause(t.columns, "run_id");
    return t;
  }();
  return t;
}

const Table& DependenciesTable() {
  static const Table t{"job_dependencies",
                       "job_dependencies_stage",
                       {"parent_id", "child_id", "workflow_id", "status", "reason", "created_at",
                        "updated_at"},
                       // created_at stays the first projection's (the child's submission).
                       "ON CONFLICT (parent_id, child_id) DO UPDATE SET"
                       " workflow_id = EXCLUDED.workflow_id, status = EXCLUDED.status,"
                       " reason = EXCLUDED.reason, updated_at = EXCLUDED.updated_at"};
  return t;
}

const Table& DeadLettersTable() {
  static const Table t = [] {
    Table t{"dead_letters", "dead_letters_stage",
            {"job_id", "name", "type", "pool", "priority", "last_run_id", "attempts", "reason",
             "last_error", "dead_at", "event_id", "requeued_at", "requeues"},
            ""};
    t.conflict = UpsertClause(t.columns, "job_id");
    return t;
  }();
  return t;
}

const Table& LogsTable() {
  static const Table t{"job_logs",
                       "job_logs_stage",
                       {"event_id", "job_id", "run_id", "ts", "level", "event_type", "outcome",
                        "message", "producer", "fields", "topic", "kafka_partition",
                        "kafka_offset", "envelope", "scheduled_for", "scheduled_until"},
                       // No conflict target: whatever unique key job_logs has (today the
                       // record's position) makes a re-projected record a no-op.
                       "ON CONFLICT DO NOTHING"};
  return t;
}

const std::vector<const Table*>& StagedTables() {
  static const std::vector<const Table*> tables = {&JobsTable(), &ExecutionsTable(),
                                                   &LogsTable(), &DependenciesTable(),
                                                   &DeadLettersTable()};
  return tables;
}

// Rows of one table: those that cannot exist yet straight into the table,
// the rest into its stage and merged. Returns the rows the merge stored
// (inserted or updated).
template <typename Row, typename WriteRow>
uint64_t CopyRows(pqxx::work& txn, internal::CopyConnection& conn, const Table& table,
                  const std::vector<Row>& rows, const std::vector<bool>& direct,
                  WriteRow&& write_row) {
  uint64_t merged = 0;
  for (bool into_table : {true, false}) {
    std::optional<internal::CopyStream> copy;
    for (size_t i = 0; i < rows.size(); ++i) {
      if (direct[i] != into_table) continue;
      if (!copy) copy.emplace(txn, conn, into_table ? table.name : table.stage, table.columns);
      write_row(*copy, rows[i]);
      copy->EndRow();
    }
    if (!copy) continue;
    copy->Finish();
    if (!into_table) {
      const std::string cols = Join(table.columns);
      merged = txn.exec("INSERT INTO " + table.name + " (" + cols + ") SELECT " + cols +
                        " FROM " + table.stage + " " + table.conflict)
                   .affected_rows();
    }
  }
  return merged;
}

void WriteOffsets(pqxx::work& txn, const std::string& projection_name,
                  const std::string& topic_name, const std::vector<OffsetUpdate>& offsets) {
  std::string sql =
      "INSERT INTO projection_offsets AS po (projection, topic, partition, next_offset) VALUES ";
  std::string cases;
  bool first = true;
  const std::string projection = txn.quote(projection_name);
  const std::string topic = txn.quote(topic_name);
  for (const OffsetUpdate& u : offsets) {
    if (!first) sql += ',';
    first = false;
    sql += "(" + projection + "," + topic + "," + std::to_string(u.partition) + "," +
           std::to_string(u.next_offset) + ")";
    if (u.expected) {
      cases += " WHEN " + std::to_string(u.partition) + " THEN " + std::to_string(*u.expected);
    }
  }
  sql += " ON CONFLICT (projection, topic, partition) DO UPDATE SET next_offset = EXCLUDED.next_offset";
  sql += cases.empty() ? " WHERE false"
                       : " WHERE po.next_offset = CASE EXCLUDED.partition" + cases + " END";
  sql += " RETURNING partition, (xmax = 0) AS inserted";
  pqxx::result r = txn.exec(sql);
  std::map<int32_t, bool> written;  // partition → inserted (vs updated)
  for (const auto& row : r) written[row[0].as<int32_t>()] = row[1].as<bool>();
  for (const OffsetUpdate& u : offsets) {
    auto it = written.find(u.partition);
    if (it == written.end() || it->second != !u.expected.has_value()) {
      throw OffsetConflict("offsets of " + projection_name + "/" + topic_name + "[" +
                           std::to_string(u.partition) + "] are not where this batch started (" +
                           (u.expected ? std::to_string(*u.expected) : std::string("no row")) +
                           "): another writer or an earlier attempt got there first");
    }
  }
}

// The runs a job has in flight, by stage, for the queue statistics; none once
// the job has ended (a one-off job keeps its last run in the state).
struct RunCounts {
  int queued = 0;    // DUE or DISPATCHED: not started
  int running = 0;
  int retrying = 0;  // failed, its retry scheduled (or the job requeued)
  std::string_view queue_reason;  // the first queued run's RunWaiting reason
};

RunCounts CountRuns(const events::JobState& s) {
  RunCounts c;
  if (events::IsTerminal(s.status())) return c;
  // Held back by its parents (WAITING, BLOCKED): it was never made due, so
  // it never counts in the queue statistics.
  if (s.status() == v1::JOB_STATUS_WAITING || s.status() == v1::JOB_STATUS_BLOCKED) return c;
  for (const v1::RunRecord& r : s.runs()) {
    switch (r.status()) {
      case v1::RUN_STATUS_DUE:
        if (c.queue_reason.empty()) c.queue_reason = r.wait_reason();
        [[fallthrough]];
      case v1::RUN_STATUS_DISPATCHED: ++c.queued; break;
      case v1::RUN_STATUS_RUNNING: ++c.running; break;
      default:
        if (events::IsRunFailed(r.status()) && IsSet(r.retry_at())) ++c.retrying;
        break;
    }
  }
  return c;
}

// `merge`: every row through the stage, whatever the batch's hints say.
void WriteJobs(pqxx::work& txn, internal::CopyConnection& conn,
               const ProjectionBatch& batch, bool merge) {
  // One row per job: the last state given wins (uuid equality ignores case).
  std::unordered_map<std::string, size_t> latest;  // lower-case id → index in rows
  std::vector<const events::JobState*> rows;
  std::vector<bool> direct;
  for (size_t i = 0; i < batch.jobs.size(); ++i) {
    const events::JobState& s = batch.jobs[i];
    if (!LooksLikeUuid(s.job_id()) || s.status() == v1::JOB_STATUS_UNSPECIFIED) continue;
    if (s.workflow_run()) continue;  // never a job row (projection_store.h): see WriteWorkflows
    const bool is_new = !merge && i < batch.new_jobs.size() && batch.new_jobs[i];
    auto [it, inserted] = latest.try_emplace(Lower(s.job_id()), rows.size());
    if (inserted) {
      rows.push_back(&s);
      direct.push_back(is_new);
    } else {
      rows[it->second] = &s;
      direct[it->second] = direct[it->second] && is_new;
    }
  }
  std::string fold_state;
  CopyRows(txn, conn, JobsTable(), rows, direct,
           [&](internal::CopyStream& row, const events::JobState* state) {
             const events::JobState& s = *state;
             const v1::JobSpec& spec = s.spec();
             const RunCounts runs = CountRuns(s);
             fold_state = events::EncodeDeterministic(s);
             row.Uuid(s.job_id())
                 .Text(spec.name())
                 .Text(JobTypeName(spec.type()))
                 .Text(events::JobStatusName(s.status()))
                 .Int4(spec.priority())
                 .Int4(spec.max_retries())
                 .Int4(s.summary().attempts())
                 .TimeOrNull(spec.run_at())
                 .TimeOrNull(s.next_fire_at())
                 .Bool(s.cancel_requested())
                 .TextOrNull(s.last_error())
                 .TextOrNull(s.correlation_id())
                 .Time(s.created_at())
                 .Time(s.updated_at())
                 .Int8(s.version())
                 .Bytea(fold_state)
                 .TextOrNull(spec.schedule().cron())
                 .TextOrNull(spec.has_schedule()
                                 ? (spec.schedule().timezone().empty()
                                        ? std::string_view("UTC")
                                        : std::string_view(spec.schedule().timezone()))
                                 : std::string_view())
                 .Text(spec.pool().empty() ? std::string_view("default")
                                           : std::string_view(spec.pool()))
                 .Text(spec.execution_type() == v1::EXECUTION_TYPE_AT_MOST_ONCE
                           ? "at_most_once"
                           : "at_least_once")
                 .Int4(runs.queued)
                 .Int4(runs.running)
                 .Int4(runs.retrying)
                 .TextOrNull(runs.queue_reason)
                 .TextOrNull(spec.workflow_id())
                 .TextOrNull(spec.workflow_key());
           });
}

void WriteExecutions(pqxx::work& txn, internal::CopyConnection& conn,
                     const ProjectionBatch& batch, bool merge) {
  std::unordered_map<std::string, size_t> latest;  // lower-case run id → index in rows
  std::vector<const ExecutionRow*> rows;
  std::vector<bool> direct;
  for (const ExecutionRow& e : batch.executions) {
    if (!LooksLikeUuid(e.run.run_id()) || !LooksLikeUuid(e.job_id)) continue;
    const bool is_new = !merge && e.created;
    auto [it, inserted] = latest.try_emplace(Lower(e.run.run_id()), rows.size());
    if (inserted) {
      rows.push_back(&e);
      direct.push_back(is_new);
    } else {
      rows[it->second] = &e;
      direct[it->second] = direct[it->second] && is_new;
    }
  }
  CopyRows(txn, conn, ExecutionsTable(), rows, direct,
           [](internal::CopyStream& row, const ExecutionRow* e) {
             const v1::RunRecord& r = e->run;
             const bool finished = events::IsRunFinished(r.status());
             row.Uuid(r.run_id())
                 .Uuid(e->job_id)
                 .Int4(r.attempt())
                 .Text(events::RunStatusName(r.status()))
                 .TimeOrNull(r.scheduled_for())
                 .TimeOrNull(r.due_at())
                 .TimeOrNull(r.dispatched_at())
                 .TimeOrNull(r.started_at())
                 .TimeOrNull(r.finished_at())
                 .TextOrNull(r.executor_id())
                 .Int8(r.lease_epoch())
                 .Int4OrNull(r.http_status(), r.http_status() == 0)
                 .Int8OrNull(r.duration_ms(), !finished)
                 .TextOrNull(r.error())
                 .TextOrNull(r.output());
             if (LooksLikeUuid(r.fire_id())) {
               row.Uuid(r.fire_id());
             } else {
               row.Null();
             }
             row.TextOrNull(r.nominal_time())
                 .Text(r.kind() == v1::FIRE_KIND_MANUAL ? "manual" : "scheduled")
                 .TextOrNull(r.executor_incarnation())
                 .Int4(r.releases())
                 .Bool(r.permanent())
                 .Int8OrNull(r.retry_after_ms(), r.retry_after_ms() == 0)
                 .TextOrNull(r.status() == v1::RUN_STATUS_DUE ? std::string_view(r.wait_reason())
                                                              : std::string_view());
           });
}

// A JobDead writes the whole row (merged: a job that dies again after a
// requeue replaces its row); a JobRequeued alone only sets requeued_at, one
// statement each (requeues are rare operator actions).
void WriteDeadLetters(pqxx::work& txn, internal::CopyConnection& conn,
                      const ProjectionBatch& batch) {
  std::vector<const DeadLetterRow*> died;
  for (const DeadLetterRow& d : batch.dead_letters) {
    if (!LooksLikeUuid(d.job_id)) continue;
    if (d.died) {
      died.push_back(&d);
    } else if (IsSet(d.requeued_at)) {
      txn.exec_params("UPDATE dead_letters SET requeued_at = $2::timestamptz"
                      " WHERE job_id = $1::uuid",
                      d.job_id, internal::TimestampText(d.requeued_at));
    }
  }
  CopyRows(txn, conn, DeadLettersTable(), died, std::vector<bool>(died.size(), false),
           [](internal::CopyStream& row, const DeadLetterRow* d) {
             row.Uuid(d->job_id)
                 .Text(d->name)
                 .Text(d->type)
                 .Text(d->pool)
                 .Int4(d->priority);
             if (LooksLikeUuid(d->last_run_id)) {
               row.Uuid(d->last_run_id);
             } else {
               row.Null();
             }
             row.Int4(d->attempts)
                 .TextOrNull(d->reason)
                 .TextOrNull(d->last_error)
                 .Time(d->dead_at)
                 .Uuid(d->event_id)
                 .TimeOrNull(d->requeued_at)
                 .Int4(d->requeues);
           });
}

// Few rows (one per workflow run the batch changed): plain statements. The
// columns that only the WorkflowSubmitted / WorkflowExpanded carry keep their
// stored values unless this batch applied that event.
void WriteWorkflows(pqxx::work& txn, const ProjectionBatch& batch) {
  for (const WorkflowRow& w : batch.workflows) {
    const events::JobState& s = w.state;
    if (!s.workflow_run() || !LooksLikeUuid(s.job_id())) continue;
    const v1::WorkflowSpec& spec = s.spec().workflow();
    int64_t edges = 0;
    for (const v1::WorkflowJob& j : spec.jobs()) edges += j.depends_on_size();
    auto text_or_null = [](const std::string& v) {
      return v.empty() ? std::optional<std::string>() : std::optional<std::string>(PgText(v));
    };
    std::optional<std::string> expanded;
    if (IsSet(w.expanded_at)) expanded = internal::TimestampText(w.expanded_at);
    std::string sql =
        "INSERT INTO workflows AS w (workflow_id, name, job_count, edge_count, trigger_job_id,"
        " trigger_run_id, nominal_time, spec, correlation_id, submitted_at, expanded_at,"
        " version, fold_state)"
        " VALUES ($1, $2, $3, $4, $5, $6, $7, $8::jsonb, $9, $10::timestamptz,"
        " $11::timestamptz, $12, $13::bytea)"
        " ON CONFLICT (workflow_id) DO UPDATE SET name = EXCLUDED.name,"
        " job_count = EXCLUDED.job_count, edge_count = EXCLUDED.edge_count,"
        " spec = EXCLUDED.spec, correlation_id = EXCLUDED.correlation_id,"
        " submitted_at = EXCLUDED.submitted_at,"
        " expanded_at = coalesce(EXCLUDED.expanded_at, w.expanded_at),"
        " version = EXCLUDED.version, fold_state = EXCLUDED.fold_state";
    if (w.submitted) {
      sql += ", trigger_job_id = EXCLUDED.trigger_job_id, trigger_run_id = EXCLUDED.trigger_run_id,"
             " nominal_time = EXCLUDED.nominal_time";
    }
    txn.exec_params(sql, s.job_id(), PgText(s.spec().name()), spec.jobs_size(), edges,
                    text_or_null(w.trigger_job_id), text_or_null(w.trigger_run_id),
                    text_or_null(w.nominal_time), PgJson(events::ToJson(spec)),
                    text_or_null(s.correlation_id()), internal::TimestampText(s.created_at()),
                    expanded, s.version(), internal::ByteaText(events::EncodeDeterministic(s)));
  }
}

void WriteDependencies(pqxx::work& txn, internal::CopyConnection& conn,
                       const ProjectionBatch& batch) {
  // One row per edge (a second row for the same key would fail the merge):
  // the last one given wins.
  std::map<std::pair<std::string_view, std::string_view>, size_t> latest;
  std::vector<const DependencyRow*> rows;
  for (const DependencyRow& d : batch.dependencies) {
    auto [it, inserted] = latest.try_emplace({d.parent_id, d.child_id}, rows.size());
    if (inserted) {
      rows.push_back(&d);
    } else {
      rows[it->second] = &d;
    }
  }
  CopyRows(txn, conn, DependenciesTable(), rows, std::vector<bool>(rows.size(), false),
           [](internal::CopyStream& row, const DependencyRow* d) {
             row.Text(d->parent_id)
                 .Text(d->child_id)
                 .TextOrNull(d->workflow_id)
                 .Text(d->status)
                 .TextOrNull(d->reason)
                 .Time(d->created_at)
                 .Time(d->updated_at);
           });
}

// Every record is new unless the batch projects records again over their
// rows (`merge`: then the stage and ON CONFLICT DO NOTHING keep the first
// row). Returns whether every row was stored (no record was there already).
bool WriteLogs(pqxx::work& txn, internal::CopyConnection& conn,
               const ProjectionBatch& batch, bool merge) {
  // One row per record. A batch lists each partition's records in offset
  // order, so a repeat shows as an offset not above its predecessor's; only
  // then are the positions compared in full.
  std::map<std::pair<std::string_view, int32_t>, int64_t> last;  // (topic, partition) → offset
  std::set<std::tuple<std::string_view, int32_t, int64_t>> seen;
  bool ordered = true;
  std::vector<const JobLogRow*> rows;
  rows.reserve(batch.logs.size());
  for (const JobLogRow& l : batch.logs) {
    if (!LooksLikeUuid(l.event_id) || !LooksLikeUuid(l.job_id)) continue;
    if (ordered) {
      auto [it, inserted] = last.try_emplace({l.topic, l.partition}, l.offset);
      if (!inserted && l.offset <= it->second) {
        ordered = false;
        for (const JobLogRow* r : rows) seen.emplace(r->topic, r->partition, r->offset);
      } else {
        it->second = l.offset;
      }
    }
    if (!ordered && !seen.emplace(l.topic, l.partition, l.offset).second) continue;
    rows.push_back(&l);
  }
  const uint64_t merged =
      CopyRows(txn, conn, LogsTable(), rows, std::vector<bool>(rows.size(), !merge),
               [](internal::CopyStream& row, const JobLogRow* l) {
                 row.Uuid(l->event_id).Uuid(l->job_id);
                 if (LooksLikeUuid(l->run_id)) {
                   row.Uuid(l->run_id);
                 } else {
                   row.Null();
                 }
                 // The JSON as jsonb reads it (PgJson: \u0000 is not valid there).
                 std::string_view fields = l->fields_json;
                 if (fields.empty()) fields = "{}";
                 std::string cleaned;
                 if (fields.find("\\u0000") != std::string_view::npos) {
                   cleaned = PgJson(std::string(fields));
                   fields = cleaned;
                 }
                 row.Time(l->ts)
                     .Text(l->level)
                     .Text(l->event_type)
                     .Text(l->outcome)
                     .Text(l->message)
                     .Text(l->producer)
                     .Jsonb(fields)
                     .Text(l->topic)
                     .Int4(l->partition)
                     .Int8(l->offset)
                     .Bytea(l->envelope)
                     .TimeOrNull(l->scheduled_for)
                     .TimeOrNull(l->scheduled_until);
               });
  return !merge || merged == rows.size();
}

// Records that are no event, with their bytes. Rare: a statement each.
void WriteUndecodable(pqxx::work& txn, const ProjectionBatch& batch) {
  for (const UndecodableRow& u : batch.undecodable) {
    txn.exec_params(
        "INSERT INTO undecodable_records (topic, kafka_partition, kafka_offset, record_key,"
        " record_value, error, recorded_at)"
        " VALUES ($1, $2, $3, $4::bytea, $5::bytea, $6, to_timestamp($7::bigint / 1000.0))"
        " ON CONFLICT DO NOTHING",
        u.topic, u.partition, u.offset, internal::ByteaText(u.key), internal::ByteaText(u.value),
        u.error, u.timestamp_ms);
  }
}

}  // namespace

std::string ResourcesJson(const google::protobuf::Map<std::string, double>& resources) {
  nlohmann::json out = nlohmann::json::object();
  for (const auto& [name, amount] : resources) {
    // Whole amounts as integers ({"cpu": 4}, not 4.0), as the API shows them.
    if (amount == std::floor(amount) && std::fabs(amount) < 9e15) {
      out[name] = static_cast<int64_t>(amount);
    } else {
      out[name] = amount;
    }
  }
  return out.dump();
}

void WriteExecutorRows(pqxx::work& txn, const ExecutorBatch& batch) {
  for (const std::string& id : batch.removed) {
    txn.exec_params("DELETE FROM executors WHERE executor_id = $1", PgText(id));
  }
  for (const ExecutorRow& row : batch.executors) {
    const v1::ExecutorHeartbeat& hb = row.heartbeat;
    nlohmann::json runs = nlohmann::json::array();
    for (const v1::HeldRun& r : hb.runs()) {
      runs.push_back({{"run_id", r.run_id()}, {"lease_epoch", r.lease_epoch()},
                      {"started", r.started()}});
    }
    std::optional<std::string> started;
    if (IsSet(hb.started_at())) started = internal::TimestampText(hb.started_at());
    txn.exec_params(
        "INSERT INTO executors (executor_id, host, pool, slots, resources, running, held_runs,"
        " runs, incarnation, task_partition, started_at, last_heartbeat, stopping,"
        " kafka_partition, kafka_offset)"
        " VALUES ($1, $2, $3, $4, $5::jsonb, $6, $7, $8::jsonb, $9, $10, $11::timestamptz,"
        " $12::timestamptz, $13, $14, $15)"
        " ON CONFLICT (executor_id) DO UPDATE SET host = EXCLUDED.host, pool = EXCLUDED.pool,"
        " slots = EXCLUDED.slots, resources = EXCLUDED.resources, running = EXCLUDED.running,"
        " held_runs = EXCLUDED.held_runs, runs = EXCLUDED.runs,"
        " incarnation = EXCLUDED.incarnation, task_partition = EXCLUDED.task_partition,"
        " started_at = EXCLUDED.started_at, last_heartbeat = EXCLUDED.last_heartbeat,"
        " stopping = EXCLUDED.stopping, kafka_partition = EXCLUDED.kafka_partition,"
        " kafka_offset = EXCLUDED.kafka_offset",
        PgText(hb.executor_id()), PgText(hb.host()),
        hb.pool().empty() ? std::string("default") : PgText(hb.pool()), hb.slots(),
        PgJson(ResourcesJson(hb.resources())), hb.running(), hb.runs_size(),
        PgJson(runs.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace)),
        PgText(hb.incarnation()), hb.task_partition(), started,
        internal::TimestampText(hb.sent_at()), hb.stopping(), row.partition, row.offset);
  }
}

// One connection (a CopyConnection, for the writer's binary COPY), opened on
// first use and reopened after it breaks.
// Not thread-safe: the owner holds `mu` around every use.
class PgProjectionStore::Session {
 public:
  Session(const PgProjectionStoreOptions& options, bool writer)
      : options_(options), writer_(writer) {}

  std::mutex mu;
  // Writer: write every row through the stage and merge, as the last batch
  // found rows of its records already stored (records projected again).
  bool merge = false;

  // Runs `body` with the connection, translating exceptions into a Status. A
  // connection that failed is dropped and reopened on the next call.
  template <typename Body>
  Status Run(std::string_view what, Body&& body) {
    try {
      body(Conn());
      return Status::Ok();
    } catch (const OffsetConflict& e) {
      return Status::Conflict(e.what());
    } catch (const std::exception& e) {
      Status s = internal::TranslatePgError(
          e, std::string(what) + " (" + DescribeDatabaseUrl(options_.database_url) + ")");
      if (s.code() == ErrorCode::kUnavailable) conn_.reset();
      return s;
    }
  }

 private:
  internal::CopyConnection& Conn() {
    if (conn_ != nullptr && !conn_->is_open()) conn_.reset();
    if (conn_ == nullptr) {
      auto fresh = std::make_unique<internal::CopyConnection>(options_.database_url);
      pqxx::nontransaction setup(*fresh);
      setup.exec("SET application_name = " + setup.quote(options_.application_name));
      if (writer_) {
        if (options_.asynchronous_commit) setup.exec("SET synchronous_commit = off");
        for (const Table* t : StagedTables()) {
          setup.exec("CREATE TEMP TABLE IF NOT EXISTS " + t->stage + " (LIKE " + t->name +
                     ") ON COMMIT DELETE ROWS");
        }
      }
      conn_ = std::move(fresh);  // only once fully set up
    }
    return *conn_;
  }

  const PgProjectionStoreOptions& options_;
  const bool writer_;
  std::unique_ptr<internal::CopyConnection> conn_;
};

PgProjectionStore::PgProjectionStore(PgProjectionStoreOptions options)
    : options_(std::move(options)),
      reader_(std::make_unique<Session>(options_, /*writer=*/false)),
      writer_(std::make_unique<Session>(options_, /*writer=*/true)) {}

PgProjectionStore::~PgProjectionStore() = default;

Result<std::map<std::string, events::JobState>> PgProjectionStore::LoadStates(
    const std::vector<std::string>& job_ids) {
  std::vector<std::string> ids;
  for (const std::string& id : job_ids) {
    if (LooksLikeUuid(id)) ids.push_back(id);
  }
  std::map<std::string, events::JobState> out;
  if (ids.empty()) return out;
  std::lock_guard<std::mutex> lock(reader_->mu);
  Status s = reader_->Run("loading job states", [&](pqxx::connection_base& conn) {
    pqxx::nontransaction txn(conn);
    for (size_t begin = 0; begin < ids.size(); begin += kIdsPerSelect) {
      size_t end = std::min(ids.size(), begin + kIdsPerSelect);
      std::string list;
      for (size_t i = begin; i < end; ++i) {
        if (i != begin) list += ',';
        list += txn.quote(ids[i]);
      }
      // A key of job-events is a job or a workflow run: one round trip for both.
      const std::string sql =
          "SELECT job_id::text, fold_state, 'jobs' FROM jobs WHERE job_id IN (" + list +
          ") UNION ALL SELECT workflow_id, fold_state, 'workflows' FROM workflows"
          " WHERE workflow_id IN (" + list + ")";
      for (const auto& row : txn.exec(sql)) {
        pqxx::binarystring bytes(row[1]);
        events::JobState state;
        if (!state.ParseFromArray(bytes.data(), static_cast<int>(bytes.size()))) {
          throw std::runtime_error(row[2].as<std::string>() + ".fold_state of " +
                                   row[0].as<std::string>() + " is not a jobsched.v1.JobState");
        }
        std::string key = state.job_id();  // the id as the events spell it
        out.emplace(std::move(key), std::move(state));
      }
    }
  });
  if (!s.ok()) return s;
  return out;
}

Result<std::map<int32_t, int64_t>> PgProjectionStore::LoadOffsets(
    const std::string& projection, const std::string& topic, const std::vector<int32_t>& partitions) {
  std::map<int32_t, int64_t> out;
  std::set<int32_t> wanted(partitions.begin(), partitions.end());
  std::lock_guard<std::mutex> lock(reader_->mu);
  Status s = reader_->Run("loading projection offsets", [&](pqxx::connection_base& conn) {
    pqxx::nontransaction txn(conn);
    pqxx::result r = txn.exec_params(
        "SELECT partition, next_offset FROM projection_offsets WHERE projection = $1 AND topic = $2",
        projection, topic);
    for (const auto& row : r) {
      int32_t p = row[0].as<int32_t>();
      if (wanted.count(p) != 0) out[p] = row[1].as<int64_t>();
    }
  });
  if (!s.ok()) return s;
  return out;
}

namespace {

// A batch names each partition's next offset once, and at least one.
Status CheckOffsets(const std::vector<OffsetUpdate>& offsets) {
  std::set<int32_t> partitions;
  for (const OffsetUpdate& u : offsets) {
    if (!partitions.insert(u.partition).second) {
      return Status::Invalid("batch names partition " + std::to_string(u.partition) + " twice");
    }
  }
  if (offsets.empty()) return Status::Invalid("batch without offsets");
  return Status::Ok();
}

}  // namespace

Status PgProjectionStore::Write(const ProjectionBatch& batch) {
  if (Status st = CheckOffsets(batch.offsets); !st.ok()) return st;
  std::lock_guard<std::mutex> lock(writer_->mu);
  return writer_->Run("writing projection batch", [&](internal::CopyConnection& conn) {
    // Returns whether every job_logs row was new (true when the archive is
    // not written).
    auto write = [&](bool merge) {
      pqxx::work txn(conn, "projection_batch");
      // First: a conflict aborts before any other work.
      WriteOffsets(txn, batch.projection, batch.topic, batch.offsets);
      WriteJobs(txn, conn, batch, merge);
      WriteWorkflows(txn, batch);
      WriteDependencies(txn, conn, batch);
      WriteExecutions(txn, conn, batch, merge);
      WriteDeadLetters(txn, conn, batch);
      bool logs_new = true;
      // The archive: a rebuild from it keeps it as it is (write_logs false).
      if (options_.write_logs) {
        logs_new = WriteLogs(txn, conn, batch, merge);
        WriteUndecodable(txn, batch);
      }
      txn.commit();
      return logs_new;
    };
    if (!writer_->merge) {
      try {
        write(/*merge=*/false);
        return;
      } catch (const pqxx::unique_violation&) {
        // A row copied straight into its table was there: the records are
        // projected again over their rows (offsets reset, tables kept).
        // Rolled back; the same batch again, merging every row.
        writer_->merge = true;
      }
    }
    // Back to copying straight once a batch finds none of its records stored.
    writer_->merge = !write(/*merge=*/true);
  });
}

Status PgProjectionStore::WriteExecutors(const ExecutorBatch& batch) {
  if (Status st = CheckOffsets(batch.offsets); !st.ok()) return st;
  std::lock_guard<std::mutex> lock(writer_->mu);
  return writer_->Run("writing executors batch", [&](pqxx::connection_base& conn) {
    pqxx::work txn(conn, "executors_batch");
    WriteOffsets(txn, batch.projection, batch.topic, batch.offsets);
    WriteExecutorRows(txn, batch);
    txn.commit();
  });
}

}  // namespace jobsched::projections
