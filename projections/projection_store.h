// Where projections are stored: the interface between the Projector and a
// database. PgProjectionStore (PostgreSQL, production) and
// MemoryProjectionStore (tests) implement it.
//
// Exactly-once contract: a ProjectionBatch holds rows *and* the offsets that
// follow them; Write() stores both atomically, and only if the stored offsets
// are still the ones the batch was computed from (optimistic fencing). So a
// retried Write after an unknown commit outcome, or a zombie projector that
// lost its partitions, can never apply a batch twice.
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "events/envelope.h"
#include "events/status.h"

namespace jobsched::projections {

// One row of job_logs: a record of the topic as the projector saw it. Keyed
// by its position (topic, partition, offset): a redelivered event is a second
// row with outcome "duplicate"; projecting the same record again adds nothing.
struct JobLogRow {
  std::string event_id;
  std::string job_id;
  std::string run_id;                  // "" → NULL
  google::protobuf::Timestamp ts;      // the event's occurred_at
  std::string level;                   // info | warn | error
  std::string event_type;              // "JobSubmitted", ...
  std::string outcome;                 // applied | duplicate | rejected
  std::string message;
  std::string producer;
  std::string fields_json;             // JsonbText(envelope): events::ToJson's value
  std::string topic;
  int32_t partition = 0;
  int64_t offset = 0;
  std::string envelope;                // the record's value bytes
  // The slots the record concerns (RunDue: its slot; FireSkipped: first and
  // last skipped slot); unset otherwise.
  google::protobuf::Timestamp scheduled_for;
  google::protobuf::Timestamp scheduled_until;
};

// One row of undecodable_records: a record that is no event, kept as it was.
struct UndecodableRow {
  std::string topic;
  int32_t partition = 0;
  int64_t offset = 0;
  std::string key;
  std::string value;
  std::string error;
  int64_t timestamp_ms = 0;  // the record's CreateTime
};

// One row of job_executions.
struct ExecutionRow {
  std::string job_id;
  v1::RunRecord run;
  // The batch created this run (applied its first RunDue), so it has no row
  // yet: a store may insert it without looking for one. Only a hint: a store
  // must still be right if a row exists.
  bool created = false;
};

// A change of dead_letters. JobDead writes the whole row (a job that dies
// again after a requeue replaces its row, requeued_at back to NULL);
// JobRequeued only sets requeued_at. Both in one batch: the whole row with
// requeued_at set.
struct DeadLetterRow {
  std::string job_id;
  bool died = false;  // JobDead in this batch: every field below is set
  std::string name;
  std::string type;   // JobTypeName
  std::string pool;
  int32_t priority = 0;
  std::string last_run_id;
  int32_t attempts = 0;
  std::string reason;
  std::string last_error;
  google::protobuf::Timestamp dead_at;
  std::string event_id;  // of the JobDead
  int32_t requeues = 0;  // of the job before this death
  google::protobuf::Timestamp requeued_at;  // unset: NULL
};

// A workflow run (a fold state with workflow_run = true, keyed by the
// workflow id): one row of `workflows`, never of `jobs`. Most columns come
// from the state; the trigger comes from the WorkflowSubmitted itself and the
// expansion time from the WorkflowExpanded, so a batch carries them only when
// it applied that event (the stored values stay otherwise).
struct WorkflowRow {
  events::JobState state;  // the run's state after the batch
  bool submitted = false;  // the batch applied its WorkflowSubmitted: trigger_* below are set
  std::string trigger_job_id;
  std::string trigger_run_id;
  std::string nominal_time;
  google::protobuf::Timestamp expanded_at;  // WorkflowExpanded's occurred_at; unset: unchanged
};

// One row of job_dependencies: the child's view of one parent, as the
// child's fold state holds it (JobState.parents) after the batch.
struct DependencyRow {
  std::string parent_id;
  std::string child_id;
  std::string workflow_id;  // the child's spec.workflow_id ("" → NULL)
  std::string status;       // events::DependencyStatusName: PENDING | SATISFIED | FAILED
  std::string reason;       // "" → NULL
  google::protobuf::Timestamp created_at;  // the child's JobSubmitted
  google::protobuf::Timestamp updated_at;  // the event that set the status
};

// The offsets of one partition after a batch.
struct OffsetUpdate {
  int32_t partition = 0;
  // What the store must hold before the write: the next offset stored by the
  // previous batch, or nullopt for "no row yet".
  std::optional<int64_t> expected;
  int64_t next_offset = 0;  // offset of the first record not covered by this batch
};

// Everything one consumed batch changes, written atomically.
struct ProjectionBatch {
  std::string projection;           // "jobs"
  std::string topic;                // the consumed topic
  std::vector<events::JobState> jobs;  // latest state of every job the batch changed, one each
                                       // (never a workflow run: those are in `workflows`)
  // Parallel to `jobs`, or empty: true for a job whose state was empty before
  // the batch, so it has no row yet and a store may insert it without looking
  // for one. Only a hint: a store must still be right if a row exists.
  std::vector<bool> new_jobs;
  std::vector<WorkflowRow> workflows;  // every workflow run the batch changed, one each
  std::vector<DependencyRow> dependencies;  // edges whose row changed, one per (parent, child)
  std::vector<ExecutionRow> executions;  // runs whose record changed, one per run_id
  std::vector<JobLogRow> logs;      // one per decodable record, in log order
  std::vector<UndecodableRow> undecodable;  // one per record that is no event
  std::vector<DeadLetterRow> dead_letters;  // one per job, its final change in the batch
  std::vector<OffsetUpdate> offsets;  // every partition the batch consumed from
};

// Implementations are thread-safe (calls may be serialised internally).
class ProjectionStore {
 public:
  virtual ~ProjectionStore() = default;

  // The stored states of those of `job_ids` that exist (jobs and workflow
  // runs alike), keyed by job_id. Ids that are not UUIDs are never stored
  // and are left out.
  virtual Result<std::map<std::string, events::JobState>> LoadStates(
      const std::vector<std::string>& job_ids) = 0;

  // Next offset to consume for each of `partitions` that has a stored row.
  virtual Result<std::map<int32_t, int64_t>> LoadOffsets(const std::string& projection,
                                                         const std::string& topic,
                                                         const std::vector<int32_t>& partitions) = 0;

  // Atomically: upserts jobs, workflows, job dependencies, executions and
  // dead letters, inserts log and undecodable rows not yet present (by topic,
  // partition, offset), and sets the offsets.
  // Fails with kConflict and writes nothing if any partition's stored offset
  // differs from `expected`;
  // kUnavailable when the store cannot be reached or the outcome is unknown
  // (retrying the same batch is then safe: it either applies or conflicts);
  // kInternal for other errors.
  virtual Status Write(const ProjectionBatch& batch) = 0;
};

// The `executors` topic's projection: the latest heartbeat of every executor.
struct ExecutorRow {
  v1::ExecutorHeartbeat heartbeat;  // executor_id set (the record key when the heartbeat has none)
  int32_t partition = 0;            // where the heartbeat was read
  int64_t offset = 0;
};

// Everything one consumed batch of heartbeats changes, written atomically.
struct ExecutorBatch {
  std::string projection;  // "executors"
  std::string topic;       // the consumed topic
  std::vector<ExecutorRow> executors;  // one per executor id: its latest heartbeat
  std::vector<std::string> removed;    // executor ids whose record was a tombstone (empty value)
  std::vector<OffsetUpdate> offsets;   // every partition the batch consumed from
};

// Where the executors projection is stored. Same exactly-once contract as
// ProjectionStore: rows and offsets in one transaction, fenced on `expected`.
// Implementations are thread-safe.
class ExecutorStore {
 public:
  virtual ~ExecutorStore() = default;
  // As ProjectionStore::LoadOffsets.
  virtual Result<std::map<int32_t, int64_t>> LoadOffsets(
      const std::string& projection, const std::string& topic,
      const std::vector<int32_t>& partitions) = 0;
  // Atomically: upserts the executors' rows, deletes the removed ones and
  // sets the offsets. Errors as ProjectionStore::Write.
  virtual Status WriteExecutors(const ExecutorBatch& batch) = 0;
};

}  // namespace jobsched::projections
