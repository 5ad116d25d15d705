#include "gateways/csi/translate.hpp"

#include "actors/backends/filesystem.hpp"
#include "actors/cluster/volume_params.hpp"
#include "actors/node/io_limit_context.hpp"

#include <algorithm>
#include <iterator>

namespace olocal {

namespace {

using access_mode = csi_pb::VolumeCapability::AccessMode;

caf::error invalid(std::string message) {
  return make_error(errc::invalid_argument, std::move(message));
}

caf::error missing(std::string_view field) {
  return invalid(std::string{field} + " is missing");
}

std::string quoted(std::string_view text) {
  return "\"" + std::string{text} + "\"";
}

bool id_char(char c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_' ||
         c == '.' || c == '+' || c == '-';
}

/// The non-empty, non-"." components of an absolute path.
std::vector<std::string_view> components(std::string_view path) {
  std::vector<std::string_view> out;
  size_t start = 0;
  while (start <= path.size()) {
    auto end = path.find('/', start);
    if (end == std::string_view::npos)
      end = path.size();
    auto part = path.substr(start, end - start);
    if (!part.empty() && part != ".")
      out.push_back(part);
    start = end + 1;
  }
  return out;
}

param_map map_of(const google::protobuf::Map<std::string, std::string>& m) {
  return param_map(m.begin(), m.end());
}

const std::string* find(const param_map& m, std::string_view key) {
  auto it = m.find(std::string{key});
  return it == m.end() ? nullptr : &it->second;
}

/// Checks every capability of a repeated field (present, each well-formed and
/// served when `served` is set).
caf::error
check_capabilities(std::string_view field,
                   const google::protobuf::RepeatedPtrField<csi_pb::VolumeCapability>& caps,
                   bool served) {
  if (caps.empty())
    return missing(field);
  for (int i = 0; i < caps.size(); ++i) {
    auto name = std::string{field} + "[" + std::to_string(i) + "]";
    if (auto err = served ? check_capability(name, caps[i]) : check_capability_shape(name, caps[i]))
      return err;
  }
  return {};
}

uint32_t max_entries_of(int32_t n) {
  return static_cast<uint32_t>(n);
}

} // namespace

// -- validation -------------------------------------------------------------------

caf::error check_id(std::string_view field, std::string_view id) {
  auto name = std::string{field};
  if (id.empty())
    return missing(field);
  if (id.size() > max_id_bytes)
    return invalid(name + " is " + std::to_string(id.size()) + " bytes long, at most " +
                   std::to_string(max_id_bytes) + " are allowed");
  // Quote only ids of printable characters: anything else is shown by size.
  auto shown = std::all_of(id.begin(), id.end(), [](char c) { return c >= 0x20 && c < 0x7f; })
                 ? quoted(id)
                 : "of " + std::to_string(id.size()) + " bytes";
  if (!std::all_of(id.begin(), id.end(), id_char))
    return invalid(name + " " + shown + " has a character outside [A-Za-z0-9_.+-]");
  if (id.front() == '-')
    return invalid(name + " " + shown + " starts with '-'");
  if (id == "." || id == "..")
    return invalid(name + " " + shown + " is not a valid name");
  return {};
}

bool is_below(std::string_view path, std::string_view root) {
  auto p = components(path);
  auto r = components(root);
  return p.size() > r.size() && std::equal(r.begin(), r.end(), p.begin());
}

caf::error check_path(std::string_view field, std::string_view path,
                      const std::vector<std::string>& allowed) {
  auto name = std::string{field};
  if (path.empty())
    return missing(field);
  if (path.size() > max_path_bytes)
    return invalid(name + " is longer than " + std::to_string(max_path_bytes) + " bytes");
  if (path.find('\0') != std::string_view::npos)
    return invalid(name + " contains a NUL byte");
  if (path.front() != '/')
    return invalid(name + " " + quoted(path) + " is not absolute");
  for (auto part : components(path))
    if (part == "..")
      return invalid(name + " " + quoted(path) + " contains \"..\"");
  if (std::none_of(allowed.begin(), allowed.end(),
                   [&](const std::string& root) { return is_below(path, root); })) {
    std::string roots;
    for (auto& root : allowed)
      roots += (roots.empty() ? "" : ", ") + root;
    return invalid(name + " " + quoted(path) + " is not below an allowed directory (" + roots +
                   ")");
  }
  return {};
}

bool is_single_node(access_mode::Mode mode) {
  switch (mode) {
  case access_mode::SINGLE_NODE_WRITER:
  case access_mode::SINGLE_NODE_READER_ONLY:
  case access_mode::SINGLE_NODE_SINGLE_WRITER:
  case access_mode::SINGLE_NODE_MULTI_WRITER:
    return true;
  default:
    return false;
  }
}

caf::error check_capability_shape(std::string_view field, const csi_pb::VolumeCapability& cap) {
  auto name = std::string{field};
  if (!cap.has_block() && !cap.has_mount())
    return invalid(name + ": access_type is missing (neither block nor mount)");
  if (!cap.has_access_mode() || cap.access_mode().mode() == access_mode::UNKNOWN)
    return missing(name + ".access_mode");
  return {};
}

std::string unsupported_capability(const csi_pb::VolumeCapability& cap) {
  auto mode = cap.access_mode().mode();
  if (!is_single_node(mode))
    return "access mode " + access_mode::Mode_Name(mode) +
           " is not supported (node-local volumes serve single-node modes only)";
  if (cap.has_mount() && !cap.mount().fs_type().empty()) {
    auto& fss = fs_ops::supported_filesystems;
    if (std::find(std::begin(fss), std::end(fss), cap.mount().fs_type()) == std::end(fss))
      return "fs_type " + quoted(cap.mount().fs_type()) + " is not supported (ext4, ext3 or xfs)";
  }
  return {};
}

caf::error check_capability(std::string_view field, const csi_pb::VolumeCapability& cap) {
  if (auto err = check_capability_shape(field, cap))
    return err;
  if (auto why = unsupported_capability(cap); !why.empty())
    return invalid(std::string{field} + ": " + why);
  return {};
}

caf::expected<capacity_bounds> capacity_of(const csi_pb::CapacityRange& range) {
  if (range.required_bytes() < 0)
    return invalid("capacity_range: required_bytes " + std::to_string(range.required_bytes()) +
                   " is negative");
  if (range.limit_bytes() < 0)
    return invalid("capacity_range: limit_bytes " + std::to_string(range.limit_bytes()) +
                   " is negative");
  capacity_bounds b{static_cast<uint64_t>(range.required_bytes()),
                    static_cast<uint64_t>(range.limit_bytes())};
  if (b.limit != 0 && b.required > b.limit)
    return invalid("capacity_range: required_bytes " + std::to_string(b.required) +
                   " is above limit_bytes " + std::to_string(b.limit));
  return b;
}

// -- topology ---------------------------------------------------------------------

std::vector<std::string> nodes_of(const csi_pb::TopologyRequirement& req) {
  std::vector<std::string> allowed;
  for (auto& topology : req.requisite()) {
    auto it = topology.segments().find(std::string{topology_key});
    if (it == topology.segments().end())
      return {}; // this topology allows any host
    if (std::find(allowed.begin(), allowed.end(), it->second) == allowed.end())
      allowed.push_back(it->second);
  }
  // The preferred hosts (the scheduler's selected node comes first) lead,
  // in their order; the other allowed ones follow in requisite order.
  std::vector<std::string> nodes;
  for (auto& topology : req.preferred()) {
    auto it = topology.segments().find(std::string{topology_key});
    if (it != topology.segments().end() &&
        std::find(allowed.begin(), allowed.end(), it->second) != allowed.end() &&
        std::find(nodes.begin(), nodes.end(), it->second) == nodes.end())
      nodes.push_back(it->second);
  }
  for (auto& node : allowed)
    if (std::find(nodes.begin(), nodes.end(), node) == nodes.end())
      nodes.push_back(node);
  return nodes;
}

std::vector<std::string> nodes_of(const csi_pb::Topology& topology) {
  auto it = topology.segments().find(std::string{topology_key});
  if (it == topology.segments().end())
    return {};
  return {it->second};
}

void set_topology(const std::string& node, csi_pb::Topology* out) {
  (*out->mutable_segments())[std::string{topology_key}] = node;
}

// -- Controller requests -------------------------------------------------------------

caf::expected<provision_req> to_provision_req(const csi_pb::CreateVolumeRequest& req) {
  if (auto err = check_id("name", req.name()))
    return err;
  if (auto err = check_capabilities("volume_capabilities", req.volume_capabilities(), true))
    return err;
  provision_req out;
  out.name = req.name();
  auto& caps = req.volume_capabilities();
  out.block = caps[0].has_block();
  for (int i = 1; i < caps.size(); ++i)
    if (caps[i].has_block() != out.block)
      return invalid("volume_capabilities: block and mount access types are mixed");
  for (auto& cap : caps)
    if (cap.has_mount() && !cap.mount().fs_type().empty()) {
      if (!out.fstype.empty() && out.fstype != cap.mount().fs_type())
        return invalid("volume_capabilities: different fs_types " + quoted(out.fstype) + " and " +
                       quoted(cap.mount().fs_type()));
      out.fstype = cap.mount().fs_type();
    }
  if (req.has_capacity_range()) {
    auto bounds = capacity_of(req.capacity_range());
    if (!bounds)
      return bounds.error();
    out.required_bytes = bounds->required;
    out.limit_bytes = bounds->limit;
  }
  out.params = map_of(req.parameters());
  if (req.has_volume_content_source()) {
    auto& src = req.volume_content_source();
    if (src.has_snapshot()) {
      if (auto err =
            check_id("volume_content_source.snapshot.snapshot_id", src.snapshot().snapshot_id()))
        return err;
      out.source_snapshot = src.snapshot().snapshot_id();
    } else if (src.has_volume()) {
      if (auto err = check_id("volume_content_source.volume.volume_id", src.volume().volume_id()))
        return err;
      out.source_volume = src.volume().volume_id();
    } else {
      return missing("volume_content_source.type");
    }
  }
  if (req.has_accessibility_requirements())
    out.nodes = nodes_of(req.accessibility_requirements());
  return out;
}

caf::expected<unprovision_req> to_unprovision_req(const csi_pb::DeleteVolumeRequest& req) {
  if (auto err = check_id("volume_id", req.volume_id()))
    return err;
  return unprovision_req{req.volume_id()};
}

caf::expected<volume_query> to_volume_query(const csi_pb::ValidateVolumeCapabilitiesRequest& req) {
  if (auto err = check_id("volume_id", req.volume_id()))
    return err;
  if (auto err = check_capabilities("volume_capabilities", req.volume_capabilities(), false))
    return err;
  return volume_query{req.volume_id()};
}

caf::expected<volume_query> to_volume_query(const csi_pb::ControllerGetVolumeRequest& req) {
  if (auto err = check_id("volume_id", req.volume_id()))
    return err;
  return volume_query{req.volume_id()};
}

caf::expected<list_volumes_req> to_list_volumes_req(const csi_pb::ListVolumesRequest& req) {
  if (req.max_entries() < 0)
    return invalid("max_entries " + std::to_string(req.max_entries()) + " is negative");
  return list_volumes_req{max_entries_of(req.max_entries()), req.starting_token()};
}

caf::expected<capacity_req> to_capacity_req(const csi_pb::GetCapacityRequest& req) {
  for (int i = 0; i < req.volume_capabilities().size(); ++i)
    if (auto err = check_capability_shape("volume_capabilities[" + std::to_string(i) + "]",
                                          req.volume_capabilities(i)))
      return err;
  capacity_req out;
  out.params = map_of(req.parameters());
  if (req.has_accessible_topology()) {
    out.nodes = nodes_of(req.accessible_topology());
    if (out.nodes.empty() && !req.accessible_topology().segments().empty())
      return invalid("accessible_topology: the only segment served is " +
                     std::string{topology_key});
  }
  return out;
}

caf::expected<snapshot_req> to_snapshot_req(const csi_pb::CreateSnapshotRequest& req) {
  if (auto err = check_id("source_volume_id", req.source_volume_id()))
    return err;
  if (auto err = check_id("name", req.name()))
    return err;
  return snapshot_req{req.name(), req.source_volume_id(), map_of(req.parameters())};
}

caf::expected<delete_snapshot_req>
to_delete_snapshot_req(const csi_pb::DeleteSnapshotRequest& req) {
  if (auto err = check_id("snapshot_id", req.snapshot_id()))
    return err;
  return delete_snapshot_req{req.snapshot_id()};
}

caf::expected<list_snapshots_req> to_list_snapshots_req(const csi_pb::ListSnapshotsRequest& req) {
  if (req.max_entries() < 0)
    return invalid("max_entries " + std::to_string(req.max_entries()) + " is negative");
  // Filters are not validated: an id that cannot exist simply matches nothing.
  return list_snapshots_req{max_entries_of(req.max_entries()), req.starting_token(),
                            req.snapshot_id(), req.source_volume_id()};
}

caf::expected<resize_req> to_resize_req(const csi_pb::ControllerExpandVolumeRequest& req) {
  if (auto err = check_id("volume_id", req.volume_id()))
    return err;
  if (!req.has_capacity_range())
    return missing("capacity_range");
  auto bounds = capacity_of(req.capacity_range());
  if (!bounds)
    return bounds.error();
  if (bounds->required == 0 && bounds->limit == 0)
    return invalid("capacity_range: neither required_bytes nor limit_bytes is set");
  if (req.has_volume_capability())
    if (auto err = check_capability_shape("volume_capability", req.volume_capability()))
      return err;
  return resize_req{req.volume_id(), bounds->required, bounds->limit};
}

bool node_expansion_required(const csi_pb::ControllerExpandVolumeRequest& req) {
  return !(req.has_volume_capability() && req.volume_capability().has_block());
}

// -- Node requests ----------------------------------------------------------------------

std::string fstype_of(const csi_pb::VolumeCapability& cap, const param_map& context) {
  if (cap.has_mount() && !cap.mount().fs_type().empty())
    return cap.mount().fs_type();
  for (auto key : {param_keys::fstype, param_keys::fstype_legacy})
    if (auto* v = find(context, key); v != nullptr && !v->empty())
      return *v;
  return "ext4";
}

caf::expected<stage_call> to_stage_call(const csi_pb::NodeStageVolumeRequest& req,
                                        const std::vector<std::string>& allowed_paths) {
  if (auto err = check_id("volume_id", req.volume_id()))
    return err;
  if (auto err = check_path("staging_target_path", req.staging_target_path(), allowed_paths))
    return err;
  if (!req.has_volume_capability())
    return missing("volume_capability");
  auto& cap = req.volume_capability();
  if (auto err = check_capability("volume_capability", cap))
    return err;
  stage_call out;
  out.volume_id = req.volume_id();
  out.req.staging_path = req.staging_target_path();
  out.req.block = cap.has_block();
  auto context = map_of(req.volume_context());
  if (!out.req.block) {
    out.req.fstype = fstype_of(cap, context);
    auto& fss = fs_ops::supported_filesystems;
    if (std::find(std::begin(fss), std::end(fss), out.req.fstype) == std::end(fss))
      return invalid("volume_context: fstype " + quoted(out.req.fstype) +
                     " is not supported (ext4, ext3 or xfs)");
    auto& flags = cap.mount().mount_flags();
    out.req.mount_options.assign(flags.begin(), flags.end());
  }
  return out;
}

caf::expected<unstage_call> to_unstage_call(const csi_pb::NodeUnstageVolumeRequest& req,
                                            const std::vector<std::string>& allowed_paths) {
  if (auto err = check_id("volume_id", req.volume_id()))
    return err;
  if (auto err = check_path("staging_target_path", req.staging_target_path(), allowed_paths))
    return err;
  return unstage_call{req.volume_id(), unstage_req{req.staging_target_path()}};
}

bool is_ephemeral(const param_map& context) {
  auto* v = find(context, param_keys::ephemeral);
  return v != nullptr && *v == "true";
}

std::string ephemeral_staging_path(const std::string& state_dir, const std::string& volume_id) {
  auto base = state_dir;
  while (base.size() > 1 && base.back() == '/')
    base.pop_back();
  return base + "/ephemeral/" + volume_id;
}

caf::expected<ephemeral_plan> plan_ephemeral(const std::string& volume_id,
                                             const param_map& attributes,
                                             const csi_pb::VolumeCapability& cap,
                                             const std::string& state_dir) {
  if (cap.has_block())
    return invalid("volume_capability: inline ephemeral volumes cannot be block volumes");
  auto params = parse_ephemeral_params(attributes);
  if (!params)
    return invalid("volume_context: " + message_of(params.error()));
  ephemeral_plan plan;
  plan.create.vg = params->volume.vg_name;
  plan.create.lv.name = volume_id;
  plan.create.lv.size_bytes = params->size_bytes;
  plan.create.lv.layout = "linear";
  plan.create.lv.kind = "ephemeral";
  plan.stage.staging_path = ephemeral_staging_path(state_dir, volume_id);
  plan.stage.block = false;
  plan.stage.fstype = params->volume.fstype.empty() ? "ext4" : params->volume.fstype;
  if (cap.has_mount()) {
    auto& flags = cap.mount().mount_flags();
    plan.stage.mount_options.assign(flags.begin(), flags.end());
  }
  return plan;
}

caf::expected<publish_call> to_publish_call(const csi_pb::NodePublishVolumeRequest& req,
                                            const std::vector<std::string>& allowed_paths,
                                            const std::string& state_dir) {
  if (auto err = check_id("volume_id", req.volume_id()))
    return err;
  if (auto err = check_path("target_path", req.target_path(), allowed_paths))
    return err;
  if (!req.has_volume_capability())
    return missing("volume_capability");
  auto& cap = req.volume_capability();
  if (auto err = check_capability_shape("volume_capability", cap))
    return err;
  // A well-formed capability the volume cannot serve "exceeds capabilities".
  if (auto why = unsupported_capability(cap); !why.empty())
    return make_error(errc::failed_precondition, "volume_capability: " + why);
  publish_call out;
  out.volume_id = req.volume_id();
  out.req.target_path = req.target_path();
  out.req.read_only = req.readonly();
  if (cap.has_mount()) {
    auto& flags = cap.mount().mount_flags();
    out.req.mount_options.assign(flags.begin(), flags.end());
  }
  auto context = map_of(req.volume_context());
  auto limit = io_limits::limit_from_context(context);
  if (!limit)
    return invalid("volume_context: " + message_of(limit.error()));
  out.limit = *limit;
  if (auto it = context.find(std::string{io_limits::keys::pod_uid}); it != context.end())
    out.pod_uid = it->second;
  else
    out.pod_uid = io_limits::pod_uid_of_target(out.req.target_path);
  if (auto it = context.find(std::string{io_limits::keys::cgroup}); it != context.end())
    out.cgroup = it->second;
  if (is_ephemeral(context)) {
    auto plan = plan_ephemeral(req.volume_id(), context, cap, state_dir);
    if (!plan)
      return plan.error();
    out.ephemeral = std::move(*plan);
    return out;
  }
  // This driver stages (STAGE_UNSTAGE_VOLUME): publishing needs the stage.
  if (req.staging_target_path().empty())
    return make_error(errc::failed_precondition,
                      "staging_target_path is missing: the volume must be staged first");
  if (auto err = check_path("staging_target_path", req.staging_target_path(), allowed_paths))
    return err;
  return out;
}

caf::expected<unpublish_call> to_unpublish_call(const csi_pb::NodeUnpublishVolumeRequest& req,
                                                const std::vector<std::string>& allowed_paths) {
  if (auto err = check_id("volume_id", req.volume_id()))
    return err;
  if (auto err = check_path("target_path", req.target_path(), allowed_paths))
    return err;
  return unpublish_call{req.volume_id(), unpublish_req{req.target_path()}};
}

namespace {

/// volume_path of NodeGetVolumeStats and NodeExpandVolume: missing is
/// INVALID_ARGUMENT; a path that cannot be one of the volume's (relative,
/// outside the allowed roots) is simply not found, as CSI asks.
caf::error volume_path_of(const std::string& path, const std::vector<std::string>& allowed_paths) {
  if (path.empty())
    return missing("volume_path");
  if (auto err = check_path("volume_path", path, allowed_paths))
    return make_error(errc::not_found, message_of(err));
  return {};
}

} // namespace

caf::expected<volume_path_call> to_stats_call(const csi_pb::NodeGetVolumeStatsRequest& req,
                                              const std::vector<std::string>& allowed_paths) {
  if (auto err = check_id("volume_id", req.volume_id()))
    return err;
  if (auto err = volume_path_of(req.volume_path(), allowed_paths))
    return err;
  return volume_path_call{req.volume_id(), req.volume_path(), {}};
}

caf::expected<volume_path_call> to_node_expand_call(const csi_pb::NodeExpandVolumeRequest& req,
                                                    const std::vector<std::string>& allowed_paths) {
  if (auto err = check_id("volume_id", req.volume_id()))
    return err;
  if (auto err = volume_path_of(req.volume_path(), allowed_paths))
    return err;
  if (req.has_volume_capability())
    if (auto err = check_capability_shape("volume_capability", req.volume_capability()))
      return err;
  volume_path_call out{req.volume_id(), req.volume_path(), {}};
  if (req.has_capacity_range()) {
    auto bounds = capacity_of(req.capacity_range());
    if (!bounds)
      return bounds.error();
    out.capacity = *bounds;
  }
  return out;
}

bool is_path_of(const volume_state& vol, std::string_view path) {
  if (path.empty())
    return false;
  if (vol.staging_path == path)
    return true;
  return std::any_of(vol.targets.begin(), vol.targets.end(),
                     [&](const publish_target& t) { return t.path == path; });
}

// -- responses --------------------------------------------------------------------------

void fill_volume(const volume_record& rec, csi_pb::Volume* out) {
  out->set_capacity_bytes(static_cast<int64_t>(rec.capacity_bytes));
  out->set_volume_id(rec.id);
  auto& context = *out->mutable_volume_context();
  for (auto& [key, value] : rec.context)
    context[key] = value;
  if (!rec.source_snapshot.empty())
    out->mutable_content_source()->mutable_snapshot()->set_snapshot_id(rec.source_snapshot);
  else if (!rec.source_volume.empty())
    out->mutable_content_source()->mutable_volume()->set_volume_id(rec.source_volume);
  if (!rec.node.empty())
    set_topology(rec.node, out->add_accessible_topology());
}

void fill_condition(bool abnormal, const std::string& message, csi_pb::VolumeCondition* out) {
  out->set_abnormal(abnormal);
  out->set_message(message);
}

void fill_list_volumes(const volume_page& page, csi_pb::ListVolumesResponse* out) {
  for (auto& rec : page.entries) {
    auto* entry = out->add_entries();
    fill_volume(rec, entry->mutable_volume());
    auto* status = entry->mutable_status();
    for (auto& node : rec.published_nodes)
      status->add_published_node_ids(node);
    fill_condition(rec.abnormal, rec.message, status->mutable_volume_condition());
  }
  out->set_next_token(page.next_token);
}

void fill_get_volume(const volume_record& rec, csi_pb::ControllerGetVolumeResponse* out) {
  fill_volume(rec, out->mutable_volume());
  auto* status = out->mutable_status();
  for (auto& node : rec.published_nodes)
    status->add_published_node_ids(node);
  fill_condition(rec.abnormal, rec.message, status->mutable_volume_condition());
}

void fill_validation(const csi_pb::ValidateVolumeCapabilitiesRequest& req,
                     csi_pb::ValidateVolumeCapabilitiesResponse* out) {
  for (int i = 0; i < req.volume_capabilities().size(); ++i) {
    auto why = unsupported_capability(req.volume_capabilities(i));
    if (!why.empty()) {
      out->clear_confirmed();
      out->set_message("volume_capabilities[" + std::to_string(i) + "]: " + why);
      return;
    }
  }
  auto* confirmed = out->mutable_confirmed();
  *confirmed->mutable_volume_context() = req.volume_context();
  *confirmed->mutable_volume_capabilities() = req.volume_capabilities();
  *confirmed->mutable_parameters() = req.parameters();
  *confirmed->mutable_mutable_parameters() = req.mutable_parameters();
}

void fill_snapshot(const snapshot_record& rec, csi_pb::Snapshot* out) {
  out->set_size_bytes(static_cast<int64_t>(rec.size_bytes));
  out->set_snapshot_id(rec.id);
  out->set_source_volume_id(rec.source_volume);
  out->mutable_creation_time()->set_seconds(rec.created_s);
  out->mutable_creation_time()->set_nanos(0);
  out->set_ready_to_use(rec.ready);
}

void fill_list_snapshots(const snapshot_page& page, csi_pb::ListSnapshotsResponse* out) {
  for (auto& rec : page.entries)
    fill_snapshot(rec, out->add_entries()->mutable_snapshot());
  out->set_next_token(page.next_token);
}

void fill_stats(const volume_stats& stats, csi_pb::NodeGetVolumeStatsResponse* out) {
  auto& s = stats.usage.stats;
  auto* bytes = out->add_usage();
  bytes->set_unit(csi_pb::VolumeUsage::BYTES);
  bytes->set_available(static_cast<int64_t>(s.available_bytes));
  bytes->set_total(static_cast<int64_t>(s.total_bytes));
  bytes->set_used(static_cast<int64_t>(s.used_bytes));
  if (!stats.state.block) {
    auto* inodes = out->add_usage();
    inodes->set_unit(csi_pb::VolumeUsage::INODES);
    inodes->set_available(static_cast<int64_t>(s.free_inodes));
    inodes->set_total(static_cast<int64_t>(s.total_inodes));
    inodes->set_used(static_cast<int64_t>(s.used_inodes));
  }
  fill_condition(stats.usage.condition.abnormal, stats.usage.condition.message,
                 out->mutable_volume_condition());
}

void fill_plugin_capabilities(bool controller, csi_pb::GetPluginCapabilitiesResponse* out) {
  using service = csi_pb::PluginCapability::Service;
  if (controller)
    out->add_capabilities()->mutable_service()->set_type(service::CONTROLLER_SERVICE);
  out->add_capabilities()->mutable_service()->set_type(service::VOLUME_ACCESSIBILITY_CONSTRAINTS);
  out->add_capabilities()->mutable_volume_expansion()->set_type(
    csi_pb::PluginCapability::VolumeExpansion::ONLINE);
}

void fill_controller_capabilities(csi_pb::ControllerGetCapabilitiesResponse* out) {
  using rpc = csi_pb::ControllerServiceCapability::RPC;
  for (auto type : {rpc::CREATE_DELETE_VOLUME, rpc::CREATE_DELETE_SNAPSHOT, rpc::LIST_SNAPSHOTS,
                    rpc::CLONE_VOLUME, rpc::EXPAND_VOLUME, rpc::LIST_VOLUMES, rpc::GET_CAPACITY,
                    rpc::GET_VOLUME, rpc::VOLUME_CONDITION, rpc::SINGLE_NODE_MULTI_WRITER})
    out->add_capabilities()->mutable_rpc()->set_type(type);
}

void fill_node_capabilities(csi_pb::NodeGetCapabilitiesResponse* out) {
  using rpc = csi_pb::NodeServiceCapability::RPC;
  for (auto type : {rpc::STAGE_UNSTAGE_VOLUME, rpc::EXPAND_VOLUME, rpc::GET_VOLUME_STATS,
                    rpc::VOLUME_CONDITION, rpc::SINGLE_NODE_MULTI_WRITER})
    out->add_capabilities()->mutable_rpc()->set_type(type);
}

void fill_node_info(const std::string& node_id, int64_t max_volumes,
                    csi_pb::NodeGetInfoResponse* out) {
  out->set_node_id(node_id);
  out->set_max_volumes_per_node(max_volumes);
  set_topology(node_id, out->mutable_accessible_topology());
}

// -- errors ------------------------------------------------------------------------------

grpc::StatusCode to_status_code(errc code) {
  return static_cast<grpc::StatusCode>(static_cast<int>(to_grpc_code(code)));
}

grpc::Status to_status(const caf::error& err) {
  if (!err)
    return grpc::Status::OK;
  auto message = is_olocal(err) ? message_of(err) : std::string{};
  if (message.empty())
    message = render(err);
  return grpc::Status{to_status_code(code_of(err)), message};
}

} // namespace olocal
