// The graceful stop of a whole service, in-process: intake closes, a request
// in flight is answered, then the actors stop.

#include "gateways/cmd/service.hpp"

#include "actors/core/errc.hpp"
#include "actors/core/inspect.hpp"
#include "actors/core/runtime.hpp"
#include "tests/support/http_client.hpp"
#include "tests/support/temp_dir.hpp"

#include <boost/json/parse.hpp>
#include <caf/all.hpp>
#include <gtest/gtest.h>

#include <filesystem>
#include <future>
#include <thread>

using namespace olocal;
using namespace std::chrono_literals;

namespace {

using release_atom = caf::atom_constant<caf::atom("release")>;

// Holds every inspection until it is told to answer: stands for an actor in
// the middle of a long operation when the stop signal arrives.
struct slow_state {
  std::vector<caf::response_promise> waiting;
  std::shared_ptr<std::promise<void>> asked;
};

caf::behavior slow(caf::stateful_actor<slow_state>* self,
                   std::shared_ptr<std::promise<void>> asked) {
  self->state.asked = std::move(asked);
  return {
    [self](inspect_atom) -> caf::result<actor_report> {
      auto rp = self->make_response_promise();
      self->state.waiting.push_back(rp);
      if (self->state.asked) {
        self->state.asked->set_value();
        self->state.asked.reset();
      }
      return caf::delegated<actor_report>{};
    },
    [self](release_atom) {
      for (auto& rp : self->state.waiting)
        rp.deliver(make_report(self, "finished slow work", "", "{\"done\":true}"));
      self->state.waiting.clear();
    },
  };
}

service_options test_options(const std::filesystem::path& sysfs) {
  service_options opts;
  opts.workers = 2;
  opts.http_port = 0;
  opts.sysfs = sysfs;
  opts.drain_timeout = 20s;
  opts.log_level = "warn";
  opts.csi_endpoint = "unix://" + (sysfs / "csi.sock").string();
  opts.state_dir = (sysfs / "state").string();
  return opts;
}

struct service_test : ::testing::Test {
  test::temp_dir dir{"olocal-svc"};
  std::filesystem::path sysfs = dir.path();
  service_test() { std::filesystem::create_directories(sysfs / "block" / "sdx"); }
};

} // namespace

TEST_F(service_test, starts_with_a_disk_actor_per_device_and_serves) {
  auto svc = service::start(test_options(sysfs));
  ASSERT_TRUE(svc) << render(svc.error());
  auto port = (*svc)->http_port();
  ASSERT_NE(port, 0);
  EXPECT_EQ(test::http_get(port, "/readyz").status, 200);
  auto list = test::http_get(port, "/admin/actors");
  ASSERT_EQ(list.status, 200);
  auto doc = boost::json::parse(list.body).as_object();
  bool saw_disk = false;
  for (auto& a : doc.at("actors").as_array())
    if (a.as_object().at("name").as_string() == "disk/sdx")
      saw_disk = true;
  EXPECT_TRUE(saw_disk) << list.body;
  EXPECT_EQ((*svc)->stop(), 0);
  EXPECT_FALSE(test::can_connect(port));
}

TEST_F(service_test, stop_closes_intake_and_drains_the_request_in_flight) {
  auto svc = service::start(test_options(sysfs));
  ASSERT_TRUE(svc) << render(svc.error());
  auto port = (*svc)->http_port();
  auto asked = std::make_shared<std::promise<void>>();
  auto asked_future = asked->get_future();
  auto slow_actor = (*svc)->actors().system().spawn(slow, asked);
  auto id = (*svc)->actors().adopt(slow_actor, "volume/slow", "volume");
  ASSERT_TRUE(id);
  // Keep only a weak address: a strong handle outliving the actor system
  // would keep its destructor waiting.
  auto slow_addr = slow_actor.address();
  slow_actor = nullptr;

  // 1. A request reaches the slow actor and stays in flight.
  auto in_flight = std::async(std::launch::async, [port, id = *id] {
    return test::http_get(port, "/admin/actors/" + std::to_string(id));
  });
  ASSERT_EQ(asked_future.wait_for(10s), std::future_status::ready);

  // 2. Stop begins on this thread, as main does after SIGTERM (the thread
  //    that spawned actors is the one that tears the system down). A
  //    watcher checks what happens while it drains.
  std::atomic<bool> stop_returned{false};
  auto watcher = std::async(std::launch::async, [&] {
    // 3. Intake is closed: new connections are refused while the old
    //    request is still being worked on.
    bool refused = false;
    for (int i = 0; i < 500 && !refused; ++i) {
      refused = !test::can_connect(port);
      if (!refused)
        std::this_thread::sleep_for(10ms);
    }
    std::this_thread::sleep_for(50ms);
    bool returned_early = stop_returned.load();
    // 4. The work finishes: its answer reaches the client, then stop ends.
    caf::anon_send(caf::actor_cast<caf::actor>(slow_addr), release_atom::value);
    return std::make_pair(refused, returned_early);
  });
  auto exit_code = (*svc)->stop();
  stop_returned = true;
  auto [refused, returned_early] = watcher.get();
  EXPECT_TRUE(refused) << "new connections still accepted after stop began";
  EXPECT_FALSE(returned_early) << "stop returned while a request was still in flight";
  auto reply = in_flight.get();
  EXPECT_EQ(reply.status, 200) << reply.error << reply.body;
  EXPECT_NE(reply.body.find("finished slow work"), std::string::npos) << reply.body;
  EXPECT_EQ(exit_code, 0) << "a clean drain exits 0";
}

TEST_F(service_test, drain_deadline_abandons_stuck_work_with_exit_1) {
  auto opts = test_options(sysfs);
  opts.drain_timeout = 200ms;
  auto svc = service::start(opts);
  ASSERT_TRUE(svc) << render(svc.error());
  auto port = (*svc)->http_port();
  auto asked = std::make_shared<std::promise<void>>();
  auto asked_future = asked->get_future();
  auto slow_actor = (*svc)->actors().system().spawn(slow, asked);
  auto id = (*svc)->actors().adopt(slow_actor, "volume/stuck", "volume");
  ASSERT_TRUE(id);
  slow_actor = nullptr;
  auto in_flight = std::async(std::launch::async, [port, id = *id] {
    return test::http_get(port, "/admin/actors/" + std::to_string(id));
  });
  ASSERT_EQ(asked_future.wait_for(10s), std::future_status::ready);
  EXPECT_EQ((*svc)->stop(), 1);
  EXPECT_NE(in_flight.get().status, 200);
}

TEST_F(service_test, bad_options_fail_start_with_a_clear_error) {
  auto opts = test_options(sysfs);
  opts.http_address = "0.0.0.0";
  auto svc = service::start(opts);
  ASSERT_FALSE(svc);
  EXPECT_EQ(code_of(svc.error()), errc::config_invalid);

  opts = test_options(sysfs);
  opts.http_address = "203.0.113.7"; // not an address of this host
  opts.admin_token_file = (sysfs / "token").string();
  std::ofstream{opts.admin_token_file} << "0123456789abcdef0123";
  svc = service::start(opts);
  ASSERT_FALSE(svc);
  EXPECT_EQ(code_of(svc.error()), errc::io_error);
  EXPECT_NE(render(svc.error()).find("203.0.113.7"), std::string::npos) << render(svc.error());
}

TEST_F(service_test, managed_volume_groups_get_an_actor_each_that_reports_its_state) {
  auto opts = test_options(sysfs);
  opts.volume_groups = {"olocal_absent_vg"};
  auto svc = service::start(opts);
  ASSERT_TRUE(svc) << render(svc.error());
  auto port = (*svc)->http_port();
  // The group does not exist on this host: the actor says so instead of
  // pretending an empty group.
  std::string summary, last_error;
  for (int i = 0; i < 200 && last_error.empty(); ++i) {
    auto list = test::http_get(port, "/admin/actors");
    ASSERT_EQ(list.status, 200);
    auto doc = boost::json::parse(list.body);
    for (auto& a : doc.as_object().at("actors").as_array()) {
      auto& o = a.as_object();
      if (o.at("name").as_string() == "vg/olocal_absent_vg") {
        summary = std::string{o.at("summary").as_string()};
        last_error = std::string{o.at("lastError").as_string()};
      }
    }
    if (last_error.empty())
      std::this_thread::sleep_for(20ms);
  }
  EXPECT_EQ(summary.rfind("not scanned yet", 0), 0u) << summary;
  EXPECT_NE(last_error.find("not_found"), std::string::npos) << last_error;
  EXPECT_EQ((*svc)->stop(), 0);
}
