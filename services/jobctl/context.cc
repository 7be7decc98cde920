#include "services/jobctl/context.h"

#include <ostream>

namespace jobsched::jobctl {

Status RequireKafka(const Context& ctx) {
  if (!ctx.config.kafka_brokers.empty()) return Status::Ok();
  if (!ctx.config_status.ok()) return ctx.config_status;
  return Status::Invalid("set --brokers, KAFKA_BROKERS or JOBSCHED_BOOTSTRAP_FILE");
}

int Fail(Context& ctx, const Status& status) {
  *ctx.err << "jobctl: " << status.ToString() << "\n";
  ctx.exit_code = 1;
  return 1;
}

}  // namespace jobsched::jobctl
