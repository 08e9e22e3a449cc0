// Events in the store, on SQLite and PostgreSQL: every field round-trips,
// queries filter by tenant, time and source, append is all-or-nothing, usage
// adds up per minute, and migrations run once however often a database is opened.
#include <gtest/gtest.h>

#include "feedback/migrations.h"
#include "tests/feedback/store_backends.h"

namespace flywheel::feedback::testing {
namespace {

template <typename Backend>
class StoreTest : public BackendTest<Backend> {};
TYPED_TEST_SUITE(StoreTest, Backends, BackendNames);

void expect_same(const SuggestionEvent& a, const SuggestionEvent& b) {
  EXPECT_EQ(a.id, b.id);
  EXPECT_EQ(a.tenant, b.tenant);
  EXPECT_EQ(a.model_id, b.model_id);
  EXPECT_EQ(a.source, b.source);
  EXPECT_EQ(a.session, b.session);
  EXPECT_EQ(a.repo, b.repo);
  EXPECT_EQ(a.path, b.path);
  EXPECT_EQ(a.language, b.language);
  EXPECT_EQ(a.cursor, b.cursor);
  EXPECT_EQ(a.prefix_hash, b.prefix_hash);
  EXPECT_EQ(a.suffix_hash, b.suffix_hash);
  EXPECT_EQ(a.prefix_window, b.prefix_window);
  EXPECT_EQ(a.suffix_window, b.suffix_window);
  EXPECT_EQ(a.text, b.text);
  EXPECT_EQ(a.choice_index, b.choice_index);
  EXPECT_EQ(a.prompt_tokens, b.prompt_tokens);
  EXPECT_EQ(a.completion_tokens, b.completion_tokens);
  EXPECT_EQ(a.latency_ms, b.latency_ms);
  EXPECT_EQ(a.shown_at_ms, b.shown_at_ms);
}

void expect_same(const OutcomeEvent& a, const OutcomeEvent& b) {
  EXPECT_EQ(a.suggestion_id, b.suggestion_id);
  EXPECT_EQ(a.tenant, b.tenant);
  EXPECT_EQ(a.kind, b.kind);
  EXPECT_EQ(a.choice_index, b.choice_index);
  EXPECT_EQ(a.accepted_length, b.accepted_length);
  EXPECT_EQ(a.final_text, b.final_text);
  EXPECT_EQ(a.at_ms, b.at_ms);
}

std::vector<std::string> ids(const std::vector<SuggestionWithOutcomes>& events) {
  std::vector<std::string> out;
  for (const auto& e : events) out.push_back(e.suggestion.id);
  return out;
}

TYPED_TEST(StoreTest, EveryFieldRoundTrips) {
  SuggestionEvent s = make_suggestion("cmpl-1", "acme", 1'700'000'000'123);
  s.source = "replay";
  s.session = "run-7";
  s.repo = "github.com/acme/app";
  s.path = "src/ünïcode ✓.py";
  s.language = "python";
  s.cursor = 123456789012;
  s.prefix_hash = std::string(64, 'a');
  s.suffix_hash = std::string(64, 'b');
  s.prefix_window = "def f(x):\n\t'quoted' \"double\" ? $1 \\ 🎉\n";
  s.suffix_window = "\n\nprint(f(2))\n";
  s.text = "return x * 2";
  s.choice_index = 2;
  s.prompt_tokens = 812;
  s.completion_tokens = 9;
  s.latency_ms = 0.1 + 0.2;  // not exactly representable in decimal: every digit must survive
  OutcomeEvent shown = make_outcome("cmpl-1", "acme", OutcomeKind::kShown, 1'700'000'000'200);
  OutcomeEvent partial = make_outcome("cmpl-1", "acme", OutcomeKind::kPartiallyAccepted, 1'700'000'000'900);
  partial.choice_index = 2;
  partial.accepted_length = 6;
  partial.final_text = "return x * 3  # édited";
  std::vector<SuggestionEvent> suggestions = {s};
  std::vector<OutcomeEvent> outcomes = {partial, shown};  // out of order on purpose
  ASSERT_TRUE(this->store().append(suggestions, outcomes).ok());

  auto events = this->store().events(query_for("acme"));
  ASSERT_TRUE(events.ok()) << events.status().to_string();
  ASSERT_EQ(events->size(), 1u);
  expect_same((*events)[0].suggestion, s);
  ASSERT_EQ((*events)[0].outcomes.size(), 2u);
  expect_same((*events)[0].outcomes[0], shown);  // oldest first
  expect_same((*events)[0].outcomes[1], partial);
  EXPECT_EQ(*this->store().count_suggestions("acme"), 1);
  EXPECT_EQ(*this->store().count_outcomes("acme"), 2);
  EXPECT_EQ(this->store().kind(), std::string(TypeParam::kName) == "Sqlite" ? "sqlite" : "postgresql");
}

TYPED_TEST(StoreTest, QueriesFilterByTimeSourceAndLimit) {
  std::vector<SuggestionEvent> suggestions;
  for (int i = 0; i < 6; ++i) {
    suggestions.push_back(make_suggestion("s" + std::to_string(i), "acme", 1000 * (i + 1)));
    suggestions.back().source = i % 2 == 0 ? "editor" : "replay";
  }
  ASSERT_TRUE(this->store().append(suggestions, {}).ok());
  using V = std::vector<std::string>;
  EXPECT_EQ(ids(*this->store().events(query_for("acme"))), (V{"s0", "s1", "s2", "s3", "s4", "s5"}));
  EXPECT_EQ(ids(*this->store().events(query_for("acme", 3000, 5000))), (V{"s2", "s3"}));
  EXPECT_EQ(ids(*this->store().events(query_for("acme", 0, 0, 0, "replay"))), (V{"s1", "s3", "s5"}));
  EXPECT_EQ(ids(*this->store().events(query_for("acme", 2000, 0, 2))), (V{"s1", "s2"}));
  // A suggestion without outcomes still comes back, with none.
  EXPECT_TRUE((*this->store().events(query_for("acme", 0, 0, 1)))[0].outcomes.empty());
}

TYPED_TEST(StoreTest, TenantsSeeOnlyTheirOwnEvents) {
  std::vector<SuggestionEvent> suggestions = {make_suggestion("a1", "alpha"), make_suggestion("b1", "beta"),
                                              make_suggestion("n1", "")};
  // beta names alpha's suggestion: it must not reach alpha's view.
  std::vector<OutcomeEvent> outcomes = {make_outcome("a1", "alpha", OutcomeKind::kAccepted),
                                        make_outcome("a1", "beta", OutcomeKind::kRejected),
                                        make_outcome("b1", "beta", OutcomeKind::kShown)};
  ASSERT_TRUE(this->store().append(suggestions, outcomes).ok());

  auto alpha = this->store().events(query_for("alpha"));
  ASSERT_TRUE(alpha.ok());
  ASSERT_EQ(ids(*alpha), std::vector<std::string>{"a1"});
  ASSERT_EQ((*alpha)[0].outcomes.size(), 1u);
  EXPECT_EQ((*alpha)[0].outcomes[0].kind, OutcomeKind::kAccepted);
  EXPECT_EQ(ids(*this->store().events(query_for("beta"))), std::vector<std::string>{"b1"});
  EXPECT_EQ(ids(*this->store().events(query_for(""))), std::vector<std::string>{"n1"});
  EXPECT_TRUE(this->store().events(query_for("gamma"))->empty());
  EXPECT_EQ(*this->store().count_suggestions("alpha"), 1);
  EXPECT_EQ(*this->store().count_outcomes("alpha"), 1);
  EXPECT_EQ(*this->store().count_outcomes("beta"), 2);
  EXPECT_EQ(*this->store().count_suggestions("gamma"), 0);
}

TYPED_TEST(StoreTest, AppendIsAllOrNothing) {
  std::vector<SuggestionEvent> suggestions = {make_suggestion("ok", "acme"), make_suggestion("", "acme")};
  Status status = this->store().append(suggestions, {});
  EXPECT_EQ(status.code(), StatusCode::kInvalidArgument) << status.to_string();
  EXPECT_EQ(*this->store().count_suggestions("acme"), 0);

  // Events and usage share the transaction too.
  std::vector<OutcomeEvent> bad = {make_outcome("", "acme", OutcomeKind::kShown)};
  std::vector<UsageBatch> usage = {{{{"acme", "m", "/v1/completions", 1, 10, 5}}, 60'000}};
  EXPECT_FALSE(this->store().append_with_usage({}, bad, usage).ok());
  EXPECT_TRUE(this->store().usage("acme", 0)->empty());
}

TYPED_TEST(StoreTest, ResentSuggestionIsStoredOnce) {
  std::vector<SuggestionEvent> first = {make_suggestion("dup", "acme")};
  ASSERT_TRUE(this->store().append(first, {}).ok());
  std::vector<SuggestionEvent> again = {make_suggestion("dup", "acme"), make_suggestion("new", "acme")};
  ASSERT_TRUE(this->store().append(again, {}).ok());
  EXPECT_EQ(*this->store().count_suggestions("acme"), 2);
}

TYPED_TEST(StoreTest, ASuggestionThatDiffersFromTheOneStoredUnderItsIdIsRefused) {
  std::vector<SuggestionEvent> first = {make_suggestion("dup", "acme")};
  ASSERT_TRUE(this->store().append(first, {}).ok());
  // Another text under the same id (a redone replay run reusing its ids):
  // dropping it would attach its outcomes to the first text.
  SuggestionEvent other = make_suggestion("dup", "acme");
  other.text = "return a - b;";
  std::vector<SuggestionEvent> again = {make_suggestion("new", "acme"), other};
  const Status status = this->store().append(again, {});
  EXPECT_EQ(status.code(), StatusCode::kAlreadyExists) << status.to_string();
  EXPECT_NE(status.message().find("'dup'"), std::string::npos) << status.to_string();
  EXPECT_EQ(*this->store().count_suggestions("acme"), 1);  // all or nothing: "new" is not stored either
  auto stored = this->store().events(query_for("acme"));
  ASSERT_TRUE(stored.ok());
  ASSERT_EQ(stored->size(), 1u);
  EXPECT_EQ((*stored)[0].suggestion.text, "return a + b;");
  // Another tenant's id is refused too, without its content.
  std::vector<SuggestionEvent> foreign = {make_suggestion("dup", "beta")};
  const Status taken = this->store().append(foreign, {});
  EXPECT_EQ(taken.code(), StatusCode::kAlreadyExists) << taken.to_string();
  EXPECT_EQ(taken.message().find("return a"), std::string::npos) << taken.to_string();
}

TYPED_TEST(StoreTest, QueriesFilterBySession) {
  std::vector<SuggestionEvent> suggestions;
  for (int i = 0; i < 4; ++i) {
    suggestions.push_back(make_suggestion("s" + std::to_string(i), "acme", 1000 * (i + 1)));
    suggestions.back().source = "replay";
    suggestions.back().session = i % 2 == 0 ? "collect-a" : "collect-b";
  }
  ASSERT_TRUE(this->store().append(suggestions, {}).ok());
  EventQuery q = query_for("acme");
  q.session = "collect-b";
  auto events = this->store().events(q);
  ASSERT_TRUE(events.ok());
  EXPECT_EQ(ids(*events), (std::vector<std::string>{"s1", "s3"}));
}

TYPED_TEST(StoreTest, UsageAddsUpPerMinuteAndRoute) {
  const int64_t minute = 60'000;
  const int64_t t0 = 1'700'000'000'000 / minute * minute;
  std::vector<UsageRecord> a = {{"acme", "m1", "/v1/completions", 1, 100, 20},
                                {"acme", "m1", "/v1/chat/completions", 1, 50, 10},
                                {"other", "m1", "/v1/completions", 1, 7, 7}};
  ASSERT_TRUE(this->store().add_usage(a, t0 + 10).ok());
  ASSERT_TRUE(this->store().add_usage(std::span(a).first(1), t0 + 59'999).ok());  // same minute: added
  ASSERT_TRUE(this->store().add_usage(std::span(a).first(1), t0 + minute).ok());  // next minute
  std::vector<UsageBatch> batch = {{{{"acme", "m2", "/infill", 3, 30, 3}}, t0 + 2 * minute}};
  ASSERT_TRUE(this->store().append_with_usage({}, {}, batch).ok());

  auto all = this->store().usage("acme", 0);
  ASSERT_TRUE(all.ok()) << all.status().to_string();
  ASSERT_EQ(all->size(), 3u);
  EXPECT_EQ((*all)[0].model_id, "m1");
  EXPECT_EQ((*all)[0].route, "/v1/chat/completions");
  EXPECT_EQ((*all)[0].requests, 1);
  EXPECT_EQ((*all)[1].route, "/v1/completions");
  EXPECT_EQ((*all)[1].requests, 3);
  EXPECT_EQ((*all)[1].prompt_tokens, 300);
  EXPECT_EQ((*all)[1].completion_tokens, 60);
  EXPECT_EQ((*all)[2].model_id, "m2");
  EXPECT_EQ((*all)[2].requests, 3);

  auto first_minute = this->store().usage("acme", t0, t0 + minute);
  ASSERT_EQ(first_minute->size(), 2u);
  EXPECT_EQ((*first_minute)[1].requests, 2);
  auto later = this->store().usage("acme", t0 + minute);
  ASSERT_EQ(later->size(), 2u);
  EXPECT_EQ((*later)[0].requests, 1);
  EXPECT_EQ((*this->store().usage("other", 0))[0].prompt_tokens, 7);
}

TYPED_TEST(StoreTest, MigrationsRunOncePerDatabase) {
  std::vector<SuggestionEvent> s = {make_suggestion("kept", "acme")};
  ASSERT_TRUE(this->store().append(s, {}).ok());
  this->store_.reset();
  for (int i = 0; i < 2; ++i) {
    auto again = open_store(this->url_);
    ASSERT_TRUE(again.ok()) << again.status().to_string();
    EXPECT_EQ(*(*again)->count_suggestions("acme"), 1);
  }
  auto connection = TypeParam::connect(this->url_);
  ASSERT_TRUE(connection.ok()) << connection.status().to_string();
  ASSERT_TRUE(migrate(**connection).ok());
  EXPECT_EQ(*schema_version(**connection), migrations().back().version);
  int64_t rows = -1;
  ASSERT_TRUE((*connection)
                  ->transact(TransactionMode::kRead,
                             [&](SqlTransaction& tx) -> Status {
                               FW_ASSIGN_OR_RETURN(auto r, tx.query("SELECT COUNT(*) FROM schema_migrations"));
                               rows = sql_int(r[0][0]);
                               return Status::OK();
                             })
                  .ok());
  EXPECT_EQ(rows, static_cast<int64_t>(migrations().size()));
}

TEST(OpenStoreTest, ErrorsNameTheDatabaseWithoutItsPassword) {
  auto store = open_store("postgresql://flywheel:hunter2@127.0.0.1:1/events");
  ASSERT_FALSE(store.ok());
  EXPECT_EQ(store.status().code(), StatusCode::kUnavailable) << store.status().to_string();
  EXPECT_NE(store.status().message().find("postgresql://flywheel:***@127.0.0.1:1/events"), std::string::npos)
      << store.status().message();
  EXPECT_EQ(store.status().message().find("hunter2"), std::string::npos) << store.status().message();

  auto missing_dir = open_store("/nonexistent-dir/events.db");
  ASSERT_FALSE(missing_dir.ok());
  EXPECT_NE(missing_dir.status().message().find("/nonexistent-dir/events.db"), std::string::npos);
  EXPECT_EQ(open_store("").status().code(), StatusCode::kInvalidArgument);
}

TEST(MigrationsTest, PlaceholdersArePerDialect) {
  for (const Migration& m : migrations())
    for (const char* dialect : {"sqlite", "postgresql"})
      EXPECT_EQ(migration_sql(m, dialect).find("{serial_id}"), std::string::npos) << m.version << " " << dialect;
  EXPECT_NE(migration_sql(migrations()[0], "postgresql").find("id BIGSERIAL PRIMARY KEY"), std::string::npos);
  EXPECT_NE(migration_sql(migrations()[0], "sqlite").find("id INTEGER PRIMARY KEY"), std::string::npos);
  EXPECT_EQ(number_placeholders("a = ? AND b = '?' AND c = ?"), "a = $1 AND b = '?' AND c = $2");
}

}  // namespace
}  // namespace flywheel::feedback::testing
