// The SSE routes through the real API: its router and Responder/HttpStream
// (sse_route.h), the snapshot from the real projector's PostgreSQL tables,
// events from real API commands. The Kafka side is the in-memory log here;
// api_stream_test covers it on the dev broker.
#include <gtest/gtest.h>

#include <memory>
#include <nlohmann/json.hpp>
#include <string>

#include "events/ids.h"
#include "services/api/event_stream.h"
#include "services/api/pg_pool.h"
#include "services/api/sse.h"
#include "services/api/sse_route.h"
#include "tests/integration/api_fixture.h"
#include "tests/integration/sse_client.h"
#include "tests/support/wait.h"

namespace jobsched::api {
namespace {

using nlohmann::json;
using testing::HttpResponse;
using testing::kSseWait;
using testing::SseClient;
using testing::WaitFor;

class ApiStreamRouteTest : public ApiFixture {
 protected:
  ApiStreamRouteTest() : ApiFixture("apistream-") {}

  void SetUp() override {
    CreateDatabase("apistr_");
    CreateLog();
    hub_ = std::make_unique<EventStreamHub>(log_, topics_);
    ASSERT_TRUE(hub_->Start().ok());
    pool_ = std::make_unique<PgPool>(database_url_, PgPoolOptions{});
    sse_ = std::make_unique<SseServer>(SseOptions{}, *hub_,
                                       PgJobSnapshot(*pool_, "jobs", topics_.job_events), nullptr);
    SseServer* sse = sse_.get();
    StartApi(*producer_, database_url_, [sse](ApiOptions& o) {
      o.job_stream = [sse](const std::shared_ptr<Responder>& r, const RequestInfo& req) {
        ServeJobStreamRoute(*sse, r, req);
      };
      o.stream = [sse](const std::shared_ptr<Responder>& r, const RequestInfo& req) {
        ServeStreamRoute(*sse, r, req);
      };
    });
    projector_ = StartRealProjector(log_, database_url_, topics_, store_);
  }

  void TearDown() override {
    sse_->Stop();  // before the server's transport goes
    ApiFixture::TearDown();
    hub_->Stop();
    if (projector_) projector_->Stop();
  }

  std::string Submit() {
    HttpResponse r = Call("POST", "/api/v1/jobs",
                          R"({"name":"streamed","type":"echo","run_at":"2026-06-01T00:00:00Z"})");
    EXPECT_EQ(r.status, 201) << r.body;
    return Body(r)["job_id"];
  }

  std::unique_ptr<EventStreamHub> hub_;
  std::unique_ptr<PgPool> pool_;
  std::unique_ptr<SseServer> sse_;
  std::unique_ptr<projections::PgProjectionStore> store_;
  std::unique_ptr<projections::Projector> projector_;
};

TEST_F(ApiStreamRouteTest, SnapshotAsGetShowsItThenTheJobsEvents) {
  const std::string id = Submit();
  SseClient c(app_->port(), "/api/v1/jobs/" + id + "/stream");
  ASSERT_TRUE(c.WaitMessages(1)) << c.status() << " " << c.body();
  EXPECT_EQ(c.status(), 200);
  EXPECT_NE(c.head().find("Content-Type: text/event-stream"), std::string::npos) << c.head();
  EXPECT_NE(c.head().find("X-Request-Id: "), std::string::npos);
  auto snap = c.messages()[0];
  EXPECT_EQ(snap.event, "snapshot");
  json job = json::parse(snap.data);
  HttpResponse got = Call("GET", "/api/v1/jobs/" + id);
  ASSERT_EQ(got.status, 200);
  EXPECT_EQ(job, Body(got));  // nothing happened to the job in between
  // The snapshot reflects the JobSubmitted (offset 0 of the job's partition
  // at most): its id is that record's offset or later.
  EXPECT_FALSE(snap.id.empty());

  ASSERT_EQ(Call("POST", "/api/v1/jobs/" + id + "/cancel").status, 202);
  ASSERT_TRUE(c.WaitMessages(2));
  auto m = c.messages()[1];
  EXPECT_EQ(m.event, "CancelRequested");
  EXPECT_EQ(std::stoll(m.id), std::stoll(snap.id) + 1);  // the job's partition has nothing else
  json data = json::parse(m.data);
  EXPECT_EQ(data["job_id"], id);
  EXPECT_EQ(data["type"], "CancelRequested");
}

TEST_F(ApiStreamRouteTest, ErrorsComeAsJsonFromTheRouter) {
  {
    SseClient c(app_->port(), "/api/v1/jobs/" + RandomId() + "/stream");
    ASSERT_TRUE(c.WaitStatus());
    EXPECT_EQ(c.status(), 404);
    ASSERT_TRUE(WaitFor([&] { return !c.body().empty(); }, kSseWait));
    EXPECT_EQ(json::parse(c.body())["error"]["code"], "job_not_found");
  }
  {
    SseClient c(app_->port(), "/api/v1/stream", "not-an-id");
    ASSERT_TRUE(c.WaitStatus());
    EXPECT_EQ(c.status(), 400);
    ASSERT_TRUE(WaitFor([&] { return !c.body().empty(); }, kSseWait));
    EXPECT_EQ(json::parse(c.body())["error"]["field"], "Last-Event-ID");
  }
}

TEST_F(ApiStreamRouteTest, StoppingTheApiEndsOpenStreams) {
  SseClient c(app_->port(), "/api/v1/stream?type=JobSubmitted");
  ASSERT_TRUE(WaitFor([&] { return hub_->subscribers() == 1; }, kSseWait));
  const std::string id = Submit();
  ASSERT_TRUE(c.WaitMessages(1));
  EXPECT_EQ(json::parse(c.messages()[0].data)["job_id"], id);
  // SseServer::Stop ends the stream with its last chunk; the API stops after.
  sse_->Stop();
  EXPECT_TRUE(WaitFor([&] { return c.ended(); }, kSseWait));
  EXPECT_EQ(c.garbage(), "");
  EXPECT_EQ(hub_->subscribers(), 0u);
  app_->Stop();
}

}  // namespace
}  // namespace jobsched::api
