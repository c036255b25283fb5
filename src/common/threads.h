#pragma once
// Whether a process may start the threads it is about to need, asked before a library that cannot
// fail cleanly starts them.

#include "common/status.h"

namespace shardscore {

// Starts `count` threads that only wait, until all run or one is refused, then ends and joins them:
// OK when all `count` could run at once, besides the threads already running. Otherwise
// kUnavailable naming how many started and the refusal ("pthread_create: Resource temporarily
// unavailable": the limit on the user's tasks, ulimit -u, or a cgroup's pids.max).
//
// Why: oneTBB starts its workers when work first asks for them, some of them from workers it has
// just started, and a worker whose pthread_create is refused ends the process (std::terminate:
// abort, exit 134, with the temporary output left behind). Asked first, a job fails with an error
// instead. It is a check, not a reservation: threads started meanwhile (by another process of the
// same user) can still take what it found free.
[[nodiscard]] Status check_threads_can_start(int count);

}  // namespace shardscore
