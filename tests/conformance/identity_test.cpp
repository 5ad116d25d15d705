// Identity service: GetPluginInfo, GetPluginCapabilities, Probe.

#include "tests/conformance/conformance.hpp"

#include <regex>
#include <set>

namespace conformance {
namespace {

using Identity = csi_test;

TEST_F(Identity, GetPluginInfoReturnsNameAndVersion) {
  pb::GetPluginInfoResponse resp;
  ASSERT_OK(call(
    [&](auto* ctx) { return identity().GetPluginInfo(ctx, pb::GetPluginInfoRequest{}, &resp); }));
  // csi-sanity: non-empty, at most 63 characters, DNS-like.
  EXPECT_FALSE(resp.name().empty());
  EXPECT_LE(resp.name().size(), 63u);
  EXPECT_TRUE(
    std::regex_match(resp.name(), std::regex{"^[a-zA-Z][A-Za-z0-9-\\.\\_]{0,61}[a-zA-Z]$"}))
    << resp.name();
  EXPECT_EQ(resp.name(), driver_name);
  EXPECT_FALSE(resp.vendor_version().empty());
}

TEST_F(Identity, GetPluginCapabilitiesAreKnownAndComplete) {
  pb::GetPluginCapabilitiesResponse resp;
  ASSERT_OK(call([&](auto* ctx) {
    return identity().GetPluginCapabilities(ctx, pb::GetPluginCapabilitiesRequest{}, &resp);
  }));
  using service = pb::PluginCapability::Service;
  std::set<int> services;
  bool online = false;
  for (auto& cap : resp.capabilities()) {
    if (cap.has_service()) {
      auto t = cap.service().type();
      EXPECT_TRUE(t == service::CONTROLLER_SERVICE ||
                  t == service::VOLUME_ACCESSIBILITY_CONSTRAINTS ||
                  t == service::GROUP_CONTROLLER_SERVICE)
        << "unknown service capability " << t;
      services.insert(t);
    } else if (cap.has_volume_expansion()) {
      auto t = cap.volume_expansion().type();
      EXPECT_TRUE(t == pb::PluginCapability::VolumeExpansion::ONLINE ||
                  t == pb::PluginCapability::VolumeExpansion::OFFLINE)
        << "unknown volume expansion type " << t;
      online = online || t == pb::PluginCapability::VolumeExpansion::ONLINE;
    } else {
      ADD_FAILURE() << "a capability with no type";
    }
  }
  // The standalone driver serves the controller; volumes are node-local
  // (topology) and grow while published (the node tests prove it).
  EXPECT_TRUE(services.count(service::CONTROLLER_SERVICE));
  EXPECT_TRUE(services.count(service::VOLUME_ACCESSIBILITY_CONSTRAINTS));
  EXPECT_TRUE(online);
}

TEST_F(Identity, ProbeAnswersReady) {
  pb::ProbeResponse resp;
  ASSERT_OK(call([&](auto* ctx) { return identity().Probe(ctx, pb::ProbeRequest{}, &resp); }));
  // Unset means ready; once serving, the driver says so explicitly.
  ASSERT_TRUE(resp.has_ready());
  EXPECT_TRUE(resp.ready().value());
}

} // namespace
} // namespace conformance
