#include "gateways/admin/observability.hpp"

#include "actors/core/errc.hpp"
#include "actors/core/json.hpp"
#include "actors/core/log.hpp"
#include "gateways/http/server.hpp"
#include "gateways/metrics/metrics.hpp"

#include <caf/all.hpp>

#include <arpa/inet.h>
#include <charconv>
#include <fstream>
#include <set>
#include <sstream>

namespace olocal {

namespace {

http::response json_response(unsigned status, std::string body) {
  http::response res;
  res.status = status;
  res.content_type = "application/json";
  res.body = std::move(body);
  res.body += '\n';
  return res;
}

http::response error_response(errc code, const std::string& message) {
  return json_response(static_cast<unsigned>(to_http_status(code)),
                       "{\"error\":{\"code\":" + json_quote(to_string(code)) +
                         ",\"message\":" + json_quote(message) + "}}");
}

http::response error_response(const caf::error& err) {
  return error_response(code_of(err), render(err));
}

http::response text_response(unsigned status, std::string body) {
  http::response res;
  res.status = status;
  res.body = std::move(body);
  return res;
}

/// Compares without an early exit, so the time taken does not reveal how
/// much of a guessed token was right.
bool same_secret(std::string_view expected, std::string_view given) {
  unsigned char diff = expected.size() == given.size() ? 0 : 1;
  for (size_t i = 0; i < given.size(); ++i)
    diff |=
      static_cast<unsigned char>(given[i] ^ expected[i % std::max<size_t>(1, expected.size())]);
  return diff == 0 && !expected.empty();
}

std::string entry_json(const actor_entry& entry, const caf::expected<actor_report>& report,
                       bool with_state) {
  std::string out = "{\"id\":" + std::to_string(entry.id) + ",\"name\":" + json_quote(entry.name) +
                    ",\"kind\":" + json_quote(entry.kind);
  if (report) {
    out += ",\"responsive\":true,\"mailboxDepth\":" + std::to_string(report->mailbox_depth) +
           ",\"summary\":" + json_quote(report->summary) +
           ",\"lastError\":" + json_quote(report->last_error);
    if (with_state)
      out +=
        ",\"state\":" + (report->state_json.empty() ? std::string{"null"} : report->state_json);
  } else {
    out += ",\"responsive\":false,\"mailboxDepth\":null,\"summary\":" +
           json_quote("no answer to inspection") +
           ",\"lastError\":" + json_quote(render(report.error()));
  }
  return out + "}";
}

/// Fixed route labels for metrics (never the raw path: ids would explode the
/// label set).
std::string_view route_label(std::string_view path) {
  for (std::string_view known : {"/healthz", "/readyz", "/metrics", "/admin/actors"})
    if (path == known)
      return known;
  if (path.rfind("/admin/actors/", 0) == 0)
    return "/admin/actors/{id}";
  return "other";
}

} // namespace

/// Kinds of actors seen so far: a kind whose actors are all gone reports 0
/// instead of vanishing from /metrics.
struct observability::kind_tracker {
  std::mutex mx;
  std::set<std::string> known;

  void update(metrics::registry& m, const std::map<std::string, double>& per_kind) {
    std::lock_guard<std::mutex> guard{mx};
    for (auto& entry : per_kind)
      known.insert(entry.first);
    for (auto& kind : known) {
      auto i = per_kind.find(kind);
      m.actors.Add({{"kind", kind}}).Set(i == per_kind.end() ? 0 : i->second);
    }
  }
};

bool is_loopback_address(std::string_view address) {
  if (address == "localhost" || address == "::1" || address == "[::1]")
    return true;
  in_addr v4{};
  std::string text{address};
  if (::inet_pton(AF_INET, text.c_str(), &v4) == 1)
    return (ntohl(v4.s_addr) >> 24) == 127;
  return false;
}

struct observability::routes {
  static void health(observability* self, http::responder done) {
    auto timeout = self->opts_.actor_timeout;
    self->sys_.spawn([reg = self->registry_, timeout, done](caf::event_based_actor* a) {
      a->request(reg, timeout, ping_atom::value)
        .then([done](ping_atom) { done(text_response(200, "ok\n")); },
              [done](caf::error& err) {
                done(text_response(503, "actor system not answering: " + render(err) + "\n"));
              });
    });
  }

  static void metrics(observability* self, http::responder done) {
    auto timeout = self->opts_.actor_timeout;
    auto* m = &self->metrics_;
    auto kinds = self->kinds_;
    self->sys_.spawn([reg = self->registry_, timeout, done, m, kinds](caf::event_based_actor* a) {
      a->request(reg, timeout, list_atom::value)
        .then(
          [done, m, kinds](std::vector<actor_entry>& entries) {
            std::map<std::string, double> per_kind;
            for (auto& e : entries)
              per_kind[e.kind] += 1;
            kinds->update(*m, per_kind);
            http::response res;
            res.content_type = "text/plain; version=0.0.4; charset=utf-8";
            res.body = m->serialize();
            done(std::move(res));
          },
          [done, m](caf::error&) {
            // Metrics stay available even when the actors are stuck.
            http::response res;
            res.content_type = "text/plain; version=0.0.4; charset=utf-8";
            res.body = m->serialize();
            done(std::move(res));
          });
    });
  }

  static void list_actors(observability* self, http::responder done) {
    auto timeout = self->opts_.actor_timeout;
    self->sys_.spawn([reg = self->registry_, timeout, done](caf::event_based_actor* a) {
      a->request(reg, timeout, list_atom::value)
        .then(
          [a, timeout, done](std::vector<actor_entry>& entries) {
            using slot = std::pair<actor_entry, caf::expected<actor_report>>;
            auto results = std::make_shared<std::vector<slot>>();
            for (auto& e : entries)
              results->emplace_back(e, caf::expected<actor_report>{caf::error{}});
            auto pending = std::make_shared<size_t>(results->size());
            auto finish = [results, done] {
              std::string body = "{\"count\":" + std::to_string(results->size()) + ",\"actors\":[";
              for (size_t i = 0; i < results->size(); ++i) {
                if (i > 0)
                  body += ',';
                body += entry_json((*results)[i].first, (*results)[i].second, false);
              }
              done(json_response(200, body + "]}"));
            };
            if (results->empty()) {
              finish();
              return;
            }
            for (size_t i = 0; i < results->size(); ++i) {
              a->request((*results)[i].first.handle, timeout, inspect_atom::value)
                .then(
                  [results, pending, finish, i](actor_report& r) {
                    (*results)[i].second = std::move(r);
                    if (--*pending == 0)
                      finish();
                  },
                  [results, pending, finish, i](caf::error& err) {
                    (*results)[i].second = std::move(err);
                    if (--*pending == 0)
                      finish();
                  });
            }
          },
          [done](caf::error& err) { done(error_response(err)); });
    });
  }

  static void one_actor(observability* self, std::string_view id_text, http::responder done) {
    uint64_t id = 0;
    auto [ptr, ec] = std::from_chars(id_text.data(), id_text.data() + id_text.size(), id);
    if (ec != std::errc{} || ptr != id_text.data() + id_text.size()) {
      done(error_response(errc::invalid_argument,
                          "actor id must be a number, got '" + std::string{id_text} + "'"));
      return;
    }
    auto timeout = self->opts_.actor_timeout;
    self->sys_.spawn([reg = self->registry_, timeout, done, id](caf::event_based_actor* a) {
      a->request(reg, timeout, list_atom::value)
        .then(
          [a, timeout, done, id](std::vector<actor_entry>& entries) {
            auto i = std::find_if(entries.begin(), entries.end(),
                                  [id](const actor_entry& e) { return e.id == id; });
            if (i == entries.end()) {
              done(error_response(errc::not_found,
                                  "no registered actor with id " + std::to_string(id)));
              return;
            }
            auto entry = *i;
            a->request(entry.handle, timeout, inspect_atom::value)
              .then(
                [done, entry](actor_report& r) {
                  done(json_response(200, entry_json(entry, std::move(r), true)));
                },
                [done, entry](caf::error& err) {
                  done(error_response(code_of(err),
                                      "actor " + entry.name + " did not answer: " + render(err)));
                });
          },
          [done](caf::error& err) { done(error_response(err)); });
    });
  }

  static void handle(observability* self, http::request req, http::responder done) {
    auto& path = req.path;
    if (req.method != "GET" && req.method != "HEAD") {
      auto res = error_response(errc::invalid_argument, req.method + " is not allowed on " + path);
      res.status = 405;
      res.headers["Allow"] = "GET, HEAD";
      done(std::move(res));
      return;
    }
    if (path == "/healthz")
      return health(self, std::move(done));
    if (path == "/readyz") {
      done(self->ready_ ? text_response(200, "ready\n") : text_response(503, "not ready\n"));
      return;
    }
    if (path == "/metrics")
      return metrics(self, std::move(done));
    if (path == "/admin/actors" || path.rfind("/admin/actors/", 0) == 0) {
      if (!self->token_.empty()) {
        auto auth = req.headers.find("authorization");
        std::string_view given = auth == req.headers.end() ? "" : std::string_view{auth->second};
        if (given.rfind("Bearer ", 0) != 0 || !same_secret(self->token_, given.substr(7))) {
          auto res = error_response(errc::unauthenticated,
                                    "the admin endpoint needs 'Authorization: Bearer <token>'");
          res.headers["WWW-Authenticate"] = "Bearer";
          done(std::move(res));
          return;
        }
      }
      if (path == "/admin/actors")
        return list_actors(self, std::move(done));
      return one_actor(self, std::string_view{path}.substr(14), std::move(done));
    }
    done(error_response(errc::not_found, "no such endpoint: " + path));
  }
};

caf::expected<std::unique_ptr<observability>> observability::start(caf::actor_system& sys,
                                                                   registry_actor registry,
                                                                   metrics::registry& metrics,
                                                                   observability_options opts) {
  std::string token;
  if (!opts.admin_token_file.empty()) {
    std::ifstream in{opts.admin_token_file};
    if (!in)
      return make_error(errc::config_invalid,
                        "cannot read the admin token file " + opts.admin_token_file);
    std::stringstream text;
    text << in.rdbuf();
    token = text.str();
    while (!token.empty() && std::isspace(static_cast<unsigned char>(token.back())))
      token.pop_back();
    if (token.size() < 16)
      return make_error(errc::config_invalid, "the admin token in " + opts.admin_token_file +
                                                " must have at least 16 characters");
  } else if (!is_loopback_address(opts.address)) {
    return make_error(errc::config_invalid,
                      "the admin endpoint is bound to " + opts.address +
                        ", which is not a loopback address: set --admin-token-file");
  }
  std::unique_ptr<observability> result{
    new observability(sys, std::move(registry), metrics, std::move(opts), std::move(token))};
  http::server_options sopts;
  sopts.address = result->opts_.address;
  sopts.port = result->opts_.port;
  sopts.threads = result->opts_.threads;
  sopts.max_body_bytes = 64 << 10;
  auto* self = result.get();
  try {
    result->server_ = std::make_unique<http::server>(sopts, [self](http::request req,
                                                                   http::responder done) {
      auto started = std::chrono::steady_clock::now();
      auto route = std::string{route_label(req.path)};
      auto* m = &self->metrics_;
      http::responder counted = [done, started, route, m](http::response res) {
        std::chrono::duration<double> took = std::chrono::steady_clock::now() - started;
        m->http_requests.Add({{"route", route}, {"code", std::to_string(res.status)}}).Increment();
        m->http_request_duration.Add({{"route", route}}, metrics::registry::latency_buckets())
          .Observe(took.count());
        done(std::move(res));
      };
      routes::handle(self, std::move(req), std::move(counted));
    });
  } catch (const std::exception& ex) {
    return make_error(errc::io_error, std::string{"cannot serve HTTP: "} + ex.what());
  }
  return result;
}

observability::observability(caf::actor_system& sys, registry_actor registry,
                             metrics::registry& metrics, observability_options opts,
                             std::string token)
  : sys_(sys), registry_(std::move(registry)), metrics_(metrics), opts_(std::move(opts)),
    token_(std::move(token)), kinds_(std::make_shared<kind_tracker>()) {
}

observability::~observability() {
  stop(std::chrono::milliseconds{0});
}

uint16_t observability::port() const {
  return server_ ? server_->port() : 0;
}

void observability::set_ready(bool ready) {
  ready_ = ready;
  metrics_.ready.Add({}).Set(ready ? 1 : 0);
}

size_t observability::stop(std::chrono::milliseconds drain) {
  ready_ = false;
  if (!server_)
    return 0;
  auto left = server_->stop(drain);
  server_.reset();
  registry_ = nullptr;
  return left;
}

} // namespace olocal
