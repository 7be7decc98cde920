#include "events/envelope.h"

#include <google/protobuf/io/coded_stream.h>
#include <google/protobuf/io/zero_copy_stream_impl_lite.h>
#include <google/protobuf/util/json_util.h>

namespace jobsched::events {

Envelope MakeEnvelope(std::string event_id, std::string job_id, const Origin& origin) {
  Envelope e;
  e.set_event_id(std::move(event_id));
  e.set_job_id(std::move(job_id));
  *e.mutable_occurred_at() = ToProto(origin.occurred_at);
  e.set_producer(origin.producer);
  e.set_correlation_id(origin.correlation_id);
  e.set_causation_id(origin.causation_id);
  return e;
}

std::string_view EventType(const Envelope& e) {
  switch (e.event_case()) {
    case Envelope::kJobSubmitted: return "JobSubmitted";
    case Envelope::kCancelRequested: return "CancelRequested";
    case Envelope::kRunDue: return "RunDue";
    case Envelope::kRunDispatched: return "RunDispatched";
    case Envelope::kRunStarted: return "RunStarted";
    case Envelope::kRunSucceeded: return "RunSucceeded";
    case Envelope::kRunFailed: return "RunFailed";
    case Envelope::kRetryScheduled: return "RetryScheduled";
    case Envelope::kJobSucceeded: return "JobSucceeded";
    case Envelope::kJobDead: return "JobDead";
    case Envelope::kJobCanceled: return "JobCanceled";
    case Envelope::kFireSkipped: return "FireSkipped";
    case Envelope::kRunDead: return "RunDead";
    case Envelope::kRunCanceled: return "RunCanceled";
    case Envelope::kJobCompleted: return "JobCompleted";
    case Envelope::kJobUpdated: return "JobUpdated";
    case Envelope::kPauseRequested: return "PauseRequested";
    case Envelope::kResumeRequested: return "ResumeRequested";
    case Envelope::kRunRequested: return "RunRequested";
    case Envelope::kDeleteRequested: return "DeleteRequested";
    case Envelope::kRunLost: return "RunLost";
    case Envelope::kRunTimedOut: return "RunTimedOut";
    case Envelope::kRunReleased: return "RunReleased";
    case Envelope::kRunWaiting: return "RunWaiting";
    case Envelope::kJobRequeued: return "JobRequeued";
    case Envelope::kDependencyRegistered: return "DependencyRegistered";
    case Envelope::kDependenciesRegistered: return "DependenciesRegistered";
    case Envelope::kDependencySatisfied: return "DependencySatisfied";
    case Envelope::kDependencyFailed: return "DependencyFailed";
    case Envelope::kDependentsNotified: return "DependentsNotified";
    case Envelope::kWorkflowSubmitted: return "WorkflowSubmitted";
    case Envelope::kWorkflowExpanded: return "WorkflowExpanded";
    case Envelope::kWorkflowStarted: return "WorkflowStarted";
    case Envelope::EVENT_NOT_SET: return "";
  }
  return "";
}

std::string_view RunIdOf(const Envelope& e) {
  switch (e.event_case()) {
    case Envelope::kRunDue: return e.run_due().run_id();
    case Envelope::kRunDispatched: return e.run_dispatched().run_id();
    case Envelope::kRunStarted: return e.run_started().run_id();
    case Envelope::kRunSucceeded: return e.run_succeeded().run_id();
    case Envelope::kRunFailed: return e.run_failed().run_id();
    case Envelope::kRetryScheduled: return e.retry_scheduled().failed_run_id();
    case Envelope::kJobSucceeded: return e.job_succeeded().run_id();
    case Envelope::kJobDead: return e.job_dead().last_run_id();
    case Envelope::kRunDead: return e.run_dead().run_id();
    case Envelope::kRunCanceled: return e.run_canceled().run_id();
    case Envelope::kRunRequested: return e.run_requested().run_id();
    case Envelope::kRunLost: return e.run_lost().run_id();
    case Envelope::kRunTimedOut: return e.run_timed_out().run_id();
    case Envelope::kRunReleased: return e.run_released().run_id();
    case Envelope::kRunWaiting: return e.run_waiting().run_id();
    case Envelope::kWorkflowStarted: return e.workflow_started().run_id();
    default: return "";
  }
}

std::string Encode(const google::protobuf::Message& m) {
  std::string out;
  m.SerializeToString(&out);
  return out;
}

std::string EncodeDeterministic(const google::protobuf::Message& m) {
  std::string out;
  {
    google::protobuf::io::StringOutputStream stream(&out);
    google::protobuf::io::CodedOutputStream coded(&stream);
    coded.SetSerializationDeterministic(true);
    m.SerializeToCodedStream(&coded);
  }
  return out;
}

namespace {

template <typename T>
Result<T> ParseAs(std::string_view bytes, const char* what) {
  T m;
  if (!m.ParseFromArray(bytes.data(), static_cast<int>(bytes.size()))) {
    return Status::Invalid(std::string("bytes are not a ") + what);
  }
  return m;
}

}  // namespace

Result<Envelope> DecodeEnvelope(std::string_view bytes) {
  auto r = ParseAs<Envelope>(bytes, "jobsched.v1.Envelope");
  if (!r.ok()) return r;
  const Envelope& e = r.value();
  if (e.event_id().empty()) return Status::Invalid("envelope has no event_id");
  if (e.job_id().empty()) return Status::Invalid("envelope has no job_id");
  if (e.event_case() == Envelope::EVENT_NOT_SET) {
    return Status::Invalid("envelope " + e.event_id() + " carries no known event (newer schema?)");
  }
  return r;
}

Result<v1::RunTask> DecodeRunTask(std::string_view bytes) {
  auto r = ParseAs<v1::RunTask>(bytes, "jobsched.v1.RunTask");
  if (r.ok() && (r->run_id().empty() || r->job_id().empty())) {
    return Status::Invalid("run task without run_id or job_id");
  }
  return r;
}

Result<v1::ExecutorHeartbeat> DecodeHeartbeat(std::string_view bytes) {
  auto r = ParseAs<v1::ExecutorHeartbeat>(bytes, "jobsched.v1.ExecutorHeartbeat");
  if (r.ok() && r->executor_id().empty()) return Status::Invalid("heartbeat without executor_id");
  return r;
}

std::string ToJson(const google::protobuf::Message& m) {
  std::string out;
  google::protobuf::util::JsonPrintOptions opts;
  opts.preserve_proto_field_names = true;
  auto st = google::protobuf::util::MessageToJsonString(m, &out, opts);
  if (!st.ok()) return "{}";  // unreachable for messages we built; JSON is best effort for logs
  return out;
}

}  // namespace jobsched::events
