// The API's route table: every (method, path template) the router serves,
// and the pure lookup the router does with it. One table, so the OpenAPI
// document's test and the router cannot disagree about what exists.
//
// Templates are "/"-separated segments; "{name}" matches any one segment.
// Empty segments of a request path are ignored ("/api/v1/jobs/" is
// "/api/v1/jobs"). Where a literal and a parameter both match ("batch" in
// /api/v1/jobs/batch against /api/v1/jobs/{id}) the literal wins, segment by
// segment from the left. Pure, thread-safe.
#pragma once

#include <map>
#include <string>
#include <string_view>
#include <vector>

namespace jobsched::api {

// What a matched route runs; the router maps each to its handler.
enum class RouteId {
  kHealth,
  kOpenApi,
  kSystemMetrics,
  kStream,
  kSchedulePreview,
  kListExecutors,
  kQueueStats,
  kListDeadLetters,
  kRequeueDeadLetter,
  kListWorkflows,
  kSubmitWorkflow,
  kGetWorkflow,
  kCancelWorkflow,
  kListJobs,
  kSubmitJob,
  kSubmitBatch,
  kGetJob,
  kUpdateJob,
  kDeleteJob,
  kListExecutions,
  kJobEvents,
  kJobDependencies,
  kJobStats,
  kJobLogs,
  kJobWhy,
  kJobStream,
  kCancelJob,
  kPauseJob,
  kResumeJob,
  kRunJob,
};

struct RouteSpec {
  std::string method;  // "GET", "POST", "PATCH", "DELETE"
  std::string path;    // the template, e.g. "/api/v1/jobs/{id}/cancel"
  RouteId id = RouteId::kHealth;
};

// Every route, in table order (the order methods are listed in a 405's Allow).
const std::vector<RouteSpec>& ApiRoutes();

// The outcome of looking a request up in the table.
struct RouteLookup {
  // The route of the path and method; null when none matched.
  const RouteSpec* route = nullptr;
  // The template the path matched ("" when none did: 404); with route null
  // and a template, the method is not one it takes (405).
  std::string path_template;
  // The methods the template takes, in table order (for 405's Allow).
  std::vector<std::string> allowed;
  // The values of the template's {name} segments, as sent.
  std::map<std::string, std::string> params;
};

RouteLookup LookUpRoute(std::string_view method, std::string_view path);

// `path` split at '/', empty segments dropped.
std::vector<std::string_view> SplitPath(std::string_view path);

}  // namespace jobsched::api
