// `jobctl shadow --policy FILE [--job ID]... [--json]`: replays the recorded
// scheduling inputs through a changed retry or schedule policy and prints
// where the scheduler's decisions would differ (shadow.h). Exit 0 whether or
// not they differ, 1 when the record cannot be read, 2 for a bad policy file.
#include <CLI/CLI.hpp>
#include <fstream>
#include <memory>
#include <sstream>
#include <string>
#include <variant>
#include <vector>

#include "events/time.h"
#include "services/common/config.h"
#include "services/jobctl/context.h"
#include "services/jobctl/job_history.h"
#include "services/jobctl/shadow.h"

namespace jobsched::jobctl {
namespace {

struct ShadowArgs {
  std::string policy_file;
  std::vector<std::string> jobs;
};

int Usage(Context& ctx, const std::string& message) {
  *ctx.err << "jobctl shadow: " << message << "\n";
  ctx.exit_code = 2;
  return 2;
}

// The named jobs' histories (each from the log, else the archive).
Result<std::vector<RecordedEvent>> ReadNamed(Context& ctx, const std::vector<std::string>& jobs) {
  std::vector<RecordedEvent> all;
  for (const std::string& id : jobs) {
    auto history = ReadJobHistory(ctx, id);
    if (!history.ok()) return history.status();
    if (history->source == HistorySource::kArchive) {
      *ctx.err << "jobctl shadow: job " << id << " read from the archive (PostgreSQL)\n";
    } else if (history->truncated) {
      *ctx.err << "jobctl shadow: job " << id
               << ": the log's oldest records have expired; its history may be incomplete\n";
    }
    for (const RecordedEvent& e : history->events) all.push_back(e);
  }
  return all;
}

Result<std::vector<RecordedEvent>> ReadEverything(Context& ctx) {
  Status kafka = RequireKafka(ctx);
  if (!kafka.ok()) return kafka;
  auto log = services::MakeEventLog(ctx.config);
  if (!log.ok()) return log.status();
  return ReadAllFromLog(*log.value(), ctx.config.topics());
}

int RunShadow(Context& ctx, const ShadowArgs& args) {
  std::ifstream in(args.policy_file);
  if (!in) return Usage(ctx, "cannot read policy file " + args.policy_file);
  std::stringstream text;
  text << in.rdbuf();
  auto parsed = shadow::ParsePolicy(text.str());
  if (auto* error = std::get_if<shadow::PolicyError>(&parsed)) {
    return Usage(ctx, "policy " + args.policy_file + ": " +
                          (error->field.empty() ? "" : error->field + ": ") + error->message);
  }
  shadow::Policy policy = std::get<shadow::Policy>(std::move(parsed));
  if (!args.jobs.empty()) policy.jobs = args.jobs;  // --job overrides the file's "jobs"

  auto events = policy.jobs.empty() ? ReadEverything(ctx) : ReadNamed(ctx, policy.jobs);
  if (!events.ok()) return Fail(ctx, events.status());
  shadow::Options options;
  options.read_at = SystemClock::Instance().Now();
  const auto jobs = shadow::ShadowAll(events.value(), policy, options);
  *ctx.out << (ctx.json ? shadow::FormatJsonLines(jobs)
                        : shadow::FormatText(jobs, /*list_same=*/!policy.jobs.empty()));
  ctx.exit_code = 0;
  return 0;
}

}  // namespace

void AddShadowCommand(CLI::App& app, Context& ctx) {
  auto args = std::make_shared<ShadowArgs>();
  CLI::App* cmd = app.add_subcommand(
      "shadow",
      "replay the recorded scheduling inputs through a changed retry or schedule policy and "
      "print where the scheduler's decisions would differ (exit 0 either way)");
  cmd->add_option("--policy", args->policy_file,
                  "JSON file of API fields: max_retries, retry_policy, schedule, timezone, "
                  "dst_gap, dst_overlap, end_at, max_runs, concurrency_policy, misfire_policy, "
                  "jobs")
      ->required();
  cmd->add_option("--job", args->jobs, "only this job (repeatable; overrides the file's jobs)");
  cmd->add_flag("--json", ctx.json, "one JSON object per difference, then a summary");
  cmd->callback([&ctx, args] { RunShadow(ctx, *args); });
}

}  // namespace jobsched::jobctl
