// POST /api/v1/jobs/batch end to end (every service a process, the dev broker
// and PostgreSQL over TCP): the jobs a batch accepts run like jobs submitted
// one by one, dependencies included, and each is in the log exactly once.
#include <gtest/gtest.h>

#include <pqxx/pqxx>
#include <set>
#include <string>

#include "events/ids.h"
#include "tests/e2e/local_system.h"

namespace jobsched::testing {
namespace {

using nlohmann::json;
using std::chrono::seconds;

json Echo(const std::string& name) {
  return {{"name", name}, {"type", "echo"}, {"payload", {{"name", name}}}};
}

TEST(BatchEndToEnd, AcceptedJobsRunOnceAndInvalidOnesAreAnsweredEach) {
  LocalSystem system;
  json jobs = json::array();
  for (int i = 0; i < 40; ++i) jobs.push_back(Echo("batch " + std::to_string(i)));
  jobs.push_back({{"name", "no type"}});
  json keyed = Echo("keyed");
  keyed["idempotency_key"] = "batch-e2e-1";
  jobs.push_back(keyed);
  jobs.push_back(keyed);
  ApiReply r = system.Api("POST", "/api/v1/jobs/batch", {{"jobs", jobs}});
  ASSERT_EQ(r.status, 200) << r.body.dump() << system.LogTails();
  EXPECT_EQ(r.body["accepted"], 41);
  EXPECT_EQ(r.body["rejected"], 2);
  EXPECT_EQ(r.body["results"][40]["error"]["code"], "missing_field");
  EXPECT_EQ(r.body["results"][42]["status"], 409);
  EXPECT_EQ(r.body["results"][42]["job_id"], ids::JobIdForIdempotencyKey("batch-e2e-1"));

  std::set<std::string> accepted;
  for (const json& item : r.body["results"]) {
    if (item["status"] == 201) accepted.insert(item["job_id"].get<std::string>());
  }
  ASSERT_EQ(accepted.size(), 41u);
  // A child of one of them, in a later request (a parent must be accepted first).
  const std::string parent = *accepted.begin();
  json child = Echo("child");
  child["depends_on"] = {parent};
  ApiReply c = system.Api("POST", "/api/v1/jobs/batch", {{"jobs", {child}}});
  ASSERT_EQ(c.status, 200) << c.body.dump();
  ASSERT_EQ(c.body["results"][0]["status"], 201) << c.body.dump();
  const std::string child_id = c.body["results"][0]["job_id"];
  accepted.insert(child_id);

  for (const std::string& id : accepted) {
    json job = AwaitJobStatus(system, id, "SUCCEEDED", seconds(60));
    ASSERT_EQ(job.value("status", ""), "SUCCEEDED") << job.dump() << system.LogTails();
    EXPECT_EQ(job.value("attempts", 0), 1) << job.dump();
  }
  // One JobSubmitted each in the log (job_logs holds every record of it).
  pqxx::connection conn(system.database_url());
  pqxx::nontransaction tx(conn);
  EXPECT_EQ(tx.exec("SELECT count(*) FROM job_logs WHERE event_type = 'JobSubmitted'")[0][0]
                .as<int64_t>(),
            42);
  EXPECT_EQ(tx.exec("SELECT count(DISTINCT job_id) FROM job_logs"
                    " WHERE event_type = 'JobSubmitted'")[0][0]
                .as<int64_t>(),
            42);
}

}  // namespace
}  // namespace jobsched::testing
