#include "tests/e2e/local_system.h"

#include <signal.h>

#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <stdexcept>

#include "events/topics.h"
#include "tests/support/http_client.h"
#include "tests/support/wait.h"

namespace jobsched::testing {

LocalSystem::LocalSystem(LocalSystemOptions options) : options_(std::move(options)) {
  for (const char* service : kServices) {
    if (std::string(service) != "executor") {
      Register(service, {service, {}});
      continue;
    }
    for (const ExecutorSpec& e : options_.executors) {
      bool taken = e.name.empty() || specs_.count(e.name) != 0;
      for (const char* other : kServices) taken |= e.name != "executor" && e.name == other;
      if (taken) throw std::invalid_argument("executor name '" + e.name + "' is empty or taken");
      Register(e.name, {"executor", e.env});
    }
  }
  dir_ = MakeTempDir("jobsched-e2e-");
  postgres_ = std::make_unique<ScopedPostgres>();
  database_url_ = postgres_->CreateDatabase("jobsched");
  StartBroker();
  api_port_ = FreeTcpPort();
  for (const std::string& name : order_) Start(name);
  AwaitHealthy();
}

void LocalSystem::StartBroker() {
  DevBrokerStorage storage;
  if (options_.persistent_broker) {
    storage.data_dir = dir_ + "/broker-data";
    // The services' default groups, as infra/dev.sh names them.
    storage.groups = {"jobsched-scheduler", "jobsched-dispatcher", "jobsched-projector",
                      "jobsched-projector-executors"};
  }
  broker_ = std::make_unique<ScopedDevBroker>(
      events::Topics().WithDefaultPartitions(options_.partitions), 1, storage);
}

void LocalSystem::AwaitHealthy() {
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

LocalSystem::~LocalSystem() { StopServices(); }

void LocalSystem::StopServices() {
  // In reverse start order: the api first, so no request lands while the rest stops.
  for (auto it = order_.rbegin(); it != order_.rend(); ++it) {
    auto s = services_.find(*it);
    if (s == services_.end() || !s->second) continue;
    if (paused_.count(*it) != 0) s->second->Signal(SIGCONT);  // else SIGTERM waits in vain
    s->second->Stop(std::chrono::seconds(15));
  }
  paused_.clear();
}

void LocalSystem::RestartAll() {
  if (!options_.persistent_broker) {
    throw std::logic_error("LocalSystem::RestartAll needs options.persistent_broker");
  }
  StopServices();
  int code = broker_->Stop();
  if (code != 0) {
    throw std::runtime_error("the dev broker did not store its log whole (exit " +
                             std::to_string(code) + "):\n" + TailFile(broker_->log_path()));
  }
  broker_.reset();
  postgres_->StopServer();
  postgres_->StartServer();
  StartBroker();
  for (const std::string& name : order_) Start(name);
  AwaitHealthy();
}

void LocalSystem::Register(const std::string& name, ProcessSpec spec) {
  specs_[name] = std::move(spec);
  order_.push_back(name);
}

LocalSystem::ProcessSpec& LocalSystem::SpecOf(const std::string& name) {
  auto it = specs_.find(name);
  if (it == specs_.end()) {
    throw std::invalid_argument("LocalSystem: no process named '" + name + "'");
  }
  return it->second;
}

ChildProcess& LocalSystem::ProcessOf(const std::string& name) {
  SpecOf(name);  // throws for an unknown name
  auto it = services_.find(name);
  if (it == services_.end() || !it->second) {
    throw std::invalid_argument("LocalSystem: process '" + name + "' was never started");
  }
  return *it->second;
}

void LocalSystem::Start(const std::string& name) {
  const ProcessSpec& spec = SpecOf(name);
  ChildOptions opts;
  opts.log_path = dir_ + "/" + name + ".log";
  opts.env = {{"KAFKA_BROKERS", broker_->bootstrap()},
              {"DATABASE_URL", database_url_},
              {"JOBSCHED_API_PORT", std::to_string(api_port_)},
              {"JOBSCHED_EXECUTOR_SLOTS", std::to_string(options_.executor_slots)},
              {"JOBSCHED_LOG_LEVEL", options_.log_level},
              // Any free admin port, named in a file (AdminPort): several
              // systems (and executors) on one machine must not clash.
              {"JOBSCHED_ADMIN_PORT", "0"},
              {"JOBSCHED_ADMIN_PORT_FILE", AdminPortFile(name)}};
  // A stable executor id across restarts (a restart is a new incarnation of
  // the same executor), unless the test chose one.
  if (spec.service == "executor") opts.env["JOBSCHED_EXECUTOR_ID"] = name;
  for (const auto& [k, v] : options_.extra_env) opts.env[k] = v;
  for (const auto& [k, v] : spec.env) opts.env[k] = v;
  auto old = services_.find(name);
  if (old != services_.end() && old->second) old->second->Kill();  // no-op once it exited
  std::remove(AdminPortFile(name).c_str());  // the last run's port is no answer
  paused_.erase(name);
  services_[name] = std::make_unique<ChildProcess>(BinPath("jobsched-" + spec.service),
                                                   std::vector<std::string>{}, opts);
}

void LocalSystem::Kill(const std::string& name) {
  ProcessOf(name).Kill();
  paused_.erase(name);
}

int LocalSystem::Stop(const std::string& name, std::chrono::milliseconds grace) {
  ChildProcess& p = ProcessOf(name);
  if (paused_.erase(name) != 0) p.Signal(SIGCONT);
  return p.Stop(grace);
}

std::string LocalSystem::AdminPortFile(const std::string& name) const {
  return dir_ + "/" + name + ".admin-port";
}

int LocalSystem::AdminPort(const std::string& name, std::chrono::milliseconds timeout) const {
  int port = 0;
  WaitFor(
      [&] {
        port = std::atoi(ReadFile(AdminPortFile(name)).c_str());
        return port > 0;
      },
      timeout, std::chrono::milliseconds(20));
  if (port <= 0) {
    throw std::runtime_error("LocalSystem: " + name + " wrote no admin port:\n" + LogTails());
  }
  return port;
}

bool LocalSystem::Running(const std::string& name) { return ProcessOf(name).Running(); }

void LocalSystem::Pause(const std::string& name) {
  ChildProcess& p = ProcessOf(name);
  if (!p.Running()) throw std::logic_error("LocalSystem: cannot pause '" + name + "': not running");
  p.Signal(SIGSTOP);
  paused_.insert(name);
}

void LocalSystem::Resume(const std::string& name) {
  ProcessOf(name).Signal(SIGCONT);
  paused_.erase(name);
}

void LocalSystem::AddExecutor(const ExecutorSpec& spec) {
  AddProcess(spec.name, "executor", spec.env);
}

void LocalSystem::AddProcess(const std::string& name, const std::string& service,
                             std::map<std::string, std::string> env) {
  if (name.empty() || specs_.count(name) != 0) {
    throw std::invalid_argument("LocalSystem: process name '" + name + "' is empty or taken");
  }
  Register(name, {service, std::move(env)});
  Start(name);
}

std::vector<std::string> LocalSystem::Processes() const { return order_; }

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
  for (const std::string& name : order_) {
    out += "---- " + name + " ----\n" + TailFile(dir_ + "/" + name + ".log", 3000);
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

void UseServicesBesideThisBinary(const std::string& source_dir) {
  std::string self = std::filesystem::canonical("/proc/self/exe").parent_path();
  setenv("JOBSCHED_BIN_DIR", self.c_str(), /*overwrite=*/0);
  setenv("JOBSCHED_SOURCE_DIR", source_dir.c_str(), /*overwrite=*/0);
}

bool AddEnvSettings(const std::vector<std::string>& settings,
                    std::map<std::string, std::string>& env) {
  for (const auto& kv : settings) {
    auto eq = kv.find('=');
    if (eq == std::string::npos) {
      std::fprintf(stderr, "--env wants NAME=VALUE, got %s\n", kv.c_str());
      return false;
    }
    env[kv.substr(0, eq)] = kv.substr(eq + 1);
  }
  return true;
}

}  // namespace jobsched::testing
