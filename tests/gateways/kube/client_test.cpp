// Tests of olocal::kube::client: plain HTTP requests against the project's own
// HTTP server (port 0), watch streams against a tiny raw-socket server in this
// file (the project's server cannot stream), TLS, authentication and real
// watches against tests/support's fake API server. Retries use
// millisecond backoffs; nothing here waits on a timer to synchronise.

#include "gateways/http/server.hpp"
#include "gateways/kube/client.hpp"
#include "tests/support/fake_apiserver.hpp"
#include "tests/support/temp_dir.hpp"
#include "tests/support/tls_certs.hpp"

#include <gtest/gtest.h>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <filesystem>
#include <functional>
#include <future>
#include <mutex>
#include <stdexcept>
#include <string>
#include <string_view>
#include <thread>
#include <utility>
#include <vector>

namespace {

using namespace std::chrono_literals;
using olocal::kube::api_request;
using olocal::kube::api_response;
using olocal::kube::client;
using olocal::kube::connection;
namespace http = olocal::http;

/// Settings for a local test server: fast retries, no throttling.
connection local(uint16_t port) {
  connection c;
  c.server = "http://127.0.0.1:" + std::to_string(port);
  c.qps = 0;
  c.connect_timeout = 5s;
  c.request_timeout = 10s;
  c.max_retries = 3;
  c.retry_base = 1ms;
  c.retry_max = 5ms;
  c.user_agent = "olocal-test/1";
  return c;
}

api_request make(std::string method, std::string path, std::string body = {}) {
  api_request r;
  r.method = std::move(method);
  r.path = std::move(path);
  r.body = std::move(body);
  return r;
}

/// The project's HTTP server with a replaceable handler; records every request.
class recording_server {
public:
  using reply_fn = std::function<http::response(const http::request&, size_t index)>;

  explicit recording_server(reply_fn reply = {})
    : reply_(std::move(reply)),
      server_(http::server_options{}, [this](http::request req, http::responder done) {
        size_t index = 0;
        {
          std::lock_guard lock{mutex_};
          index = requests_.size();
          requests_.push_back(req);
          if (park_) {
            parked_.push_back(std::move(done));
            return;
          }
        }
        done(reply_ ? reply_(req, index) : http::response{});
      }) {}

  ~recording_server() {
    server_.stop(0ms);
    std::lock_guard lock{mutex_};
    parked_.clear();
  }

  uint16_t port() const { return server_.port(); }

  /// From now on requests get no answer (until the server goes away).
  void park() {
    std::lock_guard lock{mutex_};
    park_ = true;
  }

  std::vector<http::request> requests() const {
    std::lock_guard lock{mutex_};
    return requests_;
  }

private:
  reply_fn reply_;
  mutable std::mutex mutex_;
  std::vector<http::request> requests_;
  std::vector<http::responder> parked_;
  bool park_ = false;
  http::server server_; // last: stopped before the members its handler uses
};

http::response status(unsigned code, std::map<std::string, std::string> headers = {}) {
  http::response r;
  r.status = code;
  r.content_type = "application/json";
  r.body = R"({"kind":"Status","code":)" + std::to_string(code) + "}";
  r.headers = std::move(headers);
  return r;
}

/// A port on which nobody listens.
uint16_t closed_port() {
  int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  ::bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr);
  socklen_t len = sizeof addr;
  ::getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len);
  ::close(fd);
  return ntohs(addr.sin_port);
}

// ------------------------------------------------------------- requests ---

TEST(kube_client, methods_bodies_and_content_types_reach_the_server) {
  recording_server server{[](const http::request& req, size_t) {
    http::response r;
    r.content_type = "application/json";
    r.body = req.method + " " + req.body;
    return r;
  }};
  client c{local(server.port())};

  struct call {
    std::string method;
    std::string body;
    std::string content_type;
  };
  const std::vector<call> calls = {
    {"GET", "", "application/json"},
    {"POST", R"({"kind":"Event"})", "application/json"},
    {"PUT", R"({"kind":"Node"})", "application/json"},
    {"PATCH", R"({"metadata":{"labels":{"a":"b"}}})", "application/merge-patch+json"},
    {"DELETE", R"({"propagationPolicy":"Background"})", "application/json"},
    {"DELETE", "", "application/json"},
  };
  for (const auto& call : calls) {
    auto r = make(call.method, "/api/v1/namespaces/default/things/x", call.body);
    r.content_type = call.content_type;
    const api_response got = c.send(r);
    EXPECT_EQ(got.status, 200) << call.method << ": " << got.error;
    EXPECT_EQ(got.body, call.method + " " + call.body);
    EXPECT_EQ(got.attempts, 1u);
    EXPECT_EQ(got.headers.at("content-type"), "application/json");
    EXPECT_TRUE(got.error.empty());
  }

  const auto seen = server.requests();
  ASSERT_EQ(seen.size(), calls.size());
  for (size_t i = 0; i < calls.size(); ++i) {
    SCOPED_TRACE(calls[i].method);
    EXPECT_EQ(seen[i].method, calls[i].method);
    EXPECT_EQ(seen[i].target, "/api/v1/namespaces/default/things/x");
    EXPECT_EQ(seen[i].body, calls[i].body);
    EXPECT_EQ(seen[i].headers.at("accept"), "application/json");
    EXPECT_EQ(seen[i].headers.at("user-agent"), "olocal-test/1");
    EXPECT_EQ(seen[i].headers.count("authorization"), 0u);
    if (calls[i].body.empty()) {
      EXPECT_EQ(seen[i].headers.count("content-type"), 0u);
    } else {
      EXPECT_EQ(seen[i].headers.at("content-type"), calls[i].content_type);
    }
  }
  EXPECT_EQ(c.stats().attempts, calls.size());
  EXPECT_EQ(c.stats().retries, 0u);
}

TEST(kube_client, path_and_query_are_sent_as_given) {
  recording_server server;
  client c{local(server.port())};
  const std::string target = "/api/v1/nodes?labelSelector=a%3Db&limit=500";
  EXPECT_EQ(c.send(make("GET", target)).status, 200);
  ASSERT_EQ(server.requests().size(), 1u);
  EXPECT_EQ(server.requests()[0].target, target);
}

TEST(kube_client, a_server_url_with_a_path_prefix_and_trailing_slash) {
  recording_server server;
  auto settings = local(server.port());
  settings.server += "/k8s/clusters/c-1/";
  client c{settings};
  EXPECT_EQ(c.send(make("GET", "/api/v1/nodes")).status, 200);
  EXPECT_EQ(server.requests().at(0).target, "/k8s/clusters/c-1/api/v1/nodes");
}

TEST(kube_client, a_path_without_leading_slash_is_refused_without_sending) {
  recording_server server;
  client c{local(server.port())};
  const auto got = c.send(make("GET", "api/v1/nodes"));
  EXPECT_EQ(got.status, 0);
  EXPECT_EQ(got.attempts, 0u);
  EXPECT_FALSE(got.error.empty());
  EXPECT_TRUE(server.requests().empty());
}

// -------------------------------------------------------------- retries ---

TEST(kube_client, too_many_requests_with_retry_after_then_success) {
  recording_server server{[](const http::request&, size_t i) {
    return i == 0 ? status(429, {{"Retry-After", "1"}}) : status(200);
  }};
  client c{local(server.port())}; // retry_max 5 ms caps the 1 s hint
  const auto got = c.send(make("GET", "/api/v1/pods"));
  EXPECT_EQ(got.status, 200);
  EXPECT_EQ(got.attempts, 2u);
  EXPECT_EQ(c.stats().attempts, 2u);
  EXPECT_EQ(c.stats().retries, 1u);
}

TEST(kube_client, unavailable_twice_then_success) {
  recording_server server{
    [](const http::request&, size_t i) { return i < 2 ? status(503) : status(200); }};
  client c{local(server.port())};
  const auto got = c.send(make("PUT", "/api/v1/nodes/n1", "{}"));
  EXPECT_EQ(got.status, 200);
  EXPECT_EQ(got.attempts, 3u);
  EXPECT_EQ(server.requests().size(), 3u);
}

TEST(kube_client, every_retryable_status_is_retried_for_idempotent_methods) {
  for (unsigned code : {500u, 502u, 503u, 504u}) {
    for (const char* method : {"GET", "PUT", "PATCH", "DELETE"}) {
      recording_server server{
        [code](const http::request&, size_t i) { return i == 0 ? status(code) : status(200); }};
      client c{local(server.port())};
      const auto got = c.send(make(method, "/x", "{}"));
      EXPECT_EQ(got.status, 200) << method << " " << code;
      EXPECT_EQ(got.attempts, 2u) << method << " " << code;
    }
  }
}

TEST(kube_client, exhausted_retries_return_the_last_answer) {
  recording_server server{[](const http::request&, size_t) { return status(503); }};
  auto settings = local(server.port());
  settings.max_retries = 2;
  client c{settings};
  const auto got = c.send(make("GET", "/api/v1/pods"));
  EXPECT_EQ(got.status, 503);
  EXPECT_EQ(got.attempts, 3u);
  EXPECT_NE(got.body.find("Status"), std::string::npos);
  EXPECT_EQ(c.stats().retries, 2u);
}

TEST(kube_client, other_client_errors_are_not_retried) {
  for (unsigned code : {400u, 403u, 404u, 409u, 422u}) {
    recording_server server{[code](const http::request&, size_t) { return status(code); }};
    client c{local(server.port())};
    const auto got = c.send(make("GET", "/api/v1/nodes/missing"));
    EXPECT_EQ(got.status, static_cast<long>(code));
    EXPECT_EQ(got.attempts, 1u) << code;
    EXPECT_EQ(server.requests().size(), 1u);
  }
}

TEST(kube_client, post_is_not_retried_on_server_errors) {
  for (unsigned code : {500u, 502u, 503u, 504u}) {
    recording_server server{[code](const http::request&, size_t) { return status(code); }};
    client c{local(server.port())};
    const auto got = c.send(make("POST", "/api/v1/namespaces/default/events", "{}"));
    EXPECT_EQ(got.status, static_cast<long>(code));
    EXPECT_EQ(got.attempts, 1u) << code;
  }
}

TEST(kube_client, post_is_retried_on_too_many_requests) {
  recording_server server{
    [](const http::request&, size_t i) { return i == 0 ? status(429) : status(201); }};
  client c{local(server.port())};
  const auto got = c.send(make("POST", "/api/v1/namespaces/default/events", "{}"));
  EXPECT_EQ(got.status, 201);
  EXPECT_EQ(got.attempts, 2u);
}

TEST(kube_client, retry_false_makes_exactly_one_attempt) {
  recording_server server{[](const http::request&, size_t) { return status(503); }};
  client c{local(server.port())};
  auto r = make("GET", "/api/v1/pods");
  r.retry = false;
  const auto got = c.send(r);
  EXPECT_EQ(got.status, 503);
  EXPECT_EQ(got.attempts, 1u);
}

TEST(kube_client, connection_refused_is_a_transport_error_and_retried) {
  auto settings = local(closed_port());
  settings.token = "secret-token-value";
  client c{settings};
  for (const char* method : {"GET", "POST"}) { // never sent: even POST is retried
    const auto got = c.send(make(method, "/api/v1/pods", "{}"));
    EXPECT_EQ(got.status, 0) << method;
    EXPECT_EQ(got.attempts, settings.max_retries + 1) << method;
    EXPECT_FALSE(got.error.empty());
    EXPECT_EQ(got.error.find("secret-token-value"), std::string::npos);
  }
}

TEST(kube_client, a_late_answer_times_out_and_only_idempotent_requests_are_retried) {
  recording_server server;
  server.park();
  auto settings = local(server.port());
  settings.request_timeout = 100ms;
  settings.max_retries = 1;
  client c{settings};

  const auto get = c.send(make("GET", "/api/v1/pods"));
  EXPECT_EQ(get.status, 0);
  EXPECT_EQ(get.attempts, 2u);
  EXPECT_NE(get.error.find("imeout"), std::string::npos) << get.error;

  const auto post = c.send(make("POST", "/api/v1/namespaces/default/events", "{}"));
  EXPECT_EQ(post.status, 0);
  EXPECT_EQ(post.attempts, 1u) << "the server may have processed it";

  auto r = make("GET", "/api/v1/pods"); // the per-request timeout wins
  r.timeout = 50ms;
  r.retry = false;
  EXPECT_EQ(c.send(r).attempts, 1u);
  EXPECT_EQ(server.requests().size(), 4u);
}

// ----------------------------------------------------------------- auth ---

std::string bearer_of(const http::request& r) {
  auto it = r.headers.find("authorization");
  return it == r.headers.end() ? "" : it->second;
}

TEST(kube_client, inline_token_is_sent_and_a_401_is_not_retried) {
  recording_server server{[](const http::request&, size_t) { return status(401); }};
  auto settings = local(server.port());
  settings.token = "abc.def";
  client c{settings};
  const auto got = c.send(make("GET", "/api/v1/pods"));
  EXPECT_EQ(got.status, 401);
  EXPECT_EQ(got.attempts, 1u); // nothing to re-read
  EXPECT_EQ(bearer_of(server.requests().at(0)), "Bearer abc.def");
}

TEST(kube_client, a_rotated_token_file_is_picked_up) {
  olocal::test::temp_dir dir{"kube-client"};
  const auto file = dir.write("token", "token-one\n");
  recording_server server;
  auto settings = local(server.port());
  settings.token_file = file.string();
  client c{settings};

  EXPECT_EQ(c.send(make("GET", "/a")).status, 200);
  dir.write("token", "token-two-is-longer\n");
  EXPECT_EQ(c.send(make("GET", "/b")).status, 200);

  const auto seen = server.requests();
  ASSERT_EQ(seen.size(), 2u);
  EXPECT_EQ(bearer_of(seen[0]), "Bearer token-one");
  EXPECT_EQ(bearer_of(seen[1]), "Bearer token-two-is-longer");
}

TEST(kube_client, a_401_rereads_the_token_file_once_and_retries) {
  olocal::test::temp_dir dir{"kube-client"};
  const auto file = dir.write("token", "old-token");
  const auto written = std::filesystem::last_write_time(file);
  // The server refuses the old token and rotates the file behind the client's
  // back: same size, same mtime, so only the 401 can make the client re-read.
  recording_server server{[&](const http::request& req, size_t) {
    if (bearer_of(req) != "Bearer new-token") {
      dir.write("token", "new-token");
      std::filesystem::last_write_time(file, written);
      return status(401);
    }
    return status(200);
  }};
  auto settings = local(server.port());
  settings.token_file = file.string();
  client c{settings};

  const auto got = c.send(make("GET", "/api/v1/pods"));
  EXPECT_EQ(got.status, 200);
  EXPECT_EQ(got.attempts, 2u);
  const auto seen = server.requests();
  ASSERT_EQ(seen.size(), 2u);
  EXPECT_EQ(bearer_of(seen[0]), "Bearer old-token");
  EXPECT_EQ(bearer_of(seen[1]), "Bearer new-token");
}

TEST(kube_client, a_token_refused_after_the_reread_gives_the_401) {
  olocal::test::temp_dir dir{"kube-client"};
  recording_server server{[](const http::request&, size_t) { return status(401); }};
  auto settings = local(server.port());
  settings.token_file = dir.write("token", "wrong").string();
  client c{settings};
  const auto got = c.send(make("POST", "/api/v1/namespaces/default/events", "{}"));
  EXPECT_EQ(got.status, 401);
  EXPECT_EQ(got.attempts, 2u); // one re-read, one more try, no more
}

// ----------------------------------------------- concurrency, throttling ---

TEST(kube_client, concurrent_senders_share_one_client) {
  recording_server server{[](const http::request& req, size_t) {
    http::response r;
    r.body = req.target;
    return r;
  }};
  client c{local(server.port())};
  constexpr int k_threads = 4;
  constexpr int k_each = 10;
  std::atomic<int> ok{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < k_threads; ++t)
    threads.emplace_back([&, t] {
      for (int i = 0; i < k_each; ++i) {
        const std::string path = "/t" + std::to_string(t) + "/" + std::to_string(i);
        const auto got = c.send(make("GET", path));
        if (got.status == 200 && got.body == path)
          ++ok;
      }
    });
  for (auto& t : threads)
    t.join();
  EXPECT_EQ(ok.load(), k_threads * k_each);
  EXPECT_EQ(c.stats().attempts, uint64_t{k_threads * k_each});
}

TEST(kube_client, requests_beyond_the_burst_wait_for_the_rate_limiter) {
  recording_server server;
  auto settings = local(server.port());
  settings.qps = 1;
  settings.burst = 2;
  client c{settings};
  for (int i = 0; i < 3; ++i)
    EXPECT_EQ(c.send(make("GET", "/x")).status, 200);
  // The bucket holds two: the third request finds it empty (unless the first
  // two took the whole second a token needs to come back).
  EXPECT_EQ(c.stats().throttled, 1u);
  EXPECT_EQ(c.stats().attempts, 3u);
}

// ----------------------------------------------------------- validation ---

void expect_invalid(const connection& settings, const std::string& field) {
  try {
    client c{settings};
    ADD_FAILURE() << "accepted; expected a complaint about " << field;
  } catch (const std::invalid_argument& e) {
    EXPECT_NE(std::string{e.what()}.find(field), std::string::npos) << e.what();
  }
}

TEST(kube_client, bad_settings_are_refused_naming_the_field) {
  connection base;
  base.server = "https://10.0.0.1:6443";
  EXPECT_NO_THROW(client{base});

  for (const char* bad : {"", "not a url", "ftp://host", "https://", "https://h/?q=1"}) {
    auto c = base;
    c.server = bad;
    expect_invalid(c, "server");
  }
  const std::string missing = "/nonexistent/olocal/file";
  for (auto [member, name] : {std::pair{&connection::ca_file, "ca_file"},
                              std::pair{&connection::client_cert_file, "client_cert_file"},
                              std::pair{&connection::token_file, "token_file"}}) {
    auto c = base;
    c.*member = missing;
    expect_invalid(c, name);
  }
  {
    auto c = base;
    c.client_cert_pem = "-----BEGIN CERTIFICATE-----\n...";
    c.client_key_file = missing;
    expect_invalid(c, "client_key_file");
  }
  for (auto [member, name] : {std::pair{&connection::ca_pem, "ca_pem"},
                              std::pair{&connection::client_cert_pem, "client_cert_pem"}}) {
    auto c = base;
    c.*member = "not pem";
    expect_invalid(c, name);
  }
  {
    auto c = base;
    c.client_key_pem = "-----BEGIN PRIVATE KEY-----\n...";
    expect_invalid(c, "client_key"); // a key without a certificate
  }
  {
    auto c = base;
    c.token = "two\nlines";
    expect_invalid(c, "token");
  }
  {
    auto c = base;
    c.tls_server_name = "bad/name";
    expect_invalid(c, "tls_server_name");
  }
  {
    auto c = base;
    c.tls_server_name = "kubernetes.default.svc";
    EXPECT_NO_THROW(client{c});
  }
}

TEST(kube_client, settings_are_kept) {
  auto settings = local(closed_port());
  settings.max_retries = 7;
  client c{settings};
  EXPECT_EQ(c.settings().server, settings.server);
  EXPECT_EQ(c.settings().max_retries, 7u);
}

// ---------------------------------------------------------------- watch ---

/// Accepts one connection, reads the request head, hands the socket to
/// `serve`, then closes it. Socket timeouts keep a broken test from hanging.
class raw_server {
public:
  explicit raw_server(std::function<void(int fd)> serve) {
    listener_ = ::socket(AF_INET, SOCK_STREAM, 0);
    int one = 1;
    ::setsockopt(listener_, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (::bind(listener_, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0 ||
        ::listen(listener_, 4) != 0)
      throw std::runtime_error("raw_server: cannot listen");
    socklen_t len = sizeof addr;
    ::getsockname(listener_, reinterpret_cast<sockaddr*>(&addr), &len);
    port_ = ntohs(addr.sin_port);
    thread_ = std::thread{[this, serve = std::move(serve)] {
      pollfd p{listener_, POLLIN, 0};
      if (::poll(&p, 1, 10'000) != 1)
        return;
      const int fd = ::accept(listener_, nullptr, nullptr);
      if (fd < 0)
        return;
      timeval tv{10, 0};
      ::setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
      ::setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
      std::string head;
      char buf[4096];
      while (head.find("\r\n\r\n") == std::string::npos) {
        const auto n = ::recv(fd, buf, sizeof buf, 0);
        if (n <= 0)
          break;
        head.append(buf, static_cast<size_t>(n));
      }
      head_.set_value(head);
      serve(fd);
      ::close(fd);
    }};
  }
  ~raw_server() {
    thread_.join();
    ::close(listener_);
  }
  uint16_t port() const { return port_; }
  std::string request_head() { return head_.get_future().get(); }

  static void write_all(int fd, std::string_view data) {
    while (!data.empty()) {
      const auto n = ::send(fd, data.data(), data.size(), MSG_NOSIGNAL);
      if (n <= 0)
        return;
      data.remove_prefix(static_cast<size_t>(n));
    }
  }
  static void write_chunk(int fd, std::string_view data) {
    char size[32];
    std::snprintf(size, sizeof size, "%zx\r\n", data.size());
    write_all(fd, std::string{size} + std::string{data} + "\r\n");
  }
  /// Blocks until the client closes the connection (or the socket times out).
  static void wait_for_close(int fd) {
    char buf[256];
    while (::recv(fd, buf, sizeof buf, 0) > 0) {
    }
  }

private:
  int listener_ = -1;
  uint16_t port_ = 0;
  std::promise<std::string> head_;
  std::thread thread_;
};

constexpr std::string_view k_chunked_ok = "HTTP/1.1 200 OK\r\n"
                                          "Content-Type: application/json\r\n"
                                          "Transfer-Encoding: chunked\r\n\r\n";

TEST(kube_client_stream, lines_are_split_correctly_across_chunk_boundaries) {
  raw_server server{[](int fd) {
    raw_server::write_all(fd, k_chunked_ok);
    for (std::string_view piece : {R"({"a":1})"
                                   "\n"
                                   R"({"b")",
                                   R"(:2})"
                                   "\n\n",
                                   R"({"c":3})"
                                   "\r\n"
                                   R"({"d)",
                                   "\":4}", "\n", "tail without newline"}) {
      raw_server::write_chunk(fd, piece);
      std::this_thread::sleep_for(5ms); // separate TCP segments, most likely
    }
    raw_server::write_all(fd, "0\r\n\r\n");
  }};
  auto settings = local(server.port());
  settings.token = "watch-token";
  client c{settings};
  std::vector<std::string> lines;
  std::atomic<bool> stop{false};
  const auto got = c.stream(
    "/api/v1/pods?watch=1&resourceVersion=5",
    [&](std::string_view line) {
      lines.emplace_back(line);
      return true;
    },
    stop);

  EXPECT_EQ(got.status, 200);
  EXPECT_TRUE(got.error.empty()) << got.error;
  EXPECT_EQ(got.attempts, 1u);
  EXPECT_EQ(got.headers.at("content-type"), "application/json");
  EXPECT_EQ(lines,
            (std::vector<std::string>{R"({"a":1})", R"({"b":2})", R"({"c":3})", R"({"d":4})"}));
  const auto head = server.request_head();
  EXPECT_TRUE(head.starts_with("GET /api/v1/pods?watch=1&resourceVersion=5 HTTP/1.1\r\n")) << head;
  EXPECT_NE(head.find("Authorization: Bearer watch-token\r\n"), std::string::npos);
  EXPECT_NE(head.find("Accept: application/json\r\n"), std::string::npos);
}

TEST(kube_client_stream, the_stop_flag_ends_a_silent_stream) {
  raw_server server{[](int fd) {
    raw_server::write_all(fd, k_chunked_ok);
    raw_server::write_chunk(fd, "{\"type\":\"ADDED\"}\n");
    raw_server::wait_for_close(fd); // then silence: only the stop flag ends it
  }};
  client c{local(server.port())};
  std::atomic<bool> stop{false};
  std::promise<void> first_line;
  std::thread stopper{[&] {
    first_line.get_future().wait();
    stop = true;
  }};
  int lines = 0;
  const auto got = c.stream(
    "/api/v1/pods?watch=1",
    [&](std::string_view) {
      if (++lines == 1)
        first_line.set_value();
      return true;
    },
    stop);
  stopper.join();
  EXPECT_EQ(got.status, 200);
  EXPECT_TRUE(got.error.empty()) << got.error;
  EXPECT_EQ(lines, 1);
}

TEST(kube_client_stream, on_line_returning_false_ends_the_stream) {
  raw_server server{[](int fd) {
    raw_server::write_all(fd, k_chunked_ok);
    raw_server::write_chunk(fd, "one\ntwo\nthree\n");
    raw_server::wait_for_close(fd);
  }};
  client c{local(server.port())};
  std::atomic<bool> stop{false};
  std::vector<std::string> lines;
  const auto got = c.stream(
    "/w",
    [&](std::string_view line) {
      lines.emplace_back(line);
      return lines.size() < 2;
    },
    stop);
  EXPECT_EQ(got.status, 200);
  EXPECT_TRUE(got.error.empty()) << got.error;
  EXPECT_EQ(lines, (std::vector<std::string>{"one", "two"}));
}

TEST(kube_client_stream, an_error_answer_comes_back_whole_and_is_not_split) {
  const std::string body = "{\"kind\":\"Status\",\n\"code\":410}";
  raw_server server{[&](int fd) {
    raw_server::write_all(fd, "HTTP/1.1 410 Gone\r\nContent-Type: application/json\r\n"
                              "Content-Length: " +
                                std::to_string(body.size()) + "\r\n\r\n" + body);
  }};
  client c{local(server.port())};
  std::atomic<bool> stop{false};
  int lines = 0;
  const auto got = c.stream(
    "/w",
    [&](std::string_view) {
      ++lines;
      return true;
    },
    stop);
  EXPECT_EQ(got.status, 410);
  EXPECT_EQ(got.body, body);
  EXPECT_TRUE(got.error.empty()) << got.error;
  EXPECT_EQ(lines, 0);
}

TEST(kube_client_stream, a_stream_cut_off_midway_reports_an_error) {
  raw_server server{[](int fd) {
    raw_server::write_all(fd, k_chunked_ok);
    raw_server::write_chunk(fd, "complete\nincompl");
    // closes without the final chunk
  }};
  client c{local(server.port())};
  std::atomic<bool> stop{false};
  std::vector<std::string> lines;
  const auto got = c.stream(
    "/w",
    [&](std::string_view line) {
      lines.emplace_back(line);
      return true;
    },
    stop);
  EXPECT_EQ(got.status, 200);
  EXPECT_FALSE(got.error.empty());
  EXPECT_EQ(lines, (std::vector<std::string>{"complete"}));
}

TEST(kube_client_stream, connection_refused_is_not_retried) {
  client c{local(closed_port())};
  std::atomic<bool> stop{false};
  const auto got = c.stream(
    "/w", [](std::string_view) { return true; }, stop);
  EXPECT_EQ(got.status, 0);
  EXPECT_EQ(got.attempts, 1u);
  EXPECT_FALSE(got.error.empty());
  EXPECT_EQ(c.stats().retries, 0u);
}

TEST(kube_client_stream, a_stop_flag_already_set_sends_nothing) {
  client c{local(closed_port())};
  std::atomic<bool> stop{true};
  const auto got = c.stream(
    "/w", [](std::string_view) { return true; }, stop);
  EXPECT_EQ(got.attempts, 0u);
  EXPECT_EQ(c.stats().attempts, 0u);
}

TEST(kube_client_stream, an_exception_from_on_line_reaches_the_caller) {
  raw_server server{[](int fd) {
    raw_server::write_all(fd, k_chunked_ok);
    raw_server::write_chunk(fd, "boom\n");
    raw_server::wait_for_close(fd);
  }};
  client c{local(server.port())};
  std::atomic<bool> stop{false};
  EXPECT_THROW(
    c.stream(
      "/w", [](std::string_view) -> bool { throw std::runtime_error("caller's"); }, stop),
    std::runtime_error);
}

// ------------------------------------------------------------------ TLS ---
// Against tests/support's fake API server: HTTPS with a throwaway PKI, token
// and client-certificate authentication, real watch streams.

using olocal::test::fake_apiserver;
using olocal::test::fake_apiserver_options;
using olocal::test::make_test_pki;
using olocal::test::test_pki;

/// Settings trusting `ca` for `server`, with the quick retries of local().
connection over_tls(const fake_apiserver& server, const std::string& ca) {
  auto c = local(server.port());
  c.server = server.base_url();
  c.ca_pem = ca;
  return c;
}

const std::string k_node = R"({"apiVersion":"v1","kind":"Node","metadata":{"name":"n1"}})";

class kube_client_tls : public ::testing::Test {
protected:
  static fake_apiserver_options options(const test_pki& pki) {
    fake_apiserver_options o;
    o.tls = pki;
    o.require_token = "good-token";
    o.accept_client_certs = true;
    return o;
  }
  test_pki pki_ = make_test_pki("kube-client-test");
  fake_apiserver server_{options(pki_)};
};

TEST_F(kube_client_tls, a_trusted_ca_and_a_token_work) {
  auto settings = over_tls(server_, pki_.ca.cert);
  settings.token = "good-token";
  client c{settings};
  const auto got = c.send(make("GET", "/api/v1/nodes"));
  EXPECT_EQ(got.status, 200) << got.error;
  EXPECT_NE(got.body.find("NodeList"), std::string::npos) << got.body;
  EXPECT_EQ(got.attempts, 1u);
}

TEST_F(kube_client_tls, the_ca_may_come_from_a_file) {
  olocal::test::temp_dir dir{"kube-client"};
  auto settings = over_tls(server_, "");
  settings.ca_file = dir.write("ca.crt", pki_.ca.cert).string();
  settings.token = "good-token";
  client c{settings};
  EXPECT_EQ(c.send(make("GET", "/api/v1/nodes")).status, 200);
}

TEST_F(kube_client_tls, a_different_ca_is_refused_and_not_retried) {
  const auto other = make_test_pki();
  auto settings = over_tls(server_, other.ca.cert);
  settings.token = "good-token";
  client c{settings};
  const auto got = c.send(make("GET", "/api/v1/nodes"));
  EXPECT_EQ(got.status, 0);
  EXPECT_NE(got.error.find("certificate"), std::string::npos) << got.error;
  EXPECT_EQ(got.attempts, 1u); // a verification failure does not heal by retrying
  EXPECT_EQ(got.error.find("good-token"), std::string::npos);
}

TEST_F(kube_client_tls, system_cas_alone_do_not_trust_the_test_ca) {
  auto settings = over_tls(server_, "");
  settings.token = "good-token";
  client c{settings};
  const auto got = c.send(make("GET", "/api/v1/nodes"));
  EXPECT_EQ(got.status, 0);
  EXPECT_NE(got.error.find("certificate"), std::string::npos) << got.error;
}

TEST_F(kube_client_tls, insecure_skip_verify_accepts_an_unknown_ca) {
  auto settings = over_tls(server_, "");
  settings.insecure_skip_verify = true;
  settings.token = "good-token";
  client c{settings};
  EXPECT_EQ(c.send(make("GET", "/api/v1/nodes")).status, 200);
}

TEST_F(kube_client_tls, tls_server_name_is_the_name_that_is_verified) {
  // The certificate names 127.0.0.1 and localhost.
  auto settings = over_tls(server_, pki_.ca.cert);
  settings.token = "good-token";
  settings.tls_server_name = "localhost";
  {
    client c{settings};
    const auto got = c.send(make("GET", "/api/v1/nodes"));
    EXPECT_EQ(got.status, 200) << got.error;
  }
  settings.tls_server_name = "kubernetes.default.svc";
  {
    client c{settings};
    const auto got = c.send(make("GET", "/api/v1/nodes"));
    EXPECT_EQ(got.status, 0);
    EXPECT_NE(got.error.find("kubernetes.default.svc"), std::string::npos) << got.error;
  }
}

TEST_F(kube_client_tls, a_wrong_token_gets_401_after_one_reread) {
  olocal::test::temp_dir dir{"kube-client"};
  auto settings = over_tls(server_, pki_.ca.cert);
  settings.token_file = dir.write("token", "bad-token\n").string();
  client c{settings};
  const auto bad = c.send(make("GET", "/api/v1/nodes"));
  EXPECT_EQ(bad.status, 401);
  EXPECT_EQ(bad.attempts, 2u);

  dir.write("token", "good-token\n"); // the kubelet rotates it
  const auto good = c.send(make("GET", "/api/v1/nodes"));
  EXPECT_EQ(good.status, 200) << good.error;
  EXPECT_EQ(good.attempts, 1u);
}

TEST_F(kube_client_tls, a_client_certificate_is_accepted) {
  auto settings = over_tls(server_, pki_.ca.cert);
  settings.client_cert_pem = pki_.client.cert;
  settings.client_key_pem = pki_.client.key;
  client c{settings};
  const auto got = c.send(make("POST", "/api/v1/nodes", k_node));
  EXPECT_EQ(got.status, 201) << got.error << got.body;
  const auto log = server_.request_log();
  ASSERT_FALSE(log.empty());
  EXPECT_EQ(log.back().user, "kube-client-test");
}

TEST_F(kube_client_tls, a_client_certificate_from_files_is_accepted) {
  olocal::test::temp_dir dir{"kube-client"};
  auto settings = over_tls(server_, pki_.ca.cert);
  settings.client_cert_file = dir.write("tls.crt", pki_.client.cert).string();
  settings.client_key_file = dir.write("tls.key", pki_.client.key).string();
  client c{settings};
  EXPECT_EQ(c.send(make("GET", "/api/v1/nodes")).status, 200);
  EXPECT_EQ(server_.request_log().back().user, "kube-client-test");
}

TEST_F(kube_client_tls, no_credentials_get_401) {
  client c{over_tls(server_, pki_.ca.cert)};
  const auto got = c.send(make("GET", "/api/v1/nodes"));
  EXPECT_EQ(got.status, 401);
  EXPECT_EQ(got.attempts, 1u);
}

TEST_F(kube_client_tls, throttling_answers_are_retried) {
  server_.fail_next(2, 429, "/api/v1/nodes", 0);
  auto settings = over_tls(server_, pki_.ca.cert);
  settings.token = "good-token";
  client c{settings};
  const auto got = c.send(make("GET", "/api/v1/nodes"));
  EXPECT_EQ(got.status, 200) << got.error;
  EXPECT_EQ(got.attempts, 3u);
}

TEST_F(kube_client_tls, a_watch_streams_events_until_on_line_says_stop) {
  auto settings = over_tls(server_, pki_.ca.cert);
  settings.token = "good-token";
  client c{settings};
  std::atomic<bool> stop{false};
  std::vector<std::string> events;
  std::thread watcher{[&] {
    const auto got = c.stream(
      "/api/v1/nodes?watch=1&resourceVersion=" + server_.resource_version(),
      [&](std::string_view line) {
        events.emplace_back(line);
        return false; // one event is enough
      },
      stop);
    EXPECT_EQ(got.status, 200);
    EXPECT_TRUE(got.error.empty()) << got.error;
  }};
  ASSERT_TRUE(server_.wait_for_open_watches(1, 10s));
  EXPECT_EQ(c.send(make("POST", "/api/v1/nodes", k_node)).status, 201);
  watcher.join();
  ASSERT_EQ(events.size(), 1u);
  EXPECT_NE(events[0].find(R"("type":"ADDED")"), std::string::npos) << events[0];
  EXPECT_NE(events[0].find(R"("name":"n1")"), std::string::npos) << events[0];
}

TEST_F(kube_client_tls, a_watch_ends_promptly_on_stop_and_with_an_error_when_dropped) {
  auto settings = over_tls(server_, pki_.ca.cert);
  settings.token = "good-token";
  client c{settings};
  ASSERT_EQ(c.send(make("POST", "/api/v1/nodes", k_node)).status, 201);
  // A watch without resourceVersion starts with a synthetic ADDED per object:
  // once that line is here, the stream is established on both sides.
  for (const bool drop : {false, true}) {
    SCOPED_TRACE(drop ? "dropped by the server" : "stopped by the caller");
    std::atomic<bool> stop{false};
    std::promise<void> first_line;
    std::thread ender{[&] {
      first_line.get_future().wait();
      if (drop)
        server_.drop_watches();
      else
        stop = true;
    }};
    int lines = 0;
    const auto got = c.stream(
      "/api/v1/nodes?watch=1",
      [&](std::string_view) {
        if (++lines == 1)
          first_line.set_value();
        return true;
      },
      stop);
    if (lines == 0)
      first_line.set_value(); // let the thread end; the expectations below fail
    ender.join();
    EXPECT_EQ(got.status, 200);
    EXPECT_EQ(lines, 1);
    EXPECT_EQ(got.error.empty(), !drop) << got.error; // dropped: the caller reconnects
  }
}

} // namespace
