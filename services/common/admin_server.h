// The admin port every service serves beside its work: GET /health (the
// process is alive; JSON), GET /ready (200 or 503; JSON naming each check),
// GET /metrics (Prometheus text exposition). One I/O thread; the handlers
// run on it and must not block for long.
#pragma once

#include <functional>
#include <memory>
#include <nlohmann/json.hpp>
#include <string>

#include "events/status.h"

namespace jobsched::services {

// Whether a service can do its work now. `checks` maps a check's name to
// {"ok": bool, "detail": string}; ready is the conjunction of the checks.
struct Readiness {
  bool ready = true;
  nlohmann::json checks = nlohmann::json::object();

  // Adds a check and folds it into `ready`.
  void Check(const std::string& name, bool ok, const std::string& detail = "");
};

class AdminServer {
 public:
  struct Handlers {
    std::function<nlohmann::json()> health;  // the body of /health (always 200)
    std::function<Readiness()> ready;        // /ready: 200 when ready, else 503
    std::function<std::string()> metrics;    // /metrics: the exposition text
  };

  AdminServer(std::string host, int port, Handlers handlers);
  ~AdminServer();  // Stop()
  AdminServer(const AdminServer&) = delete;
  AdminServer& operator=(const AdminServer&) = delete;

  // Binds and serves. kUnavailable naming the address when it cannot bind.
  Status Start();
  void Stop();       // idempotent
  int port() const;  // the bound port (useful with port 0); 0 before Start

 private:
  class Impl;
  std::unique_ptr<Impl> impl_;
};

// Writes `content` and a newline to `path` atomically (a temporary file, then
// rename), so a reader polling for the file never sees it half-written.
Status WriteFileAtomically(const std::string& path, const std::string& content);

}  // namespace jobsched::services
