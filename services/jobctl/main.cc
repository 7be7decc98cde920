// jobctl: the command-line client of jobsched. Commands over the REST API
// (submit, get, list, cancel, pause, resume, run, logs, preview) and straight
// from the log (events, tail, replay, why, shadow, rebuild). `jobctl --help`
// lists them; the README has a tour.
#include <CLI/CLI.hpp>
#include <cstdlib>
#include <fstream>
#include <iostream>
#include <string>

#include "services/jobctl/context.h"

namespace {

bool EnvSet(const char* name) {
  const char* v = std::getenv(name);
  return v != nullptr && *v != '\0';
}

// Run beside the dev stack (infra/dev.sh, from the project's root), jobctl
// needs no configuration: it reads the files the start script writes.
void DefaultToDevStack() {
  if (!EnvSet("KAFKA_BROKERS") && !EnvSet("JOBSCHED_BOOTSTRAP_FILE") &&
      std::ifstream(".dev/bootstrap").good()) {
    setenv("JOBSCHED_BOOTSTRAP_FILE", ".dev/bootstrap", 1);
  }
  std::string url;
  if (!EnvSet("DATABASE_URL") && std::getline(std::ifstream(".dev/database_url") >> std::ws, url) &&
      !url.empty()) {
    setenv("DATABASE_URL", url.c_str(), 1);
  }
}

}  // namespace

int main(int argc, char** argv) {
  using namespace jobsched;  // NOLINT(build/namespaces): main only
  jobctl::Context ctx;
  ctx.out = &std::cout;
  ctx.err = &std::cerr;

  DefaultToDevStack();
  auto config = services::ServiceConfig::FromEnv("jobctl");
  if (config.ok()) {
    ctx.config = config.value();
  } else {
    ctx.config_status = config.status();
    const char* db = std::getenv("DATABASE_URL");
    if (db != nullptr && *db != '\0') ctx.config.database_url = db;
  }
  const char* api = std::getenv("JOBSCHED_API_URL");
  ctx.api_url = api != nullptr && *api != '\0' ? api : "http://127.0.0.1:8080";

  CLI::App app{"jobctl: the command-line client of jobsched"};
  app.require_subcommand(1);
  // The global flags work after the command too: `jobctl events ID --json`.
  app.fallthrough();
  app.add_option("--api", ctx.api_url, "REST API base URL (env JOBSCHED_API_URL)");
  app.add_option("--brokers", ctx.config.kafka_brokers,
                 "Kafka bootstrap servers (env KAFKA_BROKERS or JOBSCHED_BOOTSTRAP_FILE)");
  app.add_option("--database-url", ctx.config.database_url,
                 "PostgreSQL of the archive (env DATABASE_URL)");
  app.add_flag("--json", ctx.json, "machine-readable output: one JSON value per line");

  jobctl::AddRestCommands(app, ctx);
  jobctl::AddLogCommands(app, ctx);
  jobctl::AddRebuildCommand(app, ctx);
  jobctl::AddShadowCommand(app, ctx);

  CLI11_PARSE(app, argc, argv);
  return ctx.exit_code;
}
