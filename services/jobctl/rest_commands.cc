// jobctl's commands over the REST API: submit, get, list, cancel, pause,
// resume, run, logs, preview. Each builds its request (rest_requests.h),
// sends it to ctx.api_url and prints the answer: concise lines, or with
// --json the API's JSON as it came. An API error prints "jobctl: <message>"
// and exits 1.
#include <CLI/CLI.hpp>
#include <fstream>
#include <iostream>
#include <iterator>
#include <memory>
#include <nlohmann/json.hpp>
#include <optional>
#include <sstream>
#include <string>

#include "services/jobctl/context.h"
#include "services/jobctl/rest_client.h"
#include "services/jobctl/rest_requests.h"

namespace jobsched::jobctl {
namespace {

using nlohmann::json;

void Error(Context& ctx, const std::string& message) {
  *ctx.err << "jobctl: " << message << "\n";
  ctx.exit_code = 1;
}

// Sends `request`; the parsed answer of a 2xx, else nullopt after reporting
// the failure. With --json the API's body is printed as it came (errors
// too, so a script sees the error's code), one JSON value per line.
std::optional<json> Call(Context& ctx, const ApiRequest& request) {
  Result<ApiResponse> sent = Send(ctx.api_url, request);
  if (!sent.ok()) {
    Error(ctx, sent.status().message());
    return std::nullopt;
  }
  std::string body = sent->body;
  while (!body.empty() && (body.back() == '\n' || body.back() == '\r')) body.pop_back();
  json answer = json::parse(body, nullptr, /*allow_exceptions=*/false);
  if (ctx.json && !answer.is_discarded()) *ctx.out << body << "\n";
  if (sent->status >= 400 || sent->status < 200) {
    Error(ctx, ErrorMessage(sent->status, body));
    return std::nullopt;
  }
  if (answer.is_discarded()) {
    Error(ctx, "the API answered HTTP " + std::to_string(sent->status) +
                   " with a body that is not JSON: " + body.substr(0, 200));
    return std::nullopt;
  }
  return answer;
}

// Runs `request` and, without --json, prints `format(answer)`.
template <typename Format>
void CallAndPrint(Context& ctx, const ApiRequest& request, Format format) {
  std::optional<json> answer = Call(ctx, request);
  if (answer && !ctx.json) *ctx.out << format(*answer);
}

// The text of -f: a file, or "-" for stdin.
Result<std::string> ReadDocument(const std::string& path) {
  if (path == "-") {
    return std::string(std::istreambuf_iterator<char>(std::cin), std::istreambuf_iterator<char>());
  }
  std::ifstream in(path);
  if (!in) return Status::Invalid("cannot read " + path);
  std::ostringstream text;
  text << in.rdbuf();
  return text.str();
}

CLI::App* Command(CLI::App& app, const std::string& name, const std::string& help) {
  // Global flags (--json, --api) work after the command's own arguments too:
  // subcommands inherit main's fallthrough().
  return app.add_subcommand(name, help);
}

void AddSubmit(CLI::App& app, Context& ctx) {
  struct Args {
    SubmitArgs submit;
    std::string file;
    int priority = 0;
    int max_retries = 0;
    int timeout_seconds = 0;
  };
  auto a = std::make_shared<Args>();
  CLI::App* sub = Command(app, "submit",
                          "submit a job (POST /api/v1/jobs): the job as JSON (-f FILE, - for "
                          "stdin) and/or flags; prints its id");
  sub->add_option("-f,--file", a->file,
                  "the job as JSON, as POST /api/v1/jobs takes it; - = stdin");
  sub->add_option("--name", a->submit.name, "name (default: the type, or METHOD url)");
  sub->add_option("--type", a->submit.type, "http | echo | sleep | fail (default http with --url)");
  sub->add_option("--url", a->submit.url, "http.url of an http job");
  sub->add_option("--cron", a->submit.cron,
                  "a recurring schedule (\"schedule\"), e.g. \"*/30 * * * * *\"");
  sub->add_option("--timezone", a->submit.timezone, "IANA zone of --cron (default UTC)");
  sub->add_option("--run-at", a->submit.run_at, "RFC 3339 time of a one-off job (default now)");
  sub->add_option("--payload", a->submit.payload, "JSON payload, e.g. '{\"ms\": 500}'");
  auto* priority = sub->add_option("--priority", a->priority, "0-10 (default 5), higher first");
  auto* retries = sub->add_option("--max-retries", a->max_retries, "retries after the first try");
  auto* timeout = sub->add_option("--timeout", a->timeout_seconds, "timeout_seconds of a run");
  sub->add_option("--pool", a->submit.pool, "executor pool (default \"default\")");
  sub->add_option("--depends-on", a->submit.depends_on, "job ids that must succeed first");
  sub->add_option("--idempotency-key", a->submit.idempotency_key,
                  "the same key always names the same job (a repeat answers 409 with it)");
  sub->callback([&ctx, a, priority, retries, timeout] {
    SubmitArgs args = a->submit;
    if (!a->file.empty()) {
      Result<std::string> text = ReadDocument(a->file);
      if (!text.ok()) return Error(ctx, text.status().message());
      args.document = text.value();
    }
    if (priority->count() > 0) args.priority = a->priority;
    if (retries->count() > 0) args.max_retries = a->max_retries;
    if (timeout->count() > 0) args.timeout_seconds = a->timeout_seconds;
    Result<ApiRequest> request = SubmitRequest(args);
    if (!request.ok()) return Error(ctx, request.status().message());
    CallAndPrint(ctx, request.value(),
                 [](const json& job) { return job.value("job_id", "") + "\n"; });
  });
}

void AddGet(CLI::App& app, Context& ctx) {
  auto id = std::make_shared<std::string>();
  CLI::App* sub = Command(app, "get", "show a job (GET /api/v1/jobs/{id})");
  sub->add_option("job_id", *id, "the job's id")->required();
  sub->callback([&ctx, id] { CallAndPrint(ctx, GetRequest(*id), FormatJob); });
}

void AddList(CLI::App& app, Context& ctx) {
  struct Args {
    ListArgs list;
    int limit = 0;
  };
  auto a = std::make_shared<Args>();
  CLI::App* sub = Command(app, "list", "list jobs, newest first (GET /api/v1/jobs)");
  sub->add_option("--status", a->list.status, "only jobs in this status, e.g. DEAD");
  auto* limit = sub->add_option("--limit", a->limit, "jobs per page (1-500, default 50)");
  sub->add_option("--cursor", a->list.cursor, "the next page: the cursor the last page printed");
  sub->callback([&ctx, a, limit] {
    ListArgs args = a->list;
    if (limit->count() > 0) args.limit = a->limit;
    CallAndPrint(ctx, ListRequest(args), FormatJobList);
  });
}

void AddCancel(CLI::App& app, Context& ctx) {
  struct Args {
    std::string id;
    bool cascade = false;
  };
  auto a = std::make_shared<Args>();
  CLI::App* sub = Command(app, "cancel", "cancel a job (POST /api/v1/jobs/{id}/cancel)");
  sub->add_option("job_id", a->id, "the job's id")->required();
  sub->add_flag("--cascade", a->cascade, "also cancel every descendant not ended");
  sub->callback([&ctx, a] { CallAndPrint(ctx, CancelRequest(a->id, a->cascade), FormatCancel); });
}

// pause, resume, run: POST /api/v1/jobs/{id}/<name> on a recurring job.
void AddJobCommand(CLI::App& app, Context& ctx, const std::string& name, const std::string& help) {
  struct Args {
    std::string id;
    std::string key;
  };
  auto a = std::make_shared<Args>();
  CLI::App* sub = Command(app, name, help);
  sub->add_option("job_id", a->id, "the job's id")->required();
  sub->add_option("--idempotency-key", a->key, "a repeat with the same key is the same command");
  sub->callback([&ctx, a, name] {
    ApiRequest request = CommandRequest(a->id, name, a->key);
    if (name == "run") return CallAndPrint(ctx, request, FormatRun);
    CallAndPrint(ctx, request, FormatCommand);
  });
}

void AddLogs(CLI::App& app, Context& ctx) {
  struct Args {
    std::string id;
    LogsArgs logs;
    int limit = 0;
  };
  auto a = std::make_shared<Args>();
  CLI::App* sub = Command(app, "logs", "a job's log, newest first (GET /api/v1/jobs/{id}/logs)");
  sub->add_option("job_id", a->id, "the job's id")->required();
  sub->add_option("--level", a->logs.level, "the lowest level shown: info | warn | error");
  sub->add_option("--since", a->logs.since, "RFC 3339: lines at or after");
  sub->add_option("--until", a->logs.until, "RFC 3339: lines before");
  sub->add_option("--event-type", a->logs.event_type, "only this event type, e.g. RunDue");
  auto* limit = sub->add_option("--limit", a->limit, "lines per page (1-500, default 100)");
  sub->add_option("--cursor", a->logs.cursor, "the next page: the cursor the last page printed");
  sub->callback([&ctx, a, limit] {
    LogsArgs args = a->logs;
    if (limit->count() > 0) args.limit = a->limit;
    CallAndPrint(ctx, LogsRequest(a->id, args), FormatLogs);
  });
}

void AddPreview(CLI::App& app, Context& ctx) {
  struct Args {
    PreviewArgs preview;
    int count = 0;
  };
  auto a = std::make_shared<Args>();
  CLI::App* sub =
      Command(app, "preview", "when a cron schedule would fire (GET /api/v1/schedules/preview)");
  sub->add_option("cron", a->preview.cron, "the schedule, e.g. \"0 30 2 * * MON-FRI\"")->required();
  sub->add_option("--timezone", a->preview.timezone, "IANA zone (default UTC)");
  sub->add_option("--from", a->preview.from, "RFC 3339: fires after this time (default now)");
  auto* count = sub->add_option("--count", a->count, "how many fire times (1-1000, default 10)");
  sub->add_option("--dst-gap", a->preview.dst_gap, "auto | shift | skip");
  sub->add_option("--dst-overlap", a->preview.dst_overlap, "auto | first | both");
  sub->callback([&ctx, a, count] {
    PreviewArgs args = a->preview;
    if (count->count() > 0) args.count = a->count;
    CallAndPrint(ctx, PreviewRequest(args), FormatPreview);
  });
}

}  // namespace

void AddRestCommands(CLI::App& app, Context& ctx) {
  AddSubmit(app, ctx);
  AddGet(app, ctx);
  AddList(app, ctx);
  AddCancel(app, ctx);
  AddJobCommand(app, ctx, "pause", "stop a recurring job firing (POST /api/v1/jobs/{id}/pause)");
  AddJobCommand(app, ctx, "resume", "resume a paused job (POST /api/v1/jobs/{id}/resume)");
  AddJobCommand(app, ctx, "run", "run a recurring job now (POST /api/v1/jobs/{id}/run)");
  AddLogs(app, ctx);
  AddPreview(app, ctx);
}

}  // namespace jobsched::jobctl
