// The simulated developer's rules (docs/replay.md): trigger points, the
// accept / partial / reject judgement, the text reported as kept.
#include "eval/typing.h"

#include <gtest/gtest.h>

namespace flywheel::eval {
namespace {

TEST(TriggerPoints, LineStartsAfterIndentationAndWordBoundaries) {
  // a0 b1 _2 c3 d4 \n5 _6 _7 e8 f9 (10 g11 )12 \n13
  EXPECT_EQ(trigger_points("ab cd\n  ef(g)\n"), (std::vector<size_t>{0, 2, 3, 5, 8, 10, 11, 12}));
}

TEST(TriggerPoints, BlankLinesAndTheEndHaveNone) {
  EXPECT_TRUE(trigger_points("   \n\n\t\n").empty());
  EXPECT_EQ(trigger_points("x"), (std::vector<size_t>{0}));  // never at text.size()
  EXPECT_EQ(trigger_points("\n  y = 1"), (std::vector<size_t>{3, 4, 7}));
}

TEST(TriggerPoints, NeverInsideAMultiByteCharacter) {
  const std::string text = "été = 1\n";  // é is two bytes, both word bytes
  EXPECT_EQ(trigger_points(text), (std::vector<size_t>{0, 5, 8, 9}));
}

TEST(Judge, EmptyOrBlankSuggestionIsNotShown) {
  EXPECT_EQ(judge_suggestion("", "foo").outcome, SuggestionOutcome::kNotShown);
  EXPECT_EQ(judge_suggestion(" \n\t", "foo").outcome, SuggestionOutcome::kNotShown);
}

TEST(Judge, PrefixOfWhatComesNextIsAcceptedIgnoringTrailingWhitespace) {
  Judgement j = judge_suggestion("foo", "foobar");
  EXPECT_EQ(j.outcome, SuggestionOutcome::kAccepted);
  EXPECT_EQ(j.accepted_length, 3u);
  j = judge_suggestion("foo  \n", "foo)");
  EXPECT_EQ(j.outcome, SuggestionOutcome::kAccepted);
  EXPECT_EQ(j.shown_length, 3u);
  EXPECT_EQ(j.accepted_length, 3u);
}

TEST(Judge, PartialAcceptKeepsWholeUnits) {
  Judgement j = judge_suggestion("foo(x)", "foo(y)");
  EXPECT_EQ(j.outcome, SuggestionOutcome::kPartiallyAccepted);
  EXPECT_EQ(j.accepted_length, 4u);  // "foo("
  j = judge_suggestion("return a", "return b\n");
  EXPECT_EQ(j.outcome, SuggestionOutcome::kPartiallyAccepted);
  EXPECT_EQ(j.accepted_length, 7u);  // "return "
  EXPECT_FALSE(j.exact_line);
  j = judge_suggestion("x = 1\ny", "x = 1\nz");
  EXPECT_EQ(j.outcome, SuggestionOutcome::kPartiallyAccepted);
  EXPECT_EQ(j.accepted_length, 6u);
  EXPECT_TRUE(j.exact_line);
}

TEST(Judge, HalfAWordOrOnlyWhitespaceIsRejected) {
  Judgement j = judge_suggestion("foobar", "foobaz");
  EXPECT_EQ(j.outcome, SuggestionOutcome::kRejected);
  EXPECT_EQ(j.accepted_length, 0u);
  EXPECT_EQ(judge_suggestion(" foo", " bar").outcome, SuggestionOutcome::kRejected);
  EXPECT_EQ(judge_suggestion("zzz", "foo").outcome, SuggestionOutcome::kRejected);
}

TEST(Judge, ExactLineComparesFirstLines) {
  EXPECT_TRUE(judge_suggestion("a + b\nwrong", "a + b  \nright").exact_line);
  EXPECT_FALSE(judge_suggestion("\nb", "\nb").exact_line);  // an empty first line matches nothing
  EXPECT_FALSE(judge_suggestion("a +", "a + b").exact_line);
}

TEST(FinalText, AsManyLinesAsTheSuggestion) {
  EXPECT_EQ(final_text_for("a\nb", "a\nc\nd"), "a\nc");
  EXPECT_EQ(final_text_for("abc\n", "xyz\nmore"), "xyz");
  EXPECT_EQ(final_text_for("a\nb\nc", "only"), "only");
}

}  // namespace
}  // namespace flywheel::eval
