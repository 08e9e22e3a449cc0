#include "registry/registry.h"

#include <algorithm>
#include <filesystem>
#include <nlohmann/json.hpp>
#include <set>

#include "core/atomic_file.h"
#include "feedback/events.h"
#include "feedback/sql_connection.h"

namespace flywheel::registry {

namespace fs = std::filesystem;
using feedback::SqlRow;
using feedback::SqlTransaction;
using feedback::SqlValue;
using feedback::TransactionMode;

namespace {

// IF NOT EXISTS: the registry shares the feedback store's database and is
// created by whichever of them opens it first.
constexpr std::string_view kSchema = R"sql(
CREATE TABLE IF NOT EXISTS registry_models (
  id TEXT PRIMARY KEY,
  path TEXT NOT NULL UNIQUE,
  parent TEXT NOT NULL,
  created_ms BIGINT NOT NULL,
  lineage TEXT NOT NULL,
  scores TEXT NOT NULL,
  state TEXT NOT NULL,
  note TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS registry_deployments (
  name TEXT NOT NULL,
  model_id TEXT NOT NULL,
  weight DOUBLE PRECISION NOT NULL,
  PRIMARY KEY (name, model_id)
);
CREATE TABLE IF NOT EXISTS registry_history (
  version BIGINT PRIMARY KEY,
  deployment TEXT NOT NULL,
  models TEXT NOT NULL,
  reason TEXT NOT NULL,
  at_ms BIGINT NOT NULL
);
)sql";

constexpr std::string_view kModelColumns = "id, path, parent, created_ms, lineage, scores, state, note";

Result<ModelState> state_from_name(std::string_view name) {
  for (ModelState s : {ModelState::kCandidate, ModelState::kServing, ModelState::kRetired, ModelState::kRefused})
    if (model_state_name(s) == name) return s;
  return Status::corruption("registry: unknown model state '" + std::string(name) + "'");
}

Result<ModelRecord> record_from_row(const SqlRow& row) {
  ModelRecord r;
  r.id = feedback::sql_text(row[0]);
  r.path = feedback::sql_text(row[1]);
  r.parent = feedback::sql_text(row[2]);
  r.created_ms = feedback::sql_int(row[3]);
  r.lineage_json = feedback::sql_text(row[4]);
  r.scores_json = feedback::sql_text(row[5]);
  FW_ASSIGN_OR_RETURN(r.state, state_from_name(feedback::sql_text(row[6])));
  r.note = feedback::sql_text(row[7]);
  return r;
}

std::string entries_json(const std::vector<DeploymentEntry>& entries) {
  nlohmann::json j = nlohmann::json::array();
  for (const auto& e : entries) j.push_back({{"model", e.model_id}, {"weight", e.weight}});
  return j.dump();
}

std::vector<DeploymentEntry> entries_from_json(const std::string& text) {
  std::vector<DeploymentEntry> out;
  auto j = nlohmann::json::parse(text, nullptr, false);
  if (!j.is_array()) return out;
  for (const auto& e : j)
    if (e.is_object() && e.contains("model") && e["model"].is_string())
      out.push_back({e["model"].get<std::string>(), e.value("weight", 1.0)});
  return out;
}

Result<std::vector<DeploymentEntry>> read_deployment(SqlTransaction& tx, const std::string& name) {
  const SqlValue params[] = {name};
  FW_ASSIGN_OR_RETURN(
      auto rows,
      tx.query("SELECT model_id, weight FROM registry_deployments WHERE name = ? ORDER BY model_id", params));
  std::vector<DeploymentEntry> out;
  for (const auto& row : rows) out.push_back({feedback::sql_text(row[0]), feedback::sql_double(row[1])});
  return out;
}

// Serving = in some deployment; a model that left every deployment is retired.
Status recompute_states(SqlTransaction& tx) {
  FW_RETURN_IF_ERROR(tx.execute(
      "UPDATE registry_models SET state = 'serving' WHERE id IN (SELECT model_id FROM registry_deployments)"));
  return tx.execute(
      "UPDATE registry_models SET state = 'retired' WHERE state = 'serving' AND id NOT IN "
      "(SELECT model_id FROM registry_deployments)");
}

// Deployment changes take turns. Under PostgreSQL's READ COMMITTED, two
// changes would each delete the rows they see and insert their own, and
// both commit: `auto` ends with two models, and MAX(version) + 1 collides in
// the history. SHARE ROW EXCLUSIVE conflicts with itself, not with readers;
// held to the commit. (SQLite: BEGIN IMMEDIATE already serializes writers.)
// Taken first in the transaction, before the current deployment is read.
Status lock_deployments(SqlTransaction& tx, std::string_view dialect) {
  if (dialect != "postgresql") return Status::OK();
  return tx.execute("LOCK TABLE registry_deployments IN SHARE ROW EXCLUSIVE MODE");
}

Status write_deployment(SqlTransaction& tx, const std::string& name, const std::vector<DeploymentEntry>& entries,
                        const std::string& reason) {
  if (name.empty()) return Status::invalid_argument("a deployment needs a name (e.g. auto)");
  if (entries.empty()) return Status::invalid_argument("deployment '" + name + "' needs at least one model");
  std::set<std::string> seen;
  for (const auto& e : entries) {
    if (!(e.weight > 0)) return Status::invalid_argument("model " + e.model_id + ": traffic weight must be > 0");
    if (!seen.insert(e.model_id).second) return Status::invalid_argument("model " + e.model_id + " listed twice");
    const SqlValue id[] = {e.model_id};
    FW_ASSIGN_OR_RETURN(auto rows, tx.query("SELECT path FROM registry_models WHERE id = ?", id));
    if (rows.empty()) return Status::not_found("no model '" + e.model_id + "' in the registry (flywheel models list)");
  }
  const SqlValue name_param[] = {name};
  FW_RETURN_IF_ERROR(tx.execute("DELETE FROM registry_deployments WHERE name = ?", name_param));
  for (const auto& e : entries) {
    const SqlValue row[] = {name, e.model_id, e.weight};
    FW_RETURN_IF_ERROR(tx.execute("INSERT INTO registry_deployments (name, model_id, weight) VALUES (?, ?, ?)", row));
  }
  FW_ASSIGN_OR_RETURN(auto max_rows, tx.query("SELECT MAX(version) FROM registry_history"));
  const int64_t version = (max_rows.empty() ? 0 : feedback::sql_int(max_rows[0][0])) + 1;
  const SqlValue history[] = {version, name, entries_json(entries), reason, feedback::unix_millis_now()};
  FW_RETURN_IF_ERROR(tx.execute(
      "INSERT INTO registry_history (version, deployment, models, reason, at_ms) VALUES (?, ?, ?, ?, ?)", history));
  return recompute_states(tx);
}

std::string id_base(const fs::path& dir) {
  std::string name = dir.filename().string();
  if (name.empty() || name == "." || name == "model") name = dir.parent_path().filename().string() + "-" + name;
  std::string out;
  for (char c : name)
    out += (std::isalnum(static_cast<unsigned char>(c)) || c == '-' || c == '_' || c == '.') ? c : '-';
  return out.empty() ? "model" : out;
}

}  // namespace

std::string_view model_state_name(ModelState state) {
  switch (state) {
    case ModelState::kCandidate:
      return "candidate";
    case ModelState::kServing:
      return "serving";
    case ModelState::kRetired:
      return "retired";
    case ModelState::kRefused:
      return "refused";
  }
  return "candidate";
}

struct Registry::Impl {
  std::unique_ptr<feedback::SqlConnection> db;
};

Registry::Registry(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
Registry::~Registry() = default;

bool Registry::may_exist(const std::string& db_url) {
  std::error_code ec;
  return !db_url.empty() && (feedback::is_postgres_url(db_url) || fs::exists(db_url, ec));
}

Result<std::unique_ptr<Registry>> Registry::open(const std::string& db_url) {
  auto impl = std::make_unique<Impl>();
  FW_ASSIGN_OR_RETURN(impl->db, feedback::open_sql_connection(db_url));
  FW_RETURN_IF_ERROR(
      impl->db->transact(TransactionMode::kWrite, [](SqlTransaction& tx) { return tx.execute_script(kSchema); })
          .with_context("registry schema in " + feedback::printable_url(db_url)));
  return std::unique_ptr<Registry>(new Registry(std::move(impl)));
}

Result<ModelRecord> Registry::add(const std::string& checkpoint_dir, const std::string& parent, const std::string& id) {
  std::error_code ec;
  const fs::path dir = fs::weakly_canonical(fs::absolute(checkpoint_dir), ec);
  if (!fs::exists(dir / "config.json") || !fs::exists(dir / "model.safetensors"))
    return Status::not_found("'" + checkpoint_dir + "' is not a checkpoint (no config.json and model.safetensors)");
  std::string lineage = "{}";
  if (fs::exists(dir / "flywheel.json")) {
    FW_ASSIGN_OR_RETURN(lineage, read_file(dir / "flywheel.json"));
    if (nlohmann::json::parse(lineage, nullptr, false).is_discarded())
      return Status::corruption((dir / "flywheel.json").string() + " is not JSON");
  }
  ModelRecord record;
  FW_RETURN_IF_ERROR(impl_->db->transact(TransactionMode::kWrite, [&](SqlTransaction& tx) -> Status {
    const SqlValue by_path[] = {dir.string()};
    FW_ASSIGN_OR_RETURN(
        auto existing,
        tx.query("SELECT " + std::string(kModelColumns) + " FROM registry_models WHERE path = ?", by_path));
    if (!existing.empty()) {
      FW_ASSIGN_OR_RETURN(record, record_from_row(existing[0]));
      return Status::OK();
    }
    if (!parent.empty()) {
      const SqlValue p[] = {parent};
      FW_ASSIGN_OR_RETURN(auto rows, tx.query("SELECT id FROM registry_models WHERE id = ?", p));
      if (rows.empty()) return Status::not_found("parent model '" + parent + "' is not in the registry");
    }
    std::string candidate = id.empty() ? id_base(dir) : id;
    for (int n = 2;; ++n) {
      const SqlValue p[] = {candidate};
      FW_ASSIGN_OR_RETURN(auto rows, tx.query("SELECT id FROM registry_models WHERE id = ?", p));
      if (rows.empty()) break;
      if (!id.empty()) return Status::already_exists("model id '" + id + "' is taken");
      candidate = id_base(dir) + "-" + std::to_string(n);
    }
    record = ModelRecord{candidate, dir.string(),           parent, feedback::unix_millis_now(), lineage,
                         "{}",      ModelState::kCandidate, ""};
    const SqlValue row[] = {record.id,
                            record.path,
                            record.parent,
                            record.created_ms,
                            record.lineage_json,
                            record.scores_json,
                            std::string(model_state_name(record.state)),
                            record.note};
    return tx.execute(
        "INSERT INTO registry_models (" + std::string(kModelColumns) + ") VALUES (?, ?, ?, ?, ?, ?, ?, ?)", row);
  }));
  return record;
}

Result<ModelRecord> Registry::get(const std::string& id) {
  std::optional<ModelRecord> record;
  FW_RETURN_IF_ERROR(impl_->db->transact(TransactionMode::kRead, [&](SqlTransaction& tx) -> Status {
    const SqlValue p[] = {id};
    FW_ASSIGN_OR_RETURN(auto rows,
                        tx.query("SELECT " + std::string(kModelColumns) + " FROM registry_models WHERE id = ?", p));
    if (rows.empty()) return Status::OK();
    FW_ASSIGN_OR_RETURN(record, record_from_row(rows[0]));
    return Status::OK();
  }));
  if (!record) return Status::not_found("no model '" + id + "' in the registry (flywheel models list)");
  return *record;
}

Result<std::vector<ModelRecord>> Registry::list() {
  std::vector<ModelRecord> out;
  FW_RETURN_IF_ERROR(impl_->db->transact(TransactionMode::kRead, [&](SqlTransaction& tx) -> Status {
    FW_ASSIGN_OR_RETURN(
        auto rows, tx.query("SELECT " + std::string(kModelColumns) + " FROM registry_models ORDER BY created_ms, id"));
    for (const auto& row : rows) {
      FW_ASSIGN_OR_RETURN(auto r, record_from_row(row));
      out.push_back(std::move(r));
    }
    return Status::OK();
  }));
  return out;
}

Status Registry::set_scores(const std::string& id, const std::string& scores_json) {
  if (nlohmann::json::parse(scores_json, nullptr, false).is_discarded())
    return Status::invalid_argument("scores must be JSON");
  FW_RETURN_IF_ERROR(get(id).status());
  return impl_->db->transact(TransactionMode::kWrite, [&](SqlTransaction& tx) {
    const SqlValue p[] = {scores_json, id};
    return tx.execute("UPDATE registry_models SET scores = ? WHERE id = ?", p);
  });
}

Status Registry::refuse(const std::string& id, const std::string& reason) {
  FW_RETURN_IF_ERROR(get(id).status());
  return impl_->db->transact(TransactionMode::kWrite, [&](SqlTransaction& tx) {
    const SqlValue p[] = {reason, id};
    return tx.execute("UPDATE registry_models SET state = 'refused', note = ? WHERE id = ? AND state = 'candidate'", p);
  });
}

Status Registry::decide(const std::string& id, const std::string& scores_json, bool promote, const std::string& reason,
                        const std::string& deployment) {
  if (nlohmann::json::parse(scores_json, nullptr, false).is_discarded())
    return Status::invalid_argument("scores must be JSON");
  FW_ASSIGN_OR_RETURN(ModelRecord r, get(id));
  if (promote && !fs::exists(fs::path(r.path) / "model.safetensors"))
    return Status::not_found("model " + r.id + ": its checkpoint " + r.path + " is gone");
  return impl_->db->transact(TransactionMode::kWrite, [&](SqlTransaction& tx) -> Status {
    if (promote) FW_RETURN_IF_ERROR(lock_deployments(tx, impl_->db->dialect()));
    const SqlValue p[] = {scores_json, id};
    FW_RETURN_IF_ERROR(tx.execute("UPDATE registry_models SET scores = ? WHERE id = ?", p));
    if (promote) return write_deployment(tx, deployment, {{id, 1.0}}, reason.empty() ? "promote " + id : reason);
    const SqlValue q[] = {reason, id};
    return tx.execute("UPDATE registry_models SET state = 'refused', note = ? WHERE id = ? AND state = 'candidate'", q);
  });
}

Status Registry::forget(const std::string& id) {
  return impl_->db->transact(TransactionMode::kWrite, [&](SqlTransaction& tx) -> Status {
    const SqlValue p[] = {id};
    FW_ASSIGN_OR_RETURN(auto rows, tx.query("SELECT state FROM registry_models WHERE id = ?", p));
    if (rows.empty()) return Status::not_found("no model '" + id + "' in the registry (flywheel models list)");
    const std::string state = feedback::sql_text(rows[0][0]);
    if (state != model_state_name(ModelState::kCandidate) && state != model_state_name(ModelState::kRefused))
      return Status::invalid_argument("model " + id + " has served (" + state + "): the registry keeps it");
    FW_ASSIGN_OR_RETURN(auto children, tx.query("SELECT id FROM registry_models WHERE parent = ?", p));
    if (!children.empty())
      return Status::invalid_argument("model " + id + " is the parent of " + feedback::sql_text(children[0][0]));
    FW_ASSIGN_OR_RETURN(auto history, tx.query("SELECT models FROM registry_history"));
    for (const auto& row : history)
      for (const DeploymentEntry& e : entries_from_json(feedback::sql_text(row[0])))
        if (e.model_id == id) return Status::invalid_argument("model " + id + " has served: the registry keeps it");
    return tx.execute("DELETE FROM registry_models WHERE id = ?", p);
  });
}

Status Registry::promote(const std::string& id, const std::string& deployment, const std::string& reason) {
  return set_deployment(deployment, {{id, 1.0}}, reason.empty() ? "promote " + id : reason);
}

Status Registry::set_deployment(const std::string& deployment, const std::vector<DeploymentEntry>& models,
                                const std::string& reason) {
  for (const auto& e : models) {
    FW_ASSIGN_OR_RETURN(ModelRecord r, get(e.model_id));
    if (!fs::exists(fs::path(r.path) / "model.safetensors"))
      return Status::not_found("model " + r.id + ": its checkpoint " + r.path + " is gone");
  }
  return impl_->db->transact(TransactionMode::kWrite, [&](SqlTransaction& tx) -> Status {
    FW_RETURN_IF_ERROR(lock_deployments(tx, impl_->db->dialect()));
    return write_deployment(tx, deployment, models, reason);
  });
}

Status Registry::rollback(const std::string& deployment, const std::string& reason) {
  return impl_->db->transact(TransactionMode::kWrite, [&](SqlTransaction& tx) -> Status {
    FW_RETURN_IF_ERROR(lock_deployments(tx, impl_->db->dialect()));
    FW_ASSIGN_OR_RETURN(auto current, read_deployment(tx, deployment));
    const SqlValue p[] = {deployment};
    FW_ASSIGN_OR_RETURN(auto rows,
                        tx.query("SELECT models FROM registry_history WHERE deployment = ? ORDER BY version DESC", p));
    // The most recent configuration that differs from the current one.
    auto same = [](std::vector<DeploymentEntry> a, std::vector<DeploymentEntry> b) {
      auto key = [](const DeploymentEntry& e) { return e.model_id; };
      std::ranges::sort(a, {}, key);
      std::ranges::sort(b, {}, key);
      return std::ranges::equal(
          a, b, [](const auto& x, const auto& y) { return x.model_id == y.model_id && x.weight == y.weight; });
    };
    for (const auto& row : rows) {
      auto entries = entries_from_json(feedback::sql_text(row[0]));
      if (entries.empty() || same(entries, current)) continue;
      return write_deployment(tx, deployment, entries, reason.empty() ? "rollback" : reason);
    }
    return Status::not_found("deployment '" + deployment + "' has no earlier configuration to roll back to");
  });
}

Result<std::vector<DeploymentEntry>> Registry::deployment(const std::string& name) {
  std::vector<DeploymentEntry> out;
  FW_RETURN_IF_ERROR(impl_->db->transact(TransactionMode::kRead, [&](SqlTransaction& tx) -> Status {
    FW_ASSIGN_OR_RETURN(out, read_deployment(tx, name));
    return Status::OK();
  }));
  return out;
}

Result<std::vector<std::string>> Registry::deployment_names() {
  std::vector<std::string> out;
  FW_RETURN_IF_ERROR(impl_->db->transact(TransactionMode::kRead, [&](SqlTransaction& tx) -> Status {
    FW_ASSIGN_OR_RETURN(auto rows, tx.query("SELECT DISTINCT name FROM registry_deployments ORDER BY name"));
    for (const auto& row : rows) out.push_back(feedback::sql_text(row[0]));
    return Status::OK();
  }));
  return out;
}

Result<std::vector<HistoryEntry>> Registry::history(const std::string& deployment, int64_t limit) {
  std::vector<HistoryEntry> out;
  FW_RETURN_IF_ERROR(impl_->db->transact(TransactionMode::kRead, [&](SqlTransaction& tx) -> Status {
    const SqlValue p[] = {deployment, limit};
    FW_ASSIGN_OR_RETURN(auto rows, tx.query("SELECT version, deployment, models, reason, at_ms FROM registry_history "
                                            "WHERE deployment = ? ORDER BY version DESC LIMIT ?",
                                            p));
    for (const auto& row : rows)
      out.push_back({feedback::sql_int(row[0]), feedback::sql_text(row[1]),
                     entries_from_json(feedback::sql_text(row[2])), feedback::sql_text(row[3]),
                     feedback::sql_int(row[4])});
    return Status::OK();
  }));
  return out;
}

Result<int64_t> Registry::version() {
  int64_t v = 0;
  FW_RETURN_IF_ERROR(impl_->db->transact(TransactionMode::kRead, [&](SqlTransaction& tx) -> Status {
    FW_ASSIGN_OR_RETURN(auto rows, tx.query("SELECT MAX(version) FROM registry_history"));
    v = rows.empty() ? 0 : feedback::sql_int(rows[0][0]);
    return Status::OK();
  }));
  return v;
}

}  // namespace flywheel::registry
