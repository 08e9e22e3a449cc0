// The store tests run on both backends: a fresh SQLite file, and a fresh
// database on a real PostgreSQL server (postgres_server.h). A test written
// against BackendTest<B> runs once for each.
#pragma once

#include <gtest/gtest.h>

#include <memory>
#include <string>

#include "feedback/postgres_connection.h"
#include "feedback/sqlite_connection.h"
#include "feedback/store.h"
#include "tests/core/test_util.h"
#include "tests/feedback/postgres_server.h"

namespace flywheel::feedback::testing {

struct SqliteBackend {
  static constexpr const char* kName = "Sqlite";
  Result<std::string> fresh_url() { return (dir / "events.db").string(); }
  static Result<std::unique_ptr<SqlConnection>> connect(const std::string& url) { return open_sqlite_connection(url); }
  flywheel::testing_util::TempDir dir;
};

struct PostgresBackend {
  static constexpr const char* kName = "Postgres";
  Result<std::string> fresh_url() { return postgres_server().new_database(); }
  static Result<std::unique_ptr<SqlConnection>> connect(const std::string& url) {
    return open_postgres_connection(url);
  }
};

template <typename Backend>
class BackendTest : public ::testing::Test {
 protected:
  void SetUp() override {
    Result<std::string> url = backend_.fresh_url();
    ASSERT_TRUE(url.ok()) << url.status().to_string();
    url_ = *url;
    Result<std::unique_ptr<Store>> store = open_store(url_);
    ASSERT_TRUE(store.ok()) << store.status().to_string();
    store_ = std::move(*store);
  }

  Store& store() { return *store_; }

  Backend backend_;
  std::string url_;
  std::unique_ptr<Store> store_;
};

using Backends = ::testing::Types<SqliteBackend, PostgresBackend>;

struct BackendNames {
  template <typename T>
  static std::string GetName(int) {
    return T::kName;
  }
};

// Events of `tenant` with shown_at_ms in [since, until) ("until" 0: no bound).
inline EventQuery query_for(const std::string& tenant, int64_t since = 0, int64_t until = 0, int64_t limit = 0,
                            const std::string& source = "") {
  EventQuery q;
  q.tenant = tenant;
  q.since_ms = since;
  if (until != 0) q.until_ms = until;
  q.limit = limit;
  q.source = source;
  return q;
}

inline SuggestionEvent make_suggestion(const std::string& id, const std::string& tenant, int64_t shown_at_ms = 1000) {
  SuggestionEvent s;
  s.id = id;
  s.tenant = tenant;
  s.model_id = "tiny-1";
  s.text = "return a + b;";
  s.shown_at_ms = shown_at_ms;
  return s;
}

inline OutcomeEvent make_outcome(const std::string& suggestion_id, const std::string& tenant, OutcomeKind kind,
                                 int64_t at_ms = 2000) {
  OutcomeEvent o;
  o.suggestion_id = suggestion_id;
  o.tenant = tenant;
  o.kind = kind;
  o.at_ms = at_ms;
  return o;
}

}  // namespace flywheel::feedback::testing
