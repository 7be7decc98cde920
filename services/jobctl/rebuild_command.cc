// `jobctl rebuild [--from log|archive]`: drops and rebuilds every projection
// (projections/rebuild.h: into a scratch schema, swapped in at the end, safe
// beside a live projector) and prints what it did: tables and rows, events
// folded, seconds. The same library call as `jobsched-projector --rebuild`.
#include <CLI/CLI.hpp>
#include <memory>
#include <nlohmann/json.hpp>
#include <ostream>
#include <string>

#include "projections/rebuild.h"
#include "services/common/config.h"
#include "services/jobctl/context.h"

namespace jobsched::jobctl {
namespace {

nlohmann::json ToJson(const projections::RebuildReport& r) {
  nlohmann::json tables = nlohmann::json::array();
  for (const projections::RebuiltTable& t : r.tables) {
    tables.push_back({{"table", t.name}, {"rows", t.rows}, {"from", t.from}});
  }
  nlohmann::json offsets = nlohmann::json::object();
  for (const auto& [p, next] : r.next_offsets) offsets[std::to_string(p)] = next;
  return {{"source", projections::ToString(r.source)},
          {"schema", r.schema},
          {"tables", tables},
          {"events", r.events},
          {"applied", r.applied},
          {"duplicates", r.duplicates},
          {"rejected", r.rejected},
          {"undecodable", r.undecodable},
          {"heartbeats", r.heartbeats},
          {"next_offsets", offsets},
          {"seconds", r.seconds}};
}

void RunRebuild(Context& ctx, const std::string& from) {
  auto source = projections::ParseRebuildSource(from);
  if (!source.ok()) {
    Fail(ctx, source.status());
    return;
  }
  // Kafka for both sources: job-events (log) and the executors topic (always).
  if (Status s = RequireKafka(ctx); !s.ok()) {
    Fail(ctx, s);
    return;
  }
  auto log = services::MakeEventLog(ctx.config);
  if (!log.ok()) {
    Fail(ctx, log.status());
    return;
  }
  projections::RebuildOptions o;
  o.database_url = ctx.config.database_url;
  o.source = source.value();
  o.topic = ctx.config.topics().job_events;
  o.executors_topic = ctx.config.topics().executors;
  // The projectors' routine lines (started, partitions assigned) are noise
  // here; warnings and errors still reach stderr.
  std::ostream* err = ctx.err;
  o.log_sink = [err](spdlog::level::level_enum level, std::string_view msg,
                     std::initializer_list<projections::LogField> fields) {
    if (level < spdlog::level::warn) return;
    std::string line = "jobctl: " + std::string(msg);
    for (const auto& [k, v] : fields) {
      if (!v.empty()) line += " " + std::string(k) + "=" + std::string(v);
    }
    *err << line << "\n";
  };
  auto report = projections::RebuildProjections(*log.value(), o);
  if (!report.ok()) {
    Fail(ctx, report.status());
    return;
  }
  if (ctx.json) {
    *ctx.out << ToJson(report.value()).dump() << "\n";
  } else {
    *ctx.out << projections::FormatRebuildReport(report.value());
  }
}

}  // namespace

void AddRebuildCommand(CLI::App& app, Context& ctx) {
  auto from = std::make_shared<std::string>("log");
  CLI::App* cmd = app.add_subcommand(
      "rebuild",
      "drop and rebuild every projection (jobs, job_executions, job_logs, dead_letters,"
      " workflows, job_dependencies, executors) from the log or the archive");
  cmd->add_option("--from", *from,
                  "log: job-events from offset 0 (refused once retention dropped records);"
                  " archive: job_logs, whose rows are kept")
      ->check(CLI::IsMember({"log", "archive"}))
      ->capture_default_str();
  cmd->callback([&ctx, from] { RunRebuild(ctx, *from); });
}

}  // namespace jobsched::jobctl
