// Outcome kinds: names both ways and Tabby's event types.
#include "feedback/events.h"

#include <gtest/gtest.h>

namespace flywheel::feedback {
namespace {

TEST(EventsTest, OutcomeKindNamesRoundTrip) {
  for (OutcomeKind kind : {OutcomeKind::kShown, OutcomeKind::kAccepted, OutcomeKind::kPartiallyAccepted,
                           OutcomeKind::kRejected, OutcomeKind::kIgnored}) {
    auto parsed = outcome_kind_from_name(outcome_kind_name(kind));
    ASSERT_TRUE(parsed.ok());
    EXPECT_EQ(*parsed, kind);
  }
  EXPECT_EQ(outcome_kind_name(OutcomeKind::kPartiallyAccepted), "partially_accepted");
  EXPECT_EQ(outcome_kind_from_name("accept").status().code(), StatusCode::kInvalidArgument);
}

TEST(EventsTest, TabbyEventsMapOntoOutcomes) {
  EXPECT_EQ(*outcome_kind_from_tabby("view", ""), OutcomeKind::kShown);
  EXPECT_EQ(*outcome_kind_from_tabby("select", ""), OutcomeKind::kAccepted);
  EXPECT_EQ(*outcome_kind_from_tabby("select", "line"), OutcomeKind::kPartiallyAccepted);
  EXPECT_EQ(*outcome_kind_from_tabby("dismiss", ""), OutcomeKind::kRejected);
  EXPECT_FALSE(outcome_kind_from_tabby("hover", "").ok());
  EXPECT_GT(unix_millis_now(), 1'600'000'000'000);
}

}  // namespace
}  // namespace flywheel::feedback
