#pragma once

// Kubernetes Events (core/v1) for the objects we act on, with client-go's
// event correlation: a spam filter (a token bucket per involved object) and
// de-duplication (a repeat of the same event bumps count and lastTimestamp of
// the existing Event by merge patch instead of creating another one).
//
// Blocking and thread-safe. Records are written one at a time per recorder,
// as client-go's broadcaster writes them from one goroutine; call record()
// from detached actors or plain threads.

#include "gateways/kube/resources.hpp"

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <string_view>

namespace olocal::kube {

class client;

struct event_options {
  /// Events an involved object may have in a burst (client-go: 25).
  unsigned burst = 25;
  /// One token comes back this often per involved object (client-go: 1 every 5 min).
  std::chrono::milliseconds refill{std::chrono::minutes{5}};
  /// A repeat within this long after the last occurrence updates the existing
  /// Event; a later one starts a new Event.
  std::chrono::milliseconds window{std::chrono::minutes{10}};
  /// Involved objects and distinct events remembered (least recently used go first).
  std::size_t max_keys = 4096;
  /// The wall clock for timestamps, the buckets and the window; empty = system clock.
  std::function<std::chrono::system_clock::time_point()> clock;
};

struct event_stats {
  uint64_t created = 0; ///< Events created (a recreation after a deletion included)
  uint64_t patched = 0; ///< repeats counted on an existing Event
  uint64_t dropped = 0; ///< refused by the rate limit
  uint64_t failed = 0;  ///< invalid, or the write failed
};

class event_recorder {
public:
  /// `component` becomes source.component and reportingComponent, `host`
  /// source.host and reportingInstance.
  event_recorder(std::shared_ptr<client> api, std::string component, std::string host,
                 event_options options = {});
  ~event_recorder();
  event_recorder(const event_recorder&) = delete;
  event_recorder& operator=(const event_recorder&) = delete;

  /// Records that `reason` happened to `involved`: creates an Event named
  /// "<involved name>.<hex>" in the object's namespace ("default" for
  /// cluster-scoped objects), or counts a repeat (same object, type, reason
  /// and message) on the existing one. `type` must be "Normal" or "Warning"
  /// and `reason` non-empty. True when written; false when invalid, dropped
  /// by the rate limit or failed (see stats()).
  bool record(const object& involved, std::string_view type, std::string_view reason,
              std::string_view message);

  event_stats stats() const;

private:
  struct impl;
  std::unique_ptr<impl> impl_;
};

} // namespace olocal::kube
