#include "common/process_limits.h"

#include <fcntl.h>
#include <sys/resource.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <filesystem>
#include <latch>
#include <string>
#include <system_error>
#include <thread>
#include <vector>

namespace shardscore {

Status check_threads_can_start(int count) {
  std::vector<std::thread> started;
  started.reserve(static_cast<std::size_t>(std::max(count, 0)));
  std::latch release(1);
  std::string refused;
  for (int i = 0; i < count; ++i) {
    try {
      started.emplace_back([&release] { release.wait(); });
    } catch (const std::system_error& e) {
      refused = e.code().message();
      break;
    }
  }
  release.count_down();
  for (std::thread& t : started) t.join();
  if (refused.empty()) return ok_status();
  return unavailable("could start only " + std::to_string(started.size()) + " of " + std::to_string(count) +
                     " threads at once (pthread_create: " + refused + ")");
}

Status check_free_descriptors(int count) {
  std::vector<int> fds;
  int err = 0;
  for (int i = 0; i < count; ++i) {
    const int fd = ::open("/dev/null", O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
      err = errno;
      break;
    }
    fds.push_back(fd);
  }
  for (int fd : fds) ::close(fd);
  if (err == 0) return ok_status();
  std::string detail = std::strerror(err);
  std::error_code ec;
  int64_t n = 0;
  for (std::filesystem::directory_iterator it("/proc/self/fd", ec), end; !ec && it != end; it.increment(ec)) ++n;
  if (!ec) detail += "; " + std::to_string(n - 1) + " open";  // less the listing's own
  if (rlimit rl{}; ::getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur != RLIM_INFINITY) {
    detail += (ec ? "; " : ", ") + std::string("ulimit -n ") + std::to_string(rl.rlim_cur);
  }
  return unavailable("only " + std::to_string(fds.size()) + " of the " + std::to_string(count) +
                     " file descriptors it needs are free (" + detail + ")");
}

}  // namespace shardscore
