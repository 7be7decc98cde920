// The scheduler's decisions: given one job's folded state and the time, which
// events should be appended now, and when to look at the job again.
//
// Pure. Every decision gets a deterministic event id derived from its cause,
// so deciding twice (a redo after a crash, a timer that fires while the first
// decision is still in flight) yields the same events, which the fold then
// ignores as duplicates.
#pragma once

#include <optional>
#include <string>
#include <vector>

#include "events/envelope.h"

namespace jobsched::scheduler {

struct Decision {
  std::vector<events::Envelope> events;
  std::optional<TimePoint> wake_at;  // look again at this time (run_at / retry_at)
};

// `producer` names the deciding instance ("scheduler/<id>").
Decision Decide(const events::JobState& state, TimePoint now, const std::string& producer);

}  // namespace jobsched::scheduler
