#include "gateways/agent/agent_transport.hpp"

#include "actors/core/log.hpp"
#include "gateways/agent/agent_translate.hpp"
#include "gateways/grpc/unary_calls.hpp"

#include "agent/v1/agent.grpc.pb.h"

#include <caf/all.hpp>
#include <grpc/grpc_security_constants.h>
#include <grpcpp/channel.h>
#include <grpcpp/client_context.h>
#include <grpcpp/create_channel.h>
#include <grpcpp/security/credentials.h>
#include <grpcpp/security/server_credentials.h>
#include <grpcpp/server.h>
#include <grpcpp/server_builder.h>
#include <grpcpp/support/channel_arguments.h>
#include <grpcpp/support/server_callback.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <cstring>
#include <fstream>
#include <mutex>
#include <sstream>

namespace olocal {

namespace pb = agent::v1;

namespace {

constexpr std::string_view who = "agent";

bool looks_like_pem(const std::string& text) {
  return text.find("-----BEGIN ") != std::string::npos;
}

caf::expected<std::string> read_pem(std::string_view what, const std::string& path) {
  if (path.empty())
    return make_error(errc::config_invalid, "no agent " + std::string{what} + " file given");
  std::ifstream in{path, std::ios::binary};
  if (!in)
    return make_error(errc::config_invalid, "cannot read agent " + std::string{what} + " file " +
                                              path + ": " + std::strerror(errno));
  std::ostringstream text;
  text << in.rdbuf();
  if (in.bad())
    return make_error(errc::config_invalid,
                      "cannot read agent " + std::string{what} + " file " + path);
  auto pem = text.str();
  if (!looks_like_pem(pem))
    return make_error(errc::config_invalid,
                      "agent " + std::string{what} + " file " + path + " holds no PEM block");
  return pem;
}

/// The TLS material both sides need, complete and PEM-shaped.
caf::error check_tls(const agent_tls& tls) {
  auto check = [](const std::string& pem, std::string_view what) -> caf::error {
    if (pem.empty())
      return make_error(errc::config_invalid, "agent TLS: no " + std::string{what});
    if (!looks_like_pem(pem))
      return make_error(errc::config_invalid,
                        "agent TLS: the " + std::string{what} + " is not PEM");
    return {};
  };
  if (auto err = check(tls.ca_pem, "CA certificate"))
    return err;
  if (auto err = check(tls.cert_pem, "certificate"))
    return err;
  return check(tls.key_pem, "private key");
}

std::string join(const std::vector<std::string>& items) {
  std::string out;
  for (auto& item : items) {
    if (!out.empty())
      out += ", ";
    out += '"' + item + '"';
  }
  return out;
}

std::vector<std::string> property_values(const grpc::AuthContext& auth, const char* name) {
  std::vector<std::string> out;
  for (auto& value : auth.FindPropertyValues(name))
    out.emplace_back(value.data(), value.size());
  return out;
}

} // namespace

caf::expected<agent_tls> load_agent_tls(const std::string& ca_file, const std::string& cert_file,
                                        const std::string& key_file) {
  agent_tls tls;
  auto ca = read_pem("CA certificate", ca_file);
  if (!ca)
    return ca.error();
  auto cert = read_pem("certificate", cert_file);
  if (!cert)
    return cert.error();
  auto key = read_pem("private key", key_file);
  if (!key)
    return key.error();
  tls.ca_pem = std::move(*ca);
  tls.cert_pem = std::move(*cert);
  tls.key_pem = std::move(*key);
  return tls;
}

errc errc_of_grpc_code(grpc_code code) {
  switch (code) {
  case grpc_code::invalid_argument:
    return errc::invalid_argument;
  case grpc_code::deadline_exceeded:
    return errc::timeout;
  case grpc_code::not_found:
    return errc::not_found;
  case grpc_code::already_exists:
    return errc::already_exists;
  case grpc_code::permission_denied:
    return errc::permission_denied;
  case grpc_code::resource_exhausted:
    return errc::resource_exhausted;
  case grpc_code::failed_precondition:
    return errc::failed_precondition;
  case grpc_code::aborted:
    return errc::aborted;
  case grpc_code::out_of_range:
    return errc::out_of_range;
  case grpc_code::unimplemented:
    return errc::unimplemented;
  case grpc_code::unavailable:
  case grpc_code::cancelled: // the server went away mid-call
    return errc::unavailable;
  case grpc_code::unauthenticated:
    return errc::unauthenticated;
  case grpc_code::data_loss:
    return errc::io_error;
  case grpc_code::ok: // not an error: a caller bug
  case grpc_code::unknown:
  case grpc_code::internal:
    break;
  }
  return errc::internal;
}

bool agent_client_allowed(const std::vector<std::string>& presented,
                          const std::vector<std::string>& allowed) {
  return std::any_of(presented.begin(), presented.end(), [&](const std::string& name) {
    return std::find(allowed.begin(), allowed.end(), name) != allowed.end();
  });
}

// -- server ----------------------------------------------------------------------

namespace {

using reactor_ptr = grpc::ServerUnaryReactor*;

/// Answers a call at once with `status`.
reactor_ptr answer(grpc::CallbackServerContext* ctx, const grpc::Status& status) {
  auto* reactor = ctx->DefaultReactor();
  reactor->Finish(status);
  return reactor;
}

/// Answers a call with our error: gRPC code from the table, the context
/// message, the errc name in the trailing metadata.
/// Adds the errc trailer to the call and answers its status.
grpc::Status status_of(grpc::CallbackServerContext* ctx, const caf::error& err) {
  auto code = code_of(err);
  ctx->AddTrailingMetadata(std::string{agent_errc_key}, std::string{to_string(code)});
  auto message = message_of(err);
  if (message.empty())
    message = render(err);
  return grpc::Status{static_cast<grpc::StatusCode>(static_cast<int>(to_grpc_code(code))), message};
}

reactor_ptr fail(grpc::CallbackServerContext* ctx, const caf::error& err) {
  return answer(ctx, status_of(ctx, err));
}

caf::error stopping() {
  return make_error(errc::shutting_down, "the node agent is stopping");
}

using grpc_calls::call_registry;

/// One agent call (see gateways/grpc/unary_calls.hpp): errors go out with
/// the errc trailer, a stop answers shutting_down.
class agent_call : public grpc_calls::unary_call {
public:
  agent_call(grpc::CallbackServerContext* ctx, std::string_view method,
             std::shared_ptr<call_registry> registry)
    : unary_call(ctx->DefaultReactor(), std::move(registry)), ctx_(ctx), method_(method) {}

  /// Ends the call with our error (gRPC code, message, "olocal-errc").
  void fail(const caf::error& err) {
    answer([&] {
      auto code = code_of(err);
      if (code == errc::internal || code == errc::io_error)
        log::warn(who, "call failed", {{"method", method_}, {"error", render(err)}});
      return status_of(ctx_, err);
    });
  }

  void abandon() override { fail(stopping()); }

private:
  grpc::CallbackServerContext* ctx_;
  std::string_view method_;
};

using call_ptr = std::shared_ptr<agent_call>;

/// What remains of `timeout` until `deadline` (at least 1 ms).
std::chrono::milliseconds left_until(std::chrono::steady_clock::time_point deadline) {
  auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
    deadline - std::chrono::steady_clock::now());
  return std::max(left, std::chrono::milliseconds{1});
}

class agent_service final : public pb::NodeAgent::CallbackService {
public:
  explicit agent_service(const agent_server_options& opts) : opts_(opts) {}

  uint64_t calls() const { return calls_.load(); }
  uint64_t refused() const { return refused_.load(); }
  void close_and_drain(std::chrono::milliseconds drain) { registry_->close_and_drain(drain); }

  reactor_ptr GetIdentity(grpc::CallbackServerContext* ctx, const pb::GetIdentityRequest*,
                          pb::GetIdentityResponse* resp) override {
    if (auto* refusal = authorize(ctx, "GetIdentity"))
      return refusal;
    resp->set_node_name(opts_.node_name);
    resp->set_version(opts_.version);
    resp->set_protocol_version(agent_protocol_version);
    return answer(ctx, grpc::Status::OK);
  }

  reactor_ptr CreateVolume(grpc::CallbackServerContext* ctx, const pb::CreateVolumeRequest* req,
                           pb::CreateVolumeResponse* resp) override {
    constexpr std::string_view method = "CreateVolume";
    if (auto* refusal = admit(ctx, method))
      return refusal;
    return ask<volume_state>(ctx, method, opts_.change_timeout, to_create_volume_req(*req),
                             [resp](volume_state& vs) { to_pb(vs, resp->mutable_volume()); });
  }

  reactor_ptr DeleteVolume(grpc::CallbackServerContext* ctx, const pb::DeleteVolumeRequest* req,
                           pb::DeleteVolumeResponse* resp) override {
    constexpr std::string_view method = "DeleteVolume";
    if (auto* refusal = admit(ctx, method))
      return refusal;
    return ask<bool>(ctx, method, opts_.change_timeout, to_delete_volume_req(*req),
                     [resp](bool deleted) { resp->set_deleted(deleted); });
  }

  reactor_ptr ExpandVolume(grpc::CallbackServerContext* ctx, const pb::ExpandVolumeRequest* req,
                           pb::ExpandVolumeResponse* resp) override {
    constexpr std::string_view method = "ExpandVolume";
    if (auto* refusal = admit(ctx, method))
      return refusal;
    auto msg = to_expand_req(*req);
    if (!msg)
      return fail(ctx, msg.error());
    // Both hops share one deadline: the call is bounded by change_timeout.
    return run(ctx, method,
               [node = opts_.node, timeout = opts_.change_timeout, m = *msg,
                resp](caf::event_based_actor* self, call_ptr call) {
                 auto deadline = std::chrono::steady_clock::now() + timeout;
                 self->request(node, timeout, volume_lookup{m.id})
                   .then(
                     [self, call, m, resp, deadline](volume_actor& vol) {
                       self->request(vol, left_until(deadline), expand_req{m.size_bytes})
                         .then(
                           [call, resp](volume_state& vs) {
                             call->answer([&] {
                               to_pb(vs, resp->mutable_volume());
                               return grpc::Status::OK;
                             });
                           },
                           [call](caf::error& err) { call->fail(err); });
                     },
                     [call](caf::error& err) { call->fail(err); });
               });
  }

  reactor_ptr ClaimVolume(grpc::CallbackServerContext* ctx, const pb::ClaimVolumeRequest* req,
                          pb::ClaimVolumeResponse* resp) override {
    constexpr std::string_view method = "ClaimVolume";
    if (auto* refusal = admit(ctx, method))
      return refusal;
    return ask<volume_state>(ctx, method, opts_.change_timeout, to_claim_req(*req),
                             [resp](volume_state& vs) { to_pb(vs, resp->mutable_volume()); });
  }

  reactor_ptr GetNodeView(grpc::CallbackServerContext* ctx, const pb::GetNodeViewRequest*,
                          pb::GetNodeViewResponse* resp) override {
    constexpr std::string_view method = "GetNodeView";
    if (auto* refusal = admit(ctx, method))
      return refusal;
    return ask<node_view>(ctx, method, opts_.read_timeout, caf::expected<get_atom>{get_atom::value},
                          [resp](node_view& view) { to_pb(view, resp); });
  }

  reactor_ptr Rescan(grpc::CallbackServerContext* ctx, const pb::RescanRequest*,
                     pb::RescanResponse* resp) override {
    constexpr std::string_view method = "Rescan";
    if (auto* refusal = admit(ctx, method))
      return refusal;
    return ask<uint64_t>(ctx, method, opts_.change_timeout,
                         caf::expected<rescan_atom>{rescan_atom::value},
                         [resp](uint64_t volumes) { resp->set_volumes(volumes); });
  }

private:
  /// nullptr when the peer may call; otherwise the call, already answered
  /// PERMISSION_DENIED. The TLS layer has verified the certificate chain;
  /// this decides whether that certificate's holder is the controller.
  reactor_ptr authorize(grpc::CallbackServerContext* ctx, std::string_view method) {
    calls_.fetch_add(1);
    std::vector<std::string> common_names;
    std::vector<std::string> alt_names;
    auto auth = ctx->auth_context();
    if (auth && auth->IsPeerAuthenticated()) {
      common_names = property_values(*auth, GRPC_X509_CN_PROPERTY_NAME);
      alt_names = property_values(*auth, GRPC_X509_SAN_PROPERTY_NAME);
    }
    auto presented = common_names;
    presented.insert(presented.end(), alt_names.begin(), alt_names.end());
    if (agent_client_allowed(presented, opts_.allowed_client_names))
      return nullptr;
    refused_.fetch_add(1);
    std::string shown = "client certificate";
    if (!common_names.empty())
      shown += " CN " + join(common_names);
    if (!alt_names.empty())
      shown += " SAN " + join(alt_names);
    if (presented.empty())
      shown += " without any name";
    log::warn(who, "call refused: client not allowed",
              {{"method", method},
               {"peer", ctx->peer()},
               {"presented", join(presented)},
               {"allowed", join(opts_.allowed_client_names)}});
    return fail(ctx, make_error(errc::permission_denied,
                                std::string{method} + " refused: " + shown +
                                  " is not allowed to call the node agent of " + opts_.node_name));
  }

  reactor_ptr not_yet(grpc::CallbackServerContext* ctx, std::string_view method) {
    if (auto* refusal = authorize(ctx, method))
      return refusal;
    return fail(ctx, make_error(errc::unimplemented,
                                std::string{method} + " is not implemented by this node agent"));
  }

  /// nullptr when the call may go to the node's actors; otherwise the call,
  /// already answered (PERMISSION_DENIED, or UNIMPLEMENTED without a node
  /// supervisor).
  reactor_ptr admit(grpc::CallbackServerContext* ctx, std::string_view method) {
    if (opts_.system == nullptr || !opts_.node)
      return not_yet(ctx, method);
    return authorize(ctx, method);
  }

  /// Runs `body(self, call)` in a new one-shot actor. Should the actor end
  /// without having answered (the actor system shuts down under it), the call
  /// ends UNAVAILABLE: no call is left for gRPC to wait on.
  template <class Body>
  reactor_ptr run(grpc::CallbackServerContext* ctx, std::string_view method, Body body) {
    return grpc_calls::run_in_actor(
      *opts_.system, std::make_shared<agent_call>(ctx, method, registry_), body,
      [](agent_call& call) {
        call.fail(make_error(errc::unavailable, "the call ended without an answer"));
      });
  }

  /// Asks the node supervisor `msg` (refused at once when translation
  /// failed); `fill` writes the response from the answer.
  template <class Answer, class Msg, class Fill>
  reactor_ptr ask(grpc::CallbackServerContext* ctx, std::string_view method,
                  std::chrono::milliseconds timeout, caf::expected<Msg> msg, Fill fill) {
    if (!msg)
      return fail(ctx, msg.error());
    return run(ctx, method,
               [node = opts_.node, timeout, m = std::move(*msg), fill](caf::event_based_actor* self,
                                                                       call_ptr call) mutable {
                 self->request(node, timeout, std::move(m))
                   .then(
                     [call, fill](Answer& answer) mutable {
                       call->answer([&] {
                         fill(answer);
                         return grpc::Status::OK;
                       });
                     },
                     [call](caf::error& err) { call->fail(err); });
               });
  }

  const agent_server_options& opts_;
  std::shared_ptr<call_registry> registry_ = std::make_shared<call_registry>();
  std::atomic<uint64_t> calls_{0};
  std::atomic<uint64_t> refused_{0};
};

} // namespace

struct agent_server::impl {
  agent_server_options opts;
  std::unique_ptr<agent_service> service;
  std::unique_ptr<grpc::Server> server;
  int port = 0;
  std::mutex stop_mutex;
  bool stopped = false;
};

agent_server::agent_server(std::unique_ptr<impl> p) : impl_(std::move(p)) {
}

agent_server::~agent_server() {
  stop(std::chrono::milliseconds{0});
}

caf::expected<std::unique_ptr<agent_server>> agent_server::start(agent_server_options opts) {
  if (auto err = check_tls(opts.tls))
    return err;
  if (opts.address.empty())
    return make_error(errc::config_invalid, "agent server: no listen address");
  if (opts.node_name.empty())
    return make_error(errc::config_invalid, "agent server: no node name");
  if (opts.allowed_client_names.empty())
    return make_error(errc::config_invalid,
                      "agent server: no allowed client name (every call would be refused)");
  if ((opts.system == nullptr) != !opts.node)
    return make_error(errc::config_invalid,
                      "agent server: the actor system and the node supervisor go together");
  if (opts.change_timeout.count() <= 0 || opts.read_timeout.count() <= 0)
    return make_error(errc::config_invalid, "agent server: timeouts must be positive");
  auto p = std::make_unique<impl>();
  p->opts = std::move(opts);
  p->service = std::make_unique<agent_service>(p->opts);
  // Mutual TLS: the handshake fails unless the client presents a certificate
  // that chains to the agent CA. There is no other listener.
  grpc::SslServerCredentialsOptions ssl{GRPC_SSL_REQUEST_AND_REQUIRE_CLIENT_CERTIFICATE_AND_VERIFY};
  ssl.pem_root_certs = p->opts.tls.ca_pem;
  ssl.pem_key_cert_pairs.push_back({p->opts.tls.key_pem, p->opts.tls.cert_pem});
  grpc::ServerBuilder builder;
  builder.AddListeningPort(p->opts.address, grpc::SslServerCredentials(ssl), &p->port);
  // A second agent on the same port must fail to start, not share it.
  builder.AddChannelArgument(GRPC_ARG_ALLOW_REUSEPORT, 0);
  builder.RegisterService(p->service.get());
  p->server = builder.BuildAndStart();
  if (!p->server || p->port == 0)
    return make_error(errc::io_error, "agent server: cannot listen on " + p->opts.address +
                                        " (address invalid or in use, or gRPC refused the "
                                        "certificate or key)");
  log::info(who, "node agent listening (mutual TLS)",
            {{"address", p->opts.address},
             {"port", p->port},
             {"allowed", join(p->opts.allowed_client_names)}});
  return std::unique_ptr<agent_server>{new agent_server(std::move(p))};
}

int agent_server::port() const {
  return impl_->port;
}

uint64_t agent_server::calls() const {
  return impl_->service->calls();
}

uint64_t agent_server::refused() const {
  return impl_->service->refused();
}

void agent_server::stop(std::chrono::milliseconds deadline) {
  auto& p = *impl_;
  std::lock_guard<std::mutex> guard{p.stop_mutex};
  if (p.stopped)
    return;
  p.stopped = true;
  // Calls waiting for actors first: gRPC's shutdown waits for every call.
  p.service->close_and_drain(deadline);
  p.server->Shutdown(std::chrono::system_clock::now() + deadline);
  p.server->Wait();
  p.server.reset();
}

// -- client ----------------------------------------------------------------------

namespace {

/// The host part of a gRPC target ("10.0.0.5:1736" -> "10.0.0.5",
/// "[::1]:1736" -> "::1", "dns:///node-1:1736" -> "node-1").
std::string host_of(std::string_view target) {
  if (auto scheme = target.find(":///"); scheme != std::string_view::npos)
    target.remove_prefix(scheme + 4);
  if (!target.empty() && target.front() == '[') {
    auto close = target.find(']');
    return std::string{target.substr(1, close == std::string_view::npos ? target.npos : close - 1)};
  }
  auto colon = target.rfind(':');
  return std::string{colon == std::string_view::npos ? target : target.substr(0, colon)};
}

std::string_view state_name(grpc_connectivity_state state) {
  switch (state) {
  case GRPC_CHANNEL_IDLE:
    return "idle";
  case GRPC_CHANNEL_CONNECTING:
    return "connecting";
  case GRPC_CHANNEL_READY:
    return "ready";
  case GRPC_CHANNEL_TRANSIENT_FAILURE:
    return "transient failure";
  case GRPC_CHANNEL_SHUTDOWN:
    return "shut down";
  }
  return "unknown";
}

} // namespace

struct agent_client::impl {
  agent_client_options opts;
  std::shared_ptr<grpc::Channel> channel;
  std::unique_ptr<pb::NodeAgent::Stub> stub;

  std::string peer() const {
    return "node agent " + opts.target +
           (opts.expected_server_name.empty() ? "" : " (" + opts.expected_server_name + ")");
  }

  /// Waits until the channel is connected or has failed, at most until
  /// `deadline`. Answers the last state seen.
  grpc_connectivity_state connect(std::chrono::system_clock::time_point deadline) {
    auto state = channel->GetState(true);
    while (state != GRPC_CHANNEL_READY && state != GRPC_CHANNEL_TRANSIENT_FAILURE &&
           state != GRPC_CHANNEL_SHUTDOWN) {
      if (!channel->WaitForStateChange(state, deadline))
        break;
      state = channel->GetState(true);
    }
    return state;
  }

  /// Our error for a failed call: the server's errc when it sent one, else
  /// the transport's gRPC code through errc_of_grpc_code.
  caf::error error_of(const grpc::ClientContext& ctx, const grpc::Status& status,
                      std::string_view method, grpc_connectivity_state before) const {
    auto& trailers = ctx.GetServerTrailingMetadata();
    if (auto it = trailers.find(std::string{agent_errc_key}); it != trailers.end()) {
      if (auto code = errc_from_string(std::string_view{it->second.data(), it->second.size()}))
        return make_error(*code, peer() + ": " + status.error_message());
    }
    auto code = errc_of_grpc_code(static_cast<grpc_code>(static_cast<int>(status.error_code())));
    std::string what;
    switch (status.error_code()) {
    case grpc::StatusCode::UNAVAILABLE:
      // No answer from our server: no connection (TCP refused or
      // unreachable) or a TLS handshake that one side refused. gRPC's
      // detail, appended, says which ("Connection refused", "Ssl handshake
      // failed ... certificate verify failed", "Peer name ... is not in
      // peer certificate"). With TLS 1.3 the server checks our certificate
      // after our side has finished: its refusal reads "Socket closed".
      what = before == GRPC_CHANNEL_READY
               ? ": connection lost (a TLS refusal of our client "
                 "certificate by the server shows up like this): "
               : ": no connection (TCP failed, or the TLS handshake failed: untrusted or "
                 "refused certificate, server name mismatch): ";
      break;
    case grpc::StatusCode::DEADLINE_EXCEEDED:
      what = " did not answer " + std::string{method} + " within " +
             std::to_string(opts.call_timeout.count()) + " ms: ";
      break;
    default:
      what = " answered " + std::string{method} + " with gRPC code " +
             std::to_string(static_cast<int>(status.error_code())) + ": ";
    }
    return make_error(code, peer() + what + status.error_message());
  }

  /// One blocking call, `invoke(ctx)` running the stub's method, within
  /// call_timeout (connection included).
  template <class Invoke>
  caf::error call(std::string_view method, Invoke invoke) {
    auto now = std::chrono::system_clock::now();
    auto call_deadline = now + opts.call_timeout;
    auto connect_deadline = now + std::min(opts.connect_timeout, opts.call_timeout);
    auto state = connect(connect_deadline);
    if (state == GRPC_CHANNEL_IDLE || state == GRPC_CHANNEL_CONNECTING)
      return make_error(errc::unavailable, peer() + ": no connection within " +
                                             std::to_string(opts.connect_timeout.count()) +
                                             " ms (" + std::string{state_name(state)} + ")");
    // Not waiting for ready: a channel in transient failure fails the call
    // at once with gRPC's reason (connection refused, handshake failed, ...).
    grpc::ClientContext ctx;
    ctx.set_deadline(call_deadline);
    grpc::Status status = invoke(&ctx);
    if (!status.ok())
      return error_of(ctx, status, method, state);
    return {};
  }
};

agent_client::agent_client(std::unique_ptr<impl> p) : impl_(std::move(p)) {
}

agent_client::~agent_client() = default;

caf::expected<std::unique_ptr<agent_client>> agent_client::make(agent_client_options opts) {
  if (opts.target.empty())
    return make_error(errc::config_invalid, "agent client: no target");
  if (auto err = check_tls(opts.tls))
    return err;
  if (opts.connect_timeout.count() <= 0 || opts.call_timeout.count() <= 0)
    return make_error(errc::config_invalid, "agent client: timeouts must be positive");
  auto p = std::make_unique<impl>();
  p->opts = std::move(opts);
  grpc::SslCredentialsOptions ssl;
  ssl.pem_root_certs = p->opts.tls.ca_pem;
  ssl.pem_cert_chain = p->opts.tls.cert_pem;
  ssl.pem_private_key = p->opts.tls.key_pem;
  grpc::ChannelArguments args;
  // The server certificate must name the node we mean; gRPC checks the
  // target's host unless told another name.
  if (!p->opts.expected_server_name.empty() &&
      p->opts.expected_server_name != host_of(p->opts.target))
    args.SetSslTargetNameOverride(p->opts.expected_server_name);
  // gRPC's minimum connect timeout is this argument (20 s by default).
  auto connect_ms = static_cast<int>(std::min<int64_t>(p->opts.connect_timeout.count(), INT32_MAX));
  args.SetInt(GRPC_ARG_MIN_RECONNECT_BACKOFF_MS, connect_ms);
  args.SetInt(GRPC_ARG_INITIAL_RECONNECT_BACKOFF_MS, std::min(connect_ms, 1'000));
  args.SetInt(GRPC_ARG_MAX_RECONNECT_BACKOFF_MS,
              static_cast<int>(std::min<int64_t>(
                std::max(p->opts.max_reconnect_backoff.count(), int64_t{1}), INT32_MAX)));
  // Connections belong to this client alone (never shared with a channel of
  // other credentials).
  args.SetInt(GRPC_ARG_USE_LOCAL_SUBCHANNEL_POOL, 1);
  p->channel = grpc::CreateCustomChannel(p->opts.target, grpc::SslCredentials(ssl), args);
  p->stub = pb::NodeAgent::NewStub(p->channel);
  return std::unique_ptr<agent_client>{new agent_client(std::move(p))};
}

const agent_client_options& agent_client::options() const {
  return impl_->opts;
}

caf::expected<agent_identity> agent_client::identity() {
  pb::GetIdentityResponse resp;
  if (auto err = impl_->call("GetIdentity", [&](grpc::ClientContext* ctx) {
        return impl_->stub->GetIdentity(ctx, pb::GetIdentityRequest{}, &resp);
      }))
    return err;
  agent_identity out;
  out.node_name = resp.node_name();
  out.version = resp.version();
  out.protocol_version = resp.protocol_version();
  return out;
}

caf::expected<volume_state> agent_client::create_volume(const create_volume_req& req) {
  pb::CreateVolumeRequest msg;
  to_pb(req, &msg);
  pb::CreateVolumeResponse resp;
  if (auto err = impl_->call("CreateVolume", [&](grpc::ClientContext* ctx) {
        return impl_->stub->CreateVolume(ctx, msg, &resp);
      }))
    return err;
  return from_pb(resp.volume());
}

caf::expected<bool> agent_client::delete_volume(const delete_volume_req& req) {
  pb::DeleteVolumeRequest msg;
  to_pb(req, &msg);
  pb::DeleteVolumeResponse resp;
  if (auto err = impl_->call("DeleteVolume", [&](grpc::ClientContext* ctx) {
        return impl_->stub->DeleteVolume(ctx, msg, &resp);
      }))
    return err;
  return resp.deleted();
}

caf::expected<volume_state> agent_client::expand_volume(const std::string& id,
                                                        uint64_t size_bytes) {
  pb::ExpandVolumeRequest msg;
  to_pb(agent_expand_req{id, size_bytes}, &msg);
  pb::ExpandVolumeResponse resp;
  if (auto err = impl_->call("ExpandVolume", [&](grpc::ClientContext* ctx) {
        return impl_->stub->ExpandVolume(ctx, msg, &resp);
      }))
    return err;
  return from_pb(resp.volume());
}

caf::expected<volume_state> agent_client::claim_volume(const claim_req& req) {
  pb::ClaimVolumeRequest msg;
  to_pb(req, &msg);
  pb::ClaimVolumeResponse resp;
  if (auto err = impl_->call("ClaimVolume", [&](grpc::ClientContext* ctx) {
        return impl_->stub->ClaimVolume(ctx, msg, &resp);
      }))
    return err;
  return from_pb(resp.volume());
}

caf::expected<node_view> agent_client::get_node_view() {
  pb::GetNodeViewResponse resp;
  if (auto err = impl_->call("GetNodeView", [&](grpc::ClientContext* ctx) {
        return impl_->stub->GetNodeView(ctx, pb::GetNodeViewRequest{}, &resp);
      }))
    return err;
  return from_pb(resp);
}

caf::expected<uint64_t> agent_client::rescan() {
  pb::RescanResponse resp;
  if (auto err = impl_->call("Rescan", [&](grpc::ClientContext* ctx) {
        return impl_->stub->Rescan(ctx, pb::RescanRequest{}, &resp);
      }))
    return err;
  return resp.volumes();
}

} // namespace olocal
