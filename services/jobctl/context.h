// What every jobctl command shares: where the API, Kafka and PostgreSQL are,
// how to print, and the exit code the command chose. Filled from the global
// flags and the environment before a command's callback runs.
#pragma once

#include <iosfwd>
#include <string>

#include "events/status.h"
#include "services/common/config.h"

namespace CLI {
class App;
}

namespace jobsched::jobctl {

struct Context {
  // --api, else JOBSCHED_API_URL, else http://127.0.0.1:8080.
  std::string api_url;
  // Kafka and PostgreSQL as the services see them (KAFKA_BROKERS or
  // JOBSCHED_BOOTSTRAP_FILE, DATABASE_URL, JOBSCHED_TOPIC_PREFIX; see
  // services/common/config.h). --brokers and --database-url override.
  services::ServiceConfig config;
  // Why the environment gave no usable Kafka configuration (ok when it did):
  // REST commands do not need one, log commands report it.
  Status config_status;
  bool json = false;  // --json: machine-readable output, one JSON value per line
  std::ostream* out = nullptr;
  std::ostream* err = nullptr;
  int exit_code = 0;  // set by the command; 0 success, 1 failure, 2 usage
};

// Each file of commands adds its subcommands to `app`; their callbacks read
// `ctx` (filled by then) and set ctx.exit_code.
void AddRestCommands(CLI::App& app, Context& ctx);     // rest_commands.cc
void AddLogCommands(CLI::App& app, Context& ctx);      // log_commands.cc
void AddRebuildCommand(CLI::App& app, Context& ctx);   // rebuild_command.cc
void AddShadowCommand(CLI::App& app, Context& ctx);    // shadow_command.cc

// Ok when Kafka is configured (by the environment or --brokers), else an
// error saying what to set.
Status RequireKafka(const Context& ctx);

// Prints `status` as an error ("jobctl: <message>") and returns 1.
int Fail(Context& ctx, const Status& status);

}  // namespace jobsched::jobctl
