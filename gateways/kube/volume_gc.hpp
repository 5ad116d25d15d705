#pragma once

// Garbage collection of orphaned volumes on one node.
//
// An LV carrying our owner tag whose cluster object is gone (a volume or
// clone without a PersistentVolume, a snapshot without a
// VolumeSnapshotContent, an inline ephemeral volume without its pod) for a
// grace period is reported and, unless the policy says dry-run, removed by the
// node supervisor with a secure wipe. Volumes a Retain PersistentVolume ever
// referenced carry `olocal/reclaim=Retain` and are never removed.
//
// The decisions are a pure function (plan_gc, table-tested); the actor only
// gathers its inputs (three informers and the node's view) and carries the
// plan out.

#include "actors/core/interfaces.hpp"

#include <caf/expected.hpp>
#include <caf/fwd.hpp>
#include <caf/replies_to.hpp>
#include <caf/typed_actor.hpp>

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <set>
#include <string>
#include <string_view>
#include <vector>

namespace olocal::metrics {
class registry;
} // namespace olocal::metrics

namespace olocal::kube {

class client;

/// The tag a volume gets while a Retain PersistentVolume references it; an LV
/// carrying it is never removed by the GC, with or without its PV.
inline constexpr std::string_view reclaim_retain_tag = "olocal/reclaim=Retain";

/// What the GC may do: nothing, report only, or remove.
enum class gc_policy : uint8_t { off, dry_run, remove };

/// "off", "dry-run" or "delete".
std::string_view to_string(gc_policy policy);

/// Parses "off", "dry-run" or "delete"; config_invalid naming the bad value otherwise.
caf::expected<gc_policy> parse_gc_policy(std::string_view text);

struct volume_gc_options {
  std::string node_name;
  gc_policy policy = gc_policy::dry_run;
  /// An LV must be unreferenced (and created) at least this long before it goes.
  std::chrono::seconds grace{600};
  /// Time between passes; 0 = only on an explicit tick_atom.
  std::chrono::milliseconds interval{60'000};
  /// Safety valve against a wrong or empty API view: at most this many
  /// removals per pass, the rest wait for the next pass.
  size_t max_removals_per_pass = 5;
  /// The wall clock (tests inject a fake one).
  std::function<std::chrono::system_clock::time_point()> now = [] {
    return std::chrono::system_clock::now();
  };
  /// Counters and gauges (nullptr = none).
  metrics::registry* metrics = nullptr;
};

// -- the pure plan ------------------------------------------------------------

/// What the cluster references, as the informers see it.
struct gc_references {
  /// spec.csi.volumeHandle of every PersistentVolume (any driver) -> its
  /// persistentVolumeReclaimPolicy ("Retain" wins when several PVs name one handle).
  std::map<std::string, std::string> volumes;
  /// status.snapshotHandle and spec.source.snapshotHandle of every VolumeSnapshotContent.
  std::set<std::string> snapshots;
  /// metadata.uid of every pod on this node.
  std::set<std::string> pod_uids;
};

/// What the GC remembers of one unreferenced LV between passes.
struct gc_memory_entry {
  std::chrono::system_clock::time_point unreferenced_since{};
  bool reported = false; ///< dry-run: "would remove" already logged and counted
};

/// By LV name (= volume id). Referenced LVs are absent: their clock restarts.
using gc_memory = std::map<std::string, gc_memory_entry>;

/// One LV the plan removes (or, in dry-run, would remove).
struct gc_removal {
  std::string id; ///< the LV name = volume id
  std::string vg;
  std::string kind;   ///< volume | snapshot | ephemeral (clones count as volume)
  std::string reason; ///< why it is an orphan, for the log
  /// Ephemeral volumes: unpublished, then unstaged, before the delete.
  std::vector<std::string> unpublish_targets;
  std::string unstage_path;
  bool first_report = true; ///< dry-run: not reported by an earlier pass
};

struct gc_plan {
  std::vector<gc_removal> remove;       ///< policy remove: delete now (at most the limit)
  std::vector<gc_removal> would_remove; ///< policy dry_run: what remove would delete
  std::vector<std::string> deferred;    ///< removable, but over the per-pass limit
  std::vector<std::string> tag;         ///< add reclaim_retain_tag (a Retain PV references it)
  std::vector<std::string> untag;       ///< remove it (the PV's policy changed)
  std::vector<std::string> retained;    ///< unreferenced, kept by reclaim_retain_tag
  std::vector<std::string> in_use;      ///< unreferenced, but staged, published or busy
  std::vector<std::string> waiting;     ///< unreferenced, within the grace period
  /// Unreferenced LVs left in place after this pass, by kind (volume, snapshot, ephemeral).
  std::map<std::string, uint64_t> orphans;
  gc_memory memory; ///< the memory for the next pass
};

/// The pod UID of a kubelet target path ("/var/lib/kubelet/pods/<uid>/volumes/..."),
/// "" when the path has no "/pods/<uid>/" segment.
std::string pod_uid_of_target(std::string_view path);

/// Decides one pass from the node's view, what the cluster references, the
/// memory of the previous pass and the time. Uses policy, grace and
/// max_removals_per_pass of `opts`. Pure.
gc_plan plan_gc(const node_view& view, const gc_references& refs, const gc_memory& memory,
                std::chrono::system_clock::time_point now, const volume_gc_options& opts);

// -- the actor ----------------------------------------------------------------

/// What one pass did.
struct gc_report {
  std::string skipped;               ///< why the pass did not run; "" when it ran
  std::vector<std::string> removed;  ///< deleted with a wipe
  std::vector<std::string> dry_run;  ///< would be removed (dry-run)
  std::vector<std::string> retained; ///< kept by the Retain tag
  std::vector<std::string> in_use;   ///< kept: staged, published or busy
  std::vector<std::string> waiting;  ///< kept: within the grace period
  std::vector<std::string> deferred; ///< kept: over the per-pass limit
  std::vector<std::string> failed;   ///< a removal failed (retried next pass)
  std::vector<std::string> tagged;   ///< got reclaim_retain_tag
  std::vector<std::string> untagged; ///< lost reclaim_retain_tag
  uint64_t passes = 0;               ///< passes run so far (skipped ones excluded)
};

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, gc_report& x) {
  return f(caf::meta::type_name("gc_report"), x.skipped, x.removed, x.dry_run, x.retained, x.in_use,
           x.waiting, x.deferred, x.failed, x.tagged, x.untagged, x.passes);
}

/// The GC's own periodic timer (internal; tick_atom is the explicit pass).
using gc_timer_atom = caf::atom_constant<caf::atom("kgctimer")>;

/// tick_atom runs one pass now and answers what it did (a tick during a pass
/// runs right after it); inspect_atom answers the last report as state_json.
using volume_gc_actor = caf::typed_actor<caf::replies_to<tick_atom>::with<gc_report>,
                                         caf::replies_to<inspect_atom>::with<actor_report>,
                                         caf::reacts_to<gc_timer_atom>>;

/// Spawns the GC of `opts.node_name`. It follows PersistentVolumes,
/// VolumeSnapshotContents and the node's pods with informers (ended with it)
/// and passes every opts.interval. With policy off it starts no informer and
/// every tick answers a skipped report. It ends with an exit message.
volume_gc_actor spawn_volume_gc(caf::actor_system& sys, std::shared_ptr<client> api,
                                node_supervisor_actor node, volume_gc_options opts);

} // namespace olocal::kube
