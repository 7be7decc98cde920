// Pieces of SQL text the query files share (job_queries, ops_queries). Pure.
#pragma once

#include <string>
#include <vector>

namespace jobsched::api::sql {

// A timestamptz column as Unix milliseconds.
inline std::string Millis(const char* column) {
  return std::string("floor(extract(epoch FROM ") + column + ") * 1000)::bigint";
}

// A timestamptz column as "YYYY-MM-DDTHH:MM:SS.ffffffZ" (exact, for cursors).
inline std::string Micros(const char* column) {
  return std::string("to_char(") + column +
         " AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS.US\"Z\"')";
}

// Appends `value` to the statement's parameters; returns its placeholder ("$n").
inline std::string Param(std::vector<std::string>& params, std::string value) {
  params.push_back(std::move(value));
  return "$" + std::to_string(params.size());
}

}  // namespace jobsched::api::sql
