#pragma once

// Every actor interface of the system, in one place (STYLE.md rule 1).

#include "actors/core/messages.hpp"

#include <caf/replies_to.hpp>
#include <caf/typed_actor.hpp>

namespace olocal {

/// Every long-lived actor answers this (the admin endpoint asks it).
using inspectable = caf::typed_actor<caf::replies_to<inspect_atom>::with<actor_report>>;

/// Tracks long-lived actors for the admin endpoint and for shutdown.
using registry_actor =
  caf::typed_actor<caf::replies_to<register_actor_req>::with<uint64_t>,        // -> actor id
                   caf::replies_to<list_atom>::with<std::vector<actor_entry>>, // all, by id
                   caf::replies_to<ping_atom>::with<ping_atom>,                // liveness
                   caf::replies_to<stop_all_atom>::with<uint64_t>, // exit all, -> how many
                   caf::replies_to<inspect_atom>::with<actor_report>>;

} // namespace olocal

namespace olocal {

/// One block device of this node (disk actor).
using disk_actor = caf::typed_actor<caf::replies_to<get_atom>::with<block_device>, // current facts
                                    caf::reacts_to<block_device>, // new facts from a rescan
                                    caf::replies_to<inspect_atom>::with<actor_report>>;

} // namespace olocal

namespace olocal {

/// Runs the blocking work of one volume group, one job at a time, off the
/// scheduler threads (a detached actor in production, a fake in unit tests):
/// LVM commands (answers stdout; failures are errors classified from lvm2's
/// exit code and stderr), secure wipes (answers the method used) and copies
/// (answers the engine and rate).
using lvm_runner_actor =
  caf::typed_actor<caf::replies_to<lvm_command>::with<std::string>,
                   caf::replies_to<wipe_command>::with<std::string>,
                   caf::replies_to<copy_command>::with<std::string>,
                   caf::replies_to<fill_query>::with<std::vector<fill_entry>>>;

/// One volume group: the only place that changes it. Changes run one at a
/// time in arrival order; reads answer from the cached view.
using vg_actor = caf::typed_actor<
  caf::replies_to<create_lv_req>::with<lvm::lv_info>, caf::replies_to<delete_lv_req>::with<bool>,
  caf::replies_to<extend_lv_req>::with<lvm::lv_info>,
  caf::replies_to<tag_lv_req>::with<lvm::lv_info>, caf::replies_to<get_atom>::with<vg_view>,
  caf::replies_to<rescan_atom>::with<uint64_t>, // -> generation after the scan
  caf::reacts_to<tick_atom>,                    // the periodic rescan timer
  caf::reacts_to<watch_atom>,                   // the fill watch timer (no lvm process)
  caf::replies_to<inspect_atom>::with<actor_report>>;

} // namespace olocal
