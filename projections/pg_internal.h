// Helpers shared by the libpqxx adapters in projections/. Internal: not for
// use outside this folder.
#pragma once

#include <exception>
#include <string>
#include <string_view>

#include <google/protobuf/timestamp.pb.h>

#include "events/status.h"

namespace jobsched::projections::internal {

// Maps an exception thrown by libpqxx (or anything else) to a Status:
// broken_connection, in_doubt_error and SQLSTATE classes 08/57/53/40 (connection,
// operator intervention, resources, rollback) → kUnavailable (retry later);
// anything else → kInternal. `what` prefixes the message.
Status TranslatePgError(const std::exception& e, std::string_view what);

// `ts` as timestamptz input text with microsecond precision, e.g.
// "2026-11-22 10:15:30.123000+00". Timestamps outside years 1..9999 (which
// PostgreSQL may not store) are clamped to that range, so a corrupt event can
// never make a batch fail forever.
std::string TimestampText(const google::protobuf::Timestamp& ts);

// bytea input text (hex format): "\x0a1b...".
std::string ByteaText(std::string_view bytes);

// Text as PostgreSQL accepts it: NUL bytes (which text columns cannot hold)
// become U+FFFD. Protobuf already guarantees valid UTF-8 for proto3 strings.
std::string PgText(std::string_view s);

// Protobuf JSON as jsonb accepts it: the escape \u0000 becomes \ufffd.
std::string PgJson(std::string json);

}  // namespace jobsched::projections::internal
