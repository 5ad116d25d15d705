#include "actors/core/registry.hpp"

#include "actors/core/errc.hpp"
#include "actors/core/inspect.hpp"
#include "tests/support/actor_fixture.hpp"

#include <boost/json/parse.hpp>

using namespace olocal;

namespace {

caf::behavior dummy(caf::event_based_actor* self, std::string summary) {
  return {
    [self, summary](inspect_atom) { return make_report(self, summary, "", "{\"n\":1}"); },
  };
}

struct registry_test : test::actor_fixture {
  registry_actor reg = spawn_registry(sys);

  caf::actor spawn_dummy(std::string summary = "idle") {
    auto a = sys.spawn(dummy, std::move(summary));
    run();
    return a;
  }

  std::vector<actor_entry> list() {
    auto entries = request<std::vector<actor_entry>>(reg, list_atom::value);
    EXPECT_TRUE(entries) << render(entries.error());
    return entries ? *entries : std::vector<actor_entry>{};
  }
};

} // namespace

TEST_F(registry_test, registers_lists_and_refuses_duplicate_names) {
  auto a = spawn_dummy();
  auto b = spawn_dummy();
  auto id_a = request<uint64_t>(reg, register_actor_req{"disk/sda", "disk", a});
  ASSERT_TRUE(id_a);
  EXPECT_EQ(*id_a, a.id());
  ASSERT_TRUE(request<uint64_t>(reg, register_actor_req{"disk/sdb", "disk", b}));
  auto dup = request<uint64_t>(reg, register_actor_req{"disk/sda", "disk", b});
  ASSERT_FALSE(dup);
  EXPECT_EQ(code_of(dup.error()), errc::already_exists);
  auto bad = request<uint64_t>(reg, register_actor_req{"x", "disk", caf::actor{}});
  ASSERT_FALSE(bad);
  EXPECT_EQ(code_of(bad.error()), errc::invalid_argument);

  auto entries = list();
  ASSERT_EQ(entries.size(), 3u); // the registry lists itself first
  EXPECT_EQ(entries[0].name, "registry");
  EXPECT_EQ(entries[1].name, a.id() < b.id() ? "disk/sda" : "disk/sdb");
  for (auto& e : entries)
    EXPECT_TRUE(e.handle);
  anon_send_exit(a, caf::exit_reason::user_shutdown);
  anon_send_exit(b, caf::exit_reason::user_shutdown);
  anon_send_exit(reg, caf::exit_reason::user_shutdown);
}

TEST_F(registry_test, forgets_actors_that_terminate) {
  auto a = spawn_dummy();
  ASSERT_TRUE(request<uint64_t>(reg, register_actor_req{"vg/pool0", "vg", a}));
  EXPECT_EQ(list().size(), 2u);
  anon_send_exit(a, caf::exit_reason::kill);
  run();
  auto entries = list();
  ASSERT_EQ(entries.size(), 1u);
  EXPECT_EQ(entries[0].name, "registry");
  // The name is free again.
  auto b = spawn_dummy();
  EXPECT_TRUE(request<uint64_t>(reg, register_actor_req{"vg/pool0", "vg", b}));
  anon_send_exit(b, caf::exit_reason::user_shutdown);
  anon_send_exit(reg, caf::exit_reason::user_shutdown);
}

TEST_F(registry_test, stop_all_stops_everyone_and_closes_intake) {
  auto a = spawn_dummy();
  auto b = spawn_dummy();
  ASSERT_TRUE(request<uint64_t>(reg, register_actor_req{"a", "k", a}));
  ASSERT_TRUE(request<uint64_t>(reg, register_actor_req{"b", "k", b}));
  auto stopped = request<uint64_t>(reg, stop_all_atom::value);
  ASSERT_TRUE(stopped);
  EXPECT_EQ(*stopped, 2u);
  run();
  // Both received the exit message and terminated: the registry forgot them.
  EXPECT_EQ(list().size(), 1u);
  auto late = spawn_dummy();
  auto refused = request<uint64_t>(reg, register_actor_req{"late", "k", late});
  ASSERT_FALSE(refused);
  EXPECT_EQ(code_of(refused.error()), errc::shutting_down);
  run();
  // The latecomer was stopped too: a request to it now fails.
  auto report = request<actor_report>(late, inspect_atom::value);
  EXPECT_FALSE(report);
  anon_send_exit(reg, caf::exit_reason::user_shutdown);
}

TEST_F(registry_test, inspects_itself) {
  auto a = spawn_dummy();
  ASSERT_TRUE(request<uint64_t>(reg, register_actor_req{"disk/sda", "disk", a}));
  auto report = request<actor_report>(reg, inspect_atom::value);
  ASSERT_TRUE(report);
  EXPECT_EQ(report->summary, "1 actors registered");
  auto doc = boost::json::parse(report->state_json).as_object();
  EXPECT_EQ(doc.at("registered_total").as_int64(), 1);
  EXPECT_EQ(doc.at("actors").as_array().at(0).as_object().at("name").as_string(), "disk/sda");
  anon_send_exit(a, caf::exit_reason::user_shutdown);
  anon_send_exit(reg, caf::exit_reason::user_shutdown);
}

TEST_F(registry_test, reports_mailbox_depth_measured_by_the_actor) {
  auto a = spawn_dummy("busy");
  // A client queues three inspections before the actor runs: each answer
  // counts the messages still waiting behind it.
  auto depths = std::make_shared<std::vector<uint64_t>>();
  sys.spawn([=](caf::event_based_actor* self) {
    for (int i = 0; i < 3; ++i)
      self->request(a, caf::infinite, inspect_atom::value).then([=](actor_report& r) {
        EXPECT_EQ(r.summary, "busy");
        depths->push_back(r.mailbox_depth);
      });
  });
  run();
  EXPECT_EQ(*depths, (std::vector<uint64_t>{2, 1, 0}));
  anon_send_exit(a, caf::exit_reason::user_shutdown);
  anon_send_exit(reg, caf::exit_reason::user_shutdown);
}
