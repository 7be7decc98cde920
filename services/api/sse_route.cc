#include "services/api/sse_route.h"

#include <mutex>
#include <thread>
#include <utility>

#include "services/api/job_queries.h"
#include "services/api/job_view.h"

namespace jobsched::api {
namespace {

class ResponderTarget : public StreamTarget {
 public:
  explicit ResponderTarget(std::shared_ptr<Responder> r) : responder_(std::move(r)) {}

  void Reject(int /*http_status: HttpStatusOf(error.code) decides*/,
              const ApiError& error) override {
    responder_->TrySendError(error);
  }
  bool Open(const std::vector<std::string>& headers) override {
    auto stream = responder_->StartStream(headers);
    std::lock_guard<std::mutex> lock(mu_);
    stream_ = std::move(stream);
    return stream_ != nullptr && stream_->open();
  }
  bool Send(std::string_view bytes) override {
    auto s = stream();
    return s != nullptr && s->Send(bytes);
  }
  bool Connected() const override {
    auto s = stream();
    return s != nullptr && s->open();
  }
  void Close() override {
    if (auto s = stream()) s->Close();
  }

 private:
  std::shared_ptr<HttpStream> stream() const {
    std::lock_guard<std::mutex> lock(mu_);
    return stream_;
  }

  const std::shared_ptr<Responder> responder_;
  mutable std::mutex mu_;
  std::shared_ptr<HttpStream> stream_;  // guarded by mu_
};

StreamQuery ToStreamQuery(const QueryParams& query) {
  return StreamQuery(query.begin(), query.end());
}

}  // namespace

std::shared_ptr<StreamTarget> ResponderStreamTarget(std::shared_ptr<Responder> responder) {
  return std::make_shared<ResponderTarget>(std::move(responder));
}

void ServeJobStreamRoute(SseServer& sse, const std::shared_ptr<Responder>& r,
                         const RequestInfo& req) {
  auto it = req.path_params.find("id");
  const std::string id = it == req.path_params.end() ? "" : it->second;
  r->SetJobId(id);
  sse.ServeJobStream(ResponderStreamTarget(r), id, ToStreamQuery(req.query),
                     req.last_event_id.value_or(""));
}

void ServeStreamRoute(SseServer& sse, const std::shared_ptr<Responder>& r, const RequestInfo& req) {
  sse.ServeStream(ResponderStreamTarget(r), ToStreamQuery(req.query),
                  req.last_event_id.value_or(""));
}

JobSnapshotFn PgJobSnapshot(PgPool& pool, std::string projection, std::string topic,
                            std::chrono::milliseconds wait) {
  return [&pool, projection = std::move(projection), topic = std::move(topic), wait](
             const std::string& job_id, int32_t partition) -> Result<std::optional<JobSnapshot>> {
    const auto deadline = std::chrono::steady_clock::now() + wait;
    while (true) {
      auto read = pool.Run<ProjectedJob>([&](pqxx::connection& c) {
        return LoadProjectedJob(c, job_id, projection, topic, partition);
      });
      if (!read.ok()) return read.status();
      const ProjectedJob& job = read.value();
      if (job.state && !job.state->workflow_run() &&
          job.state->status() != v1::JOB_STATUS_DELETED) {
        return std::optional<JobSnapshot>(JobSnapshot{RenderJob(*job.state), job.next_offset});
      }
      if (job.state || std::chrono::steady_clock::now() >= deadline) {
        return std::optional<JobSnapshot>();
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(50));
    }
  };
}

}  // namespace jobsched::api
