// Append latency on the dev broker: how long Producer::Append of a batch of
// N records (spread over the partitions of job-events by key, as a service's
// decisions are) waits for its acknowledgements, per librdkafka linger.ms.
// The figures behind the producers' settings (README, "Admission and Kafka
// client settings"). Asserts nothing.
//
//   jobsched-bench-append [--batches 1,5,20,100] [--linger 0,1,2,5] [--rounds 200]
//                         [--brokers 1] [--one-key]
#include <CLI/CLI.hpp>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <string>
#include <vector>

#include "events/kafka_event_log.h"
#include "events/topics.h"
#include "tests/support/devbroker.h"

namespace {

using Clock = std::chrono::steady_clock;

double Percentile(std::vector<double> v, double p) {
  if (v.empty()) return 0;
  std::sort(v.begin(), v.end());
  return v[static_cast<size_t>(p * static_cast<double>(v.size() - 1))];
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"Append latency per batch size and linger.ms on the dev broker"};
  std::vector<int> batches = {1, 5, 20, 100};
  std::vector<std::string> lingers = {"0", "1", "2", "5"};
  int rounds = 200;
  int brokers = 1;
  bool one_key = false;
  std::vector<std::string> settings;
  app.add_option("--batches", batches, "records per Append")->delimiter(',');
  app.add_option("--linger", lingers, "linger.ms values")->delimiter(',');
  app.add_option("--rounds", rounds, "Appends per cell")->check(CLI::PositiveNumber);
  app.add_option("--brokers", brokers, "mock brokers the partitions are spread over")
      ->check(CLI::Range(1, 16));
  app.add_flag("--one-key", one_key, "every record of an append under one key (one partition)");
  app.add_option("--set", settings, "extra librdkafka property NAME=VALUE (repeatable)");
  CLI11_PARSE(app, argc, argv);

  jobsched::testing::ScopedDevBroker broker(jobsched::testing::DefaultTopics(), brokers);
  const std::string topic = jobsched::events::Topics().job_events;
  const std::string value(370, 'x');  // a typical envelope's size
  std::printf("append latency on the dev broker (%d brokers), %d appends per cell (p50 / p99 ms)\n",
              brokers, rounds);
  std::printf("%-10s", "linger.ms");
  for (int b : batches) std::printf("  %14s", (std::to_string(b) + " records").c_str());
  std::printf("\n");
  for (const std::string& linger : lingers) {
    jobsched::events::KafkaConfig config;
    config.brokers = broker.bootstrap();
    config.extra["linger.ms"] = linger;
    for (const std::string& kv : settings) {
      const auto eq = kv.find('=');
      if (eq == std::string::npos) {
        std::fprintf(stderr, "--set wants NAME=VALUE, got %s\n", kv.c_str());
        return 2;
      }
      config.extra[kv.substr(0, eq)] = kv.substr(eq + 1);
    }
    auto log = jobsched::events::KafkaEventLog::Make(config);
    if (!log.ok()) {
      std::fprintf(stderr, "%s\n", log.status().ToString().c_str());
      return 1;
    }
    auto producer = (*log)->NewProducer("append-bench");
    if (!producer.ok()) {
      std::fprintf(stderr, "%s\n", producer.status().ToString().c_str());
      return 1;
    }
    std::printf("%-10s", linger.c_str());
    for (int b : batches) {
      std::vector<double> ms;
      for (int r = -10; r < rounds; ++r) {  // 10 warm-up appends
        std::vector<jobsched::events::Record> records;
        for (int i = 0; i < b; ++i) {
          std::string key = "job-" + std::to_string(r) + (one_key ? "" : "-" + std::to_string(i));
          records.push_back({topic, std::move(key), value});
        }
        auto t0 = Clock::now();
        auto st = (*producer)->Append(std::move(records));
        if (!st.ok()) {
          std::fprintf(stderr, "append failed: %s\n", st.ToString().c_str());
          return 1;
        }
        if (r >= 0) {
          ms.push_back(std::chrono::duration<double, std::milli>(Clock::now() - t0).count());
        }
      }
      std::printf("  %6.1f / %5.1f", Percentile(ms, 0.5), Percentile(ms, 0.99));
    }
    std::printf("\n");
    std::fflush(stdout);
  }
  return 0;
}
