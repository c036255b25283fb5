#pragma once
// Plain log lines for Slurm logs and terminals: "[shardscore HH:MM:SS] message" on stderr.
// Thread-safe. Callers decide which rank logs (normally rank 0 only).
#include <string>

namespace shardscore {

void log_line(const std::string& message);
// "shardscore: warning: message" on stderr: something the user should know that does not change the
// run's outcome (a metrics push that failed, an output whose folder could not be flushed to disk).
void log_warning(const std::string& message);
// "shardscore: error: message" on stderr, on a line of its own (after a live progress line).
void log_error(const std::string& message);
// Overwrites the current terminal line (progress on a TTY); ends with log_line or log_end_live.
void log_live(const std::string& message);
void log_end_live();
// "12.3 MiB": a size in messages.
std::string mib_text(double bytes);
// Current UTC time as ISO 8601 ("2026-11-26T17:33:08Z").
std::string utc_now_iso8601();

}  // namespace shardscore
