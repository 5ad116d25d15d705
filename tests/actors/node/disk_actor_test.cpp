#include "actors/node/disk_actor.hpp"

#include "actors/core/errc.hpp"
#include "tests/support/actor_fixture.hpp"

#include <boost/json/parse.hpp>

using namespace olocal;

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

using disk_actor_test = test::actor_fixture;

} // namespace

TEST_F(disk_actor_test, answers_facts_and_inspection) {
  auto disk = spawn_disk_actor(sys, sample_disk());
  auto facts = request<block_device>(disk, get_atom::value);
  ASSERT_TRUE(facts);
  EXPECT_EQ(facts->name, "sdb");
  EXPECT_EQ(facts->size_bytes, 1ull << 30);

  auto report = request<actor_report>(disk, inspect_atom::value);
  ASSERT_TRUE(report);
  EXPECT_EQ(report->summary, "disk 1073741824 bytes hdd, in use: has partitions");
  auto doc = boost::json::parse(report->state_json).as_object();
  EXPECT_EQ(doc.at("device").as_object().at("name").as_string(), "sdb");
  EXPECT_EQ(doc.at("updates").as_int64(), 0);
  anon_send_exit(disk, caf::exit_reason::user_shutdown);
}

TEST_F(disk_actor_test, takes_updates_for_its_device_only) {
  auto disk = spawn_disk_actor(sys, sample_disk());
  auto grown = sample_disk();
  grown.size_bytes = 2ull << 30;
  anon_send(disk, grown);
  auto other = sample_disk();
  other.name = "sdc";
  other.size_bytes = 1;
  anon_send(disk, other);
  run();
  auto facts = request<block_device>(disk, get_atom::value);
  ASSERT_TRUE(facts);
  EXPECT_EQ(facts->size_bytes, 2ull << 30);
  EXPECT_EQ(facts->name, "sdb");
  anon_send_exit(disk, caf::exit_reason::user_shutdown);
}
