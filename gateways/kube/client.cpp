#include "gateways/kube/client.hpp"

#include "actors/core/log.hpp"
#include "gateways/kube/rate_limiter.hpp"

#include <curl/curl.h>
#include <sys/stat.h>

#include <algorithm>
#include <cctype>
#include <exception>
#include <fstream>
#include <mutex>
#include <optional>
#include <random>
#include <sstream>
#include <stdexcept>
#include <thread>
#include <utility>
#include <vector>

// Retry policy (send() only; streams are never retried):
//
//   answer / failure                      GET PUT PATCH DELETE ...   POST
//   429 Too Many Requests                 yes                        yes
//   500, 502, 503, 504                    yes                        no
//   transport error, request never sent   yes                        yes
//   transport error, maybe processed      yes                        no
//   TLS verification, bad options, ...    no (permanent)             no
//   any other status (2xx, 3xx, 4xx)      no                         no
//
// The wait before retry n (0-based) is the answer's Retry-After in seconds when
// it has one, else uniform in [0, min(retry_max, retry_base * 2^n)] (full
// jitter); both capped at retry_max. A 401 while the token comes from a file
// re-reads the file and tries once more, without waiting and outside
// max_retries. api_request::retry = false turns all of this off.

namespace olocal::kube {
namespace {

using namespace std::chrono_literals;

constexpr std::string_view k_who = "kube-client";
constexpr auto k_token_max_age = 60s;         ///< re-read the token file at least this often
constexpr size_t k_max_idle_handles = 8;      ///< easy handles kept for connection reuse
constexpr size_t k_max_line_bytes = 64 << 20; ///< a longer watch line aborts the stream
constexpr size_t k_max_error_body = 1 << 20;  ///< kept of a non-2xx stream answer
constexpr auto k_stream_poll = 100ms;         ///< how often a stream looks at its stop flag
constexpr long k_keepalive_idle_s = 30;
constexpr long k_keepalive_interval_s = 10;

void global_init_once() {
  static const CURLcode rc = curl_global_init(CURL_GLOBAL_DEFAULT);
  if (rc != CURLE_OK)
    throw std::runtime_error(std::string{"curl_global_init failed: "} + curl_easy_strerror(rc));
}

struct easy_deleter {
  void operator()(CURL* h) const { curl_easy_cleanup(h); }
};
using easy_ptr = std::unique_ptr<CURL, easy_deleter>;

struct slist_deleter {
  void operator()(curl_slist* l) const { curl_slist_free_all(l); }
};
using slist_ptr = std::unique_ptr<curl_slist, slist_deleter>;

struct multi_deleter {
  void operator()(CURLM* m) const { curl_multi_cleanup(m); }
};
using multi_ptr = std::unique_ptr<CURLM, multi_deleter>;

struct url_deleter {
  void operator()(CURLU* u) const { curl_url_cleanup(u); }
};

/// Appends to a header list; false when libcurl is out of memory.
bool append(slist_ptr& list, const std::string& line) {
  curl_slist* grown = curl_slist_append(list.get(), line.c_str());
  if (grown == nullptr)
    return false;
  (void) list.release();
  list.reset(grown);
  return true;
}

std::string_view trim(std::string_view s) {
  while (!s.empty() && std::isspace(static_cast<unsigned char>(s.front())))
    s.remove_prefix(1);
  while (!s.empty() && std::isspace(static_cast<unsigned char>(s.back())))
    s.remove_suffix(1);
  return s;
}

std::optional<std::string> read_file(const std::string& path) {
  std::ifstream in{path, std::ios::binary};
  if (!in)
    return std::nullopt;
  std::ostringstream text;
  text << in.rdbuf();
  if (in.bad())
    return std::nullopt;
  return std::move(text).str();
}

void require_readable(const std::string& path, const char* field) {
  if (!path.empty() && !read_file(path))
    throw std::invalid_argument(std::string{field} + ": cannot read '" + path + "'");
}

void require_pem(const std::string& text, const char* field) {
  if (!text.empty() && text.find("-----BEGIN ") == std::string::npos)
    throw std::invalid_argument(std::string{field} + ": not PEM text (no -----BEGIN line)");
}

/// A token is sent as a header line: it must not carry line breaks.
bool valid_token(std::string_view token) {
  return token.find_first_of("\r\n") == std::string_view::npos;
}

/// Replaces every occurrence of `secret` in `text`.
std::string redact(std::string text, const std::string& secret) {
  if (secret.empty())
    return text;
  constexpr std::string_view mask = "<redacted>";
  for (size_t at = text.find(secret); at != std::string::npos;
       at = text.find(secret, at + mask.size()))
    text.replace(at, secret.size(), mask);
  return text;
}

/// The bearer token, inline or from a file that the kubelet rotates.
class token_source {
public:
  token_source(std::string inline_token, std::string file)
    : file_(std::move(file)), token_(trim(inline_token)), inline_(!token_.empty()) {
    if (!valid_token(token_))
      throw std::invalid_argument("token: contains a line break");
    if (!file_.empty() && token_.empty() && !reload())
      throw std::invalid_argument("token_file: cannot read '" + file_ +
                                  "' (or it holds a line break)");
  }

  /// The inline token wins over the file, as in client-go.
  bool from_file() const { return !file_.empty() && !inline_; }

  /// The current token: the file is re-read when its identity changed, when
  /// the last read is older than a minute, or after invalidate().
  std::string current() {
    std::lock_guard lock{mutex_};
    if (from_file() &&
        (stale_ || stamp_of(file_) != stamp_ ||
         std::chrono::steady_clock::now() - read_at_ >= k_token_max_age) &&
        !reload())
      log::warn(k_who,
                "cannot read the token file (or it holds a line break); keeping the "
                "previous token",
                {{"file", file_}});
    return token_;
  }

  /// The server refused the token: read the file again before the next request.
  void invalidate() {
    std::lock_guard lock{mutex_};
    stale_ = true;
  }

  /// For redacting error texts.
  std::string peek() {
    std::lock_guard lock{mutex_};
    return token_;
  }

private:
  struct stamp {
    dev_t dev = 0;
    ino_t ino = 0;
    off_t size = -1;
    int64_t mtime_ns = -1;
    bool operator==(const stamp&) const = default;
  };

  static stamp stamp_of(const std::string& path) {
    struct ::stat st {};
    if (::stat(path.c_str(), &st) != 0)
      return {};
    return {st.st_dev, st.st_ino, st.st_size,
            int64_t{st.st_mtim.tv_sec} * 1'000'000'000 + st.st_mtim.tv_nsec};
  }

  /// Reads the file; keeps the previous token when that fails. Caller locks
  /// (or is the constructor).
  bool reload() {
    const auto before = stamp_of(file_);
    auto text = read_file(file_);
    read_at_ = std::chrono::steady_clock::now();
    stale_ = false;
    stamp_ = before; // a broken file is tried again when it changes (or in a minute)
    const auto token = text ? trim(*text) : std::string_view{};
    if (!text || !valid_token(token))
      return false;
    token_ = std::string{token};
    return true;
  }

  const std::string file_;
  std::string token_;
  const bool inline_;
  std::mutex mutex_;
  stamp stamp_;
  std::chrono::steady_clock::time_point read_at_;
  bool stale_ = false;
};

/// Where requests go: the URL prefix, and for tls_server_name the libcurl
/// CONNECT_TO mapping plus the Host header of the real address.
struct endpoint {
  std::string base; ///< "https://host:port[/prefix]", no trailing slash
  bool https = false;
  std::string connect_to;  ///< "name:port:host:port" or empty
  std::string host_header; ///< "Host: host:port" or empty
};

endpoint parse_server(const std::string& server, const std::string& tls_server_name) {
  auto fail = [&](const std::string& why) {
    return std::invalid_argument("server: '" + server + "' " + why);
  };
  if (server.empty())
    throw std::invalid_argument("server: empty");
  std::unique_ptr<CURLU, url_deleter> url{curl_url()};
  if (!url)
    throw std::runtime_error("curl_url: out of memory");
  if (auto rc = curl_url_set(url.get(), CURLUPART_URL, server.c_str(), 0); rc != CURLUE_OK)
    throw fail(std::string{"is not a URL: "} + curl_url_strerror(rc));

  auto part = [&](CURLUPart which, unsigned flags = 0) -> std::optional<std::string> {
    char* text = nullptr;
    if (curl_url_get(url.get(), which, &text, flags) != CURLUE_OK || text == nullptr)
      return std::nullopt;
    std::string out{text};
    curl_free(text);
    return out;
  };
  const auto scheme = part(CURLUPART_SCHEME);
  if (!scheme || (*scheme != "https" && *scheme != "http"))
    throw fail("must start with https:// or http://");
  const auto host = part(CURLUPART_HOST);
  if (!host || host->empty())
    throw fail("has no host");
  if (part(CURLUPART_USER) || part(CURLUPART_QUERY) || part(CURLUPART_FRAGMENT))
    throw fail("must not carry user, query or fragment");
  const auto port = part(CURLUPART_PORT, CURLU_DEFAULT_PORT);
  std::string prefix = part(CURLUPART_PATH).value_or("");
  while (!prefix.empty() && prefix.back() == '/')
    prefix.pop_back();

  endpoint out;
  out.https = *scheme == "https";
  const std::string authority = *host + ":" + port.value_or(out.https ? "443" : "80");
  if (!tls_server_name.empty() && out.https) {
    // Connect to the real address while SNI and certificate checks use the
    // given name: the URL carries the name, CONNECT_TO redirects the socket.
    const bool plain_name =
      std::all_of(tls_server_name.begin(), tls_server_name.end(), [](unsigned char c) {
        return std::isalnum(c) || c == '.' || c == '-' || c == '_';
      });
    if (!plain_name)
      throw std::invalid_argument("tls_server_name: '" + tls_server_name +
                                  "' must be a host name or IPv4 address");
    const std::string named = tls_server_name + ":" + port.value_or("443");
    out.base = *scheme + "://" + named + prefix;
    out.connect_to = named + ":" + authority;
    out.host_header = "Host: " + authority;
  } else {
    out.base = *scheme + "://" + authority + prefix;
  }
  return out;
}

/// Transport errors worth another try, and those that prove the request
/// never left (so even a POST may be sent again).
bool retryable(CURLcode code) {
  switch (code) {
  case CURLE_COULDNT_RESOLVE_PROXY:
  case CURLE_COULDNT_RESOLVE_HOST:
  case CURLE_COULDNT_CONNECT:
  case CURLE_OPERATION_TIMEDOUT:
  case CURLE_SSL_CONNECT_ERROR:
  case CURLE_SEND_ERROR:
  case CURLE_RECV_ERROR:
  case CURLE_GOT_NOTHING:
  case CURLE_PARTIAL_FILE:
  case CURLE_HTTP2:
  case CURLE_HTTP2_STREAM:
  case CURLE_WEIRD_SERVER_REPLY:
    return true;
  default:
    return false;
  }
}

bool never_sent(CURLcode code) {
  return code == CURLE_COULDNT_RESOLVE_PROXY || code == CURLE_COULDNT_RESOLVE_HOST ||
         code == CURLE_COULDNT_CONNECT;
}

bool retryable_status(long status) {
  return status == 500 || status == 502 || status == 503 || status == 504;
}

/// Retry-After as delta-seconds (the HTTP-date form is ignored).
std::optional<std::chrono::milliseconds> retry_after(const api_response& r) {
  auto it = r.headers.find("retry-after");
  if (it == r.headers.end())
    return std::nullopt;
  const auto text = trim(it->second);
  if (text.empty() || text.size() > 9 ||
      !std::all_of(text.begin(), text.end(), [](unsigned char c) { return std::isdigit(c); }))
    return std::nullopt;
  return std::chrono::seconds{std::stol(std::string{text})};
}

/// Response headers: lower-case names; a repeated header is joined with ", ".
size_t on_header(char* data, size_t size, size_t count, void* user) {
  const size_t total = size * count;
  try {
    auto& headers = *static_cast<std::map<std::string, std::string>*>(user);
    std::string_view line = trim({data, total});
    if (line.starts_with("HTTP/")) { // a new answer (after 100 Continue, say)
      headers.clear();
      return total;
    }
    const auto colon = line.find(':');
    if (colon == std::string_view::npos)
      return total;
    std::string name{trim(line.substr(0, colon))};
    std::transform(name.begin(), name.end(), name.begin(),
                   [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
    const auto value = trim(line.substr(colon + 1));
    auto [it, added] = headers.try_emplace(std::move(name), value);
    if (!added)
      it->second.append(", ").append(value);
    return total;
  } catch (...) {
    return 0; // out of memory: abort the transfer
  }
}

size_t on_body(char* data, size_t size, size_t count, void* user) {
  try {
    static_cast<std::string*>(user)->append(data, size * count);
    return size * count;
  } catch (...) {
    return 0;
  }
}

/// State of one watch stream, shared with its write callback.
struct stream_state {
  CURL* handle;
  const std::function<bool(std::string_view)>& on_line;
  const std::atomic<bool>& stop;
  long status = 0;
  std::string pending; ///< an incomplete line
  std::string error_body;
  bool ended_by_us = false; ///< on_line said false, or stop was seen
  bool line_too_long = false;
  std::exception_ptr failure; ///< thrown by on_line
};

size_t on_stream_data(char* data, size_t size, size_t count, void* user) {
  auto& s = *static_cast<stream_state*>(user);
  const size_t total = size * count;
  try {
    if (s.status == 0)
      curl_easy_getinfo(s.handle, CURLINFO_RESPONSE_CODE, &s.status);
    if (s.status < 200 || s.status > 299) {
      const size_t room = k_max_error_body - std::min(k_max_error_body, s.error_body.size());
      s.error_body.append(data, std::min(room, total));
      return total;
    }
    if (s.stop.load()) {
      s.ended_by_us = true;
      return 0;
    }
    size_t scan = s.pending.size(); // the old tail holds no '\n'
    s.pending.append(data, total);
    size_t start = 0;
    for (size_t nl = s.pending.find('\n', scan); nl != std::string::npos;
         nl = s.pending.find('\n', start)) {
      std::string_view line{s.pending.data() + start, nl - start};
      start = nl + 1;
      if (!line.empty() && line.back() == '\r')
        line.remove_suffix(1);
      if (line.empty())
        continue;
      if (!s.on_line(line)) {
        s.ended_by_us = true;
        return 0;
      }
    }
    s.pending.erase(0, start);
    if (s.pending.size() > k_max_line_bytes) {
      s.line_too_long = true;
      return 0;
    }
    return total;
  } catch (...) {
    s.failure = std::current_exception();
    return 0;
  }
}

} // namespace

struct client::impl {
  connection settings;
  endpoint target;
  token_source token;
  rate_limiter limiter;
  slist_ptr connect_to;

  std::mutex pool_mutex;
  std::vector<easy_ptr> idle;

  std::atomic<uint64_t> attempts{0};
  std::atomic<uint64_t> retries{0};
  std::atomic<uint64_t> throttled{0};

  explicit impl(connection c)
    : settings(std::move(c)), target(parse_server(settings.server, settings.tls_server_name)),
      token(settings.token, settings.token_file), limiter(settings.qps, settings.burst) {
    require_pem(settings.ca_pem, "ca_pem");
    require_pem(settings.client_cert_pem, "client_cert_pem");
    require_pem(settings.client_key_pem, "client_key_pem");
    require_readable(settings.ca_file, "ca_file");
    require_readable(settings.client_cert_file, "client_cert_file");
    require_readable(settings.client_key_file, "client_key_file");
    const bool has_cert = !settings.client_cert_pem.empty() || !settings.client_cert_file.empty();
    const bool has_key = !settings.client_key_pem.empty() || !settings.client_key_file.empty();
    if (has_key && !has_cert)
      throw std::invalid_argument("client_key_pem/client_key_file: given without a certificate");
    if (!target.connect_to.empty() && !append(connect_to, target.connect_to))
      throw std::runtime_error("curl_slist_append: out of memory");
    if (target.https && settings.insecure_skip_verify)
      log::warn(k_who, "insecure_skip_verify is set: the API server's certificate is not verified",
                {{"server", settings.server}});
    if (!target.https && (!settings.token.empty() || !settings.token_file.empty()))
      log::warn(k_who, "the bearer token goes over plain HTTP", {{"server", settings.server}});
  }

  easy_ptr take_handle() {
    {
      std::lock_guard lock{pool_mutex};
      if (!idle.empty()) {
        easy_ptr h = std::move(idle.back());
        idle.pop_back();
        return h; // reset when given back; keeps its live connections and TLS sessions
      }
    }
    return easy_ptr{curl_easy_init()};
  }

  void give_back(easy_ptr h) {
    curl_easy_reset(h.get()); // forget pointers into the finished call's stack frame
    std::lock_guard lock{pool_mutex};
    if (idle.size() < k_max_idle_handles)
      idle.push_back(std::move(h));
  }

  /// Waits for the rate limiter; false when `stop` was raised meanwhile.
  bool throttle(const std::atomic<bool>* stop = nullptr) {
    auto wait = limiter.reserve();
    if (wait <= 0ns)
      return true;
    ++throttled;
    if (stop == nullptr) {
      std::this_thread::sleep_for(wait);
      return true;
    }
    const auto until = std::chrono::steady_clock::now() + wait;
    while (!stop->load()) {
      const auto left = until - std::chrono::steady_clock::now();
      if (left <= 0ns)
        return true;
      std::this_thread::sleep_for(std::min<std::chrono::nanoseconds>(left, k_stream_poll));
    }
    return false;
  }

  /// Options every transfer shares: URL, headers, timeouts, TLS. `headers`
  /// must outlive the transfer.
  CURLcode configure(CURL* h, const std::string& url, curl_slist* headers, char* errors) {
    const connection& c = settings;
    CURLcode rc = CURLE_OK;
    auto set = [&](CURLoption opt, auto value) {
      if (rc == CURLE_OK)
        rc = curl_easy_setopt(h, opt, value);
    };
    set(CURLOPT_URL, url.c_str());
    set(CURLOPT_NOSIGNAL, 1L);
    set(CURLOPT_PROTOCOLS_STR, "http,https");
    set(CURLOPT_PATH_AS_IS, 1L);
    set(CURLOPT_HTTP_VERSION, static_cast<long>(CURL_HTTP_VERSION_1_1));
    set(CURLOPT_CONNECTTIMEOUT_MS, static_cast<long>(c.connect_timeout.count()));
    set(CURLOPT_TCP_KEEPALIVE, 1L);
    set(CURLOPT_TCP_KEEPIDLE, k_keepalive_idle_s);
    set(CURLOPT_TCP_KEEPINTVL, k_keepalive_interval_s);
    set(CURLOPT_USERAGENT, c.user_agent.c_str());
    set(CURLOPT_HTTPHEADER, headers);
    set(CURLOPT_ERRORBUFFER, errors);
    if (connect_to)
      set(CURLOPT_CONNECT_TO, connect_to.get());
    if (!target.https)
      return rc;
    set(CURLOPT_SSL_VERIFYPEER, c.insecure_skip_verify ? 0L : 1L);
    set(CURLOPT_SSL_VERIFYHOST, c.insecure_skip_verify ? 0L : 2L);
    // Our CA replaces the system store (as a kubeconfig's CA does in client-go).
    if (!c.ca_pem.empty()) {
      curl_blob blob{const_cast<char*>(c.ca_pem.data()), c.ca_pem.size(), CURL_BLOB_COPY};
      set(CURLOPT_CAINFO_BLOB, &blob);
      set(CURLOPT_CAINFO, static_cast<const char*>(nullptr));
      set(CURLOPT_CAPATH, static_cast<const char*>(nullptr));
    } else if (!c.ca_file.empty()) {
      set(CURLOPT_CAINFO, c.ca_file.c_str());
      set(CURLOPT_CAPATH, static_cast<const char*>(nullptr));
    }
    if (!c.client_cert_pem.empty()) {
      curl_blob blob{const_cast<char*>(c.client_cert_pem.data()), c.client_cert_pem.size(),
                     CURL_BLOB_COPY};
      set(CURLOPT_SSLCERT_BLOB, &blob);
      set(CURLOPT_SSLCERTTYPE, "PEM");
    } else if (!c.client_cert_file.empty()) {
      set(CURLOPT_SSLCERT, c.client_cert_file.c_str());
      set(CURLOPT_SSLCERTTYPE, "PEM");
    }
    if (!c.client_key_pem.empty()) {
      curl_blob blob{const_cast<char*>(c.client_key_pem.data()), c.client_key_pem.size(),
                     CURL_BLOB_COPY};
      set(CURLOPT_SSLKEY_BLOB, &blob);
      set(CURLOPT_SSLKEYTYPE, "PEM");
    } else if (!c.client_key_file.empty()) {
      set(CURLOPT_SSLKEY, c.client_key_file.c_str());
      set(CURLOPT_SSLKEYTYPE, "PEM");
    }
    return rc;
  }

  /// Request headers; false when out of memory.
  bool base_headers(slist_ptr& list, const std::string& bearer) {
    bool ok = append(list, "Accept: application/json");
    if (!bearer.empty())
      ok = ok && append(list, "Authorization: Bearer " + bearer);
    if (!target.host_header.empty())
      ok = ok && append(list, target.host_header);
    return ok;
  }

  std::string failure_text(CURLcode code, const char* errors) {
    std::string text = curl_easy_strerror(code);
    if (errors[0] != '\0')
      text += std::string{": "} + errors;
    return redact(std::move(text), token.peek());
  }

  struct attempt {
    api_response response;
    CURLcode code = CURLE_OK;
    bool never_sent = false; ///< the server certainly did not see the request
  };

  attempt perform(const api_request& r) {
    attempt out;
    easy_ptr h = take_handle();
    slist_ptr headers;
    char errors[CURL_ERROR_SIZE] = {};
    const std::string url = target.base + r.path;
    const bool has_body =
      !r.body.empty() || r.method == "POST" || r.method == "PUT" || r.method == "PATCH";
    bool ok = h && base_headers(headers, token.current()) && append(headers, "Expect:");
    if (ok && has_body)
      ok = append(headers, "Content-Type: " + r.content_type);
    if (!ok) {
      out.response.error = "out of memory preparing the request";
      out.never_sent = true;
      return out;
    }
    const auto timeout = r.timeout > 0ms ? r.timeout : settings.request_timeout;
    CURLcode rc = configure(h.get(), url, headers.get(), errors);
    auto set = [&](CURLoption opt, auto value) {
      if (rc == CURLE_OK)
        rc = curl_easy_setopt(h.get(), opt, value);
    };
    set(CURLOPT_TIMEOUT_MS, static_cast<long>(timeout.count()));
    set(CURLOPT_ACCEPT_ENCODING, ""); // gzip for big lists, decoded here
    if (r.method == "HEAD") {
      set(CURLOPT_NOBODY, 1L);
    } else if (r.method != "GET" || has_body) { // POSTFIELDS alone would make it a POST
      set(CURLOPT_CUSTOMREQUEST, r.method.c_str());
    }
    if (has_body) {
      set(CURLOPT_POSTFIELDSIZE_LARGE, static_cast<curl_off_t>(r.body.size()));
      set(CURLOPT_POSTFIELDS, r.body.data());
    }
    set(CURLOPT_WRITEFUNCTION, &on_body);
    set(CURLOPT_WRITEDATA, &out.response.body);
    set(CURLOPT_HEADERFUNCTION, &on_header);
    set(CURLOPT_HEADERDATA, &out.response.headers);
    if (rc != CURLE_OK) {
      out.code = rc;
      out.never_sent = true;
      out.response.error = failure_text(rc, errors);
      give_back(std::move(h));
      return out;
    }

    ++attempts;
    out.code = curl_easy_perform(h.get());
    if (out.code == CURLE_OK) {
      curl_easy_getinfo(h.get(), CURLINFO_RESPONSE_CODE, &out.response.status);
    } else {
      long sent = 0;
      curl_easy_getinfo(h.get(), CURLINFO_REQUEST_SIZE, &sent);
      out.never_sent = never_sent(out.code) || (retryable(out.code) && sent == 0);
      out.response.error = failure_text(out.code, errors);
      out.response.body.clear(); // an incomplete answer is no answer
      out.response.headers.clear();
    }
    give_back(std::move(h));
    return out;
  }

  /// How long to wait before trying `r` again after `a` (retry number
  /// `retry`, 0-based), or nothing when it must not be tried again.
  std::optional<std::chrono::nanoseconds> retry_wait(const api_request& r, const attempt& a,
                                                     unsigned retry) {
    if (!r.retry || retry >= settings.max_retries)
      return std::nullopt;
    const bool post = r.method == "POST";
    const long status = a.response.status;
    bool again = false;
    if (status == 429)
      again = true;
    else if (retryable_status(status))
      again = !post;
    else if (status == 0)
      again = retryable(a.code) && (!post || a.never_sent);
    if (!again)
      return std::nullopt;
    if (auto hinted = retry_after(a.response); hinted && status != 0)
      return std::min<std::chrono::nanoseconds>(*hinted, settings.retry_max);
    return backoff(retry);
  }

  std::chrono::nanoseconds backoff(unsigned retry) {
    const auto cap = std::chrono::nanoseconds{settings.retry_max};
    auto ceiling = std::chrono::nanoseconds{settings.retry_base};
    for (unsigned i = 0; i < retry && ceiling < cap; ++i)
      ceiling *= 2;
    ceiling = std::min(ceiling, cap);
    if (ceiling <= 0ns)
      return 0ns;
    thread_local std::mt19937_64 rng{std::random_device{}()};
    std::uniform_int_distribution<int64_t> pick{0, ceiling.count()};
    return std::chrono::nanoseconds{pick(rng)};
  }
};

client::client(connection c) {
  global_init_once();
  impl_ = std::make_unique<impl>(std::move(c));
}

client::~client() = default;

const connection& client::settings() const {
  return impl_->settings;
}

client::counters client::stats() const {
  return {impl_->attempts.load(), impl_->retries.load(), impl_->throttled.load()};
}

api_response client::send(const api_request& r) {
  if (r.path.empty() || r.path.front() != '/') {
    api_response out;
    out.error = "request path must start with '/'";
    return out;
  }
  unsigned tries = 0;
  unsigned retries = 0;
  bool reauthenticated = false;
  for (;;) {
    impl_->throttle();
    impl::attempt a = impl_->perform(r);
    ++tries;
    if (a.response.status == 401 && impl_->token.from_file()) {
      impl_->token.invalidate();
      if (r.retry && !reauthenticated) {
        reauthenticated = true;
        ++impl_->retries;
        continue;
      }
    }
    auto wait = impl_->retry_wait(r, a, retries);
    if (!wait) {
      a.response.attempts = tries;
      return std::move(a.response);
    }
    log::debug(k_who, "retrying",
               {{"method", r.method},
                {"status", a.response.status},
                {"error", a.response.error},
                {"retry", retries + 1},
                {"wait_ms", std::chrono::duration_cast<std::chrono::milliseconds>(*wait).count()}});
    ++retries;
    ++impl_->retries;
    std::this_thread::sleep_for(*wait);
  }
}

api_response client::stream(const std::string& path,
                            const std::function<bool(std::string_view)>& on_line,
                            const std::atomic<bool>& stop) {
  api_response out;
  if (path.empty() || path.front() != '/') {
    out.error = "request path must start with '/'";
    return out;
  }
  if (stop.load() || !impl_->throttle(&stop))
    return out;

  // A handle of its own (watches are long and their connections die with
  // them) driven through a multi handle, so that the stop flag is looked at
  // every k_stream_poll even while the server is silent.
  char errors[CURL_ERROR_SIZE] = {}; // declared first: outlives the handles
  slist_ptr headers;
  easy_ptr h{curl_easy_init()};
  multi_ptr multi{curl_multi_init()};
  if (!h || !multi || !impl_->base_headers(headers, impl_->token.current())) {
    out.error = "out of memory preparing the request";
    return out;
  }
  stream_state state{h.get(), on_line, stop};
  const std::string url = impl_->target.base + path;
  CURLcode rc = impl_->configure(h.get(), url, headers.get(), errors);
  if (rc == CURLE_OK)
    rc = curl_easy_setopt(h.get(), CURLOPT_WRITEFUNCTION, &on_stream_data);
  if (rc == CURLE_OK)
    rc = curl_easy_setopt(h.get(), CURLOPT_WRITEDATA, &state);
  if (rc == CURLE_OK)
    rc = curl_easy_setopt(h.get(), CURLOPT_HEADERFUNCTION, &on_header);
  if (rc == CURLE_OK)
    rc = curl_easy_setopt(h.get(), CURLOPT_HEADERDATA, &out.headers);
  if (rc != CURLE_OK) {
    out.error = impl_->failure_text(rc, errors);
    return out;
  }
  if (auto mc = curl_multi_add_handle(multi.get(), h.get()); mc != CURLM_OK) {
    out.error = curl_multi_strerror(mc);
    return out;
  }

  ++impl_->attempts;
  out.attempts = 1;
  CURLcode result = CURLE_OK;
  std::string multi_error;
  for (;;) {
    int running = 0;
    if (auto mc = curl_multi_perform(multi.get(), &running); mc != CURLM_OK) {
      multi_error = curl_multi_strerror(mc);
      break;
    }
    if (running == 0) {
      int left = 0;
      while (CURLMsg* msg = curl_multi_info_read(multi.get(), &left))
        if (msg->msg == CURLMSG_DONE && msg->easy_handle == h.get())
          result = msg->data.result;
      break;
    }
    if (stop.load() || state.ended_by_us) {
      state.ended_by_us = true;
      break;
    }
    const auto poll_ms = static_cast<int>(k_stream_poll.count());
    if (auto mc = curl_multi_poll(multi.get(), nullptr, 0, poll_ms, nullptr); mc != CURLM_OK) {
      multi_error = curl_multi_strerror(mc);
      break;
    }
  }
  curl_easy_getinfo(h.get(), CURLINFO_RESPONSE_CODE, &out.status);
  curl_multi_remove_handle(multi.get(), h.get()); // closes the connection if still open

  if (state.failure)
    std::rethrow_exception(state.failure);
  if (out.status == 401 && impl_->token.from_file())
    impl_->token.invalidate();
  out.body = std::move(state.error_body);
  if (state.line_too_long)
    out.error = "watch line longer than " + std::to_string(k_max_line_bytes) + " bytes";
  else if (!multi_error.empty())
    out.error = multi_error;
  else if (result != CURLE_OK && !state.ended_by_us)
    out.error = impl_->failure_text(result, errors);
  if (!out.error.empty() && out.status == 0)
    out.body.clear();
  return out;
}

} // namespace olocal::kube
