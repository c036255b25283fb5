#include "common/process_limits.h"

#include <fcntl.h>
#include <sys/resource.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cstring>
#include <filesystem>
#include <latch>
#include <string>
#include <system_error>
#include <thread>
#include <vector>

namespace shardscore {

namespace {
// Entries of a /proc/self folder, less the listing's own descriptor where it lists those; -1 when
// it cannot be read.
int64_t count_entries(const char* folder, bool less_own) {
  std::error_code ec;
  int64_t n = 0;
  for (std::filesystem::directory_iterator it(folder, ec), end; !ec && it != end; it.increment(ec)) ++n;
  return ec ? -1 : n - (less_own ? 1 : 0);
}
}  // namespace

Status check_threads_can_start(int count) {
  const int64_t threads_before = count_entries("/proc/self/task", false);
  std::vector<std::thread> started;
  started.reserve(static_cast<std::size_t>(std::max(count, 0)));
  std::latch release(1);
  std::string refused;
  bool limit = false;  // EAGAIN: a limit on tasks, or no memory for a stack
  for (int i = 0; i < count; ++i) {
    try {
      started.emplace_back([&release] { release.wait(); });
    } catch (const std::system_error& e) {
      refused = e.code().message();
      limit = e.code().value() == EAGAIN;
      break;
    } catch (const std::exception& e) {
      refused = e.what();
      break;
    }
  }
  release.count_down();
  for (std::thread& t : started) t.join();
  // A joined thread still counts against the limit for a moment (the kernel releases it after
  // waking the joiner, then drops it from /proc/self/task): waited for, up to 100 ms, so that what
  // was found free is free when oneTBB asks.
  for (int i = 0; i < 100 && threads_before >= 0 && count_entries("/proc/self/task", false) > threads_before; ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(1));
  }
  if (refused.empty()) return ok_status();
  std::string detail = refused;
  if (limit) {  // EAGAIN: a limit on tasks, or no memory for the thread's stack; the limits that are set
    if (rlimit rl{}; ::getrlimit(RLIMIT_NPROC, &rl) == 0 && rl.rlim_cur != RLIM_INFINITY) {
      detail += "; ulimit -u " + std::to_string(rl.rlim_cur);
    }
    if (rlimit rl{}; ::getrlimit(RLIMIT_AS, &rl) == 0 && rl.rlim_cur != RLIM_INFINITY) {
      detail += "; ulimit -v " + std::to_string(rl.rlim_cur / 1024);
    }
  }
  return unavailable("could start only " + std::to_string(started.size()) + " of " + std::to_string(count) +
                     " threads at once (pthread_create: " + detail + ")");
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
  const int64_t open_now = count_entries("/proc/self/fd", true);
  if (open_now >= 0) detail += "; " + std::to_string(open_now) + " open";
  if (rlimit rl{}; ::getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur != RLIM_INFINITY) {
    detail += (open_now >= 0 ? ", " : "; ") + std::string("ulimit -n ") + std::to_string(rl.rlim_cur);
  }
  return unavailable("only " + std::to_string(fds.size()) + " of the " + std::to_string(count) +
                     " file descriptors it needs are free (" + detail + ")");
}

}  // namespace shardscore
