// The dev broker with --data-dir survives its own restart: every record comes
// back at its offset with its key, value, timestamp and headers, records
// appended after a restore survive the next restart too, a record torn by a
// kill is cut off, and the committed offsets of the named groups are back.
#include <gtest/gtest.h>
#include <librdkafka/rdkafka.h>

#include <algorithm>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <map>
#include <memory>
#include <optional>
#include <set>
#include <stdexcept>
#include <string>
#include <tuple>
#include <vector>

#include "tests/support/devbroker.h"
#include "tests/support/process.h"

namespace jobsched::testing {
namespace {

struct Record {
  std::string topic;
  int32_t partition = 0;
  int64_t offset = -1;
  std::optional<std::string> key;
  std::optional<std::string> value;
  int64_t timestamp = 0;
  std::vector<std::pair<std::string, std::string>> headers;

  auto Tie() const { return std::tie(topic, partition, offset, key, value, timestamp, headers); }
  bool operator==(const Record& o) const { return Tie() == o.Tie(); }
};

std::ostream& operator<<(std::ostream& os, const Record& r) {
  return os << r.topic << "[" << r.partition << "]@" << r.offset << " key=" << r.key.value_or("∅")
            << " value=" << r.value.value_or("∅") << " ts=" << r.timestamp
            << " headers=" << r.headers.size();
}

const TopicList kTopics = {{"alpha", 3}, {"beta", 2}};
using Offsets = std::map<std::pair<std::string, int32_t>, int64_t>;

rd_kafka_t* NewClient(rd_kafka_type_t type, const std::string& bootstrap,
                      const std::map<std::string, std::string>& settings) {
  char err[512];
  rd_kafka_conf_t* conf = rd_kafka_conf_new();
  std::map<std::string, std::string> all = settings;
  all["bootstrap.servers"] = bootstrap;
  for (const auto& [k, v] : all) {
    if (rd_kafka_conf_set(conf, k.c_str(), v.c_str(), err, sizeof err) != RD_KAFKA_CONF_OK) {
      throw std::runtime_error(k + ": " + err);
    }
  }
  rd_kafka_t* rk = rd_kafka_new(type, conf, err, sizeof err);
  if (rk == nullptr) throw std::runtime_error(err);
  return rk;
}

void OnDelivery(rd_kafka_t*, const rd_kafka_message_t* m, void*) {
  auto* r = static_cast<Record*>(m->_private);
  r->offset = m->err == RD_KAFKA_RESP_ERR_NO_ERROR ? m->offset : -2;
}

// Produces `records` (offset ignored) and fills in each one's offset.
void Produce(const std::string& bootstrap, std::vector<Record>& records) {
  char err[512];
  rd_kafka_conf_t* conf = rd_kafka_conf_new();
  rd_kafka_conf_set(conf, "bootstrap.servers", bootstrap.c_str(), err, sizeof err);
  rd_kafka_conf_set(conf, "enable.idempotence", "true", err, sizeof err);
  rd_kafka_conf_set(conf, "linger.ms", "5", err, sizeof err);
  rd_kafka_conf_set_dr_msg_cb(conf, OnDelivery);
  rd_kafka_t* rk = rd_kafka_new(RD_KAFKA_PRODUCER, conf, err, sizeof err);
  ASSERT_NE(rk, nullptr) << err;
  for (Record& r : records) {
    rd_kafka_headers_t* headers = nullptr;
    if (!r.headers.empty()) {
      headers = rd_kafka_headers_new(r.headers.size());
      for (const auto& [k, v] : r.headers) {
        rd_kafka_header_add(headers, k.data(), static_cast<ssize_t>(k.size()), v.data(),
                            static_cast<ssize_t>(v.size()));
      }
    }
    rd_kafka_resp_err_t e = rd_kafka_producev(
        rk, RD_KAFKA_V_TOPIC(r.topic.c_str()), RD_KAFKA_V_PARTITION(r.partition),
        RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY),
        RD_KAFKA_V_KEY((r.key ? r.key->data() : nullptr), (r.key ? r.key->size() : 0)),
        RD_KAFKA_V_VALUE((r.value ? r.value->data() : nullptr), (r.value ? r.value->size() : 0)),
        RD_KAFKA_V_TIMESTAMP(r.timestamp), RD_KAFKA_V_HEADERS(headers), RD_KAFKA_V_OPAQUE(&r),
        RD_KAFKA_V_END);
    ASSERT_EQ(e, RD_KAFKA_RESP_ERR_NO_ERROR) << rd_kafka_err2str(e);
  }
  ASSERT_EQ(rd_kafka_flush(rk, 30000), RD_KAFKA_RESP_ERR_NO_ERROR);
  rd_kafka_destroy(rk);
  for (const Record& r : records) ASSERT_GE(r.offset, 0) << r;
}

// Every record of kTopics, in (topic, partition, offset) order.
std::vector<Record> ReadAll(const std::string& bootstrap) {
  rd_kafka_t* rk = NewClient(RD_KAFKA_CONSUMER, bootstrap,
                             {{"group.id", "persistence-test-reader"},
                              {"enable.auto.commit", "false"},
                              {"enable.partition.eof", "true"}});
  rd_kafka_topic_partition_list_t* parts = rd_kafka_topic_partition_list_new(8);
  int eofs_needed = 0;
  for (const auto& [topic, n] : kTopics) {
    for (int32_t p = 0; p < n; ++p, ++eofs_needed) {
      rd_kafka_topic_partition_list_add(parts, topic.c_str(), p)->offset =
          RD_KAFKA_OFFSET_BEGINNING;
    }
  }
  rd_kafka_assign(rk, parts);
  rd_kafka_topic_partition_list_destroy(parts);
  std::map<std::pair<std::string, int32_t>, std::vector<Record>> by_partition;
  std::set<std::pair<std::string, int32_t>> at_end;
  auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(20);
  while (static_cast<int>(at_end.size()) < eofs_needed &&
         std::chrono::steady_clock::now() < deadline) {
    rd_kafka_message_t* m = rd_kafka_consumer_poll(rk, 100);
    if (m == nullptr) continue;
    std::pair<std::string, int32_t> tp{rd_kafka_topic_name(m->rkt), m->partition};
    if (m->err == RD_KAFKA_RESP_ERR__PARTITION_EOF) {
      at_end.insert(tp);
    } else if (m->err == RD_KAFKA_RESP_ERR_NO_ERROR) {
      Record r;
      r.topic = tp.first;
      r.partition = tp.second;
      r.offset = m->offset;
      if (m->key != nullptr) r.key = std::string(static_cast<char*>(m->key), m->key_len);
      if (m->payload != nullptr) {
        r.value = std::string(static_cast<char*>(m->payload), m->len);
      }
      rd_kafka_timestamp_type_t type;
      r.timestamp = rd_kafka_message_timestamp(m, &type);
      rd_kafka_headers_t* h = nullptr;
      if (rd_kafka_message_headers(m, &h) == RD_KAFKA_RESP_ERR_NO_ERROR) {
        for (size_t i = 0; i < rd_kafka_header_cnt(h); ++i) {
          const char* name;
          const void* value;
          size_t size;
          rd_kafka_header_get_all(h, i, &name, &value, &size);
          r.headers.emplace_back(name, std::string(static_cast<const char*>(value), size));
        }
      }
      by_partition[tp].push_back(std::move(r));
    }
    rd_kafka_message_destroy(m);
  }
  rd_kafka_consumer_close(rk);
  rd_kafka_destroy(rk);
  EXPECT_EQ(static_cast<int>(at_end.size()), eofs_needed) << "did not reach every partition's end";
  std::vector<Record> all;
  for (auto& [tp, rs] : by_partition) all.insert(all.end(), rs.begin(), rs.end());
  return all;
}

void Commit(const std::string& bootstrap, const std::string& group, const Offsets& offsets) {
  rd_kafka_t* rk = NewClient(RD_KAFKA_CONSUMER, bootstrap,
                             {{"group.id", group}, {"enable.auto.commit", "false"}});
  rd_kafka_topic_partition_list_t* list = rd_kafka_topic_partition_list_new(8);
  for (const auto& [tp, offset] : offsets) {
    rd_kafka_topic_partition_list_add(list, tp.first.c_str(), tp.second)->offset = offset;
  }
  rd_kafka_resp_err_t err = rd_kafka_commit(rk, list, 0);
  rd_kafka_topic_partition_list_destroy(list);
  rd_kafka_destroy(rk);
  ASSERT_EQ(err, RD_KAFKA_RESP_ERR_NO_ERROR) << rd_kafka_err2str(err);
}

// The group's committed offsets on every partition of kTopics (none: absent).
Offsets Committed(const std::string& bootstrap, const std::string& group) {
  rd_kafka_t* rk = NewClient(RD_KAFKA_CONSUMER, bootstrap,
                             {{"group.id", group}, {"enable.auto.commit", "false"}});
  rd_kafka_topic_partition_list_t* list = rd_kafka_topic_partition_list_new(8);
  for (const auto& [topic, n] : kTopics) {
    for (int32_t p = 0; p < n; ++p) rd_kafka_topic_partition_list_add(list, topic.c_str(), p);
  }
  rd_kafka_resp_err_t err = rd_kafka_committed(rk, list, 10000);
  Offsets out;
  for (int i = 0; i < list->cnt; ++i) {
    if (list->elems[i].offset >= 0) {
      out[{list->elems[i].topic, list->elems[i].partition}] = list->elems[i].offset;
    }
  }
  rd_kafka_topic_partition_list_destroy(list);
  rd_kafka_destroy(rk);
  EXPECT_EQ(err, RD_KAFKA_RESP_ERR_NO_ERROR) << rd_kafka_err2str(err);
  return out;
}

// Records on several partitions: keys (some null), values (one null, one
// empty), distinct timestamps, headers on some.
std::vector<Record> Batch(const std::string& tag, int per_partition) {
  std::vector<Record> records;
  int64_t ts = 1'700'000'000'000;
  for (const auto& [topic, n] : kTopics) {
    for (int32_t p = 0; p < n; ++p) {
      for (int i = 0; i < per_partition; ++i) {
        Record r;
        r.topic = topic;
        r.partition = p;
        if (i % 5 != 3) r.key = tag + "-key-" + std::to_string(i);
        if (i == 1) {
          r.value = std::nullopt;
        } else if (i == 2) {
          r.value = "";
        } else {
          r.value = tag + " value " + topic + "/" + std::to_string(p) + "/" + std::to_string(i) +
                    std::string(i * 7, 'x');
        }
        r.timestamp = ts + p * 1000 + i * 13;
        if (i % 4 == 0) r.headers = {{"trace", tag + std::to_string(i)}, {"empty", ""}};
        records.push_back(std::move(r));
      }
    }
  }
  return records;
}

class DevBrokerPersistenceTest : public ::testing::Test {
 protected:
  void SetUp() override { data_dir_ = MakeTempDir("jobsched-devbroker-data-"); }
  void TearDown() override { std::filesystem::remove_all(data_dir_); }

  std::unique_ptr<ScopedDevBroker> StartBroker() {
    return std::make_unique<ScopedDevBroker>(
        kTopics, 1, DevBrokerStorage{data_dir_, {"persistence-test-group", "idle-group"}});
  }

  std::string data_dir_;
};

TEST_F(DevBrokerPersistenceTest, RecordsAndGroupOffsetsSurviveAGracefulRestart) {
  auto broker = StartBroker();
  std::vector<Record> produced = Batch("first", 40);
  Produce(broker->bootstrap(), produced);
  const Offsets committed = {{{"alpha", 0}, 17}, {{"alpha", 2}, 40}, {{"beta", 1}, 3}};
  Commit(broker->bootstrap(), "persistence-test-group", committed);
  ASSERT_EQ(ReadAll(broker->bootstrap()), produced);
  ASSERT_EQ(broker->Stop(), 0) << broker->Log();

  broker = StartBroker();
  EXPECT_NE(broker->Log().find("restored 200 records (5 partitions) and the committed offsets "
                               "of 1 group(s)"),
            std::string::npos)
      << broker->Log();
  EXPECT_EQ(ReadAll(broker->bootstrap()), produced);
  EXPECT_EQ(Committed(broker->bootstrap(), "persistence-test-group"), committed);
  EXPECT_TRUE(Committed(broker->bootstrap(), "idle-group").empty());

  // What is appended after a restore (and a moved offset) survives the next restart.
  std::vector<Record> more = Batch("second", 3);
  Produce(broker->bootstrap(), more);
  for (const Record& r : more) EXPECT_EQ(r.offset, 40 + (&r - &more[0]) % 3) << r;
  const Offsets moved = {{{"alpha", 0}, 43}, {{"alpha", 2}, 40}, {{"beta", 1}, 3}};
  Commit(broker->bootstrap(), "persistence-test-group", {{{"alpha", 0}, 43}});
  ASSERT_EQ(broker->Stop(), 0) << broker->Log();

  broker = StartBroker();
  std::vector<Record> expected = ReadAll(broker->bootstrap());
  std::vector<Record> want = produced;
  want.insert(want.end(), more.begin(), more.end());
  std::sort(want.begin(), want.end(), [](const Record& a, const Record& b) {
    return std::tie(a.topic, a.partition, a.offset) < std::tie(b.topic, b.partition, b.offset);
  });
  EXPECT_EQ(expected, want);
  EXPECT_EQ(Committed(broker->bootstrap(), "persistence-test-group"), moved);
}

TEST_F(DevBrokerPersistenceTest, ATornRecordIsCutOffAndTheRestRestored) {
  auto broker = StartBroker();
  std::vector<Record> produced = Batch("torn", 5);
  Produce(broker->bootstrap(), produced);
  ASSERT_EQ(broker->Stop(), 0) << broker->Log();
  // As if a kill -9 came in the middle of a write: half a frame at the end.
  const std::string file = data_dir_ + "/alpha/1.log";
  const auto size = std::filesystem::file_size(file);
  {
    std::ofstream out(file, std::ios::app | std::ios::binary);
    const char half_frame[] = {100, 0, 0, 0, 1, 2, 3};
    out.write(half_frame, sizeof half_frame);
  }

  broker = StartBroker();
  EXPECT_NE(broker->Log().find("cutting off a torn record"), std::string::npos) << broker->Log();
  EXPECT_EQ(std::filesystem::file_size(file), size);
  EXPECT_EQ(ReadAll(broker->bootstrap()), produced);
  // The next record lands after the last whole one, and is stored.
  Record after;
  after.topic = "alpha";
  after.partition = 1;
  after.key = "k";
  after.value = "after the tear";
  after.timestamp = 1'700'000'999'000;
  std::vector<Record> one = {after};
  Produce(broker->bootstrap(), one);
  EXPECT_EQ(one[0].offset, 5);
  ASSERT_EQ(broker->Stop(), 0) << broker->Log();
  broker = StartBroker();
  produced.insert(produced.begin() + 10, one[0]);  // alpha[0] 5, alpha[1] 5, then this one
  EXPECT_EQ(ReadAll(broker->bootstrap()), produced);
}

TEST_F(DevBrokerPersistenceTest, AHoleInTheStoredLogFailsTheStartLoudly) {
  auto broker = StartBroker();
  std::vector<Record> produced = Batch("hole", 3);
  Produce(broker->bootstrap(), produced);
  ASSERT_EQ(broker->Stop(), 0) << broker->Log();
  // Drop the first frame of beta[0]: its stored records now start at offset 1.
  const std::string file = data_dir_ + "/beta/0.log";
  std::string data = ReadFile(file);
  uint32_t len = 0;
  std::memcpy(&len, data.data(), sizeof len);
  {
    std::ofstream out(file, std::ios::trunc | std::ios::binary);
    out << data.substr(sizeof len + len);
  }
  broker.reset();
  try {
    StartBroker();
    FAIL() << "the broker started on a log with a hole";
  } catch (const std::runtime_error& e) {
    EXPECT_NE(std::string(e.what()).find("record 0 is missing"), std::string::npos) << e.what();
  }
}

}  // namespace
}  // namespace jobsched::testing
