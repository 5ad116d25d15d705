#include "gateways/cmd/client.hpp"

#include "actors/cluster/volume_params.hpp"
#include "actors/core/errc.hpp"
#include "actors/core/options.hpp"

#include "csi/v1/csi.grpc.pb.h"

#include <grpcpp/grpcpp.h>

#include <chrono>
#include <cstdio>
#include <ctime>
#include <filesystem>
#include <iostream>
#include <memory>

namespace olocal {

const char* const client_usage = R"(Usage:
  open-local volume create NAME [--size Q] [--param K=V]... [--from-snapshot S]
                                [--from-volume V] [--block] [--fstype T]
  open-local volume list
  open-local volume get NAME
  open-local volume expand NAME --size Q
  open-local volume delete NAME
  open-local volume publish NAME PATH [--fstype T] [--readonly] [--block]
                                     [--param K=V]...
  open-local volume unpublish NAME PATH
  open-local snapshot create NAME --volume V [--param K=V]...
  open-local snapshot list [--volume V]
  open-local snapshot delete NAME

Every command speaks CSI to the driver's socket (--endpoint, default
unix:///run/open-local/csi.sock). Sizes are quantities: 1073741824, 512Mi, 1Gi, 2G.
publish stages the volume under --staging-dir/NAME (formatting an empty volume
with --fstype, default ext4) and bind-mounts it at PATH; with --block PATH
becomes the volume's device node. unpublish undoes both. publish's --param
entries are the volume context (what kubelet passes from the PV's
volumeAttributes), e.g. writeBps=8Mi and olocal/cgroup=/app.slice for an IO
limit on that cgroup.
)";

namespace {

struct client_options {
  std::string endpoint = "unix:///run/open-local/csi.sock";
  std::string staging_dir = "/var/lib/open-local/staging";
  std::string size;
  std::vector<std::string> params;
  std::string from_snapshot;
  std::string from_volume;
  std::string volume;
  std::string fstype = "ext4";
  bool block = false;
  bool readonly = false;
  std::chrono::milliseconds timeout{600'000};

  void declare(option_set& set) {
    set.add("endpoint", endpoint, "the driver's CSI socket");
    set.add("staging-dir", staging_dir, "where publish stages volumes (kubelet's globalmount)");
    set.add("size", size, "capacity (create, expand)");
    set.add_list("param", params,
                 "create and snapshot create: a parameter K=V; publish: a volume context entry "
                 "(repeatable)");
    set.add("from-snapshot", from_snapshot, "create: restore this snapshot");
    set.add("from-volume", from_volume, "create: clone this volume");
    set.add("volume", volume, "snapshot create/list: the source volume");
    set.add("fstype", fstype, "filesystem for create and publish (ext4, ext3, xfs)");
    set.add("block", block, "raw block access");
    set.add("readonly", readonly, "publish read-only");
    set.add("timeout", timeout, "how long one call may take");
  }
};

int usage_error(const std::string& why) {
  std::fprintf(stderr, "open-local: %s\n\n%s", why.c_str(), client_usage);
  return 2;
}

/// One CSI connection with the three services.
struct csi_client {
  std::shared_ptr<grpc::Channel> channel;
  std::unique_ptr<csi::v1::Identity::Stub> identity;
  std::unique_ptr<csi::v1::Controller::Stub> controller;
  std::unique_ptr<csi::v1::Node::Stub> node;
  std::chrono::milliseconds timeout;

  explicit csi_client(const client_options& o)
    : channel(grpc::CreateChannel(o.endpoint, grpc::InsecureChannelCredentials())),
      identity(csi::v1::Identity::NewStub(channel)),
      controller(csi::v1::Controller::NewStub(channel)), node(csi::v1::Node::NewStub(channel)),
      timeout(o.timeout) {}

  std::unique_ptr<grpc::ClientContext> context() const {
    auto ctx = std::make_unique<grpc::ClientContext>();
    ctx->set_deadline(std::chrono::system_clock::now() + timeout);
    return ctx;
  }
};

/// Prints a failed call the way a person wants to read it; answers 1.
int failed(std::string_view what, const grpc::Status& s) {
  static const char* names[] = {
    "OK",        "CANCELLED",      "UNKNOWN",           "INVALID_ARGUMENT",   "DEADLINE_EXCEEDED",
    "NOT_FOUND", "ALREADY_EXISTS", "PERMISSION_DENIED", "RESOURCE_EXHAUSTED", "FAILED_PRECONDITION",
    "ABORTED",   "OUT_OF_RANGE",   "UNIMPLEMENTED",     "INTERNAL",           "UNAVAILABLE",
    "DATA_LOSS", "UNAUTHENTICATED"};
  auto code = static_cast<size_t>(s.error_code());
  std::fprintf(stderr, "open-local: %.*s failed: %s: %s\n", static_cast<int>(what.size()),
               what.data(), code < std::size(names) ? names[code] : "?", s.error_message().c_str());
  return 1;
}

caf::expected<uint64_t> size_of(const client_options& o, bool required) {
  if (o.size.empty()) {
    if (required)
      return make_error(errc::invalid_argument, "--size is required");
    return uint64_t{0};
  }
  return parse_quantity(o.size);
}

caf::expected<param_map> params_of(const client_options& o) {
  param_map out;
  for (auto& kv : o.params) {
    auto eq = kv.find('=');
    if (eq == std::string::npos || eq == 0)
      return make_error(errc::invalid_argument, "--param \"" + kv + "\" is not K=V");
    out[kv.substr(0, eq)] = kv.substr(eq + 1);
  }
  return out;
}

void set_capability(csi::v1::VolumeCapability* cap, bool block, const std::string& fstype) {
  cap->mutable_access_mode()->set_mode(csi::v1::VolumeCapability::AccessMode::SINGLE_NODE_WRITER);
  if (block)
    cap->mutable_block();
  else
    cap->mutable_mount()->set_fs_type(fstype);
}

std::string human(uint64_t bytes) {
  const char* units[] = {"B", "KiB", "MiB", "GiB", "TiB"};
  double v = static_cast<double>(bytes);
  size_t u = 0;
  while (v >= 1024 && u + 1 < std::size(units)) {
    v /= 1024;
    ++u;
  }
  char buf[32];
  std::snprintf(buf, sizeof buf, u == 0 ? "%.0f %s" : "%.1f %s", v, units[u]);
  return buf;
}

void print_volume(const csi::v1::Volume& v) {
  std::cout << "volume " << v.volume_id() << "  " << human(v.capacity_bytes()) << " ("
            << v.capacity_bytes() << " bytes)";
  for (auto& t : v.accessible_topology())
    for (auto& [k, val] : t.segments())
      if (k == "kubernetes.io/hostname")
        std::cout << "  node " << val;
  auto vg = v.volume_context().find("vgName");
  if (vg != v.volume_context().end())
    std::cout << "  vg " << vg->second;
  if (v.has_content_source()) {
    if (v.content_source().has_snapshot())
      std::cout << "  restored from " << v.content_source().snapshot().snapshot_id();
    if (v.content_source().has_volume())
      std::cout << "  cloned from " << v.content_source().volume().volume_id();
  }
  std::cout << "\n";
}

void print_snapshot(const csi::v1::Snapshot& s) {
  std::time_t t = s.creation_time().seconds();
  char when[32] = "";
  std::strftime(when, sizeof when, "%Y-%m-%dT%H:%M:%SZ", std::gmtime(&t));
  std::cout << "snapshot " << s.snapshot_id() << "  of " << s.source_volume_id() << "  "
            << human(s.size_bytes()) << "  " << (s.ready_to_use() ? "ready" : "not ready") << "  "
            << when << "\n";
}

std::string staging_path(const client_options& o, const std::string& name) {
  return (std::filesystem::path{o.staging_dir} / name).string();
}

// -- volume verbs -------------------------------------------------------------------

int volume_create(csi_client& c, const client_options& o, const std::string& name) {
  auto size = size_of(o, false);
  auto params = params_of(o);
  if (!size || !params)
    return usage_error(render(!size ? size.error() : params.error()));
  csi::v1::CreateVolumeRequest req;
  req.set_name(name);
  if (*size)
    req.mutable_capacity_range()->set_required_bytes(static_cast<int64_t>(*size));
  for (auto& [k, v] : *params)
    (*req.mutable_parameters())[k] = v;
  set_capability(req.add_volume_capabilities(), o.block, o.fstype);
  if (!o.from_snapshot.empty())
    req.mutable_volume_content_source()->mutable_snapshot()->set_snapshot_id(o.from_snapshot);
  if (!o.from_volume.empty())
    req.mutable_volume_content_source()->mutable_volume()->set_volume_id(o.from_volume);
  csi::v1::CreateVolumeResponse resp;
  auto ctx = c.context();
  auto s = c.controller->CreateVolume(ctx.get(), req, &resp);
  if (!s.ok())
    return failed("CreateVolume", s);
  std::cout << "created ";
  print_volume(resp.volume());
  return 0;
}

int volume_list(csi_client& c) {
  std::string token;
  size_t n = 0;
  do {
    csi::v1::ListVolumesRequest req;
    req.set_max_entries(100);
    req.set_starting_token(token);
    csi::v1::ListVolumesResponse resp;
    auto ctx = c.context();
    auto s = c.controller->ListVolumes(ctx.get(), req, &resp);
    if (!s.ok())
      return failed("ListVolumes", s);
    for (auto& e : resp.entries()) {
      print_volume(e.volume());
      if (e.has_status() && e.status().has_volume_condition() &&
          e.status().volume_condition().abnormal())
        std::cout << "  ABNORMAL: " << e.status().volume_condition().message() << "\n";
      ++n;
    }
    token = resp.next_token();
  } while (!token.empty());
  std::cout << n << " volume(s)\n";
  return 0;
}

int volume_get(csi_client& c, const std::string& name) {
  csi::v1::ControllerGetVolumeRequest req;
  req.set_volume_id(name);
  csi::v1::ControllerGetVolumeResponse resp;
  auto ctx = c.context();
  auto s = c.controller->ControllerGetVolume(ctx.get(), req, &resp);
  if (!s.ok())
    return failed("ControllerGetVolume", s);
  print_volume(resp.volume());
  auto& cond = resp.status().volume_condition();
  std::cout << "  condition: " << (cond.abnormal() ? "ABNORMAL: " + cond.message() : "normal")
            << "\n";
  return 0;
}

int volume_expand(csi_client& c, const client_options& o, const std::string& name) {
  auto size = size_of(o, true);
  if (!size)
    return usage_error(render(size.error()));
  csi::v1::ControllerExpandVolumeRequest req;
  req.set_volume_id(name);
  req.mutable_capacity_range()->set_required_bytes(static_cast<int64_t>(*size));
  csi::v1::ControllerExpandVolumeResponse resp;
  auto ctx = c.context();
  auto s = c.controller->ControllerExpandVolume(ctx.get(), req, &resp);
  if (!s.ok())
    return failed("ControllerExpandVolume", s);
  // Like kubelet: the filesystem follows through the node when it needs to.
  if (resp.node_expansion_required()) {
    csi::v1::NodeExpandVolumeRequest nreq;
    nreq.set_volume_id(name);
    nreq.set_volume_path(staging_path(o, name));
    nreq.set_staging_target_path(staging_path(o, name));
    nreq.mutable_capacity_range()->set_required_bytes(static_cast<int64_t>(*size));
    csi::v1::NodeExpandVolumeResponse nresp;
    auto nctx = c.context();
    auto ns = c.node->NodeExpandVolume(nctx.get(), nreq, &nresp);
    if (!ns.ok() && ns.error_code() != grpc::StatusCode::NOT_FOUND)
      return failed("NodeExpandVolume", ns);
  }
  std::cout << "expanded volume " << name << " to " << human(resp.capacity_bytes()) << " ("
            << resp.capacity_bytes() << " bytes)\n";
  return 0;
}

int volume_delete(csi_client& c, const std::string& name) {
  csi::v1::DeleteVolumeRequest req;
  req.set_volume_id(name);
  csi::v1::DeleteVolumeResponse resp;
  auto ctx = c.context();
  auto s = c.controller->DeleteVolume(ctx.get(), req, &resp);
  if (!s.ok())
    return failed("DeleteVolume", s);
  std::cout << "deleted volume " << name << "\n";
  return 0;
}

int volume_publish(csi_client& c, const client_options& o, const std::string& name,
                   const std::string& path) {
  auto context = params_of(o);
  if (!context)
    return usage_error(render(context.error()));
  auto staging = staging_path(o, name);
  std::error_code ec;
  std::filesystem::create_directories(staging, ec); // the caller's, as kubelet's is
  csi::v1::NodeStageVolumeRequest sreq;
  sreq.set_volume_id(name);
  sreq.set_staging_target_path(staging);
  set_capability(sreq.mutable_volume_capability(), o.block, o.fstype);
  for (auto& [k, v] : *context)
    (*sreq.mutable_volume_context())[k] = v;
  csi::v1::NodeStageVolumeResponse sresp;
  auto sctx = c.context();
  auto s = c.node->NodeStageVolume(sctx.get(), sreq, &sresp);
  if (!s.ok())
    return failed("NodeStageVolume", s);
  csi::v1::NodePublishVolumeRequest preq;
  preq.set_volume_id(name);
  preq.set_staging_target_path(staging);
  preq.set_target_path(path);
  preq.set_readonly(o.readonly);
  set_capability(preq.mutable_volume_capability(), o.block, o.fstype);
  for (auto& [k, v] : *context)
    (*preq.mutable_volume_context())[k] = v;
  csi::v1::NodePublishVolumeResponse presp;
  auto pctx = c.context();
  auto p = c.node->NodePublishVolume(pctx.get(), preq, &presp);
  if (!p.ok())
    return failed("NodePublishVolume", p);
  std::cout << "published volume " << name << " at " << path << (o.readonly ? " (read-only)" : "")
            << (o.block ? " as a block device" : "") << "\n";
  return 0;
}

int volume_unpublish(csi_client& c, const client_options& o, const std::string& name,
                     const std::string& path) {
  csi::v1::NodeUnpublishVolumeRequest ureq;
  ureq.set_volume_id(name);
  ureq.set_target_path(path);
  csi::v1::NodeUnpublishVolumeResponse uresp;
  auto uctx = c.context();
  auto u = c.node->NodeUnpublishVolume(uctx.get(), ureq, &uresp);
  if (!u.ok())
    return failed("NodeUnpublishVolume", u);
  csi::v1::NodeUnstageVolumeRequest sreq;
  sreq.set_volume_id(name);
  sreq.set_staging_target_path(staging_path(o, name));
  csi::v1::NodeUnstageVolumeResponse sresp;
  auto sctx = c.context();
  auto s = c.node->NodeUnstageVolume(sctx.get(), sreq, &sresp);
  // Still published elsewhere: the volume stays staged for those targets.
  if (!s.ok() && s.error_code() != grpc::StatusCode::FAILED_PRECONDITION)
    return failed("NodeUnstageVolume", s);
  std::cout << "unpublished volume " << name << " from " << path << "\n";
  return 0;
}

// -- snapshot verbs -----------------------------------------------------------------

int snapshot_create(csi_client& c, const client_options& o, const std::string& name) {
  auto params = params_of(o);
  if (!params)
    return usage_error(render(params.error()));
  if (o.volume.empty())
    return usage_error("--volume is required");
  csi::v1::CreateSnapshotRequest req;
  req.set_name(name);
  req.set_source_volume_id(o.volume);
  for (auto& [k, v] : *params)
    (*req.mutable_parameters())[k] = v;
  csi::v1::CreateSnapshotResponse resp;
  auto ctx = c.context();
  auto s = c.controller->CreateSnapshot(ctx.get(), req, &resp);
  if (!s.ok())
    return failed("CreateSnapshot", s);
  std::cout << "created ";
  print_snapshot(resp.snapshot());
  return 0;
}

int snapshot_list(csi_client& c, const client_options& o) {
  std::string token;
  size_t n = 0;
  do {
    csi::v1::ListSnapshotsRequest req;
    req.set_max_entries(100);
    req.set_starting_token(token);
    req.set_source_volume_id(o.volume);
    csi::v1::ListSnapshotsResponse resp;
    auto ctx = c.context();
    auto s = c.controller->ListSnapshots(ctx.get(), req, &resp);
    if (!s.ok())
      return failed("ListSnapshots", s);
    for (auto& e : resp.entries()) {
      print_snapshot(e.snapshot());
      ++n;
    }
    token = resp.next_token();
  } while (!token.empty());
  std::cout << n << " snapshot(s)\n";
  return 0;
}

int snapshot_delete(csi_client& c, const std::string& name) {
  csi::v1::DeleteSnapshotRequest req;
  req.set_snapshot_id(name);
  csi::v1::DeleteSnapshotResponse resp;
  auto ctx = c.context();
  auto s = c.controller->DeleteSnapshot(ctx.get(), req, &resp);
  if (!s.ok())
    return failed("DeleteSnapshot", s);
  std::cout << "deleted snapshot " << name << "\n";
  return 0;
}

/// Parses the options of `<noun> <verb> ...`; answers the positional
/// arguments after the verb, or an exit status when the caller should stop.
struct parsed {
  client_options opts;
  std::vector<std::string> positional;
  int exit = -1; ///< >= 0: stop with this status
};

parsed parse(const std::string& noun, const std::vector<std::string>& args) {
  parsed p;
  option_set set{noun};
  p.opts.declare(set);
  if (auto err = set.parse(args, &p.positional)) {
    p.exit = usage_error(render(err));
    return p;
  }
  if (set.help_requested() || p.positional.empty()) {
    std::cout << client_usage;
    p.exit = p.positional.empty() && !set.help_requested() ? 2 : 0;
  }
  return p;
}

bool arity(const parsed& p, size_t n) {
  return p.positional.size() == n + 1;
}

} // namespace

int run_volume_command(const std::vector<std::string>& args) {
  auto p = parse("volume", args);
  if (p.exit >= 0)
    return p.exit;
  auto& verb = p.positional[0];
  csi_client c{p.opts};
  if (verb == "create" && arity(p, 1))
    return volume_create(c, p.opts, p.positional[1]);
  if (verb == "list" && arity(p, 0))
    return volume_list(c);
  if (verb == "get" && arity(p, 1))
    return volume_get(c, p.positional[1]);
  if (verb == "expand" && arity(p, 1))
    return volume_expand(c, p.opts, p.positional[1]);
  if (verb == "delete" && arity(p, 1))
    return volume_delete(c, p.positional[1]);
  if (verb == "publish" && arity(p, 2))
    return volume_publish(c, p.opts, p.positional[1], p.positional[2]);
  if (verb == "unpublish" && arity(p, 2))
    return volume_unpublish(c, p.opts, p.positional[1], p.positional[2]);
  return usage_error("volume " + verb + ": unknown verb or wrong number of arguments");
}

int run_snapshot_command(const std::vector<std::string>& args) {
  auto p = parse("snapshot", args);
  if (p.exit >= 0)
    return p.exit;
  auto& verb = p.positional[0];
  csi_client c{p.opts};
  if (verb == "create" && arity(p, 1))
    return snapshot_create(c, p.opts, p.positional[1]);
  if (verb == "list" && arity(p, 0))
    return snapshot_list(c, p.opts);
  if (verb == "delete" && arity(p, 1))
    return snapshot_delete(c, p.positional[1]);
  return usage_error("snapshot " + verb + ": unknown verb or wrong number of arguments");
}

} // namespace olocal
