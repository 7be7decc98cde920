#include "services/common/partition_worker.h"

#include "services/common/logging.h"

namespace jobsched::services {

PartitionWorker::PartitionWorker(Options options, events::EventLog& log, const Clock& clock)
    : options_(std::move(options)),
      log_(log),
      clock_(clock),
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
                          const events::JobState* s, const events::FoldResult& r,
                          bool replaying) { OnEvent(p, offset, e, s, r, replaying); };
  hooks.on_assigned = [this](const std::vector<int32_t>& parts) {
    std::lock_guard<std::mutex> lock(status_mu_);
    assigned_.insert(parts.begin(), parts.end());
  };
  hooks.on_caught_up = [this](int32_t p) {
    {
      std::lock_guard<std::mutex> lock(status_mu_);
      caught_up_.insert(p);
    }
    OnCaughtUp(p);
  };
  hooks.on_revoked = [this](int32_t p) {
    {
      std::lock_guard<std::mutex> lock(status_mu_);
      assigned_.erase(p);
      caught_up_.erase(p);
    }
    OnRevoked(p);
  };
  hooks.snapshot_extra = [this](int32_t p) { return SnapshotExtra(p); };
  hooks.on_restored = [this](int32_t p, const std::string& extra) { OnRestored(p, extra); };
  FollowerOptions fo;
  fo.topic = options_.topic;
  fo.group_id = options_.group_id;
  fo.client_id = producer_name_;
  fo.owner = options_.kind;
  fo.snapshot_topic = options_.snapshot_topic;
  fo.state = options_.state;
  follower_ = std::make_unique<JobStateFollower>(log_, *producer_, std::move(fo), std::move(hooks),
                                                 logger_);
  if (Status st = follower_->Open(); !st.ok()) return st;
  thread_ = std::thread([this] {
    while (!stop_) {
      Step();
      follower_->Maintain(clock_.Now());
    }
    // A graceful stop leaves fresh snapshots: the next owner starts fast.
    follower_->Maintain(clock_.Now(), /*force=*/true);
  });
  Log(*logger_, spdlog::level::info, options_.kind + " started",
      {{"topic", options_.topic},
       {"group", options_.group_id},
       {"snapshots", options_.state.snapshots ? options_.snapshot_topic : "off"}});
  return Status::Ok();
}

void PartitionWorker::Stop() {
  if (stop_.exchange(true)) return;
  if (thread_.joinable()) thread_.join();
  if (follower_) follower_->Close();
  OnStop();
  Log(*logger_, spdlog::level::info, options_.kind + " stopped " + Summary());
}

Readiness PartitionWorker::Ready() {
  Readiness r;
  r.Check("kafka", producer_ != nullptr && producer_->Reachable(),
          producer_ == nullptr ? "not started" : "");
  std::lock_guard<std::mutex> lock(status_mu_);
  r.Check("partitions_assigned", !assigned_.empty(),
          std::to_string(assigned_.size()) + " partitions of " + options_.topic);
  std::string behind;
  for (int32_t p : assigned_) {
    if (caught_up_.count(p) == 0) behind += (behind.empty() ? "" : ",") + std::to_string(p);
  }
  r.Check("caught_up", behind.empty(), behind.empty() ? "" : "restoring partitions " + behind);
  return r;
}

nlohmann::json PartitionWorker::Health() {
  std::lock_guard<std::mutex> lock(status_mu_);
  return {{"partitions", {{"assigned", assigned_}, {"caught_up", caught_up_}}}};
}

}  // namespace jobsched::services
