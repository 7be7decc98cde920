// The admin port every service serves (services/common/admin_server.h): the
// three routes, their status codes and bodies, and what it says to a wrong
// request. Over real HTTP on a free port.
#include "services/common/admin_server.h"

#include <gtest/gtest.h>

#include <atomic>
#include <nlohmann/json.hpp>

#include "services/common/metrics.h"
#include "tests/support/http_client.h"
#include "tests/support/promtool.h"

namespace jobsched::services {
namespace {

using nlohmann::json;
using testing::HttpRequest;

class AdminServerTest : public ::testing::Test {
 protected:
  void SetUp() override {
    RegisterServiceInfo(registry_, "test", "instance-1");
    prometheus::BuildCounter()
        .Name("jobsched_test_things_total")
        .Help("Things done by the test")
        .Register(registry_)
        .Add({{"kind", "a"}})
        .Increment(3);
    AdminServer::Handlers handlers;
    handlers.health = [] { return json{{"status", "ok"}, {"extra", 7}}; };
    handlers.ready = [this] {
      Readiness r;
      r.Check("kafka", true);
      r.Check("partitions", ready_.load(), ready_ ? "" : "restoring 3");
      return r;
    };
    handlers.metrics = [this] { return SerializeMetrics(registry_); };
    server_ = std::make_unique<AdminServer>("127.0.0.1", 0, std::move(handlers));
    ASSERT_TRUE(server_->Start().ok());
    ASSERT_GT(server_->port(), 0);
    base_ = "http://127.0.0.1:" + std::to_string(server_->port());
  }

  prometheus::Registry registry_;
  std::atomic<bool> ready_{false};
  std::unique_ptr<AdminServer> server_;
  std::string base_;
};

TEST_F(AdminServerTest, HealthIsJson) {
  auto r = HttpRequest("GET", base_ + "/health");
  EXPECT_EQ(r.status, 200);
  EXPECT_EQ(r.headers["content-type"], "application/json");
  json body = json::parse(r.body);
  EXPECT_EQ(body["status"], "ok");
  EXPECT_EQ(body["extra"], 7);
}

TEST_F(AdminServerTest, ReadyIs503NamingTheFailedCheckThen200) {
  auto r = HttpRequest("GET", base_ + "/ready");
  EXPECT_EQ(r.status, 503);
  json body = json::parse(r.body);
  EXPECT_EQ(body["ready"], false);
  EXPECT_EQ(body["checks"]["kafka"]["ok"], true);
  EXPECT_EQ(body["checks"]["partitions"]["ok"], false);
  EXPECT_EQ(body["checks"]["partitions"]["detail"], "restoring 3");

  ready_ = true;
  r = HttpRequest("GET", base_ + "/ready");
  EXPECT_EQ(r.status, 200);
  EXPECT_EQ(json::parse(r.body)["ready"], true);
}

TEST_F(AdminServerTest, MetricsAreTheRegistryInTheTextFormat) {
  auto r = HttpRequest("GET", base_ + "/metrics");
  EXPECT_EQ(r.status, 200);
  EXPECT_NE(r.headers["content-type"].find("text/plain; version=0.0.4"), std::string::npos);
  EXPECT_NE(r.body.find("jobsched_test_things_total{kind=\"a\"} 3"), std::string::npos) << r.body;
  EXPECT_NE(r.body.find("jobsched_service_info{instance=\"instance-1\",service=\"test\"} 1"),
            std::string::npos)
      << r.body;
  ASSERT_TRUE(testing::HavePromtool()) << "promtool missing: run infra/install-deps.sh";
  auto lint = testing::PromtoolCheckMetrics(r.body);
  EXPECT_EQ(lint.exit_code, 0) << lint.output;
}

TEST_F(AdminServerTest, UnknownRouteAndWrongMethodSayWhatIsServed) {
  auto r = HttpRequest("GET", base_ + "/metricz");
  EXPECT_EQ(r.status, 404);
  EXPECT_NE(json::parse(r.body)["error"]["message"].get<std::string>().find("/health, /ready"),
            std::string::npos);
  r = HttpRequest("POST", base_ + "/ready", "{}");
  EXPECT_EQ(r.status, 405);
  EXPECT_EQ(json::parse(r.body)["error"]["code"], "method_not_allowed");
}

TEST(AdminServer, ABusyPortFailsNamingTheSetting) {
  AdminServer first("127.0.0.1", 0, {});
  ASSERT_TRUE(first.Start().ok());
  AdminServer second("127.0.0.1", first.port(), {});
  Status st = second.Start();
  EXPECT_FALSE(st.ok());
  EXPECT_NE(st.message().find("JOBSCHED_ADMIN_PORT"), std::string::npos) << st.message();
}

}  // namespace
}  // namespace jobsched::services
