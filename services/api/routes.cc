#include "services/api/routes.h"

#include <cstddef>

namespace jobsched::api {

const std::vector<RouteSpec>& ApiRoutes() {
  using R = RouteId;
  static const std::vector<RouteSpec> kRoutes = {
      {"GET", "/health", R::kHealth},
      {"GET", "/api/v1/openapi.json", R::kOpenApi},
      {"GET", "/api/v1/metrics", R::kSystemMetrics},
      {"GET", "/api/v1/stream", R::kStream},
      {"GET", "/api/v1/schedules/preview", R::kSchedulePreview},
      {"GET", "/api/v1/executors", R::kListExecutors},
      {"GET", "/api/v1/queue/stats", R::kQueueStats},
      {"GET", "/api/v1/dead-letters", R::kListDeadLetters},
      {"POST", "/api/v1/dead-letters/{id}/requeue", R::kRequeueDeadLetter},
      {"GET", "/api/v1/workflows", R::kListWorkflows},
      {"POST", "/api/v1/workflows", R::kSubmitWorkflow},
      {"GET", "/api/v1/workflows/{id}", R::kGetWorkflow},
      {"POST", "/api/v1/workflows/{id}/cancel", R::kCancelWorkflow},
      {"GET", "/api/v1/jobs", R::kListJobs},
      {"POST", "/api/v1/jobs", R::kSubmitJob},
      {"POST", "/api/v1/jobs/batch", R::kSubmitBatch},
      {"GET", "/api/v1/jobs/{id}", R::kGetJob},
      {"PATCH", "/api/v1/jobs/{id}", R::kUpdateJob},
      {"DELETE", "/api/v1/jobs/{id}", R::kDeleteJob},
      {"GET", "/api/v1/jobs/{id}/executions", R::kListExecutions},
      {"GET", "/api/v1/jobs/{id}/events", R::kJobEvents},
      {"GET", "/api/v1/jobs/{id}/dependencies", R::kJobDependencies},
      {"GET", "/api/v1/jobs/{id}/stats", R::kJobStats},
      {"GET", "/api/v1/jobs/{id}/logs", R::kJobLogs},
      {"GET", "/api/v1/jobs/{id}/why", R::kJobWhy},
      {"GET", "/api/v1/jobs/{id}/stream", R::kJobStream},
      {"POST", "/api/v1/jobs/{id}/cancel", R::kCancelJob},
      {"POST", "/api/v1/jobs/{id}/pause", R::kPauseJob},
      {"POST", "/api/v1/jobs/{id}/resume", R::kResumeJob},
      {"POST", "/api/v1/jobs/{id}/run", R::kRunJob},
  };
  return kRoutes;
}

std::vector<std::string_view> SplitPath(std::string_view path) {
  std::vector<std::string_view> parts;
  size_t i = 0;
  while (i < path.size()) {
    size_t j = path.find('/', i);
    if (j == std::string_view::npos) j = path.size();
    if (j > i) parts.push_back(path.substr(i, j - i));
    i = j + 1;
  }
  return parts;
}

namespace {

bool IsParam(std::string_view segment) {
  return segment.size() >= 2 && segment.front() == '{' && segment.back() == '}';
}

// How well `tmpl` matches `parts`: -1 when it does not, else a bitmask with a
// bit set per literal segment, the leftmost segment most significant, so the
// template with a literal where another has a parameter ranks higher.
long long Specificity(const std::vector<std::string_view>& tmpl,
                      const std::vector<std::string_view>& parts) {
  if (tmpl.size() != parts.size()) return -1;
  long long score = 0;
  for (size_t i = 0; i < tmpl.size(); ++i) {
    score <<= 1;
    if (IsParam(tmpl[i])) continue;
    if (tmpl[i] != parts[i]) return -1;
    score |= 1;
  }
  return score;
}

}  // namespace

RouteLookup LookUpRoute(std::string_view method, std::string_view path) {
  const std::vector<std::string_view> parts = SplitPath(path);
  RouteLookup out;
  long long best = -1;
  for (const RouteSpec& spec : ApiRoutes()) {
    long long score = Specificity(SplitPath(spec.path), parts);
    if (score < 0 || score < best) continue;
    if (score > best) {
      best = score;
      out = RouteLookup{};
      out.path_template = spec.path;
    }
    out.allowed.push_back(spec.method);
    if (spec.method == method) out.route = &spec;
  }
  if (best < 0) return out;
  const std::vector<std::string_view> tmpl = SplitPath(out.path_template);
  for (size_t i = 0; i < tmpl.size(); ++i) {
    if (IsParam(tmpl[i])) {
      out.params.emplace(std::string(tmpl[i].substr(1, tmpl[i].size() - 2)), std::string(parts[i]));
    }
  }
  return out;
}

}  // namespace jobsched::api
