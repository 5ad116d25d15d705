// The HTTP/1.1 server behind gateways/http/server.hpp.
//
// This is the only translation unit that includes Boost.Beast/Asio (they cost
// ~40 s of compile time per TU); the public header stays free of them.
//
// Threading model
//   * One io_context run by `options.threads` threads.
//   * The acceptor and its retry timer live on one strand; every connection
//     (`session`) lives on its own strand. All session state is touched only
//     on that strand, except where noted.
//   * `core` is the small piece of state shared with responders, which may be
//     called from any thread and may outlive the server: it holds the
//     in-flight counter, the connection registry and the `open` flag that says
//     whether the io_context may still be posted to. Everything in it is
//     guarded by `core::mu`.
//
// Lifetime
//   * The registry (core::sessions) owns every open connection; a connection
//     removes itself on close. Responders only hold a weak_ptr to their
//     connection, so a responder that is kept forever cannot keep a connection
//     (or its socket) alive beyond stop().
//   * A responder's shared state (`reply_slot`) answers 500 from its
//     destructor if it was never called, so a dropped responder neither leaks
//     the connection nor the in-flight count.

#include "gateways/http/server.hpp"

#include <boost/asio/dispatch.hpp>
#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/strand.hpp>
#include <boost/asio/write.hpp>
#include <boost/beast/core/error.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/core/string.hpp>
#include <boost/beast/core/tcp_stream.hpp>
#include <boost/beast/http/error.hpp>
#include <boost/beast/http/message.hpp>
#include <boost/beast/http/parser.hpp>
#include <boost/beast/http/read.hpp>
#include <boost/beast/http/string_body.hpp>
#include <boost/beast/http/write.hpp>

#include <algorithm>
#include <array>
#include <atomic>
#include <condition_variable>
#include <cstddef>
#include <future>
#include <limits>
#include <mutex>
#include <optional>
#include <string_view>
#include <system_error>
#include <thread>
#include <unordered_map>
#include <utility>
#include <vector>

namespace olocal::http {

namespace {

namespace net = boost::asio;
namespace beast = boost::beast;
namespace bhttp = boost::beast::http;
using tcp = boost::asio::ip::tcp;
using error_code = boost::system::error_code;

constexpr std::string_view k_server_name = "open-local";
// How long a connection that was answered with an error (400/413/431) keeps
// reading and discarding input before it closes, so the client gets to read
// the error instead of a reset.
constexpr std::chrono::milliseconds k_linger{2'000};
// Back-off after a failed accept (e.g. out of file descriptors).
constexpr std::chrono::milliseconds k_accept_retry{100};

std::string to_std(beast::string_view s) {
  return std::string(s.data(), s.size());
}

std::string lower(std::string_view s) {
  std::string out(s);
  for (char& c : out) {
    if (c >= 'A' && c <= 'Z')
      c = static_cast<char>(c - 'A' + 'a');
  }
  return out;
}

std::string endpoint_text(const tcp::endpoint& ep) {
  const auto addr = ep.address();
  std::string host = addr.to_string();
  if (addr.is_v6())
    host = "[" + host + "]";
  return host + ":" + std::to_string(ep.port());
}

// RFC 9110 token characters, for header names supplied by the application.
bool valid_header_name(std::string_view name) {
  if (name.empty())
    return false;
  for (unsigned char c : name) {
    const bool ok =
      (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
      std::string_view("!#$%&'*+-.^_`|~").find(static_cast<char>(c)) != std::string_view::npos;
    if (!ok)
      return false;
  }
  return true;
}

// No CR, LF or NUL: an application-supplied value must not split the header.
bool valid_header_value(std::string_view value) {
  return value.find_first_of(std::string_view("\r\n\0", 3)) == std::string_view::npos;
}

class session;

/// State shared between the server, its connections and responders. May
/// outlive the server (a responder can be kept after the server is gone).
struct core {
  std::mutex mu;
  std::condition_variable cv; ///< notified when a connection leaves the registry
  /// False once the I/O threads are being stopped: nobody may post to the
  /// io_context or touch a socket from outside any more.
  bool open = true;
  /// Intake closed: no new connections, no new requests.
  std::atomic<bool> stopping{false};
  /// Requests handed to the handler whose responder has not run yet.
  /// Written under `mu`, read without it.
  std::atomic<size_t> in_flight{0};
  /// Every open connection; a connection erases itself when it closes.
  std::unordered_map<session*, std::shared_ptr<session>> sessions;
};

/// Shared state of one responder (all copies of the std::function share it).
class reply_slot {
public:
  reply_slot(std::shared_ptr<core> c, std::weak_ptr<session> s)
    : core_(std::move(c)), session_(std::move(s)) {}
  reply_slot(const reply_slot&) = delete;
  reply_slot& operator=(const reply_slot&) = delete;

  ~reply_slot() {
    if (done_.load())
      return;
    try {
      response r;
      r.status = 500;
      r.body = "internal error: the request was dropped without a response\n";
      deliver(std::move(r));
    } catch (...) {
      // Nothing sensible to do in a destructor; the connection is still
      // closed at stop() at the latest.
    }
  }

  /// The first call wins; later calls are ignored.
  void deliver(response r);

private:
  std::shared_ptr<core> core_;
  std::weak_ptr<session> session_;
  std::atomic<bool> done_{false};
};

struct server_state; // the part of server::impl that sessions need

/// One accepted connection. All member functions run on the connection's
/// strand, except force_close() which runs when no I/O thread is left.
class session : public std::enable_shared_from_this<session> {
public:
  session(server_state& srv, tcp::socket socket, std::string peer)
    : srv_(srv), stream_(std::move(socket)), peer_(std::move(peer)) {}

  net::any_io_executor executor() { return stream_.get_executor(); }

  void start() { do_read(); }

  /// stop() began: close now unless a request is being answered.
  void on_stop() {
    if (state_ == state::reading || state_ == state::lingering)
      close();
  }

  /// The responder's answer, posted onto the strand.
  void send(response r);

  /// The I/O threads are gone: close the socket without touching the strand.
  void force_close() { close(); }

private:
  enum class state {
    reading,   ///< waiting for / reading a request (also between keep-alive requests)
    handling,  ///< request handed to the handler, waiting for the responder
    writing,   ///< response being written
    lingering, ///< error response sent, discarding input until the peer closes
    closed,
  };
  enum class after_write { read_next, close, linger };

  void do_read();
  void on_header(error_code ec);
  void read_body();
  void on_read(error_code ec);
  void on_read_error(error_code ec);
  void handle_request();
  void build_response(response r);
  void write_error(bhttp::status status, std::string_view text);
  void write(after_write next);
  void on_write(error_code ec, after_write next);
  void linger();
  void close();

  server_state& srv_;
  beast::tcp_stream stream_;
  beast::flat_buffer buffer_;
  std::optional<bhttp::request_parser<bhttp::string_body>> parser_;
  std::optional<bhttp::response<bhttp::string_body>> res_;
  std::array<char, 4096> discard_{};
  std::string peer_;
  state state_ = state::reading;
  unsigned version_ = 11;
  bool keep_alive_ = false;
  bool head_ = false;
};

struct server_state {
  server_state(server_options o, handler h)
    : ioc(static_cast<int>(std::max(1u, o.threads))), options(std::move(o)),
      on_request(std::move(h)), shared(std::make_shared<core>()), acceptor(net::make_strand(ioc)),
      accept_retry(acceptor.get_executor()) {}

  void do_accept();
  void on_accept(error_code ec, tcp::socket socket);

  // Declared first: destroyed last, after everything that owns sockets/timers.
  net::io_context ioc;
  server_options options;
  handler on_request;
  std::shared_ptr<core> shared;
  tcp::acceptor acceptor;
  net::steady_timer accept_retry;
};

// ------------------------------------------------------------- reply_slot ---

void reply_slot::deliver(response r) {
  std::lock_guard lock(core_->mu);
  if (done_.exchange(true))
    return;
  core_->in_flight.fetch_sub(1);
  core_->cv.notify_all();
  if (!core_->open)
    return; // I/O threads are gone: drop silently
  if (auto s = session_.lock()) {
    auto ex = s->executor();
    net::post(ex, [s = std::move(s), r = std::move(r)]() mutable { s->send(std::move(r)); });
  }
  // else: the connection is gone, drop silently
}

// ---------------------------------------------------------------- session ---

void session::do_read() {
  if (srv_.shared->stopping.load()) {
    close();
    return;
  }
  state_ = state::reading;
  parser_.emplace();
  parser_->body_limit(static_cast<std::uint64_t>(srv_.options.max_body_bytes));
  parser_->header_limit(static_cast<std::uint32_t>(
    std::min<size_t>(srv_.options.max_header_bytes, std::numeric_limits<std::uint32_t>::max())));
  // One deadline for the whole request (header, optional 100-continue, body).
  stream_.expires_after(srv_.options.read_timeout);
  bhttp::async_read_header(
    stream_, buffer_, *parser_,
    [self = shared_from_this()](error_code ec, size_t) { self->on_header(ec); });
}

void session::on_header(error_code ec) {
  if (state_ != state::reading)
    return;
  if (ec) {
    on_read_error(ec);
    return;
  }
  const auto& msg = parser_->get();
  if (!parser_->is_done() && msg.version() >= 11 &&
      beast::iequals(msg[bhttp::field::expect], "100-continue")) {
    static constexpr std::string_view k_continue = "HTTP/1.1 100 Continue\r\n\r\n";
    net::async_write(stream_, net::buffer(k_continue.data(), k_continue.size()),
                     [self = shared_from_this()](error_code wec, size_t) {
                       if (self->state_ != state::reading)
                         return;
                       if (wec) {
                         self->close();
                         return;
                       }
                       self->read_body();
                     });
    return;
  }
  read_body();
}

void session::read_body() {
  bhttp::async_read(stream_, buffer_, *parser_,
                    [self = shared_from_this()](error_code ec, size_t) { self->on_read(ec); });
}

void session::on_read(error_code ec) {
  if (state_ != state::reading)
    return;
  if (ec) {
    on_read_error(ec);
    return;
  }
  stream_.expires_never();
  handle_request();
}

void session::on_read_error(error_code ec) {
  if (ec == bhttp::error::body_limit) {
    write_error(bhttp::status::payload_too_large, "request body too large\n");
  } else if (ec == bhttp::error::header_limit || ec == bhttp::error::buffer_overflow) {
    write_error(bhttp::status::request_header_fields_too_large, "request header too large\n");
  } else if (ec.category() == bhttp::make_error_code(bhttp::error::bad_target).category() &&
             ec != bhttp::error::end_of_stream && ec != bhttp::error::partial_message &&
             ec != bhttp::error::short_read) {
    write_error(bhttp::status::bad_request, "bad request\n");
  } else {
    // Peer closed, reset, timed out, or we are closing: nothing to answer.
    close();
  }
}

void session::handle_request() {
  auto msg = parser_->release();
  parser_.reset();
  version_ = msg.version() == 10 ? 10 : 11;
  keep_alive_ = msg.keep_alive();
  head_ = msg.method() == bhttp::verb::head;

  request req;
  req.method = to_std(msg.method_string());
  req.target = to_std(msg.target());
  if (const auto q = req.target.find('?'); q == std::string::npos) {
    req.path = req.target;
  } else {
    req.path = req.target.substr(0, q);
    req.query = req.target.substr(q + 1);
  }
  for (const auto& field : msg) {
    auto [it, inserted] =
      req.headers.emplace(lower(to_std(field.name_string())), to_std(field.value()));
    if (!inserted) {
      it->second += ", ";
      it->second += to_std(field.value());
    }
  }
  req.body = std::move(msg.body());
  req.peer = peer_;

  state_ = state::handling;
  auto slot = std::make_shared<reply_slot>(srv_.shared, weak_from_this());
  {
    std::lock_guard lock(srv_.shared->mu);
    srv_.shared->in_flight.fetch_add(1);
  }
  responder reply = [slot = std::move(slot)](response r) { slot->deliver(std::move(r)); };
  try {
    srv_.on_request(std::move(req), std::move(reply));
  } catch (...) {
    // The handler's copy of the responder was destroyed while unwinding; if
    // it was the last one, the client gets a 500 from reply_slot's destructor.
  }
}

void session::send(response r) {
  if (state_ != state::handling)
    return; // connection closed meanwhile
  try {
    build_response(std::move(r));
  } catch (...) {
    close(); // e.g. out of memory: nothing sensible left to send
    return;
  }
  write(res_->keep_alive() ? after_write::read_next : after_write::close);
}

void session::build_response(response r) {
  unsigned status = r.status;
  // 1xx are not final answers; anything outside 3 digits is not a status.
  if (status < 200 || status > 999)
    status = 500;
  // These statuses carry no body (Beast refuses to frame one).
  if (status == 204 || status == 304)
    r.body.clear();

  res_.emplace();
  auto& res = *res_;
  res.version(version_);
  res.result(status);
  for (const auto& [name, value] : r.headers) {
    if (!valid_header_name(name) || !valid_header_value(value))
      continue;
    const auto l = lower(name);
    // Framing is ours; Content-Type and Server are set below.
    if (l == "content-length" || l == "transfer-encoding" || l == "connection")
      continue;
    res.set(name, value);
  }
  if (!r.content_type.empty() && valid_header_value(r.content_type)) {
    res.set(bhttp::field::content_type, r.content_type);
  }
  res.set(bhttp::field::server, k_server_name);
  res.body() = std::move(r.body);
  const bool keep = keep_alive_ && !srv_.shared->stopping.load();
  res.keep_alive(keep);
  res.prepare_payload(); // Content-Length
  if (head_)
    res.body().clear(); // keep the Content-Length, send no body
}

void session::write_error(bhttp::status status, std::string_view text) {
  stream_.expires_never();
  parser_.reset();
  res_.emplace();
  auto& res = *res_;
  res.version(11);
  res.result(status);
  res.set(bhttp::field::content_type, "text/plain; charset=utf-8");
  res.set(bhttp::field::server, k_server_name);
  res.body() = std::string(text);
  res.keep_alive(false);
  res.prepare_payload();
  write(after_write::linger);
}

void session::write(after_write next) {
  state_ = state::writing;
  // A client that does not read its response cannot hold the connection forever.
  stream_.expires_after(srv_.options.read_timeout);
  bhttp::async_write(stream_, *res_, [self = shared_from_this(), next](error_code ec, size_t) {
    self->on_write(ec, next);
  });
}

void session::on_write(error_code ec, after_write next) {
  if (state_ != state::writing)
    return;
  res_.reset();
  stream_.expires_never();
  if (ec) {
    close();
    return;
  }
  switch (next) {
  case after_write::read_next:
    do_read(); // closes instead when stop() began meanwhile
    return;
  case after_write::close: {
    error_code ignored;
    stream_.socket().shutdown(tcp::socket::shutdown_send, ignored);
    close();
    return;
  }
  case after_write::linger:
    linger();
    return;
  }
}

void session::linger() {
  if (srv_.shared->stopping.load()) {
    close();
    return;
  }
  if (state_ != state::lingering) {
    state_ = state::lingering;
    error_code ignored;
    stream_.socket().shutdown(tcp::socket::shutdown_send, ignored);
    stream_.expires_after(
      std::min<std::chrono::steady_clock::duration>(srv_.options.read_timeout, k_linger));
  }
  stream_.async_read_some(net::buffer(discard_),
                          [self = shared_from_this()](error_code ec, size_t) {
                            if (self->state_ != state::lingering)
                              return;
                            if (ec) {
                              self->close(); // EOF from the peer, timeout, or reset
                              return;
                            }
                            self->linger();
                          });
}

void session::close() {
  if (state_ == state::closed)
    return;
  state_ = state::closed;
  auto self = shared_from_this(); // the registry may hold the last reference
  stream_.close();                // cancels pending operations and the timer
  auto& c = *srv_.shared;
  std::lock_guard lock(c.mu);
  c.sessions.erase(this);
  c.cv.notify_all();
}

// --------------------------------------------------------------- acceptor ---

void server_state::do_accept() {
  acceptor.async_accept(net::make_strand(ioc), [this](error_code ec, tcp::socket socket) {
    on_accept(ec, std::move(socket));
  });
}

void server_state::on_accept(error_code ec, tcp::socket socket) {
  if (ec == net::error::operation_aborted || !acceptor.is_open() || shared->stopping.load())
    return;
  if (ec) {
    // E.g. EMFILE: back off instead of spinning.
    accept_retry.expires_after(k_accept_retry);
    accept_retry.async_wait([this](error_code wec) {
      if (!wec && acceptor.is_open() && !shared->stopping.load())
        do_accept();
    });
    return;
  }
  error_code ignored;
  socket.set_option(tcp::no_delay(true), ignored);
  std::string peer;
  if (auto ep = socket.remote_endpoint(ignored); !ignored)
    peer = endpoint_text(ep);

  auto s = std::make_shared<session>(*this, std::move(socket), std::move(peer));
  {
    std::lock_guard lock(shared->mu);
    if (shared->stopping.load())
      return; // `s` closes its socket on destruction
    shared->sessions.emplace(s.get(), s);
  }
  auto ex = s->executor();
  net::dispatch(ex, [s] { s->start(); });
  do_accept();
}

} // namespace

// ----------------------------------------------------------------- server ---

struct server::impl : server_state {
  using server_state::server_state;

  std::optional<net::executor_work_guard<net::io_context::executor_type>> work;
  std::vector<std::thread> threads;
  uint16_t port = 0;

  std::mutex stop_mu;
  bool stopped = false;
  size_t stop_result = 0;

  void close_intake(std::optional<std::chrono::steady_clock::time_point> wait_for_acceptor_until);
};

namespace {
/// The server whose I/O thread this is (nullptr on other threads).
thread_local const void* tl_io_thread_of = nullptr;
} // namespace

server::server(server_options options, handler on_request)
  : impl_(std::make_unique<impl>(std::move(options), std::move(on_request))) {
  auto& s = *impl_;
  const auto& o = s.options;
  const std::string where = o.address + ":" + std::to_string(o.port);
  auto to_std_error = [](error_code ec) {
    // Asio's system errors are errno values: report them in std's category.
    return ec.category() == boost::system::system_category()
             ? std::error_code(ec.value(), std::system_category())
             : std::error_code(ec);
  };
  auto fail = [&](error_code ec, const char* what) {
    throw std::system_error(to_std_error(ec),
                            "http server: cannot " + std::string(what) + " " + where);
  };

  error_code ec;
  tcp::endpoint endpoint;
  if (auto addr = net::ip::make_address(o.address, ec); !ec) {
    endpoint = tcp::endpoint(addr, o.port);
  } else {
    tcp::resolver resolver(s.ioc);
    auto results = resolver.resolve(o.address, std::to_string(o.port), tcp::resolver::passive, ec);
    if (ec || results.empty()) {
      throw std::system_error(ec ? to_std_error(ec)
                                 : std::make_error_code(std::errc::invalid_argument),
                              "http server: cannot resolve " + where);
    }
    endpoint = results.begin()->endpoint();
  }

  s.acceptor.open(endpoint.protocol(), ec);
  if (ec)
    fail(ec, "open a socket for");
  s.acceptor.set_option(net::socket_base::reuse_address(true), ec);
  if (ec)
    fail(ec, "set SO_REUSEADDR on");
  s.acceptor.bind(endpoint, ec);
  if (ec)
    fail(ec, "bind");
  s.acceptor.listen(net::socket_base::max_listen_connections, ec);
  if (ec)
    fail(ec, "listen on");
  s.port = s.acceptor.local_endpoint().port();

  s.work.emplace(s.ioc.get_executor());
  s.do_accept();
  const unsigned n = std::max(1u, o.threads);
  s.threads.reserve(n);
  try {
    for (unsigned i = 0; i < n; ++i) {
      s.threads.emplace_back([&s] {
        tl_io_thread_of = &s;
        auto& ioc = s.ioc;
        for (;;) {
          try {
            ioc.run();
            return;
          } catch (...) {
            // Something threw through Asio: keep serving.
          }
        }
      });
    }
  } catch (...) {
    // Could not start a thread: undo what was started, then report.
    stop(std::chrono::milliseconds(0));
    throw;
  }
}

server::~server() {
  stop(std::chrono::milliseconds(0));
}

uint16_t server::port() const {
  return impl_->port;
}

size_t server::in_flight() const {
  return impl_->shared->in_flight.load();
}

// Steps 1-3 of stop(): no new connections, no new requests, idle
// connections closed. Safe on any thread while the I/O threads run.
void server::impl::close_intake(
  std::optional<std::chrono::steady_clock::time_point> wait_for_acceptor_until) {
  auto& c = *shared;

  // 1. Sessions registered from now on are refused by on_accept; the ones
  //    registered so far get on_stop() below.
  std::vector<std::shared_ptr<session>> snapshot;
  {
    std::lock_guard lock(c.mu);
    c.stopping.store(true);
    snapshot.reserve(c.sessions.size());
    for (const auto& entry : c.sessions)
      snapshot.push_back(entry.second);
  }

  // 2. Close the acceptor (on its strand) before touching connections, so a
  //    client that sees its idle connection closed knows new ones are refused.
  auto done = std::make_shared<std::promise<void>>();
  auto closed = done->get_future();
  net::post(acceptor.get_executor(), [this, done] {
    error_code ignored;
    acceptor.close(ignored);
    accept_retry.cancel();
    done->set_value();
  });
  if (wait_for_acceptor_until)
    closed.wait_until(*wait_for_acceptor_until);

  // 3. Idle connections close now, busy ones after their response.
  for (auto& session_ptr : snapshot) {
    auto ex = session_ptr->executor();
    net::post(ex, [sp = std::move(session_ptr)] { sp->on_stop(); });
  }
}

size_t server::stop(std::chrono::milliseconds drain) {
  auto& s = *impl_;
  if (tl_io_thread_of == &s) {
    // Called from a handler (e.g. an admin "shutdown" endpoint): an I/O
    // thread cannot wait for the drain nor join itself. Close the intake
    // only; a later stop() (at the latest ~server) drains and joins.
    s.close_intake(std::nullopt);
    return s.shared->in_flight.load();
  }
  std::lock_guard stop_lock(s.stop_mu);
  if (s.stopped)
    return s.stop_result;
  const auto deadline =
    std::chrono::steady_clock::now() + std::max(drain, std::chrono::milliseconds(0));
  auto& c = *s.shared;

  s.close_intake(deadline);

  // 4. Drain: wait until every connection has closed or the deadline passed.
  size_t unanswered = 0;
  {
    std::unique_lock lock(c.mu);
    c.cv.wait_until(lock, deadline, [&] { return c.sessions.empty(); });
    unanswered = c.in_flight.load();
    c.open = false; // responders stop posting from here on
  }

  // 5. Stop the I/O threads.
  s.work.reset();
  s.ioc.stop();
  for (auto& t : s.threads) {
    if (t.joinable())
      t.join();
  }
  s.threads.clear();

  // 6. No I/O thread left: close everything from here, then let the aborted
  //    operations complete so every session is released before the
  //    io_context goes away.
  {
    error_code ignored;
    s.acceptor.close(ignored);
    s.accept_retry.cancel();
  }
  std::vector<std::shared_ptr<session>> snapshot;
  {
    std::lock_guard lock(c.mu);
    for (const auto& entry : c.sessions)
      snapshot.push_back(entry.second);
  }
  for (auto& sp : snapshot)
    sp->force_close();
  snapshot.clear();
  try {
    s.ioc.restart();
    s.ioc.poll();
  } catch (...) {
  }
  {
    std::lock_guard lock(c.mu);
    c.sessions.clear();
  }

  s.stopped = true;
  s.stop_result = unanswered;
  return unanswered;
}

} // namespace olocal::http
