// CopyStream: rows streamed into a table with COPY … FROM STDIN in PostgreSQL's
// binary format, inside a libpqxx transaction on a CopyConnection. Internal
// to projections/.
//
// libpqxx 6 streams COPY only as text (pqxx::stream_to: each field escaped
// and joined, one libpq call per row). This file is the one place that
// speaks libpq itself, on the libpq connection that CopyConnection's
// connection policy (libpqxx 6's public extension point for how a
// connection is made) records. The COPY runs inside the caller's libpqxx
// transaction, so it commits or rolls back with the rest of the batch.
//
// Binary COPY spares both sides the text work of COPY: no escaping, hex or
// timestamp formatting here, no parsing of uuids, timestamps, numbers or
// bytea in the server (jsonb is still parsed from its text). The caller must
// give each column a value of exactly its type (a uuid as 16 bytes, an int4
// as 4, ...): a mismatch fails the COPY ("incorrect binary data format"), it
// never stores a wrong value.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include <google/protobuf/timestamp.pb.h>
#include <pqxx/pqxx>

namespace jobsched::projections::internal {

// A libpqxx connection that also hands out its libpq connection, for
// CopyStream. Made as pqxx::connection is (connects at once, same options);
// libpqxx may replace the libpq connection when it reconnects, so ask for it
// at each use rather than keeping it. Not thread-safe, as pqxx::connection.
class CopyConnection final : public pqxx::connection_base {
 public:
  // Throws what pqxx::connection's constructor throws.
  explicit CopyConnection(const std::string& options);
  ~CopyConnection() noexcept;

  // The libpq connection libpqxx holds now; nullptr while disconnected.
  ::pg_conn* libpq() const { return policy_.current(); }

 private:
  // pqxx::connect_direct that remembers the handle each step leaves.
  class Policy final : public pqxx::connect_direct {
   public:
    explicit Policy(const std::string& options) : pqxx::connect_direct(options) {}
    handle do_startconnect(handle orig) override;
    handle do_completeconnect(handle orig) override;
    handle do_dropconnect(handle orig) noexcept override;
    handle do_disconnect(handle orig) noexcept override;
    ::pg_conn* current() const { return current_; }

   private:
    ::pg_conn* current_ = nullptr;
  };

  // Initialised before policy_, which keeps a reference to it.
  const std::string options_;
  Policy policy_;
};

// Not thread-safe; lives inside one transaction, which must run nothing else
// until Finish() returned or the stream was destroyed. Rows are sent in
// chunks as they are built, so the server parses while the client builds.
class CopyStream {
 public:
  // Starts COPY table (columns) FROM STDIN (FORMAT binary) in `txn`, which
  // must run on `conn` (else std::logic_error). Throws what txn.exec throws.
  CopyStream(pqxx::dbtransaction& txn, CopyConnection& conn, const std::string& table,
             const std::vector<std::string>& columns);
  // An unfinished COPY is abandoned: the server fails it, and with it the
  // transaction.
  ~CopyStream();
  CopyStream(const CopyStream&) = delete;
  CopyStream& operator=(const CopyStream&) = delete;

  // One value each, in column order; EndRow() after the last of a row.
  CopyStream& Null();
  // text: NUL characters (which text cannot hold) become U+FFFD, as PgText.
  CopyStream& Text(std::string_view s);
  CopyStream& TextOrNull(std::string_view s) { return s.empty() ? Null() : Text(s); }
  // uuid from its canonical text (LooksLikeUuid); anything else throws
  // std::invalid_argument.
  CopyStream& Uuid(std::string_view s);
  CopyStream& Int4(int32_t v);
  CopyStream& Int4OrNull(int32_t v, bool null) { return null ? Null() : Int4(v); }
  CopyStream& Int8(int64_t v);
  CopyStream& Int8OrNull(int64_t v, bool null) { return null ? Null() : Int8(v); }
  CopyStream& Bool(bool b);
  // timestamptz, microseconds, clamped to years 1..9999 as TimestampText.
  CopyStream& Time(const google::protobuf::Timestamp& ts);
  CopyStream& TimeOrNull(const google::protobuf::Timestamp& ts);
  CopyStream& Bytea(std::string_view bytes);
  // jsonb from JSON text (\u0000 escapes must already be gone: PgJson).
  CopyStream& Jsonb(std::string_view json);
  // Ends a row; throws std::logic_error if it did not have one value per column.
  void EndRow();

  // Ends the COPY and returns the rows the server stored. Throws
  // pqxx::unique_violation (SQLSTATE 23505), another pqxx::sql_error with
  // the server's SQLSTATE, or pqxx::broken_connection.
  uint64_t Finish();

 private:
  void Field(int32_t length);
  void Flush(bool force);
  void Abandon() noexcept;

  pqxx::dbtransaction& txn_;
  ::pg_conn* conn_;
  std::string query_;
  const int16_t columns_;
  int16_t in_row_ = 0;
  uint64_t rows_ = 0;
  bool open_ = true;
  std::string buffer_;
};

}  // namespace jobsched::projections::internal
