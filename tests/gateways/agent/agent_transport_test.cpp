// The node agent transport over loopback with real TLS: who may connect, who
// may call, and how refusals and unreachable nodes come back as errc. No
// timing assertions: deadlines are short only so that failures end quickly.

#include "gateways/agent/agent_transport.hpp"

#include "tests/support/temp_dir.hpp"
#include "tests/support/tls_certs.hpp"

#include "agent/v1/agent.grpc.pb.h"

#include <grpcpp/channel.h>
#include <grpcpp/client_context.h>
#include <grpcpp/create_channel.h>
#include <grpcpp/security/credentials.h>
#include <grpcpp/support/channel_arguments.h>

#include <gtest/gtest.h>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <chrono>
#include <string>

namespace {

using namespace olocal;
using namespace std::chrono_literals;
using olocal::test::make_test_pki;
using olocal::test::test_pki;

constexpr auto controller = "open-local-controller";

agent_tls tls_of(const test_pki& pki, const olocal::test::pem_pair& own) {
  return agent_tls{pki.ca.cert, own.cert, own.key};
}

/// A node agent on 127.0.0.1 with the server certificate of `pki`.
std::unique_ptr<agent_server> start_server(const test_pki& pki) {
  agent_server_options opts;
  opts.address = "127.0.0.1:0";
  opts.tls = tls_of(pki, pki.server);
  opts.allowed_client_names = {controller};
  opts.node_name = "node-1";
  opts.version = "1.2.3";
  auto server = agent_server::start(std::move(opts));
  EXPECT_TRUE(server) << render(server.error());
  return server ? std::move(*server) : nullptr;
}

agent_client_options client_options(int port, agent_tls tls) {
  agent_client_options opts;
  opts.target = "127.0.0.1:" + std::to_string(port);
  opts.tls = std::move(tls);
  opts.connect_timeout = 5s;
  opts.call_timeout = 10s;
  return opts;
}

caf::expected<agent_identity> identity_via(agent_client_options opts) {
  auto client = agent_client::make(std::move(opts));
  if (!client)
    return client.error();
  return (*client)->identity();
}

bool contains(const std::string& text, const std::string& part) {
  return text.find(part) != std::string::npos;
}

/// A raw stub for channels agent_client never builds (no client
/// certificate, plaintext).
grpc::Status raw_identity(int port, std::shared_ptr<grpc::ChannelCredentials> creds) {
  grpc::ChannelArguments args;
  args.SetInt(GRPC_ARG_USE_LOCAL_SUBCHANNEL_POOL, 1);
  auto channel = grpc::CreateCustomChannel("127.0.0.1:" + std::to_string(port), creds, args);
  auto stub = agent::v1::NodeAgent::NewStub(channel);
  grpc::ClientContext ctx;
  ctx.set_deadline(std::chrono::system_clock::now() + 10s);
  agent::v1::GetIdentityRequest req;
  agent::v1::GetIdentityResponse resp;
  return stub->GetIdentity(&ctx, req, &resp);
}

/// A loopback port nothing listens on (bound, then closed again).
int closed_port() {
  int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  addr.sin_port = 0;
  EXPECT_EQ(::bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)), 0);
  socklen_t len = sizeof(addr);
  EXPECT_EQ(::getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len), 0);
  ::close(fd);
  return ntohs(addr.sin_port);
}

// -- pure functions ------------------------------------------------------------

TEST(agent_errc_table, maps_every_grpc_code_and_inverts_the_unique_ones) {
  EXPECT_EQ(errc_of_grpc_code(grpc_code::unavailable), errc::unavailable);
  EXPECT_EQ(errc_of_grpc_code(grpc_code::deadline_exceeded), errc::timeout);
  EXPECT_EQ(errc_of_grpc_code(grpc_code::permission_denied), errc::permission_denied);
  EXPECT_EQ(errc_of_grpc_code(grpc_code::unauthenticated), errc::unauthenticated);
  EXPECT_EQ(errc_of_grpc_code(grpc_code::unknown), errc::internal);
  EXPECT_EQ(errc_of_grpc_code(grpc_code::cancelled), errc::unavailable);
  // Every errc that is the only one with its gRPC code comes back as itself.
  for (auto code : all_errcs) {
    auto wire = to_grpc_code(code);
    auto sharing = std::count_if(all_errcs.begin(), all_errcs.end(),
                                 [&](errc other) { return to_grpc_code(other) == wire; });
    if (sharing == 1 && wire != grpc_code::unknown) {
      EXPECT_EQ(errc_of_grpc_code(wire), code) << to_string(code);
    }
  }
}

TEST(agent_client_allowed, matches_any_presented_name_exactly) {
  std::vector<std::string> allowed{controller};
  EXPECT_TRUE(agent_client_allowed({"node-1", controller}, allowed));
  EXPECT_FALSE(agent_client_allowed({"node-1"}, allowed));
  EXPECT_FALSE(agent_client_allowed({"Open-Local-Controller"}, allowed));
  EXPECT_FALSE(agent_client_allowed({}, allowed));
}

// -- TLS material ----------------------------------------------------------------

TEST(load_agent_tls, reads_three_pem_files_and_names_the_missing_one) {
  auto pki = make_test_pki(controller);
  olocal::test::temp_dir dir{"agent-tls"};
  auto ca = dir.write("ca.crt", pki.ca.cert).string();
  auto cert = dir.write("tls.crt", pki.client.cert).string();
  auto key = dir.write("tls.key", pki.client.key).string();
  auto tls = load_agent_tls(ca, cert, key);
  ASSERT_TRUE(tls) << render(tls.error());
  EXPECT_EQ(tls->ca_pem, pki.ca.cert);
  EXPECT_EQ(tls->key_pem, pki.client.key);

  auto missing = (dir / "nope.key").string();
  auto err = load_agent_tls(ca, cert, missing);
  ASSERT_FALSE(err);
  EXPECT_EQ(code_of(err.error()), errc::config_invalid);
  EXPECT_TRUE(contains(render(err.error()), missing)) << render(err.error());

  auto junk = dir.write("junk.crt", "not a certificate").string();
  auto bad = load_agent_tls(junk, cert, key);
  ASSERT_FALSE(bad);
  EXPECT_TRUE(contains(render(bad.error()), junk)) << render(bad.error());
}

TEST(agent_server, refuses_to_start_without_tls_or_allowed_clients) {
  auto pki = make_test_pki(controller);
  agent_server_options opts;
  opts.address = "127.0.0.1:0";
  opts.node_name = "node-1";
  auto no_tls = agent_server::start(opts);
  ASSERT_FALSE(no_tls);
  EXPECT_EQ(code_of(no_tls.error()), errc::config_invalid);

  opts.tls = tls_of(pki, pki.server);
  opts.allowed_client_names.clear();
  auto nobody = agent_server::start(opts);
  ASSERT_FALSE(nobody);
  EXPECT_EQ(code_of(nobody.error()), errc::config_invalid);
}

// -- mutual TLS over loopback -------------------------------------------------------

TEST(agent_transport, controller_certificate_from_the_right_ca_gets_the_identity) {
  auto pki = make_test_pki(controller);
  auto server = start_server(pki);
  ASSERT_TRUE(server);
  ASSERT_GT(server->port(), 0);
  auto opts = client_options(server->port(), tls_of(pki, pki.client));
  opts.expected_server_name = "127.0.0.1";
  auto id = identity_via(opts);
  ASSERT_TRUE(id) << render(id.error());
  EXPECT_EQ(id->node_name, "node-1");
  EXPECT_EQ(id->version, "1.2.3");
  EXPECT_EQ(id->protocol_version, agent_protocol_version);

  // By DNS SAN as well: "localhost" through the target name override.
  opts.expected_server_name = "localhost";
  auto by_name = identity_via(opts);
  ASSERT_TRUE(by_name) << render(by_name.error());
  EXPECT_EQ(by_name->node_name, "node-1");
  EXPECT_EQ(server->refused(), 0u);
}

TEST(agent_transport, client_certificate_from_another_ca_is_refused_in_the_handshake) {
  auto pki = make_test_pki(controller);
  auto other = make_test_pki(controller);
  auto server = start_server(pki);
  ASSERT_TRUE(server);
  // Trusts the right CA (so the server passes) but presents a certificate
  // the server's CA never signed.
  auto id = identity_via(
    client_options(server->port(), agent_tls{pki.ca.cert, other.client.cert, other.client.key}));
  ASSERT_FALSE(id);
  EXPECT_EQ(code_of(id.error()), errc::unavailable) << render(id.error());
  EXPECT_TRUE(contains(render(id.error()), "TLS")) << render(id.error());
  EXPECT_EQ(server->calls(), 0u); // never reached a handler
}

TEST(agent_transport, server_certificate_from_another_ca_is_refused_by_the_client) {
  auto pki = make_test_pki(controller);
  auto other = make_test_pki(controller);
  auto server = start_server(pki);
  ASSERT_TRUE(server);
  auto id = identity_via(
    client_options(server->port(), agent_tls{other.ca.cert, other.client.cert, other.client.key}));
  ASSERT_FALSE(id);
  EXPECT_EQ(code_of(id.error()), errc::unavailable) << render(id.error());
  EXPECT_TRUE(contains(render(id.error()), "TLS")) << render(id.error());
  EXPECT_EQ(server->calls(), 0u);
}

TEST(agent_transport, right_ca_but_another_name_is_permission_denied_naming_it) {
  auto pki = make_test_pki("node-7");
  auto server = start_server(pki);
  ASSERT_TRUE(server);
  auto id = identity_via(client_options(server->port(), tls_of(pki, pki.client)));
  ASSERT_FALSE(id);
  EXPECT_EQ(code_of(id.error()), errc::permission_denied) << render(id.error());
  EXPECT_TRUE(contains(render(id.error()), "node-7")) << render(id.error());
  EXPECT_EQ(server->refused(), 1u);
}

TEST(agent_transport, every_rpc_checks_the_peer_and_the_rest_are_unimplemented) {
  auto pki = make_test_pki(controller);
  auto server = start_server(pki);
  ASSERT_TRUE(server);
  grpc::SslCredentialsOptions ssl;
  ssl.pem_root_certs = pki.ca.cert;
  ssl.pem_cert_chain = pki.client.cert;
  ssl.pem_private_key = pki.client.key;
  auto channel =
    grpc::CreateChannel("127.0.0.1:" + std::to_string(server->port()), grpc::SslCredentials(ssl));
  auto stub = agent::v1::NodeAgent::NewStub(channel);
  grpc::ClientContext ctx;
  ctx.set_deadline(std::chrono::system_clock::now() + 10s);
  agent::v1::RescanRequest req;
  agent::v1::RescanResponse resp;
  auto status = stub->Rescan(&ctx, req, &resp);
  EXPECT_EQ(status.error_code(), grpc::StatusCode::UNIMPLEMENTED) << status.error_message();
  auto& trailers = ctx.GetServerTrailingMetadata();
  auto it = trailers.find(std::string{agent_errc_key});
  ASSERT_NE(it, trailers.end());
  EXPECT_EQ(std::string(it->second.data(), it->second.size()), "unimplemented");

  // The same call from a node's certificate is refused before anything else.
  auto node_pki = make_test_pki("node-2");
  auto node_server = start_server(node_pki);
  ASSERT_TRUE(node_server);
  ssl.pem_root_certs = node_pki.ca.cert;
  ssl.pem_cert_chain = node_pki.client.cert;
  ssl.pem_private_key = node_pki.client.key;
  auto node_stub = agent::v1::NodeAgent::NewStub(grpc::CreateChannel(
    "127.0.0.1:" + std::to_string(node_server->port()), grpc::SslCredentials(ssl)));
  grpc::ClientContext node_ctx;
  node_ctx.set_deadline(std::chrono::system_clock::now() + 10s);
  agent::v1::DeleteVolumeRequest del;
  agent::v1::DeleteVolumeResponse del_resp;
  auto refused = node_stub->DeleteVolume(&node_ctx, del, &del_resp);
  EXPECT_EQ(refused.error_code(), grpc::StatusCode::PERMISSION_DENIED) << refused.error_message();
}

TEST(agent_transport, client_without_certificate_is_refused) {
  auto pki = make_test_pki(controller);
  auto server = start_server(pki);
  ASSERT_TRUE(server);
  grpc::SslCredentialsOptions ssl;
  ssl.pem_root_certs = pki.ca.cert; // trusts the server, presents nothing
  auto status = raw_identity(server->port(), grpc::SslCredentials(ssl));
  EXPECT_EQ(status.error_code(), grpc::StatusCode::UNAVAILABLE) << status.error_message();
  EXPECT_EQ(server->calls(), 0u);
}

TEST(agent_transport, plaintext_channel_is_refused) {
  auto pki = make_test_pki(controller);
  auto server = start_server(pki);
  ASSERT_TRUE(server);
  auto status = raw_identity(server->port(), grpc::InsecureChannelCredentials());
  EXPECT_EQ(status.error_code(), grpc::StatusCode::UNAVAILABLE) << status.error_message();
  EXPECT_EQ(server->calls(), 0u);
}

TEST(agent_transport, client_expecting_another_server_name_refuses_the_server) {
  auto pki = make_test_pki(controller);
  auto server = start_server(pki);
  ASSERT_TRUE(server);
  auto opts = client_options(server->port(), tls_of(pki, pki.client));
  opts.expected_server_name = "node-9.example";
  auto id = identity_via(opts);
  ASSERT_FALSE(id);
  EXPECT_EQ(code_of(id.error()), errc::unavailable) << render(id.error());
  EXPECT_EQ(server->calls(), 0u);
}

TEST(agent_transport, unreachable_node_answers_unavailable_within_the_deadline) {
  auto pki = make_test_pki(controller);
  auto opts = client_options(closed_port(), tls_of(pki, pki.client));
  opts.connect_timeout = 500ms;
  opts.call_timeout = 500ms;
  auto id = identity_via(opts);
  ASSERT_FALSE(id);
  auto code = code_of(id.error());
  EXPECT_TRUE(code == errc::unavailable || code == errc::timeout) << render(id.error());
}

TEST(agent_transport, stop_is_idempotent_and_ends_service) {
  auto pki = make_test_pki(controller);
  auto server = start_server(pki);
  ASSERT_TRUE(server);
  auto port = server->port();
  server->stop(100ms);
  server->stop(100ms);
  auto opts = client_options(port, tls_of(pki, pki.client));
  opts.connect_timeout = 500ms;
  opts.call_timeout = 500ms;
  auto id = identity_via(opts);
  ASSERT_FALSE(id);
  auto code = code_of(id.error());
  EXPECT_TRUE(code == errc::unavailable || code == errc::timeout) << render(id.error());
}

} // namespace
