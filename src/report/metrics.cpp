#include "report/metrics.h"

#include <boost/asio/connect.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <openssl/evp.h>

#include <algorithm>
#include <cctype>
#include <cmath>
#include <chrono>
#include <sstream>

namespace shardscore {
namespace {

void gauge(std::ostringstream& out, const char* name, const char* help, double value) {
  out << "# HELP " << name << " " << help << "\n# TYPE " << name << " gauge\n" << name << " ";
  if (std::isnan(value)) {
    out << "NaN";
  } else {
    out.precision(17);
    out << value;
  }
  out << "\n";
}

double known(int64_t v) { return v < 0 ? std::nan("") : static_cast<double>(v); }

std::string label_segment(const std::string& name, const std::string& value) {
  bool plain = !value.empty() && value != "." && value != "..";  // a path would lose those
  for (char c : value) plain = plain && (std::isalnum(static_cast<unsigned char>(c)) || c == '_' || c == '.' || c == '-');
  if (plain) return "/" + name + "/" + value;
  // base64 (OpenSSL), then its URL-safe alphabet; an empty value is "=", as the Pushgateway wants.
  std::string b64(4 * ((value.size() + 2) / 3) + 1, '\0');
  const int n = EVP_EncodeBlock(reinterpret_cast<unsigned char*>(b64.data()),
                                reinterpret_cast<const unsigned char*>(value.data()), static_cast<int>(value.size()));
  b64.resize(static_cast<std::size_t>(n));
  for (char& c : b64) c = c == '+' ? '-' : c == '/' ? '_' : c;
  return "/" + name + "@base64/" + (b64.empty() ? std::string("=") : b64);
}

}  // namespace

std::string metrics_text(const JobMetrics& m) {
  std::ostringstream out;
  gauge(out, "shardscore_exit_code", "Exit code of the last run: 0 ok, 3 a quality check failed, 2 bad job or input, "
        "1 other failure, 143/130/129 stopped by SIGTERM/SIGINT/SIGHUP.", m.exit_code);
  gauge(out, "shardscore_last_run_timestamp_seconds", "When the last run ended (Unix time).", m.finished_unix);
  if (m.exit_code == 0) {
    gauge(out, "shardscore_last_success_timestamp_seconds", "When the last run that exited 0 ended (Unix time).",
          m.finished_unix);
  }
  gauge(out, "shardscore_duration_seconds", "Wall time of the last run.", m.seconds);
  gauge(out, "shardscore_ranks", "MPI ranks of the last run.", m.ranks);
  gauge(out, "shardscore_input_rows", "Rows in the last run's input (NaN: not known).", known(m.tally.input_rows));
  gauge(out, "shardscore_rows_scored", "Rows the last run scored before it ended.", static_cast<double>(m.tally.rows_scored));
  gauge(out, "shardscore_rows_written", "Rows in the output the last run left (0 when it left none).",
        static_cast<double>(m.tally.rows_written));
  gauge(out, "shardscore_shards", "Shards of the last run (NaN: not known).", known(m.tally.shards));
  gauge(out, "shardscore_shards_failed_checks", "Shards of the last run that failed a quality check.",
        static_cast<double>(m.tally.shards_failed_checks));
  return out.str();
}

std::string metrics_group_path(const std::string& job, const std::string& instance) {
  return "/metrics" + label_segment("job", job) + label_segment("instance", instance);
}

Status metrics_push(const std::string& gateway, const std::string& group_path, const std::string& text,
                    double timeout_seconds) {
  namespace beast = boost::beast;
  namespace http = beast::http;
  using tcp = boost::asio::ip::tcp;
  // http://host[:port][/prefix]: the job config checked the scheme.
  const std::string rest = gateway.substr(gateway.find("://") + 3);
  const std::size_t slash = rest.find('/');
  const std::string authority = rest.substr(0, slash);
  std::string prefix = slash == std::string::npos ? "" : rest.substr(slash);
  while (!prefix.empty() && prefix.back() == '/') prefix.pop_back();
  const bool bracketed = !authority.empty() && authority[0] == '[';  // [::1]:9091
  const std::size_t colon = authority.rfind(':');
  const bool has_port = colon != std::string::npos && (!bracketed || colon > authority.find(']'));
  std::string host = has_port ? authority.substr(0, colon) : authority;
  const std::string port = has_port ? authority.substr(colon + 1) : "80";
  if (bracketed && host.size() >= 2) host = host.substr(1, host.size() - 2);
  const std::string target = prefix + group_path;
  const std::string what = "pushing metrics to http://" + authority + target;
  boost::asio::io_context io;
  tcp::resolver resolver(io);
  beast::error_code ec;
  const auto endpoints = resolver.resolve(host, port, ec);
  if (ec) return unavailable(what + ": cannot resolve '" + host + "': " + ec.message());
  // Asynchronous, because only asynchronous operations honour the stream's deadline: one deadline
  // for connecting, sending and reading the answer together.
  beast::tcp_stream stream(io);
  http::request<http::string_body> req{http::verb::post, target, 11};
  req.set(http::field::host, authority);
  req.set(http::field::user_agent, "shardscore");
  req.set(http::field::content_type, "text/plain; version=0.0.4");
  req.body() = text;
  req.prepare_payload();
  beast::flat_buffer buffer;
  http::response<http::string_body> res;
  stream.expires_after(std::chrono::milliseconds(static_cast<int64_t>(timeout_seconds * 1000)));
  stream.async_connect(endpoints, [&](beast::error_code e, const tcp::endpoint&) {
    if ((ec = e)) return;
    http::async_write(stream, req, [&](beast::error_code e2, std::size_t) {
      if ((ec = e2)) return;
      http::async_read(stream, buffer, res, [&](beast::error_code e3, std::size_t) { ec = e3; });
    });
  });
  io.run();
  if (ec == beast::error::timeout) {
    return unavailable(what + ": no answer within " + std::to_string(static_cast<int>(timeout_seconds)) + " s");
  }
  if (ec) return unavailable(what + ": " + ec.message());
  beast::error_code ignored;
  stream.socket().shutdown(tcp::socket::shutdown_both, ignored);
  if (res.result_int() < 200 || res.result_int() > 299) {
    std::string body = res.body();
    while (!body.empty() && (body.back() == '\n' || body.back() == '\r')) body.pop_back();
    if (body.size() > 200) body = body.substr(0, 200) + "...";
    return unavailable(what + ": the gateway answered HTTP " + std::to_string(res.result_int()) +
                       (body.empty() ? "" : ": " + body));
  }
  return ok_status();
}

}  // namespace shardscore
