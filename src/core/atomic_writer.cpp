#include "core/atomic_writer.h"

#include <fcntl.h>
#include <stdio.h>  // renameat2 (glibc >= 2.28)
#include <sys/stat.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <string>
#include <system_error>

namespace flywheel {
namespace {

std::string in_quotes(const std::filesystem::path& path) { return "'" + path.string() + "'"; }

// `.<name><marker><pid>-<kind><n>` beside `path`. The ".tmp-" marker makes
// is_atomic_temp_file_name recognise it; `kind` keeps these names apart from
// write_file_atomically's, which count from 0 in the same process.
std::filesystem::path sibling_name(const std::filesystem::path& path, std::string_view marker, char kind) {
  static std::atomic<uint64_t> counter{0};
  std::string name(1, '.');
  name += path.filename().string();
  name += marker;
  name += std::to_string(::getpid());
  name += '-';
  name += kind;
  name += std::to_string(counter.fetch_add(1));
  return path.parent_path() / name;
}

std::filesystem::path dir_or_dot(const std::filesystem::path& dir) {
  return dir.empty() ? std::filesystem::path(".") : dir;
}

// A path with no trailing slash, so that filename() and parent_path() name
// the directory itself ("a/b/" → "a/b").
std::filesystem::path without_trailing_slash(const std::filesystem::path& path) {
  std::string s = path.string();
  while (s.size() > 1 && s.back() == '/') s.pop_back();
  return s;
}

Status fsync_path(const std::filesystem::path& path, bool directory) {
  int fd;
  do {
    fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC | (directory ? O_DIRECTORY : 0));
  } while (fd < 0 && errno == EINTR);
  if (fd < 0) return status_from_errno("cannot open " + in_quotes(path) + " to fsync it", errno);
  int rc = ::fsync(fd);
  int err = errno;
  ::close(fd);
  // Some file systems cannot fsync a directory; nothing more durable exists there.
  if (rc != 0 && !(directory && (err == EINVAL || err == ENOTSUP))) {
    return status_from_errno("cannot fsync " + in_quotes(path), err);
  }
  return Status::OK();
}

// fsyncs every regular file and directory under `root`, then `root` itself.
Status fsync_tree(const std::filesystem::path& root) {
  std::error_code ec;
  std::filesystem::recursive_directory_iterator it(root, ec), end;
  if (ec) return status_from_errno("cannot list " + in_quotes(root), ec.value());
  for (; it != end; it.increment(ec)) {
    if (ec) return status_from_errno("cannot list " + in_quotes(root), ec.value());
    const auto status = it->symlink_status(ec);
    if (ec) return status_from_errno("cannot stat " + in_quotes(it->path()), ec.value());
    if (std::filesystem::is_regular_file(status)) {
      FW_RETURN_IF_ERROR(fsync_path(it->path(), false));
    } else if (std::filesystem::is_directory(status)) {
      FW_RETURN_IF_ERROR(fsync_path(it->path(), true));
    }
  }
  if (ec) return status_from_errno("cannot list " + in_quotes(root), ec.value());
  return fsync_path(root, true);
}

void remove_tree_quietly(const std::filesystem::path& path) {
  std::error_code ec;
  std::filesystem::remove_all(path, ec);
}

}  // namespace

// ---- AtomicFileWriter --------------------------------------------------------

AtomicFileWriter::AtomicFileWriter(std::filesystem::path path, std::filesystem::path temp,
                                   std::unique_ptr<WritableFile> file, FileSystem* fs)
    : path_(std::move(path)), temp_(std::move(temp)), file_(std::move(file)), fs_(fs) {}

Result<AtomicFileWriter> AtomicFileWriter::create(const std::filesystem::path& path, FileSystem& fs) {
  if (path.empty() || !path.has_filename()) {
    return Status::invalid_argument("cannot write " + in_quotes(path) + ": not a file name");
  }
  for (int attempt = 0;; ++attempt) {
    std::filesystem::path temp = sibling_name(path, ".tmp-", 'w');
    auto created = fs.new_writable_file(temp, /*exclusive=*/true);
    if (created.ok()) return AtomicFileWriter(path, std::move(temp), std::move(created).value(), &fs);
    // A leftover of a crashed process with a recycled pid: pick another name.
    if (created.status().code() == StatusCode::kAlreadyExists && attempt < 8) continue;
    return created.status().with_context("cannot write " + in_quotes(path));
  }
}

AtomicFileWriter::AtomicFileWriter(AtomicFileWriter&& other) noexcept
    : path_(std::move(other.path_)),
      temp_(std::move(other.temp_)),
      file_(std::move(other.file_)),
      fs_(other.fs_),
      error_(std::move(other.error_)) {}

AtomicFileWriter& AtomicFileWriter::operator=(AtomicFileWriter&& other) noexcept {
  if (this != &other) {
    abort();
    path_ = std::move(other.path_);
    temp_ = std::move(other.temp_);
    file_ = std::move(other.file_);
    fs_ = other.fs_;
    error_ = std::move(other.error_);
  }
  return *this;
}

AtomicFileWriter::~AtomicFileWriter() { abort(); }

Status AtomicFileWriter::append(std::string_view data) {
  if (!file_) return Status::internal("append to " + in_quotes(path_) + " after commit or abort");
  if (!error_.is_ok()) return error_;
  Status status = file_->append(data);
  if (!status.is_ok()) error_ = status.with_context("cannot write " + in_quotes(path_));
  return error_;
}

Status AtomicFileWriter::commit() {
  if (!file_) return Status::internal("commit of " + in_quotes(path_) + " after commit or abort");
  Status status = error_;
  if (status.is_ok()) status = file_->sync();
  if (status.is_ok()) status = file_->close();
  file_.reset();
  if (status.is_ok()) status = fs_->rename_file(temp_, path_);
  if (!status.is_ok()) {
    (void)fs_->remove_file(temp_);  // best effort: the error above is the one that matters
    return status.with_context("cannot write " + in_quotes(path_) + " (the previous file, if any, is unchanged)");
  }
  Status synced = fs_->sync_directory(dir_or_dot(path_.parent_path()));
  if (!synced.is_ok()) {
    return synced.with_context("wrote " + in_quotes(path_) + " but could not make its new name durable");
  }
  return Status::OK();
}

void AtomicFileWriter::abort() {
  if (!file_) return;
  file_.reset();  // closes without syncing
  (void)fs_->remove_file(temp_);
}

// ---- write_directory_atomically ---------------------------------------------

Status write_directory_atomically(const std::filesystem::path& target,
                                  const std::function<Status(const std::filesystem::path& temp_dir)>& fill) {
  const std::filesystem::path dir = without_trailing_slash(target);
  if (dir.empty() || !dir.has_filename() || dir.filename() == "." || dir.filename() == "..") {
    return Status::invalid_argument("cannot write directory " + in_quotes(target) + ": not a directory name");
  }
  const std::filesystem::path parent = dir_or_dot(dir.parent_path());
  const std::string context = "cannot write directory " + in_quotes(dir);

  struct stat st {};
  const bool existed = ::lstat(dir.c_str(), &st) == 0;
  if (!existed && errno != ENOENT) return status_from_errno(context, errno);
  if (existed && !S_ISDIR(st.st_mode)) {
    return Status::invalid_argument(context + ": it exists and is not a directory");
  }

  std::error_code ec;
  std::filesystem::create_directories(parent, ec);
  if (ec) return status_from_errno(context + ": cannot create " + in_quotes(parent), ec.value());

  std::filesystem::path temp;
  for (int attempt = 0;; ++attempt) {
    temp = sibling_name(dir, ".tmp-", 'd');
    if (::mkdir(temp.c_str(), 0777) == 0) break;
    if (errno == EEXIST && attempt < 8) continue;
    return status_from_errno(context + ": cannot create " + in_quotes(temp), errno);
  }

  Status status = fill(temp);
  if (status.is_ok()) status = fsync_tree(temp);
  if (!status.is_ok()) {
    remove_tree_quietly(temp);
    return status.with_context(context + " (the previous directory, if any, is unchanged)");
  }

  if (!existed) {
    if (::rename(temp.c_str(), dir.c_str()) != 0) {
      int err = errno;
      remove_tree_quietly(temp);
      return status_from_errno(context + ": cannot rename " + in_quotes(temp) + " into place", err);
    }
  } else if (::renameat2(AT_FDCWD, temp.c_str(), AT_FDCWD, dir.c_str(), RENAME_EXCHANGE) == 0) {
    // `temp` now holds the old content.
  } else if (errno == EINVAL || errno == ENOSYS || errno == ENOTSUP) {
    // No RENAME_EXCHANGE here: move the old directory aside, then the new one in.
    const std::filesystem::path old = sibling_name(dir, ".old-", 'd');
    if (::rename(dir.c_str(), old.c_str()) != 0) {
      int err = errno;
      remove_tree_quietly(temp);
      return status_from_errno(context + ": cannot move the old directory aside", err);
    }
    if (::rename(temp.c_str(), dir.c_str()) != 0) {
      int err = errno;
      (void)::rename(old.c_str(), dir.c_str());
      remove_tree_quietly(temp);
      return status_from_errno(context + ": cannot rename " + in_quotes(temp) + " into place", err);
    }
    temp = old;
  } else {
    int err = errno;
    remove_tree_quietly(temp);
    return status_from_errno(context + ": cannot swap " + in_quotes(temp) + " into place", err);
  }

  Status synced = fsync_path(parent, true);
  // The new directory is in place: whatever happens now, the old content goes.
  if (existed) remove_tree_quietly(temp);
  if (!synced.is_ok()) {
    return synced.with_context("wrote directory " + in_quotes(dir) + " but could not make its new name durable");
  }
  return Status::OK();
}

}  // namespace flywheel
