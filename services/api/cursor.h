// The opaque pagination cursor of GET /api/v1/jobs: the sort key of the last
// job of a page, (created_at, job_id), as base64url (no padding) of
// "<created_at>|<job_id>" with created_at in UTC with microseconds
// ("2026-11-22T10:15:30.123456Z", exactly as PostgreSQL stores it, so paging
// never skips or repeats a row). Pure, thread-compatible.
#pragma once

#include <optional>
#include <string>
#include <string_view>

namespace jobsched::api {

struct ListCursor {
  std::string created_at;  // "YYYY-MM-DDTHH:MM:SS.ffffffZ"
  std::string job_id;      // a UUID
  bool operator==(const ListCursor&) const = default;
};

std::string EncodeCursor(const ListCursor& cursor);
// nullopt unless `text` is a cursor EncodeCursor made (well-formed time and UUID).
std::optional<ListCursor> DecodeCursor(std::string_view text);

std::string Base64UrlEncode(std::string_view bytes);
std::optional<std::string> Base64UrlDecode(std::string_view text);

}  // namespace jobsched::api
