#include "services/api/workflow_queries.h"

#include <map>
#include <stdexcept>
#include <unordered_map>
#include <utility>

#include "events/fold.h"
#include "events/ids.h"
#include "services/api/sql_text.h"
#include "services/api/workflow_view.h"

namespace jobsched::api {
namespace {

using nlohmann::json;
using sql::Micros;
using sql::Millis;
using sql::Param;

// The statuses after which a job never runs again.
constexpr const char* kEndedStatuses = "('SUCCEEDED', 'DEAD', 'CANCELED', 'COMPLETED', 'DELETED')";

json ParseSpec(const pqxx::field& field) {
  json spec = json::parse(field.c_str(), nullptr, /*allow_exceptions=*/false);
  if (spec.is_discarded()) throw std::runtime_error("workflows.spec is not JSON");
  return spec;
}

std::string Text(const pqxx::field& f) { return f.is_null() ? "" : f.as<std::string>(); }

// workflow_key -> status of the workflow's jobs that have a row.
std::unordered_map<std::string, std::string> StatusByKey(pqxx::transaction_base& tx,
                                                         const std::string& workflow_id) {
  pqxx::result rows = tx.exec_params(
      "SELECT workflow_key, status FROM jobs WHERE workflow_id = $1 AND workflow_key IS NOT NULL",
      workflow_id);
  std::unordered_map<std::string, std::string> out;
  out.reserve(rows.size());
  for (const auto& row : rows) out.emplace(row[0].as<std::string>(), row[1].as<std::string>());
  return out;
}

// An ARRAY parameter's text, {a,b} (the ids are UUIDs: nothing to quote or escape).
std::string ArrayLiteral(const std::vector<std::string>& ids) {
  std::string out = "{";
  for (const std::string& id : ids) out += (out.size() > 1 ? "," : "") + id;
  return out + "}";
}

}  // namespace

std::optional<json> LoadWorkflowView(pqxx::connection& c, const std::string& workflow_id) {
  pqxx::read_transaction tx(c);
  pqxx::result rows =
      tx.exec_params("SELECT name, spec::text, trigger_job_id, trigger_run_id, nominal_time, " +
                         Millis("submitted_at") + ", " + Millis("expanded_at") +
                         " FROM workflows WHERE workflow_id = $1",
                     workflow_id);
  if (rows.empty()) return std::nullopt;
  const auto& row = rows[0];
  WorkflowRecord record;
  record.workflow_id = workflow_id;
  record.name = row[0].as<std::string>();
  record.jobs = JobsFromSpecJson(ParseSpec(row[1]));
  record.trigger_job_id = Text(row[2]);
  record.trigger_run_id = Text(row[3]);
  record.nominal_time = Text(row[4]);
  record.submitted_at = FromUnixMillis(row[5].as<int64_t>());
  if (!row[6].is_null()) record.expanded_at = FromUnixMillis(row[6].as<int64_t>());
  return RenderWorkflow(record, StatusByKey(tx, workflow_id));
}

json ListWorkflowsPage(pqxx::connection& c, const WorkflowListQuery& query) {
  std::vector<std::string> params;
  // Each listed workflow's jobs counted by status (jobs_workflow_id index);
  // the page is at most kMaxWorkflowsLimit + 1 workflows.
  std::string sql =
      "SELECT w.workflow_id, w.name, w.trigger_job_id, " + Millis("w.submitted_at") +
      ", w.expanded_at IS NOT NULL, w.job_count, " + Micros("w.submitted_at") +
      ", (SELECT coalesce(jsonb_object_agg(g.status, g.n), '{}'::jsonb)::text FROM"
      " (SELECT j.status, count(*) AS n FROM jobs j WHERE j.workflow_id = w.workflow_id"
      "  GROUP BY j.status) g)"
      " FROM workflows w WHERE true";
  if (!query.trigger_job_id.empty()) {
    sql += " AND w.trigger_job_id = " + Param(params, query.trigger_job_id);
  }
  sql::AppendNewestFirstPage(sql, params, "w.submitted_at", "w.workflow_id",
                             query.cursor ? &query.cursor->submitted_at : nullptr,
                             query.cursor ? &query.cursor->workflow_id : nullptr, query.limit,
                             "text");
  pqxx::read_transaction tx(c);
  pqxx::result rows = tx.exec_params(sql, pqxx::prepare::make_dynamic_params(params));
  return sql::NewestFirstPage(
      rows, query.limit, "workflows",
      [](const pqxx::row& row) {
        WorkflowSummary s;
        s.workflow_id = row[0].as<std::string>();
        s.name = row[1].as<std::string>();
        s.trigger_job_id = Text(row[2]);
        s.submitted_at = FromUnixMillis(row[3].as<int64_t>());
        s.expanded = row[4].as<bool>();
        s.job_count = row[5].as<int64_t>();
        const json by_status = json::parse(row[7].c_str());  // named: items() needs an lvalue
        for (const auto& [status, n] : by_status.items()) s.by_status[status] = n.get<int64_t>();
        return RenderWorkflowSummary(s);
      },
      [](const pqxx::row& last) {
        return EncodeWorkflowCursor({last[6].as<std::string>(), last[0].as<std::string>()});
      });
}

std::optional<WorkflowCancelTarget> LoadWorkflowCancelTarget(pqxx::connection& c,
                                                             const std::string& workflow_id) {
  pqxx::read_transaction tx(c);
  pqxx::result rows = tx.exec_params(
      "SELECT spec::text, expanded_at IS NOT NULL FROM workflows WHERE workflow_id = $1",
      workflow_id);
  if (rows.empty()) return std::nullopt;
  WorkflowCancelTarget target;
  const auto status_by_key = StatusByKey(tx, workflow_id);
  const std::vector<WorkflowJobRef> jobs = JobsFromSpecJson(ParseSpec(rows[0][0]));
  // Every job projected means the expansion landed, even when its
  // WorkflowExpanded (another partition) is not projected yet.
  target.expanded = rows[0][1].as<bool>() || status_by_key.size() == jobs.size();
  if (!target.expanded) return target;
  for (const WorkflowJobRef& job : jobs) {
    auto it = status_by_key.find(job.key);
    if (it != status_by_key.end() && events::IsTerminal(events::ParseJobStatus(it->second))) {
      continue;
    }
    target.open_job_ids.push_back(ids::WorkflowJobId(workflow_id, job.key));
  }
  return target;
}

std::vector<std::string> LoadOpenDescendants(pqxx::connection& c, const std::string& job_id,
                                             size_t limit) {
  pqxx::read_transaction tx(c);
  // UNION (not UNION ALL): a job reached along two paths is visited once.
  pqxx::result rows = tx.exec_params(
      std::string("WITH RECURSIVE d(job_id) AS ("
                  " SELECT child_id FROM job_dependencies WHERE parent_id = $1"
                  " UNION"
                  " SELECT c.child_id FROM job_dependencies c JOIN d ON c.parent_id = d.job_id)"
                  " SELECT d.job_id FROM d LEFT JOIN jobs j ON j.job_id = d.job_id::uuid"
                  " WHERE j.job_id IS NULL OR j.status NOT IN ") +
          kEndedStatuses + " ORDER BY d.job_id LIMIT " + std::to_string(limit + 1),
      job_id);
  std::vector<std::string> out;
  out.reserve(rows.size());
  for (const auto& row : rows) out.push_back(row[0].as<std::string>());
  return out;
}

std::optional<json> DependenciesOf(pqxx::connection& c, const std::string& job_id) {
  pqxx::read_transaction tx(c);
  if (tx.exec_params("SELECT 1 FROM jobs WHERE job_id = $1::uuid", job_id).empty()) {
    return std::nullopt;
  }
  pqxx::result parents = tx.exec_params(
      "SELECT d.parent_id, j.name, j.status, d.status, d.reason FROM job_dependencies d"
      " LEFT JOIN jobs j ON j.job_id = d.parent_id::uuid WHERE d.child_id = $1"
      " ORDER BY j.created_at NULLS LAST, d.parent_id",
      job_id);
  pqxx::result children = tx.exec_params(
      "SELECT d.child_id, j.name, j.status, d.status FROM job_dependencies d"
      " LEFT JOIN jobs j ON j.job_id = d.child_id::uuid WHERE d.parent_id = $1"
      " ORDER BY j.created_at NULLS LAST, d.child_id",
      job_id);
  auto text_or_null = [](const pqxx::field& f) {
    return f.is_null() ? json(nullptr) : json(f.as<std::string>());
  };
  json parent_list = json::array();
  for (const auto& row : parents) {
    parent_list.push_back(
        {{"job_id", row[0].as<std::string>()},
         {"name", text_or_null(row[1])},
         {"status", text_or_null(row[2])},
         {"dependency", row[3].as<std::string>()},
         {"reason", row[4].is_null() || Text(row[4]).empty() ? json(nullptr)
                                                             : json(row[4].as<std::string>())}});
  }
  json child_list = json::array();
  for (const auto& row : children) {
    child_list.push_back({{"job_id", row[0].as<std::string>()},
                          {"name", text_or_null(row[1])},
                          {"status", text_or_null(row[2])},
                          {"dependency", row[3].as<std::string>()}});
  }
  return json{
      {"job_id", job_id}, {"parents", std::move(parent_list)}, {"children", std::move(child_list)}};
}

std::vector<ParentInfo> LoadParents(pqxx::connection& c, const std::vector<std::string>& job_ids) {
  pqxx::read_transaction tx(c);
  pqxx::result rows = tx.exec_params(
      "SELECT j.job_id::text, j.status, j.schedule IS NOT NULL,"
      " (SELECT count(*) FROM job_dependencies d WHERE d.parent_id = j.job_id::text)"
      " FROM jobs j WHERE j.job_id = ANY($1::uuid[])",
      ArrayLiteral(job_ids));
  std::vector<ParentInfo> out;
  out.reserve(rows.size());
  for (const auto& row : rows) {
    ParentInfo p;
    p.job_id = row[0].as<std::string>();
    p.status = row[1].as<std::string>();
    p.recurring = row[2].as<bool>();
    p.dependents = row[3].as<int64_t>();
    out.push_back(std::move(p));
  }
  return out;
}

}  // namespace jobsched::api
