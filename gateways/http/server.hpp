#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <string>

namespace olocal::http {

/// One HTTP/1.1 request as the handler sees it. Header names are lower-case.
struct request {
  std::string method; ///< "GET", "POST", ...
  std::string target; ///< path plus query, as sent ("/admin/actors?x=1")
  std::string path;   ///< target without the query
  std::string query;  ///< text after '?', without it ("" if none)
  std::map<std::string, std::string> headers;
  std::string body;
  std::string peer; ///< remote address "ip:port"
};

struct response {
  unsigned status = 200;
  std::string content_type = "text/plain; charset=utf-8";
  std::string body;
  std::map<std::string, std::string> headers; ///< extra headers
};

/// Completion callback: call exactly once, from any thread, at any time.
using responder = std::function<void(response)>;

/// The application side. Runs on a server thread: it must not block; slow work
/// goes to actors and the answer comes back through the responder.
using handler = std::function<void(request, responder)>;

struct server_options {
  std::string address = "127.0.0.1";
  uint16_t port = 0;               ///< 0 = pick a free port
  unsigned threads = 1;            ///< I/O threads
  size_t max_body_bytes = 1 << 20; ///< larger bodies get 413 without calling the handler
  size_t max_header_bytes = 16 << 10;
  std::chrono::milliseconds read_timeout{30'000}; ///< whole request, per connection
};

/// A small HTTP/1.1 server (keep-alive, no TLS) for /metrics, health, admin
/// and the scheduler extender.
class server {
public:
  /// Binds and starts serving. Throws std::system_error when the address
  /// cannot be bound (the only exception it throws, at start-up).
  server(server_options options, handler on_request);
  ~server(); ///< calls stop(0)

  server(const server&) = delete;
  server& operator=(const server&) = delete;

  /// The bound port (useful with port 0).
  uint16_t port() const;

  /// Stops accepting new connections and new requests (intake closed); waits
  /// up to `drain` for requests whose responder has not run yet, sends their
  /// responses, then closes every connection and joins the threads.
  /// Returns the number of requests that were still unanswered at the
  /// deadline (0 = clean drain). Idempotent.
  size_t stop(std::chrono::milliseconds drain);

  /// Requests accepted whose responder has not run yet.
  size_t in_flight() const;

private:
  struct impl;
  std::unique_ptr<impl> impl_;
};

} // namespace olocal::http
