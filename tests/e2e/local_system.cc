#include "tests/e2e/local_system.h"

#include <cstdlib>
#include <stdexcept>

#include "events/topics.h"
#include "tests/support/http_client.h"
#include "tests/support/wait.h"

namespace jobsched::testing {

LocalSystem::LocalSystem(LocalSystemOptions options) : options_(std::move(options)) {
  dir_ = MakeTempDir("jobsched-e2e-");
  postgres_ = std::make_unique<ScopedPostgres>();
  database_url_ = postgres_->CreateDatabase("jobsched");
  broker_ = std::make_unique<ScopedDevBroker>(
      events::Topics().WithDefaultPartitions(options_.partitions));
  api_port_ = FreeTcpPort();
  for (const char* name : kServices) Start(name);
  bool healthy = WaitFor(
      [&] {
        try {
          return HttpRequest("GET", ApiUrl("/health"), "", {}, 1000).status == 200;
        } catch (const std::exception&) {
          return false;  // not listening yet
        }
      },
      std::chrono::seconds(30), std::chrono::milliseconds(50));
  if (!healthy) throw std::runtime_error("the API did not become healthy:\n" + LogTails());
}

LocalSystem::~LocalSystem() {
  // The api first, so no request lands while the rest stops.
  for (auto it = std::rbegin(kServices); it != std::rend(kServices); ++it) {
    auto s = services_.find(*it);
    if (s != services_.end() && s->second) s->second->Stop(std::chrono::seconds(15));
  }
}

void LocalSystem::Start(const std::string& service) {
  ChildOptions opts;
  opts.log_path = dir_ + "/" + service + ".log";
  opts.env = {{"KAFKA_BROKERS", broker_->bootstrap()},
              {"DATABASE_URL", database_url_},
              {"JOBSCHED_API_PORT", std::to_string(api_port_)},
              {"JOBSCHED_EXECUTOR_SLOTS", std::to_string(options_.executor_slots)},
              {"JOBSCHED_LOG_LEVEL", options_.log_level}};
  for (const auto& [k, v] : options_.extra_env) opts.env[k] = v;
  services_[service] = std::make_unique<ChildProcess>(BinPath("jobsched-" + service),
                                                      std::vector<std::string>{}, opts);
}

void LocalSystem::Kill(const std::string& service) { services_.at(service)->Kill(); }
void LocalSystem::Stop(const std::string& service) { services_.at(service)->Stop(); }
bool LocalSystem::Running(const std::string& service) { return services_.at(service)->Running(); }

pid_t LocalSystem::Pid(const std::string& name) const {
  if (name == "devbroker") return broker_->process().Running() ? broker_->process().pid() : 0;
  if (name == "postgres") {
    // postmaster.pid holds the postmaster's pid on its first line.
    std::string pid_file = ReadFile(postgres_->data_dir() + "/postmaster.pid");
    return static_cast<pid_t>(std::atol(pid_file.c_str()));
  }
  auto s = services_.find(name);
  return s != services_.end() && s->second && s->second->Running() ? s->second->pid() : 0;
}

std::string LocalSystem::ApiUrl(const std::string& path) const {
  return "http://127.0.0.1:" + std::to_string(api_port_) + path;
}

ApiReply LocalSystem::Api(const std::string& method, const std::string& path,
                          const nlohmann::json& body) const {
  std::vector<std::string> headers;
  std::string payload;
  if (!body.is_null()) {
    payload = body.dump();
    headers.push_back("Content-Type: application/json");
  }
  HttpResponse r = HttpRequest(method, ApiUrl(path), payload, headers);
  ApiReply reply;
  reply.status = r.status;
  reply.body = nlohmann::json::parse(r.body, nullptr, /*allow_exceptions=*/false);
  if (reply.body.is_discarded()) reply.body = nullptr;
  return reply;
}

std::string LocalSystem::LogTails() const {
  std::string out;
  for (const char* name : kServices) {
    out += "---- " + std::string(name) + " ----\n" + TailFile(dir_ + "/" + name + ".log", 3000);
  }
  out += "---- devbroker ----\n" + TailFile(broker_->log_path(), 1500);
  return out;
}

nlohmann::json AwaitJobStatus(const LocalSystem& system, const std::string& job_id,
                              const std::string& status, std::chrono::milliseconds timeout) {
  nlohmann::json last;
  WaitFor(
      [&] {
        ApiReply r = system.Api("GET", "/api/v1/jobs/" + job_id);
        if (r.status != 200) return false;
        last = r.body;
        std::string s = last.value("status", "");
        return s == status || s == "SUCCEEDED" || s == "DEAD" || s == "CANCELED" ||
               s == "COMPLETED";
      },
      timeout, std::chrono::milliseconds(25));
  return last;
}

}  // namespace jobsched::testing
