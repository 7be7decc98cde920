#include "events/event_log.h"

namespace jobsched::events {

std::string ToString(const TopicPartition& tp) {
  return tp.topic + "[" + std::to_string(tp.partition) + "]";
}

Result<std::map<TopicPartition, Watermarks>> Consumer::QueryWatermarks(
    const std::vector<TopicPartition>& tps, std::chrono::milliseconds timeout) {
  std::map<TopicPartition, Watermarks> out;
  for (const TopicPartition& tp : tps) {
    auto wm = QueryWatermarks(tp, timeout);
    if (!wm.ok()) return wm.status();
    out[tp] = *wm;
  }
  return out;
}

}  // namespace jobsched::events
