// Builders of workflow and dependency envelopes for the projector's tests:
// a workflow run as the API submits it and the scheduler expands it.
#pragma once

#include <map>
#include <string>
#include <vector>

#include "events/envelope.h"
#include "events/ids.h"
#include "tests/unit/fold_test_util.h"

namespace jobsched::testing {

// One workflow run: its spec (key → parent keys) and the events about it.
class WorkflowFactory {
 public:
  // `edges`: each job's key and the keys it depends on, in submission order.
  WorkflowFactory(std::string workflow_id, std::string name,
                  std::vector<std::pair<std::string, std::vector<std::string>>> edges)
      : workflow_(std::move(workflow_id)), name_(std::move(name)), edges_(std::move(edges)) {}

  const std::string& id() const { return workflow_.job_id(); }
  std::string JobIdOf(const std::string& key) const { return ids::WorkflowJobId(id(), key); }
  EventFactory Job(const std::string& key) const { return EventFactory(JobIdOf(key)); }

  v1::WorkflowSpec Spec() const {
    v1::WorkflowSpec spec;
    spec.set_name(name_);
    for (const auto& [key, parents] : edges_) {
      v1::WorkflowJob* j = spec.add_jobs();
      j->set_key(key);
      j->mutable_spec()->set_name(key);
      j->mutable_spec()->set_type(v1::JOB_TYPE_ECHO);
      for (const std::string& p : parents) j->add_depends_on(p);
    }
    return spec;
  }

  // Keyed by the workflow id; the trigger fields are set for a fire of a
  // JOB_TYPE_WORKFLOW job.
  events::Envelope Submitted(TimePoint at, const std::string& trigger_job = "",
                             const std::string& trigger_run = "",
                             const std::string& nominal_time = "") const {
    events::Envelope e = workflow_.Base("WorkflowSubmitted", "", at);
    v1::WorkflowSubmitted* w = e.mutable_workflow_submitted();
    *w->mutable_spec() = Spec();
    w->set_trigger_job_id(trigger_job);
    w->set_trigger_run_id(trigger_run);
    w->set_nominal_time(nominal_time);
    return e;
  }

  // The expansion: one JobSubmitted per job (keyed by the job), as the
  // scheduler appends it: parents by job id, children listed, registered.
  std::vector<events::Envelope> Expansion(TimePoint at) const {
    std::map<std::string, std::vector<std::string>> children;
    for (const auto& [key, parents] : edges_) {
      for (const std::string& p : parents) children[p].push_back(key);
    }
    std::vector<events::Envelope> out;
    for (const auto& [key, parents] : edges_) {
      events::Envelope e = Job(key).Submitted(at, std::nullopt, /*max_retries=*/0);
      v1::JobSubmitted* s = e.mutable_job_submitted();
      s->mutable_spec()->set_name(key);
      s->mutable_spec()->set_workflow_id(id());
      s->mutable_spec()->set_workflow_key(key);
      for (const std::string& p : parents) s->mutable_spec()->add_depends_on(JobIdOf(p));
      for (const std::string& c : children[key]) s->add_dependents(JobIdOf(c));
      s->set_parents_registered(true);
      e.set_correlation_id(id());
      out.push_back(std::move(e));
    }
    return out;
  }

  events::Envelope Expanded(TimePoint at) const {
    events::Envelope e = workflow_.Base("WorkflowExpanded", "", at);
    e.mutable_workflow_expanded()->set_jobs(static_cast<int32_t>(edges_.size()));
    return e;
  }

  // Keyed by the child.
  events::Envelope Satisfied(TimePoint at, const std::string& child,
                             const std::string& parent) const {
    events::Envelope e =
        Job(child).Base("DependencySatisfied", JobIdOf(parent) + "/" + std::to_string(Ms(at)), at);
    e.mutable_dependency_satisfied()->set_parent_id(JobIdOf(parent));
    return e;
  }
  events::Envelope Failed(TimePoint at, const std::string& child, const std::string& parent,
                          const std::string& parent_status, const std::string& reason) const {
    events::Envelope e = Job(child).Base("DependencyFailed", JobIdOf(parent), at);
    v1::DependencyFailed* f = e.mutable_dependency_failed();
    f->set_parent_id(JobIdOf(parent));
    f->set_parent_status(parent_status);
    f->set_reason(reason);
    return e;
  }
  // Keyed by the parent.
  events::Envelope Notified(TimePoint at, const std::string& parent, v1::DependencyStatus status,
                            const std::vector<std::string>& children) const {
    events::Envelope e = Job(parent).Base("DependentsNotified", std::to_string(status), at);
    v1::DependentsNotified* n = e.mutable_dependents_notified();
    n->set_status(status);
    for (const std::string& c : children) n->add_job_ids(JobIdOf(c));
    return e;
  }

 private:
  static int64_t Ms(TimePoint at) { return ToUnixMillis(at); }

  EventFactory workflow_;
  std::string name_;
  std::vector<std::pair<std::string, std::vector<std::string>>> edges_;
};

}  // namespace jobsched::testing
