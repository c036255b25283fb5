#include "report/metrics.h"

#include <gtest/gtest.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <chrono>
#include <cmath>
#include <map>
#include <sstream>

namespace shardscore {
namespace {

// name -> value of the text format's samples; every sample must follow its own HELP and TYPE lines.
std::map<std::string, std::string> samples(const std::string& text) {
  std::map<std::string, std::string> out;
  std::istringstream in(text);
  std::string line, help, type;
  while (std::getline(in, line)) {
    if (line.rfind("# HELP ", 0) == 0) {
      help = line.substr(7, line.find(' ', 7) - 7);
    } else if (line.rfind("# TYPE ", 0) == 0) {
      type = line.substr(7);
    } else {
      const std::string name = line.substr(0, line.find(' '));
      EXPECT_EQ(help, name) << "no HELP line before " << name;
      EXPECT_EQ(type, name + " gauge") << "no TYPE line before " << name;
      out[name] = line.substr(line.find(' ') + 1);
    }
  }
  return out;
}

TEST(Metrics, TextHasEveryGaugeAndNaNForWhatIsUnknown) {
  JobMetrics m;
  m.exit_code = 2;
  m.finished_unix = 1796513524.25;
  m.seconds = 0.5;
  m.ranks = 3;
  const auto s = samples(metrics_text(m));
  EXPECT_EQ(s.at("shardscore_exit_code"), "2");
  EXPECT_EQ(s.at("shardscore_last_run_timestamp_seconds"), "1796513524.25");
  EXPECT_EQ(s.count("shardscore_last_success_timestamp_seconds"), 0u) << "only a run that exits 0 pushes it";
  EXPECT_EQ(s.at("shardscore_duration_seconds"), "0.5");
  EXPECT_EQ(s.at("shardscore_ranks"), "3");
  EXPECT_EQ(s.at("shardscore_input_rows"), "NaN");
  EXPECT_EQ(s.at("shardscore_shards"), "NaN");
  EXPECT_EQ(s.at("shardscore_rows_scored"), "0");
  EXPECT_EQ(s.at("shardscore_rows_written"), "0");
  EXPECT_EQ(s.at("shardscore_shards_failed_checks"), "0");
}

TEST(Metrics, ASuccessfulRunPushesItsSuccessTime) {
  JobMetrics m;
  m.exit_code = 0;
  m.finished_unix = 1796513524.5;
  m.tally.input_rows = 1000000;
  m.tally.rows_scored = m.tally.rows_written = 1000000;
  m.tally.shards = 16;
  const auto s = samples(metrics_text(m));
  EXPECT_EQ(s.at("shardscore_last_success_timestamp_seconds"), "1796513524.5");
  EXPECT_EQ(s.at("shardscore_input_rows"), "1000000");
  EXPECT_EQ(s.at("shardscore_rows_written"), "1000000");
  EXPECT_EQ(s.at("shardscore_shards"), "16");
  m.exit_code = 3;  // a failed quality check is not a success
  EXPECT_EQ(samples(metrics_text(m)).count("shardscore_last_success_timestamp_seconds"), 0u);
}

TEST(Metrics, GroupPathEncodesValuesThatCannotBeInAPath) {
  EXPECT_EQ(metrics_group_path("shardscore", "nightly-2.eu_west"), "/metrics/job/shardscore/instance/nightly-2.eu_west");
  // Expected values from Python's base64.urlsafe_b64encode.
  EXPECT_EQ(metrics_group_path("a b/c", "x"), "/metrics/job@base64/YSBiL2M=/instance/x");
  EXPECT_EQ(metrics_group_path("j", ">>>?"), "/metrics/job/j/instance@base64/Pj4-Pw==");
  EXPECT_EQ(metrics_group_path("j", ""), "/metrics/job/j/instance@base64/=");
  EXPECT_EQ(metrics_group_path("j", ".."), "/metrics/job/j/instance@base64/Li4=");
  EXPECT_EQ(metrics_group_path("j", "."), "/metrics/job/j/instance@base64/Lg==");
}

// A TCP socket on 127.0.0.1 with a port of its own, closed at the end of the scope: listening
// (connections are made by the kernel and never answered) or only bound (connections are refused).
struct LoopbackPort {
  explicit LoopbackPort(bool listening) {
    fd = ::socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t len = sizeof a;
    if (fd >= 0 && ::bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) == 0 && (!listening || ::listen(fd, 4) == 0) &&
        ::getsockname(fd, reinterpret_cast<sockaddr*>(&a), &len) == 0) {
      port = ntohs(a.sin_port);
    }
  }
  ~LoopbackPort() {
    if (fd >= 0) ::close(fd);
  }
  int fd = -1;
  int port = 0;  // 0: no socket
};

TEST(Metrics, PushToAClosedPortFailsNamingTheUrl) {
  const LoopbackPort closed(false);
  ASSERT_GT(closed.port, 0);
  const std::string gw = "http://127.0.0.1:" + std::to_string(closed.port) + "/prefix/";
  const Status st = metrics_push(gw, "/metrics/job/j/instance/i", "x 1\n", 5.0);
  EXPECT_EQ(st.code(), StatusCode::kUnavailable);
  EXPECT_NE(st.message().find("http://127.0.0.1:" + std::to_string(closed.port) + "/prefix/metrics/job/j/instance/i"),
            std::string::npos) << st.message();
  EXPECT_NE(st.message().find("refused"), std::string::npos) << st.message();
}

TEST(Metrics, AGatewayThatNeverAnswersTimesOut) {
  const LoopbackPort silent(true);
  ASSERT_GT(silent.port, 0);
  const auto t0 = std::chrono::steady_clock::now();
  const Status st = metrics_push("http://127.0.0.1:" + std::to_string(silent.port), "/metrics/job/j/instance/i",
                                 "x 1\n", 1.0);
  const double took = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  EXPECT_EQ(st.code(), StatusCode::kUnavailable);
  EXPECT_NE(st.message().find("no answer within 1 s"), std::string::npos) << st.message();
  EXPECT_GE(took, 0.9);
  EXPECT_LT(took, 5.0);
}

}  // namespace
}  // namespace shardscore
