#include "core/atomic_file.h"

#include <unistd.h>

#include <atomic>

namespace flywheel {
namespace {

constexpr std::string_view kTempMarker = ".tmp-";

std::filesystem::path temp_path_for(const std::filesystem::path& path, int attempt) {
  // pid + a process-wide counter keeps concurrent writers (threads and
  // processes) apart; the leading dot keeps the file out of casual listings
  // and out of globs such as *.json.
  static std::atomic<uint64_t> counter{0};
  std::string name(1, '.');
  name += path.filename().string();
  name += kTempMarker;
  name += std::to_string(::getpid());
  name += '-';
  name += std::to_string(counter.fetch_add(1));
  if (attempt > 0) {
    name += '-';
    name += std::to_string(attempt);
  }
  return path.parent_path() / name;
}

Status write_and_sync(WritableFile& file, std::string_view bytes) {
  FW_RETURN_IF_ERROR(file.append(bytes));
  FW_RETURN_IF_ERROR(file.sync());
  return file.close();
}

}  // namespace

Status write_file_atomically(const std::filesystem::path& path, std::string_view bytes, FileSystem& fs) {
  if (path.empty() || !path.has_filename()) {
    return Status::invalid_argument("cannot write '" + path.string() + "': not a file name");
  }
  const std::filesystem::path dir = path.parent_path();

  std::filesystem::path temp;
  std::unique_ptr<WritableFile> file;
  for (int attempt = 0;; ++attempt) {
    temp = temp_path_for(path, attempt);
    auto created = fs.new_writable_file(temp, /*exclusive=*/true);
    if (created.ok()) {
      file = std::move(created).value();
      break;
    }
    // A leftover of a crashed process with a recycled pid: pick another name.
    if (created.status().code() == StatusCode::kAlreadyExists && attempt < 8) continue;
    return created.status().with_context("cannot write '" + path.string() + "'");
  }

  Status status = write_and_sync(*file, bytes);
  file.reset();
  if (status.is_ok()) status = fs.rename_file(temp, path);
  if (!status.is_ok()) {
    // Best effort: the error that matters is the one above, not a failed cleanup.
    (void)fs.remove_file(temp);
    return status.with_context("cannot write '" + path.string() + "' (the previous file, if any, is unchanged)");
  }

  Status synced = fs.sync_directory(dir.empty() ? std::filesystem::path(".") : dir);
  if (!synced.is_ok()) {
    return synced.with_context("wrote '" + path.string() + "' but could not make its new name durable");
  }
  return Status::OK();
}

Result<std::string> read_file(const std::filesystem::path& path, FileSystem& fs) { return fs.read_file(path); }

bool is_atomic_temp_file_name(std::string_view file_name) {
  return file_name.size() > 1 && file_name.front() == '.' && file_name.find(kTempMarker) != std::string_view::npos;
}

}  // namespace flywheel
