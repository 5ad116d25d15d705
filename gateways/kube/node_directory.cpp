#include "gateways/kube/node_directory.hpp"

#include "actors/core/log.hpp"
#include "actors/core/messages.hpp"
#include "gateways/kube/informer.hpp"

#include <caf/all.hpp>

#include <boost/json.hpp>

#include <map>

namespace olocal::kube {

std::string agent_address(const object& node, const node_directory_options& opts) {
  auto* addresses = node.at_path("status.addresses");
  if (addresses == nullptr || !addresses->is_array())
    return {};
  for (auto& entry : addresses->as_array()) {
    auto* fields = entry.if_object();
    if (fields == nullptr)
      continue;
    auto* type = fields->if_contains("type");
    auto* address = fields->if_contains("address");
    if (type == nullptr || address == nullptr || !type->is_string() || !address->is_string())
      continue;
    if (type->as_string() != opts.address_type || address->as_string().empty())
      continue;
    std::string host{address->as_string()};
    auto port = std::to_string(opts.agent_port);
    return host.find(':') != std::string::npos ? "[" + host + "]:" + port : host + ":" + port;
  }
  return {};
}

namespace {

constexpr const char* who = "node-directory";

struct directory_state {
  std::map<std::string, std::string> addresses; ///< by node name, as last sent
};

using directory_pointer = caf::stateful_actor<directory_state>*;

} // namespace

caf::actor spawn_node_directory(caf::actor_system& sys, std::shared_ptr<client> api,
                                caf::actor router, node_directory_options opts) {
  return sys.spawn([api = std::move(api), router = std::move(router),
                    opts = std::move(opts)](directory_pointer self) -> caf::behavior {
    informer_options io;
    io.kind = &kinds::node;
    auto informer = spawn_informer(self->system(), api, io);
    self->link_to(informer);
    caf::anon_send(informer, subscribe_atom::value, caf::actor{self});
    return {
      [self, router, opts](const watch_event& ev) {
        auto& known = self->state.addresses;
        auto name = ev.obj.name();
        if (ev.type == "DELETED") {
          if (known.erase(name) != 0) {
            log::info(who, "node removed", {{"node", name}});
            caf::anon_send(router, node_remove{name});
          }
          return;
        }
        auto address = agent_address(ev.obj, opts);
        auto it = known.find(name);
        if (it != known.end() && it->second == address)
          return;
        known[name] = address;
        if (address.empty())
          log::warn(who, "node has no agent address",
                    {{"node", name}, {"address_type", opts.address_type}});
        else
          log::info(who, "node agent", {{"node", name}, {"address", address}});
        caf::anon_send(router, node_upsert{name, address});
      },
    };
  });
}

} // namespace olocal::kube
