#pragma once
// The job's outcome as Prometheus metrics, pushed to a Prometheus Pushgateway at the end of the run
// (job keys metrics.*), so that a nightly run nobody watches can be alerted on: a failure, a quality
// failure, a run that did not happen (push_time_seconds, added by the gateway, grows old).
//
// Pushed by rank 0 only, after the run, whatever its outcome, with POST: of the metrics under the
// group (job, instance), those pushed now are replaced and the others kept. That is what keeps
// shardscore_last_success_timestamp_seconds, pushed only by a run that exits 0, across failures.
#include <cstdint>
#include <string>

#include "common/status.h"

namespace shardscore {

// How far the job got, filled in by the job as it goes (job_run's JobOptions::tally), so that a
// failed job leaves what it had reached.
struct JobTally {
  int64_t input_rows = -1;      // -1: not known (the run failed before it opened the input)
  int64_t shards = -1;          // -1: not known (failed before the plan)
  int64_t rows_scored = 0;      // rows that went through the write rounds, on all ranks
  int64_t rows_written = 0;     // rows in the output that was moved into place: all or none
  int64_t shards_failed_checks = 0;
};

struct JobMetrics {
  int exit_code = 0;
  double finished_unix = 0;     // seconds since the epoch, when the job ended
  double seconds = 0;           // the whole run
  int ranks = 0;
  JobTally tally;
};

// The metrics in the Prometheus text format (0.0.4), each with HELP and TYPE (gauge). An unknown
// value (-1 above) is written as NaN.
std::string metrics_text(const JobMetrics& m);

// The Pushgateway path of the group: "/metrics/job/<job>/instance/<instance>". A value that is not
// made of [A-Za-z0-9_.-] only, or is "." or "..", is written base64url-encoded
// ("job@base64/<value>"), as the Pushgateway reads it: a '/' or a space could not be in the path
// otherwise, and a path would resolve the dots away.
std::string metrics_group_path(const std::string& job, const std::string& instance);

// POSTs `text` to `gateway` (http://host[:port][/path prefix]; port 80 by default) + `group_path`
// over HTTP/1.1 (Boost.Beast). Fails (kUnavailable) naming the URL and the network error, or the
// HTTP status and the start of the gateway's answer when it is not 2xx; gives up after
// `timeout_seconds` for the connection, the request and the answer together. Plain HTTP only: the process
// carries two OpenSSL builds (the system's, and the one pyarrow's libparquet exports), and libssl
// initialised among them crashed in CRYPTO_THREAD_run_once.
[[nodiscard]] Status metrics_push(const std::string& gateway, const std::string& group_path, const std::string& text,
                                  double timeout_seconds);

}  // namespace shardscore
