#pragma once

// Warning Events on the pods whose volume IO limits are not in force. A
// limit that cannot be applied at publish fails NodePublishVolume (kubelet
// records that Event); this covers what happens later: a pod cgroup that is
// recreated without the io controller, a write the kernel refuses, a
// device that went away. The pod is found by its UID among this node's
// pods; repeats are counted on one Event (events.hpp's correlation).
//
// Blocking and thread-safe: called from the detached io-limit actor.

#include "gateways/kube/events.hpp"

#include <chrono>
#include <map>
#include <memory>
#include <mutex>
#include <string>

namespace olocal::kube {

class client;

struct io_limit_event_options {
  std::string node_name;
  /// How long a pod UID -> namespace/name lookup is remembered (a UID not
  /// found is looked up again after this).
  std::chrono::milliseconds lookup_ttl{std::chrono::minutes{1}};
  event_options events;
};

class io_limit_events {
public:
  io_limit_events(std::shared_ptr<client> api, io_limit_event_options options);

  /// Records reason IOLimitNotApplied on the pod with `pod_uid`: "IO limit
  /// of volume <volume> is not in force: <error>". False when the pod is
  /// not found on this node or the Event was not written.
  bool report(const std::string& pod_uid, const std::string& volume_id, const std::string& error);

  uint64_t lookups() const; ///< pod lists made so far

private:
  struct pod_ref {
    std::string ns, name, uid;
    std::chrono::steady_clock::time_point at;
  };
  bool find(const std::string& uid, pod_ref& out);

  std::shared_ptr<client> api_;
  io_limit_event_options opts_;
  event_recorder recorder_;
  mutable std::mutex mu_;
  std::map<std::string, pod_ref> pods_; ///< by UID; name "" = not on this node
  uint64_t lookups_ = 0;
};

} // namespace olocal::kube
