#include "services/common/partition_worker.h"

#include "services/common/logging.h"

namespace jobsched::services {

PartitionWorker::PartitionWorker(Options options, events::EventLog& log)
    : options_(std::move(options)),
      log_(log),
      producer_name_(options_.kind + "/" + options_.instance_id),
      logger_(GetLogger(options_.kind)) {}

PartitionWorker::~PartitionWorker() = default;  // derived destructors call Stop()

Status PartitionWorker::Start() {
  auto producer = log_.NewProducer(producer_name_);
  if (!producer.ok()) return producer.status();
  producer_ = std::move(producer).value();
  if (Status st = OnStart(); !st.ok()) return st;

  JobStateFollower::Hooks hooks;
  hooks.on_event = [this](int32_t p, int64_t offset, const events::Envelope& e,
                          const events::JobState& s, const events::FoldResult& r,
                          bool replaying) { OnEvent(p, offset, e, s, r, replaying); };
  hooks.on_caught_up = [this](int32_t p) { OnCaughtUp(p); };
  hooks.on_revoked = [this](int32_t p) { OnRevoked(p); };
  follower_ = std::make_unique<JobStateFollower>(log_, options_.topic, options_.group_id,
                                                 producer_name_, std::move(hooks), logger_);
  if (Status st = follower_->Open(); !st.ok()) return st;
  thread_ = std::thread([this] {
    while (!stop_) Step();
  });
  Log(*logger_, spdlog::level::info, options_.kind + " started",
      {{"topic", options_.topic}, {"group", options_.group_id}});
  return Status::Ok();
}

void PartitionWorker::Stop() {
  if (stop_.exchange(true)) return;
  if (thread_.joinable()) thread_.join();
  if (follower_) follower_->Close();
  OnStop();
  Log(*logger_, spdlog::level::info, options_.kind + " stopped " + Summary());
}

}  // namespace jobsched::services
