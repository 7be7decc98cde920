#include "services/jobctl/event_format.h"

#include <cstdio>

#include "events/time.h"
#include "projections/describe.h"

namespace jobsched::jobctl {
namespace {

using nlohmann::json;

std::string ShortId(std::string_view id) {
  return id.empty() ? "-" : std::string(id.substr(0, 8));
}

std::string Time(const google::protobuf::Timestamp& ts) {
  return IsSet(ts) ? FormatRfc3339(FromProto(ts)) : "-";
}

// "RUN_STATUS_RUNNING" -> "RUNNING".
std::string RunStatusName(v1::RunStatus status) {
  const std::string& name = v1::RunStatus_Name(status);
  const std::string prefix = "RUN_STATUS_";
  return name.rfind(prefix, 0) == 0 ? name.substr(prefix.size()) : name;
}

// Left-justified in `width` columns (longer text is kept whole).
std::string Pad(std::string s, size_t width) {
  if (s.size() < width) s.append(width - s.size(), ' ');
  return s;
}

}  // namespace

std::string DescribeSource(const JobHistory& history, const std::string& topic) {
  const size_t n = history.events.size();
  std::string count = " (" + std::to_string(n) + (n == 1 ? " event)" : " events)");
  if (history.source == HistorySource::kArchive) {
    std::string line = "archive (PostgreSQL job_logs)";
    if (!history.note.empty()) line += ": " + history.note;
    return line + count;
  }
  std::string line = "kafka";
  if (n == 0) return line + " " + topic + ": no events";
  const RecordedEvent& first = history.events.front();
  line += " " + events::ToString(events::TopicPartition{topic, first.partition}) + " offsets " +
          std::to_string(first.offset) + ".." + std::to_string(history.events.back().offset) +
          count;
  if (!history.note.empty()) line += "; warning: " + history.note;
  return line;
}

std::string EventLine(const RecordedEvent& e, bool with_partition,
                      const events::FoldResult* result, const events::JobState* state_after) {
  const events::Envelope& env = e.envelope;
  // Tail mixes partitions: "p3@12" names the record; a history is one partition.
  const std::string where = with_partition
                                ? "p" + std::to_string(e.partition) + "@" + std::to_string(e.offset)
                                : std::to_string(e.offset);
  const events::FoldResult applied;
  auto description = projections::Describe(env, result != nullptr ? *result : applied,
                                           state_after);
  std::string line = Pad(where, with_partition ? 10 : 6) + "  " + Time(env.occurred_at()) +
                     "  " + Pad(std::string(events::EventType(env)), 16) + "  " +
                     Pad(env.producer(), 18) + "  " + Pad(ShortId(events::RunIdOf(env)), 8) +
                     "  " + description.message;
  if (with_partition) line += "  (job " + env.job_id() + ")";
  return line;
}

json EventJson(const RecordedEvent& e, std::string_view source) {
  json j = json::parse(events::ToJson(e.envelope), nullptr, /*allow_exceptions=*/false);
  if (!j.is_object()) j = json::object();
  j["type"] = std::string(events::EventType(e.envelope));
  j["partition"] = e.partition;
  j["offset"] = e.offset;
  j["source"] = std::string(source);
  return j;
}

std::string StateLines(const events::JobState& s, std::string_view indent) {
  const std::string in(indent);
  std::string out = in + "status " + std::string(events::JobStatusName(s.status())) +
                    ", version " + std::to_string(s.version()) + ", updated " +
                    Time(s.updated_at()) + ", next fire " + Time(s.next_fire_at()) + "\n";
  if (events::IsRecurring(s) || IsSet(s.cursor().at())) {
    out += in + "cursor " + Time(s.cursor().at());
    if (!s.cursor().fire_id().empty()) {
      out += " (fire " + ShortId(s.cursor().fire_id());
      if (!s.cursor().nominal_time().empty()) out += ", nominal " + s.cursor().nominal_time();
      out += ")";
    }
    out += "\n";
  }
  out += in + "runs in flight:";
  if (s.runs().empty()) out += " none";
  for (const v1::RunRecord& r : s.runs()) {
    out += " " + ShortId(r.run_id()) + " attempt " + std::to_string(r.attempt()) + " " +
           RunStatusName(r.status());
    if (!r.wait_reason().empty()) out += " (waiting: " + r.wait_reason() + ")";
    out += ";";
  }
  if (!s.runs().empty()) out.pop_back();
  out += "\n";
  const v1::RunSummary& c = s.summary();
  out += in + "counts: fires " + std::to_string(c.fires()) + ", manual " +
         std::to_string(c.manual_fires()) + ", attempts " + std::to_string(c.attempts()) +
         ", succeeded " + std::to_string(c.succeeded()) + ", failed " +
         std::to_string(c.failed()) + ", canceled " + std::to_string(c.canceled()) +
         ", skipped " + std::to_string(c.skipped()) + ", failed attempts " +
         std::to_string(c.attempts_failed()) + "\n";
  if (!s.requested().empty()) {
    out += in + "manual runs waiting: " + std::to_string(s.requested_size()) + "\n";
  }
  if (IsSet(s.paused_at())) out += in + "paused at " + Time(s.paused_at()) + "\n";
  if (s.cancel_requested()) out += in + "cancel requested\n";
  if (!s.end_reason().empty()) out += in + "end reason: " + s.end_reason() + "\n";
  if (!s.last_error().empty()) out += in + "last error: " + s.last_error() + "\n";
  return out;
}

json StateJson(const events::JobState& state) {
  json j = json::parse(events::ToJson(state), nullptr, /*allow_exceptions=*/false);
  return j.is_object() ? j : json::object();
}

std::vector<std::string> EventTypeNames() {
  std::vector<std::string> names;
  const auto* oneof = events::Envelope::descriptor()->FindOneofByName("event");
  for (int i = 0; i < oneof->field_count(); ++i) {
    names.push_back(oneof->field(i)->message_type()->name());
  }
  return names;
}

}  // namespace jobsched::jobctl
