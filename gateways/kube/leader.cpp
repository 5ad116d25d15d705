#include "gateways/kube/leader.hpp"

#include "actors/core/errc.hpp"
#include "actors/core/log.hpp"
#include "gateways/kube/client.hpp"
#include "gateways/kube/resources.hpp"
#include "gateways/kube/writer.hpp"

#include <caf/all.hpp>

#include <boost/json/object.hpp>

#include <optional>
#include <random>
#include <stdexcept>

namespace olocal::kube {

namespace json = boost::json;

namespace {

using elect_atom = caf::atom_constant<caf::atom("klelect")>;
using steady = std::chrono::steady_clock;

constexpr std::string_view who = "kube-leader";

/// The election record: the Lease spec fields the election reads and writes.
struct record {
  std::string holder;
  int64_t duration_seconds = 0;
  std::string acquire_time;
  std::string renew_time;
  int64_t transitions = 0;

  bool operator==(const record&) const = default;
};

record record_of(const object& o) {
  return {lease::holder(o), lease::duration_seconds(o), o.string_at("spec.acquireTime"),
          lease::renew_time(o), lease::transitions(o)};
}

/// leaseDurationSeconds for a duration: whole seconds, rounded up, at least 1.
int64_t whole_seconds(std::chrono::milliseconds d) {
  return std::max<int64_t>(1, (d.count() + 999) / 1000);
}

struct elector_state {
  static inline const char* name = "kube-leader-elector";
  std::shared_ptr<client> api;
  leader_options opts;
  caf::actor notify;
  std::string what; ///< "lease ns/name", for messages

  /// The record as last seen and when (by our clock) it last changed.
  std::optional<record> observed;
  steady::time_point observed_time;
  /// The Lease last read or written: the base (resourceVersion) of the next write.
  std::optional<object> lease;

  bool leading = false;
  steady::time_point last_renew; ///< start of the last successful renewal
  leader_changed reported;       ///< what notify was told last
  unsigned failures = 0;         ///< failed attempts in a row
  std::mt19937_64 rng{std::random_device{}()};
};

using elector = caf::stateful_actor<elector_state>;

void observe(elector_state& st, const object& lease) {
  auto rec = record_of(lease);
  if (!st.observed || *st.observed != rec) {
    st.observed = std::move(rec);
    st.observed_time = steady::now();
  }
  st.lease = lease;
}

/// True while another holder's lease has not expired by our observation: the
/// record has not changed for its leaseDurationSeconds (ours when it has none).
bool held_by_other(const elector_state& st, steady::time_point now) {
  if (!st.observed || st.observed->holder.empty() || st.observed->holder == st.opts.identity)
    return false;
  auto duration = st.observed->duration_seconds > 0
                    ? std::chrono::milliseconds{st.observed->duration_seconds * 1000}
                    : st.opts.lease_duration;
  return st.observed_time + duration > now;
}

/// The per-request timeout: while leading, what is left of the renew
/// deadline (nothing left = no request); otherwise the renew deadline.
std::optional<std::chrono::milliseconds> request_timeout(const elector_state& st) {
  if (!st.leading)
    return st.opts.renew_deadline;
  auto left = st.opts.renew_deadline -
              std::chrono::duration_cast<std::chrono::milliseconds>(steady::now() - st.last_renew);
  if (left <= std::chrono::milliseconds{0})
    return std::nullopt;
  return left;
}

/// One request, one attempt: the ticks are the retries.
caf::expected<object> call(elector_state& st, std::string method, std::string path,
                           std::string body, std::string_view what) {
  auto timeout = request_timeout(st);
  if (!timeout)
    return make_error(errc::timeout, std::string{what} + ": the renew deadline has passed");
  api_request req;
  req.method = std::move(method);
  req.path = std::move(path);
  req.body = std::move(body);
  req.timeout = *timeout;
  req.retry = false;
  auto r = st.api->send(req);
  if (r.status < 200 || r.status > 299) {
    if (r.status == 0 && !r.error.empty())
      return make_error(errc::unavailable, std::string{what} + ": " + r.error);
    return api_error(r.status, r.body, what);
  }
  std::string why;
  auto doc = parse_object(r.body, &why);
  if (!doc)
    return make_error(errc::parse_error, std::string{what} + ": " + why);
  return std::move(*doc);
}

json::object& spec_of(object& o) {
  auto& doc = o.mutable_json();
  auto& spec = doc["spec"];
  if (!spec.is_object())
    spec = json::object{};
  return spec.get_object();
}

void note_failure(elector_state& st, const caf::error& err) {
  ++st.failures;
  // A candidate failing while a leader holds the lease is routine; say it once per streak.
  if (st.failures == 1 || st.leading)
    log::warn(who, "lease attempt failed",
              {{"lease", st.what}, {"identity", st.opts.identity}, {"error", render(err)}});
}

/// client-go's tryAcquireOrRenew: true when we hold the lease after this call.
bool try_acquire_or_renew(elector_state& st) {
  auto& kind = kinds::lease;
  auto got = call(st, "GET", kind.object_path(st.opts.ns, st.opts.name), "", "get " + st.what);
  if (!got && code_of(got.error()) == errc::not_found) {
    auto now = micro_time_now();
    object fresh{json::object{
      {"apiVersion", kind.api_version()},
      {"kind", kind.kind},
      {"metadata", json::object{{"name", st.opts.name}, {"namespace", st.opts.ns}}},
      {"spec", json::object{{"holderIdentity", st.opts.identity},
                            {"leaseDurationSeconds", whole_seconds(st.opts.lease_duration)},
                            {"acquireTime", now},
                            {"renewTime", now},
                            {"leaseTransitions", 0}}},
    }};
    auto made =
      call(st, "POST", kind.collection_path(st.opts.ns), fresh.serialize(), "create " + st.what);
    if (!made) {
      // AlreadyExists: another candidate created it first this round.
      if (code_of(made.error()) != errc::already_exists)
        note_failure(st, made.error());
      return false;
    }
    observe(st, *made);
    return true;
  }
  if (!got) {
    note_failure(st, got.error());
    return false;
  }
  observe(st, *got);
  if (held_by_other(st, steady::now()))
    return false;

  object next = *got;
  auto now = micro_time_now();
  auto& spec = spec_of(next);
  bool ours = st.observed->holder == st.opts.identity;
  spec["holderIdentity"] = st.opts.identity;
  spec["leaseDurationSeconds"] = whole_seconds(st.opts.lease_duration);
  spec["renewTime"] = now;
  if (!ours || st.observed->acquire_time.empty())
    spec["acquireTime"] = now;
  spec["leaseTransitions"] = ours ? st.observed->transitions : st.observed->transitions + 1;
  auto written = call(st, "PUT", kind.object_path(st.opts.ns, st.opts.name), next.serialize(),
                      "update " + st.what);
  if (!written) {
    // A conflict: someone else wrote the lease since we read it and won this round.
    if (code_of(written.error()) != errc::conflict)
      note_failure(st, written.error());
    return false;
  }
  observe(st, *written);
  return true;
}

/// Tells notify when leading or the holder changed since the last report.
void report(elector* self) {
  auto& st = self->state;
  leader_changed now;
  now.leading = st.leading;
  if (st.leading)
    now.holder = st.opts.identity;
  else if (st.observed && st.observed->holder != st.opts.identity)
    now.holder = st.observed->holder;
  if (now.leading == st.reported.leading && now.holder == st.reported.holder)
    return;
  st.reported = now;
  log::info(who, now.leading ? "leading" : "not leading",
            {{"lease", st.what}, {"identity", st.opts.identity}, {"holder", now.holder}});
  if (st.notify)
    caf::anon_send(st.notify, now);
}

void step_down(elector_state& st, std::string_view why) {
  st.leading = false;
  log::warn(who, "stepping down",
            {{"lease", st.what}, {"identity", st.opts.identity}, {"why", why}});
}

void tick(elector* self) {
  auto& st = self->state;
  auto start = steady::now();
  if (try_acquire_or_renew(st)) {
    st.failures = 0;
    st.last_renew = start;
    st.leading = true;
  } else if (st.leading) {
    if (st.observed && !st.observed->holder.empty() && st.observed->holder != st.opts.identity)
      step_down(st, "the lease names another holder");
    else if (steady::now() - st.last_renew >= st.opts.renew_deadline)
      step_down(st, "no successful renewal within the renew deadline");
  }
  report(self);
  auto wait = st.opts.retry_period;
  if (!st.leading) {
    // Candidates spread out their attempts a little, as client-go's JitterUntil does.
    std::uniform_real_distribution<double> jitter(1.0, 1.2);
    wait = std::chrono::milliseconds{
      static_cast<int64_t>(static_cast<double>(wait.count()) * jitter(st.rng))};
  }
  self->delayed_send(self, wait, elect_atom::value);
}

/// Gives the lease up: no holder and a one-second duration, so that the
/// others may take it at once; acquireTime/renewTime now, transitions kept.
void release(elector_state& st) {
  if (!st.lease)
    return;
  object next = *st.lease;
  auto now = micro_time_now();
  auto& spec = spec_of(next);
  spec["holderIdentity"] = "";
  spec["leaseDurationSeconds"] = 1;
  spec["acquireTime"] = now;
  spec["renewTime"] = now;
  st.leading = false; // the release gets the whole renew deadline
  auto written = call(st, "PUT", kinds::lease.object_path(st.opts.ns, st.opts.name),
                      next.serialize(), "release " + st.what);
  if (!written) {
    log::warn(
      who, "cannot release the lease",
      {{"lease", st.what}, {"identity", st.opts.identity}, {"error", render(written.error())}});
    return;
  }
  observe(st, *written);
  log::info(who, "released the lease", {{"lease", st.what}, {"identity", st.opts.identity}});
}

caf::behavior elector_impl(elector* self, std::shared_ptr<client> api, leader_options opts,
                           caf::actor notify) {
  auto& st = self->state;
  st.api = std::move(api);
  st.opts = std::move(opts);
  st.notify = std::move(notify);
  st.what = "lease " + st.opts.ns + "/" + st.opts.name;
  self->set_exit_handler([self](caf::exit_msg& msg) {
    auto& s = self->state;
    if (s.leading && s.opts.release_on_exit)
      release(s);
    s.leading = false;
    report(self);
    self->quit(msg.reason);
  });
  self->send(self, elect_atom::value);
  return {
    [self](elect_atom) { tick(self); },
  };
}

} // namespace

caf::error check_leader_options(const leader_options& o) {
  auto bad = [](std::string why) {
    return make_error(errc::config_invalid, "leader election: " + std::move(why));
  };
  if (o.ns.empty())
    return bad("the lease namespace is empty");
  if (o.name.empty())
    return bad("the lease name is empty");
  if (o.identity.empty())
    return bad("the identity is empty");
  if (o.retry_period <= std::chrono::milliseconds{0})
    return bad("retry_period must be positive");
  if (o.renew_deadline <= o.retry_period)
    return bad("renew_deadline (" + std::to_string(o.renew_deadline.count()) +
               " ms) must be greater than retry_period (" + std::to_string(o.retry_period.count()) +
               " ms)");
  if (o.lease_duration <= o.renew_deadline)
    return bad("lease_duration (" + std::to_string(o.lease_duration.count()) +
               " ms) must be greater than renew_deadline (" +
               std::to_string(o.renew_deadline.count()) + " ms)");
  return {};
}

caf::actor spawn_leader_elector(caf::actor_system& sys, std::shared_ptr<client> api,
                                leader_options opts, caf::actor notify) {
  if (auto err = check_leader_options(opts))
    throw std::invalid_argument(message_of(err));
  if (!api)
    throw std::invalid_argument("leader election: no API client");
  return sys.spawn<caf::detached>(elector_impl, std::move(api), std::move(opts), std::move(notify));
}

caf::actor spawn_while_leading(caf::actor_system& sys, std::shared_ptr<client> api,
                               std::optional<leader_options> opts,
                               std::function<caf::actor(caf::actor_system&)> start_work) {
  if (opts)
    if (auto err = check_leader_options(*opts))
      throw std::invalid_argument(message_of(err));
  struct handles {
    caf::actor work;
    caf::actor elector;
  };
  return sys.spawn(
    [api = std::move(api), opts = std::move(opts),
     start_work = std::move(start_work)](caf::event_based_actor* self) mutable -> caf::behavior {
      // Shared with the exit hook, which runs after the behavior is gone.
      auto h = std::make_shared<handles>();
      self->attach_functor([h] {
        for (auto* a : {&h->work, &h->elector})
          if (*a)
            caf::anon_send_exit(*a, caf::exit_reason::user_shutdown);
      });
      if (opts)
        h->elector = spawn_leader_elector(self->system(), api, *opts, self);
      else
        h->work = start_work(self->system());
      return {
        [self, h, start_work](leader_changed& change) {
          if (change.leading && !h->work) {
            log::info("kube-leader-gate", "leading: starting the work");
            h->work = start_work(self->system());
          } else if (!change.leading && h->work) {
            log::info("kube-leader-gate", "not leading: stopping the work",
                      {{"holder", change.holder}});
            caf::anon_send_exit(h->work, caf::exit_reason::user_shutdown);
            h->work = nullptr;
          }
        },
      };
    });
}

} // namespace olocal::kube
