#pragma once

// A blocking HTTPS client for the Kubernetes API server on libcurl: TLS with
// the kubeconfig's CA and client certificate, bearer tokens (rotating
// service-account token files), client-side rate limiting and retries with
// backoff. No JSON here: bodies go in and come out as text.
//
// Thread-safe: any number of threads may call send() and stream() at once.
// Nothing here throws after construction; failures come back in api_response.

#include "gateways/kube/connection.hpp"

#include <atomic>
#include <chrono>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <string_view>

namespace olocal::kube {

struct api_request {
  std::string method = "GET";
  std::string path; ///< "/api/v1/nodes?labelSelector=a%3Db" (path + query, already encoded)
  std::string body;
  std::string content_type = "application/json";
  std::chrono::milliseconds timeout{0}; ///< per attempt; 0 = connection.request_timeout
  bool retry = true;                    ///< false: exactly one attempt
};

struct api_response {
  /// HTTP status; 0 = no HTTP answer (transport failure, or an incomplete one).
  long status = 0;
  std::string body;
  /// Transport failure text (never contains the token). Set when status == 0;
  /// for stream() also when the stream broke after the status arrived.
  std::string error;
  unsigned attempts = 0;                      ///< how many tries were made
  std::map<std::string, std::string> headers; ///< lower-case names, of the last attempt
};

class client {
public:
  /// Validates the settings: a bad server URL, unreadable files or malformed
  /// PEM text throw std::invalid_argument naming the field.
  explicit client(connection c);
  ~client();

  client(const client&) = delete;
  client& operator=(const client&) = delete;

  /// One request with retries (see the retry policy in client.cpp): 429 (its
  /// Retry-After honoured up to retry_max), 500/502/503/504 and transport
  /// errors, with exponential backoff and full jitter, up to max_retries.
  /// POST is retried only on 429 and when the request certainly never reached
  /// the server. A 401 with a token file re-reads the file and tries once more.
  api_response send(const api_request& r);

  /// A watch: GET `path` and call `on_line` for every complete '\n'-terminated
  /// line of a 2xx answer (without the '\n'; empty lines skipped; an
  /// unterminated tail is dropped). A non-2xx answer is not split: its body
  /// comes back in the response. Returns when the server ends the stream, on a
  /// transport error, when on_line returns false, or within about 100 ms after
  /// `stop` becomes true; the last two are clean ends (no error). Never
  /// retried (the caller reconnects); rate-limited like send(); only the
  /// connect timeout applies, plus TCP keepalive.
  api_response stream(const std::string& path, const std::function<bool(std::string_view)>& on_line,
                      const std::atomic<bool>& stop);

  const connection& settings() const;

  /// Counters for tests and metrics.
  struct counters {
    uint64_t attempts;  ///< requests put on the wire (every try, streams included)
    uint64_t retries;   ///< tries beyond the first
    uint64_t throttled; ///< times the rate limiter made a request wait
  };
  counters stats() const;

private:
  struct impl;
  std::unique_ptr<impl> impl_;
};

} // namespace olocal::kube
