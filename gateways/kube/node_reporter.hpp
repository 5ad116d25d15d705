#pragma once

// The node's NodeLocalStorage status: what its disks, volume groups and mount
// points hold, written to the API server when it changed and as a heartbeat.
//
// The reporter compares the node supervisor's cached view (no lvm process)
// every poll interval, so a change made by our own operations reaches the
// status within one interval; when the block devices in sysfs change (a new
// LV, a grown or new disk) it asks the supervisor to rescan first. It follows
// its own NodeLocalStorage through an informer (spec and annotations) and
// creates it when missing.

#include "actors/core/interfaces.hpp"
#include "actors/node/vg_actor.hpp"
#include "gateways/kube/nls.hpp"

#include <caf/fwd.hpp>

#include <chrono>
#include <functional>
#include <memory>
#include <string>

namespace olocal::kube {

class client;

struct node_reporter_options {
  std::string node_name;
  /// How often the node's view is compared with the last status written.
  std::chrono::milliseconds poll{2'000};
  /// An unchanged status is written again this often (lastHeartbeatTime).
  std::chrono::milliseconds heartbeat{60'000};
  std::string sysfs = "/sys";
  /// Owner tag value and legacy prefixes that make an LV ours (allocatable).
  vg_options vg;
  /// spec.resourceToBeInited may take devices holding content (a stale
  /// label, a partition table), never a filesystem or a device in use
  /// (open-local's Force_Create_VG).
  bool force_init = false;
  /// A failing resource is tried again after this, doubling up to the cap.
  std::chrono::milliseconds init_retry{10'000};
  std::chrono::milliseconds init_retry_cap{600'000};
  /// Volume groups the node manages whatever its spec says (--vg).
  std::vector<std::string> static_vgs;
  /// The names of the node's volume groups (tests inject theirs); empty = a
  /// `vgs` report (one lvm process, run only when the spec or sysfs changed).
  std::function<std::vector<std::string>()> list_vgs;
};

/// The facts the status is built from, as the node's actors know them.
/// `mount_stats` fills total/available/options of a mount point path (a
/// statvfs and the mount table on a real node).
node_storage_facts facts_of(const node_view& view, const vg_options& ours,
                            const std::function<void(mount_fact&)>& mount_stats = {});

/// A fingerprint of /sys/block (names and sizes, partitions included):
/// changes when an LV, a disk or a partition appears, goes or grows.
std::string block_fingerprint(const std::string& sysfs);

/// The volume groups a node manages: those of `present` that its spec's
/// listConfig.vgs selects, plus `static_vgs`, sorted, without duplicates.
std::vector<std::string> managed_vgs(const nls_spec& spec, const std::vector<std::string>& present,
                                     const std::vector<std::string>& static_vgs);

/// Spawns the reporter (a detached actor: its API calls block only itself).
/// Before it reports, it applies the spec: creates what resourceToBeInited
/// lists (node_init.hpp: safe, retried with backoff, failures raised as
/// Warning Events on the NodeLocalStorage) and has the node manage the
/// groups listConfig selects.
/// It ends with an exit message; it ends its informer with itself.
caf::actor spawn_node_reporter(caf::actor_system& sys, std::shared_ptr<client> api,
                               node_supervisor_actor node, node_reporter_options opts);

} // namespace olocal::kube
