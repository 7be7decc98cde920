// The envelope codec: bytes on `job-events` <-> jobsched::v1::Envelope, plus
// builders that fill the envelope's headers. Pure; no I/O.
#pragma once

#include <string>
#include <string_view>

#include "events/status.h"
#include "events/time.h"
#include "jobsched/v1/events.pb.h"
#include "jobsched/v1/runtime.pb.h"
#include "jobsched/v1/state.pb.h"

namespace jobsched::events {

using Envelope = v1::Envelope;
using JobState = v1::JobState;

// Who emitted an event and why: the headers every envelope carries.
struct Origin {
  std::string producer;        // "api", "scheduler", ... (+ "/instance")
  TimePoint occurred_at;
  std::string correlation_id;  // request / workflow the event belongs to
  std::string causation_id;    // event_id of the cause, "" for user requests
};

// An envelope with headers filled and no event set yet.
Envelope MakeEnvelope(std::string event_id, std::string job_id, const Origin& origin);

// "JobSubmitted", "RunDue", ...; "" when the oneof is empty.
std::string_view EventType(const Envelope& e);

std::string Encode(const google::protobuf::Message& m);
// Like Encode, with map entries in key order: equal messages give equal bytes
// (projections and snapshots compare and store them).
std::string EncodeDeterministic(const google::protobuf::Message& m);
// Fails with kInvalidArgument for bytes that are not an Envelope with an event
// id, a job id and an event.
Result<Envelope> DecodeEnvelope(std::string_view bytes);
Result<v1::RunTask> DecodeRunTask(std::string_view bytes);
Result<v1::ExecutorHeartbeat> DecodeHeartbeat(std::string_view bytes);

// Protobuf's JSON with the .proto field names (snake_case), for logs, the
// job_logs table and jobctl. Never fails for a valid message.
std::string ToJson(const google::protobuf::Message& m);

// The run id an event concerns, "" if none (for logs and job_logs.run_id).
std::string_view RunIdOf(const Envelope& e);

}  // namespace jobsched::events
