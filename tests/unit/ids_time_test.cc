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
  EXPECT_NE(ids::RunId("job", "fire", 1), ids::RunId("job", "fire", 2));
  EXPECT_NE(ids::FireId("job", "2026-11-01T01:30:00", 1),
            ids::FireId("job", "2026-11-01T01:30:00", 2));
  EXPECT_NE(ids::OnceFireId("job"), ids::ManualFireId("job", "once"));
}

// Pinned to literals: changing a derivation would break de-duplication of
// events written by an earlier release.
TEST(Ids, DerivationsArePinned) {
  EXPECT_EQ(DeterministicId({"x"}), "f91b14e7-bbea-8c5b-ba0e-1a7040177166");
  EXPECT_EQ(ids::JobIdForIdempotencyKey("k"), "eeb58988-be1a-8317-9312-ada5e28e17f4");
  EXPECT_EQ(ids::FireId("job", "2026-03-08T02:30:00", 1), "51e2e0f1-6434-8a79-9074-917c3bb719d8");
  EXPECT_EQ(ids::OnceFireId("job"), "efda9d39-e930-8c44-bb3e-752b6916e24e");
  EXPECT_EQ(ids::ManualFireId("job", "event"), "ee163e30-f758-86e6-b632-20018b42bbd9");
  EXPECT_EQ(ids::RunId("job", "fire", 2), "781e5852-a2e3-8c34-9e87-e05ee6f6282b");
  EXPECT_EQ(ids::EventId("RunDue", "job", "cause"), "41b29e51-c038-871d-8c8f-9af8fcd63450");
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
