#include "common/durable.h"

#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <filesystem>

namespace shardscore {

Status sync_path(const std::string& path) {
  const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return unavailable("cannot open '" + path + "' to flush it to disk: " + std::strerror(errno));
  int err = 0;
  if (::fsync(fd) != 0) err = errno;
  ::close(fd);
  if (err == 0 || ((err == EINVAL || err == ENOTSUP) && std::filesystem::is_directory(path))) return ok_status();
  return unavailable("flushing '" + path + "' to disk failed: " + std::strerror(err));
}

Status sync_parent_folder(const std::string& path) {
  const std::filesystem::path parent = std::filesystem::path(path).parent_path();
  return sync_path(parent.empty() ? std::string(".") : parent.string());
}

}  // namespace shardscore
