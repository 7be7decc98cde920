// Helpers for tests of the API's submission validation (job_spec.h).
#pragma once

#include <gtest/gtest.h>

#include <nlohmann/json.hpp>
#include <variant>

#include "events/time.h"
#include "services/api/job_spec.h"

namespace jobsched::api::testing {

// The "now" submissions are validated at.
inline const TimePoint kNow = *ParseRfc3339("2026-03-01T12:00:00Z");

// The spec `body` parses to; a test failure (and an empty spec) if it is refused.
inline v1::JobSpec MustParse(const nlohmann::json& body) {
  auto r = ParseJobSpec(body, kNow);
  if (auto* e = std::get_if<FieldError>(&r)) {
    ADD_FAILURE() << "unexpected error " << e->code << " " << e->field << ": " << e->message;
    return {};
  }
  return std::get<v1::JobSpec>(r);
}

// The error `body` is refused with; a test failure if it is accepted.
inline FieldError MustFail(const nlohmann::json& body) {
  auto r = ParseJobSpec(body, kNow);
  if (auto* e = std::get_if<FieldError>(&r)) return *e;
  ADD_FAILURE() << "accepted: " << body.dump();
  return {};
}

}  // namespace jobsched::api::testing
