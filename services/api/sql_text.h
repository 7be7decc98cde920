// Pieces of SQL text the query files share (job_queries, ops_queries,
// workflow_queries), and the page their keyset lists make of the rows.
#pragma once

#include <nlohmann/json.hpp>
#include <pqxx/pqxx>
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

// Keyset pagination newest first by (time_column, id_column), both unique
// together: the rows after `after` (a cursor's time and id; none for the
// first page), and one more row than `limit` to tell whether another page
// exists. Appended to a statement that ends in a WHERE clause. `id_type` is
// the id column's SQL type.
inline void AppendNewestFirstPage(std::string& sql, std::vector<std::string>& params,
                                  const std::string& time_column, const std::string& id_column,
                                  const std::string* after_time, const std::string* after_id,
                                  int limit, const std::string& id_type = "uuid") {
  if (after_time != nullptr && after_id != nullptr) {
    std::string at = Param(params, *after_time) + "::timestamptz";
    std::string id = Param(params, *after_id) + "::" + id_type;
    sql += " AND (" + time_column + ", " + id_column + ") < (" + at + ", " + id + ")";
  }
  sql += " ORDER BY " + time_column + " DESC, " + id_column + " DESC LIMIT " +
         std::to_string(limit + 1);
}

// The page AppendNewestFirstPage asked for: {items: every row but the extra
// one, rendered; "next_cursor": the cursor after the last row shown when the
// extra row says another page exists, else null}.
template <typename Render, typename CursorAfter>
nlohmann::json NewestFirstPage(const pqxx::result& rows, int limit, const char* items,
                               Render render, CursorAfter cursor_after) {
  nlohmann::json shown = nlohmann::json::array();
  nlohmann::json next = nullptr;
  for (pqxx::result::size_type i = 0; i < rows.size(); ++i) {
    if (static_cast<int>(i) == limit) {
      next = cursor_after(rows[i - 1]);
      break;
    }
    shown.push_back(render(rows[i]));
  }
  return nlohmann::json{{items, std::move(shown)}, {"next_cursor", std::move(next)}};
}

}  // namespace jobsched::api::sql
