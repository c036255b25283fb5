#include "common/log.h"

#include <chrono>
#include <cstdio>
#include <ctime>
#include <mutex>

namespace shardscore {
namespace {
std::mutex g_log_mutex;
bool g_live_open = false;

std::string clock_prefix() {
  std::time_t t = std::time(nullptr);
  std::tm tm{};
  localtime_r(&t, &tm);
  char buf[32];
  std::strftime(buf, sizeof buf, "%H:%M:%S", &tm);
  return std::string("[shardscore ") + buf + "] ";
}

// One whole line, after ending a live line if one is open.
void emit_line(const std::string& prefix, const std::string& message) {
  std::lock_guard lock(g_log_mutex);
  if (g_live_open) std::fputc('\n', stderr);
  g_live_open = false;
  std::fprintf(stderr, "%s%s\n", prefix.c_str(), message.c_str());
  std::fflush(stderr);
}

}  // namespace

void log_line(const std::string& message) { emit_line(clock_prefix(), message); }

void log_warning(const std::string& message) { emit_line("shardscore: warning: ", message); }

void log_error(const std::string& message) { emit_line("shardscore: error: ", message); }

std::string mib_text(double bytes) {
  char text[64];
  std::snprintf(text, sizeof text, "%.1f MiB", bytes / (1 << 20));
  return text;
}

void log_live(const std::string& message) {
  std::lock_guard lock(g_log_mutex);
  // \r plus clear-to-end-of-line keeps one live line on a terminal.
  std::fprintf(stderr, "\r\033[K%s%s", clock_prefix().c_str(), message.c_str());
  std::fflush(stderr);
  g_live_open = true;
}

void log_end_live() {
  std::lock_guard lock(g_log_mutex);
  if (g_live_open) std::fputc('\n', stderr);
  g_live_open = false;
}

std::string utc_now_iso8601() {
  std::time_t t = std::time(nullptr);
  std::tm tm{};
  gmtime_r(&t, &tm);
  char buf[32];
  std::strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%SZ", &tm);
  return buf;
}

}  // namespace shardscore
