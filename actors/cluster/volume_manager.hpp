#pragma once

#include "actors/cluster/volume_params.hpp"
#include "actors/core/interfaces.hpp"

#include <caf/fwd.hpp>

#include <algorithm>
#include <chrono>
#include <iterator>
#include <string>
#include <utility>
#include <vector>

namespace olocal {

struct manager_setup {
  std::string node_name; ///< the node's name (topology kubernetes.io/hostname)
  node_supervisor_actor node;
  uint64_t default_bytes = 1ull << 30; ///< CreateVolume without a capacity range
  std::chrono::milliseconds timeout{900'000};
};

// -- pure decisions (table-tested) ------------------------------------------------

/// The size of a new volume: `required` (or the default, capped by the
/// limit) rounded up to `extent`; out_of_range when the rounding passes the
/// limit, invalid_argument when the limit is below what is required.
caf::expected<uint64_t> choose_size(uint64_t required, uint64_t limit, uint64_t extent,
                                    uint64_t default_bytes);

/// The volume group for a new volume of `bytes`: the one named by the
/// parameters (invalid_argument when this node has no such group), else the
/// fullest group that still fits it (open-local's binpack, which keeps large
/// free areas for large volumes). resource_exhausted when nothing fits.
/// Thin volumes need the group to hold the thin pool.
caf::expected<std::string> choose_vg(const std::vector<vg_view>& vgs, const volume_params& p,
                                     uint64_t bytes);

/// The range [first, last) of a page over `total` entries; the token is the
/// decimal index of the first entry ("" = 0). aborted for a token that is
/// not one we hand out (not a number, or past the end), as CSI asks.
caf::expected<std::pair<size_t, size_t>> page_range(size_t total, uint32_t max_entries,
                                                    const std::string& token);

/// One page of `all` (sorted by id here) for `max_entries` and `token`, with
/// the next page's token, or aborted for a bad token (as page_range).
template <class Page, class Entry>
caf::expected<Page> make_page(std::vector<Entry> all, uint32_t max_entries,
                              const std::string& token) {
  std::sort(all.begin(), all.end(), [](auto& a, auto& b) { return a.id < b.id; });
  auto range = page_range(all.size(), max_entries, token);
  if (!range)
    return range.error();
  Page page;
  page.entries.assign(std::make_move_iterator(all.begin() + static_cast<ptrdiff_t>(range->first)),
                      std::make_move_iterator(all.begin() + static_cast<ptrdiff_t>(range->second)));
  if (range->second < all.size())
    page.next_token = std::to_string(range->second);
  return page;
}

/// Spawns the volume manager over one node (standalone mode; in a cluster the
/// node handle is the node's proxy).
///
/// Device and MountPoint volumes (volumeType) are claims on the node
/// (claim_req with the StorageClass's mediaType and wipe): the smallest free
/// device or mount point that fits, reported with open-local's volume
/// context ("volumeType" and "Device" or "MountPoint" = the path). They are
/// listed like LVM volumes, GetCapacity answers the largest free one, and
/// they have no snapshots, clones or restores (invalid_argument) and never
/// grow (failed_precondition).
volume_manager_actor spawn_volume_manager(caf::actor_system& sys, manager_setup setup);

} // namespace olocal
