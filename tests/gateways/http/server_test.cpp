// Tests for olocal::http::server with a tiny blocking POSIX-socket client.
// No Beast here (compile time), no sleeps for synchronisation: futures and
// socket receive timeouts only.

#include "gateways/http/server.hpp"

#include <gtest/gtest.h>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <chrono>
#include <cstring>
#include <future>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <system_error>
#include <thread>
#include <utility>
#include <vector>

namespace {

using namespace std::chrono_literals;
using olocal::http::request;
using olocal::http::responder;
using olocal::http::response;
using olocal::http::server;
using olocal::http::server_options;

constexpr auto k_wait = 10s; // generous: only reached when something is broken

/// Connects to 127.0.0.1:port; returns the fd or -1 (errno set).
int connect_to(uint16_t port) {
  int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  if (fd < 0)
    return -1;
  timeval tv{};
  tv.tv_sec = std::chrono::duration_cast<std::chrono::seconds>(k_wait).count();
  ::setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
  ::setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(port);
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (::connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0) {
    const int e = errno;
    ::close(fd);
    errno = e;
    return -1;
  }
  return fd;
}

struct reply {
  int status = 0;
  std::map<std::string, std::string> headers; // lower-case names
  std::string body;
};

std::string lower(std::string s) {
  for (char& c : s) {
    if (c >= 'A' && c <= 'Z')
      c = static_cast<char>(c - 'A' + 'a');
  }
  return s;
}

/// A blocking HTTP/1.1 client connection, just enough for these tests.
class client {
public:
  explicit client(uint16_t port) : fd_(connect_to(port)) {}
  ~client() {
    if (fd_ >= 0)
      ::close(fd_);
  }
  client(const client&) = delete;
  client& operator=(const client&) = delete;

  bool connected() const { return fd_ >= 0; }

  bool send(std::string_view data) {
    while (!data.empty()) {
      const ssize_t n = ::send(fd_, data.data(), data.size(), MSG_NOSIGNAL);
      if (n <= 0)
        return false;
      data.remove_prefix(static_cast<size_t>(n));
    }
    return true;
  }

  /// Reads one response (Content-Length framing; none = empty body unless
  /// `body_to_eof`). nullopt on EOF/error/timeout before a full response.
  std::optional<reply> read_response(bool body_to_eof = false) {
    size_t end;
    while ((end = buf_.find("\r\n\r\n")) == std::string::npos) {
      if (!fill())
        return std::nullopt;
    }
    reply r;
    const std::string head = buf_.substr(0, end);
    buf_.erase(0, end + 4);
    size_t line_end = head.find("\r\n");
    const std::string status_line = head.substr(0, line_end);
    if (status_line.rfind("HTTP/1.", 0) != 0 || status_line.size() < 12)
      return std::nullopt;
    r.status = std::stoi(status_line.substr(9, 3));
    while (line_end != std::string::npos) {
      const size_t start = line_end + 2;
      line_end = head.find("\r\n", start);
      const std::string line =
        head.substr(start, line_end == std::string::npos ? std::string::npos : line_end - start);
      const size_t colon = line.find(':');
      if (colon == std::string::npos)
        continue;
      std::string value = line.substr(colon + 1);
      while (!value.empty() && value.front() == ' ')
        value.erase(0, 1);
      r.headers[lower(line.substr(0, colon))] = value;
    }
    if (auto it = r.headers.find("content-length"); it != r.headers.end() && !head_only_) {
      const size_t len = std::stoul(it->second);
      while (buf_.size() < len) {
        if (!fill())
          return std::nullopt;
      }
      r.body = buf_.substr(0, len);
      buf_.erase(0, len);
    } else if (body_to_eof) {
      while (fill()) {
      }
      r.body = std::move(buf_);
      buf_.clear();
    }
    head_only_ = false;
    return r;
  }

  /// The next response answers a HEAD request: it has no body.
  void expect_head() { head_only_ = true; }

  /// True when the server closed the connection (EOF or reset) with no
  /// further bytes; false on timeout or unexpected data.
  bool wait_closed() {
    if (!buf_.empty())
      return false;
    char c;
    const ssize_t n = ::recv(fd_, &c, 1, 0);
    if (n == 0)
      return true;
    return n < 0 && (errno == ECONNRESET || errno == EPIPE);
  }

  /// Half-close our sending side.
  void shutdown_send() { ::shutdown(fd_, SHUT_WR); }

private:
  bool fill() {
    char tmp[4096];
    const ssize_t n = ::recv(fd_, tmp, sizeof tmp, 0);
    if (n <= 0)
      return false;
    buf_.append(tmp, static_cast<size_t>(n));
    return true;
  }

  int fd_;
  std::string buf_;
  bool head_only_ = false;
};

std::string get(std::string_view target, std::string_view extra = "") {
  return "GET " + std::string(target) + " HTTP/1.1\r\nHost: test\r\n" + std::string(extra) + "\r\n";
}

std::string post(std::string_view target, std::string_view body, std::string_view extra = "") {
  return "POST " + std::string(target) +
         " HTTP/1.1\r\nHost: test\r\nContent-Length: " + std::to_string(body.size()) + "\r\n" +
         std::string(extra) + "\r\n" + std::string(body);
}

/// A handler that answers every request immediately with its path and body.
olocal::http::handler echo_handler() {
  return [](request req, responder reply) {
    response r;
    r.body = req.method + " " + req.path + " " + req.body;
    reply(std::move(r));
  };
}

/// Hands the responders of requests to the test thread, in order.
class parked_requests {
public:
  olocal::http::handler handler() {
    return [this](request req, responder reply) {
      std::lock_guard lock(mu_);
      promises_[next_++].set_value({std::move(req), std::move(reply)});
    };
  }
  /// Waits for the i-th request (0-based) to reach the handler.
  std::optional<std::pair<request, responder>> wait(size_t i) {
    std::future<std::pair<request, responder>> f;
    {
      std::lock_guard lock(mu_);
      f = promises_[i].get_future();
    }
    if (f.wait_for(k_wait) != std::future_status::ready)
      return std::nullopt;
    return f.get();
  }

private:
  std::mutex mu_;
  size_t next_ = 0;
  std::map<size_t, std::promise<std::pair<request, responder>>> promises_;
};

// ------------------------------------------------------------------ tests ---

TEST(HttpServer, PortIsAssigned) {
  server s({}, echo_handler());
  EXPECT_NE(s.port(), 0);
}

TEST(HttpServer, GetRoundTrip) {
  std::promise<request> seen;
  server s({}, [&](request req, responder reply) {
    seen.set_value(req);
    response r;
    r.status = 201;
    r.content_type = "application/json";
    r.body = R"({"ok":true})";
    r.headers["X-Reply"] = "yes";
    reply(std::move(r));
  });
  client c(s.port());
  ASSERT_TRUE(c.connected());
  ASSERT_TRUE(c.send(get("/admin/actors?x=1&y=2", "X-Custom-Header: Value\r\n")));
  auto r = c.read_response();
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 201);
  EXPECT_EQ(r->headers["content-type"], "application/json");
  EXPECT_EQ(r->headers["content-length"], "11");
  EXPECT_EQ(r->headers["server"], "open-local");
  EXPECT_EQ(r->headers["x-reply"], "yes");
  EXPECT_EQ(r->body, R"({"ok":true})");

  auto f = seen.get_future();
  ASSERT_EQ(f.wait_for(k_wait), std::future_status::ready);
  const request req = f.get();
  EXPECT_EQ(req.method, "GET");
  EXPECT_EQ(req.target, "/admin/actors?x=1&y=2");
  EXPECT_EQ(req.path, "/admin/actors");
  EXPECT_EQ(req.query, "x=1&y=2");
  EXPECT_EQ(req.headers.count("X-Custom-Header"), 0u);
  EXPECT_EQ(req.headers.at("x-custom-header"), "Value");
  EXPECT_EQ(req.headers.at("host"), "test");
  EXPECT_EQ(req.body, "");
  EXPECT_EQ(req.peer.rfind("127.0.0.1:", 0), 0u) << req.peer;
  EXPECT_GT(req.peer.size(), std::string("127.0.0.1:").size());
  EXPECT_EQ(s.in_flight(), 0u);
}

TEST(HttpServer, KeepAliveTwoRequestsOnOneConnection) {
  std::mutex mu;
  std::vector<std::string> peers;
  server s({}, [&](request req, responder reply) {
    {
      std::lock_guard lock(mu);
      peers.push_back(req.peer);
    }
    response r;
    r.body = req.path;
    reply(std::move(r));
  });
  client c(s.port());
  ASSERT_TRUE(c.connected());
  ASSERT_TRUE(c.send(get("/one")));
  auto r1 = c.read_response();
  ASSERT_TRUE(r1);
  EXPECT_EQ(r1->body, "/one");
  EXPECT_NE(lower(r1->headers["connection"]), "close");
  ASSERT_TRUE(c.send(get("/two")));
  auto r2 = c.read_response();
  ASSERT_TRUE(r2);
  EXPECT_EQ(r2->body, "/two");
  std::lock_guard lock(mu);
  ASSERT_EQ(peers.size(), 2u);
  EXPECT_EQ(peers[0], peers[1]); // same connection
}

TEST(HttpServer, ConnectionCloseIsHonoured) {
  server s({}, echo_handler());
  client c(s.port());
  ASSERT_TRUE(c.send(get("/bye", "Connection: close\r\n")));
  auto r = c.read_response();
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 200);
  EXPECT_EQ(lower(r->headers["connection"]), "close");
  EXPECT_TRUE(c.wait_closed());
}

TEST(HttpServer, PostBodyIsEchoed) {
  server s({}, [](request req, responder reply) {
    response r;
    r.content_type = req.headers["content-type"];
    r.body = std::move(req.body);
    reply(std::move(r));
  });
  client c(s.port());
  const std::string body = R"({"pod":"p","nodes":["a","b"]})" + std::string(10'000, 'x');
  ASSERT_TRUE(c.send(post("/filter", body, "Content-Type: application/json\r\n")));
  auto r = c.read_response();
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 200);
  EXPECT_EQ(r->headers["content-type"], "application/json");
  EXPECT_EQ(r->body, body);
}

TEST(HttpServer, ChunkedBodyIsDecoded) {
  server s({}, echo_handler());
  client c(s.port());
  ASSERT_TRUE(c.send("POST /c HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n\r\n"
                     "5\r\nhello\r\n6\r\n world\r\n0\r\n\r\n"));
  auto r = c.read_response();
  ASSERT_TRUE(r);
  EXPECT_EQ(r->body, "POST /c hello world");
}

TEST(HttpServer, Expect100ContinueGetsInterimResponse) {
  server s({}, echo_handler());
  client c(s.port());
  ASSERT_TRUE(
    c.send("POST /e HTTP/1.1\r\nHost: t\r\nExpect: 100-continue\r\nContent-Length: 3\r\n\r\n"));
  auto interim = c.read_response();
  ASSERT_TRUE(interim);
  EXPECT_EQ(interim->status, 100);
  ASSERT_TRUE(c.send("abc"));
  auto r = c.read_response();
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 200);
  EXPECT_EQ(r->body, "POST /e abc");
}

TEST(HttpServer, HeadSendsNoBody) {
  server s({}, [](request req, responder reply) {
    response r;
    r.body = "twelve bytes";
    if (req.method == "GET")
      r.body = "get";
    reply(std::move(r));
  });
  client c(s.port());
  ASSERT_TRUE(c.send("HEAD / HTTP/1.1\r\nHost: t\r\n\r\n"));
  c.expect_head();
  auto r = c.read_response();
  ASSERT_TRUE(r);
  EXPECT_EQ(r->headers["content-length"], "12");
  // No stray body on the wire: the next response parses cleanly.
  ASSERT_TRUE(c.send(get("/")));
  auto r2 = c.read_response();
  ASSERT_TRUE(r2);
  EXPECT_EQ(r2->status, 200);
  EXPECT_EQ(r2->body, "get");
}

TEST(HttpServer, OversizeBodyGets413WithoutCallingHandler) {
  std::atomic<int> calls{0};
  server_options o;
  o.max_body_bytes = 1024;
  server s(o, [&](request, responder reply) {
    ++calls;
    reply(response{});
  });
  {
    client c(s.port());
    ASSERT_TRUE(c.send(post("/big", std::string(4096, 'b'))));
    auto r = c.read_response();
    ASSERT_TRUE(r);
    EXPECT_EQ(r->status, 413);
    EXPECT_FALSE(r->body.empty());
    EXPECT_EQ(lower(r->headers["connection"]), "close");
    EXPECT_TRUE(c.wait_closed());
  }
  {
    // Chunked: the limit is hit while reading the body.
    client c(s.port());
    std::string req = "POST /big HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n\r\n";
    for (int i = 0; i < 4; ++i)
      req += "200\r\n" + std::string(512, 'c') + "\r\n";
    req += "0\r\n\r\n";
    ASSERT_TRUE(c.send(req));
    auto r = c.read_response();
    ASSERT_TRUE(r);
    EXPECT_EQ(r->status, 413);
    EXPECT_TRUE(c.wait_closed());
  }
  {
    // Exactly at the limit is fine.
    client c(s.port());
    ASSERT_TRUE(c.send(post("/ok", std::string(1024, 'o'))));
    auto r = c.read_response();
    ASSERT_TRUE(r);
    EXPECT_EQ(r->status, 200);
  }
  EXPECT_EQ(calls.load(), 1);
}

TEST(HttpServer, OversizeHeaderGets431) {
  std::atomic<int> calls{0};
  server_options o;
  o.max_header_bytes = 1024;
  server s(o, [&](request, responder reply) {
    ++calls;
    reply(response{});
  });
  client c(s.port());
  ASSERT_TRUE(c.send(get("/", "X-Big: " + std::string(4096, 'h') + "\r\n")));
  auto r = c.read_response();
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 431);
  EXPECT_TRUE(c.wait_closed());
  EXPECT_EQ(calls.load(), 0);
}

TEST(HttpServer, GarbageGets400AndClose) {
  std::atomic<int> calls{0};
  server s({}, [&](request, responder reply) {
    ++calls;
    reply(response{});
  });
  const std::vector<std::string> bad = {
    std::string("\x01\x02\x03 garbage \xff\r\n\r\n"),
    "GET / HTTP/x.y\r\n\r\n",
    "GET / HTTP/1.1\r\nHost: t\r\nContent-Length: abc\r\n\r\n",
    "GET / HTTP/1.1\r\nBad Header\r\n\r\n",
    std::string("GET /\0 HTTP/1.1\r\n\r\n", 20),
  };
  for (const auto& input : bad) {
    client c(s.port());
    ASSERT_TRUE(c.connected());
    ASSERT_TRUE(c.send(input));
    auto r = c.read_response();
    ASSERT_TRUE(r) << input;
    EXPECT_EQ(r->status, 400) << input;
    EXPECT_EQ(lower(r->headers["connection"]), "close");
    EXPECT_TRUE(c.wait_closed()) << input;
  }
  EXPECT_EQ(calls.load(), 0);
  // The server is still fine.
  client c(s.port());
  ASSERT_TRUE(c.send(get("/")));
  auto r = c.read_response();
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 200);
}

TEST(HttpServer, ClientVanishingMidRequestIsHarmless) {
  server s({}, echo_handler());
  {
    client c(s.port());
    ASSERT_TRUE(c.send("POST / HTTP/1.1\r\nContent-Length: 100\r\n\r\nonly a part"));
  } // closed with the body incomplete
  client c(s.port());
  ASSERT_TRUE(c.send(get("/after")));
  auto r = c.read_response();
  ASSERT_TRUE(r);
  EXPECT_EQ(r->body, "GET /after ");
}

TEST(HttpServer, ReadTimeoutClosesIdleConnection) {
  server_options o;
  o.read_timeout = 200ms;
  server s(o, echo_handler());
  client c(s.port());
  ASSERT_TRUE(c.send("GET / HTTP/1.1\r\n")); // never finished
  EXPECT_TRUE(c.wait_closed());              // long before the client's 10 s timeout
}

TEST(HttpServer, ResponderCalledLaterFromAnotherThread) {
  parked_requests parked;
  server s({}, parked.handler());
  client c(s.port());
  ASSERT_TRUE(c.send(get("/later")));
  auto p = parked.wait(0);
  ASSERT_TRUE(p);
  EXPECT_EQ(p->first.path, "/later");
  EXPECT_EQ(s.in_flight(), 1u);
  std::thread worker([reply = std::move(p->second)] {
    response r;
    r.status = 202;
    r.body = "done later";
    reply(std::move(r));
  });
  auto r = c.read_response();
  worker.join();
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 202);
  EXPECT_EQ(r->body, "done later");
  EXPECT_EQ(s.in_flight(), 0u);
  // The connection is still usable.
  ASSERT_TRUE(c.send(get("/next")));
  auto p2 = parked.wait(1);
  ASSERT_TRUE(p2);
  p2->second(response{});
  auto r2 = c.read_response();
  ASSERT_TRUE(r2);
  EXPECT_EQ(r2->status, 200);
}

TEST(HttpServer, ResponderCalledTwiceSecondIgnored) {
  server s({}, [](request req, responder reply) {
    response first;
    first.body = "first " + req.path;
    response second;
    second.status = 500;
    second.body = "second";
    reply(first);
    reply(second);
    auto copy = reply; // copies share the once-only state
    copy(second);
  });
  client c(s.port());
  ASSERT_TRUE(c.send(get("/a")));
  auto r = c.read_response();
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 200);
  EXPECT_EQ(r->body, "first /a");
  // A stray second response would show up here instead of the real one.
  ASSERT_TRUE(c.send(get("/b")));
  auto r2 = c.read_response();
  ASSERT_TRUE(r2);
  EXPECT_EQ(r2->status, 200);
  EXPECT_EQ(r2->body, "first /b");
  EXPECT_EQ(s.in_flight(), 0u);
}

TEST(HttpServer, DroppedResponderAnswers500) {
  server s({}, [](request, responder) {});
  client c(s.port());
  ASSERT_TRUE(c.send(get("/dropped")));
  auto r = c.read_response();
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 500);
  EXPECT_EQ(s.in_flight(), 0u);
}

TEST(HttpServer, ThrowingHandlerAnswers500) {
  server s({}, [](request, responder) { throw std::runtime_error("boom"); });
  client c(s.port());
  ASSERT_TRUE(c.send(get("/throw")));
  auto r = c.read_response();
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 500);
  ASSERT_TRUE(c.send(get("/again")));
  auto r2 = c.read_response();
  ASSERT_TRUE(r2);
  EXPECT_EQ(r2->status, 500);
}

TEST(HttpServer, BadApplicationHeadersAndStatusAreSanitised) {
  server s({}, [](request, responder reply) {
    response r;
    r.status = 42;                               // not a status
    r.headers["X-Split"] = "a\r\nX-Injected: 1"; // would split the header
    r.headers["Bad Name"] = "v";
    r.headers["Content-Length"] = "999"; // framing is the server's
    r.headers["X-Fine"] = "ok";
    r.body = "b";
    reply(std::move(r));
  });
  client c(s.port());
  ASSERT_TRUE(c.send(get("/")));
  auto r = c.read_response();
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 500);
  EXPECT_EQ(r->headers.count("x-injected"), 0u);
  EXPECT_EQ(r->headers.count("x-split"), 0u);
  EXPECT_EQ(r->headers["content-length"], "1");
  EXPECT_EQ(r->headers["x-fine"], "ok");
  EXPECT_EQ(r->body, "b");
}

TEST(HttpServer, ResponderAfterClientLeftIsDropped) {
  parked_requests parked;
  server s({}, parked.handler());
  std::optional<std::pair<request, responder>> p;
  {
    client c(s.port());
    ASSERT_TRUE(c.send(get("/gone")));
    p = parked.wait(0);
    ASSERT_TRUE(p);
  } // the client leaves before the answer
  response r0;
  r0.body = std::string(100'000, 'z'); // big enough to hit the closed socket
  p->second(std::move(r0));
  p->second(response{}); // and again: ignored

  client c(s.port());
  ASSERT_TRUE(c.send(get("/still-here")));
  auto p2 = parked.wait(1);
  ASSERT_TRUE(p2);
  p2->second(response{});
  auto r = c.read_response();
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 200);
  EXPECT_EQ(s.in_flight(), 0u);
}

TEST(HttpServer, ManyConcurrentClientsOnSeveralThreads) {
  server_options o;
  o.threads = 4;
  server s(o, echo_handler());
  constexpr int k_clients = 8;
  constexpr int k_requests = 25;
  std::atomic<int> ok{0};
  std::vector<std::thread> clients;
  for (int i = 0; i < k_clients; ++i) {
    clients.emplace_back([&, i] {
      client c(s.port());
      for (int j = 0; j < k_requests; ++j) {
        const std::string body = std::to_string(i) + "-" + std::to_string(j);
        if (!c.send(post("/p", body)))
          return;
        auto r = c.read_response();
        if (r && r->body == "POST /p " + body)
          ++ok;
      }
    });
  }
  for (auto& t : clients)
    t.join();
  EXPECT_EQ(ok.load(), k_clients * k_requests);
}

TEST(HttpServer, StopDrainsInFlightRequest) {
  parked_requests parked;
  server s({}, [&](request req, responder reply) {
    if (req.path == "/slow") {
      parked.handler()(std::move(req), std::move(reply));
      return;
    }
    reply(response{});
  });
  const uint16_t port = s.port();

  client idle(port); // answered once, then idle in keep-alive
  ASSERT_TRUE(idle.send(get("/fast")));
  ASSERT_TRUE(idle.read_response());

  client busy(port);
  ASSERT_TRUE(busy.send(get("/slow")));
  auto p = parked.wait(0);
  ASSERT_TRUE(p);
  EXPECT_EQ(s.in_flight(), 1u);

  auto stopped =
    std::async(std::launch::async, [&] { return s.stop(std::chrono::milliseconds(k_wait)); });

  // stop() closes the acceptor first, then idle connections: once the idle
  // connection is closed, new connections must be refused.
  EXPECT_TRUE(idle.wait_closed());
  errno = 0;
  const int fd = connect_to(port);
  EXPECT_EQ(fd, -1);
  EXPECT_EQ(errno, ECONNREFUSED);
  if (fd >= 0)
    ::close(fd);

  // Still draining: the busy request has not been answered.
  EXPECT_EQ(stopped.wait_for(0s), std::future_status::timeout);
  EXPECT_EQ(s.in_flight(), 1u);

  response late;
  late.body = "late answer";
  p->second(std::move(late));
  auto r = busy.read_response();
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 200);
  EXPECT_EQ(r->body, "late answer");
  EXPECT_EQ(lower(r->headers["connection"]), "close");
  EXPECT_TRUE(busy.wait_closed());

  ASSERT_EQ(stopped.wait_for(k_wait), std::future_status::ready);
  EXPECT_EQ(stopped.get(), 0u);
  EXPECT_EQ(s.in_flight(), 0u);
  EXPECT_EQ(s.stop(0ms), 0u); // idempotent
}

TEST(HttpServer, StopWithUnansweredRequestReturnsOneAfterDeadline) {
  std::optional<responder> kept; // outlives the server on purpose
  {
    parked_requests parked;
    server s({}, parked.handler());
    client c(s.port());
    ASSERT_TRUE(c.send(get("/never")));
    auto p = parked.wait(0);
    ASSERT_TRUE(p);
    kept = std::move(p->second);

    const auto t0 = std::chrono::steady_clock::now();
    EXPECT_EQ(s.stop(300ms), 1u);
    EXPECT_GE(std::chrono::steady_clock::now() - t0, 300ms);
    EXPECT_TRUE(c.wait_closed()); // closed without a response

    (*kept)(response{}); // after stop: dropped silently
    EXPECT_EQ(s.in_flight(), 0u);
    EXPECT_EQ(s.stop(0ms), 1u); // idempotent: same result
  }
  (*kept)(response{}); // after the server is gone: still harmless
  kept.reset();
}

TEST(HttpServer, ResponderDestroyedAfterServerIsHarmless) {
  std::optional<responder> kept;
  {
    parked_requests parked;
    server s({}, parked.handler());
    client c(s.port());
    ASSERT_TRUE(c.send(get("/never")));
    auto p = parked.wait(0);
    ASSERT_TRUE(p);
    kept = std::move(p->second);
  }             // ~server: stop(0)
  kept.reset(); // would answer 500: must be dropped silently
}

TEST(HttpServer, StopFromSeveralThreadsAtOnce) {
  server s({}, echo_handler());
  client c(s.port());
  ASSERT_TRUE(c.send(get("/")));
  ASSERT_TRUE(c.read_response());
  auto a = std::async(std::launch::async, [&] { return s.stop(1s); });
  auto b = std::async(std::launch::async, [&] { return s.stop(1s); });
  EXPECT_EQ(a.get(), 0u);
  EXPECT_EQ(b.get(), 0u);
  EXPECT_TRUE(c.wait_closed());
}

TEST(HttpServer, StopFromHandlerClosesIntakeWithoutBlocking) {
  std::atomic<server*> self{nullptr};
  std::atomic<size_t> returned{99};
  server s({}, [&](request, responder reply) {
    // An admin "shutdown" endpoint: stop() on an I/O thread must not block.
    returned = self.load()->stop(std::chrono::milliseconds(k_wait));
    response r;
    r.body = "bye";
    reply(std::move(r));
  });
  self = &s;
  client c(s.port());
  ASSERT_TRUE(c.send(get("/shutdown")));
  auto r = c.read_response();
  ASSERT_TRUE(r);
  EXPECT_EQ(r->body, "bye");
  EXPECT_EQ(lower(r->headers["connection"]), "close"); // intake is closed
  EXPECT_TRUE(c.wait_closed());
  EXPECT_EQ(returned.load(), 1u); // its own request was still unanswered
  EXPECT_EQ(connect_to(s.port()), -1);
  EXPECT_EQ(s.stop(std::chrono::milliseconds(k_wait)), 0u); // the real stop drains and joins
}

TEST(HttpServer, BindingAUsedPortThrows) {
  server first({}, echo_handler());
  server_options o;
  o.port = first.port();
  try {
    server second(o, echo_handler());
    FAIL() << "expected std::system_error";
  } catch (const std::system_error& e) {
    EXPECT_EQ(e.code(), std::errc::address_in_use);
    EXPECT_NE(std::string(e.what()).find("127.0.0.1:" + std::to_string(first.port())),
              std::string::npos)
      << e.what();
  }
  // The first server is unaffected.
  client c(first.port());
  ASSERT_TRUE(c.send(get("/")));
  auto r = c.read_response();
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 200);
}

} // namespace
