#include "actors/node/disk_actor.hpp"

#include "actors/core/errc.hpp"
#include "tests/support/actor_fixture.hpp"
#include "tests/support/fake_lvm.hpp"

#include <boost/json/parse.hpp>

#include <functional>
#include <optional>

using namespace olocal;
using namespace std::chrono_literals;

namespace {

block_device sample_disk() {
  block_device d;
  d.name = "sdb";
  d.path = "/dev/sdb";
  d.kind = "disk";
  d.major = 8;
  d.minor = 16;
  d.size_bytes = 1ull << 30;
  d.rotational = true;
  d.partitions = {"sdb1"};
  return d;
}

/// A whole disk that only holds an old filesystem: releasable.
block_device used_disk() {
  auto d = sample_disk();
  d.partitions.clear();
  d.signatures = {"ext4"};
  return d;
}

struct disk_actor_test : test::actor_fixture {
  std::shared_ptr<test::fake_lvm_state> lvm = std::make_shared<test::fake_lvm_state>();
  test::fake_lvm_actor fake = test::spawn_fake_lvm(sys, lvm);
  lvm_runner_actor runner = fake;
  disk_actor disk;

  void start(block_device facts, std::chrono::milliseconds wipe_timeout = 1h) {
    disk = spawn_disk_actor(sys, std::move(facts), runner, wipe_timeout);
  }

  ~disk_actor_test() override {
    if (disk)
      anon_send_exit(disk, caf::exit_reason::user_shutdown);
    anon_send_exit(fake, caf::exit_reason::user_shutdown);
    run();
  }

  block_device facts() {
    auto f = request<block_device>(disk, get_atom::value);
    EXPECT_TRUE(f) << render(f.error());
    return f ? *f : block_device{};
  }

  boost::json::object state() {
    auto report = request<actor_report>(disk, inspect_atom::value);
    EXPECT_TRUE(report) << render(report.error());
    return report ? boost::json::parse(report->state_json).as_object() : boost::json::object{};
  }
};

} // namespace

TEST_F(disk_actor_test, answers_facts_and_inspection) {
  start(sample_disk());
  auto f = facts();
  EXPECT_EQ(f.name, "sdb");
  EXPECT_EQ(f.size_bytes, 1ull << 30);

  auto report = request<actor_report>(disk, inspect_atom::value);
  ASSERT_TRUE(report);
  EXPECT_EQ(report->summary, "disk 1073741824 bytes hdd, in use: has partitions");
  auto doc = boost::json::parse(report->state_json).as_object();
  EXPECT_EQ(doc.at("device").as_object().at("name").as_string(), "sdb");
  EXPECT_EQ(doc.at("updates").as_int64(), 0);
  EXPECT_EQ(doc.at("releases").as_int64(), 0);
  EXPECT_EQ(doc.at("releasing").as_bool(), false);
  EXPECT_EQ(doc.at("lastMethod").as_string(), "");
}

TEST_F(disk_actor_test, takes_updates_for_its_device_only) {
  start(sample_disk());
  auto grown = sample_disk();
  grown.size_bytes = 2ull << 30;
  anon_send(disk, grown);
  auto other = sample_disk();
  other.name = "sdc";
  other.size_bytes = 1;
  anon_send(disk, other);
  run();
  auto f = facts();
  EXPECT_EQ(f.size_bytes, 2ull << 30);
  EXPECT_EQ(f.name, "sdb");
}

TEST(release_refusal, blocks_only_on_what_a_wipe_cannot_undo) {
  struct row {
    const char* what;
    std::function<void(block_device&)> change;
    std::string refusal;
  };
  const std::vector<row> table = {
    {"free", [](block_device&) {}, ""},
    {"signature",
     [](block_device& d) {
       d.signatures = {"LVM2_member", "gpt"};
     },
     ""},
    {"unreadable", [](block_device& d) { d.probe_error = "Permission denied"; }, ""},
    {"mounted", [](block_device& d) { d.mountpoints = {"/mnt/data"}; }, "mounted at /mnt/data"},
    {"held", [](block_device& d) { d.holders = {"dm-0"}; }, "held by dm-0"},
    {"partitioned", [](block_device& d) { d.partitions = {"sdb1"}; }, "has partitions"},
    {"read-only", [](block_device& d) { d.read_only = true; }, "read-only"},
    {"read-only and mounted",
     [](block_device& d) {
       d.read_only = true;
       d.mountpoints = {"/mnt"};
     },
     "read-only"},
  };
  for (const auto& r : table) {
    auto d = used_disk();
    d.signatures.clear();
    r.change(d);
    EXPECT_EQ(release_refusal(d), r.refusal) << r.what;
  }
}

TEST_F(disk_actor_test, refuses_a_device_in_use_without_wiping_it) {
  struct row {
    const char* what;
    std::function<void(block_device&)> change;
    std::string reason;
  };
  const std::vector<row> table = {
    {"mounted", [](block_device& d) { d.mountpoints = {"/var/lib/data"}; },
     "mounted at /var/lib/data"},
    {"held", [](block_device& d) { d.holders = {"dm-3"}; }, "held by dm-3"},
    {"partitioned",
     [](block_device& d) {
       d.partitions = {"sdb1", "sdb2"};
     },
     "has partitions"},
    {"read-only", [](block_device& d) { d.read_only = true; }, "read-only"},
  };
  for (const auto& r : table) {
    auto d = used_disk();
    r.change(d);
    start(d);
    for (bool wipe : {true, false}) {
      auto answer = request<std::string>(disk, release_device_req{wipe});
      ASSERT_FALSE(answer) << r.what << ": released with method " << *answer;
      EXPECT_EQ(code_of(answer.error()), errc::device_busy) << r.what;
      auto message = message_of(answer.error());
      EXPECT_NE(message.find("/dev/sdb"), std::string::npos) << message;
      EXPECT_NE(message.find(r.reason), std::string::npos) << message;
    }
    EXPECT_EQ(facts().signatures, std::vector<std::string>{"ext4"}) << r.what;
    EXPECT_EQ(state().at("releases").as_int64(), 0) << r.what;
    anon_send_exit(disk, caf::exit_reason::user_shutdown);
    run();
  }
  EXPECT_TRUE(lvm->wipes.empty()) << "no wipe may reach the runner";
}

TEST_F(disk_actor_test, release_without_wipe_touches_nothing) {
  start(used_disk());
  auto answer = request<std::string>(disk, release_device_req{false});
  ASSERT_TRUE(answer) << render(answer.error());
  EXPECT_EQ(*answer, "skipped");
  EXPECT_TRUE(lvm->wipes.empty());
  EXPECT_EQ(facts().signatures, std::vector<std::string>{"ext4"})
    << "nothing was wiped, so the old content is still there";
  auto doc = state();
  EXPECT_EQ(doc.at("releases").as_int64(), 1);
  EXPECT_EQ(doc.at("lastMethod").as_string(), "skipped");
}

TEST_F(disk_actor_test, wipes_the_whole_device_and_forgets_its_content) {
  auto d = used_disk();
  d.probe_error = "short read";
  start(d, 10min);
  auto answer = request<std::string>(disk, release_device_req{});
  ASSERT_TRUE(answer) << render(answer.error());
  EXPECT_EQ(*answer, "zero_fill:fake");
  ASSERT_EQ(lvm->wipes.size(), 1u);
  EXPECT_EQ(lvm->wipes[0].device, "/dev/sdb");
  EXPECT_EQ(lvm->wipes[0].bytes, 1ull << 30);
  EXPECT_EQ(lvm->wipes[0].sysfs_dir, "/sys/class/block/sdb");
  EXPECT_EQ(lvm->wipes[0].timeout_ms, 600'000);

  auto f = facts();
  EXPECT_TRUE(f.signatures.empty());
  EXPECT_TRUE(f.probe_error.empty());
  EXPECT_EQ(f.in_use_reason(), "") << "a wiped whole disk is free";
  EXPECT_EQ(f.size_bytes, 1ull << 30) << "the other facts stay";

  auto report = request<actor_report>(disk, inspect_atom::value);
  ASSERT_TRUE(report);
  EXPECT_EQ(report->summary, "disk 1073741824 bytes hdd, free");
  EXPECT_EQ(report->last_error, "");
  auto doc = boost::json::parse(report->state_json).as_object();
  EXPECT_EQ(doc.at("releases").as_int64(), 1);
  EXPECT_EQ(doc.at("lastMethod").as_string(), "zero_fill:fake");
  EXPECT_EQ(doc.at("releasing").as_bool(), false);
}

TEST_F(disk_actor_test, a_failed_wipe_keeps_the_facts_and_allows_a_retry) {
  start(used_disk());
  lvm->fail_wipes = true;
  auto failed = request<std::string>(disk, release_device_req{});
  ASSERT_FALSE(failed);
  EXPECT_EQ(code_of(failed.error()), errc::io_error) << render(failed.error());
  EXPECT_EQ(lvm->wipes.size(), 1u);
  EXPECT_EQ(facts().signatures, std::vector<std::string>{"ext4"});
  auto report = request<actor_report>(disk, inspect_atom::value);
  ASSERT_TRUE(report);
  EXPECT_NE(report->last_error.find("io_error"), std::string::npos) << report->last_error;
  auto doc = boost::json::parse(report->state_json).as_object();
  EXPECT_EQ(doc.at("releases").as_int64(), 0);
  EXPECT_EQ(doc.at("releasing").as_bool(), false);

  lvm->fail_wipes = false;
  auto retried = request<std::string>(disk, release_device_req{});
  ASSERT_TRUE(retried) << render(retried.error());
  EXPECT_EQ(lvm->wipes.size(), 2u);
  EXPECT_TRUE(facts().signatures.empty());
}

TEST_F(disk_actor_test, a_release_in_flight_refuses_a_second_one) {
  start(used_disk());
  // Both requests are in the disk's mailbox before the runner answers the
  // first wipe (the test scheduler runs one message per turn).
  auto answers = std::make_shared<std::vector<caf::expected<std::string>>>();
  sys.spawn([=, disk = disk](caf::event_based_actor* self) {
    for (int i = 0; i < 2; ++i)
      self->request(disk, caf::infinite, release_device_req{})
        .then([answers](std::string& method) { answers->emplace_back(std::move(method)); },
              [answers](caf::error& err) { answers->emplace_back(std::move(err)); });
  });
  run();
  ASSERT_EQ(answers->size(), 2u);
  size_t wiped = 0, aborted = 0;
  for (auto& a : *answers) {
    if (a) {
      EXPECT_EQ(*a, "zero_fill:fake");
      ++wiped;
    } else {
      EXPECT_EQ(code_of(a.error()), errc::aborted) << render(a.error());
      EXPECT_NE(message_of(a.error()).find("in flight"), std::string::npos);
      ++aborted;
    }
  }
  EXPECT_EQ(wiped, 1u);
  EXPECT_EQ(aborted, 1u);
  EXPECT_EQ(lvm->wipes.size(), 1u) << "the second release never reached the runner";
  EXPECT_EQ(state().at("releases").as_int64(), 1);
}

TEST_F(disk_actor_test, a_runner_that_never_answers_fails_the_release_after_the_wipe_timeout) {
  // A runner that takes every wipe and never answers (a hung device).
  using silent_runner = lvm_runner_actor::stateful_pointer<std::vector<caf::response_promise>>;
  auto silent = sys.spawn([](silent_runner self) -> lvm_runner_actor::behavior_type {
    auto hold = [self]() -> caf::result<std::string> {
      self->state.push_back(self->make_response_promise());
      return caf::delegated<std::string>{};
    };
    return {
      [](lvm_command&) -> caf::result<std::string> { return std::string{}; },
      [hold](wipe_command&) { return hold(); },
      [hold](copy_command&) { return hold(); },
      [](fill_query&) { return std::vector<fill_entry>{}; },
    };
  });
  runner = silent;
  start(used_disk(), 1min);
  auto answer = std::make_shared<std::optional<caf::expected<std::string>>>();
  sys.spawn([=, disk = disk](caf::event_based_actor* self) {
    self->request(disk, caf::infinite, release_device_req{})
      .then([answer](std::string& method) { *answer = std::move(method); },
            [answer](caf::error& err) { *answer = caf::expected<std::string>{std::move(err)}; });
  });
  run();
  EXPECT_FALSE(answer->has_value());
  EXPECT_EQ(state().at("releasing").as_bool(), true);
  advance(1min);
  EXPECT_FALSE(answer->has_value()) << "the runner gets a little longer than its own timeout";
  advance(5s);
  ASSERT_TRUE(answer->has_value());
  ASSERT_FALSE(**answer);
  EXPECT_EQ(code_of((*answer)->error()), errc::timeout) << render((*answer)->error());
  auto doc = state();
  EXPECT_EQ(doc.at("releasing").as_bool(), false);
  EXPECT_EQ(doc.at("releases").as_int64(), 0);
  anon_send_exit(silent, caf::exit_reason::user_shutdown);
}
