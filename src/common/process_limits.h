#pragma once
// Whether this process may get what it is about to need (threads, file descriptors), asked before a
// library that cannot fail cleanly, or cannot fail alone, asks for it.

#include "common/status.h"

namespace shardscore {

// Starts `count` threads that only wait, until all run or one is refused, then ends and joins them
// (and waits, up to 100 ms, until they no longer count against the limit): OK when all `count` could
// run at once, besides the threads already running. Otherwise kUnavailable naming how many started
// and the refusal with the process's limits that are set ("pthread_create: Resource temporarily
// unavailable; ulimit -u N; ulimit -v KiB"): EAGAIN is a limit on the user's tasks (ulimit -u, or a
// cgroup's pids.max, not named) or no memory for a thread's stack (ulimit -v).
//
// Why: oneTBB starts its workers when work first asks for them, some of them from workers it has
// just started, and a worker whose pthread_create is refused ends the process (std::terminate:
// abort, exit 134, with the temporary output left behind). Asked first, a job fails with an error
// instead. It is a check, not a reservation: threads started meanwhile (by another process of the
// same user) can still take what it found free.
[[nodiscard]] Status check_threads_can_start(int count);

// Opens `count` file descriptors (of /dev/null) and closes them again: OK when `count` more could
// be open at once. Otherwise kUnavailable naming how many were free, the errno text (EMFILE), the
// open ones where they can be counted and the limit (ulimit -n).
//
// Why: a collective MPI-IO open needs descriptors on every rank, and Open MPI does not agree on
// their failure: a rank short of them failed inside MPI_File_open (the shared file pointer's file)
// while the others waited for it there, and the job hung. Checked on every rank and agreed on
// first, such a rank fails the job instead. File descriptors are the process's own: no other
// process can take them between the check and the open, and a margin in `count` covers this
// process's own other threads (MPI's, the CUDA runtime's).
[[nodiscard]] Status check_free_descriptors(int count);

}  // namespace shardscore
