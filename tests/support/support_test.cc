// Checks the test support library against the real things it wraps: a
// PostgreSQL cluster, the dev broker, an HTTP round trip, child processes.
#include <gtest/gtest.h>
#include <librdkafka/rdkafkacpp.h>
#include <signal.h>

#include <chrono>
#include <filesystem>
#include <memory>
#include <optional>
#include <pqxx/pqxx>
#include <stdexcept>
#include <string>

#include "tests/support/devbroker.h"
#include "tests/support/http_client.h"
#include "tests/support/postgres.h"
#include "tests/support/process.h"
#include "tests/support/test_http_server.h"
#include "tests/support/wait.h"

namespace jobsched::testing {
namespace {

using std::chrono::milliseconds;
using std::chrono::seconds;

std::unique_ptr<RdKafka::Conf> KafkaConf(const std::string& bootstrap) {
  std::unique_ptr<RdKafka::Conf> conf(RdKafka::Conf::create(RdKafka::Conf::CONF_GLOBAL));
  std::string err;
  EXPECT_EQ(conf->set("bootstrap.servers", bootstrap, err), RdKafka::Conf::CONF_OK) << err;
  return conf;
}

// Remembers the outcome of the last delivered message.
class DeliveryReport : public RdKafka::DeliveryReportCb {
 public:
  void dr_cb(RdKafka::Message& message) override {
    ++delivered;
    err = message.err();
    partition = message.partition();
    offset = message.offset();
  }
  int delivered = 0;
  RdKafka::ErrorCode err = RdKafka::ERR_NO_ERROR;
  int32_t partition = -1;
  int64_t offset = -1;
};

std::unique_ptr<RdKafka::Producer> MakeProducer(const std::string& bootstrap,
                                                DeliveryReport* report) {
  auto conf = KafkaConf(bootstrap);
  std::string err;
  EXPECT_EQ(conf->set("enable.idempotence", "true", err), RdKafka::Conf::CONF_OK) << err;
  EXPECT_EQ(conf->set("dr_cb", report, err), RdKafka::Conf::CONF_OK) << err;
  std::unique_ptr<RdKafka::Producer> producer(RdKafka::Producer::create(conf.get(), err));
  if (!producer) throw std::runtime_error("producer: " + err);
  return producer;
}

TEST(ScopedPostgresTest, CreatesDatabaseAndAnswersQueries) {
  auto start = std::chrono::steady_clock::now();
  ScopedPostgres pg;
  std::cout
      << "PostgreSQL cluster started in "
      << std::chrono::duration_cast<milliseconds>(std::chrono::steady_clock::now() - start).count()
      << " ms\n";
  std::string conn = pg.CreateDatabase("support_test");
  EXPECT_EQ(pg.CreateDatabase("support_test"), conn);  // idempotent
  EXPECT_EQ(conn, "postgresql://postgres@127.0.0.1:" + std::to_string(pg.port()) + "/support_test");
  pqxx::connection c{conn};
  pqxx::work tx{c};
  EXPECT_EQ(tx.exec1("select 1")[0].as<int>(), 1);
  EXPECT_EQ(tx.exec1("select current_database()")[0].as<std::string>(), "support_test");
  EXPECT_THROW(pg.CreateDatabase("bad;name"), std::runtime_error);
}

TEST(ScopedPostgresTest, SharedIsStartedOnce) {
  ScopedPostgres& a = ScopedPostgres::Shared();
  EXPECT_EQ(&a, &ScopedPostgres::Shared());
  pqxx::connection c{a.ConnectionString()};
  pqxx::nontransaction tx{c};
  EXPECT_EQ(tx.exec1("select 1")[0].as<int>(), 1);
}

TEST(ScopedDevBrokerTest, ProducesAndConsumesOnJobEvents) {
  auto start = std::chrono::steady_clock::now();
  ScopedDevBroker broker;
  std::cout
      << "dev broker ready in "
      << std::chrono::duration_cast<milliseconds>(std::chrono::steady_clock::now() - start).count()
      << " ms at " << broker.bootstrap() << "\n";
  ASSERT_FALSE(broker.bootstrap().empty());

  DeliveryReport report;
  auto producer = MakeProducer(broker.bootstrap(), &report);
  std::string err;
  std::unique_ptr<RdKafka::Topic> topic(
      RdKafka::Topic::create(producer.get(), "job-events", nullptr, err));
  ASSERT_TRUE(topic) << err;
  RdKafka::Metadata* raw_md = nullptr;
  ASSERT_EQ(producer->metadata(false, topic.get(), &raw_md, 5000), RdKafka::ERR_NO_ERROR);
  std::unique_ptr<RdKafka::Metadata> md(raw_md);
  ASSERT_EQ(md->topics()->size(), 1u);
  EXPECT_EQ(md->topics()->at(0)->partitions()->size(), 12u);

  const std::string key = "job-1", value = "hello";
  ASSERT_EQ(producer->produce("job-events", RdKafka::Topic::PARTITION_UA,
                              RdKafka::Producer::RK_MSG_COPY, const_cast<char*>(value.data()),
                              value.size(), key.data(), key.size(), 0, nullptr),
            RdKafka::ERR_NO_ERROR);
  ASSERT_EQ(producer->flush(10000), RdKafka::ERR_NO_ERROR);
  ASSERT_EQ(report.delivered, 1);
  ASSERT_EQ(report.err, RdKafka::ERR_NO_ERROR);

  auto conf = KafkaConf(broker.bootstrap());
  ASSERT_EQ(conf->set("group.id", "support-test", err), RdKafka::Conf::CONF_OK) << err;
  std::unique_ptr<RdKafka::KafkaConsumer> consumer(RdKafka::KafkaConsumer::create(conf.get(), err));
  ASSERT_TRUE(consumer) << err;
  std::vector<RdKafka::TopicPartition*> parts{
      RdKafka::TopicPartition::create("job-events", report.partition, report.offset)};
  ASSERT_EQ(consumer->assign(parts), RdKafka::ERR_NO_ERROR);
  RdKafka::TopicPartition::destroy(parts);
  std::optional<std::string> got_key, got_value;
  ASSERT_TRUE(WaitFor(
      [&] {
        std::unique_ptr<RdKafka::Message> m(consumer->consume(200));
        if (m->err() != RdKafka::ERR_NO_ERROR) return false;
        got_key = *m->key();
        got_value = std::string(static_cast<const char*>(m->payload()), m->len());
        return true;
      },
      seconds(15), milliseconds(0)));
  EXPECT_EQ(got_key, key);
  EXPECT_EQ(got_value, value);
  consumer->close();
}

TEST(ScopedDevBrokerTest, WarnsWhenOldEventsAreDropped) {
  ScopedDevBroker broker({{"wm-test", 1}});
  DeliveryReport report;
  auto producer = MakeProducer(broker.bootstrap(), &report);
  const std::string value(100 * 1024, 'x');
  for (int i = 0; i < 80; ++i) {  // 8 MiB into one partition that keeps ~5 MiB
    ASSERT_EQ(
        producer->produce("wm-test", 0, RdKafka::Producer::RK_MSG_COPY,
                          const_cast<char*>(value.data()), value.size(), nullptr, 0, 0, nullptr),
        RdKafka::ERR_NO_ERROR);
  }
  ASSERT_EQ(producer->flush(10000), RdKafka::ERR_NO_ERROR);
  ASSERT_EQ(report.delivered, 80);
  EXPECT_TRUE(WaitFor(
      [&] { return broker.Log().find("dropped old events on wm-test[0]") != std::string::npos; },
      seconds(10)))
      << broker.Log();
}

TEST(ScopedDevBrokerTest, ControlLinesAreAppliedOrRejected) {
  ScopedDevBroker broker({{"ctl-test", 1}});
  broker.Control("rtt 1 0");
  broker.Control("down 1");
  broker.Control("up 1");
  EXPECT_THROW(broker.Control("explode 1"), std::runtime_error);
  broker.Kill();
  EXPECT_FALSE(broker.process().Running());
}

TEST(HttpTest, RoundTripWithBodyAndHeaders) {
  TestHttpServer server([](const TestHttpServer::Request& req) {
    auto it = req.headers.find("x-test");
    return TestHttpServer::Reply{
        201, "echo:" + req.body, {{"X-Seen", it == req.headers.end() ? "" : it->second}}};
  });
  HttpResponse resp = HttpRequest("POST", server.url("/hook?x=1"), "payload",
                                  {"X-Test: abc", "Content-Type: application/json"});
  EXPECT_EQ(resp.status, 201);
  EXPECT_EQ(resp.body, "echo:payload");
  EXPECT_EQ(resp.headers["x-seen"], "abc");
  ASSERT_EQ(server.request_count(), 1u);
  auto req = server.requests().at(0);
  EXPECT_EQ(req.method, "POST");
  EXPECT_EQ(req.path, "/hook?x=1");
  EXPECT_EQ(req.body, "payload");
  EXPECT_EQ(req.headers["content-type"], "application/json");
  EXPECT_EQ(req.headers["x-test"], "abc");

  std::string big(3 * 1024 * 1024, 'b');  // > curl's 1 MiB Expect: 100-continue threshold
  resp = HttpRequest("PUT", server.url("/big"), big);
  EXPECT_EQ(resp.body, "echo:" + big);
  resp = HttpRequest("GET", server.url("/"));
  EXPECT_EQ(resp.status, 201);
  EXPECT_EQ(server.requests().at(2).body, "");
}

TEST(HttpTest, HandlerExceptionIsA500AndTransportErrorsThrow) {
  int port = 0;
  {
    TestHttpServer server([](const TestHttpServer::Request&) -> TestHttpServer::Reply {
      throw std::runtime_error("boom");
    });
    port = server.port();
    HttpResponse resp = HttpRequest("DELETE", server.url("/x"));
    EXPECT_EQ(resp.status, 500);
    EXPECT_NE(resp.body.find("boom"), std::string::npos);
  }
  EXPECT_THROW(HttpRequest("GET", "http://127.0.0.1:" + std::to_string(port) + "/"),
               std::runtime_error);
}

TEST(ChildProcessTest, EnvironmentLogAndExitCodes) {
  std::string dir = MakeTempDir("jobsched-support-");
  std::string log = dir + "/child.log";
  ChildProcess child("sh", {"-c", "echo \"$FOO\"; echo err >&2; exit 3"},
                     {.env = {{"FOO", "bar"}}, .log_path = log});
  EXPECT_EQ(child.WaitExit(seconds(10)), 3);
  EXPECT_EQ(ReadFile(log), "bar\nerr\n");

  ChildProcess sleeper("sleep", {"100"});
  EXPECT_TRUE(sleeper.Running());
  EXPECT_EQ(sleeper.Stop(), 128 + SIGTERM);
  EXPECT_FALSE(sleeper.Running());

  EXPECT_THROW(ChildProcess(dir + "/missing", {}), std::runtime_error);
  EXPECT_EQ(RunProcess("true", {}, log, seconds(10)), 0);
  std::filesystem::remove_all(dir);
}

}  // namespace
}  // namespace jobsched::testing
