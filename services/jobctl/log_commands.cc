// Placeholder: filled in by its owner.
#include <CLI/CLI.hpp>

#include "services/jobctl/context.h"

namespace jobsched::jobctl {

void AddLogCommands(CLI::App& app, Context& ctx) {
  (void)app;
  (void)ctx;
}

}  // namespace jobsched::jobctl
