// What the fold's translation units share (fold.cc, fold_dependencies.cc).
// Internal to events/: not part of the fold's interface.
#pragma once

#include <string>

#include "events/fold.h"

namespace jobsched::events::internal {

inline FoldResult Reject(std::string reason) { return {Outcome::kRejected, std::move(reason)}; }
inline FoldResult Duplicate(std::string reason) { return {Outcome::kDuplicate, std::move(reason)}; }
inline std::string StatusText(const JobState& s) {
  return std::string(JobStatusName(s.status()));
}

// JobSubmitted's dependency part: parents, dependents, and WAITING / BLOCKED
// instead of the status the job would otherwise start in (already set).
void InitDependencies(JobState& s, const Envelope& submitted);

// DependencyRegistered, DependenciesRegistered, DependencySatisfied,
// DependencyFailed, DependentsNotified, WorkflowSubmitted, WorkflowExpanded.
FoldResult ApplyDependencyEvent(JobState& s, const Envelope& e);

}  // namespace jobsched::events::internal
