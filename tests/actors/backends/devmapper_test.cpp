#include "actors/backends/devmapper.hpp"

#include "actors/core/errc.hpp"
#include "actors/core/log.hpp"
#include "tests/support/temp_dir.hpp"

#include <caf/deep_to_string.hpp>
#include <gtest/gtest.h>
#include <libdevmapper.h>

#include <functional>
#include <mutex>
#include <string>
#include <vector>

using namespace olocal;

namespace {

/// Collects log lines for the duration of a test.
struct log_capture {
  std::mutex mutex;
  std::vector<std::string> lines;

  log_capture() {
    log::set_sink([this](std::string_view line) {
      std::lock_guard guard{mutex};
      lines.emplace_back(line);
    });
  }
  ~log_capture() { log::set_sink(nullptr); }

  std::vector<std::string> take() {
    std::lock_guard guard{mutex};
    return lines;
  }
};

std::string joined(const std::vector<std::string>& lines) {
  std::string out;
  for (auto& line : lines)
    out += line + "\n";
  return out;
}

} // namespace

// -- names -----------------------------------------------------------------------

TEST(devmapper, dm_name_doubles_dashes_like_lvm) {
  struct row {
    const char* vg;
    const char* lv;
    const char* layer;
    const char* expected;
  };
  for (auto r : std::vector<row>{
         {"vg0", "lv0", "", "vg0-lv0"},
         {"my-vg", "lv-1", "", "my--vg-lv--1"},
         {"olocal-dm", "thin-a", "", "olocal--dm-thin--a"},
         {"a--b", "-", "", "a----b---"},
         {"vg_x.y+z", "lv_1", "", "vg_x.y+z-lv_1"},
         {"olocal-dm", "pool", "tpool", "olocal--dm-pool-tpool"},
         {"vg", "snap-a", "cow", "vg-snap--a-cow"},
         {"vg", "pool_tdata", "", "vg-pool_tdata"},
       })
    EXPECT_EQ(dm::dm_name(r.vg, r.lv, r.layer), r.expected) << r.vg << "/" << r.lv;
}

// -- availability ------------------------------------------------------------------

TEST(devmapper, available_reads_the_misc_list) {
  test::temp_dir dir{"olocal-dm"};
  EXPECT_FALSE(dm::available(dir.path())) << "no misc file at all";

  dir.write("misc", "");
  EXPECT_FALSE(dm::available(dir.path())) << "empty";

  dir.write("misc", "234 btrfs-control\n237 loop-control\n229 fuse\n232 kvm\n");
  EXPECT_FALSE(dm::available(dir.path())) << "this host's list: no device-mapper";

  dir.write("misc", "237 loop-control\n236 device-mapper\n229 fuse\n");
  EXPECT_TRUE(dm::available(dir.path()));

  dir.write("misc", " 63 device-mapper"); // right-aligned minor, no final newline
  EXPECT_TRUE(dm::available(dir.path()));

  dir.write("misc", "236 device-mapper-control\n236 my-device-mapper\n");
  EXPECT_FALSE(dm::available(dir.path())) << "only the exact name counts";

  dir.write("misc", "device-mapper\n");
  EXPECT_FALSE(dm::available(dir.path())) << "the name is the second column";
}

// -- thin-pool status ------------------------------------------------------------------

TEST(devmapper, thin_pool_status_lines_from_the_kernel) {
  // Captured in the VM (Debian 6.1): a fresh pool, then after 8 MiB were
  // written to a thin volume (64 KiB chunks: 128 blocks).
  auto fresh =
    dm::parse_thin_pool_status("0 111/1024 0/1024 - rw discard_passdown queue_if_no_space - 256 ");
  ASSERT_TRUE(fresh) << render(fresh.error());
  EXPECT_FALSE(fresh->fail);
  EXPECT_EQ(fresh->transaction_id, 0u);
  EXPECT_EQ(fresh->used_metadata_blocks, 111u);
  EXPECT_EQ(fresh->total_metadata_blocks, 1024u);
  EXPECT_EQ(fresh->used_data_blocks, 0u);
  EXPECT_EQ(fresh->total_data_blocks, 1024u);
  EXPECT_DOUBLE_EQ(fresh->data_fill, 0.0);
  EXPECT_DOUBLE_EQ(fresh->metadata_fill, 111.0 / 1024.0);
  EXPECT_EQ(fresh->held_root, 0u);
  EXPECT_FALSE(fresh->read_only);
  EXPECT_FALSE(fresh->out_of_space);
  EXPECT_EQ(fresh->discards, "passdown");
  EXPECT_FALSE(fresh->error_if_no_space);
  EXPECT_FALSE(fresh->needs_check);
  EXPECT_EQ(fresh->metadata_low_watermark, 256u);

  auto used =
    dm::parse_thin_pool_status("1 112/1024 128/1024 - rw discard_passdown queue_if_no_space - 256");
  ASSERT_TRUE(used) << render(used.error());
  EXPECT_EQ(used->transaction_id, 1u);
  EXPECT_EQ(used->used_data_blocks, 128u);
  EXPECT_DOUBLE_EQ(used->data_fill, 0.125);

  // The documented format with every optional state set.
  auto troubled = dm::parse_thin_pool_status(
    "18446744073709551615 1024/1024 65536/65536 4242 ro no_discard_passdown error_if_no_space "
    "needs_check 0");
  ASSERT_TRUE(troubled) << render(troubled.error());
  EXPECT_EQ(troubled->transaction_id, 18446744073709551615ull);
  EXPECT_DOUBLE_EQ(troubled->data_fill, 1.0);
  EXPECT_DOUBLE_EQ(troubled->metadata_fill, 1.0);
  EXPECT_EQ(troubled->held_root, 4242u);
  EXPECT_TRUE(troubled->read_only);
  EXPECT_FALSE(troubled->out_of_space);
  EXPECT_EQ(troubled->discards, "nopassdown");
  EXPECT_TRUE(troubled->error_if_no_space);
  EXPECT_TRUE(troubled->needs_check);
  EXPECT_EQ(troubled->metadata_low_watermark, 0u);

  auto full = dm::parse_thin_pool_status(
    "7 200/4096 16384/16384 - out_of_data_space ignore_discard queue_if_no_space - 1024");
  ASSERT_TRUE(full) << render(full.error());
  EXPECT_TRUE(full->out_of_space);
  EXPECT_FALSE(full->read_only);
  EXPECT_EQ(full->discards, "ignore");

  auto failed = dm::parse_thin_pool_status("Fail");
  ASSERT_TRUE(failed);
  EXPECT_TRUE(failed->fail);
  EXPECT_EQ(failed->total_data_blocks, 0u);
}

TEST(devmapper, thin_pool_status_of_older_and_newer_kernels) {
  // Before 3.x kernels the line ended after the held root; later fields were
  // appended one at a time.
  auto oldest = dm::parse_thin_pool_status("3 10/100 5/50 -");
  ASSERT_TRUE(oldest) << render(oldest.error());
  EXPECT_DOUBLE_EQ(oldest->data_fill, 0.1);
  EXPECT_EQ(oldest->discards, "");
  EXPECT_EQ(oldest->metadata_low_watermark, 0u);

  auto mid = dm::parse_thin_pool_status("3 10/100 5/50 - rw discard_passdown");
  ASSERT_TRUE(mid) << render(mid.error());
  EXPECT_EQ(mid->discards, "passdown");

  auto no_watermark =
    dm::parse_thin_pool_status("3 10/100 5/50 - rw discard_passdown error_if_no_space needs_check");
  ASSERT_TRUE(no_watermark) << render(no_watermark.error());
  EXPECT_TRUE(no_watermark->needs_check);
  EXPECT_EQ(no_watermark->metadata_low_watermark, 0u);

  auto newer = dm::parse_thin_pool_status(
    "3 10/100 5/50 - rw discard_passdown queue_if_no_space - 256 future_field 17");
  ASSERT_TRUE(newer) << "fields appended by a future kernel are ignored";
  EXPECT_EQ(newer->metadata_low_watermark, 256u);

  auto empty_pool = dm::parse_thin_pool_status("0 0/0 0/0 -");
  ASSERT_TRUE(empty_pool);
  EXPECT_DOUBLE_EQ(empty_pool->data_fill, 0.0) << "no division by zero";
}

TEST(devmapper, thin_pool_status_refuses_malformed_lines) {
  for (const char* line : {
         "",
         "   ",
         "x 1/2 3/4 -",
         "-1 1/2 3/4 -",
         "1",
         "1 1/2",
         "1 1/2 3/4",
         "1 12 3/4 -",
         "1 1/ 3/4 -",
         "1 /2 3/4 -",
         "1 3/2 3/4 -", // used > total
         "1 1/2 5/4 -",
         "1 1/2 3/4 x",
         "1 1/2 3/4 - sideways",
         "1 1/2 3/4 - rw passdown",
         "1 1/2 3/4 - rw discard_passdown maybe_if_no_space",
         "1 1/2 3/4 - rw discard_passdown queue_if_no_space check",
         "1 1/2 3/4 - rw discard_passdown queue_if_no_space - 12x",
         "Fail now",
       }) {
    auto st = dm::parse_thin_pool_status(line);
    ASSERT_FALSE(st) << "'" << line << "'";
    EXPECT_EQ(code_of(st.error()), errc::parse_error) << render(st.error());
    EXPECT_NE(message_of(st.error()).find("thin-pool status"), std::string::npos);
  }
  auto err = dm::parse_thin_pool_status("1 1/2 3/4 - rw discard_passdown queue_if_no_space check");
  EXPECT_NE(message_of(err.error()).find("needs_check flag 'check'"), std::string::npos)
    << render(err.error());

  auto kernel = dm::parse_thin_pool_status("Error");
  ASSERT_FALSE(kernel);
  EXPECT_EQ(code_of(kernel.error()), errc::io_error) << render(kernel.error());
}

// -- thin status ---------------------------------------------------------------------

TEST(devmapper, thin_status_lines) {
  // Captured in the VM: before and after writing 8 MiB at offset 0.
  auto empty = dm::parse_thin_status("0 -");
  ASSERT_TRUE(empty) << render(empty.error());
  EXPECT_FALSE(empty->fail);
  EXPECT_EQ(empty->mapped_sectors, 0u);
  EXPECT_EQ(empty->highest_mapped_sector, 0u);

  auto written = dm::parse_thin_status("16384 16383");
  ASSERT_TRUE(written) << render(written.error());
  EXPECT_EQ(written->mapped_sectors, 16384u);
  EXPECT_EQ(written->highest_mapped_sector, 16383u);

  auto sparse = dm::parse_thin_status("256 2097151 ");
  ASSERT_TRUE(sparse);
  EXPECT_EQ(sparse->highest_mapped_sector, 2097151u);

  auto unspecified = dm::parse_thin_status("0 99");
  ASSERT_TRUE(unspecified);
  EXPECT_EQ(unspecified->highest_mapped_sector, 0u) << "unspecified when nothing is mapped";

  auto failed = dm::parse_thin_status("Fail");
  ASSERT_TRUE(failed);
  EXPECT_TRUE(failed->fail);

  for (const char* line : {"", "x -", "12", "12 -", "12 x", "-5 3"}) {
    auto st = dm::parse_thin_status(line);
    ASSERT_FALSE(st) << "'" << line << "'";
    EXPECT_EQ(code_of(st.error()), errc::parse_error) << render(st.error());
  }
  for (const char* line : {"Error", "-"}) {
    auto st = dm::parse_thin_status(line);
    ASSERT_FALSE(st) << line;
    EXPECT_EQ(code_of(st.error()), errc::io_error) << render(st.error());
  }
}

// -- snapshot status --------------------------------------------------------------------

TEST(devmapper, snapshot_status_lines) {
  // Captured in the VM: a 4 MiB COW area (8192 sectors, 4 KiB chunks) right
  // after creation, after 1 MiB written to the origin, after 16 MiB.
  auto fresh = dm::parse_snapshot_status("16/8192 16");
  ASSERT_TRUE(fresh) << render(fresh.error());
  EXPECT_FALSE(fresh->invalid);
  EXPECT_EQ(fresh->allocated_sectors, 16u);
  EXPECT_EQ(fresh->total_sectors, 8192u);
  EXPECT_EQ(fresh->metadata_sectors, 16u);
  EXPECT_DOUBLE_EQ(fresh->fill, 16.0 / 8192.0);

  auto some = dm::parse_snapshot_status("2072/8192 24");
  ASSERT_TRUE(some) << render(some.error());
  EXPECT_EQ(some->allocated_sectors, 2072u);
  EXPECT_DOUBLE_EQ(some->fill, 2072.0 / 8192.0);

  auto invalid = dm::parse_snapshot_status("Invalid");
  ASSERT_TRUE(invalid);
  EXPECT_TRUE(invalid->invalid);
  EXPECT_FALSE(invalid->overflow);
  EXPECT_EQ(invalid->total_sectors, 0u);

  auto with_cause = dm::parse_snapshot_status("Invalid Overflow");
  ASSERT_TRUE(with_cause) << "a cause after Invalid (proposed kernel patch) is accepted";
  EXPECT_TRUE(with_cause->invalid);

  auto overflow = dm::parse_snapshot_status("Overflow");
  ASSERT_TRUE(overflow);
  EXPECT_TRUE(overflow->overflow);
  EXPECT_FALSE(overflow->invalid);

  auto merge = dm::parse_snapshot_status("Merge failed");
  ASSERT_TRUE(merge);
  EXPECT_TRUE(merge->merge_failed);
  EXPECT_FALSE(merge->invalid);

  auto full = dm::parse_snapshot_status("8192/8192 32");
  ASSERT_TRUE(full);
  EXPECT_DOUBLE_EQ(full->fill, 1.0);

  for (const char* line :
       {"", "16/8192", "16 8192 16", "9000/8192 16", "16/8192 17", "16/x 1", "Merge", "invalid"}) {
    auto st = dm::parse_snapshot_status(line);
    ASSERT_FALSE(st) << "'" << line << "'";
    EXPECT_EQ(code_of(st.error()), errc::parse_error) << render(st.error());
  }
  auto unknown = dm::parse_snapshot_status("Unknown");
  ASSERT_FALSE(unknown);
  EXPECT_EQ(code_of(unknown.error()), errc::io_error);
}

TEST(devmapper, records_are_inspectable_messages) {
  dm::thin_pool_status pool;
  pool.used_data_blocks = 128;
  pool.discards = "passdown";
  auto text = caf::deep_to_string(pool);
  EXPECT_NE(text.find("dm_thin_pool_status"), std::string::npos) << text;
  EXPECT_NE(text.find("128"), std::string::npos) << text;
  EXPECT_NE(caf::deep_to_string(dm::thin_status{}).find("dm_thin_status"), std::string::npos);
  EXPECT_NE(caf::deep_to_string(dm::snapshot_status{}).find("dm_snapshot_status"),
            std::string::npos);
  EXPECT_NE(caf::deep_to_string(dm::device_info{}).find("dm_device_info"), std::string::npos);
  dm::target_status t{0, 2048, "thin", "0 -"};
  EXPECT_NE(caf::deep_to_string(t).find("dm_target_status"), std::string::npos);
  auto copy = t;
  EXPECT_EQ(copy.params, "0 -");
}

// -- live queries on this host -------------------------------------------------------------

TEST(devmapper, bad_names_are_refused_before_any_ioctl) {
  for (std::string name : {std::string{}, std::string{"/dev/mapper/vg-lv"}, std::string{"a b"},
                           std::string{"vg-lv\n"}, std::string(128, 'x')}) {
    auto i = dm::info(name);
    ASSERT_FALSE(i) << name;
    EXPECT_EQ(code_of(i.error()), errc::invalid_argument) << render(i.error());
    auto s = dm::status(name);
    ASSERT_FALSE(s);
    EXPECT_EQ(code_of(s.error()), errc::invalid_argument);
  }
}

TEST(devmapper, live_queries_without_device_mapper_fail_clearly_and_quietly) {
  if (dm::available())
    GTEST_SKIP() << "this kernel has device-mapper (the VM test covers it)";
  log_capture logs;
  testing::internal::CaptureStderr();
  std::vector<caf::error> errors;
  auto collect = [&](auto result) {
    EXPECT_FALSE(result);
    if (!result)
      errors.push_back(result.error());
  };
  collect(dm::info("vg0-lv0"));
  collect(dm::status("vg0-lv0"));
  collect(dm::thin_pool("vg0-lv0"));
  collect(dm::thin("vg0-lv0"));
  collect(dm::snapshot("vg0-lv0"));
  collect(dm::info("vg0-lv0")); // a second time: still clear, still quiet
  collect(dm::lvm_thin_pool("vg0", "lv0"));
  auto err_text = testing::internal::GetCapturedStderr();
  EXPECT_EQ(err_text, "") << "libdevmapper must not be touched without device-mapper";
  EXPECT_EQ(joined(logs.take()), "");
  ASSERT_EQ(errors.size(), 7u);
  for (auto& err : errors) {
    EXPECT_EQ(code_of(err), errc::no_device_mapper) << render(err);
    auto msg = message_of(err);
    EXPECT_NE(msg.find("vg0-lv0"), std::string::npos) << msg;
    EXPECT_NE(msg.find("no device-mapper"), std::string::npos) << msg;
  }
}

TEST(devmapper, libdevmapper_messages_go_to_the_log_not_stderr) {
  if (dm::available())
    GTEST_SKIP() << "needs a kernel without device-mapper to make libdevmapper complain";
  dm::route_log_once();
  dm::route_log_once(); // idempotent
  log_capture logs;
  testing::internal::CaptureStderr();
  // Straight to libdevmapper, past our availability check: on a kernel
  // without device-mapper it fails and explains why (the first time only).
  dm_task* task = dm_task_create(DM_DEVICE_INFO);
  auto err_text = testing::internal::GetCapturedStderr();
  EXPECT_EQ(task, nullptr);
  if (task != nullptr)
    dm_task_destroy(task);
  EXPECT_EQ(err_text, "");
  auto lines = logs.take();
  ASSERT_FALSE(lines.empty()) << "libdevmapper said nothing";
  for (auto& line : lines) {
    EXPECT_NE(line.find("devmapper"), std::string::npos) << line;
    EXPECT_EQ(line.find("<backtrace>"), std::string::npos) << "debug noise is dropped: " << line;
  }
  auto all = joined(lines);
  EXPECT_NE(all.find("device-mapper"), std::string::npos) << all;
  EXPECT_NE(all.find("ERROR"), std::string::npos) << all;
}
