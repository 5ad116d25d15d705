#include "gateways/agent/agent_translate.hpp"

#include "actors/core/errc.hpp"

#include "agent/v1/agent.pb.h"

#include <algorithm>
#include <array>
#include <limits>

namespace olocal {

namespace {

constexpr size_t max_name_bytes = 127;
constexpr size_t max_tag_bytes = 128;
/// lvm2 refuses sizes it cannot count in 512-byte sectors of an int64.
constexpr uint64_t max_size_bytes = static_cast<uint64_t>(std::numeric_limits<int64_t>::max());

constexpr std::array lv_layouts = {"linear",   "striped",       "thin", "thin-pool",
                                   "snapshot", "thin-snapshot", "copy"};
constexpr std::array lv_kinds = {"volume", "snapshot", "clone", "ephemeral", "pool"};
constexpr std::array claim_kinds = {"Device", "MountPoint"};
constexpr std::array media_types = {"ssd", "hdd"};

caf::error invalid(std::string message) {
  return make_error(errc::invalid_argument, std::move(message));
}

std::string quoted(std::string_view text) {
  return '"' + std::string{text} + '"';
}

/// Shows a value in a message: quoted when printable, by size otherwise.
std::string shown(std::string_view text) {
  return std::all_of(text.begin(), text.end(), [](char c) { return c >= 0x20 && c < 0x7f; })
           ? quoted(text)
           : "of " + std::to_string(text.size()) + " bytes";
}

template <size_t N>
caf::error check_one_of(std::string_view field, std::string_view value,
                        const std::array<const char*, N>& allowed) {
  for (auto* item : allowed)
    if (value == item)
      return {};
  std::string list;
  for (auto* item : allowed)
    list += (list.empty() ? "" : ", ") + std::string{item};
  return invalid(std::string{field} + " " + shown(value) + " is not one of " + list);
}

caf::error check_size(std::string_view field, uint64_t bytes, bool required) {
  if (required && bytes == 0)
    return invalid(std::string{field} + " is missing (0)");
  if (bytes > max_size_bytes)
    return invalid(std::string{field} + " " + std::to_string(bytes) + " is above the maximum " +
                   std::to_string(max_size_bytes));
  return {};
}

bool tag_char(char c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
         std::string_view{"_+.-/=!:&#"}.find(c) != std::string_view::npos;
}

caf::error check_tag(std::string_view field, std::string_view tag) {
  if (tag.empty())
    return invalid(std::string{field} + " is empty");
  if (tag.size() > max_tag_bytes)
    return invalid(std::string{field} + " is " + std::to_string(tag.size()) +
                   " bytes long, at most " + std::to_string(max_tag_bytes) + " are allowed");
  if (!std::all_of(tag.begin(), tag.end(), tag_char))
    return invalid(std::string{field} + " " + shown(tag) +
                   " has a character outside [A-Za-z0-9_+.-/=!:&#]");
  return {};
}

template <class Repeated>
std::vector<std::string> strings_of(const Repeated& items) {
  return {items.begin(), items.end()};
}

template <class Repeated>
void set_strings(const std::vector<std::string>& in, Repeated* out) {
  out->Clear();
  for (auto& item : in)
    out->Add()->assign(item);
}

caf::error check_lv_spec(const agent_pb::LogicalVolumeSpec& lv) {
  if (auto err = check_agent_name("lv.name", lv.name()))
    return err;
  auto layout = lv.layout().empty() ? std::string_view{"linear"} : std::string_view{lv.layout()};
  if (auto err = check_one_of("lv.layout", layout, lv_layouts))
    return err;
  if (!lv.kind().empty())
    if (auto err = check_one_of("lv.kind", lv.kind(), lv_kinds))
      return err;
  // A thin snapshot takes its size from its origin; everything else needs one.
  if (auto err = check_size("lv.size_bytes", lv.size_bytes(), layout != "thin-snapshot"))
    return err;
  if (layout == "thin")
    if (auto err = check_agent_name("lv.pool", lv.pool()))
      return err;
  if (layout == "snapshot" || layout == "thin-snapshot" || layout == "copy")
    if (auto err = check_agent_name("lv.origin", lv.origin()))
      return err;
  if (auto err = check_size("lv.expand_bytes", lv.expand_bytes(), false))
    return err;
  if (lv.expand_at_percent() > 100)
    return invalid("lv.expand_at_percent " + std::to_string(lv.expand_at_percent()) +
                   " is above 100");
  for (int i = 0; i < lv.tags_size(); ++i)
    if (auto err = check_tag("lv.tags[" + std::to_string(i) + "]", lv.tags(i)))
      return err;
  return {};
}

} // namespace

caf::error check_agent_name(std::string_view field, std::string_view name) {
  auto f = std::string{field};
  if (name.empty())
    return invalid(f + " is missing");
  if (name.size() > max_name_bytes)
    return invalid(f + " is " + std::to_string(name.size()) + " bytes long, at most " +
                   std::to_string(max_name_bytes) + " are allowed");
  auto ok = [](char c) {
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '+' ||
           c == '_' || c == '.' || c == '-';
  };
  if (!std::all_of(name.begin(), name.end(), ok))
    return invalid(f + " " + shown(name) + " has a character outside [A-Za-z0-9+_.-]");
  if (name.front() == '-')
    return invalid(f + " " + shown(name) + " starts with '-'");
  if (name == "." || name == "..")
    return invalid(f + " " + shown(name) + " is not a valid name");
  return {};
}

// -- requests from the wire ----------------------------------------------------------

caf::expected<create_volume_req> to_create_volume_req(const agent_pb::CreateVolumeRequest& req) {
  if (auto err = check_agent_name("vg", req.vg()))
    return err;
  if (!req.has_lv())
    return invalid("lv is missing");
  if (auto err = check_lv_spec(req.lv()))
    return err;
  create_volume_req out;
  out.vg = req.vg();
  out.lv = from_pb(req.lv());
  return out;
}

caf::expected<delete_volume_req> to_delete_volume_req(const agent_pb::DeleteVolumeRequest& req) {
  if (auto err = check_agent_name("id", req.id()))
    return err;
  return delete_volume_req{req.id(), req.wipe()};
}

caf::expected<agent_expand_req> to_expand_req(const agent_pb::ExpandVolumeRequest& req) {
  if (auto err = check_agent_name("id", req.id()))
    return err;
  if (auto err = check_size("size_bytes", req.size_bytes(), true))
    return err;
  return agent_expand_req{req.id(), req.size_bytes()};
}

caf::expected<claim_req> to_claim_req(const agent_pb::ClaimVolumeRequest& req) {
  if (auto err = check_agent_name("id", req.id()))
    return err;
  if (auto err = check_one_of("kind", req.kind(), claim_kinds))
    return err;
  if (auto err = check_size("min_bytes", req.min_bytes(), false))
    return err;
  if (req.max_bytes() != 0 && req.max_bytes() < req.min_bytes())
    return invalid("max_bytes " + std::to_string(req.max_bytes()) + " is below min_bytes " +
                   std::to_string(req.min_bytes()));
  if (!req.media_type().empty())
    if (auto err = check_one_of("media_type", req.media_type(), media_types))
      return err;
  claim_req out;
  out.id = req.id();
  out.kind = req.kind();
  out.min_bytes = req.min_bytes();
  out.max_bytes = req.max_bytes();
  out.media_type = req.media_type();
  out.wipe = req.wipe();
  return out;
}

// -- ours -> protobuf ----------------------------------------------------------------------

void to_pb(const create_lv_req& in, agent_pb::LogicalVolumeSpec* out) {
  out->set_name(in.name);
  out->set_size_bytes(in.size_bytes);
  out->set_layout(in.layout);
  out->set_stripes(in.stripes);
  out->set_pool(in.pool);
  out->set_origin(in.origin);
  out->set_kind(in.kind);
  out->set_expand_bytes(in.expand_bytes);
  out->set_expand_at_percent(in.expand_at_percent);
  set_strings(in.tags, out->mutable_tags());
}

void to_pb(const volume_state& in, agent_pb::VolumeState* out) {
  out->set_id(in.id);
  out->set_vg(in.vg);
  out->set_device(in.device);
  out->set_size_bytes(in.size_bytes);
  out->set_kind(in.kind);
  out->set_phase(in.phase);
  out->set_block(in.block);
  out->set_fstype(in.fstype);
  out->set_staging_path(in.staging_path);
  out->clear_targets();
  for (auto& target : in.targets) {
    auto* t = out->add_targets();
    t->set_path(target.path);
    t->set_read_only(target.read_only);
  }
  out->set_lv_present(in.lv_present);
  out->set_snapshot_invalid(in.snapshot_invalid);
}

void to_pb(const lvm::pv_info& in, agent_pb::PhysicalVolume* out) {
  out->set_name(in.name);
  out->set_vg_name(in.vg_name);
  out->set_uuid(in.uuid);
  out->set_size_bytes(in.size_bytes);
  out->set_free_bytes(in.free_bytes);
  set_strings(in.tags, out->mutable_tags());
}

void to_pb(const lvm::lv_info& in, agent_pb::LogicalVolume* out) {
  out->set_name(in.name);
  out->set_vg_name(in.vg_name);
  out->set_uuid(in.uuid);
  out->set_size_bytes(in.size_bytes);
  out->set_attr(in.attr);
  out->set_segtype(in.segtype);
  out->set_pool_lv(in.pool_lv);
  out->set_origin(in.origin);
  out->set_data_percent(in.data_percent);
  out->set_metadata_percent(in.metadata_percent);
  out->set_snap_percent(in.snap_percent);
  out->set_stripes(in.stripes);
  set_strings(in.tags, out->mutable_tags());
  out->set_kernel_major(in.kernel_major);
  out->set_kernel_minor(in.kernel_minor);
  out->set_active(in.active);
  out->set_read_only(in.read_only);
  out->set_invalid_snapshot(in.invalid_snapshot);
  out->set_path(in.path);
}

void to_pb(const vg_view& in, agent_pb::VolumeGroup* out) {
  out->set_name(in.vg.name);
  out->set_uuid(in.vg.uuid);
  out->set_size_bytes(in.vg.size_bytes);
  out->set_free_bytes(in.vg.free_bytes);
  out->set_extent_size_bytes(in.vg.extent_size_bytes);
  out->set_extent_count(in.vg.extent_count);
  out->set_free_extent_count(in.vg.free_extent_count);
  set_strings(in.vg.tags, out->mutable_tags());
  out->clear_pvs();
  for (auto& pv : in.pvs)
    to_pb(pv, out->add_pvs());
  out->clear_lvs();
  for (auto& lv : in.lvs)
    to_pb(lv, out->add_lvs());
  out->set_generation(in.generation);
  out->set_scanned_at_ms(in.scanned_at_ms);
}

void to_pb(const block_device& in, agent_pb::BlockDevice* out) {
  out->set_name(in.name);
  out->set_path(in.path);
  out->set_parent(in.parent);
  out->set_kind(in.kind);
  out->set_major(in.major);
  out->set_minor(in.minor);
  out->set_size_bytes(in.size_bytes);
  out->set_rotational(in.rotational);
  out->set_read_only(in.read_only);
  out->set_removable(in.removable);
  out->set_dm_name(in.dm_name);
  set_strings(in.holders, out->mutable_holders());
  set_strings(in.partitions, out->mutable_partitions());
  set_strings(in.signatures, out->mutable_signatures());
  set_strings(in.mountpoints, out->mutable_mountpoints());
  out->set_probe_error(in.probe_error);
  out->set_stable_id(in.stable_id);
}

void to_pb(const claim_candidate& in, agent_pb::ClaimCandidate* out) {
  out->set_kind(in.kind);
  out->set_name(in.name);
  out->set_path(in.path);
  out->set_size_bytes(in.size_bytes);
  out->set_media_type(in.media_type);
  out->set_fstype(in.fstype);
  out->set_claimed_by(in.claimed_by);
  out->set_unavailable(in.unavailable);
}

void to_pb(const node_view& in, agent_pb::GetNodeViewResponse* out) {
  out->Clear();
  for (auto& dev : in.devices)
    to_pb(dev, out->add_devices());
  for (auto& vg : in.vgs)
    to_pb(vg, out->add_groups());
  for (auto& vol : in.volumes)
    to_pb(vol, out->add_volumes());
  for (auto& cand : in.claimables)
    to_pb(cand, out->add_claimables());
}

void to_pb(const create_volume_req& in, agent_pb::CreateVolumeRequest* out) {
  out->set_vg(in.vg);
  to_pb(in.lv, out->mutable_lv());
}

void to_pb(const delete_volume_req& in, agent_pb::DeleteVolumeRequest* out) {
  out->set_id(in.id);
  out->set_wipe(in.wipe);
}

void to_pb(const agent_expand_req& in, agent_pb::ExpandVolumeRequest* out) {
  out->set_id(in.id);
  out->set_size_bytes(in.size_bytes);
}

void to_pb(const claim_req& in, agent_pb::ClaimVolumeRequest* out) {
  out->set_id(in.id);
  out->set_kind(in.kind);
  out->set_min_bytes(in.min_bytes);
  out->set_max_bytes(in.max_bytes);
  out->set_media_type(in.media_type);
  out->set_wipe(in.wipe);
}

// -- protobuf -> ours ----------------------------------------------------------------------

create_lv_req from_pb(const agent_pb::LogicalVolumeSpec& in) {
  create_lv_req out;
  out.name = in.name();
  out.size_bytes = in.size_bytes();
  out.layout = in.layout().empty() ? "linear" : in.layout();
  out.stripes = in.stripes();
  out.pool = in.pool();
  out.origin = in.origin();
  out.kind = in.kind().empty() ? "volume" : in.kind();
  out.expand_bytes = in.expand_bytes();
  out.expand_at_percent = in.expand_at_percent();
  out.tags = strings_of(in.tags());
  return out;
}

volume_state from_pb(const agent_pb::VolumeState& in) {
  volume_state out;
  out.id = in.id();
  out.vg = in.vg();
  out.device = in.device();
  out.size_bytes = in.size_bytes();
  out.kind = in.kind();
  out.phase = in.phase();
  out.block = in.block();
  out.fstype = in.fstype();
  out.staging_path = in.staging_path();
  for (auto& t : in.targets())
    out.targets.push_back(publish_target{t.path(), t.read_only()});
  out.lv_present = in.lv_present();
  out.snapshot_invalid = in.snapshot_invalid();
  return out;
}

lvm::pv_info from_pb(const agent_pb::PhysicalVolume& in) {
  lvm::pv_info out;
  out.name = in.name();
  out.vg_name = in.vg_name();
  out.uuid = in.uuid();
  out.size_bytes = in.size_bytes();
  out.free_bytes = in.free_bytes();
  out.tags = strings_of(in.tags());
  return out;
}

lvm::lv_info from_pb(const agent_pb::LogicalVolume& in) {
  lvm::lv_info out;
  out.name = in.name();
  out.vg_name = in.vg_name();
  out.uuid = in.uuid();
  out.size_bytes = in.size_bytes();
  out.attr = in.attr();
  out.segtype = in.segtype();
  out.pool_lv = in.pool_lv();
  out.origin = in.origin();
  out.data_percent = in.data_percent();
  out.metadata_percent = in.metadata_percent();
  out.snap_percent = in.snap_percent();
  out.stripes = in.stripes();
  out.tags = strings_of(in.tags());
  out.kernel_major = in.kernel_major();
  out.kernel_minor = in.kernel_minor();
  out.active = in.active();
  out.read_only = in.read_only();
  out.invalid_snapshot = in.invalid_snapshot();
  out.hidden = false;
  out.segment_count = 1;
  out.path = in.path();
  return out;
}

vg_view from_pb(const agent_pb::VolumeGroup& in) {
  vg_view out;
  out.vg.name = in.name();
  out.vg.uuid = in.uuid();
  out.vg.size_bytes = in.size_bytes();
  out.vg.free_bytes = in.free_bytes();
  out.vg.extent_size_bytes = in.extent_size_bytes();
  out.vg.extent_count = in.extent_count();
  out.vg.free_extent_count = in.free_extent_count();
  out.vg.tags = strings_of(in.tags());
  for (auto& pv : in.pvs())
    out.pvs.push_back(from_pb(pv));
  for (auto& lv : in.lvs())
    out.lvs.push_back(from_pb(lv));
  out.vg.pv_count = static_cast<uint32_t>(out.pvs.size());
  out.vg.lv_count = static_cast<uint32_t>(out.lvs.size());
  out.generation = in.generation();
  out.scanned_at_ms = in.scanned_at_ms();
  return out;
}

block_device from_pb(const agent_pb::BlockDevice& in) {
  block_device out;
  out.name = in.name();
  out.path = in.path();
  out.parent = in.parent();
  out.kind = in.kind();
  out.major = in.major();
  out.minor = in.minor();
  out.size_bytes = in.size_bytes();
  out.rotational = in.rotational();
  out.read_only = in.read_only();
  out.removable = in.removable();
  out.dm_name = in.dm_name();
  out.holders = strings_of(in.holders());
  out.partitions = strings_of(in.partitions());
  out.signatures = strings_of(in.signatures());
  out.mountpoints = strings_of(in.mountpoints());
  out.probe_error = in.probe_error();
  out.stable_id = in.stable_id();
  return out;
}

claim_candidate from_pb(const agent_pb::ClaimCandidate& in) {
  claim_candidate out;
  out.kind = in.kind();
  out.name = in.name();
  out.path = in.path();
  out.size_bytes = in.size_bytes();
  out.media_type = in.media_type();
  out.fstype = in.fstype();
  out.claimed_by = in.claimed_by();
  out.unavailable = in.unavailable();
  return out;
}

node_view from_pb(const agent_pb::GetNodeViewResponse& in) {
  node_view out;
  for (auto& dev : in.devices())
    out.devices.push_back(from_pb(dev));
  for (auto& vg : in.groups())
    out.vgs.push_back(from_pb(vg));
  for (auto& vol : in.volumes())
    out.volumes.push_back(from_pb(vol));
  for (auto& cand : in.claimables())
    out.claimables.push_back(from_pb(cand));
  return out;
}

} // namespace olocal
