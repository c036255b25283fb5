#include "common/threads.h"

#include <algorithm>
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

}  // namespace shardscore
