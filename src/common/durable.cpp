#include "common/durable.h"

#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>  // renameat2, RENAME_NOREPLACE (glibc 2.28+, _GNU_SOURCE)
#include <cstring>
#include <filesystem>
#include <random>

#include "common/log.h"

namespace shardscore {

const std::string& process_unique_suffix() {
  static const std::string suffix = [] {
    char host[256] = {};
    if (::gethostname(host, sizeof host - 1) != 0 || host[0] == '\0') std::strcpy(host, "host");
    std::random_device rd;
    char tail[16];
    std::snprintf(tail, sizeof tail, "%08x", static_cast<unsigned>(rd()));
    return std::string(host) + "-" + std::to_string(::getpid()) + "-" + tail;
  }();
  return suffix;
}

Status sync_path(const std::string& path) {
  std::error_code ec;
  const bool folder = std::filesystem::is_directory(path, ec);
  const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC | (folder ? O_DIRECTORY : 0));
  if (fd < 0) {
    // A folder one may write into but not list (mode 0333, a drop box) cannot be opened to sync.
    if (folder && errno == EACCES) return ok_status();
    return unavailable("cannot open '" + path + "' to flush it to disk: " + std::strerror(errno));
  }
  int err = 0;
  if (::fsync(fd) != 0) err = errno;
  ::close(fd);
  if (err == 0 || (folder && (err == EINVAL || err == ENOTSUP))) return ok_status();
  return unavailable("flushing '" + path + "' to disk failed: " + std::strerror(err));
}

Status write_file_synced(const std::string& path, const std::string& text) {
  std::FILE* f = std::fopen(path.c_str(), "wb");
  if (!f) return unavailable("cannot write '" + path + "': " + std::strerror(errno));
  const bool written = std::fwrite(text.data(), 1, text.size(), f) == text.size() && std::fflush(f) == 0 &&
                       ::fsync(::fileno(f)) == 0;
  const int err = errno;
  const bool closed = std::fclose(f) == 0;
  if (written && closed) return ok_status();
  const int why = written ? errno : err;
  std::error_code ec;
  std::filesystem::remove(path, ec);
  return unavailable("writing '" + path + "' failed: " + std::strerror(why));
}

Status move_into_place(const std::string& from, const std::string& to, bool replace, const std::string& what) {
  std::error_code ec;
  if (replace) {
    // A file replaces a file in one rename; a folder, or anything where a folder goes, is removed first.
    std::error_code probe;  // a path that is not there is no folder
    const bool folders = std::filesystem::is_directory(from, probe) || std::filesystem::is_directory(to, probe);
    if (folders && std::filesystem::exists(to, probe)) {
      std::filesystem::remove_all(to, ec);
      if (ec) return unavailable("cannot remove the old " + what + " '" + to + "': " + ec.message());
    }
    std::filesystem::rename(from, to, ec);
    if (ec) return unavailable("cannot move the finished " + what + " to '" + to + "': " + ec.message());
    return ok_status();
  }
  int err = ::renameat2(AT_FDCWD, from.c_str(), AT_FDCWD, to.c_str(), RENAME_NOREPLACE) == 0 ? 0 : errno;
  if (err == EINVAL || err == ENOSYS || err == ENOTSUP) {  // a file system without it (some NFS, FUSE)
    err = std::filesystem::exists(to, ec) ? EEXIST : (::rename(from.c_str(), to.c_str()) == 0 ? 0 : errno);
  }
  if (err == 0) return ok_status();
  if (err == EEXIST || err == ENOTEMPTY) {
    return already_exists(what + " '" + to + "' appeared while this job ran (another job writing the same " + what +
                          "?): it is left as it is and this job's " + what + " is not written; set output.overwrite = "
                          "true to replace it");
  }
  return unavailable("cannot move the finished " + what + " to '" + to + "': " + std::strerror(err));
}

std::filesystem::path folder_of(const std::string& path) { return std::filesystem::absolute(path).parent_path(); }

Status sync_parent_folder(const std::string& path) { return sync_path(folder_of(path).string()); }

void sync_parent_folder_or_warn(const std::string& path) {
  const Status st = sync_parent_folder(path);
  if (!st.ok()) log_warning(st.message() + " ('" + path + "' is in place, but a crash of the node soon after may lose it)");
}

}  // namespace shardscore
