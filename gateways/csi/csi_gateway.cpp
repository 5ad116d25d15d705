#include "gateways/csi/csi_gateway.hpp"

#include "actors/core/errc.hpp"
#include "actors/core/log.hpp"
#include "gateways/csi/translate.hpp"
#include "gateways/grpc/unary_calls.hpp"

#include "csi/v1/csi.grpc.pb.h"

#include <caf/all.hpp>
#include <grpcpp/security/server_credentials.h>
#include <grpcpp/server.h>
#include <grpcpp/server_builder.h>
#include <grpcpp/support/server_callback.h>

#include <atomic>
#include <cerrno>
#include <cstring>
#include <filesystem>
#include <mutex>
#include <sys/stat.h>
#include <system_error>
#include <unistd.h>

// How a call runs (toolchain.md, "bridging gRPC callback handlers to
// actors"): the handler validates and translates the request on the gRPC
// thread; a refused request is finished at once. Otherwise it spawns a
// one-shot event-based actor that asks the volume manager or the node
// supervisor (and the volume actor) with opts.call_timeout, fills the
// response from the answers, finishes the call and quits. No gRPC thread
// ever waits for an actor.

namespace olocal {

namespace {

constexpr std::string_view who = "csi";
constexpr std::string_view unix_scheme = "unix://";

using reactor_ptr = grpc::ServerUnaryReactor*;

/// The socket path of a "unix:///abs/path" endpoint.
caf::expected<std::string> socket_path_of(const std::string& endpoint) {
  if (endpoint.rfind(unix_scheme, 0) != 0)
    return make_error(errc::invalid_argument,
                      "endpoint \"" + endpoint + "\" is not a unix socket (unix:///path)");
  auto path = endpoint.substr(unix_scheme.size());
  if (path.empty() || path.front() != '/')
    return make_error(errc::invalid_argument,
                      "endpoint \"" + endpoint + "\" does not name an absolute socket path");
  return path;
}

/// What the actors of one call need (copied into them: they never touch the
/// gateway itself).
struct links {
  volume_manager_actor manager;
  node_supervisor_actor node;
  std::chrono::milliseconds timeout{0};
  std::string state_dir;
  io_limit_actor io_limits;
};

grpc::Status shutting_down() {
  return to_status(make_error(errc::shutting_down, "the CSI gateway is stopping"));
}

using grpc_calls::call_registry;

/// One CSI call (see gateways/grpc/unary_calls.hpp): failures are logged,
/// a stop answers UNAVAILABLE (shutting down).
class call_end : public grpc_calls::unary_call {
public:
  call_end(reactor_ptr reactor, std::string_view method, std::shared_ptr<call_registry> registry)
    : unary_call(reactor, std::move(registry)), method_(method) {}

  void finish(const grpc::Status& status) {
    answer([&] { return status; });
  }

  void fail(const caf::error& err) { finish(to_status(err)); }

  void abandon() override { finish(shutting_down()); }

protected:
  void answered(const grpc::Status& status) override {
    if (status.ok())
      return;
    auto internal = status.error_code() == grpc::StatusCode::INTERNAL ||
                    status.error_code() == grpc::StatusCode::UNKNOWN;
    auto lvl = internal ? log::level::warn : log::level::debug;
    if (log::enabled(lvl))
      log::write(lvl, who, "call failed",
                 {{"method", method_},
                  {"code", static_cast<int>(status.error_code())},
                  {"error", status.error_message()}});
  }

private:
  std::string_view method_;
};

using end_ptr = std::shared_ptr<call_end>;

/// State every service of one gateway shares.
struct context {
  context(caf::actor_system& s, csi_options o) : sys(s), opts(std::move(o)) {
    near_paths = opts.allowed_paths;
    near_paths.push_back(opts.state_dir);
  }

  caf::actor_system& sys;
  csi_options opts;
  links to;
  /// Paths NodeGetVolumeStats and NodeExpandVolume accept: the allowed
  /// paths plus the state directory (inline volumes are staged there).
  std::vector<std::string> near_paths;
  std::atomic<bool> ready{false};
  std::shared_ptr<call_registry> calls = std::make_shared<call_registry>();
};

/// Finishes a call on the gRPC thread (answers that need no actor).
reactor_ptr answer_now(context& ctx, grpc::CallbackServerContext* sc, std::string_view method,
                       const grpc::Status& status) {
  call_end end{sc->DefaultReactor(), method, ctx.calls};
  end.finish(status);
  return end.reactor();
}

/// Runs `body(self, end)` in a new one-shot actor. Should the actor end
/// without having finished the call (the actor system shuts down under it),
/// the call ends UNAVAILABLE: no call is left for gRPC to wait on.
template <class Body>
reactor_ptr run(context& ctx, grpc::CallbackServerContext* sc, std::string_view method, Body body) {
  log::debug(who, "call started", {{"method", method}});
  return grpc_calls::run_in_actor(
    ctx.sys, std::make_shared<call_end>(sc->DefaultReactor(), method, ctx.calls), body,
    [](call_end& end) {
      end.finish(grpc::Status{grpc::StatusCode::UNAVAILABLE,
                              "the call ended without an answer (shutting down)"});
    });
}

/// Asks `dest` one question; `on_answer` fills the response and names the status.
template <class Answer, class Handle, class Msg, class OnAnswer>
reactor_ptr ask(context& ctx, grpc::CallbackServerContext* sc, std::string_view method,
                const Handle& dest, caf::expected<Msg> msg, OnAnswer on_answer) {
  if (!msg)
    return answer_now(ctx, sc, method, to_status(msg.error()));
  auto timeout = ctx.to.timeout;
  return run(ctx, sc, method,
             [dest, m = std::move(*msg), on_answer, timeout](caf::event_based_actor* self,
                                                             end_ptr end) mutable {
               self->request(dest, timeout, std::move(m))
                 .then(
                   [end, on_answer](Answer& answer) mutable {
                     end->answer([&] { return on_answer(answer); });
                   },
                   [end](caf::error& err) { end->fail(err); });
             });
}

/// Finds the actor of volume `id` on this node, then continues with `then`
/// (not_found from the supervisor ends the call NOT_FOUND).
template <class Then>
void with_volume(caf::event_based_actor* self, const links& to, const std::string& id,
                 const end_ptr& end, Then then) {
  self->request(to.node, to.timeout, volume_lookup{id})
    .then([then](volume_actor& vol) mutable { then(vol); },
          [end](caf::error& err) { end->fail(err); });
}

// -- Identity ---------------------------------------------------------------------------

class identity_service final : public csi_pb::Identity::CallbackService {
public:
  explicit identity_service(context& ctx) : ctx_(ctx) {}

  reactor_ptr GetPluginInfo(grpc::CallbackServerContext* sc, const csi_pb::GetPluginInfoRequest*,
                            csi_pb::GetPluginInfoResponse* resp) override {
    resp->set_name(ctx_.opts.driver_name);
    resp->set_vendor_version(ctx_.opts.version);
    return answer_now(ctx_, sc, "GetPluginInfo", grpc::Status::OK);
  }

  reactor_ptr GetPluginCapabilities(grpc::CallbackServerContext* sc,
                                    const csi_pb::GetPluginCapabilitiesRequest*,
                                    csi_pb::GetPluginCapabilitiesResponse* resp) override {
    fill_plugin_capabilities(ctx_.opts.controller, resp);
    return answer_now(ctx_, sc, "GetPluginCapabilities", grpc::Status::OK);
  }

  reactor_ptr Probe(grpc::CallbackServerContext* sc, const csi_pb::ProbeRequest*,
                    csi_pb::ProbeResponse* resp) override {
    resp->mutable_ready()->set_value(ctx_.ready.load());
    return answer_now(ctx_, sc, "Probe", grpc::Status::OK);
  }

private:
  context& ctx_;
};

// -- Controller -------------------------------------------------------------------------

grpc::Status unimplemented(std::string_view method) {
  return grpc::Status{grpc::StatusCode::UNIMPLEMENTED,
                      std::string{method} + " is not implemented: volumes are node-local"};
}

class controller_service final : public csi_pb::Controller::CallbackService {
public:
  explicit controller_service(context& ctx) : ctx_(ctx) {}

  reactor_ptr CreateVolume(grpc::CallbackServerContext* sc, const csi_pb::CreateVolumeRequest* req,
                           csi_pb::CreateVolumeResponse* resp) override {
    return ask<volume_record>(ctx_, sc, "CreateVolume", ctx_.to.manager, to_provision_req(*req),
                              [resp](volume_record& rec) {
                                fill_volume(rec, resp->mutable_volume());
                                return grpc::Status::OK;
                              });
  }

  reactor_ptr DeleteVolume(grpc::CallbackServerContext* sc, const csi_pb::DeleteVolumeRequest* req,
                           csi_pb::DeleteVolumeResponse*) override {
    return ask<bool>(ctx_, sc, "DeleteVolume", ctx_.to.manager, to_unprovision_req(*req),
                     [](bool) { return grpc::Status::OK; });
  }

  reactor_ptr ControllerPublishVolume(grpc::CallbackServerContext* sc,
                                      const csi_pb::ControllerPublishVolumeRequest*,
                                      csi_pb::ControllerPublishVolumeResponse*) override {
    return answer_now(ctx_, sc, "ControllerPublishVolume",
                      unimplemented("ControllerPublishVolume"));
  }

  reactor_ptr ControllerUnpublishVolume(grpc::CallbackServerContext* sc,
                                        const csi_pb::ControllerUnpublishVolumeRequest*,
                                        csi_pb::ControllerUnpublishVolumeResponse*) override {
    return answer_now(ctx_, sc, "ControllerUnpublishVolume",
                      unimplemented("ControllerUnpublishVolume"));
  }

  reactor_ptr
  ValidateVolumeCapabilities(grpc::CallbackServerContext* sc,
                             const csi_pb::ValidateVolumeCapabilitiesRequest* req,
                             csi_pb::ValidateVolumeCapabilitiesResponse* resp) override {
    // The volume must exist (NOT_FOUND otherwise); the answer is pure.
    return ask<volume_record>(ctx_, sc, "ValidateVolumeCapabilities", ctx_.to.manager,
                              to_volume_query(*req), [req, resp](volume_record&) {
                                fill_validation(*req, resp);
                                return grpc::Status::OK;
                              });
  }

  reactor_ptr ListVolumes(grpc::CallbackServerContext* sc, const csi_pb::ListVolumesRequest* req,
                          csi_pb::ListVolumesResponse* resp) override {
    return ask<volume_page>(ctx_, sc, "ListVolumes", ctx_.to.manager, to_list_volumes_req(*req),
                            [resp](volume_page& page) {
                              fill_list_volumes(page, resp);
                              return grpc::Status::OK;
                            });
  }

  reactor_ptr GetCapacity(grpc::CallbackServerContext* sc, const csi_pb::GetCapacityRequest* req,
                          csi_pb::GetCapacityResponse* resp) override {
    auto msg = to_capacity_req(*req);
    if (msg)
      for (auto& cap : req->volume_capabilities())
        if (!unsupported_capability(cap).empty()) { // no volume of that kind fits anywhere
          resp->set_available_capacity(0);
          return answer_now(ctx_, sc, "GetCapacity", grpc::Status::OK);
        }
    return ask<uint64_t>(
      ctx_, sc, "GetCapacity", ctx_.to.manager, std::move(msg), [resp](uint64_t bytes) {
        // One volume lives in one volume group: the most
        // free space of a group is also the largest volume.
        resp->set_available_capacity(static_cast<int64_t>(bytes));
        resp->mutable_maximum_volume_size()->set_value(static_cast<int64_t>(bytes));
        return grpc::Status::OK;
      });
  }

  reactor_ptr ControllerGetCapabilities(grpc::CallbackServerContext* sc,
                                        const csi_pb::ControllerGetCapabilitiesRequest*,
                                        csi_pb::ControllerGetCapabilitiesResponse* resp) override {
    fill_controller_capabilities(resp);
    return answer_now(ctx_, sc, "ControllerGetCapabilities", grpc::Status::OK);
  }

  reactor_ptr CreateSnapshot(grpc::CallbackServerContext* sc,
                             const csi_pb::CreateSnapshotRequest* req,
                             csi_pb::CreateSnapshotResponse* resp) override {
    return ask<snapshot_record>(ctx_, sc, "CreateSnapshot", ctx_.to.manager, to_snapshot_req(*req),
                                [resp](snapshot_record& rec) {
                                  fill_snapshot(rec, resp->mutable_snapshot());
                                  return grpc::Status::OK;
                                });
  }

  reactor_ptr DeleteSnapshot(grpc::CallbackServerContext* sc,
                             const csi_pb::DeleteSnapshotRequest* req,
                             csi_pb::DeleteSnapshotResponse*) override {
    return ask<bool>(ctx_, sc, "DeleteSnapshot", ctx_.to.manager, to_delete_snapshot_req(*req),
                     [](bool) { return grpc::Status::OK; });
  }

  reactor_ptr ListSnapshots(grpc::CallbackServerContext* sc,
                            const csi_pb::ListSnapshotsRequest* req,
                            csi_pb::ListSnapshotsResponse* resp) override {
    return ask<snapshot_page>(ctx_, sc, "ListSnapshots", ctx_.to.manager,
                              to_list_snapshots_req(*req), [resp](snapshot_page& page) {
                                fill_list_snapshots(page, resp);
                                return grpc::Status::OK;
                              });
  }

  reactor_ptr ControllerExpandVolume(grpc::CallbackServerContext* sc,
                                     const csi_pb::ControllerExpandVolumeRequest* req,
                                     csi_pb::ControllerExpandVolumeResponse* resp) override {
    auto node_step = node_expansion_required(*req);
    return ask<volume_record>(ctx_, sc, "ControllerExpandVolume", ctx_.to.manager,
                              to_resize_req(*req), [resp, node_step](volume_record& rec) {
                                resp->set_capacity_bytes(static_cast<int64_t>(rec.capacity_bytes));
                                resp->set_node_expansion_required(node_step);
                                return grpc::Status::OK;
                              });
  }

  reactor_ptr ControllerGetVolume(grpc::CallbackServerContext* sc,
                                  const csi_pb::ControllerGetVolumeRequest* req,
                                  csi_pb::ControllerGetVolumeResponse* resp) override {
    return ask<volume_record>(ctx_, sc, "ControllerGetVolume", ctx_.to.manager,
                              to_volume_query(*req), [resp](volume_record& rec) {
                                fill_get_volume(rec, resp);
                                return grpc::Status::OK;
                              });
  }

  reactor_ptr ControllerModifyVolume(grpc::CallbackServerContext* sc,
                                     const csi_pb::ControllerModifyVolumeRequest*,
                                     csi_pb::ControllerModifyVolumeResponse*) override {
    return answer_now(ctx_, sc, "ControllerModifyVolume", unimplemented("ControllerModifyVolume"));
  }

private:
  context& ctx_;
};

// -- Node -------------------------------------------------------------------------------

/// After a successful publish: applies the volume context's IO limits to
/// the pod's cgroup (or the standalone one), then ends the call. A limit
/// that cannot be applied fails the call with UNAVAILABLE: kubelet records
/// an Event, retries the (idempotent) publish, and, since that code is not
/// final for it, treats the target as possibly mounted, so a pod deleted
/// meanwhile still gets its NodeUnpublishVolume (which removes the bind
/// mount and the registered limit). A final code would leave both behind.
void limit_io(caf::event_based_actor* self, const links& to, const end_ptr& end,
              const publish_call& call, const volume_state& vs) {
  if (call.limit.empty())
    return end->finish(grpc::Status::OK);
  if (!to.io_limits)
    return end->fail(
      make_error(errc::unavailable, "volume " + call.volume_id +
                                      " asks for IO limits but this node does not apply them"));
  set_io_limit req{call.volume_id, call.req.target_path, vs.device,
                   call.pod_uid,   call.cgroup,          call.limit};
  self->request(to.io_limits, to.timeout, std::move(req))
    .then([end](std::vector<std::string>&) { end->finish(grpc::Status::OK); },
          [end, call](caf::error& err) {
            end->fail(make_error(errc::unavailable, "volume " + call.volume_id +
                                                      " is published but its IO limits are not "
                                                      "applied: " +
                                                      message_of(err)));
          });
}

/// Before answering an unpublish: removes the IO limits set for that target
/// (none set answers at once), then continues with `then`.
template <class Then>
void unlimit_io(caf::event_based_actor* self, const links& to, const end_ptr& end,
                const std::string& volume_id, const std::string& target, Then then) {
  if (!to.io_limits)
    return then();
  self->request(to.io_limits, to.timeout, clear_io_limit{volume_id, target})
    .then([then](bool) mutable { then(); }, [end](caf::error& err) { end->fail(err); });
}

/// Creates, stages and publishes an inline ephemeral volume (each step
/// idempotent, so kubelet's retries converge).
void publish_ephemeral(caf::event_based_actor* self, const links& to, const end_ptr& end,
                       const publish_call& call) {
  auto& plan = *call.ephemeral;
  self->request(to.node, to.timeout, plan.create)
    .then(
      [self, to, end, call](volume_state&) {
        with_volume(self, to, call.volume_id, end, [self, to, end, call](volume_actor& vol) {
          self->request(vol, to.timeout, call.ephemeral->stage)
            .then(
              [self, to, end, call, vol](volume_state&) {
                self->request(vol, to.timeout, call.req)
                  .then(
                    [self, to, end, call](volume_state& vs) { limit_io(self, to, end, call, vs); },
                    [end](caf::error& err) { end->fail(err); });
              },
              [end](caf::error& err) { end->fail(err); });
        });
      },
      [end, call](caf::error& err) {
        // An unknown volume group is a bad attribute, not a missing volume.
        if (code_of(err) == errc::not_found)
          return end->fail(make_error(errc::invalid_argument, "volume_context: vgName \"" +
                                                                call.ephemeral->create.vg +
                                                                "\": " + message_of(err)));
        end->fail(err);
      });
}

/// Collects an inline ephemeral volume after its last unpublish: unstage,
/// delete the LV, remove the staging directory we made.
void collect_ephemeral(caf::event_based_actor* self, const links& to, const end_ptr& end,
                       volume_actor vol, const volume_state& vs) {
  auto id = vs.id;
  auto remove = [self, to, end, id] {
    self->request(to.node, to.timeout, delete_volume_req{id, true})
      .then(
        [to, end, id](bool) {
          std::error_code ignored;
          std::filesystem::remove(ephemeral_staging_path(to.state_dir, id), ignored);
          log::info(who, "inline ephemeral volume deleted", {{"volume", id}});
          end->finish(grpc::Status::OK);
        },
        [end](caf::error& err) { end->fail(err); });
  };
  if (vs.staging_path.empty())
    return remove();
  self->request(vol, to.timeout, unstage_req{vs.staging_path})
    .then([remove](volume_state&) mutable { remove(); },
          [end](caf::error& err) { end->fail(err); });
}

/// Sends call.req to the actor of volume call.volume_id and ends the call
/// OK when it answers (NOT_FOUND when the node has no such volume).
template <class Call>
reactor_ptr to_volume(context& ctx, grpc::CallbackServerContext* sc, std::string_view method,
                      caf::expected<Call> call) {
  if (!call)
    return answer_now(ctx, sc, method, to_status(call.error()));
  return run(ctx, sc, method, [to = ctx.to, c = *call](caf::event_based_actor* self, end_ptr end) {
    with_volume(self, to, c.volume_id, end, [self, to, end, c](volume_actor& vol) {
      self->request(vol, to.timeout, c.req)
        .then([end](volume_state&) { end->finish(grpc::Status::OK); },
              [end](caf::error& err) { end->fail(err); });
    });
  });
}

class node_service final : public csi_pb::Node::CallbackService {
public:
  explicit node_service(context& ctx) : ctx_(ctx) {}

  reactor_ptr NodeStageVolume(grpc::CallbackServerContext* sc,
                              const csi_pb::NodeStageVolumeRequest* req,
                              csi_pb::NodeStageVolumeResponse*) override {
    return to_volume(ctx_, sc, "NodeStageVolume", to_stage_call(*req, ctx_.opts.allowed_paths));
  }

  reactor_ptr NodeUnstageVolume(grpc::CallbackServerContext* sc,
                                const csi_pb::NodeUnstageVolumeRequest* req,
                                csi_pb::NodeUnstageVolumeResponse*) override {
    return to_volume(ctx_, sc, "NodeUnstageVolume", to_unstage_call(*req, ctx_.opts.allowed_paths));
  }

  reactor_ptr NodePublishVolume(grpc::CallbackServerContext* sc,
                                const csi_pb::NodePublishVolumeRequest* req,
                                csi_pb::NodePublishVolumeResponse*) override {
    constexpr std::string_view method = "NodePublishVolume";
    auto call = to_publish_call(*req, ctx_.opts.allowed_paths, ctx_.opts.state_dir);
    if (!call)
      return answer_now(ctx_, sc, method, to_status(call.error()));
    if (call->ephemeral) {
      // The staging directory of an inline volume is ours to make (one
      // mkdir; the mount would make it as well).
      std::error_code ec;
      std::filesystem::create_directories(call->ephemeral->stage.staging_path, ec);
      if (ec)
        return answer_now(
          ctx_, sc, method,
          to_status(make_error(errc::io_error, "create " + call->ephemeral->stage.staging_path +
                                                 ": " + ec.message())));
    }
    return run(ctx_, sc, method,
               [to = ctx_.to, c = *call](caf::event_based_actor* self, end_ptr end) {
                 if (c.ephemeral)
                   return publish_ephemeral(self, to, end, c);
                 with_volume(self, to, c.volume_id, end, [self, to, end, c](volume_actor& vol) {
                   self->request(vol, to.timeout, c.req)
                     .then([self, to, end, c](volume_state& vs) { limit_io(self, to, end, c, vs); },
                           [end](caf::error& err) { end->fail(err); });
                 });
               });
  }

  reactor_ptr NodeUnpublishVolume(grpc::CallbackServerContext* sc,
                                  const csi_pb::NodeUnpublishVolumeRequest* req,
                                  csi_pb::NodeUnpublishVolumeResponse*) override {
    constexpr std::string_view method = "NodeUnpublishVolume";
    auto call = to_unpublish_call(*req, ctx_.opts.allowed_paths);
    if (!call)
      return answer_now(ctx_, sc, method, to_status(call.error()));
    return run(
      ctx_, sc, method, [to = ctx_.to, c = *call](caf::event_based_actor* self, end_ptr end) {
        with_volume(self, to, c.volume_id, end, [self, to, end, c](volume_actor& vol) {
          self->request(vol, to.timeout, c.req)
            .then(
              [self, to, end, vol, c](volume_state& vs) {
                unlimit_io(self, to, end, c.volume_id, c.req.target_path, [self, to, end, vol, vs] {
                  // Inline ephemeral volumes live as long
                  // as their one publication.
                  if (vs.kind == "ephemeral" && vs.targets.empty())
                    return collect_ephemeral(self, to, end, vol, vs);
                  end->finish(grpc::Status::OK);
                });
              },
              [end](caf::error& err) { end->fail(err); });
        });
      });
  }

  reactor_ptr NodeGetVolumeStats(grpc::CallbackServerContext* sc,
                                 const csi_pb::NodeGetVolumeStatsRequest* req,
                                 csi_pb::NodeGetVolumeStatsResponse* resp) override {
    constexpr std::string_view method = "NodeGetVolumeStats";
    auto call = to_stats_call(*req, ctx_.near_paths);
    if (!call)
      return answer_now(ctx_, sc, method, to_status(call.error()));
    return run(
      ctx_, sc, method, [to = ctx_.to, c = *call, resp](caf::event_based_actor* self, end_ptr end) {
        with_volume(self, to, c.volume_id, end, [self, to, end, c, resp](volume_actor& vol) {
          self->request(vol, to.timeout, stats_atom::value)
            .then(
              [end, c, resp](volume_stats& stats) {
                if (!is_path_of(stats.state, c.volume_path))
                  return end->fail(
                    make_error(errc::not_found,
                               "volume " + c.volume_id + " is not available at " + c.volume_path));
                end->answer([&] {
                  fill_stats(stats, resp);
                  return grpc::Status::OK;
                });
              },
              [end](caf::error& err) { end->fail(err); });
        });
      });
  }

  reactor_ptr NodeExpandVolume(grpc::CallbackServerContext* sc,
                               const csi_pb::NodeExpandVolumeRequest* req,
                               csi_pb::NodeExpandVolumeResponse* resp) override {
    constexpr std::string_view method = "NodeExpandVolume";
    auto call = to_node_expand_call(*req, ctx_.near_paths);
    if (!call)
      return answer_now(ctx_, sc, method, to_status(call.error()));
    return run(
      ctx_, sc, method, [to = ctx_.to, c = *call, resp](caf::event_based_actor* self, end_ptr end) {
        with_volume(self, to, c.volume_id, end, [self, to, end, c, resp](volume_actor& vol) {
          self->request(vol, to.timeout, get_atom::value)
            .then(
              [self, to, end, c, resp, vol](volume_state& vs) {
                if (!is_path_of(vs, c.volume_path))
                  return end->fail(
                    make_error(errc::not_found,
                               "volume " + c.volume_id + " is not available at " + c.volume_path));
                // Without a size: grow the filesystem to what the LV has.
                auto bytes = c.capacity.required != 0 ? c.capacity.required : vs.size_bytes;
                self->request(vol, to.timeout, expand_req{bytes})
                  .then(
                    [end, c, resp](volume_state& grown) {
                      if (c.capacity.limit != 0 && grown.size_bytes > c.capacity.limit)
                        return end->fail(make_error(errc::out_of_range,
                                                    "capacity_range: volume " + c.volume_id +
                                                      " has " + std::to_string(grown.size_bytes) +
                                                      " bytes, above limit_bytes " +
                                                      std::to_string(c.capacity.limit)));
                      end->answer([&] {
                        resp->set_capacity_bytes(static_cast<int64_t>(grown.size_bytes));
                        return grpc::Status::OK;
                      });
                    },
                    [end](caf::error& err) { end->fail(err); });
              },
              [end](caf::error& err) { end->fail(err); });
        });
      });
  }

  reactor_ptr NodeGetCapabilities(grpc::CallbackServerContext* sc,
                                  const csi_pb::NodeGetCapabilitiesRequest*,
                                  csi_pb::NodeGetCapabilitiesResponse* resp) override {
    fill_node_capabilities(resp);
    return answer_now(ctx_, sc, "NodeGetCapabilities", grpc::Status::OK);
  }

  reactor_ptr NodeGetInfo(grpc::CallbackServerContext* sc, const csi_pb::NodeGetInfoRequest*,
                          csi_pb::NodeGetInfoResponse* resp) override {
    fill_node_info(ctx_.opts.node_id, ctx_.opts.max_volumes, resp);
    return answer_now(ctx_, sc, "NodeGetInfo", grpc::Status::OK);
  }

private:
  context& ctx_;
};

} // namespace

// -- the gateway ------------------------------------------------------------------------

struct csi_gateway::impl {
  impl(caf::actor_system& sys, csi_options opts) : ctx(sys, std::move(opts)) {}

  context ctx;
  std::string socket_path;
  std::unique_ptr<identity_service> identity;
  std::unique_ptr<controller_service> controller;
  std::unique_ptr<node_service> node;
  std::unique_ptr<grpc::Server> server;
  std::mutex stop_mutex;
  bool stopped = false;
};

caf::expected<std::unique_ptr<csi_gateway>> csi_gateway::start(caf::actor_system& sys,
                                                               volume_manager_actor manager,
                                                               node_supervisor_actor node,
                                                               csi_options opts) {
  auto path = socket_path_of(opts.endpoint);
  if (!path)
    return path.error();
  if (!opts.controller && !opts.node)
    return make_error(errc::invalid_argument, "neither the controller nor the node service is on");
  if (opts.controller && !manager)
    return make_error(errc::invalid_argument, "the controller service needs a volume manager");
  if (opts.node && !node)
    return make_error(errc::invalid_argument, "the node service needs a node supervisor");
  if (opts.call_timeout.count() <= 0)
    return make_error(errc::invalid_argument, "call_timeout must be positive");

  namespace fs = std::filesystem;
  std::error_code ec;
  auto parent = fs::path{*path}.parent_path();
  fs::create_directories(parent, ec);
  if (ec)
    return make_error(errc::io_error, "create " + parent.string() + ": " + ec.message());
  struct stat st {};
  if (::lstat(path->c_str(), &st) == 0) {
    if (!S_ISSOCK(st.st_mode))
      return make_error(errc::io_error, *path + " exists and is not a socket");
    if (::unlink(path->c_str()) != 0) // a stale socket of an earlier run
      return make_error(errc::io_error,
                        "remove stale socket " + *path + ": " + std::strerror(errno));
  }

  auto p = std::make_unique<impl>(sys, std::move(opts));
  p->socket_path = *path;
  auto& ctx = p->ctx;
  ctx.to = links{std::move(manager), std::move(node), ctx.opts.call_timeout, ctx.opts.state_dir,
                 std::move(ctx.opts.io_limits)};
  ctx.opts.io_limits = nullptr; // only links hold it (dropped at stop)
  grpc::ServerBuilder builder;
  builder.AddListeningPort(ctx.opts.endpoint, grpc::InsecureServerCredentials());
  p->identity = std::make_unique<identity_service>(ctx);
  builder.RegisterService(p->identity.get());
  if (ctx.opts.controller) {
    p->controller = std::make_unique<controller_service>(ctx);
    builder.RegisterService(p->controller.get());
  }
  if (ctx.opts.node) {
    p->node = std::make_unique<node_service>(ctx);
    builder.RegisterService(p->node.get());
  }
  p->server = builder.BuildAndStart();
  if (!p->server)
    return make_error(errc::io_error, "cannot listen on " + ctx.opts.endpoint);
  if (::chmod(p->socket_path.c_str(), 0600) != 0) {
    auto err =
      make_error(errc::io_error, "chmod 0600 " + p->socket_path + ": " + std::strerror(errno));
    p->server->Shutdown();
    p->server->Wait();
    ::unlink(p->socket_path.c_str());
    return err;
  }
  log::info(who, "serving",
            {{"endpoint", ctx.opts.endpoint},
             {"controller", ctx.opts.controller},
             {"node", ctx.opts.node},
             {"driver", ctx.opts.driver_name}});
  return std::unique_ptr<csi_gateway>{new csi_gateway(std::move(p))};
}

csi_gateway::csi_gateway(std::unique_ptr<impl> p) : impl_(std::move(p)) {
}

csi_gateway::~csi_gateway() {
  stop(std::chrono::milliseconds{0});
}

void csi_gateway::set_ready(bool ready) {
  impl_->ctx.ready.store(ready);
}

void csi_gateway::stop(std::chrono::milliseconds drain) {
  auto& p = *impl_;
  std::lock_guard<std::mutex> guard{p.stop_mutex};
  if (p.stopped)
    return;
  p.stopped = true;
  // Intake closes at once (new calls are answered UNAVAILABLE); calls in
  // flight get `drain` to finish, the rest are answered UNAVAILABLE here.
  // Their actors may still run, but they touch the call no more. gRPC's own
  // shutdown then finds no call it would have to wait for.
  p.ctx.calls->close_and_drain(drain);
  p.server->Shutdown(std::chrono::system_clock::now());
  p.server->Wait();
  p.server.reset();
  p.identity.reset();
  p.controller.reset();
  p.node.reset();
  // No handler runs any more: drop the actor handles (none may outlive the
  // actor system).
  p.ctx.to = links{};
  std::error_code ignored;
  std::filesystem::remove(p.socket_path, ignored);
  log::info(who, "stopped",
            {{"endpoint", p.ctx.opts.endpoint}, {"calls", p.ctx.calls->answered()}});
}

uint64_t csi_gateway::calls() const {
  return impl_->ctx.calls->answered();
}

} // namespace olocal
