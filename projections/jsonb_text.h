// The Protobuf JSON of a message as text for a jsonb column, about ten times
// faster than events::ToJson (which serializes the message and converts the
// bytes through a type resolver that rebuilds every type's description at
// each call, the largest cost of projecting an event).
#pragma once

#include <string>

#include <google/protobuf/message.h>

namespace jobsched::projections {

// JSON text that PostgreSQL's jsonb reads as the same value as
// internal::PgJson(events::ToJson(m)): the same keys (.proto field names, set
// fields only), the same values (64-bit integers quoted, enums by name or
// number when unknown, bytes as base64, Timestamps as RFC 3339, doubles as
// Protobuf prints them), NUL characters as U+FFFD. Only the formatting may
// differ (key order, escapes), which jsonb does not keep. Like ToJson, a
// Timestamp out of range makes the whole result "{}". Messages holding
// well-known types other than Timestamp go through events::ToJson.
std::string JsonbText(const google::protobuf::Message& m);

}  // namespace jobsched::projections
