// The placement advisor: open-local's placement API called over real HTTP
// (a loopback server standing in for `open-local scheduler`), its answers
// parsed, and failures answered as errors that name the URL.

#include "gateways/kube/placement_advisor.hpp"

#include "actors/core/errc.hpp"
#include "gateways/http/server.hpp"

#include <caf/all.hpp>

#include <gtest/gtest.h>

#include <mutex>
#include <string>

using namespace olocal;
using namespace std::chrono_literals;

TEST(placement_advisor, parses_open_locals_answer) {
  auto a = kube::parse_placement_answer(
    R"({"node":"n1","disk":"","vgName":"pool0","device":"","volumeType":"LVM",)"
    R"("persistentVolumeClaim":"default/data"})");
  ASSERT_TRUE(a) << render(a.error());
  EXPECT_EQ(a->node, "n1");
  EXPECT_EQ(a->vg, "pool0");
  EXPECT_EQ(a->volume_type, "LVM");
  auto d =
    kube::parse_placement_answer(R"({"node":"n1","device":"/dev/vdc","volumeType":"Device"})");
  ASSERT_TRUE(d);
  EXPECT_EQ(d->unit, "/dev/vdc");
  EXPECT_FALSE(kube::parse_placement_answer("not json"));
  EXPECT_FALSE(kube::parse_placement_answer(R"({"vgName":"pool0"})")) << "node and type required";
}

TEST(placement_advisor, asks_the_schedulers_placement_api_over_http) {
  std::mutex mu;
  std::string seen_method, seen_target;
  http::server_options so;
  http::server fake_scheduler{so, [&](http::request req, http::responder respond) {
                                {
                                  std::lock_guard<std::mutex> lock{mu};
                                  seen_method = req.method;
                                  seen_target = req.target;
                                }
                                http::response r;
                                if (req.target.find("/broken") != std::string::npos) {
                                  r.status = 500;
                                  r.body = "PersistentVolumeClaim default/broken not found";
                                } else {
                                  r.content_type = "application/json";
                                  r.body = R"({"node":"n 1","vgName":"pool0","volumeType":"LVM"})";
                                }
                                respond(std::move(r));
                              }};
  caf::actor_system_config cfg;
  caf::actor_system sys{cfg};
  auto url = "http://127.0.0.1:" + std::to_string(fake_scheduler.port());
  auto advisor = kube::spawn_placement_advisor(sys, url, 5s);
  caf::scoped_actor self{sys};
  placement_answer got;
  caf::error failed;
  self->request(advisor, 10s, placement_query{"default", "data", "n 1"})
    .receive([&](placement_answer& a) { got = a; }, [&](caf::error& e) { failed = e; });
  ASSERT_FALSE(failed) << render(failed);
  EXPECT_EQ(got.vg, "pool0");
  {
    std::lock_guard<std::mutex> lock{mu};
    EXPECT_EQ(seen_method, "POST");
    EXPECT_EQ(seen_target, "/apis/scheduling/default/persistentvolumeclaims/data?nodeName=n%201");
  }
  self->request(advisor, 10s, placement_query{"default", "broken", "n1"})
    .receive([&](placement_answer&) { ADD_FAILURE() << "an error was expected"; },
             [&](caf::error& e) { failed = e; });
  ASSERT_TRUE(failed);
  EXPECT_NE(render(failed).find("500"), std::string::npos) << render(failed);
  EXPECT_NE(render(failed).find(url), std::string::npos) << render(failed);
  // Nothing listens: unavailable, naming the URL.
  auto nowhere = kube::spawn_placement_advisor(sys, "http://127.0.0.1:1", 2s);
  failed = caf::error{};
  self->request(nowhere, 20s, placement_query{"default", "data", "n1"})
    .receive([&](placement_answer&) { ADD_FAILURE() << "an error was expected"; },
             [&](caf::error& e) { failed = e; });
  EXPECT_EQ(code_of(failed), errc::unavailable) << render(failed);
  caf::anon_send_exit(advisor, caf::exit_reason::user_shutdown);
  caf::anon_send_exit(nowhere, caf::exit_reason::user_shutdown);
}
