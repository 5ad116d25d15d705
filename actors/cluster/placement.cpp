#include "actors/cluster/placement.hpp"

#include <algorithm>
#include <array>
#include <cmath>
#include <cstdio>
#include <limits>
#include <utility>

namespace olocal::placement {

const char* to_string(volume_kind kind) {
  switch (kind) {
  case volume_kind::lvm:
    return "LVM";
  case volume_kind::device:
    return "Device";
  case volume_kind::mount_point:
    return "MountPoint";
  }
  return "unknown";
}

uint64_t thin_pool_state::virtual_capacity() const {
  if (!(overprovision > 0.0))
    return 0;
  auto v = static_cast<long double>(size) * static_cast<long double>(overprovision);
  if (v >= static_cast<long double>(std::numeric_limits<uint64_t>::max()))
    return std::numeric_limits<uint64_t>::max();
  return static_cast<uint64_t>(v);
}

bool node_state::has_storage() const {
  return !vgs.empty() || !devices.empty() || !mount_points.empty();
}

const vg_state* node_state::find_vg(const std::string& vg_name) const {
  for (const auto& vg : vgs)
    if (vg.name == vg_name)
      return &vg;
  return nullptr;
}

const node_state* cluster_view::find(const std::string& name) const {
  auto it = nodes.find(name);
  return it == nodes.end() ? nullptr : it->second.get();
}

namespace {

std::string bytes_text(uint64_t n) {
  return std::to_string(n) + " bytes";
}

/// 2 → "2", 1.5 → "1.5".
std::string factor_text(double x) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%g", x);
  return buf;
}

uint64_t sub_floor(uint64_t a, uint64_t b) {
  return a >= b ? a - b : 0;
}

uint64_t add_saturated(uint64_t a, uint64_t b) {
  return a > std::numeric_limits<uint64_t>::max() - b ? std::numeric_limits<uint64_t>::max()
                                                      : a + b;
}

template <class Vg>
auto find_pool(Vg& vg, const std::string& pool) -> decltype(&vg.thin_pools.front()) {
  for (auto& p : vg.thin_pools)
    if (p.name == pool)
      return &p;
  return nullptr;
}

template <class Node>
auto units_of(Node& node, volume_kind kind) -> decltype(&node.devices) {
  return kind == volume_kind::device ? &node.devices : &node.mount_points;
}

/// "device"/"mount point", for reasons.
const char* unit_noun(volume_kind kind) {
  return kind == volume_kind::device ? "device" : "mount point";
}

/// The virtual room left in a pool (size × overprovision − charged).
uint64_t pool_free(const thin_pool_state& p) {
  return sub_floor(p.virtual_capacity(), p.charged);
}

// -- the search ---------------------------------------------------------------------

/// The order in which a request tries its candidate bins.
enum class bin_order {
  least_free,    ///< binpack over shared groups/pools
  most_free,     ///< spread over shared groups/pools
  smallest_unit, ///< exclusive units: the smallest that fits
};

/// Something requests are placed into: a volume group (thick), a thin pool
/// (virtual room) or one exclusive unit. Names point into the node_state,
/// which outlives the search: building bins allocates nothing.
struct bin {
  const std::string* vg = nullptr;
  const std::string* pool = nullptr;
  const std::string* unit = nullptr;
  const std::string* media = nullptr;
  /// Bins with the same symmetry and the same remaining room are
  /// interchangeable for every request of the family: trying one is enough.
  int symmetry = 0;
  uint64_t remaining = 0; ///< shared bins: room left; units: capacity
  bool exclusive = false;
  bool used = false;
};

/// "vg1", "vg1/pool0", "/dev/vdc (ssd)": for reasons only.
std::string label_of(const bin& b) {
  if (b.unit != nullptr)
    return *b.unit + " (" + (b.media == nullptr || b.media->empty() ? "unknown media" : *b.media) +
           ")";
  std::string out = b.vg != nullptr ? *b.vg : std::string{};
  if (b.pool != nullptr)
    out += "/" + *b.pool;
  return out;
}

struct item {
  size_t request = 0; ///< index into pod_demand::volumes
  uint64_t bytes = 0;
  std::vector<size_t> candidates; ///< bins it may go to at all
};

enum class outcome { placed, impossible, gave_up };

/// Backtracking over the items of one family (largest first), each trying
/// its candidate bins in `order`. Finds a placement whenever one exists,
/// unless the shared step budget runs out first. The per-depth scratch
/// lists are allocated once per search.
class search {
public:
  search(std::vector<bin>& bins, std::vector<item>& items, bin_order order, size_t& steps,
         size_t max_steps)
    : bins_(bins), items_(items), order_(order), steps_(steps), max_steps_(max_steps),
      choice_(items.size(), 0), open_(items.size()), tried_(items.size()) {}

  outcome run() { return place(0); }

  size_t choice(size_t k) const { return choice_[k]; }

private:
  bool room_for(const bin& b, uint64_t n) const {
    return b.exclusive ? !b.used && b.remaining >= n : b.remaining >= n;
  }

  outcome place(size_t k) {
    if (++steps_ > max_steps_)
      return outcome::gave_up;
    if (k == items_.size())
      return outcome::placed;
    const item& it = items_[k];
    auto& open = open_[k];
    open.clear();
    for (size_t b : it.candidates)
      if (room_for(bins_[b], it.bytes))
        open.push_back(b);
    if (open.size() > 1)
      std::stable_sort(open.begin(), open.end(), [this](size_t x, size_t y) {
        return order_ == bin_order::most_free ? bins_[x].remaining > bins_[y].remaining
                                              : bins_[x].remaining < bins_[y].remaining;
      });
    auto& tried = tried_[k];
    tried.clear();
    for (size_t b : open) {
      bin& target = bins_[b];
      std::pair<int, uint64_t> state{target.symmetry, target.remaining};
      if (std::find(tried.begin(), tried.end(), state) != tried.end())
        continue;
      tried.push_back(state);
      if (target.exclusive)
        target.used = true;
      else
        target.remaining -= it.bytes;
      choice_[k] = b;
      auto result = place(k + 1);
      if (result != outcome::impossible)
        return result;
      if (target.exclusive)
        target.used = false;
      else
        target.remaining += it.bytes;
    }
    return outcome::impossible;
  }

  std::vector<bin>& bins_;
  std::vector<item>& items_;
  bin_order order_;
  size_t& steps_;
  size_t max_steps_;
  std::vector<size_t> choice_;
  std::vector<std::vector<size_t>> open_;
  std::vector<std::vector<std::pair<int, uint64_t>>> tried_;
};

/// One independent placement problem: requests that compete for the same
/// bins (thick LVM, one thin pool name, Device, MountPoint).
struct family {
  std::vector<bin> bins;
  std::vector<item> items;
};

std::string volumes_text(const pod_demand& demand, const std::vector<item>& items) {
  std::vector<size_t> order;
  for (const auto& it : items)
    order.push_back(it.request);
  std::sort(order.begin(), order.end());
  std::string out;
  for (size_t i : order) {
    const auto& v = demand.volumes[i];
    if (!out.empty())
      out += ", ";
    out += v.id + " (" + bytes_text(v.bytes);
    if (!v.media.empty())
      out += ", " + v.media;
    out += ")";
  }
  return out;
}

std::string bins_text(const std::vector<bin>& bins, const char* what) {
  std::string out;
  for (const auto& b : bins) {
    if (!out.empty())
      out += ", ";
    out += label_of(b) + ": " + bytes_text(b.remaining) + " " + what;
  }
  return out;
}

std::string gave_up_text(const node_state& node, size_t max_steps) {
  return "placement search on node " + node.name + " gave up after " + std::to_string(max_steps) +
         " steps (max_steps) without finding a placement for all volumes of the pod";
}

/// Runs the search of one family and records its assignments, or returns
/// the reason it failed (`no_fit_reason()` is only called then: reasons are
/// built for failures only).
template <class Reason>
std::optional<std::string>
solve(const node_state& node, const pod_demand& demand, family& fam, bin_order order, size_t& steps,
      size_t max_steps, Reason no_fit_reason, std::vector<std::optional<assignment>>& placed) {
  if (fam.items.empty())
    return std::nullopt;
  if (fam.items.size() > 1)
    std::stable_sort(fam.items.begin(), fam.items.end(),
                     [](const item& a, const item& b) { return a.bytes > b.bytes; });
  search s(fam.bins, fam.items, order, steps, max_steps);
  switch (s.run()) {
  case outcome::gave_up:
    return gave_up_text(node, max_steps);
  case outcome::impossible: // every step was undone: the bins hold their initial room
    return no_fit_reason();
  case outcome::placed:
    break;
  }
  for (size_t k = 0; k < fam.items.size(); ++k) {
    const auto& it = fam.items[k];
    const auto& v = demand.volumes[it.request];
    const bin& b = fam.bins[s.choice(k)];
    assignment a;
    a.request_id = v.id;
    a.kind = v.kind;
    if (b.vg != nullptr)
      a.vg = *b.vg;
    if (b.pool != nullptr)
      a.pool = *b.pool;
    if (b.unit != nullptr)
      a.unit = *b.unit;
    a.bytes = v.bytes;
    placed[it.request] = std::move(a);
  }
  return std::nullopt;
}

/// Places the LVM requests without a vgName (`vg_taken`/`pool_taken` hold what
/// this pod's vgName requests already took).
std::optional<std::string>
place_flexible_lvm(const node_state& node, const pod_demand& demand, strategy how, size_t& steps,
                   size_t max_steps, const std::map<std::string, uint64_t>& vg_taken,
                   const std::map<std::pair<std::string, std::string>, uint64_t>& pool_taken,
                   std::vector<std::optional<assignment>>& placed) {
  bool any = false;
  for (const auto& v : demand.volumes)
    any = any || (v.kind == volume_kind::lvm && v.vg.empty());
  if (!any)
    return std::nullopt;
  auto taken_in = [](const auto& m, const auto& key) {
    auto it = m.find(key);
    return it == m.end() ? uint64_t{0} : it->second;
  };
  family thick;
  thick.bins.reserve(node.vgs.size());
  for (const auto& vg : node.vgs) {
    bin b;
    b.vg = &vg.name;
    b.symmetry = 0;
    b.remaining = vg_taken.empty() ? vg.free() : sub_floor(vg.free(), taken_in(vg_taken, vg.name));
    thick.bins.push_back(b);
  }
  std::map<std::string, family> thin; // by pool name
  for (size_t i = 0; i < demand.volumes.size(); ++i) {
    const auto& v = demand.volumes[i];
    if (v.kind != volume_kind::lvm || !v.vg.empty())
      continue;
    if (v.thin_pool.empty()) {
      if (thick.bins.empty())
        return "no LVM storage configured on node " + node.name + " (volume " + v.id +
               " requests " + bytes_text(v.bytes) + ")";
      item it{i, v.bytes, {}};
      it.candidates.reserve(thick.bins.size());
      const bin* most = nullptr;
      for (size_t b = 0; b < thick.bins.size(); ++b) {
        it.candidates.push_back(b);
        if (most == nullptr || thick.bins[b].remaining > most->remaining)
          most = &thick.bins[b];
      }
      if (most->remaining < v.bytes)
        return "Insufficient LVM storage on node " + node.name + ": volume " + v.id + " requests " +
               bytes_text(v.bytes) + ", the volume group with the most free space is " +
               label_of(*most) + " with " + bytes_text(most->remaining) + " free";
      thick.items.push_back(std::move(it));
      continue;
    }
    auto& fam = thin[v.thin_pool];
    if (fam.bins.empty()) {
      for (const auto& vg : node.vgs) {
        const auto* p = find_pool(vg, v.thin_pool);
        if (p == nullptr)
          continue;
        bin b;
        b.vg = &vg.name;
        b.pool = &p->name;
        b.symmetry = 1;
        b.remaining = sub_floor(pool_free(*p), taken_in(pool_taken, std::pair{vg.name, p->name}));
        fam.bins.push_back(b);
      }
    }
    if (fam.bins.empty())
      return "no thin pool " + v.thin_pool + " in any volume group on node " + node.name +
             " (volume " + v.id + " requests " + bytes_text(v.bytes) + ")";
    item it{i, v.bytes, {}};
    const bin* most = nullptr;
    for (size_t b = 0; b < fam.bins.size(); ++b) {
      it.candidates.push_back(b);
      if (most == nullptr || fam.bins[b].remaining > most->remaining)
        most = &fam.bins[b];
    }
    if (most->remaining < v.bytes)
      return "Insufficient thin pool storage on node " + node.name + ": volume " + v.id +
             " requests " + bytes_text(v.bytes) + ", the thin pool " + v.thin_pool +
             " with the most virtual free space is " + label_of(*most) + " with " +
             bytes_text(most->remaining) + " free";
    fam.items.push_back(std::move(it));
  }
  auto order = how == strategy::binpack ? bin_order::least_free : bin_order::most_free;
  if (auto why = solve(
        node, demand, thick, order, steps, max_steps,
        [&] {
          return "Insufficient LVM storage on node " + node.name + ": volumes " +
                 volumes_text(demand, thick.items) +
                 " do not fit together into its volume groups (" + bins_text(thick.bins, "free") +
                 ")";
        },
        placed))
    return why;
  for (auto& [pool, fam] : thin)
    if (auto why = solve(
          node, demand, fam, order, steps, max_steps,
          [&, &pool = pool, &fam = fam] {
            return "Insufficient thin pool storage on node " + node.name + ": volumes " +
                   volumes_text(demand, fam.items) + " do not fit together into thin pools " +
                   pool + " (" + bins_text(fam.bins, "virtual free") + ")";
          },
          placed))
      return why;
  return std::nullopt;
}

/// Places the Device or MountPoint requests: distinct free units, media
/// matching, the smallest that fits first.
std::optional<std::string> place_units(const node_state& node, const pod_demand& demand,
                                       volume_kind kind, size_t& steps, size_t max_steps,
                                       std::vector<std::optional<assignment>>& placed) {
  bool any = false;
  for (const auto& v : demand.volumes)
    any = any || v.kind == kind;
  if (!any)
    return std::nullopt;
  family fam;
  std::vector<const exclusive_unit*> units;
  std::vector<const std::string*> medias; // symmetry: one class per media
  size_t total = 0;
  for (const auto& u : *units_of(node, kind)) {
    ++total;
    if (u.taken)
      continue;
    bin b;
    b.unit = &u.name;
    b.media = &u.media;
    auto m = std::find_if(medias.begin(), medias.end(),
                          [&](const std::string* x) { return *x == u.media; });
    if (m == medias.end())
      m = medias.insert(medias.end(), &u.media);
    b.symmetry = 2 + static_cast<int>(m - medias.begin());
    b.remaining = u.capacity;
    b.exclusive = true;
    fam.bins.push_back(b);
    units.push_back(&u);
  }
  const std::string insufficient =
    std::string{"Insufficient "} + to_string(kind) + " storage on node " + node.name + ": ";
  for (size_t i = 0; i < demand.volumes.size(); ++i) {
    const auto& v = demand.volumes[i];
    if (v.kind != kind)
      continue;
    item it{i, v.bytes, {}};
    const exclusive_unit* largest = nullptr;
    for (size_t b = 0; b < units.size(); ++b) {
      if (!v.media.empty() && units[b]->media != v.media)
        continue;
      if (largest == nullptr || units[b]->capacity > largest->capacity)
        largest = units[b];
      if (units[b]->capacity >= v.bytes)
        it.candidates.push_back(b);
    }
    if (it.candidates.empty()) {
      std::string media = v.media.empty() ? std::string{} : v.media + " ";
      std::string why = insufficient + "volume " + v.id + " requests " + bytes_text(v.bytes) +
                        " on a " + media + unit_noun(kind) + ", ";
      if (largest == nullptr)
        return why + "no " + media + unit_noun(kind) + " is free (" + std::to_string(units.size()) +
               " of " + std::to_string(total) + " " + unit_noun(kind) + "s free)";
      return why + "the largest free " + media + unit_noun(kind) + " is " + largest->name +
             " with " + bytes_text(largest->capacity);
    }
    fam.items.push_back(std::move(it));
  }
  if (fam.items.size() > units.size())
    return insufficient + "the pod requests " + std::to_string(fam.items.size()) + " " +
           unit_noun(kind) + "s, " + std::to_string(units.size()) + " of " + std::to_string(total) +
           " are free";
  return solve(
    node, demand, fam, bin_order::smallest_unit, steps, max_steps,
    [&] {
      return insufficient + "no assignment of distinct free " + unit_noun(kind) +
             "s holds volumes " + volumes_text(demand, fam.items) +
             " (free: " + bins_text(fam.bins, "") + ")";
    },
    placed);
}

/// The common case without allocation: every request thick LVM, few groups
/// and few requests. The same decisions as the general path (vgName requests
/// charged in order; the others largest first, each trying groups in
/// strategy order with ties in group order, equal room tried once; the same
/// step count), so results never depend on which path ran. nullopt when the
/// case does not apply (or the search gave up); a result without fit and
/// without reason when nothing fits (the general path words the reason when
/// one is wanted).
std::optional<fit_result> fit_thick_fast(const node_state& node, const pod_demand& demand,
                                         strategy how, size_t max_steps, bool with_ids) {
  constexpr size_t max_vgs = 8;
  constexpr size_t max_requests = 8;
  const size_t n_vgs = node.vgs.size();
  const size_t n = demand.volumes.size();
  if (n_vgs == 0 || n_vgs > max_vgs || n > max_requests)
    return std::nullopt;
  for (const auto& v : demand.volumes)
    if (v.kind != volume_kind::lvm || !v.thin_pool.empty())
      return std::nullopt;
  std::array<uint64_t, max_vgs> room{};
  for (size_t j = 0; j < n_vgs; ++j)
    room[j] = node.vgs[j].free();
  std::array<size_t, max_requests> where{};
  std::array<size_t, max_requests> flexible{};
  size_t n_flexible = 0;
  for (size_t i = 0; i < n; ++i) {
    const auto& v = demand.volumes[i];
    if (v.vg.empty()) {
      // stable insertion by bytes, largest first
      size_t k = n_flexible++;
      while (k > 0 && demand.volumes[flexible[k - 1]].bytes < v.bytes) {
        flexible[k] = flexible[k - 1];
        --k;
      }
      flexible[k] = i;
      continue;
    }
    size_t j = 0;
    while (j < n_vgs && node.vgs[j].name != v.vg)
      ++j;
    if (j == n_vgs || room[j] < v.bytes)
      return fit_result{}; // no fit
    room[j] -= v.bytes;
    where[i] = j;
  }
  size_t steps = 0;
  enum class result { placed, impossible, gave_up };
  auto place = [&](auto& self, size_t k) -> result {
    if (++steps > max_steps)
      return result::gave_up;
    if (k == n_flexible)
      return result::placed;
    uint64_t bytes = demand.volumes[flexible[k]].bytes;
    std::array<size_t, max_vgs> open{};
    size_t n_open = 0;
    for (size_t j = 0; j < n_vgs; ++j) {
      if (room[j] < bytes)
        continue;
      size_t at = n_open++;
      auto before = [&](size_t a, size_t b) {
        return how == strategy::binpack ? room[a] < room[b] : room[a] > room[b];
      };
      while (at > 0 && before(j, open[at - 1])) {
        open[at] = open[at - 1];
        --at;
      }
      open[at] = j;
    }
    std::array<uint64_t, max_vgs> tried{};
    size_t n_tried = 0;
    for (size_t o = 0; o < n_open; ++o) {
      size_t j = open[o];
      if (std::find(tried.begin(), tried.begin() + n_tried, room[j]) != tried.begin() + n_tried)
        continue;
      tried[n_tried++] = room[j];
      room[j] -= bytes;
      where[flexible[k]] = j;
      auto r = self(self, k + 1);
      if (r != result::impossible)
        return r;
      room[j] += bytes;
    }
    return result::impossible;
  };
  switch (place(place, 0)) {
  case result::placed:
    break;
  case result::impossible:
    return fit_result{}; // no fit
  case result::gave_up:
    return std::nullopt; // the general path reports the exhausted search
  }
  fit_result out;
  out.fits = true;
  out.assignments.reserve(n);
  for (size_t i = 0; i < n; ++i) {
    const auto& v = demand.volumes[i];
    assignment a;
    if (with_ids) // the extender's verdicts only need where, not whose
      a.request_id = v.id;
    a.kind = volume_kind::lvm;
    a.vg = node.vgs[where[i]].name;
    a.bytes = v.bytes;
    out.assignments.push_back(std::move(a));
  }
  return out;
}

} // namespace

namespace {

fit_result fit_impl(const node_state& node, const pod_demand& demand, strategy how,
                    size_t max_steps, bool with_ids, bool with_reason) {
  fit_result result;
  if (!demand.uses_local()) {
    result.fits = true;
    return result;
  }
  auto fail = [&result](std::string why) {
    result.fits = false;
    result.reason = std::move(why);
    result.assignments.clear();
    return result;
  };
  if (!node.reported)
    return fail("node " + node.name + " has not reported its storage (no NodeLocalStorage status)");
  for (const auto& v : demand.volumes)
    if (!v.pinned_node.empty() && v.pinned_node != node.name)
      return fail("volume " + v.id + " is a read-only snapshot whose source volume is on node " +
                  v.pinned_node + ", so node " + node.name + " cannot serve it");

  if (auto fast = fit_thick_fast(node, demand, how, max_steps, with_ids))
    if (fast->fits || !with_reason)
      return std::move(*fast);

  std::vector<std::optional<assignment>> placed(demand.volumes.size());

  // Requests naming their group have no choice: charge them in order.
  std::map<std::string, uint64_t> vg_taken;
  std::map<std::pair<std::string, std::string>, uint64_t> pool_taken;
  for (size_t i = 0; i < demand.volumes.size(); ++i) {
    const auto& v = demand.volumes[i];
    if (v.kind != volume_kind::lvm || v.vg.empty())
      continue;
    const vg_state* vg = node.find_vg(v.vg);
    if (vg == nullptr)
      return fail("no volume group " + v.vg + " on node " + node.name + " (volume " + v.id +
                  " requests " + bytes_text(v.bytes) + ")");
    assignment a;
    a.request_id = v.id;
    a.kind = v.kind;
    a.vg = v.vg;
    a.bytes = v.bytes;
    if (v.thin_pool.empty()) {
      uint64_t& taken = vg_taken[v.vg];
      uint64_t free = sub_floor(vg->free(), taken);
      if (v.bytes > free)
        return fail("Insufficient LVM storage on node " + node.name + ", vg is " + v.vg +
                    ": volume " + v.id + " requests " + bytes_text(v.bytes) + ", vg free is " +
                    bytes_text(free) + " (capacity " + bytes_text(vg->capacity) + ", charged " +
                    bytes_text(vg->charged) + ", this pod's other volumes there " +
                    bytes_text(taken) + ")");
      taken += v.bytes;
    } else {
      const thin_pool_state* pool = find_pool(*vg, v.thin_pool);
      if (pool == nullptr)
        return fail("no thin pool " + v.thin_pool + " in volume group " + v.vg + " on node " +
                    node.name + " (volume " + v.id + " requests " + bytes_text(v.bytes) + ")");
      uint64_t& taken = pool_taken[{v.vg, v.thin_pool}];
      uint64_t free = sub_floor(pool_free(*pool), taken);
      if (v.bytes > free)
        return fail("Insufficient thin pool storage on node " + node.name + ", vg is " + v.vg +
                    ", pool is " + v.thin_pool + ": volume " + v.id + " requests " +
                    bytes_text(v.bytes) + ", pool virtual free is " + bytes_text(free) +
                    " (virtual capacity " + bytes_text(pool->virtual_capacity()) + " = size " +
                    bytes_text(pool->size) + " x overprovision " +
                    factor_text(pool->overprovision) + ", charged " + bytes_text(pool->charged) +
                    ", this pod's other volumes there " + bytes_text(taken) + ")");
      taken += v.bytes;
      a.pool = v.thin_pool;
    }
    placed[i] = std::move(a);
  }

  size_t steps = 0;
  if (auto why =
        place_flexible_lvm(node, demand, how, steps, max_steps, vg_taken, pool_taken, placed))
    return fail(std::move(*why));
  for (auto kind : {volume_kind::device, volume_kind::mount_point})
    if (auto why = place_units(node, demand, kind, steps, max_steps, placed))
      return fail(std::move(*why));

  result.fits = true;
  for (auto& a : placed)
    result.assignments.push_back(std::move(*a));
  return result;
}

} // namespace

fit_result fit(const node_state& node, const pod_demand& demand, strategy how, size_t max_steps) {
  return fit_impl(node, demand, how, max_steps, true, true);
}

namespace {

/// ⌊x × 10⌋ for x in 0..1, robust against 0.7 × 10 = 6.999….
int tenths(long double x) {
  x = std::clamp(x, 0.0L, 1.0L);
  return static_cast<int>(std::floor(x * 10.0L + 1e-9L));
}

long double ratio(uint64_t used, uint64_t capacity) {
  if (capacity == 0)
    return 1.0L;
  return std::min(1.0L, static_cast<long double>(used) / static_cast<long double>(capacity));
}

const exclusive_unit* find_unit(const node_state& node, volume_kind kind, const std::string& name) {
  for (const auto& u : *units_of(node, kind))
    if (u.name == name)
      return &u;
  return nullptr;
}

/// Capacity function. LVM: per touched group (thick) and pool (thin, virtual
/// capacity), u = (charged + the pod's bytes there) / capacity, f = u
/// (binpack) or 1 − u (spread), averaged. Exclusive units: the average of
/// request / unit capacity. A pod with both averages the two parts with
/// equal weight, then ⌊ × 10⌋.
int capacity_score(const node_state& node, const fit_result& placed, strategy how) {
  struct touched {
    const std::string* vg;
    const std::string* pool;
    uint64_t bytes;
  };
  // (vg, pool) → the pod's bytes there; a pod touches few, so a small
  // fixed table (the rest, if ever, in a vector)
  std::array<touched, 8> fixed{};
  size_t n_fixed = 0;
  std::vector<touched> more;
  struct table {
    std::array<touched, 8>& fixed;
    size_t& n;
    std::vector<touched>& more;
    touched* begin() { return more.empty() ? fixed.data() : more.data(); }
    touched* end() { return more.empty() ? fixed.data() + n : more.data() + more.size(); }
    bool empty() const { return n == 0 && more.empty(); }
    size_t size() const { return more.empty() ? n : more.size(); }
    void push_back(const touched& t) {
      if (more.empty() && n < fixed.size()) {
        fixed[n++] = t;
        return;
      }
      if (more.empty())
        more.assign(fixed.begin(), fixed.begin() + static_cast<ptrdiff_t>(n));
      more.push_back(t);
    }
  } lvm{fixed, n_fixed, more};
  long double exclusive_sum = 0;
  size_t exclusive_count = 0;
  for (const auto& a : placed.assignments) {
    if (a.kind == volume_kind::lvm) {
      auto t = std::find_if(lvm.begin(), lvm.end(),
                            [&](const touched& x) { return *x.vg == a.vg && *x.pool == a.pool; });
      if (t == lvm.end())
        lvm.push_back({&a.vg, &a.pool, a.bytes});
      else
        t->bytes = add_saturated(t->bytes, a.bytes);
      continue;
    }
    const exclusive_unit* u = find_unit(node, a.kind, a.unit);
    exclusive_sum += ratio(a.bytes, u == nullptr ? 0 : u->capacity);
    ++exclusive_count;
  }
  long double lvm_sum = 0;
  for (const auto& [vg_name, pool_name, bytes] : lvm) {
    const vg_state* vg = node.find_vg(*vg_name);
    long double u = 1.0L;
    if (vg != nullptr && pool_name->empty()) {
      u = ratio(add_saturated(vg->charged, bytes), vg->capacity);
    } else if (vg != nullptr) {
      const thin_pool_state* pool = find_pool(*vg, *pool_name);
      if (pool != nullptr)
        u = ratio(add_saturated(pool->charged, bytes), pool->virtual_capacity());
    }
    lvm_sum += how == strategy::binpack ? u : 1.0L - u;
  }
  long double parts = 0;
  int count = 0;
  if (!lvm.empty()) {
    parts += lvm_sum / static_cast<long double>(lvm.size());
    ++count;
  }
  if (exclusive_count > 0) {
    parts += exclusive_sum / static_cast<long double>(exclusive_count);
    ++count;
  }
  return count == 0 ? 0 : tenths(parts / count);
}

size_t free_units(const node_state& node, volume_kind kind) {
  size_t n = 0;
  for (const auto& u : *units_of(node, kind))
    n += u.taken ? 0 : 1;
  return n;
}

/// Count function: per exclusive kind the pod asks for, binpack
/// ⌊taken × 10 / free⌋, spread ⌊(free − taken) × 10 / free⌋; the integer
/// average (floor) over those kinds.
int count_score(const node_state& node, const fit_result& placed, strategy how) {
  int sum = 0;
  int kinds = 0;
  for (auto kind : {volume_kind::device, volume_kind::mount_point}) {
    size_t taken = 0;
    for (const auto& a : placed.assignments)
      taken += a.kind == kind ? 1 : 0;
    if (taken == 0)
      continue;
    size_t free = free_units(node, kind);
    ++kinds;
    if (free == 0 || taken > free)
      continue; // cannot happen for a fitting placement
    sum +=
      static_cast<int>(how == strategy::binpack ? taken * 10 / free : (free - taken) * 10 / free);
  }
  return kinds == 0 ? 0 : sum / kinds;
}

/// Anti-affinity: over the kinds with weight w > 0 the pod asks none of, w
/// when the node has no free unit of that kind, else 0; the integer average
/// (floor) over those kinds (not only over the triggered ones as in
/// open-local, so "else 0" counts).
int anti_affinity_score(const node_state& node, const pod_demand& demand,
                        const anti_affinity& weights) {
  int sum = 0;
  int kinds = 0;
  for (auto [kind, w] : {std::pair{volume_kind::device, weights.device},
                         std::pair{volume_kind::mount_point, weights.mount_point}}) {
    if (w <= 0)
      continue;
    bool asks = std::any_of(demand.volumes.begin(), demand.volumes.end(),
                            [kind = kind](const volume_request& v) { return v.kind == kind; });
    if (asks)
      continue;
    ++kinds;
    if (free_units(node, kind) == 0)
      sum += std::min(w, 10);
  }
  return kinds == 0 ? 0 : sum / kinds;
}

} // namespace

int score(const node_state& node, const pod_demand& demand, const fit_result& placed, strategy how,
          const anti_affinity& weights) {
  if (!placed.fits)
    return 0;
  // A pod without local volumes: the capacity function keeps storage nodes
  // free (0 there, 10 elsewhere), no count, anti-affinity as for any pod.
  if (!demand.uses_local())
    return (node.has_storage() ? 0 : 10) + anti_affinity_score(node, demand, weights);
  return capacity_score(node, placed, how) + count_score(node, placed, how) +
         anti_affinity_score(node, demand, weights);
}

std::vector<node_verdict> evaluate(const cluster_view& view, const pod_demand& demand,
                                   const std::vector<std::string>& nodes, strategy how,
                                   const anti_affinity& weights, bool with_reasons) {
  std::vector<node_verdict> out;
  out.reserve(nodes.size());
  for (const auto& name : nodes) {
    node_verdict v;
    v.node = name;
    const node_state* node = view.find(name);
    if (node == nullptr) {
      v.reason = "node " + name + " is not known to open-local";
    } else if (!demand.error.empty()) {
      v.reason = demand.error;
    } else {
      auto placed = fit_impl(*node, demand, how, 100'000, false, with_reasons);
      v.fits = placed.fits;
      v.reason = std::move(placed.reason);
      v.score = placed.fits ? score(*node, demand, placed, how, weights) : 0;
    }
    out.push_back(std::move(v));
  }
  return out;
}

namespace {

/// The counter `a` charges on `node`, or nullptr (LVM only).
uint64_t* lvm_counter(node_state& node, const assignment& a) {
  for (auto& vg : node.vgs) {
    if (vg.name != a.vg)
      continue;
    if (a.pool.empty())
      return &vg.charged;
    auto* pool = find_pool(vg, a.pool);
    return pool == nullptr ? nullptr : &pool->charged;
  }
  return nullptr;
}

exclusive_unit* find_unit(node_state& node, const assignment& a) {
  for (auto& u : *units_of(node, a.kind))
    if (u.name == a.unit)
      return &u;
  return nullptr;
}

} // namespace

namespace {

/// Adds (or takes back) `a`'s bytes on its group or pool, or marks its unit.
bool account(node_state& node, const assignment& a, bool add) {
  if (a.kind == volume_kind::lvm) {
    uint64_t* counter = lvm_counter(node, a);
    if (counter == nullptr)
      return false;
    *counter = add ? add_saturated(*counter, a.bytes) : sub_floor(*counter, a.bytes);
    return true;
  }
  exclusive_unit* u = find_unit(node, a);
  if (u == nullptr)
    return false;
  u->taken = add;
  return true;
}

} // namespace

bool charge(node_state& node, const assignment& a) {
  return account(node, a, true);
}

bool release(node_state& node, const assignment& a) {
  return account(node, a, false);
}

} // namespace olocal::placement
