#include "feedback/sql_store.h"

#include <array>

#include "feedback/key_secret.h"

namespace flywheel::feedback {
namespace {

// Column order of kSuggestionColumns, used by insert and select alike.
constexpr std::string_view kSuggestionColumns =
    "id, tenant, model_id, source, session, repo, path, language, cursor_offset, prefix_hash, suffix_hash, "
    "prefix_window, suffix_window, text, choice_index, prompt_tokens, completion_tokens, latency_ms, shown_at_ms";
constexpr size_t kSuggestionColumnCount = 19;

constexpr std::string_view kKeyColumns = "id, tenant, prefix, rpm, tpm, admin, created_ms, revoked_ms";

// Suggestions are written once. A retried batch (or a client resending
// /v1/events) carries a suggestion already stored: the copy is kept once.
// RETURNING says whether the row went in; when it did not, the stored row
// must be the same event (insert_events).
const std::string kInsertSuggestion = "INSERT INTO suggestions (" + std::string(kSuggestionColumns) +
                                      ") VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) "
                                      "ON CONFLICT (id) DO NOTHING RETURNING id";
const std::string kSelectSuggestion = "SELECT " + std::string(kSuggestionColumns) + " FROM suggestions WHERE id = ?";

constexpr std::string_view kInsertOutcome =
    "INSERT INTO outcomes (suggestion_id, tenant, kind, choice_index, accepted_length, final_text, at_ms) "
    "VALUES (?, ?, ?, ?, ?, ?, ?)";

constexpr std::string_view kAddUsage =
    "INSERT INTO usage (tenant, model_id, route, minute_ms, requests, prompt_tokens, completion_tokens) "
    "VALUES (?, ?, ?, ?, ?, ?, ?) ON CONFLICT (tenant, minute_ms, model_id, route) DO UPDATE SET "
    "requests = usage.requests + excluded.requests, "
    "prompt_tokens = usage.prompt_tokens + excluded.prompt_tokens, "
    "completion_tokens = usage.completion_tokens + excluded.completion_tokens";

constexpr int64_t kMinuteMs = 60'000;

// "a, b" -> "s.a, s.b"
std::string qualified(std::string_view columns, std::string_view table) {
  std::string out;
  size_t start = 0;
  while (start < columns.size()) {
    size_t end = columns.find(',', start);
    if (end == std::string_view::npos) end = columns.size();
    std::string_view name = columns.substr(start, end - start);
    while (name.starts_with(' ')) name.remove_prefix(1);
    if (!out.empty()) out += ", ";
    out += std::string(table) + "." + std::string(name);
    start = end + 1;
  }
  return out;
}

std::array<SqlValue, kSuggestionColumnCount> suggestion_row(const SuggestionEvent& s) {
  return {s.id,
          s.tenant,
          s.model_id,
          s.source,
          s.session,
          s.repo,
          s.path,
          s.language,
          s.cursor,
          s.prefix_hash,
          s.suffix_hash,
          s.prefix_window,
          s.suffix_window,
          s.text,
          int64_t{s.choice_index},
          s.prompt_tokens,
          s.completion_tokens,
          s.latency_ms,
          s.shown_at_ms};
}

SuggestionEvent suggestion_from_row(const SqlRow& r) {
  SuggestionEvent s;
  s.id = sql_text(r[0]);
  s.tenant = sql_text(r[1]);
  s.model_id = sql_text(r[2]);
  s.source = sql_text(r[3]);
  s.session = sql_text(r[4]);
  s.repo = sql_text(r[5]);
  s.path = sql_text(r[6]);
  s.language = sql_text(r[7]);
  s.cursor = sql_int(r[8]);
  s.prefix_hash = sql_text(r[9]);
  s.suffix_hash = sql_text(r[10]);
  s.prefix_window = sql_text(r[11]);
  s.suffix_window = sql_text(r[12]);
  s.text = sql_text(r[13]);
  s.choice_index = static_cast<int>(sql_int(r[14]));
  s.prompt_tokens = sql_int(r[15]);
  s.completion_tokens = sql_int(r[16]);
  s.latency_ms = sql_double(r[17]);
  s.shown_at_ms = sql_int(r[18]);
  return s;
}

ApiKey key_from_row(const SqlRow& r) {
  ApiKey key;
  key.id = sql_text(r[0]);
  key.tenant = sql_text(r[1]);
  key.prefix = sql_text(r[2]);
  key.rpm = sql_int(r[3]);
  key.tpm = sql_int(r[4]);
  key.admin = sql_int(r[5]) != 0;
  key.created_ms = sql_int(r[6]);
  key.revoked_ms = sql_optional_int(r[7]);
  return key;
}

Status insert_events(SqlTransaction& tx, std::span<const SuggestionEvent> suggestions,
                     std::span<const OutcomeEvent> outcomes) {
  for (const SuggestionEvent& s : suggestions) {
    if (s.id.empty()) return Status::invalid_argument("a suggestion event needs an id");
    FW_ASSIGN_OR_RETURN(auto inserted, tx.query(kInsertSuggestion, suggestion_row(s)));
    if (!inserted.empty()) continue;
    // Another event under a stored id (a redone run reusing its ids, another
    // tenant's id) is an error: dropping it would attach its outcomes to the
    // stored text. The message does not show the stored row.
    const std::array<SqlValue, 1> id = {s.id};
    FW_ASSIGN_OR_RETURN(auto stored, tx.query(kSelectSuggestion, id));
    if (stored.empty() || !(suggestion_from_row(stored[0]) == s))
      return Status::already_exists("suggestion id '" + s.id +
                                    "' is already stored with other content (ids must be unique per run)");
  }
  for (const OutcomeEvent& o : outcomes) {
    if (o.suggestion_id.empty()) return Status::invalid_argument("an outcome event needs a suggestion id");
    SqlValue final_text;
    if (o.final_text) final_text = *o.final_text;
    const std::array<SqlValue, 7> row = {o.suggestion_id,
                                         o.tenant,
                                         std::string(outcome_kind_name(o.kind)),
                                         int64_t{o.choice_index},
                                         o.accepted_length,
                                         std::move(final_text),
                                         o.at_ms};
    FW_RETURN_IF_ERROR(tx.execute(kInsertOutcome, row));
  }
  return Status::OK();
}

Status insert_usage(SqlTransaction& tx, std::span<const UsageRecord> records, int64_t at_ms) {
  const int64_t minute = at_ms / kMinuteMs * kMinuteMs;
  for (const UsageRecord& u : records) {
    const std::array<SqlValue, 7> row = {u.tenant,        u.model_id,         u.route, minute, u.requests,
                                         u.prompt_tokens, u.completion_tokens};
    FW_RETURN_IF_ERROR(tx.execute(kAddUsage, row));
  }
  return Status::OK();
}

}  // namespace

SqlStore::SqlStore(std::unique_ptr<SqlConnection> connection) : connection_(std::move(connection)) {}

Status SqlStore::transact(TransactionMode mode, const std::function<Status(SqlTransaction&)>& body) {
  std::lock_guard lock(mutex_);
  return connection_->transact(mode, body);
}

Status SqlStore::append(std::span<const SuggestionEvent> suggestions, std::span<const OutcomeEvent> outcomes) {
  return append_with_usage(suggestions, outcomes, {});
}

Status SqlStore::append_with_usage(std::span<const SuggestionEvent> suggestions, std::span<const OutcomeEvent> outcomes,
                                   std::span<const UsageBatch> usage) {
  if (suggestions.empty() && outcomes.empty() && usage.empty()) return Status::OK();
  return transact(TransactionMode::kWrite, [&](SqlTransaction& tx) -> Status {
    FW_RETURN_IF_ERROR(insert_events(tx, suggestions, outcomes));
    for (const UsageBatch& batch : usage) FW_RETURN_IF_ERROR(insert_usage(tx, batch.records, batch.at_ms));
    return Status::OK();
  });
}

Result<std::vector<SuggestionWithOutcomes>> SqlStore::events(const EventQuery& query) {
  // The limit counts suggestions, so it applies inside the subquery; the
  // join on tenant as well as id keeps another tenant's outcomes out even if
  // it names this tenant's suggestion ids.
  std::string inner =
      "SELECT " + std::string(kSuggestionColumns) + " FROM suggestions WHERE tenant = ? AND shown_at_ms >= ?";
  std::vector<SqlValue> params = {query.tenant, query.since_ms};
  if (query.until_ms) {
    inner += " AND shown_at_ms < ?";
    params.emplace_back(*query.until_ms);
  }
  // An empty text filter matches any value.
  const auto match_text = [&](const char* column, const std::string& value) {
    if (value.empty()) return;
    inner += std::string(" AND ") + column + " = ?";
    params.emplace_back(value);
  };
  match_text("source", query.source);
  match_text("session", query.session);
  match_text("id", query.id);
  inner += " ORDER BY shown_at_ms, id";
  if (query.limit > 0) {
    inner += " LIMIT ?";
    params.emplace_back(query.limit);
  }
  const std::string sql = "SELECT " + qualified(kSuggestionColumns, "s") +
                          ", o.kind, o.choice_index, o.accepted_length, o.final_text, o.at_ms, o.id FROM (" + inner +
                          ") s LEFT JOIN outcomes o ON o.tenant = s.tenant AND o.suggestion_id = s.id "
                          "ORDER BY s.shown_at_ms, s.id, o.at_ms, o.id";
  std::vector<SqlRow> rows;
  FW_RETURN_IF_ERROR(transact(TransactionMode::kRead, [&](SqlTransaction& tx) -> Status {
    FW_ASSIGN_OR_RETURN(rows, tx.query(sql, params));
    return Status::OK();
  }));

  std::vector<SuggestionWithOutcomes> out;
  for (const SqlRow& row : rows) {
    const std::string id = sql_text(row[0]);
    if (out.empty() || out.back().suggestion.id != id) out.push_back({suggestion_from_row(row), {}});
    constexpr size_t o = kSuggestionColumnCount;
    if (std::holds_alternative<std::monostate>(row[o + 5])) continue;  // no outcome yet
    OutcomeEvent outcome;
    outcome.suggestion_id = id;
    outcome.tenant = out.back().suggestion.tenant;
    FW_ASSIGN_OR_RETURN(outcome.kind, outcome_kind_from_name(sql_text(row[o])));
    outcome.choice_index = static_cast<int>(sql_int(row[o + 1]));
    outcome.accepted_length = sql_int(row[o + 2]);
    outcome.final_text = sql_optional_text(row[o + 3]);
    outcome.at_ms = sql_int(row[o + 4]);
    out.back().outcomes.push_back(std::move(outcome));
  }
  return out;
}

Result<int64_t> SqlStore::count(std::string_view sql, const std::string& tenant) {
  int64_t n = 0;
  const std::array<SqlValue, 1> params = {tenant};
  FW_RETURN_IF_ERROR(transact(TransactionMode::kRead, [&](SqlTransaction& tx) -> Status {
    FW_ASSIGN_OR_RETURN(auto rows, tx.query(sql, params));
    n = rows.empty() ? 0 : sql_int(rows[0][0]);
    return Status::OK();
  }));
  return n;
}

Result<int64_t> SqlStore::count_suggestions(const std::string& tenant) {
  return count("SELECT COUNT(*) FROM suggestions WHERE tenant = ?", tenant);
}

Result<int64_t> SqlStore::count_outcomes(const std::string& tenant) {
  return count("SELECT COUNT(*) FROM outcomes WHERE tenant = ?", tenant);
}

Result<NewApiKey> SqlStore::create_key(const std::string& tenant, int64_t rpm, int64_t tpm, bool admin) {
  if (rpm < 0 || tpm < 0) return Status::invalid_argument("rpm and tpm must not be negative (0 = unlimited)");
  NewApiKey created;
  FW_ASSIGN_OR_RETURN(created.secret, new_key_secret());
  FW_ASSIGN_OR_RETURN(created.key.id, new_key_id());
  created.key.tenant = tenant;
  created.key.prefix = created.secret.substr(0, kKeyDisplayPrefixLength);
  created.key.rpm = rpm;
  created.key.tpm = tpm;
  created.key.admin = admin;
  created.key.created_ms = unix_millis_now();
  const std::array<SqlValue, 8> row = {created.key.id,
                                       tenant,
                                       created.key.prefix,
                                       key_secret_hash(created.secret),
                                       rpm,
                                       tpm,
                                       int64_t{admin ? 1 : 0},
                                       created.key.created_ms};
  FW_RETURN_IF_ERROR(transact(TransactionMode::kWrite, [&](SqlTransaction& tx) {
    return tx.execute(
        "INSERT INTO api_keys (id, tenant, prefix, secret_sha256, rpm, tpm, admin, created_ms) VALUES (?, ?, ?, ?, ?, "
        "?, ?, ?)",
        row);
  }));
  return created;
}

Result<std::vector<ApiKey>> SqlStore::list_keys(const std::string& tenant) {
  std::string sql = "SELECT " + std::string(kKeyColumns) + " FROM api_keys";
  std::vector<SqlValue> params;
  if (!tenant.empty()) {
    sql += " WHERE tenant = ?";
    params.emplace_back(tenant);
  }
  sql += " ORDER BY created_ms, id";
  std::vector<ApiKey> keys;
  FW_RETURN_IF_ERROR(transact(TransactionMode::kRead, [&](SqlTransaction& tx) -> Status {
    FW_ASSIGN_OR_RETURN(auto rows, tx.query(sql, params));
    for (const SqlRow& row : rows) keys.push_back(key_from_row(row));
    return Status::OK();
  }));
  return keys;
}

Status SqlStore::revoke_key(const std::string& key_id) {
  const std::array<SqlValue, 1> id = {key_id};
  return transact(TransactionMode::kWrite, [&](SqlTransaction& tx) -> Status {
    FW_ASSIGN_OR_RETURN(auto rows, tx.query("SELECT revoked_ms FROM api_keys WHERE id = ?", id));
    if (rows.empty()) return Status::not_found("no API key with id '" + key_id + "' (see 'flywheel keys list')");
    if (sql_optional_int(rows[0][0])) return Status::OK();  // already revoked: keep the first time
    const std::array<SqlValue, 2> params = {unix_millis_now(), key_id};
    return tx.execute("UPDATE api_keys SET revoked_ms = ? WHERE id = ?", params);
  });
}

// The lookup goes through the index on the secret's SHA-256. Its timing can
// at most tell an attacker how much of the *hash* of a guess matches a
// stored hash, which says nothing about any secret (preimage resistance); the
// final comparison is constant time all the same.
Result<std::optional<ApiKey>> SqlStore::find_key(const std::string& secret) {
  if (!is_well_formed_key_secret(secret)) return std::optional<ApiKey>();
  const std::string hash = key_secret_hash(secret);
  const std::array<SqlValue, 1> params = {hash};
  std::optional<ApiKey> found;
  FW_RETURN_IF_ERROR(transact(TransactionMode::kRead, [&](SqlTransaction& tx) -> Status {
    FW_ASSIGN_OR_RETURN(auto rows, tx.query("SELECT " + std::string(kKeyColumns) +
                                                ", secret_sha256 FROM api_keys WHERE secret_sha256 = ?",
                                            params));
    for (const SqlRow& row : rows)
      if (constant_time_equal(sql_text(row[8]), hash)) found = key_from_row(row);
    return Status::OK();
  }));
  if (found && found->revoked_ms) return std::optional<ApiKey>();
  return found;
}

Result<int64_t> SqlStore::active_key_count() {
  int64_t n = 0;
  FW_RETURN_IF_ERROR(transact(TransactionMode::kRead, [&](SqlTransaction& tx) -> Status {
    FW_ASSIGN_OR_RETURN(auto rows, tx.query("SELECT COUNT(*) FROM api_keys WHERE revoked_ms IS NULL"));
    n = rows.empty() ? 0 : sql_int(rows[0][0]);
    return Status::OK();
  }));
  return n;
}

Status SqlStore::add_usage(std::span<const UsageRecord> records, int64_t at_ms) {
  if (records.empty()) return Status::OK();
  return transact(TransactionMode::kWrite, [&](SqlTransaction& tx) { return insert_usage(tx, records, at_ms); });
}

Result<std::vector<UsageRecord>> SqlStore::usage(const std::string& tenant, int64_t since_ms,
                                                 std::optional<int64_t> until_ms) {
  // Minute buckets that start in [since, until).
  std::string sql =
      "SELECT model_id, route, SUM(requests), SUM(prompt_tokens), SUM(completion_tokens) FROM usage "
      "WHERE tenant = ? AND minute_ms >= ?";
  std::vector<SqlValue> params = {tenant, since_ms};
  if (until_ms) {
    sql += " AND minute_ms < ?";
    params.emplace_back(*until_ms);
  }
  sql += " GROUP BY model_id, route ORDER BY model_id, route";
  std::vector<UsageRecord> out;
  FW_RETURN_IF_ERROR(transact(TransactionMode::kRead, [&](SqlTransaction& tx) -> Status {
    FW_ASSIGN_OR_RETURN(auto rows, tx.query(sql, params));
    for (const SqlRow& row : rows)
      out.push_back({tenant, sql_text(row[0]), sql_text(row[1]), sql_int(row[2]), sql_int(row[3]), sql_int(row[4])});
    return Status::OK();
  }));
  return out;
}

std::string SqlStore::kind() const { return connection_->dialect(); }

}  // namespace flywheel::feedback
