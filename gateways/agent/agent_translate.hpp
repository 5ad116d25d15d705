#pragma once

// Pure translation between the node agent's protobuf messages
// (proto/agent/v1/agent.proto) and the node's message structs, both ways.
//
//  * to_*_req(pb request) -> caf::expected<our request>: what the server
//    accepts from the wire. Validated (names, sizes, enumerations); a refusal
//    is invalid_argument naming the field ("lv.name ...").
//  * to_pb(ours, pb*) fills a protobuf message from our struct (the server's
//    responses, the client's requests); from_pb(pb) reads one back (the
//    client's responses) without validation: the server is the node itself.
//
// The protobuf types are only declared here; their generated header stays in
// agent_translate.cpp, agent_transport.cpp and the tests.

#include "actors/core/interfaces.hpp"

#include <caf/expected.hpp>

#include <cstdint>
#include <string>
#include <string_view>

namespace olocal::agent::v1 {
class LogicalVolumeSpec;
class VolumeState;
class PhysicalVolume;
class LogicalVolume;
class VolumeGroup;
class BlockDevice;
class ClaimCandidate;
class CreateVolumeRequest;
class DeleteVolumeRequest;
class ExpandVolumeRequest;
class ClaimVolumeRequest;
class GetNodeViewResponse;
} // namespace olocal::agent::v1

namespace olocal {

namespace agent_pb = agent::v1;

/// ExpandVolume: grow volume `id` to `size_bytes` (the node looks the volume
/// actor up, then asks it expand_req{size_bytes}).
struct agent_expand_req {
  std::string id;
  uint64_t size_bytes = 0;
};

/// invalid_argument naming `field` unless `name` is a usable volume / LV /
/// volume group name: 1 to 127 bytes of [A-Za-z0-9+_.-], not starting with
/// '-', not "." or "..".
caf::error check_agent_name(std::string_view field, std::string_view name);

// -- requests from the wire (validated) -------------------------------------------

caf::expected<create_volume_req> to_create_volume_req(const agent_pb::CreateVolumeRequest& req);
caf::expected<delete_volume_req> to_delete_volume_req(const agent_pb::DeleteVolumeRequest& req);
caf::expected<agent_expand_req> to_expand_req(const agent_pb::ExpandVolumeRequest& req);
caf::expected<claim_req> to_claim_req(const agent_pb::ClaimVolumeRequest& req);

// -- our structs -> protobuf ---------------------------------------------------------

void to_pb(const create_lv_req& in, agent_pb::LogicalVolumeSpec* out);
void to_pb(const volume_state& in, agent_pb::VolumeState* out);
void to_pb(const lvm::pv_info& in, agent_pb::PhysicalVolume* out);
void to_pb(const lvm::lv_info& in, agent_pb::LogicalVolume* out);
void to_pb(const vg_view& in, agent_pb::VolumeGroup* out);
void to_pb(const block_device& in, agent_pb::BlockDevice* out);
void to_pb(const claim_candidate& in, agent_pb::ClaimCandidate* out);
void to_pb(const node_view& in, agent_pb::GetNodeViewResponse* out);
void to_pb(const create_volume_req& in, agent_pb::CreateVolumeRequest* out);
void to_pb(const delete_volume_req& in, agent_pb::DeleteVolumeRequest* out);
void to_pb(const agent_expand_req& in, agent_pb::ExpandVolumeRequest* out);
void to_pb(const claim_req& in, agent_pb::ClaimVolumeRequest* out);

// -- protobuf -> our structs (no validation) --------------------------------------------

/// An empty layout reads as "linear", an empty kind as "volume".
create_lv_req from_pb(const agent_pb::LogicalVolumeSpec& in);
volume_state from_pb(const agent_pb::VolumeState& in);
lvm::pv_info from_pb(const agent_pb::PhysicalVolume& in);
/// hidden = false, segment_count = 1: the view lists visible LVs only.
lvm::lv_info from_pb(const agent_pb::LogicalVolume& in);
/// pv_count and lv_count are those of the lists.
vg_view from_pb(const agent_pb::VolumeGroup& in);
block_device from_pb(const agent_pb::BlockDevice& in);
claim_candidate from_pb(const agent_pb::ClaimCandidate& in);
node_view from_pb(const agent_pb::GetNodeViewResponse& in);

} // namespace olocal
