// What the API's integration tests share: a migrated PostgreSQL database per
// test, the API on a free port appending to an in-memory log (or to any
// producer a test brings, e.g. the dev broker's), and helpers to call it and
// read back what it appended.
#pragma once

#include <gtest/gtest.h>

#include <functional>
#include <memory>
#include <nlohmann/json.hpp>
#include <pqxx/pqxx>
#include <string>
#include <vector>

#include "events/envelope.h"
#include "events/memory_event_log.h"
#include "events/topics.h"
#include "projections/migrations.h"
#include "projections/pg_projection_store.h"
#include "projections/projector.h"
#include "services/api/api_application.h"
#include "tests/support/http_client.h"
#include "tests/support/postgres.h"

namespace jobsched::api {

inline const std::vector<std::string> kJsonHeader = {"Content-Type: application/json"};

class ApiFixture : public ::testing::Test {
 protected:
  static constexpr int kPartitions = 4;  // of job-events in the memory log

  explicit ApiFixture(const std::string& topic_prefix)
      : topics_(events::Topics::WithPrefix(topic_prefix)) {}

  void TearDown() override {
    if (app_) app_->Stop();
  }

  // A fresh, migrated database named `prefix` + the test's name.
  void CreateDatabase(const std::string& prefix) {
    const auto* info = ::testing::UnitTest::GetInstance()->current_test_info();
    database_url_ = testing::ScopedPostgres::Shared().CreateDatabase(
        testing::DatabaseNameFor(prefix, info->name()));
    Status migrated = projections::ApplyMigrations(database_url_);
    ASSERT_TRUE(migrated.ok()) << migrated.ToString();
  }

  // The memory log's job-events topic and the API's producer on it.
  void CreateLog() {
    ASSERT_TRUE(log_.CreateTopic(topics_.job_events, kPartitions).ok());
    auto producer = log_.NewProducer("api-test");
    ASSERT_TRUE(producer.ok()) << producer.status().ToString();
    producer_ = std::move(producer).value();
  }

  // (Re)starts the API on a free port, appending through `producer`.
  void StartApi(events::Producer& producer, const std::string& database_url,
                const std::function<void(ApiOptions&)>& configure = nullptr) {
    if (app_) app_->Stop();
    ApiOptions options;
    options.host = "127.0.0.1";
    options.port = 0;
    options.threads = 2;
    options.instance_id = "test-1";
    if (configure) configure(options);
    app_ = std::make_unique<ApiApplication>(options, producer, database_url, topics_, clock_);
    Status started = app_->Start();
    ASSERT_TRUE(started.ok()) << started.ToString();
    ASSERT_GT(app_->port(), 0);
    base_ = "http://127.0.0.1:" + std::to_string(app_->port());
  }

  testing::HttpResponse Call(const std::string& method, const std::string& path,
                             const std::string& body = "",
                             std::vector<std::string> headers = kJsonHeader) {
    return testing::HttpRequest(method, base_ + path, body, headers);
  }

  static nlohmann::json Body(const testing::HttpResponse& r) {
    nlohmann::json j = nlohmann::json::parse(r.body, nullptr, false);
    EXPECT_FALSE(j.is_discarded()) << "not JSON: " << r.body.substr(0, 300);
    return j;
  }

  // Every event in the memory log, decoded, in partition then offset order;
  // each keyed by its job.
  std::vector<events::Envelope> Events() {
    std::vector<events::Envelope> out;
    for (int p = 0; p < kPartitions; ++p) {
      auto records = log_.Read({topics_.job_events, p});
      EXPECT_TRUE(records.ok());
      if (!records.ok()) continue;
      for (const auto& rec : records.value()) {
        auto e = events::DecodeEnvelope(rec.value);
        EXPECT_TRUE(e.ok());
        if (!e.ok()) continue;
        EXPECT_EQ(rec.key, e->job_id());
        out.push_back(e.value());
      }
    }
    return out;
  }

  // Starts the real projector (projection "jobs", as the API expects) over
  // `log` into `store`; the caller owns both and destroys the projector first.
  static std::unique_ptr<projections::Projector> StartRealProjector(
      events::EventLog& log, const std::string& database_url, const events::Topics& topics,
      std::unique_ptr<projections::PgProjectionStore>& store) {
    store = std::make_unique<projections::PgProjectionStore>(
        projections::PgProjectionStoreOptions{.database_url = database_url});
    projections::ProjectorOptions o;
    o.topic = topics.job_events;
    o.progress_log_interval = Millis(0);
    o.poll_timeout = Millis(20);
    auto projector = std::make_unique<projections::Projector>(log, *store, o);
    EXPECT_TRUE(projector->Start().ok());
    return projector;
  }

  void Sql(const std::string& statement) {
    pqxx::connection c(database_url_);
    pqxx::nontransaction tx(c);
    tx.exec(statement);
  }

  std::string database_url_;
  events::Topics topics_;
  events::MemoryEventLog log_;
  std::unique_ptr<events::Producer> producer_;
  ManualClock clock_{*ParseRfc3339("2026-03-01T12:00:00.000Z")};
  std::unique_ptr<ApiApplication> app_;
  std::string base_;
};

}  // namespace jobsched::api
