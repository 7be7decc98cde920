// jobsched-devbroker: a dev/test Kafka broker around librdkafka's mock cluster.
//
// Contract:
//  - Creates every topic (--topic NAME:PARTITIONS) first, then writes the
//    bootstrap list ("127.0.0.1:port[,...]\n") to --bootstrap-file atomically
//    (temp file + rename). Clients may connect as soon as the file exists.
//  - The log lives in memory: the mock keeps ~5 MiB (or 100k message sets) per
//    partition and silently drops the oldest. Every 2 s the low watermark of
//    every partition (including auto-created topics) is checked and each move
//    is logged once as a WARN.
//  - --data-dir DIR: the log survives a restart (infra/devbroker/log_store.h).
//    Every record of every created topic is stored under DIR as it arrives
//    (flushed every 100 ms), and the committed offsets of the --groups (plus
//    those already stored) every second. On start, the stored topics are
//    created, every stored record is re-produced at its stored offset and the
//    stored group offsets are committed, all before the bootstrap file is
//    written; the log says "restored N records ...". Without --data-dir the
//    log lives in memory only.
//  - SIGINT/SIGTERM: with --data-dir, first stores every partition up to its
//    end and the groups' offsets (exit 1 if that failed); then removes the
//    bootstrap file and exits 0.
//  - --control-stdin: lines "down <id>", "up <id>", "rtt <id> <ms>" (id -1 =
//    all brokers). Each line is answered in the log with
//    "control applied: <line>" or "control failed: <line>: <reason>".
//  - Consumer groups are the mock's (librdkafka 2.0.2): a group with no members
//    waits 3 s before its first assignment (fixed; 2.0.2 has no setting for
//    it), a dead member leaves only when its session times out, and
//    group.instance.id (static membership) is ignored. What that costs a
//    restarted service: events/kafka_event_log.h.
#include <librdkafka/rdkafka.h>
#include <librdkafka/rdkafka_mock.h>
#include <poll.h>
#include <signal.h>
#include <spdlog/spdlog.h>
#include <unistd.h>

#include <CLI/CLI.hpp>

#include "events/topics.h"
#include "infra/devbroker/log_store.h"

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <chrono>
#include <condition_variable>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <map>
#include <memory>
#include <mutex>
#include <sstream>
#include <stdexcept>
#include <string>
#include <string_view>
#include <thread>
#include <utility>
#include <vector>

namespace {

std::atomic<bool> g_stop{false};
std::mutex g_stop_mu;
std::condition_variable g_stop_cv;

// Forwards librdkafka's own logs to spdlog. `quiet` handles log at debug only
// (the watermark watcher's connection errors are noise, not broker state), and
// so does the owner's expected "no bootstrap.servers" config warning.
template <bool quiet>
void RdkafkaLog(const rd_kafka_t*, int level, const char* fac, const char* buf) {
  bool noise = quiet || level >= 7 || std::string_view(fac) == "CONFWARN";
  auto lvl = noise        ? spdlog::level::debug
             : level <= 3 ? spdlog::level::err
             : level == 4 ? spdlog::level::warn
                          : spdlog::level::info;
  spdlog::log(lvl, "rdkafka {}: {}", fac, buf);
}

// Creates a producer handle; `bootstraps` may be empty (the mock's owner).
template <bool quiet>
rd_kafka_t* NewHandle(const std::string& bootstraps) {
  char err[512];
  rd_kafka_conf_t* conf = rd_kafka_conf_new();
  rd_kafka_conf_set_log_cb(conf, RdkafkaLog<quiet>);
  if (!bootstraps.empty() && rd_kafka_conf_set(conf, "bootstrap.servers", bootstraps.c_str(), err,
                                               sizeof(err)) != RD_KAFKA_CONF_OK) {
    rd_kafka_conf_destroy(conf);
    throw std::runtime_error(err);
  }
  rd_kafka_t* rk = rd_kafka_new(RD_KAFKA_PRODUCER, conf, err, sizeof(err));  // owns conf if ok
  if (rk == nullptr) {
    rd_kafka_conf_destroy(conf);
    throw std::runtime_error(std::string("rd_kafka_new: ") + err);
  }
  return rk;
}

// Sleeps up to `d`; returns false once a stop was requested.
bool SleepUnlessStopped(std::chrono::milliseconds d) {
  std::unique_lock lock(g_stop_mu);
  return !g_stop_cv.wait_for(lock, d, [] { return g_stop.load(); });
}

// Every 2 s: logs each move of any partition's low watermark (dropped events).
void WatchWatermarks(const std::string& bootstraps) {
  rd_kafka_t* rk = NewHandle<true>(bootstraps);
  std::map<std::pair<std::string, int32_t>, int64_t> last_low;  // starts at 0
  while (SleepUnlessStopped(std::chrono::seconds(2))) {
    const rd_kafka_metadata_t* md = nullptr;
    if (rd_kafka_metadata(rk, 1, nullptr, &md, 1000) != RD_KAFKA_RESP_ERR_NO_ERROR) {
      spdlog::debug("watermark check: metadata request failed");
      continue;
    }
    for (int t = 0; t < md->topic_cnt && !g_stop; ++t) {
      const auto& topic = md->topics[t];
      for (int p = 0; p < topic.partition_cnt && !g_stop; ++p) {
        int64_t low = 0, high = 0;
        int32_t id = topic.partitions[p].id;
        if (rd_kafka_query_watermark_offsets(rk, topic.topic, id, &low, &high, 1000) !=
            RD_KAFKA_RESP_ERR_NO_ERROR) {
          continue;  // broker down or slow: try again next round
        }
        int64_t& prev = last_low[{topic.topic, id}];
        if (low > prev) {
          spdlog::warn(
              "dev broker dropped old events on {}[{}]: low watermark {} -> {}; the dev "
              "broker keeps ~5 MiB per partition",
              topic.topic, id, prev, low);
          prev = low;
        }
      }
    }
    rd_kafka_metadata_destroy(md);
  }
  rd_kafka_destroy(rk);
}

// Applies one control line to the cluster; throws std::runtime_error if invalid.
void ApplyControl(rd_kafka_mock_cluster_t* mc, const std::string& line) {
  std::istringstream in(line);
  std::string cmd;
  int32_t broker = 0;
  if (!(in >> cmd >> broker)) throw std::runtime_error("expected '<cmd> <broker_id> ...'");
  rd_kafka_resp_err_t err;
  if (cmd == "down") {
    err = rd_kafka_mock_broker_set_down(mc, broker);
  } else if (cmd == "up") {
    err = rd_kafka_mock_broker_set_up(mc, broker);
  } else if (cmd == "rtt") {
    int ms = 0;
    if (!(in >> ms) || ms < 0) throw std::runtime_error("expected 'rtt <broker_id> <ms>'");
    err = rd_kafka_mock_broker_set_rtt(mc, broker, ms);
  } else {
    throw std::runtime_error("unknown command (down|up|rtt)");
  }
  if (err != RD_KAFKA_RESP_ERR_NO_ERROR) throw std::runtime_error(rd_kafka_err2str(err));
}

// Reads control lines from stdin until EOF or stop.
void ReadControl(rd_kafka_mock_cluster_t* mc) {
  std::string buf;
  char chunk[512];
  while (!g_stop) {
    pollfd pfd{0, POLLIN, 0};
    if (poll(&pfd, 1, 200) <= 0) continue;
    ssize_t n = read(0, chunk, sizeof(chunk));
    if (n <= 0) {
      spdlog::info("control: stdin closed");
      return;
    }
    buf.append(chunk, static_cast<size_t>(n));
    for (size_t nl; (nl = buf.find('\n')) != std::string::npos; buf.erase(0, nl + 1)) {
      std::string line = buf.substr(0, nl);
      if (!line.empty() && line.back() == '\r') line.pop_back();
      if (line.empty()) continue;
      try {
        ApplyControl(mc, line);
        spdlog::info("control applied: {}", line);
      } catch (const std::exception& e) {
        spdlog::error("control failed: {}: {}", line, e.what());
      }
    }
  }
}

void WriteFileAtomically(const std::string& path, const std::string& content) {
  std::string tmp = path + ".tmp." + std::to_string(getpid());
  {
    std::ofstream out(tmp, std::ios::trunc);
    out << content;
    out.close();
    if (!out) throw std::runtime_error("cannot write " + tmp + ": " + std::strerror(errno));
  }
  if (std::rename(tmp.c_str(), path.c_str()) != 0) {
    std::remove(tmp.c_str());
    throw std::runtime_error("cannot rename " + tmp + " to " + path);
  }
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"jobsched dev/test Kafka broker (librdkafka mock cluster, in memory)"};
  std::string bootstrap_file, prefix;
  std::vector<std::string> topic_specs;
  int brokers = 1;
  int partitions = jobsched::events::Topics::kJobEventsPartitions;
  bool control_stdin = false;
  app.add_option("--bootstrap-file", bootstrap_file, "where to write host:port")->required();
  app.add_option("--topic", topic_specs,
                 "NAME:PARTITIONS, repeatable (default: jobsched's topics, see --partitions)");
  app.add_option("--topic-prefix", prefix, "prefix for the default topic names");
  app.add_option("--partitions", partitions,
                 "partitions of job-events and of the snapshot topics (default 12); each keeps "
                 "~5 MiB in memory, so a bigger log needs more")
      ->check(CLI::Range(1, 4096));
  app.add_option("--brokers", brokers, "number of mock brokers")->check(CLI::Range(1, 16));
  app.add_flag("--control-stdin", control_stdin, "read down/up/rtt commands from stdin");
  std::string data_dir;
  std::vector<std::string> groups;
  app.add_option("--data-dir", data_dir,
                 "store the log and the groups' committed offsets here and restore them on "
                 "start (default: in memory only)");
  app.add_option("--groups", groups,
                 "consumer groups whose committed offsets are stored (comma-separated; needs "
                 "--data-dir)")
      ->delimiter(',');
  CLI11_PARSE(app, argc, argv);
  if (!groups.empty() && data_dir.empty()) {
    spdlog::error("--groups needs --data-dir");
    return 2;
  }

  std::vector<std::pair<std::string, int>> topics;
  if (topic_specs.empty()) {
    topics = jobsched::events::Topics::WithPrefix(prefix).WithDefaultPartitions(partitions);
  }
  for (const auto& spec : topic_specs) {
    size_t colon = spec.rfind(':');
    int partitions = 0;
    try {
      partitions = colon == std::string::npos ? 0 : std::stoi(spec.substr(colon + 1));
    } catch (const std::exception&) {
      partitions = 0;  // reported just below
    }
    if (colon == 0 || partitions <= 0) {
      spdlog::error("bad --topic '{}': expected NAME:PARTITIONS with PARTITIONS > 0", spec);
      return 2;
    }
    topics.emplace_back(spec.substr(0, colon), partitions);
  }

  // Block the stop signals in every thread (librdkafka's included); main sigwaits.
  sigset_t stop_signals;
  sigemptyset(&stop_signals);
  sigaddset(&stop_signals, SIGINT);
  sigaddset(&stop_signals, SIGTERM);
  pthread_sigmask(SIG_BLOCK, &stop_signals, nullptr);

  bool written = false;  // only then is the bootstrap file ours to remove
  try {
    rd_kafka_t* owner = NewHandle<false>("");
    rd_kafka_mock_cluster_t* mc = rd_kafka_mock_cluster_new(owner, brokers);
    if (mc == nullptr) throw std::runtime_error("rd_kafka_mock_cluster_new failed");
    std::string topic_list;
    for (const auto& [name, partitions] : topics) {
      rd_kafka_resp_err_t err =
          rd_kafka_mock_topic_create(mc, name.c_str(), partitions, std::min(brokers, 3));
      if (err != RD_KAFKA_RESP_ERR_NO_ERROR) {
        throw std::runtime_error("topic " + name + ": " + rd_kafka_err2str(err));
      }
      topic_list += (topic_list.empty() ? "" : ", ") + name + ":" + std::to_string(partitions);
    }
    std::string bootstraps = rd_kafka_mock_cluster_bootstraps(mc);

    std::unique_ptr<jobsched::devbroker::LogArchiver> archiver;
    std::unique_ptr<jobsched::devbroker::GroupOffsets> group_offsets;
    if (!data_dir.empty()) {
      auto start = std::chrono::steady_clock::now();
      // A topic stored earlier but not asked for now is created as it was:
      // its records are part of the log.
      for (const auto& [name, stored_partitions] :
           jobsched::devbroker::ReadStoredTopics(data_dir)) {
        auto it = std::find_if(topics.begin(), topics.end(),
                               [&](const auto& t) { return t.first == name; });
        if (it != topics.end() && it->second != stored_partitions) {
          throw std::runtime_error("topic " + name + " has " + std::to_string(stored_partitions) +
                                   " partitions in " + data_dir + " but " +
                                   std::to_string(it->second) +
                                   " were asked for; start afresh (remove the data dir)");
        }
        if (it != topics.end()) continue;
        rd_kafka_resp_err_t err = rd_kafka_mock_topic_create(mc, name.c_str(), stored_partitions,
                                                             std::min(brokers, 3));
        if (err != RD_KAFKA_RESP_ERR_NO_ERROR) {
          throw std::runtime_error("topic " + name + ": " + rd_kafka_err2str(err));
        }
        topics.emplace_back(name, stored_partitions);
        topic_list += ", " + name + ":" + std::to_string(stored_partitions);
      }
      jobsched::devbroker::WriteStoredTopics(data_dir, topics);
      auto restored = jobsched::devbroker::RestoreLog(data_dir, bootstraps, topics);
      group_offsets = std::make_unique<jobsched::devbroker::GroupOffsets>(data_dir, bootstraps,
                                                                          topics, groups);
      int restored_groups = group_offsets->CommitStored(restored.next_offsets);
      // Where the restored log ends, for dev.sh to compare with the
      // projector's stored offsets ("TOPIC PARTITION NEXT_OFFSET" per line).
      std::string ends;
      for (const auto& [name, count] : topics) {
        for (int32_t p = 0; p < count; ++p) {
          auto it = restored.next_offsets.find({name, p});
          ends += name + " " + std::to_string(p) + " " +
                  std::to_string(it == restored.next_offsets.end() ? 0 : it->second) + "\n";
        }
      }
      WriteFileAtomically(data_dir + "/restored", ends);
      archiver = std::make_unique<jobsched::devbroker::LogArchiver>(data_dir, bootstraps, topics,
                                                                    restored.next_offsets);
      auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(
                    std::chrono::steady_clock::now() - start)
                    .count();
      spdlog::info("restored {} records ({} partitions) and the committed offsets of {} group(s) "
                   "from {} in {} ms",
                   restored.records, restored.partitions, restored_groups, data_dir, ms);
    }

    WriteFileAtomically(bootstrap_file, bootstraps + "\n");
    written = true;
    spdlog::info("dev broker up: bootstrap {} ({} broker(s)), topics {}; written to {}", bootstraps,
                 brokers, topic_list, bootstrap_file);

    std::thread watcher(WatchWatermarks, bootstraps);
    std::thread control;
    if (control_stdin) control = std::thread(ReadControl, mc);
    std::thread group_fetcher;
    if (group_offsets) {
      group_fetcher = std::thread([&group_offsets] {
        while (SleepUnlessStopped(std::chrono::seconds(1))) group_offsets->Fetch();
      });
    }

    int sig = 0;
    sigwait(&stop_signals, &sig);
    spdlog::info("dev broker: signal {}, stopping", sig);
    {
      std::lock_guard lock(g_stop_mu);
      g_stop = true;
    }
    g_stop_cv.notify_all();
    watcher.join();
    if (control.joinable()) control.join();
    if (group_fetcher.joinable()) group_fetcher.join();
    bool stored = true;
    if (archiver) {
      // Clients that are still connected may still append: what they append
      // after this point may be lost (dev.sh stops the services first).
      group_offsets->Fetch();
      stored = archiver->DrainAndStop(std::chrono::seconds(30));
      spdlog::info("dev broker: {} records stored in {} this run{}", archiver->stored_records(),
                   data_dir, stored ? "" : " (INCOMPLETE, see the errors above)");
      archiver.reset();
      group_offsets.reset();
    }
    std::remove(bootstrap_file.c_str());
    rd_kafka_mock_cluster_destroy(mc);
    rd_kafka_destroy(owner);
    if (!stored) return 1;
  } catch (const std::exception& e) {
    spdlog::error("dev broker failed: {}", e.what());
    if (written) std::remove(bootstrap_file.c_str());
    return 1;
  }
  return 0;
}
