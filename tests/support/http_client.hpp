#pragma once

// A deliberately small blocking HTTP/1.1 client on POSIX sockets for tests:
// independent of the server code under test (no Beast), one request per
// connection ("Connection: close").

#include <cstdint>
#include <map>
#include <string>

namespace olocal::test {

struct http_reply {
  int status = 0;                             ///< 0 when the connection failed
  std::map<std::string, std::string> headers; ///< lower-case names
  std::string body;
  std::string error; ///< why status is 0
};

http_reply http_request(uint16_t port, const std::string& method, const std::string& target,
                        const std::map<std::string, std::string>& headers = {},
                        const std::string& body = {}, int timeout_ms = 10'000);

inline http_reply http_get(uint16_t port, const std::string& target,
                           const std::map<std::string, std::string>& headers = {}) {
  return http_request(port, "GET", target, headers);
}

/// True if a TCP connection to 127.0.0.1:port is accepted.
bool can_connect(uint16_t port);

} // namespace olocal::test
