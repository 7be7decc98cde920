// Shadow replay: what the scheduler would have decided, over a recorded
// history, under a changed retry or schedule policy. `jobctl shadow` reads the
// log and prints the differences; this is its pure core (no I/O, no clock).
//
// Per job, the recorded events split in two:
//  - inputs: what the scheduler does not decide (JobSubmitted, JobUpdated,
//    requests, the dispatcher's and executors' run events, dependency news
//    from other jobs);
//  - decisions: what it decided about the job (RunDue, RetryScheduled,
//    FireSkipped, JobSucceeded, JobDead, RunDead, RunCanceled, JobCompleted,
//    JobCanceled, and the bookkeeping of dependencies and workflows).
// The shadow folds the inputs (the policy laid over JobSubmitted's and each
// JobUpdated's spec, as a PATCH would lay it) with the same fold, and calls
// the scheduler's own scheduler::Decide after each input and at each wake_at,
// folding its decisions back, on a virtual clock over the recorded time line
// (up to the job's last recorded event).
//
// Run ids are derived from (job, fire, attempt), so a recorded run's events
// apply in the shadow iff the shadow makes that same run due; they are
// replayed shifted by the difference of its due times (a retry with another
// backoff runs as long and ends as it did). This assumes an attempt's outcome
// does not depend on when it ran. A run the shadow makes that the record never
// had has an unknown outcome: it is flagged and not followed (a recurring job
// goes on with its later slots as if that run had left; a one-off job stops).
//
// Decisions are compared by meaning (type, slot, attempt, due time, reason),
// never by event id or producer. The shadow decides on time: a record made
// while the scheduler was down (late fires, misfires) differs for that reason.
#pragma once

#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <variant>
#include <vector>

#include "events/envelope.h"
#include "events/status.h"
#include "events/time.h"
#include "services/jobctl/job_history.h"

namespace jobsched::jobctl::shadow {

// A validated policy file (shadow_policy.cc).
struct Policy {
  // A PATCH body (API field names: max_retries, retry_policy, schedule,
  // timezone, ...) naming only fields that change scheduler decisions.
  nlohmann::json patch = nlohmann::json::object();
  std::vector<std::string> jobs;  // "jobs": only these (empty: every job)
};

// What is wrong with a policy file: the field (dotted, "" for the whole file)
// and what to fix.
struct PolicyError {
  std::string field;
  std::string message;
};

// Parses and validates a policy file's text. The fields are those of the
// REST API (PATCH /api/v1/jobs/{id}), limited to the retry and schedule
// policy: max_retries, retry_policy, schedule, timezone, dst_gap,
// dst_overlap, end_at, max_runs, concurrency_policy, misfire_policy; plus
// "jobs": [ids]. "schedule" may also be an object {"cron": ..., "timezone":
// ..., <any schedule field>}. Values are checked by the API's own parsers.
std::variant<Policy, PolicyError> ParsePolicy(const std::string& text);

// One decision, by meaning.
struct DecisionView {
  std::string type;     // "RunDue", "RetryScheduled", ...
  std::string subject;  // what it decides about ("slot 2026-11-28T10:00:10", "attempt 3")
  std::string detail;   // the rest of its meaning; equal subjects with unequal details differ
  std::string text;     // for people: "RetryScheduled attempt 4 at 2026-...Z"
  TimePoint at;         // when it was decided (recorded: occurred_at; shadow: virtual clock)
  nlohmann::json json;  // for --json
};

enum class DiffKind { kOnlyRecorded, kOnlyShadow, kChanged };
const char* DiffKindName(DiffKind kind);  // "only_recorded" | "only_shadow" | "changed"

struct Difference {
  DiffKind kind = DiffKind::kChanged;
  TimePoint at;  // the recorded decision's time, else the shadow's
  std::optional<DecisionView> recorded;
  std::optional<DecisionView> shadow;
  // The shadow made a run due that the record never had: its outcome is not
  // known, and the shadow did not follow it further.
  bool unknown_outcome = false;
};

struct JobComparison {
  std::string job_id;
  std::string name;
  std::string skipped;  // why it was not compared; "" when it was
  int recorded_decisions = 0;
  int shadow_decisions = 0;
  int unknown_runs = 0;                 // shadow runs with an unknown outcome
  std::vector<Difference> differences;  // in time order
};

struct Options {
  Millis misfire_grace{1000};  // as the scheduler's (services/scheduler/main.cc)
  // When the record was read. Past the job's last recorded event the shadow
  // follows only what the record can still answer: results of recorded runs
  // (shifted later by a longer backoff) and retries of failed runs, up to
  // this time; new slots there are not made (the record could not show them
  // either), and it stops at its first run of unknown outcome.
  std::optional<TimePoint> read_at;
};

// Shadows one job: `history` is every recorded event keyed by it, in log order.
JobComparison ShadowJob(const std::vector<events::Envelope>& history, const Policy& policy,
                        const Options& options = {});

// Groups `events` by job (first appearance order) and shadows each job the
// policy names (all when it names none).
std::vector<JobComparison> ShadowAll(const std::vector<RecordedEvent>& events, const Policy& policy,
                                     const Options& options = {});

struct Summary {
  int jobs_compared = 0;
  int jobs_skipped = 0;
  int jobs_differing = 0;
  int only_recorded = 0;
  int only_shadow = 0;
  int changed = 0;
  int unknown_runs = 0;
};
Summary Summarize(const std::vector<JobComparison>& jobs);

// The report for people: per differing job its differences, then the
// summary. `list_same` also lists jobs without a difference (and skipped ones).
std::string FormatText(const std::vector<JobComparison>& jobs, bool list_same);
// One JSON object per difference, one per line, then {"summary": {...}}.
std::string FormatJsonLines(const std::vector<JobComparison>& jobs);

}  // namespace jobsched::jobctl::shadow
