// Deterministic ids and time conversions.
#include <gtest/gtest.h>

#include "events/envelope.h"
#include "events/ids.h"
#include "events/time.h"

namespace jobsched {
namespace {

TEST(Ids, DeterministicAndDistinct) {
  EXPECT_EQ(DeterministicId({"a", "b"}), DeterministicId({"a", "b"}));
  EXPECT_NE(DeterministicId({"ab", "c"}), DeterministicId({"a", "bc"}));
  EXPECT_TRUE(LooksLikeUuid(DeterministicId({"x"})));
  EXPECT_EQ(DeterministicId({"x"})[14], '8') << "version 8";
  // Pinned: changing the derivation would break de-duplication across releases.
  EXPECT_EQ(ids::RunId("job", FromUnixMillis(1000), 1), ids::RunId("job", FromUnixMillis(1000), 1));
  EXPECT_NE(ids::RunId("job", FromUnixMillis(1000), 1), ids::RunId("job", FromUnixMillis(1000), 2));
  EXPECT_EQ(ids::JobIdForIdempotencyKey("k"), DeterministicId({"job", "k"}));
}

TEST(Ids, RandomIsUuidV4) {
  std::string a = RandomId(), b = RandomId();
  EXPECT_NE(a, b);
  EXPECT_TRUE(LooksLikeUuid(a));
  EXPECT_EQ(a[14], '4');
  EXPECT_FALSE(LooksLikeUuid("not-a-uuid"));
  EXPECT_FALSE(LooksLikeUuid("0000000000000000000000000000000000000"));
}

TEST(Time, Rfc3339RoundTrip) {
  auto t = ParseRfc3339("2026-11-22T10:15:30.123Z");
  ASSERT_TRUE(t.has_value());
  EXPECT_EQ(FormatRfc3339(*t), "2026-11-22T10:15:30.123Z");
  EXPECT_EQ(ToUnixMillis(*ParseRfc3339("1970-01-01T00:00:01Z")), 1000);
}

TEST(Time, Rfc3339Offsets) {
  EXPECT_EQ(*ParseRfc3339("2026-01-01T12:00:00+02:00"), *ParseRfc3339("2026-01-01T10:00:00Z"));
  EXPECT_EQ(*ParseRfc3339("2026-01-01T12:00:00-01:30"), *ParseRfc3339("2026-01-01T13:30:00Z"));
  EXPECT_EQ(ToUnixMillis(*ParseRfc3339("1970-01-01T00:00:00.5Z")), 500);
}

TEST(Time, Rfc3339Rejects) {
  for (const char* bad : {"", "2026-11-22", "2026-11-22T10:15:30", "2026-13-01T00:00:00Z",
                          "2026-02-30T00:00:00Z", "2026-11-22T25:00:00Z", "2026-11-22T10:15:30.Z",
                          "2026-11-22T10:15:30Zjunk", "tomorrow", "2026-11-22T10:15:30+0200"}) {
    EXPECT_FALSE(ParseRfc3339(bad).has_value()) << bad;
  }
  EXPECT_TRUE(ParseRfc3339("2024-02-29T00:00:00Z").has_value());
}

TEST(Time, ProtoRoundTripIncludingNegative) {
  for (int64_t ms : {0LL, 1LL, 999LL, 1000LL, -1LL, -1001LL, 1'800'000'000'123LL}) {
    EXPECT_EQ(ToUnixMillis(FromProto(ToProto(FromUnixMillis(ms)))), ms);
  }
}

TEST(Envelope, EncodeDecodeAndValidation) {
  events::Envelope e = events::MakeEnvelope("id-1", "job-1", {"p", FromUnixMillis(5), "c", ""});
  e.mutable_cancel_requested();
  auto back = events::DecodeEnvelope(events::Encode(e));
  ASSERT_TRUE(back.ok());
  EXPECT_EQ(back->event_id(), "id-1");
  EXPECT_EQ(events::EventType(*back), "CancelRequested");
  EXPECT_FALSE(events::DecodeEnvelope("\xff\xff garbage").ok());
  events::Envelope empty = events::MakeEnvelope("id-2", "job-1", {"p", FromUnixMillis(5), "", ""});
  EXPECT_FALSE(events::DecodeEnvelope(events::Encode(empty)).ok()) << "no event";
  EXPECT_NE(events::ToJson(e).find("\"event_id\":\"id-1\""), std::string::npos);
}

}  // namespace
}  // namespace jobsched
