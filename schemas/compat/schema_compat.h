// The schema contract: is a new version of the Protobuf catalogue still
// readable by consumers built against a committed baseline?
//
// Both sides are FileDescriptorSets (protoc --descriptor_set_out
// --include_imports). For every file, message and enum of the baseline, the
// current set must keep what other teams' readers and our own stored events
// rely on (schemas/README.md, "Evolution rules"):
//  - files keep their name and package; messages and enums are neither
//    removed nor renamed (nor moved to another file: consumers import it);
//  - a field keeps its number, name, type (scalar type, or message/enum full
//    name), cardinality (singular, repeated, map) and oneof membership;
//  - a field or enum value that is gone has its number AND name `reserved`;
//  - an enum value keeps its number and name;
//  - what the baseline reserved stays reserved.
// Additions (files, messages, enums, fields, values, oneof members) are
// compatible; they are listed so a caller can say the baseline lags.
// Pure except ReadDescriptorSet, which reads a file. Thread-compatible.
#pragma once

#include <string>
#include <string_view>
#include <vector>

#include <google/protobuf/descriptor.pb.h>

#include "events/status.h"

namespace jobsched::schemas {

// One change that breaks the contract.
struct Incompatibility {
  std::string file;     // as imported: "jobsched/v1/events.proto"
  int line = 0;         // 1-based line in the CURRENT file, when known (else 0)
  std::string element;  // "message jobsched.v1.RunDue", "enum jobsched.v1.FailureKind", "file"
  std::string member;   // "field attempt = 2", "value FAILURE_KIND_ERROR = 1", "" for the element
  std::string change;   // what changed, baseline -> current
  std::string fix;      // what to do about it

  // "schemas/jobsched/v1/events.proto:142: message jobsched.v1.RunDue, field
  // attempt = 2: <change>\n  fix: <fix>", with `file_prefix` before the file.
  std::string Format(std::string_view file_prefix = "") const;
};

struct CompatReport {
  std::vector<Incompatibility> breaks;  // empty: compatible
  std::vector<std::string> additions;   // "field jobsched.v1.RunDue.coalesced = 10", ...
  bool ok() const { return breaks.empty(); }
};

// Compares `current` with `baseline`. Fails with kInvalidArgument when either
// set does not build (a missing import, a duplicate name), naming the set.
Result<CompatReport> CheckCompatibility(const google::protobuf::FileDescriptorSet& baseline,
                                        const google::protobuf::FileDescriptorSet& current);

// Reads a descriptor set: Protobuf text format if `path` ends in ".txtpb",
// else binary (what protoc --descriptor_set_out writes).
Result<google::protobuf::FileDescriptorSet> ReadDescriptorSet(const std::string& path);

// The text form committed as the baseline: source info (lines, comments) is
// dropped, so the text changes only when the schema does.
std::string BaselineText(google::protobuf::FileDescriptorSet set);

}  // namespace jobsched::schemas
