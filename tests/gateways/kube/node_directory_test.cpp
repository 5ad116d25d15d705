// The node directory: agent addresses from Node objects (pure), and the
// node_upsert / node_remove messages the router receives as Nodes come, change
// address and go (the fake API server's Nodes, a recording actor as router).

#include "gateways/kube/node_directory.hpp"

#include "actors/core/messages.hpp"
#include "gateways/kube/client.hpp"
#include "tests/support/eventually.hpp"
#include "tests/support/fake_apiserver.hpp"

#include <caf/all.hpp>

#include <gtest/gtest.h>

#include <boost/json.hpp>

#include <mutex>
#include <string>
#include <vector>

using namespace olocal;
using namespace olocal::kube;
using namespace std::chrono_literals;

namespace {

namespace json = boost::json;

json::object node_doc(const std::string& name, json::array addresses) {
  return json::object{{"apiVersion", "v1"},
                      {"kind", "Node"},
                      {"metadata", {{"name", name}}},
                      {"status", {{"addresses", std::move(addresses)}}}};
}

json::object address(const std::string& type, const std::string& value) {
  return json::object{{"type", type}, {"address", value}};
}

} // namespace

TEST(node_directory, the_agent_address_is_the_configured_address_type_with_the_port) {
  node_directory_options opts;
  opts.agent_port = 1736;
  object n{node_doc("n1", {address("Hostname", "n1"), address("InternalIP", "10.0.0.5"),
                           address("InternalIP", "10.0.0.6")})};
  EXPECT_EQ(agent_address(n, opts), "10.0.0.5:1736") << "the first of its type";
  object v6{node_doc("n2", {address("InternalIP", "fd00::5")})};
  EXPECT_EQ(agent_address(v6, opts), "[fd00::5]:1736");
  opts.address_type = "ExternalIP";
  EXPECT_EQ(agent_address(n, opts), "") << "no address of that type";
  opts.address_type = "Hostname";
  EXPECT_EQ(agent_address(n, opts), "n1:1736");
  object bare{json::object{{"metadata", {{"name", "n3"}}}}};
  EXPECT_EQ(agent_address(bare, opts), "");
  object odd{node_doc("n4", {json::value{"not an object"}, address("Hostname", "")})};
  EXPECT_EQ(agent_address(odd, opts), "") << "malformed and empty entries are skipped";
}

TEST(node_directory, the_router_hears_of_nodes_that_come_change_and_go) {
  test::fake_apiserver server;
  server.put("nodes", node_doc("n1", {address("InternalIP", "10.0.0.1")}));
  struct seen_t {
    std::mutex mu;
    std::vector<std::string> events;
  };
  auto seen = std::make_shared<seen_t>();
  caf::actor_system_config cfg;
  caf::actor_system sys{cfg};
  auto router = sys.spawn([seen]() -> caf::behavior {
    return {
      [seen](const node_upsert& u) {
        std::lock_guard<std::mutex> lock{seen->mu};
        seen->events.push_back("upsert " + u.name + " " + u.address);
        return true;
      },
      [seen](const node_remove& r) {
        std::lock_guard<std::mutex> lock{seen->mu};
        seen->events.push_back("remove " + r.name);
        return true;
      },
    };
  });
  auto events = [&] {
    std::lock_guard<std::mutex> lock{seen->mu};
    return seen->events;
  };
  connection c;
  c.server = server.base_url();
  c.qps = 0;
  node_directory_options opts;
  opts.agent_port = 9000;
  auto directory = spawn_node_directory(sys, std::make_shared<client>(c), router, opts);

  ASSERT_TRUE(test::eventually([&] { return events().size() == 1; }));
  EXPECT_EQ(events()[0], "upsert n1 10.0.0.1:9000");
  // A label change keeps the address: nothing is sent.
  auto relabelled = node_doc("n1", {address("InternalIP", "10.0.0.1")});
  relabelled["metadata"].as_object()["labels"] = json::object{{"a", "b"}};
  server.put("nodes", relabelled);
  server.put("nodes", node_doc("n2", {})); // known, without an address
  server.put("nodes", node_doc("n1", {address("InternalIP", "10.0.0.9")}));
  server.remove("nodes", "", "n2");
  ASSERT_TRUE(test::eventually([&] { return events().size() == 4; })) << events().size();
  EXPECT_EQ(events(), (std::vector<std::string>{"upsert n1 10.0.0.1:9000", "upsert n2 ",
                                                "upsert n1 10.0.0.9:9000", "remove n2"}));
  caf::anon_send_exit(directory, caf::exit_reason::user_shutdown);
  caf::anon_send_exit(router, caf::exit_reason::user_shutdown);
}
