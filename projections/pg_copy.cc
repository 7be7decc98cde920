#include "projections/pg_copy.h"

#include <libpq-fe.h>

#include <algorithm>
#include <cstring>
#include <stdexcept>

#include "events/ids.h"
#include "events/time.h"

namespace jobsched::projections::internal {
namespace {

// Rows are handed to libpq in chunks of about this size: big enough to keep
// calls few, small enough that the server starts parsing early.
constexpr size_t kChunkBytes = 256 * 1024;

// PostgreSQL's binary COPY header: signature, flags, header extension length.
constexpr char kHeader[] = "PGCOPY\n\377\r\n\0\0\0\0\0\0\0\0\0";
constexpr size_t kHeaderBytes = 19;

// Seconds from the Unix epoch to PostgreSQL's (2000-01-01T00:00:00Z).
constexpr int64_t kPostgresEpochSeconds = 946684800;
// What TimestampText clamps to: years 1 to 9999.
constexpr int64_t kMinSeconds = -62135596800;
constexpr int64_t kMaxSeconds = 253402300799;

void PutBigEndian(std::string& out, uint64_t v, int bytes) {
  for (int i = bytes - 1; i >= 0; --i) out.push_back(static_cast<char>((v >> (8 * i)) & 0xFF));
}

int HexValue(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

// Reads what is left of the COPY's results; the first error wins.
void ThrowOnError(::pg_conn* conn, const std::string& query, uint64_t* rows) {
  std::string message;
  std::string sqlstate;
  bool failed = false;
  while (PGresult* res = PQgetResult(conn)) {
    if (PQresultStatus(res) == PGRES_COMMAND_OK) {
      if (rows != nullptr) {
        const char* tuples = PQcmdTuples(res);
        *rows = tuples[0] != '\0' ? std::stoull(tuples) : 0;
      }
    } else if (!failed) {
      failed = true;
      message = PQresultErrorMessage(res);
      const char* state = PQresultErrorField(res, PG_DIAG_SQLSTATE);
      sqlstate = state != nullptr ? state : "";
    }
    PQclear(res);
  }
  if (!failed) return;
  if (PQstatus(conn) != CONNECTION_OK) throw pqxx::broken_connection(message);
  if (sqlstate == "23505") throw pqxx::unique_violation(message, query, sqlstate.c_str());
  throw pqxx::sql_error(message, query, sqlstate.empty() ? nullptr : sqlstate.c_str());
}

::pg_conn* LibpqOf(const pqxx::dbtransaction& txn, const CopyConnection& conn) {
  if (&txn.conn() != static_cast<const pqxx::connection_base*>(&conn)) {
    throw std::logic_error("CopyStream: the transaction runs on another connection");
  }
  if (conn.libpq() == nullptr) throw pqxx::broken_connection("COPY: not connected");
  return conn.libpq();
}

}  // namespace

CopyConnection::CopyConnection(const std::string& options)
    : pqxx::connection_base(policy_), options_(options), policy_(options_) {
  init();
}

CopyConnection::~CopyConnection() noexcept { close(); }

CopyConnection::Policy::handle CopyConnection::Policy::do_startconnect(handle orig) {
  current_ = pqxx::connect_direct::do_startconnect(orig);
  return current_;
}

CopyConnection::Policy::handle CopyConnection::Policy::do_completeconnect(handle orig) {
  current_ = pqxx::connect_direct::do_completeconnect(orig);
  return current_;
}

CopyConnection::Policy::handle CopyConnection::Policy::do_dropconnect(handle orig) noexcept {
  current_ = pqxx::connect_direct::do_dropconnect(orig);
  return current_;
}

CopyConnection::Policy::handle CopyConnection::Policy::do_disconnect(handle orig) noexcept {
  current_ = pqxx::connect_direct::do_disconnect(orig);
  return current_;
}

CopyStream::CopyStream(pqxx::dbtransaction& txn, CopyConnection& conn, const std::string& table,
                       const std::vector<std::string>& columns)
    : txn_(txn),
      conn_(LibpqOf(txn, conn)),
      columns_(static_cast<int16_t>(columns.size())) {
  query_ = "COPY " + table + " (";
  for (size_t i = 0; i < columns.size(); ++i) {
    if (i > 0) query_ += ", ";
    query_ += columns[i];
  }
  query_ += ") FROM STDIN (FORMAT binary)";
  txn_.exec(query_);  // the server now waits for data
  buffer_.reserve(kChunkBytes + 64 * 1024);
  buffer_.append(kHeader, kHeaderBytes);
}

CopyStream::~CopyStream() {
  if (open_) Abandon();
}

void CopyStream::Abandon() noexcept {
  open_ = false;
  if (PQputCopyEnd(conn_, "abandoned by the client") == 1) {
    while (PGresult* res = PQgetResult(conn_)) PQclear(res);
  }
}

void CopyStream::Field(int32_t length) {
  if (in_row_ == 0) PutBigEndian(buffer_, static_cast<uint16_t>(columns_), 2);
  if (++in_row_ > columns_) {
    throw std::logic_error("COPY row for " + query_ + " has more than " +
                           std::to_string(columns_) + " values");
  }
  PutBigEndian(buffer_, static_cast<uint32_t>(length), 4);
}

CopyStream& CopyStream::Null() {
  Field(-1);
  return *this;
}

CopyStream& CopyStream::Text(std::string_view s) {
  if (std::memchr(s.data(), '\0', s.size()) == nullptr) {
    Field(static_cast<int32_t>(s.size()));
    buffer_.append(s);
    return *this;
  }
  std::string replaced;
  replaced.reserve(s.size() + 8);
  for (char c : s) {
    if (c == '\0') {
      replaced += "\xEF\xBF\xBD";
    } else {
      replaced.push_back(c);
    }
  }
  Field(static_cast<int32_t>(replaced.size()));
  buffer_.append(replaced);
  return *this;
}

CopyStream& CopyStream::Uuid(std::string_view s) {
  if (!LooksLikeUuid(s)) {
    throw std::invalid_argument("not a UUID: '" + std::string(s) + "' (" + query_ + ")");
  }
  Field(16);
  for (size_t i = 0; i < s.size(); ++i) {
    if (s[i] == '-') continue;
    const int hi = HexValue(s[i]);
    const int lo = HexValue(s[++i]);
    buffer_.push_back(static_cast<char>((hi << 4) | lo));
  }
  return *this;
}

CopyStream& CopyStream::Int4(int32_t v) {
  Field(4);
  PutBigEndian(buffer_, static_cast<uint32_t>(v), 4);
  return *this;
}

CopyStream& CopyStream::Int8(int64_t v) {
  Field(8);
  PutBigEndian(buffer_, static_cast<uint64_t>(v), 8);
  return *this;
}

CopyStream& CopyStream::Bool(bool b) {
  Field(1);
  buffer_.push_back(b ? 1 : 0);
  return *this;
}

CopyStream& CopyStream::Time(const google::protobuf::Timestamp& ts) {
  const int64_t secs = std::clamp<int64_t>(ts.seconds(), kMinSeconds, kMaxSeconds);
  const int64_t micros = std::clamp<int64_t>(ts.nanos(), 0, 999999999) / 1000;
  return Int8((secs - kPostgresEpochSeconds) * 1000000 + micros);
}

CopyStream& CopyStream::TimeOrNull(const google::protobuf::Timestamp& ts) {
  return IsSet(ts) ? Time(ts) : Null();
}

CopyStream& CopyStream::Bytea(std::string_view bytes) {
  Field(static_cast<int32_t>(bytes.size()));
  buffer_.append(bytes);
  return *this;
}

CopyStream& CopyStream::Jsonb(std::string_view json) {
  Field(static_cast<int32_t>(json.size() + 1));
  buffer_.push_back(1);  // jsonb's binary format version: the JSON text follows
  buffer_.append(json);
  return *this;
}

void CopyStream::EndRow() {
  if (in_row_ != columns_) {
    throw std::logic_error("COPY row for " + query_ + " has " + std::to_string(in_row_) +
                           " of " + std::to_string(columns_) + " values");
  }
  in_row_ = 0;
  ++rows_;
  Flush(false);
}

void CopyStream::Flush(bool force) {
  if (buffer_.empty() || (!force && buffer_.size() < kChunkBytes)) return;
  if (PQputCopyData(conn_, buffer_.data(), static_cast<int>(buffer_.size())) != 1) {
    std::string message = PQerrorMessage(conn_);
    Abandon();
    throw pqxx::broken_connection("COPY: " + message);
  }
  buffer_.clear();
}

uint64_t CopyStream::Finish() {
  if (in_row_ != 0) throw std::logic_error("COPY for " + query_ + " ends inside a row");
  PutBigEndian(buffer_, 0xFFFF, 2);  // the trailer: a row of -1 fields
  Flush(true);
  open_ = false;
  if (PQputCopyEnd(conn_, nullptr) != 1) {
    throw pqxx::broken_connection("COPY: " + std::string(PQerrorMessage(conn_)));
  }
  uint64_t stored = 0;
  ThrowOnError(conn_, query_, &stored);
  return stored;
}

}  // namespace jobsched::projections::internal
