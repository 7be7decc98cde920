#include "projections/rebuild.h"

#include <libpq-fe.h>

#include <algorithm>
#include <cstdio>
#include <memory>
#include <optional>
#include <set>
#include <thread>

#include <pqxx/pqxx>

#include "projections/archive_event_log.h"
#include "projections/executor_projector.h"
#include "projections/migrations.h"
#include "projections/pg_internal.h"
#include "projections/pg_projection_store.h"
#include "projections/projector.h"

namespace jobsched::projections {
namespace {

using spdlog::level::level_enum;
using SteadyClock = std::chrono::steady_clock;
using namespace std::chrono_literals;

// Key of the session advisory lock one rebuild holds ("jsrebld" in ASCII).
constexpr int64_t kRebuildLockKey = 0x6a737265626c64;

constexpr char kJobsProjection[] = "jobs";
constexpr char kExecutorsProjection[] = "executors";

// The tables folded from job-events, in the order the projector's write
// transaction touches them (after projection_offsets), so the swap's locks
// queue behind a live write instead of deadlocking with it.
const std::vector<std::string>& JobEventTables() {
  static const std::vector<std::string> tables = {
      "jobs", "workflows", "job_dependencies", "job_executions", "dead_letters", "job_logs",
      "undecodable_records"};
  return tables;
}

// The archive: every record of job-events as it was. A rebuild from the
// archive reads job_logs and keeps both tables as they are.
bool IsArchiveTable(const std::string& table) {
  return table == "job_logs" || table == "undecodable_records";
}

std::string Quote(const std::string& ident) {
  std::string out = "\"";
  for (char c : ident) {
    if (c == '"') out += '"';
    out += c;
  }
  return out + "\"";
}

// Where each partition of the source ends: [begin, end) to fold.
struct SourceRange {
  std::map<int32_t, ArchiveRange> partitions;
  // Archive only: the live next offsets the archive was read below. Records
  // there that were never archived (undecodable ones) were skipped by the
  // live projector too, so the rebuilt offsets move up to these.
  std::map<int32_t, int64_t> covered;
};

Result<SourceRange> TopicRange(events::EventLog& log, const std::string& topic,
                               bool require_offset_zero) {
  auto count = log.PartitionCount(topic);
  if (!count.ok()) return count.status();
  events::ConsumerOptions o;
  o.topics = {topic};
  o.client_id = "jobsched-rebuild";
  auto consumer = log.NewConsumer(o);
  if (!consumer.ok()) return consumer.status();
  std::vector<events::TopicPartition> parts;
  for (int32_t p = 0; p < count.value(); ++p) parts.push_back({topic, p});
  auto marks = consumer.value()->QueryWatermarks(parts, 15s);
  consumer.value()->Close();
  if (!marks.ok()) return marks.status();
  SourceRange out;
  for (const auto& [tp, w] : marks.value()) {
    if (require_offset_zero && w.low > 0) {
      return Status::Conflict(
          events::ToString(tp) + " starts at offset " + std::to_string(w.low) +
          ", not 0: retention dropped its oldest records, so a rebuild from the log would lose"
          " them; rebuild from the archive instead (--from archive: job_logs keeps every record)");
    }
    out.partitions[tp.partition] = {w.low, w.high};
  }
  return out;
}

// The archived records below the live projection's offsets, read in one
// statement (one snapshot): a live projector stores rows and offsets in one
// transaction, so every archived record below an offset is there.
SourceRange ArchiveRanges(pqxx::connection& conn, const std::string& schema,
                          const std::string& topic) {
  pqxx::nontransaction txn(conn);
  const std::string s = Quote(schema);
  SourceRange out;
  for (const auto& row : txn.exec_params(
           "WITH o AS (SELECT partition, next_offset FROM " + s +
               ".projection_offsets WHERE projection = $2 AND topic = $1),"
               " l AS (SELECT j.kafka_partition AS partition, min(j.kafka_offset) AS lo,"
               " max(j.kafka_offset) + 1 AS hi FROM " + s +
               ".job_logs j LEFT JOIN o ON o.partition = j.kafka_partition"
               " WHERE j.topic = $1 AND (o.next_offset IS NULL OR j.kafka_offset < o.next_offset)"
               " GROUP BY j.kafka_partition)"
               " SELECT coalesce(l.partition, o.partition), l.lo, l.hi, o.next_offset"
               " FROM l FULL JOIN o ON l.partition = o.partition",
           topic, kJobsProjection)) {
    const int32_t p = row[0].as<int32_t>();
    if (!row[1].is_null()) out.partitions[p] = {row[1].as<int64_t>(), row[2].as<int64_t>()};
    if (!row[3].is_null()) out.covered[p] = row[3].as<int64_t>();
  }
  return out;
}

// Stored next offsets of `projection` in `schema`.
std::map<int32_t, int64_t> StoredOffsets(pqxx::connection& conn, const std::string& schema,
                                         const std::string& projection) {
  pqxx::nontransaction txn(conn);
  std::map<int32_t, int64_t> out;
  for (const auto& row : txn.exec_params("SELECT partition, next_offset FROM " + Quote(schema) +
                                             ".projection_offsets WHERE projection = $1",
                                         projection)) {
    out[row[0].as<int32_t>()] = row[1].as<int64_t>();
  }
  return out;
}

// Partitions whose stored offset has not reached the range's end ("" when
// none): a partition with records in [begin, end) must reach `end`.
std::string Behind(const SourceRange& range, const std::map<int32_t, int64_t>& stored) {
  std::string out;
  for (const auto& [p, r] : range.partitions) {
    if (r.end <= r.begin) continue;
    auto it = stored.find(p);
    int64_t at = it == stored.end() ? -1 : it->second;
    if (at >= r.end) continue;
    if (!out.empty()) out += ", ";
    out += std::to_string(p) + " at " + (at < 0 ? std::string("start") : std::to_string(at)) +
           " of " + std::to_string(r.end);
  }
  return out;
}

int64_t Sum(const std::map<int32_t, int64_t>& offsets) {
  int64_t sum = 0;
  for (const auto& [p, o] : offsets) sum += o;
  return sum;
}

}  // namespace

const char* ToString(RebuildSource source) {
  return source == RebuildSource::kArchive ? "archive" : "log";
}

Result<RebuildSource> ParseRebuildSource(const std::string& text) {
  if (text == "log") return RebuildSource::kLog;
  if (text == "archive") return RebuildSource::kArchive;
  return Status::Invalid("--from must be log or archive, got '" + text + "'");
}

Result<std::string> WithSearchPath(const std::string& database_url, const std::string& schema) {
  char* error = nullptr;
  PQconninfoOption* opts = PQconninfoParse(database_url.c_str(), &error);
  if (error != nullptr) PQfreemem(error);
  if (opts == nullptr) return Status::Invalid("DATABASE_URL cannot be parsed");
  std::unique_ptr<PQconninfoOption, decltype(&PQconninfoFree)> guard(opts, &PQconninfoFree);
  auto quoted = [](const std::string& v) {
    std::string out = "'";
    for (char c : v) {
      if (c == '\'' || c == '\\') out += '\\';
      out += c;
    }
    return out + "'";
  };
  std::string out;
  std::string options;
  for (PQconninfoOption* o = opts; o->keyword != nullptr; ++o) {
    if (o->val == nullptr) continue;
    if (std::string_view(o->keyword) == "options") {
      options = o->val;
      continue;
    }
    out += std::string(o->keyword) + "=" + quoted(o->val) + " ";
  }
  // A later -c wins over one the URL already had.
  options += (options.empty() ? "" : " ") + std::string("-csearch_path=") + Quote(schema);
  out += "options=" + quoted(options);
  return out;
}

std::string FormatRebuildReport(const RebuildReport& r) {
  std::string out;
  char line[256];
  std::snprintf(line, sizeof line, "rebuilt from %s into schema %s in %.2f s\n",
                r.source == RebuildSource::kArchive ? "the archive (job_logs)"
                                                    : "the log (job-events from offset 0)",
                r.schema.c_str(), r.seconds);
  out += line;
  for (const RebuiltTable& t : r.tables) {
    std::snprintf(line, sizeof line, "  %-20s %10lld rows  %s\n", t.name.c_str(),
                  static_cast<long long>(t.rows), t.from.c_str());
    out += line;
  }
  std::snprintf(line, sizeof line,
                "%llu events folded (%llu applied, %llu duplicate, %llu rejected, %llu"
                " undecodable), %llu heartbeats read\n",
                static_cast<unsigned long long>(r.events),
                static_cast<unsigned long long>(r.applied),
                static_cast<unsigned long long>(r.duplicates),
                static_cast<unsigned long long>(r.rejected),
                static_cast<unsigned long long>(r.undecodable),
                static_cast<unsigned long long>(r.heartbeats));
  out += line;
  return out;
}

Result<RebuildReport> RebuildProjections(events::EventLog& log, const RebuildOptions& options) {
  const auto started = SteadyClock::now();
  ProjectionLogger logger("rebuild", options.log_sink);
  const bool from_archive = options.source == RebuildSource::kArchive;
  const bool with_executors = !options.executors_topic.empty();
  const std::string& scratch = options.scratch_schema;
  const std::string where = DescribeDatabaseUrl(options.database_url);
  RebuildReport report;
  report.source = options.source;

  if (Status s = ApplyMigrations(options.database_url, options.log_sink); !s.ok()) return s;
  auto scratch_url = WithSearchPath(options.database_url, scratch);
  if (!scratch_url.ok()) return scratch_url.status();

  std::unique_ptr<pqxx::connection> admin;
  try {
    admin = std::make_unique<pqxx::connection>(options.database_url);
    pqxx::nontransaction txn(*admin);
    if (!txn.exec("SELECT pg_try_advisory_lock(" + std::to_string(kRebuildLockKey) + ")")[0][0]
             .as<bool>()) {
      return Status::Conflict("another rebuild of " + where + " is running");
    }
    auto schema = txn.exec("SELECT current_schema()")[0][0];
    if (schema.is_null()) {
      return Status::Invalid("the search_path of " + where + " names no schema");
    }
    report.schema = schema.as<std::string>();
    if (report.schema == scratch) {
      return Status::Invalid("the scratch schema " + scratch + " is the live schema");
    }
    txn.exec("DROP SCHEMA IF EXISTS " + Quote(scratch) + " CASCADE");
    txn.exec("CREATE SCHEMA " + Quote(scratch));
  } catch (const std::exception& e) {
    return internal::TranslatePgError(e, "preparing the rebuild (" + where + ")");
  }
  // Whatever happens next, the scratch schema goes (the swap empties it).
  struct DropScratch {
    pqxx::connection* conn;
    const std::string& schema;
    ~DropScratch() {
      try {
        pqxx::nontransaction txn(*conn);
        txn.exec("DROP SCHEMA IF EXISTS " + Quote(schema) + " CASCADE");
      } catch (const std::exception&) {
        // Best effort: the next rebuild drops it first anyway.
      }
    }
  } drop_scratch{admin.get(), scratch};

  if (Status s = ApplyMigrations(scratch_url.value(), options.log_sink); !s.ok()) return s;

  // 1. Where the sources end now: the rebuild folds up to there.
  SourceRange events_range;
  if (from_archive) {
    try {
      events_range = ArchiveRanges(*admin, report.schema, options.topic);
    } catch (const std::exception& e) {
      return internal::TranslatePgError(e, "reading the archive's extent (" + where + ")");
    }
  } else {
    auto range = TopicRange(log, options.topic, /*require_offset_zero=*/true);
    if (!range.ok()) return range.status();
    events_range = std::move(range).value();
  }
  SourceRange executors_range;
  if (with_executors) {
    auto range = TopicRange(log, options.executors_topic, /*require_offset_zero=*/false);
    if (!range.ok()) return range.status();
    executors_range = std::move(range).value();
  }
  logger.Log(level_enum::info, "rebuilding projections",
             {{"source", ToString(options.source)},
              {"database", where},
              {"schema", report.schema},
              {"scratch", scratch}});

  // 2. The normal projectors, into the scratch schema.
  PgProjectionStoreOptions store_options;
  store_options.database_url = scratch_url.value();
  store_options.application_name = "jobsched-rebuild";
  // From the archive, job_logs is the source and stays: no second copy.
  store_options.write_logs = !from_archive;
  PgProjectionStore store(store_options);
  std::unique_ptr<ArchiveEventLog> archive;
  if (from_archive) {
    archive = std::make_unique<ArchiveEventLog>(options.database_url, report.schema,
                                                options.topic, events_range.partitions,
                                                options.log_sink);
  }
  ProjectorOptions po;
  po.topic = options.topic;
  po.projection = kJobsProjection;
  po.group_id = "";  // every partition, without joining (or disturbing) the live group
  po.client_id = "jobsched-rebuild";
  po.commit_to_log = false;
  po.max_batch_records = options.max_batch_records;
  po.progress_log_interval = 0ms;
  po.log_sink = options.log_sink;
  Projector projector(archive ? static_cast<events::EventLog&>(*archive) : log, store, po);
  ExecutorProjectorOptions eo;
  eo.topic = options.executors_topic;
  eo.projection = kExecutorsProjection;
  eo.group_id = "";
  eo.client_id = "jobsched-rebuild-executors";
  eo.max_batch_records = options.max_batch_records;
  eo.log_sink = options.log_sink;
  ExecutorProjector executors(log, store, eo);
  if (Status s = projector.Start(); !s.ok()) return s;
  if (with_executors) {
    if (Status s = executors.Start(); !s.ok()) return s;
  }

  // 3. Wait until both reach the ends, failing if they stall.
  try {
    pqxx::connection watch(options.database_url);
    int64_t progress = -1;
    auto last_progress = SteadyClock::now();
    while (true) {
      auto jobs = StoredOffsets(watch, scratch, kJobsProjection);
      auto execs = StoredOffsets(watch, scratch, kExecutorsProjection);
      std::string behind = Behind(events_range, jobs);
      std::string execs_behind = with_executors ? Behind(executors_range, execs) : "";
      if (behind.empty() && execs_behind.empty()) {
        report.next_offsets = std::move(jobs);
        break;
      }
      int64_t now_progress = Sum(jobs) + Sum(execs);
      if (now_progress != progress) {
        progress = now_progress;
        last_progress = SteadyClock::now();
      } else if (SteadyClock::now() - last_progress > options.stall_timeout) {
        return Status::Timeout(
            "the rebuild made no progress for " +
            std::to_string(options.stall_timeout.count() / 1000) + " s; partitions behind: " +
            (behind.empty() ? "" : options.topic + " " + behind) +
            (execs_behind.empty() ? "" : " " + options.executors_topic + " " + execs_behind) +
            " (is Kafka reachable? see the log lines above)");
      }
      std::this_thread::sleep_for(100ms);
    }
  } catch (const std::exception& e) {
    return internal::TranslatePgError(e, "following the rebuild (" + where + ")");
  }
  projector.Stop();
  executors.Stop();
  if (!events_range.covered.empty()) {
    try {
      pqxx::work txn(*admin, "rebuild_offsets");
      for (const auto& [p, next] : events_range.covered) {
        txn.exec_params("INSERT INTO " + Quote(scratch) +
                            ".projection_offsets AS po (projection, topic, partition, next_offset)"
                            " VALUES ($1, $2, $3, $4) ON CONFLICT (projection, topic, partition)"
                            " DO UPDATE SET next_offset = greatest(po.next_offset, $4)",
                        kJobsProjection, options.topic, p, next);
        report.next_offsets[p] = std::max(report.next_offsets[p], next);
      }
      txn.commit();
    } catch (const std::exception& e) {
      return internal::TranslatePgError(e, "storing the rebuilt offsets (" + where + ")");
    }
  }
  const ProjectorStats stats = projector.stats();
  report.events = stats.records;
  report.applied = stats.applied;
  report.duplicates = stats.duplicates;
  report.rejected = stats.rejected;
  report.undecodable = stats.undecodable;
  report.heartbeats = executors.stats().records;

  // 4. Swap the rebuilt tables in, in one transaction.
  std::vector<std::string> swapped = {"projection_offsets"};
  std::set<std::string> rebuilt_projections = {kJobsProjection};
  for (const std::string& t : JobEventTables()) {
    if (!(from_archive && IsArchiveTable(t))) swapped.push_back(t);
  }
  if (with_executors) {
    swapped.push_back("executors");
    rebuilt_projections.insert(kExecutorsProjection);
  }
  const std::string live = Quote(report.schema);
  const std::string fresh = Quote(scratch);
  Status swap_status;
  for (int attempt = 1; attempt <= 3; ++attempt) {
    report.tables.clear();
    try {
      pqxx::work txn(*admin, "rebuild_swap");
      txn.exec("SET LOCAL lock_timeout = '30s'");
      std::string lock = "LOCK TABLE ";
      for (size_t i = 0; i < swapped.size(); ++i) {
        lock += (i == 0 ? "" : ", ") + live + "." + swapped[i];
      }
      txn.exec(lock + " IN ACCESS EXCLUSIVE MODE");
      // Offsets of projections this rebuild did not fold go along unchanged.
      std::string kept;
      for (const std::string& p : rebuilt_projections) {
        kept += (kept.empty() ? "" : ", ") + txn.quote(p);
      }
      txn.exec("INSERT INTO " + fresh + ".projection_offsets SELECT * FROM " + live +
               ".projection_offsets WHERE projection NOT IN (" + kept + ")");
      for (const std::string& t : swapped) {
        txn.exec("DROP TABLE " + live + "." + t);
        txn.exec("ALTER TABLE " + fresh + "." + t + " SET SCHEMA " + live);
      }
      // Tables of the scratch schema this rebuild does not know (a newer
      // migration's) are not projections it can fold: say so.
      std::set<std::string> known(swapped.begin(), swapped.end());
      known.insert({"schema_migrations", "job_logs", "undecodable_records", "executors"});
      for (const auto& row : txn.exec_params(
               "SELECT tablename FROM pg_tables WHERE schemaname = $1", scratch)) {
        std::string name = row[0].as<std::string>();
        if (known.count(name) == 0) {
          logger.Log(level_enum::warn, "table not rebuilt: the rebuild does not know it",
                     {{"table", name}});
        }
      }
      std::vector<std::string> all = JobEventTables();
      all.push_back("executors");
      all.push_back("projection_offsets");
      for (const std::string& t : all) {
        RebuiltTable row;
        row.name = t;
        row.rows = txn.exec("SELECT count(*) FROM " + live + "." + t)[0][0].as<int64_t>();
        if (t == "job_logs" && from_archive) {
          row.from = "kept: the archive, read in (partition, offset) order";
        } else if (t == "undecodable_records" && from_archive) {
          row.from = "kept: the archive's records that are no event";
        } else if (t == "executors") {
          row.from = with_executors ? "rebuilt from topic " + options.executors_topic
                                    : "kept as it was";
        } else if (t == "projection_offsets") {
          row.from = "rebuilt with the rows";
        } else {
          row.from = from_archive ? "rebuilt from the archive" : "rebuilt from " + options.topic;
        }
        report.tables.push_back(std::move(row));
      }
      txn.commit();
      swap_status = Status::Ok();
      break;
    } catch (const std::exception& e) {
      swap_status = internal::TranslatePgError(e, "swapping the rebuilt tables in (" + where + ")");
      if (swap_status.code() != ErrorCode::kUnavailable) break;
      logger.Log(level_enum::warn, "swap failed; retrying",
                 {{"attempt", std::to_string(attempt)}, {"error", swap_status.message()}});
    }
  }
  if (!swap_status.ok()) return swap_status;
  report.seconds = std::chrono::duration<double>(SteadyClock::now() - started).count();
  logger.Log(level_enum::info, "projections rebuilt",
             {{"source", ToString(options.source)},
              {"events", std::to_string(report.events)},
              {"seconds", std::to_string(report.seconds)}});
  return report;
}

}  // namespace jobsched::projections
