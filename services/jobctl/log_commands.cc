// jobctl events / tail / replay / why: a job's history straight from
// `job-events` (or its archive), decoded, folded and explained.
#include "services/jobctl/log_commands.h"

#include <CLI/CLI.hpp>
#include <algorithm>
#include <chrono>
#include <csignal>
#include <memory>
#include <ostream>
#include <set>
#include <sstream>

#include "events/envelope.h"
#include "events/fold.h"
#include "services/common/config.h"
#include "services/common/logging.h"
#include "services/jobctl/context.h"
#include "services/jobctl/event_format.h"

namespace jobsched::jobctl {
namespace {

using nlohmann::json;

// A history folded event by event: the outcome of each and the state after.
struct Folded {
  events::FoldResult result;
  events::JobState state_after;
};

bool IsLifecycle(const events::Envelope& e) {
  return e.has_job_submitted() || e.has_job_updated() || e.has_pause_requested() ||
         e.has_resume_requested() || e.has_cancel_requested() || e.has_job_canceled() ||
         e.has_job_completed() || e.has_job_succeeded() || e.has_job_dead() ||
         e.has_delete_requested();
}

// The slot a RunDue or FireSkipped record names (its first slot), if any.
std::optional<TimePoint> SlotOf(const events::Envelope& e) {
  if (e.has_run_due() && IsSet(e.run_due().scheduled_for())) {
    return FromProto(e.run_due().scheduled_for());
  }
  if (e.has_fire_skipped() && IsSet(e.fire_skipped().scheduled_for())) {
    return FromProto(e.fire_skipped().scheduled_for());
  }
  return std::nullopt;
}

bool IsScheduledFireOrSkip(const events::Envelope& e) {
  return e.has_fire_skipped() ||
         (e.has_run_due() && e.run_due().attempt() == 1 &&
          e.run_due().kind() != v1::FIRE_KIND_MANUAL);
}

// "RUN_STATUS_DUE" -> "QUEUED", as the API names an attempt waiting for an executor.
std::string ExecutionStatus(v1::RunStatus status) {
  if (status == v1::RUN_STATUS_DUE || status == v1::RUN_STATUS_DISPATCHED) return "QUEUED";
  std::string name = v1::RunStatus_Name(status);
  return name.rfind("RUN_STATUS_", 0) == 0 ? name.substr(11) : name;
}

std::string SourceName(const JobHistory& h) { return ToString(h.source); }

// librdkafka's complaints about an unreachable broker would bury the answer:
// jobctl reports the failure itself (or says which source answered instead),
// so only critical client messages are shown (on stderr: stdout is the answer).
void QuietKafkaLogs() {
  auto logger = services::GetLogger("kafka");
  if (logger->level() < spdlog::level::critical) logger->set_level(spdlog::level::critical);
}

// Reads the job's history for a command; on failure or for an unknown job,
// prints the error, sets the exit code and returns nullopt.
std::optional<JobHistory> LoadHistory(Context& ctx, const std::string& job_id) {
  QuietKafkaLogs();
  auto history = ReadJobHistory(ctx, job_id);
  if (!history.ok()) {
    Fail(ctx, history.status());
    return std::nullopt;
  }
  if (history.value().events.empty()) {
    const JobHistory& h = history.value();
    Fail(ctx, Status::NotFound(
                  "job " + job_id + " not found: no event of it in " +
                  ctx.config.topics().job_events +
                  (h.note.empty() ? " nor in the archive (PostgreSQL job_logs)" : "; " + h.note)));
    return std::nullopt;
  }
  return std::move(history).value();
}

std::optional<TimePoint> ParseTimeOption(Context& ctx, const std::string& flag,
                                         const std::string& text) {
  auto t = ParseRfc3339(text);
  if (!t) {
    *ctx.err << "jobctl: " << flag << " wants an RFC 3339 time such as 2026-11-28T10:00:00Z, got '"
             << text << "'\n";
    ctx.exit_code = 2;
  }
  return t;
}

std::atomic<bool> g_stop{false};
extern "C" void OnStopSignal(int) { g_stop.store(true); }

}  // namespace

void PrintEvents(const JobHistory& history, const std::string& topic, bool as_json,
                 std::ostream& out) {
  if (!as_json) out << DescribeSource(history, topic) << "\n";
  events::JobState state;
  for (const RecordedEvent& e : history.events) {
    if (as_json) {
      out << EventJson(e, SourceName(history)).dump() << "\n";
      continue;
    }
    const events::FoldResult result = events::Apply(state, e.envelope);
    out << EventLine(e, /*with_partition=*/false, &result, &state) << "\n";
  }
  out.flush();
}

int PrintReplay(const JobHistory& history, const std::string& topic, const ReplayLimit& limit,
                bool as_json, std::ostream& out) {
  if (!as_json) out << DescribeSource(history, topic) << "\n";
  events::JobState state;
  int folded = 0;
  int64_t last_offset = -1;
  for (const RecordedEvent& e : history.events) {
    if (limit.offset && e.offset > *limit.offset) break;
    if (limit.until && FromProto(e.envelope.occurred_at()) > *limit.until) break;
    const events::FoldResult result = events::Apply(state, e.envelope);
    ++folded;
    last_offset = e.offset;
    if (as_json) {
      json j = {{"partition", e.partition},
                {"offset", e.offset},
                {"occurred_at", FormatRfc3339(FromProto(e.envelope.occurred_at()))},
                {"type", std::string(events::EventType(e.envelope))},
                {"event_id", e.envelope.event_id()},
                {"outcome", std::string(events::OutcomeName(result.outcome))},
                {"reason", result.reason},
                {"state", StateJson(state)}};
      out << j.dump() << "\n";
      continue;
    }
    out << "#" << e.offset << "  " << FormatRfc3339(FromProto(e.envelope.occurred_at())) << "  "
        << events::EventType(e.envelope) << "  " << events::OutcomeName(result.outcome);
    if (!result.reason.empty()) out << ": " << result.reason;
    out << "\n";
    if (result.applied()) {
      out << StateLines(state, "    ");
    } else {
      out << "    (state unchanged)\n";
    }
  }
  const int total = static_cast<int>(history.events.size());
  if (as_json) {
    out << json{{"final", true},
                {"events_folded", folded},
                {"events_total", total},
                {"last_offset", last_offset},
                {"state", StateJson(state)}}
               .dump()
        << "\n";
  } else {
    out << "final state after " << folded << " of " << total << " events"
        << (folded > 0 ? " (offset " + std::to_string(last_offset) + ")" : std::string())
        << ":\n"
        << StateLines(state, "    ");
  }
  out.flush();
  return folded;
}

api::WhyFacts WhyFactsFromHistory(const JobHistory& history, TimePoint at, TimePoint now,
                                  std::map<std::string, v1::RunRecord>* runs) {
  api::WhyFacts facts;
  facts.at = at;
  facts.now = now;
  const TimePoint second = std::chrono::floor<std::chrono::seconds>(at);
  const TimePoint next_second = second + std::chrono::seconds(1);
  // The slot records before T's second, latest slot first (as the API's
  // ORDER BY scheduled_for DESC LIMIT 2).
  std::vector<std::pair<TimePoint, const events::Envelope*>> before;
  for (const RecordedEvent& r : history.events) {
    const events::Envelope& e = r.envelope;
    events::FoldEffects effects;
    if (!events::Apply(facts.current, e, &effects).applied()) continue;
    if (runs != nullptr && effects.run) (*runs)[effects.run->run_id()] = *effects.run;
    if (IsLifecycle(e)) facts.lifecycle.push_back(e);
    auto slot = SlotOf(e);
    if (!slot) continue;
    if (*slot >= second && *slot < next_second) {
      facts.slots.push_back(e);
    } else if (*slot < second && IsScheduledFireOrSkip(e)) {
      before.emplace_back(*slot, &e);
    }
  }
  std::stable_sort(before.begin(), before.end(),
                   [](const auto& a, const auto& b) { return a.first > b.first; });
  for (size_t i = 0; i < before.size() && i < 2; ++i) facts.slots.push_back(*before[i].second);
  return facts;
}

json ExplainFromHistory(const JobHistory& history, TimePoint at, TimePoint now) {
  std::map<std::string, v1::RunRecord> runs;
  api::WhyFacts facts = WhyFactsFromHistory(history, at, now, &runs);
  api::WhyVerdict verdict = api::ExplainWhy(facts);
  json answer = api::RenderWhy(at, verdict);
  if (verdict.verdict == "fired") {
    const v1::RunRecord* latest = nullptr;
    for (const auto& [id, run] : runs) {
      if (run.fire_id() == verdict.fire_id &&
          (latest == nullptr || run.attempt() > latest->attempt())) {
        latest = &run;
      }
    }
    answer["status"] = latest == nullptr ? json(nullptr) : json(ExecutionStatus(latest->status()));
    answer["attempts"] = latest == nullptr ? json(nullptr) : json(latest->attempt());
  }
  return answer;
}

void PrintWhy(const json& answer, const std::string& source, bool as_json, std::ostream& out) {
  if (as_json) {
    json j = answer;
    j["source"] = source;
    out << j.dump() << "\n";
    out.flush();
    return;
  }
  out << "at " << answer.value("at", "") << ": " << answer.value("verdict", "") << "\n";
  out << "  " << answer.value("reason", "") << "\n";
  for (const auto& [key, value] : answer.items()) {
    if (key == "at" || key == "verdict" || key == "reason" || key == "events") continue;
    out << "  " << key << ": " << (value.is_string() ? value.get<std::string>() : value.dump())
        << "\n";
  }
  if (answer.contains("events") && !answer["events"].empty()) {
    out << "  decided by events:";
    for (const auto& id : answer["events"]) out << " " << id.get<std::string>();
    out << "\n";
  }
  out << "  (from " << source << ")\n";
  out.flush();
}

Status Tail(events::EventLog& log, const events::Topics& topics, const TailOptions& options,
            std::ostream& out, std::ostream& err, const std::atomic<bool>& stop,
            const std::function<void()>& on_ready) {
  const std::set<std::string> types(options.types.begin(), options.types.end());
  auto count = log.PartitionCount(topics.job_events);
  if (!count.ok()) return count.status();
  std::vector<events::TopicPartition> parts;
  for (int32_t p = 0; p < count.value(); ++p) parts.push_back({topics.job_events, p});

  // Fixed start offsets: the high watermarks now (or the beginning), so a
  // record appended once `on_ready` ran is seen whatever the consumer's timing.
  class Starts : public events::RebalanceListener {
   public:
    std::map<events::TopicPartition, int64_t> starts;
    std::map<events::TopicPartition, int64_t> OnAssigned(
        const std::vector<events::TopicPartition>&) override {
      return starts;
    }
    void OnRevoked(const std::vector<events::TopicPartition>&) override {}
  } listener;
  events::ConsumerOptions copts;  // no group_id: nothing committed, nobody rebalanced
  copts.topics = {topics.job_events};
  copts.partitions = parts;
  copts.listener = &listener;
  copts.client_id = "jobctl-tail";
  copts.profile = events::FetchProfile::kLatency;
  auto consumer = log.NewConsumer(copts);
  if (!consumer.ok()) return consumer.status();
  events::Consumer& c = *consumer.value();
  if (options.from_beginning) {
    for (const auto& tp : parts) listener.starts[tp] = events::kOffsetBeginning;
  } else {
    auto marks = c.QueryWatermarks(parts, std::chrono::milliseconds(10'000));
    if (!marks.ok()) {
      c.Close();
      return marks.status();
    }
    for (const auto& [tp, w] : marks.value()) listener.starts[tp] = w.high;
  }
  // The first Poll assigns the partitions at those offsets.
  c.Poll(0, std::chrono::milliseconds(0));
  if (on_ready) on_ready();

  int64_t matched = 0;
  while (!stop.load() && (options.count <= 0 || matched < options.count)) {
    for (const events::Record& r : c.Poll(500, std::chrono::milliseconds(200))) {
      if (!options.job_id.empty() && r.key != options.job_id) continue;
      auto e = events::DecodeEnvelope(r.value);
      if (!e.ok()) {
        err << "jobctl: " << events::ToString({r.topic, r.partition}) << "@" << r.offset
            << " does not decode: " << e.status().message() << "\n";
        continue;
      }
      if (!types.empty() && types.count(std::string(events::EventType(e.value()))) == 0) {
        continue;
      }
      RecordedEvent rec{std::move(e).value(), r.partition, r.offset, r.timestamp_ms};
      if (options.json) {
        out << EventJson(rec, "kafka").dump() << "\n";
      } else {
        out << EventLine(rec, /*with_partition=*/true) << "\n";
      }
      out.flush();
      if (options.count > 0 && ++matched >= options.count) break;
    }
  }
  c.Close();
  return Status::Ok();
}

void AddLogCommands(CLI::App& app, Context& ctx) {
  const std::string topic_help = " (topic job-events, with JOBSCHED_TOPIC_PREFIX)";

  // events
  {
    auto* cmd = app.add_subcommand(
        "events",
        "A job's whole history, decoded, from Kafka" + topic_help +
            "; from the archive (PostgreSQL job_logs) when Kafka no longer holds its start or "
            "cannot be reached. The first line says which source answered.");
    auto job = std::make_shared<std::string>();
    cmd->add_option("JOB_ID", *job, "the job (or workflow) id")->required();
    cmd->callback([&ctx, job] {
      auto history = LoadHistory(ctx, *job);
      if (!history) return;
      PrintEvents(*history, ctx.config.topics().job_events, ctx.json, *ctx.out);
    });
  }

  // tail
  {
    auto* cmd = app.add_subcommand(
        "tail",
        "Live stream of job-events, as another team's consumer would subscribe. Reads every "
        "partition without a consumer group: commits nothing and disturbs no other reader. "
        "Runs until Ctrl-C (SIGINT) or SIGTERM.");
    auto opts = std::make_shared<TailOptions>();
    cmd->add_option("--type", opts->types,
                    "only these event types, e.g. RunFailed (repeatable or comma list)")
        ->delimiter(',');
    cmd->add_option("--job", opts->job_id, "only this job's events");
    cmd->add_flag("--from-beginning", opts->from_beginning,
                  "start at the oldest retained record instead of the end");
    cmd->add_option("--count", opts->count, "exit after N matching events")
        ->check(CLI::PositiveNumber);
    cmd->callback([&ctx, opts] {
      const auto known = EventTypeNames();
      for (const std::string& t : opts->types) {
        if (std::find(known.begin(), known.end(), t) == known.end()) {
          std::string list;
          for (const auto& k : known) list += (list.empty() ? "" : ", ") + k;
          *ctx.err << "jobctl: unknown event type '" << t << "'; known types: " << list << "\n";
          ctx.exit_code = 2;
          return;
        }
      }
      if (Status s = RequireKafka(ctx); !s.ok()) {
        Fail(ctx, s);
        return;
      }
      QuietKafkaLogs();
      auto log = services::MakeEventLog(ctx.config);
      if (!log.ok()) {
        Fail(ctx, log.status());
        return;
      }
      opts->json = ctx.json;
      g_stop.store(false);
      auto old_int = std::signal(SIGINT, OnStopSignal);
      auto old_term = std::signal(SIGTERM, OnStopSignal);
      const std::string topic = ctx.config.topics().job_events;
      Status s = Tail(*log.value(), ctx.config.topics(), *opts, *ctx.out, *ctx.err, g_stop, [&] {
        *ctx.err << "jobctl: tailing " << topic
                 << (opts->from_beginning ? " from the beginning" : " from the end")
                 << " (no consumer group)\n";
        ctx.err->flush();
      });
      std::signal(SIGINT, old_int);
      std::signal(SIGTERM, old_term);
      if (!s.ok()) Fail(ctx, s);
    });
  }

  // replay
  {
    auto* cmd = app.add_subcommand(
        "replay",
        "Folds a job's history step by step with the scheduler's own fold: each event, what "
        "the fold made of it (applied / duplicate / rejected) and the state after it; then the "
        "final state. Time travel for debugging.");
    auto job = std::make_shared<std::string>();
    auto until = std::make_shared<std::string>();
    auto offset = std::make_shared<int64_t>(-1);
    cmd->add_option("JOB_ID", *job, "the job (or workflow) id")->required();
    auto* until_opt = cmd->add_option(
        "--until", *until, "stop after the events that occurred at or before TIME (RFC 3339)");
    auto* offset_opt =
        cmd->add_option("--offset", *offset, "stop after the event at offset N (inclusive)")
            ->check(CLI::NonNegativeNumber);
    until_opt->excludes(offset_opt);
    cmd->callback([&ctx, job, until, offset, until_opt, offset_opt] {
      ReplayLimit limit;
      if (until_opt->count() > 0) {
        limit.until = ParseTimeOption(ctx, "--until", *until);
        if (!limit.until) return;
      }
      if (offset_opt->count() > 0) limit.offset = *offset;
      auto history = LoadHistory(ctx, *job);
      if (!history) return;
      PrintReplay(*history, ctx.config.topics().job_events, limit, ctx.json, *ctx.out);
    });
  }

  // why
  {
    auto* cmd = app.add_subcommand(
        "why",
        "What the scheduler decided for the slot at TIME and why (fired, skipped, paused, "
        "not_a_slot, ...), from the job's own events: the same explanation as "
        "GET /api/v1/jobs/{id}/why?at=TIME.");
    auto job = std::make_shared<std::string>();
    auto at = std::make_shared<std::string>();
    cmd->add_option("JOB_ID", *job, "the job id")->required();
    cmd->add_option("--at", *at, "the slot's time (RFC 3339)")->required();
    cmd->callback([&ctx, job, at] {
      auto t = ParseTimeOption(ctx, "--at", *at);
      if (!t) return;
      auto history = LoadHistory(ctx, *job);
      if (!history) return;
      json answer = ExplainFromHistory(*history, *t, SystemClock::Instance().Now());
      // JSON names the source ("kafka" | "archive"); people get the whole line.
      PrintWhy(answer,
               ctx.json ? SourceName(*history)
                        : DescribeSource(*history, ctx.config.topics().job_events),
               ctx.json, *ctx.out);
    });
  }
}

}  // namespace jobsched::jobctl
