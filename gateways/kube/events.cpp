#include "gateways/kube/events.hpp"

#include "actors/core/errc.hpp"
#include "actors/core/log.hpp"
#include "gateways/kube/client.hpp"
#include "gateways/kube/writer.hpp"

#include <boost/json/object.hpp>

#include <algorithm>
#include <atomic>
#include <cstdio>
#include <ctime>
#include <list>
#include <mutex>
#include <unordered_map>
#include <utility>

namespace olocal::kube {

namespace json = boost::json;

namespace {

using time_point = std::chrono::system_clock::time_point;

constexpr std::string_view who = "kube-events";

/// A map that keeps at most `capacity` entries, evicting the least recently used.
template <class V>
class lru_map {
public:
  explicit lru_map(std::size_t capacity) : capacity_(std::max<std::size_t>(capacity, 1)) {}

  /// The entry of `key` (now the most recently used), nullptr when absent.
  V* find(const std::string& key) {
    auto it = index_.find(key);
    if (it == index_.end())
      return nullptr;
    order_.splice(order_.begin(), order_, it->second);
    return &it->second->second;
  }

  V& put(const std::string& key, V value) {
    if (auto* v = find(key)) {
      *v = std::move(value);
      return *v;
    }
    order_.emplace_front(key, std::move(value));
    index_[key] = order_.begin();
    if (order_.size() > capacity_) {
      index_.erase(order_.back().first);
      order_.pop_back();
    }
    return order_.front().second;
  }

  void erase(const std::string& key) {
    if (auto it = index_.find(key); it != index_.end()) {
      order_.erase(it->second);
      index_.erase(it);
    }
  }

private:
  std::size_t capacity_;
  std::list<std::pair<std::string, V>> order_;
  std::unordered_map<std::string, typename std::list<std::pair<std::string, V>>::iterator> index_;
};

/// The spam filter's token bucket of one involved object.
struct bucket {
  double tokens = 0;
  time_point last;
};

/// The last occurrence of one distinct event and the Event that counts it.
struct occurrence {
  std::string name;
  std::string ns;
  int64_t count = 0;
  std::string first_timestamp;
  time_point last_seen;
};

/// metav1.Time: "2026-11-27T11:20:25Z".
std::string rfc3339(time_point t) {
  auto secs = std::chrono::system_clock::to_time_t(t);
  std::tm tm{};
  gmtime_r(&secs, &tm);
  char buf[32];
  auto n = std::strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%SZ", &tm);
  return std::string{buf, n};
}

std::string join(std::initializer_list<std::string_view> parts) {
  std::string out;
  for (auto part : parts) {
    out += part;
    out += '\x1f'; // unit separator: no field can contain it
  }
  return out;
}

/// The involved object as an ObjectReference (client-go's GetReference).
struct reference {
  std::string kind, ns, name, uid, api_version, resource_version;

  explicit reference(const object& o)
    : kind(o.string_at("kind")), ns(o.namespace_()), name(o.name()), uid(o.uid()),
      api_version(o.string_at("apiVersion")), resource_version(o.resource_version()) {}

  json::object to_json() const {
    json::object ref;
    ref["kind"] = kind;
    if (!ns.empty())
      ref["namespace"] = ns;
    ref["name"] = name;
    if (!uid.empty())
      ref["uid"] = uid;
    if (!api_version.empty())
      ref["apiVersion"] = api_version;
    if (!resource_version.empty())
      ref["resourceVersion"] = resource_version;
    return ref;
  }
};

} // namespace

struct event_recorder::impl {
  std::shared_ptr<client> api;
  std::string component;
  std::string host;
  event_options opts;

  std::mutex mu; ///< one record at a time; guards everything below
  lru_map<bucket> buckets;
  lru_map<occurrence> occurrences;
  uint64_t last_suffix = 0;

  std::atomic<uint64_t> created{0}, patched{0}, dropped{0}, failed{0};

  impl(std::shared_ptr<client> a, std::string c, std::string h, event_options o)
    : api(std::move(a)), component(std::move(c)), host(std::move(h)), opts(std::move(o)),
      buckets(opts.max_keys), occurrences(opts.max_keys) {
    if (!opts.clock)
      opts.clock = [] { return std::chrono::system_clock::now(); };
  }

  /// Takes a token of the involved object's bucket; false when it is empty.
  bool admit(const std::string& key, time_point now) {
    auto* b = buckets.find(key);
    if (b == nullptr)
      b = &buckets.put(key, bucket{static_cast<double>(opts.burst), now});
    if (now > b->last && opts.refill.count() > 0) {
      auto elapsed = std::chrono::duration<double, std::milli>(now - b->last).count();
      b->tokens = std::min(static_cast<double>(opts.burst),
                           b->tokens + elapsed / static_cast<double>(opts.refill.count()));
    }
    b->last = std::max(b->last, now);
    if (b->tokens < 1.0)
      return false;
    b->tokens -= 1.0;
    return true;
  }

  /// "<name>.<hex>": nanoseconds since the epoch like client-go, kept
  /// strictly increasing so that one recorder never repeats a name.
  std::string fresh_name(const std::string& involved, time_point now) {
    auto ns = std::chrono::duration_cast<std::chrono::nanoseconds>(now.time_since_epoch()).count();
    last_suffix = std::max(last_suffix + 1, static_cast<uint64_t>(std::max<int64_t>(ns, 0)));
    char buf[24];
    std::snprintf(buf, sizeof buf, "%llx", static_cast<unsigned long long>(last_suffix));
    return involved + "." + buf;
  }

  object make_event(const reference& ref, const occurrence& occ, std::string_view type,
                    std::string_view reason, std::string_view message,
                    const std::string& last_timestamp) const {
    json::object source;
    source["component"] = component;
    if (!host.empty())
      source["host"] = host;
    return object{json::object{
      {"apiVersion", "v1"},
      {"kind", "Event"},
      {"metadata", json::object{{"name", occ.name}, {"namespace", occ.ns}}},
      {"involvedObject", ref.to_json()},
      {"reason", reason},
      {"message", message},
      {"type", type},
      {"source", std::move(source)},
      {"firstTimestamp", occ.first_timestamp},
      {"lastTimestamp", last_timestamp},
      {"count", occ.count},
      {"reportingComponent", component},
      {"reportingInstance", host},
    }};
  }

  bool fail(std::string_view what, const reference& ref, std::string_view reason) {
    ++failed;
    log::warn(who, what,
              {{"kind", ref.kind}, {"namespace", ref.ns}, {"name", ref.name}, {"reason", reason}});
    return false;
  }

  bool record(const object& involved, std::string_view type, std::string_view reason,
              std::string_view message) {
    reference ref{involved};
    if (type != "Normal" && type != "Warning")
      return fail("event rejected: type must be Normal or Warning, not \"" + std::string{type} +
                    "\"",
                  ref, reason);
    if (reason.empty())
      return fail("event rejected: the reason is empty", ref, reason);
    if (ref.name.empty())
      return fail("event rejected: the involved object has no name", ref, reason);

    std::lock_guard lock{mu};
    auto now = opts.clock();
    auto spam_key = join({ref.kind, ref.ns, ref.name, ref.uid, ref.api_version});
    if (!admit(spam_key, now)) {
      ++dropped;
      log::debug(who, "event dropped by the rate limit",
                 {{"kind", ref.kind}, {"name", ref.name}, {"reason", reason}});
      return false;
    }
    auto timestamp = rfc3339(now);
    auto key = join({spam_key, type, reason, message});

    occurrence occ;
    if (auto* seen = occurrences.find(key);
        seen != nullptr && now - seen->last_seen <= opts.window) {
      occ = *seen;
      occ.count += 1;
      occ.last_seen = now;
      json::object patch{{"count", occ.count}, {"lastTimestamp", timestamp}, {"message", message}};
      auto patched_event = merge_patch(*api, kinds::event, occ.ns, occ.name, patch);
      if (patched_event) {
        occurrences.put(key, occ);
        ++patched;
        return true;
      }
      if (code_of(patched_event.error()) != errc::not_found) {
        // The Event is still there: the next repeat counts on it again.
        return fail("cannot count a repeated event: " + render(patched_event.error()), ref, reason);
      }
      // Someone deleted it: create it again under its name, count carried on
      // (client-go's recordEvent does the same).
    } else {
      occ.name = fresh_name(ref.name, now);
      occ.ns = ref.ns.empty() ? "default" : ref.ns;
      occ.count = 1;
      occ.first_timestamp = timestamp;
      occ.last_seen = now;
    }
    auto written =
      create(*api, kinds::event, make_event(ref, occ, type, reason, message, timestamp));
    if (!written) {
      occurrences.erase(key);
      return fail("cannot create an event: " + render(written.error()), ref, reason);
    }
    occurrences.put(key, occ);
    ++created;
    return true;
  }
};

event_recorder::event_recorder(std::shared_ptr<client> api, std::string component, std::string host,
                               event_options options)
  : impl_(std::make_unique<impl>(std::move(api), std::move(component), std::move(host),
                                 std::move(options))) {
}

event_recorder::~event_recorder() = default;

bool event_recorder::record(const object& involved, std::string_view type, std::string_view reason,
                            std::string_view message) {
  return impl_->record(involved, type, reason, message);
}

event_stats event_recorder::stats() const {
  return {impl_->created.load(), impl_->patched.load(), impl_->dropped.load(),
          impl_->failed.load()};
}

} // namespace olocal::kube
