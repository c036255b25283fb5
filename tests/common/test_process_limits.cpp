#include "common/process_limits.h"

#include <fcntl.h>
#include <grp.h>
#include <gtest/gtest.h>
#include <oneapi/tbb/global_control.h>
#include <oneapi/tbb/parallel_for.h>
#include <oneapi/tbb/task_arena.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <functional>
#include <string>
#include <vector>

namespace shardscore {
namespace {

// Uids that run nothing else here, one per test and one for the skip's probe (ctest runs tests side
// by side, and a probe as another test's uid counted against that test's limit): RLIMIT_NPROC counts
// every task of the user, and root ignores it.
constexpr uid_t kExactUid = 47'990, kTbbUid = 47'991, kProbeUid = 47'992;

// Makes this process `uid` (and its group), with no other groups; false when refused.
bool become(uid_t uid) { return setgroups(0, nullptr) == 0 && setgid(uid) == 0 && setuid(uid) == 0; }

struct Child {
  int exit_code = -1;  // -1: ended by a signal
  int signal = 0;
  std::string said;    // what `body` returned
};

// Runs `body` in a child process after `prepare` (false: the child could not be made, exit 99). Its
// exit code is `body`'s unless it dies. quiet: its stderr goes to /dev/null (std::terminate's lines,
// when an abort is expected).
Child run_in_child(const std::function<bool()>& prepare, const std::function<std::pair<int, std::string>()>& body,
                   bool quiet = false) {
  int fds[2];
  EXPECT_EQ(pipe(fds), 0);
  std::fflush(nullptr);
  const pid_t pid = fork();
  if (pid == 0) {
    close(fds[0]);
    if (quiet && !std::freopen("/dev/null", "w", stderr)) _exit(97);
    if (!prepare()) _exit(99);
    auto [code, text] = body();
    if (write(fds[1], text.data(), text.size()) < 0) _exit(98);
    _exit(code);
  }
  close(fds[1]);
  Child c;
  char buf[512];
  for (ssize_t n; (n = read(fds[0], buf, sizeof buf)) > 0;) c.said.append(buf, static_cast<std::size_t>(n));
  close(fds[0]);
  int status = 0;
  EXPECT_EQ(waitpid(pid, &status, 0), pid);
  if (WIFEXITED(status)) c.exit_code = WEXITSTATUS(status);
  if (WIFSIGNALED(status)) c.signal = WTERMSIG(status);
  return c;
}

// run_in_child as `uid` under RLIMIT_NPROC = `limit`: the child itself is one task, so it may start
// limit - 1 threads.
Child run_limited(uid_t uid, rlim_t limit, const std::function<std::pair<int, std::string>()>& body, bool quiet = false) {
  const rlimit rl{limit, limit};
  const Child c = run_in_child([&] { return become(uid) && setrlimit(RLIMIT_NPROC, &rl) == 0; }, body, quiet);
  EXPECT_NE(c.exit_code, 99) << "the child could not become uid " << uid << " under RLIMIT_NPROC " << limit;
  return c;
}

// A child that only becomes kProbeUid: 0 when it could.
int become_uid_in_child() {
  const pid_t pid = fork();
  if (pid == 0) _exit(become(kProbeUid) ? 0 : 1);
  int status = 0;
  return waitpid(pid, &status, 0) == pid && WIFEXITED(status) ? WEXITSTATUS(status) : 1;
}

std::pair<int, std::string> check(int count) {
  const Status s = check_threads_can_start(count);
  return {s.ok() ? 0 : 10, s.ok() ? "" : s.message()};
}

// Skips the calling test unless a child may become another uid (root, with CAP_SETUID: not in
// every container).
#define SKIP_UNLESS_ANOTHER_UID_IS_POSSIBLE()                                                                        \
  do {                                                                                                                  \
    if (geteuid() != 0) GTEST_SKIP() << "RLIMIT_NPROC on a uid of its own needs root; as another user it counts that user's other tasks"; \
    if (become_uid_in_child() != 0) GTEST_SKIP() << "root here may not change its uid (setuid refused: no CAP_SETUID)"; \
  } while (0)

TEST(CheckThreadsCanStart, NoThreadsAlwaysStart) {
  EXPECT_TRUE(check_threads_can_start(0).ok());
  EXPECT_TRUE(check_threads_can_start(2).ok());
}

TEST(CheckThreadsCanStart, StartsExactlyWhatTheTaskLimitLeaves) {
  SKIP_UNLESS_ANOTHER_UID_IS_POSSIBLE();
  for (rlim_t limit : {1, 2, 4}) {
    const int free = static_cast<int>(limit) - 1;
    const Child fits = run_limited(kExactUid, limit, [&] { return check(free); });
    EXPECT_EQ(fits.exit_code, 0) << "limit " << limit << ": " << fits.said;
    const Child over = run_limited(kExactUid, limit, [&] { return check(free + 1); });
    EXPECT_EQ(over.exit_code, 10) << "limit " << limit;
    EXPECT_EQ(over.said, "could start only " + std::to_string(free) + " of " + std::to_string(free + 1) +
                             " threads at once (pthread_create: Resource temporarily unavailable; ulimit -u " +
                             std::to_string(limit) + ")");
  }
}

// pthread_create's EAGAIN is also its answer when a thread's stack cannot be mapped: the refusal
// names the address-space limit (ulimit -v), not only the task limit. In a child, with 1 MiB of
// address space left, less than a thread's stack (ulimit -s), asking for enough threads that glibc's
// cache of joined threads' stacks (up to 40 MiB) cannot hold them all.
TEST(CheckThreadsCanStart, ARefusalForLackOfMemoryNamesUlimitV) {
  long vm_kib = 0;
  {
    std::ifstream status("/proc/self/status");
    for (std::string line; std::getline(status, line);) {
      if (line.rfind("VmSize:", 0) == 0) vm_kib = std::stol(line.substr(7));
    }
  }
  ASSERT_GT(vm_kib, 0);
  // glibc's stacks are ulimit -s (2 MiB where it is unlimited), at least 16 KiB.
  rlimit stack{};
  ASSERT_EQ(getrlimit(RLIMIT_STACK, &stack), 0);
  const rlim_t stack_bytes =
      stack.rlim_cur == RLIM_INFINITY ? rlim_t{2} << 20 : std::max<rlim_t>(stack.rlim_cur, rlim_t{16} << 10);
  ASSERT_GT(stack_bytes, rlim_t{1} << 20) << "stacks of ulimit -s fit in the 1 MiB left: nothing to refuse";
  const int threads = static_cast<int>((rlim_t{40} << 20) / stack_bytes) + 2;
  const rlim_t cap = static_cast<rlim_t>(vm_kib + 1024) * 1024;
  const rlimit rl{cap, cap};
  const Child c = run_in_child([&] { return setrlimit(RLIMIT_AS, &rl) == 0; }, [&] { return check(threads); });
  ASSERT_EQ(c.signal, 0) << "the child died of signal " << c.signal;
  ASSERT_EQ(c.exit_code, 10) << threads << " threads started with 1 MiB of address space left";
  const std::string& said = c.said;
  EXPECT_EQ(said.rfind("could start only ", 0), 0u) << said;
  EXPECT_NE(said.find(" of " + std::to_string(threads) + " threads at once (pthread_create: Resource temporarily unavailable; "),
            std::string::npos)
      << said;
  EXPECT_NE(said.find("; ulimit -v " + std::to_string(vm_kib + 1024) + ")"), std::string::npos) << said;
}

// What the job relies on: at every task limit, either the check refuses oneTBB's workers or oneTBB
// starts them all. An arena of 4 has 3 workers, and oneTBB starts some of them from a worker, where
// a refusal aborts the process; shown first without the check.
TEST(CheckThreadsCanStart, RefusesEveryLimitAtWhichOneTbbWouldAbort) {
  SKIP_UNLESS_ANOTHER_UID_IS_POSSIBLE();
  constexpr int kThreads = 4;
  const auto tbb_work = [] {
    tbb::global_control cap(tbb::global_control::max_allowed_parallelism, kThreads);
    tbb::task_arena arena(kThreads);
    std::atomic<long> odd{0};
    try {
      arena.execute([&] {
        for (int rep = 0; rep < 20; ++rep) tbb::parallel_for(0, 100'000, [&](int i) { odd += i & 1; });
      });
    } catch (const std::exception& e) {
      return std::pair<int, std::string>{20, e.what()};  // refused in the calling thread: an error, not an abort
    }
    return std::pair<int, std::string>{odd == 20 * 50'000 ? 0 : 30, ""};
  };
  std::vector<rlim_t> aborted;
  for (rlim_t limit = 1; limit <= kThreads + 2; ++limit) {
    for (int attempt = 0; attempt < 5; ++attempt) {  // which thread starts which worker is a race
      if (run_limited(kTbbUid, limit, tbb_work, /*quiet=*/true).signal == SIGABRT) {
        aborted.push_back(limit);
        break;
      }
    }
  }
  for (rlim_t limit = 1; limit <= kThreads + 2; ++limit) {
    const Child c = run_limited(kTbbUid, limit, [&] {
      auto refused = check(kThreads - 1);
      return refused.first != 0 ? refused : tbb_work();
    });
    EXPECT_EQ(c.signal, 0) << "limit " << limit << ": the check let oneTBB start and the process died of signal " << c.signal;
    if (limit >= kThreads) {
      EXPECT_EQ(c.exit_code, 0) << "limit " << limit << " leaves room for every worker: " << c.said;
    } else {
      EXPECT_EQ(c.exit_code, 10) << "limit " << limit << " leaves room for " << limit - 1 << " of " << kThreads - 1
                                 << " workers, and the check should have said so: " << c.said;
    }
  }
  if (aborted.empty()) GTEST_SKIP() << "this oneTBB aborted at no limit without the check either (five tries at each): the check passed, but proved little";
  std::printf("without the check, oneTBB aborted at task limit(s):");
  for (rlim_t l : aborted) std::printf(" %llu", static_cast<unsigned long long>(l));
  std::printf("\n");
}


// The open descriptors of this process, by number.
std::vector<int> open_descriptors() {
  std::vector<int> listed;
  for (const auto& e : std::filesystem::directory_iterator("/proc/self/fd")) listed.push_back(std::stoi(e.path().filename().string()));
  std::vector<int> open;  // less the listing's own, closed by now
  for (int fd : listed) {
    if (fcntl(fd, F_GETFD) != -1) open.push_back(fd);
  }
  return open;
}

TEST(CheckFreeDescriptors, OpensExactlyWhatTheLimitLeaves) {
  rlimit saved{};
  ASSERT_EQ(getrlimit(RLIMIT_NOFILE, &saved), 0);
  const std::vector<int> open = open_descriptors();
  const int highest = *std::max_element(open.begin(), open.end());
  for (int spare : {1, 3}) {
    // Descriptors are numbered below the limit: the free ones are the numbers below it not taken.
    const rlim_t limit = static_cast<rlim_t>(highest + 1 + spare);
    const int free = static_cast<int>(limit) - static_cast<int>(open.size());
    const rlimit lowered{limit, saved.rlim_max};
    ASSERT_EQ(setrlimit(RLIMIT_NOFILE, &lowered), 0);
    const Status fits = check_free_descriptors(free);
    const Status over = check_free_descriptors(free + 1);
    ASSERT_EQ(setrlimit(RLIMIT_NOFILE, &saved), 0);
    EXPECT_TRUE(fits.ok()) << "limit " << limit << ": " << fits.message();
    EXPECT_EQ(over.code(), StatusCode::kUnavailable);
    EXPECT_EQ(over.message(), "only " + std::to_string(free) + " of the " + std::to_string(free + 1) +
                                  " file descriptors it needs are free (Too many open files; " + std::to_string(open.size()) +
                                  " open, ulimit -n " + std::to_string(limit) + ")");
  }
  EXPECT_EQ(open_descriptors(), open) << "the check closes what it opened";
}

}  // namespace
}  // namespace shardscore
