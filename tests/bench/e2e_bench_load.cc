#include "tests/bench/e2e_bench_load.h"

#include <curl/curl.h>

#include <algorithm>
#include <atomic>
#include <cmath>
#include <mutex>
#include <nlohmann/json.hpp>
#include <stdexcept>
#include <thread>

#include "tests/support/http_client.h"

namespace jobsched::bench {
namespace {

using nlohmann::json;
using testing::HttpSession;

double UnixNow() {
  return std::chrono::duration<double>(std::chrono::system_clock::now().time_since_epoch()).count();
}

double Ms(Steady::duration d) { return std::chrono::duration<double, std::milli>(d).count(); }


// What one client thread saw; merged into the LoadResult at the end.
struct ClientTally {
  std::vector<SubmittedJob> accepted;
  std::vector<double> ack_ms;
  int rejected = 0, failed = 0;
  std::string first_problem;
  Steady::time_point last_reply{};
  double max_send_lag_ms = 0;
  Steady::time_point last_send{};

  void Problem(int items, long status, const std::string& detail) {
    if (status >= 400 && status < 500) {
      rejected += items;
    } else {
      failed += items;
    }
    if (first_problem.empty()) {
      first_problem = "HTTP " + std::to_string(status) + ": " + detail.substr(0, 300);
    }
  }

  // A POST /api/v1/jobs reply.
  void Single(long status, const std::string& reply, double origin_unix) {
    if (status != 201) return Problem(1, status, reply);
    json body = json::parse(reply, nullptr, false);
    if (!body.is_object() || !body.contains("job_id")) return Problem(1, 0, "201 without job_id");
    accepted.push_back({body["job_id"].get<std::string>(), origin_unix});
  }

  // A POST /api/v1/jobs/batch reply for `items` jobs.
  void Batch(int items, long status, const std::string& reply, double origin_unix) {
    if (status != 200) return Problem(items, status, reply);
    json body = json::parse(reply, nullptr, false);
    if (!body.is_object() || !body.contains("results") || !body["results"].is_array() ||
        static_cast<int>(body["results"].size()) != items) {
      return Problem(items, 0, "batch reply without one result per item: " + reply);
    }
    for (const json& r : body["results"]) {
      long item_status = r.value("status", 0L);
      if (item_status == 201 && r.contains("job_id")) {
        accepted.push_back({r["job_id"].get<std::string>(), origin_unix});
      } else {
        Problem(1, item_status, r.dump());
      }
    }
  }
};

LoadResult Merge(std::vector<ClientTally>& tallies, Steady::time_point start, double start_unix) {
  LoadResult out;
  out.start = start;
  out.end = start;
  out.start_unix = start_unix;
  Steady::time_point last_send = start;
  for (ClientTally& t : tallies) {
    for (auto& job : t.accepted) out.accepted.push_back(std::move(job));
    out.ack_ms.insert(out.ack_ms.end(), t.ack_ms.begin(), t.ack_ms.end());
    out.rejected += t.rejected;
    out.failed += t.failed;
    if (out.first_problem.empty()) out.first_problem = t.first_problem;
    out.end = std::max(out.end, t.last_reply);
    last_send = std::max(last_send, t.last_send);
    out.max_send_lag_ms = std::max(out.max_send_lag_ms, t.max_send_lag_ms);
  }
  out.last_send_s = std::chrono::duration<double>(last_send - start).count();
  return out;
}

}  // namespace

std::string EchoJob(const std::string& name_prefix, int i) {
  return R"({"name":")" + name_prefix + std::to_string(i) + R"(","type":"echo","payload":{"i":)" +
         std::to_string(i) + "}}";
}

LoadResult RunClosedLoop(const LoadOptions& options, int jobs) {
  const int per_request = options.batch > 0 ? options.batch : 1;
  const int requests = (jobs + per_request - 1) / per_request;
  const std::string url =
      options.api_base + (options.batch > 0 ? "/api/v1/jobs/batch" : "/api/v1/jobs");
  std::atomic<int> next{0};
  std::vector<ClientTally> tallies(options.clients);
  const auto start = Steady::now();
  const double start_unix = UnixNow();
  std::vector<std::thread> threads;
  for (int c = 0; c < options.clients; ++c) {
    threads.emplace_back([&, c] {
      ClientTally& tally = tallies[c];
      HttpSession http;
      std::string reply;
      for (int k = next++; k < requests; k = next++) {
        const int first = k * per_request;
        const int items = std::min(per_request, jobs - first);
        std::string body;
        if (options.batch > 0) {
          body = R"({"jobs":[)";
          for (int i = first; i < first + items; ++i) {
            if (i > first) body += ',';
            body += EchoJob(options.name_prefix, i);
          }
          body += "]}";
        } else {
          body = EchoJob(options.name_prefix, first);
        }
        const auto sent = Steady::now();
        const double sent_unix = UnixNow();
        long status = http.Post(url, body, &reply);
        tally.last_reply = Steady::now();
        tally.last_send = sent;
        tally.ack_ms.push_back(Ms(tally.last_reply - sent));
        if (options.batch > 0) {
          tally.Batch(items, status, reply, sent_unix);
        } else {
          tally.Single(status, reply, sent_unix);
        }
      }
    });
  }
  for (auto& t : threads) t.join();
  return Merge(tallies, start, start_unix);
}

LoadResult RunOpenLoop(const LoadOptions& options, double rate, double seconds) {
  const int total = static_cast<int>(std::llround(rate * seconds));
  const std::string url = options.api_base + "/api/v1/jobs";
  std::atomic<int> next{0};
  std::vector<ClientTally> tallies(options.clients);
  // A little ahead, so every connection thread is waiting when the first send is due.
  const auto start = Steady::now() + std::chrono::milliseconds(100);
  const double start_unix = UnixNow() + 0.1;
  auto scheduled = [&](int i) {
    return start +
           std::chrono::duration_cast<Steady::duration>(std::chrono::duration<double>(i / rate));
  };
  std::vector<std::thread> threads;
  for (int c = 0; c < options.clients; ++c) {
    threads.emplace_back([&, c] {
      ClientTally& tally = tallies[c];
      HttpSession http;
      std::string reply;
      for (int i = next++; i < total; i = next++) {
        const auto due = scheduled(i);
        std::this_thread::sleep_until(due);
        const auto sent = Steady::now();
        tally.last_send = sent;
        tally.max_send_lag_ms = std::max(tally.max_send_lag_ms, Ms(sent - due));
        long status = http.Post(url, EchoJob(options.name_prefix, i), &reply);
        tally.last_reply = Steady::now();
        tally.ack_ms.push_back(Ms(tally.last_reply - due));
        tally.Single(status, reply, start_unix + i / rate);
      }
    });
  }
  for (auto& t : threads) t.join();
  return Merge(tallies, start, start_unix);
}

}  // namespace jobsched::bench
