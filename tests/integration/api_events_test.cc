// GET /api/v1/jobs/{id}/events: the API in process over a memory log, the
// real projector writing job_logs into a throwaway PostgreSQL; the events
// come from real API commands and from records appended as the other
// services would (including a duplicate and one the fold rejects).
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>
#include <variant>
#include <string>
#include <vector>

#include "events/envelope.h"
#include "events/ids.h"
#include "services/api/job_events.h"
#include "tests/integration/api_fixture.h"
#include "tests/support/wait.h"

namespace jobsched::api {
namespace {

using nlohmann::json;
using testing::HttpResponse;

class ApiEventsTest : public ApiFixture {
 protected:
  ApiEventsTest() : ApiFixture("apievents-") {}

  void SetUp() override {
    CreateDatabase("apiev_");
    CreateLog();
    auto feeder = log_.NewProducer("scheduler-stand-in");
    ASSERT_TRUE(feeder.ok()) << feeder.status().ToString();
    feeder_ = std::move(feeder).value();
    StartApi(*producer_, database_url_);
    projector_ = StartRealProjector(log_, database_url_, topics_, store_);
  }

  void TearDown() override {
    if (projector_) projector_->Stop();
    ApiFixture::TearDown();
  }

  void Append(const events::Envelope& e) {
    Status s = feeder_->Append(
        {{.topic = topics_.job_events, .key = e.job_id(), .value = events::Encode(e)}});
    ASSERT_TRUE(s.ok()) << s.ToString();
  }

  json Page(const std::string& id, const std::string& query = "") {
    HttpResponse r = Call("GET", "/api/v1/jobs/" + id + "/events" + query);
    EXPECT_EQ(r.status, 200) << r.body;
    return Body(r);
  }

  static std::vector<std::string> Types(const json& page) {
    std::vector<std::string> out;
    for (const auto& e : page["events"]) out.push_back(e["type"]);
    return out;
  }

  void ExpectError(const HttpResponse& r, long status, const std::string& code,
                   const std::string& field) {
    EXPECT_EQ(r.status, status) << r.body;
    json b = Body(r);
    EXPECT_EQ(b["error"].value("code", ""), code) << r.body;
    EXPECT_EQ(b["error"].value("field", ""), field) << r.body;
    EXPECT_FALSE(b["error"].value("message", "").empty()) << r.body;
  }

  std::string Submit() {
    HttpResponse r = Call("POST", "/api/v1/jobs",
                          R"({"name":"audited","type":"echo","payload":{"n":7},"run_at":)"
                          R"("2026-06-01T00:00:00Z"})");
    EXPECT_EQ(r.status, 201) << r.body;
    return Body(r).value("job_id", "");
  }

  std::unique_ptr<events::Producer> feeder_;
  std::unique_ptr<projections::PgProjectionStore> store_;
  std::unique_ptr<projections::Projector> projector_;
};

TEST_F(ApiEventsTest, ReadsItsWritesOldestFirstWithTheDecodedEvent) {
  const std::string id = Submit();
  ASSERT_FALSE(id.empty());
  ASSERT_EQ(Call("POST", "/api/v1/jobs/" + id + "/cancel").status, 202);
  // Right after the 202: this process appended both, so the route waits for the projection.
  json page = Page(id);
  ASSERT_EQ(Types(page), (std::vector<std::string>{"JobSubmitted", "CancelRequested"})) << page;
  EXPECT_EQ(page["next_cursor"], nullptr);

  const json& submitted = page["events"][0];
  EXPECT_EQ(submitted["outcome"], "applied");
  EXPECT_EQ(submitted["producer"], "api/test-1");
  EXPECT_EQ(submitted["run_id"], nullptr);
  EXPECT_EQ(submitted["occurred_at"], "2026-03-01T12:00:00.000Z");  // the API's manual clock
  EXPECT_TRUE(LooksLikeUuid(submitted["event_id"].get<std::string>()));
  EXPECT_LT(submitted["offset"].get<int64_t>(), page["events"][1]["offset"].get<int64_t>());
  EXPECT_EQ(submitted["partition"], page["events"][1]["partition"]);
  // The envelope as the projector stored it.
  const json& event = submitted["event"];
  EXPECT_EQ(event["event_id"], submitted["event_id"]);
  EXPECT_EQ(event["job_id"], id);
  EXPECT_EQ(event["job_submitted"]["spec"]["name"], "audited");
  EXPECT_EQ(json::parse(event["job_submitted"]["spec"]["payload_json"].get<std::string>()),
            (json{{"n", 7}}));
  EXPECT_TRUE(page["events"][1]["event"].contains("cancel_requested"));
}

TEST_F(ApiEventsTest, ShowsTheFoldOutcomeOfDuplicatesAndRejections) {
  const std::string id = Submit();
  ASSERT_FALSE(id.empty());
  events::Envelope due = events::MakeEnvelope(ids::EventId("RunDue", id, "1"), id,
                                              {"scheduler/test", clock_.Now(), "corr", ""});
  const std::string run_id = ids::RunId(id, ids::OnceFireId(id), 1);
  due.mutable_run_due()->set_run_id(run_id);
  due.mutable_run_due()->set_attempt(1);
  due.mutable_run_due()->set_fire_id(ids::OnceFireId(id));
  *due.mutable_run_due()->mutable_scheduled_for() = ToProto(clock_.Now());
  Append(due);
  Append(due);  // redelivered: the same event id again
  // A result for a run that was never dispatched to this executor's lease.
  events::Envelope stray = events::MakeEnvelope(ids::EventId("RunSucceeded", id, "x"), id,
                                                {"executor/test", clock_.Now(), "corr", ""});
  stray.mutable_run_succeeded()->set_run_id(RandomId());
  stray.mutable_run_succeeded()->set_lease_epoch(9);
  Append(stray);

  json page;
  ASSERT_TRUE(testing::WaitFor(
      [&] {
        page = Page(id);
        return page["events"].size() == 4;
      },
      std::chrono::seconds(20)))
      << page;
  ASSERT_EQ(Types(page),
            (std::vector<std::string>{"JobSubmitted", "RunDue", "RunDue", "RunSucceeded"}));
  EXPECT_EQ(page["events"][1]["outcome"], "applied");
  EXPECT_EQ(page["events"][1]["run_id"], run_id);
  EXPECT_EQ(page["events"][1]["producer"], "scheduler/test");
  EXPECT_EQ(page["events"][2]["outcome"], "duplicate");
  EXPECT_EQ(page["events"][2]["event_id"], page["events"][1]["event_id"]);
  EXPECT_EQ(page["events"][3]["outcome"], "rejected");
  EXPECT_FALSE(page["events"][3]["message"].get<std::string>().empty());

  // Pages of one: every record once, in order; the last page has no cursor.
  std::vector<int64_t> offsets;
  std::string query = "?limit=1";
  for (int pages = 0; pages < 10; ++pages) {
    json p = Page(id, query);
    ASSERT_EQ(p["events"].size(), 1u) << p;
    offsets.push_back(p["events"][0]["offset"]);
    if (p["next_cursor"].is_null()) break;
    query = "?limit=1&cursor=" + p["next_cursor"].get<std::string>();
  }
  std::vector<int64_t> all;
  for (const auto& e : page["events"]) all.push_back(e["offset"]);
  EXPECT_EQ(offsets, all);

  EXPECT_EQ(Types(Page(id, "?event_type=RunDue")), (std::vector<std::string>{"RunDue", "RunDue"}));
  json after = Page(id, "?event_type=RunDue&limit=1");
  EXPECT_EQ(Types(Page(id, "?event_type=RunDue&cursor=" + after["next_cursor"].get<std::string>())),
            (std::vector<std::string>{"RunDue"}));
}

TEST_F(ApiEventsTest, ErrorsAreJson) {
  const std::string id = Submit();
  ASSERT_FALSE(id.empty());
  ExpectError(Call("GET", "/api/v1/jobs/" + RandomId() + "/events"), 404, "job_not_found", "");
  ExpectError(Call("GET", "/api/v1/jobs/nope/events"), 400, "invalid_job_id", "job_id");
  ExpectError(Call("GET", "/api/v1/jobs/" + id + "/events?cursor=bm9wZQ"), 400, "invalid_parameter",
              "cursor");
  // A /logs cursor pages the other way: not accepted here.
  ExpectError(Call("GET", "/api/v1/jobs/" + id + "/events?cursor=" + EncodeLogCursor(3)), 400,
              "invalid_parameter", "cursor");
  ExpectError(Call("GET", "/api/v1/jobs/" + id + "/events?limit=0"), 400, "invalid_parameter",
              "limit");
  ExpectError(
      Call("GET", "/api/v1/jobs/" + id + "/events?limit=" + std::to_string(kMaxEventsLimit + 1)),
      400, "invalid_parameter", "limit");
  ExpectError(Call("GET", "/api/v1/jobs/" + id + "/events?event_type=Nope"), 400,
              "invalid_parameter", "event_type");
  ExpectError(Call("GET", "/api/v1/jobs/" + id + "/events?level=warn"), 400, "invalid_parameter",
              "level");
  ExpectError(Call("POST", "/api/v1/jobs/" + id + "/events"), 405, "method_not_allowed", "");
}

TEST(EventCursorTest, RoundTripsAndRejectsOthers) {
  EXPECT_EQ(DecodeEventCursor(EncodeEventCursor(0)), 0);
  EXPECT_EQ(DecodeEventCursor(EncodeEventCursor(123456789012)), 123456789012);
  EXPECT_EQ(DecodeEventCursor(EncodeLogCursor(5)), std::nullopt);
  EXPECT_EQ(DecodeEventCursor(Base64UrlEncode("ev|-1")), std::nullopt);
  EXPECT_EQ(DecodeEventCursor(Base64UrlEncode("ev|01")), std::nullopt);
  EXPECT_EQ(DecodeEventCursor("%%%"), std::nullopt);
}

TEST(EventsQueryTest, DefaultsAndLimits) {
  auto q = ParseEventsQuery({});
  ASSERT_TRUE(std::holds_alternative<EventsQuery>(q));
  EXPECT_EQ(std::get<EventsQuery>(q).limit, kDefaultEventsLimit);
  EXPECT_EQ(std::get<EventsQuery>(q).after_offset, std::nullopt);
  auto paged = ParseEventsQuery(
      {{"limit", std::to_string(kMaxEventsLimit)}, {"cursor", EncodeEventCursor(41)}});
  ASSERT_TRUE(std::holds_alternative<EventsQuery>(paged));
  EXPECT_EQ(std::get<EventsQuery>(paged).limit, kMaxEventsLimit);
  EXPECT_EQ(std::get<EventsQuery>(paged).after_offset, 41);
}

}  // namespace
}  // namespace jobsched::api
